import { formatBytes as libraryFormatBytes } from "@infrahub-backup/core/storage";
import type { DatasetKind } from "./dataset.js";
import type { MemorySplit, Phases, Sample, Scenario } from "./scenarios.js";

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
  /** Medians of each phase over the runs. */
  phases: Phases;
  /** Ours: the memory split at the highest sampled RSS (medians over the runs, each field on its own). */
  memoryAtPeak?: MemorySplit;
}

/** Ratios the targets are read from, per (kind, size). */
export interface Ratios {
  kind: DatasetKind;
  size: number;
  /** ours create / raw dumps (issue 25: ≤ 0.8 with pg_dump's compression chosen). */
  createVsRaw: number;
  /** ours create / (raw dumps + the Neo4j stop and start any offline dump needs). */
  createVsRawWithCycle: number;
  /** ours create / naive `dump | gzip | mc pipe`. */
  createVsNaive: number;
  /** ours restore / (one archive read + raw loads) (issue 25: ≤ 1.2). */
  restoreVsReadLoad: number;
  /** ours restore / (one archive read + raw loads + Neo4j stop and start). */
  restoreVsReadLoadWithCycle: number;
  /** Neo4j downtime of our create minus the raw Neo4j dump time (target ≤ 5 s). */
  downtimeOverDumpMs: number | undefined;
  /** Our restore's outage minus the longer raw load (target ≤ 5 s when staged). */
  restoreOutageOverLoadMs: number | undefined;
  /** The same two through Kubernetes exec, when measured. */
  k8s?: {
    createVsRaw: number;
    restoreVsReadLoad: number;
    downtimeOverDumpMs: number | undefined;
    restoreOutageOverLoadMs: number | undefined;
  };
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

const SCENARIOS: Scenario[] = [
  "raw-dump",
  "ours-create",
  "ours-create-k8s",
  "naive-create",
  "raw-load",
  "ours-restore",
  "ours-restore-k8s",
];

const PHASE_KEYS = [
  "pass1Ms",
  "postgresMs",
  "neo4jMs",
  "postgresDumpMs",
  "neo4jDumpMs",
  "neo4jOfflineMs",
  "outageMs",
] as const satisfies ReadonlyArray<keyof Phases>;

function medianPhases(samples: Sample[]): Phases {
  const phases: Phases = {};
  for (const key of PHASE_KEYS) {
    const values = samples.map((s) => s.phases?.[key]).filter((v): v is number => typeof v === "number");
    if (values.length > 0) phases[key] = median(values);
  }
  return phases;
}

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
        phases: medianPhases(samples),
      };
      const splits = samples.map((s) => s.memoryAtPeak).filter((m): m is MemorySplit => m !== undefined);
      if (splits.length > 0) {
        const field = (k: Exclude<keyof MemorySplit, "mappingsKiB" | "atMs">) =>
          median(splits.map((m) => m[k]));
        row.memoryAtPeak = {
          rss: field("rss"),
          heapTotal: field("heapTotal"),
          heapUsed: field("heapUsed"),
          external: field("external"),
          arrayBuffers: field("arrayBuffers"),
        };
      }
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
    const oursK8s = bySc.get("ours-create-k8s");
    const restoreK8s = bySc.get("ours-restore-k8s");
    const loadFloor = load?.phases.outageMs;
    const outageOver = (r: Row | undefined) =>
      r?.phases.outageMs !== undefined && loadFloor !== undefined ? r.phases.outageMs - loadFloor : undefined;
    const offlineOver = (r: Row | undefined) =>
      r?.downtimeMs !== undefined && raw?.neo4jDumpMs !== undefined
        ? r.downtimeMs - raw.neo4jDumpMs
        : undefined;
    if (raw && ours && naive && load && restore) {
      ratios.push({
        kind,
        size,
        createVsRaw: ours.wallMs / raw.wallMs,
        createVsRawWithCycle: ours.wallMs / (raw.wallMs + (raw.cycleMs ?? 0)),
        createVsNaive: ours.wallMs / (naive.wallMs + (naive.cycleMs ?? 0)),
        restoreVsReadLoad: restore.wallMs / load.wallMs,
        restoreVsReadLoadWithCycle: restore.wallMs / (load.wallMs + (load.cycleMs ?? 0)),
        downtimeOverDumpMs: offlineOver(ours),
        restoreOutageOverLoadMs: outageOver(restore),
        ...(oursK8s && restoreK8s
          ? {
              k8s: {
                createVsRaw: oursK8s.wallMs / raw.wallMs,
                restoreVsReadLoad: restoreK8s.wallMs / load.wallMs,
                downtimeOverDumpMs: offlineOver(oursK8s),
                restoreOutageOverLoadMs: outageOver(restoreK8s),
              },
            }
          : {}),
      });
    }
  }
  return { rows, ratios };
}

const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** `64MiB`, `2GiB`, `1.5GB` (= GiB), plain bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text} (e.g. 64MiB, 2GiB)`);
  const unit = (m[2] ?? "b").toLowerCase().replace(/^([kmgt])b$/, "$1ib");
  return Math.round(Number(m[1]) * (UNITS[unit] ?? 1));
}

/** The library's formatBytes, compact for table cells and labels: `64MiB`, `1.5GiB`, `512B`. */
export function formatBytes(n: number): string {
  return libraryFormatBytes(n).replace(/(\.0)? /, "");
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
      "outage − raw load s",
      "k8s create/raw",
      "k8s restore/(read+load)",
      "k8s downtime − dump s",
      "k8s outage − raw load s",
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
      s1(r.restoreOutageOverLoadMs),
      r.k8s ? r.k8s.createVsRaw.toFixed(2) : "",
      r.k8s ? r.k8s.restoreVsReadLoad.toFixed(2) : "",
      s1(r.k8s?.downtimeOverDumpMs),
      s1(r.k8s?.restoreOutageOverLoadMs),
    ]),
  );
  const phaseTable = table(
    [
      "kind",
      "size",
      "scenario",
      "pass 1 s",
      "PostgreSQL s",
      "Neo4j s",
      "pg dump s",
      "Neo4j dump s",
      "Neo4j offline s",
      "outage s",
    ],
    rows
      .filter((r) => Object.keys(r.phases).length > 0)
      .map((r) => [
        r.kind,
        formatBytes(r.size),
        r.scenario,
        s1(r.phases.pass1Ms),
        s1(r.phases.postgresMs),
        s1(r.phases.neo4jMs),
        s1(r.phases.postgresDumpMs),
        s1(r.phases.neo4jDumpMs),
        s1(r.phases.neo4jOfflineMs),
        s1(r.phases.outageMs),
      ]),
  );
  const memoryTable = table(
    [
      "kind",
      "size",
      "scenario",
      "peak RSS",
      "sampled RSS",
      "V8 heap (used)",
      "external",
      "of it ArrayBuffers",
      "rest",
    ],
    rows
      .filter((r) => r.memoryAtPeak !== undefined)
      .map((r) => {
        const m = r.memoryAtPeak as MemorySplit;
        return [
          r.kind,
          formatBytes(r.size),
          r.scenario,
          formatBytes(r.peakRssBytes),
          formatBytes(m.rss),
          `${formatBytes(m.heapTotal)} (${formatBytes(m.heapUsed)})`,
          formatBytes(m.external),
          formatBytes(m.arrayBuffers),
          formatBytes(Math.max(0, m.rss - m.heapTotal - m.external)),
        ];
      }),
  );
  const hasPhases = rows.some((r) => Object.keys(r.phases).length > 0);
  const hasMemory = rows.some((r) => r.memoryAtPeak !== undefined);
  return `${[main, hasPhases ? phaseTable : "", hasMemory ? memoryTable : "", ratioTable].filter((t) => t !== "").join("\n\n")}\n`;
}
