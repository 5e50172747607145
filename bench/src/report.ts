import type { DatasetKind } from "./dataset.js";
import type { Sample, Scenario } from "./scenarios.js";

export interface RunRecord {
  kind: DatasetKind;
  /** Requested dataset size (bytes). */
  size: number;
  run: number;
  samples: Sample[];
}

/** Medians of one scenario at one (kind, size). */
export interface Row {
  kind: DatasetKind;
  size: number;
  scenario: Scenario;
  runs: number;
  wallMs: number;
  /** Dump bytes (median of the raw producers at this size) per second of wall time, 10^6 bytes. */
  mbPerS: number;
  cpuMs: number;
  peakRssBytes: number;
  diskWriteBytes?: number;
  diskWriteBytesWithChildren?: number;
  downtimeMs?: number;
  cycleMs?: number;
  neo4jDumpMs?: number;
  archiveReadMs?: number;
  dumpBytes?: number;
}

/** Ratios the targets are read from, per (kind, size). */
export interface Ratios {
  kind: DatasetKind;
  size: number;
  /** ours create / raw dumps (target ≤ 1.1 on already-compressed data). */
  createVsRaw: number;
  /** ours create / (raw dumps + the Neo4j stop and start any offline dump needs). */
  createVsRawWithCycle: number;
  /** ours create / naive `dump | gzip | mc pipe`. */
  createVsNaive: number;
  /** ours restore / (one archive read + raw loads) (target ≤ 2.2). */
  restoreVsReadLoad: number;
  /** ours restore / (one archive read + raw loads + Neo4j stop and start). */
  restoreVsReadLoadWithCycle: number;
  /** Neo4j downtime of our create minus the raw Neo4j dump time (target ≤ 10 s). */
  downtimeOverDumpMs: number | undefined;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function medianOf(samples: Sample[], key: keyof Sample): number | undefined {
  const values = samples.map((s) => s[key]).filter((v): v is number => typeof v === "number");
  return values.length > 0 ? median(values) : undefined;
}

const SCENARIOS: Scenario[] = ["raw-dump", "ours-create", "naive-create", "raw-load", "ours-restore"];

export function summarize(records: RunRecord[]): { rows: Row[]; ratios: Ratios[] } {
  const rows: Row[] = [];
  const ratios: Ratios[] = [];
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.kind}|${r.size}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const group of groups.values()) {
    const { kind, size } = group[0] as RunRecord;
    const all = group.flatMap((r) => r.samples);
    const dumpBytes =
      medianOf(
        all.filter((s) => s.scenario === "raw-dump"),
        "dumpBytes",
      ) ?? size;
    const bySc = new Map<Scenario, Row>();
    for (const scenario of SCENARIOS) {
      const samples = all.filter((s) => s.scenario === scenario);
      if (samples.length === 0) continue;
      const wallMs = medianOf(samples, "wallMs") as number;
      const row: Row = {
        kind,
        size,
        scenario,
        runs: samples.length,
        wallMs,
        mbPerS: dumpBytes / 1e6 / (wallMs / 1000),
        cpuMs: medianOf(samples, "cpuMs") as number,
        peakRssBytes: medianOf(samples, "peakRssBytes") as number,
      };
      for (const key of [
        "diskWriteBytes",
        "diskWriteBytesWithChildren",
        "downtimeMs",
        "cycleMs",
        "neo4jDumpMs",
        "archiveReadMs",
        "dumpBytes",
      ] as const) {
        const v = medianOf(samples, key);
        if (v !== undefined) row[key] = v;
      }
      rows.push(row);
      bySc.set(scenario, row);
    }
    const raw = bySc.get("raw-dump");
    const ours = bySc.get("ours-create");
    const naive = bySc.get("naive-create");
    const load = bySc.get("raw-load");
    const restore = bySc.get("ours-restore");
    if (raw && ours && naive && load && restore) {
      ratios.push({
        kind,
        size,
        createVsRaw: ours.wallMs / raw.wallMs,
        createVsRawWithCycle: ours.wallMs / (raw.wallMs + (raw.cycleMs ?? 0)),
        createVsNaive: ours.wallMs / (naive.wallMs + (naive.cycleMs ?? 0)),
        restoreVsReadLoad: restore.wallMs / load.wallMs,
        restoreVsReadLoadWithCycle: restore.wallMs / (load.wallMs + (load.cycleMs ?? 0)),
        downtimeOverDumpMs:
          ours.downtimeMs !== undefined && raw.neo4jDumpMs !== undefined
            ? ours.downtimeMs - raw.neo4jDumpMs
            : undefined,
      });
    }
  }
  return { rows, ratios };
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]}`;
}

function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

const s1 = (ms: number | undefined) => (ms === undefined ? "" : (ms / 1000).toFixed(1));

/** Markdown tables: one row per scenario, then the ratios. */
export function formatTables(rows: Row[], ratios: Ratios[]): string {
  const main = table(
    [
      "kind",
      "size",
      "scenario",
      "runs",
      "dump bytes",
      "wall s",
      "MB/s",
      "CPU s",
      "peak RSS",
      "disk write",
      "Neo4j down s",
      "stop+start s",
    ],
    rows.map((r) => [
      r.kind,
      formatBytes(r.size),
      r.scenario,
      String(r.runs),
      r.dumpBytes !== undefined ? formatBytes(r.dumpBytes) : "",
      s1(r.wallMs),
      r.mbPerS.toFixed(1),
      s1(r.cpuMs),
      formatBytes(r.peakRssBytes),
      r.diskWriteBytes !== undefined ? formatBytes(r.diskWriteBytes) : "",
      s1(r.downtimeMs ?? r.neo4jDumpMs),
      s1(r.cycleMs),
    ]),
  );
  const ratioTable = table(
    [
      "kind",
      "size",
      "create/raw",
      "create/(raw+cycle)",
      "create/naive",
      "restore/(read+load)",
      "restore/(read+load+cycle)",
      "downtime − dump s",
    ],
    ratios.map((r) => [
      r.kind,
      formatBytes(r.size),
      r.createVsRaw.toFixed(2),
      r.createVsRawWithCycle.toFixed(2),
      r.createVsNaive.toFixed(2),
      r.restoreVsReadLoad.toFixed(2),
      r.restoreVsReadLoadWithCycle.toFixed(2),
      s1(r.downtimeOverDumpMs),
    ]),
  );
  return `${main}\n\n${ratioTable}\n`;
}
