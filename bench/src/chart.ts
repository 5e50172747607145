import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Resvg } from "@resvg/resvg-js";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Row } from "./report.js";

/** Issue 25's memory target, drawn on the RSS panel. */
const RSS_TARGET_MIB = 150;
/** Issue 25: our outage and Neo4j offline window at most the raw floor + 5 s. */
const OUTAGE_MARGIN_S = 5;
const MiB = 1024 * 1024;

/** DejaVu where Debian puts it: resvg draws no text without a font, and CI machines may lack fontconfig. */
const FONT_FILES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
].filter((f) => existsSync(f));

interface Point {
  kind: string;
  sizeMiB: number;
  series: string;
  value: number;
}

/** One line per scenario across sizes (log scale), one colour per scenario, shared by every panel. */
/** A Vega-Lite unit or layer spec (checked by `compile` at run time). */
type Spec = Record<string, unknown>;

function panel(title: string, yTitle: string, points: Point[], rules: Point[] = []): Spec {
  const x = {
    field: "sizeMiB",
    type: "quantitative",
    scale: { type: "log" },
    title: "dataset size (MiB, log scale)",
  };
  const color = { field: "series", type: "nominal", title: "scenario" };
  return {
    title,
    width: 380,
    height: 220,
    layer: [
      {
        data: { values: points },
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "value", type: "quantitative", title: yTitle },
          color,
          strokeDash: { field: "kind", type: "nominal", title: "dataset" },
        },
      },
      ...(rules.length > 0
        ? [
            {
              data: { values: rules },
              // Points too, so a target is visible when only one size was measured.
              mark: {
                type: "line",
                strokeDash: [6, 4],
                strokeWidth: 2,
                point: { shape: "diamond", filled: false, size: 90 },
              },
              encoding: { x, y: { field: "value", type: "quantitative" }, color },
            },
          ]
        : []),
    ],
  };
}

function points(
  rows: Row[],
  value: (r: Row) => number | undefined,
  series: (r: Row) => string = (r) => r.scenario,
): Point[] {
  const out: Point[] = [];
  for (const r of rows) {
    const v = value(r);
    if (v !== undefined) out.push({ kind: r.kind, sizeMiB: r.size / MiB, series: series(r), value: v });
  }
  return out;
}

/** The bench's chart as a Vega-Lite spec: throughput, our peak RSS, and the outages against their floors. */
export function chartSpec(rows: Row[]): Spec {
  const ours = rows.filter((r) => r.scenario.startsWith("ours-"));
  const restoreFloor = rows.filter((r) => r.scenario === "raw-load");
  const createFloor = rows.filter((r) => r.scenario === "raw-dump");
  const sizes = [...new Set(rows.map((r) => r.size))];
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const rssTarget = kinds.flatMap((kind) =>
    sizes.map((size) => ({
      kind,
      sizeMiB: size / MiB,
      series: `target ${RSS_TARGET_MIB} MiB`,
      value: RSS_TARGET_MIB,
    })),
  );
  const outageTargets = [
    ...points(
      restoreFloor,
      (r) => (r.phases.outageMs === undefined ? undefined : r.phases.outageMs / 1000 + OUTAGE_MARGIN_S),
      () => `target: raw loads + ${OUTAGE_MARGIN_S} s`,
    ),
    ...points(
      createFloor,
      (r) => (r.neo4jDumpMs === undefined ? undefined : r.neo4jDumpMs / 1000 + OUTAGE_MARGIN_S),
      () => `target: raw Neo4j dump + ${OUTAGE_MARGIN_S} s`,
    ),
  ];
  const outage = [
    ...points(
      rows.filter((r) => r.scenario.startsWith("ours-restore")),
      (r) => (r.phases.outageMs === undefined ? undefined : r.phases.outageMs / 1000),
      (r) => `${r.scenario}: outage`,
    ),
    ...points(
      rows.filter((r) => r.scenario.startsWith("ours-create")),
      (r) => (r.downtimeMs === undefined ? undefined : r.downtimeMs / 1000),
      (r) => `${r.scenario}: Neo4j offline`,
    ),
  ];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    padding: 16,
    config: { font: "DejaVu Sans", legend: { labelLimit: 320 } },
    title: { text: "infrahub-backup bench: ours against the raw tools", fontSize: 16 },
    vconcat: [
      panel(
        "Throughput (dump bytes ÷ wall time)",
        "MB/s",
        points(rows, (r) => r.mbPerS),
      ),
      panel(
        "Peak RSS of our process",
        "MiB",
        points(ours, (r) => r.peakRssBytes / MiB),
        rssTarget,
      ),
      panel("Outage (restore) and Neo4j offline (create)", "seconds", outage, outageTargets),
    ],
    resolve: { scale: { color: "independent", strokeDash: "shared" } },
  };
}

/** Renders the chart to PNG (Vega-Lite → Vega → SVG → resvg). */
export async function writeChart(path: string, rows: Row[]): Promise<void> {
  const view = new View(parse(compile(chartSpec(rows) as unknown as TopLevelSpec).spec), {
    renderer: "none",
  });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 1.5 },
    font: { loadSystemFonts: true, fontFiles: FONT_FILES, defaultFontFamily: "DejaVu Sans" },
  })
    .render()
    .asPng();
  await writeFile(path, png);
}
