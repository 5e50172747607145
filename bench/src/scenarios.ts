import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { InfrahubLocalStack } from "@infrahub-backup/testkit";
import { measureProcess, measureShell } from "./measure.js";
import type { Neo4jCycle } from "./neo4j-cycle.js";

/** One timed step of one run. Byte counts are of the dumps (what the producers emit). */
export interface Sample {
  scenario: Scenario;
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  /** Our process's own threads (see ProcessCost); undefined for shell baselines. */
  diskWriteBytes?: number;
  /** Our process and the local commands it ran (on Kubernetes/Compose these run in the containers). */
  diskWriteBytesWithChildren?: number;
  /** Neo4j stop + start around an offline step of a baseline (not included in `wallMs`). */
  cycleMs?: number;
  /** Community Neo4j offline time as our create reported it. */
  downtimeMs?: number;
  /** Raw producers: the Neo4j dump alone (for the downtime target). */
  neo4jDumpMs?: number;
  /** Raw producers: bytes of both dumps. */
  dumpBytes?: number;
  /** Raw load: one read of our archive from S3 (included in `wallMs`). */
  archiveReadMs?: number;
  /** Our process: when each of its log lines was written (ms after spawn), to see where the time goes. */
  timeline?: Array<{ atMs: number; msg: string }>;
  /** Where the time went: ours from its log lines (see `phasesOf`), the baselines from their own steps. */
  phases?: Phases;
  /** Ours: `process.memoryUsage()` at the sample of highest RSS (every 200 ms, `memory-probe.mjs`). */
  memoryAtPeak?: MemorySplit;
}

/** Bytes, as `process.memoryUsage()` reports them. */
export interface MemorySplit {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** When that sample was taken, ms after the process started. */
  atMs?: number;
  /** Resident anonymous memory by mapping at that sample, KiB (see `memory-probe.mjs`). */
  mappingsKiB?: { brk: number; arenas: number; anon: number; file: number };
}

const MEMORY_PROBE = fileURLToPath(new URL("./memory-probe.mjs", import.meta.url));
let probes = 0;

/** Drops the variables a variant set to `<unset>` (e.g. one of `CLI_BIN_ENV`, to measure without it). */
function withoutUnset(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== "<unset>"));
}

/** Runs our CLI (with the image's flags and the memory probe) and reads the probe's highest-RSS sample. */
async function runOurs(ctx: BenchContext, args: string[], env: NodeJS.ProcessEnv) {
  const file = join(ctx.workDir, `memory-${process.pid}-${++probes}.jsonl`);
  // IHB_BENCH_WRAP (e.g. `heaptrack -o /tmp/ht`): runs our CLI under that command, to see where native
  // memory is allocated; the figures of such a run are the wrapper's, not ours.
  const wrap = (process.env.IHB_BENCH_WRAP ?? "").split(" ").filter((w) => w !== "");
  const r = await measureProcess(
    wrap[0] ?? process.execPath,
    [
      ...(wrap.length > 0 ? [...wrap.slice(1), process.execPath] : []),
      ...CLI_NODE_FLAGS,
      // IHB_BENCH_NODE_FLAGS in a variant's environment: more Node/V8 flags, for experiments.
      ...(env.IHB_BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""),
      "--import",
      MEMORY_PROBE,
      // IHB_BENCH_CLI in a variant's environment: another bundle of our CLI (e.g. built from other code),
      // so that code variants are compared in one stack start, interleaved.
      env.IHB_BENCH_CLI ?? ctx.cli,
      ...args,
    ],
    {
      env: withoutUnset({ ...CLI_BIN_ENV, ...env, IHB_MEMORY_PROBE: file }),
    },
  );
  // IHB_BENCH_STDOUT_DIR in a variant's environment: keeps each run's stdout there (e.g. with
  // IHB_BENCH_NODE_FLAGS=--trace-gc, which V8 writes to stdout).
  if (env.IHB_BENCH_STDOUT_DIR)
    await writeFile(join(env.IHB_BENCH_STDOUT_DIR, `run-${probes}.out`), r.stdout);
  let memoryAtPeak: MemorySplit | undefined;
  for (const line of (await readFile(file, "utf8").catch(() => "")).split("\n")) {
    if (!line.startsWith("{")) continue;
    const m = JSON.parse(line) as MemorySplit;
    if (!memoryAtPeak || m.rss > memoryAtPeak.rss) memoryAtPeak = m;
  }
  await rm(file, { force: true });
  return { ...r, memoryAtPeak };
}

/** Milliseconds of the steps that make up an operation and its outage. */
export interface Phases {
  /** Restore: read + verify every checksum (staging included when it stages). */
  pass1Ms?: number;
  /** Restore: the PostgreSQL load (ours: "restoring PostgreSQL …" → "… restored"; raw: `pg_restore`). */
  postgresMs?: number;
  /** Restore: the Neo4j load (ours: "loading Neo4j …" → "… loaded"; raw: `neo4j-admin database load`). */
  neo4jMs?: number;
  /** Create: `pg_dump` (ours: its "dump finished" line). */
  postgresDumpMs?: number;
  /** Create: the Neo4j dump (ours: its "dump finished" line). */
  neo4jDumpMs?: number;
  /** Community Neo4j stopped → serving again (ours: its own "… again after N ms offline"; raw: stop + step + start). */
  neo4jOfflineMs?: number;
  /**
   * Infrahub unavailable: application services stopped → started again (ours); the raw floor: create,
   * Neo4j stop + dump + start; restore, the longer of `pg_restore` and Neo4j stop + load + start.
   */
  outageMs?: number;
}

/** Our CLI runs in a local environment (processes on this host) or through a Kubernetes API server's exec. */
export type OursPath = "local" | "kubernetes";

export type Scenario =
  | "raw-dump"
  | "ours-create"
  | "ours-create-k8s"
  | "naive-create"
  | "ours-restore"
  | "ours-restore-k8s"
  | "raw-load";

/**
 * V8 flags our CLI runs with, as the container image's ENTRYPOINT and the `bin` shim start it: a 1 MiB
 * semi-space lets a scavenge free the socket buffers of the bytes that streamed through, where the default
 * (up to 16 MiB) leaves them to mark-compacts (packages/core/README.md, "Memory").
 */
export const CLI_NODE_FLAGS = ["--max-semi-space-size=1"];

/**
 * Environment the `bin` shim gives our CLI (glibc: S3 body chunks of 32 KiB and more mapped one by one, not
 * left as holes in the main heap; packages/cli/bin/infrahub-backup.js). A variant may override it.
 */
export const CLI_BIN_ENV = { MALLOC_MMAP_THRESHOLD_: "32768" };

export interface BenchContext {
  stack: InfrahubLocalStack;
  cycle: Neo4jCycle;
  /** The CLI bundle (run with this Node as a separate process). */
  cli: string;
  /** Environment of the CLI: local config, S3 endpoint/bucket/prefix, credentials, freeze helper. */
  cliEnv: NodeJS.ProcessEnv;
  /** Environment for `mc` with the alias `bench` pointing at MinIO (MC_HOST_bench). */
  mcEnv: NodeJS.ProcessEnv;
  mc: string;
  bucket: string;
  workDir: string;
  /** With `--paths …kubernetes`: KUBECONFIG and namespace of the local cluster's Infrahub fixture. */
  kubernetes?: { kubeconfig: string; namespace: string };
}

/** The CLI's environment and deployment arguments for one path. */
function cliTarget(ctx: BenchContext, path: OursPath): { env: NodeJS.ProcessEnv; args: string[] } {
  if (path === "local") return { env: ctx.cliEnv, args: [] };
  if (!ctx.kubernetes) throw new Error("the Kubernetes path needs --paths kubernetes");
  const { INFRAHUB_LOCAL_CONFIG: _local, ...env } = ctx.cliEnv;
  return {
    env: { ...env, KUBECONFIG: ctx.kubernetes.kubeconfig },
    args: ["--k8s-namespace", ctx.kubernetes.namespace],
  };
}

const at = (timeline: Array<{ atMs: number; msg: string }>, re: RegExp, last = false) => {
  const hits = timeline.filter((l) => re.test(l.msg));
  return (last ? hits.at(-1) : hits[0])?.atMs;
};
const span = (from: number | undefined, to: number | undefined) =>
  from !== undefined && to !== undefined && to >= from ? to - from : undefined;
const number = (timeline: Array<{ msg: string }>, re: RegExp) => {
  for (const l of timeline) {
    const m = re.exec(l.msg);
    if (m) return Number(m[1]);
  }
  return undefined;
};

/** The phases of one of our runs, from the log lines the library writes (see packages/core operations). */
export function phasesOf(timeline: Array<{ atMs: number; msg: string }>): Phases {
  const phases: Phases = {
    pass1Ms: number(timeline, /^archive verified in (\d+) ms/),
    postgresMs: span(
      at(timeline, /^restoring PostgreSQL database/),
      at(timeline, /^PostgreSQL database \S+ restored/),
    ),
    neo4jMs: span(at(timeline, /^loading Neo4j database/), at(timeline, /^Neo4j database \S+ loaded/)),
    postgresDumpMs: number(timeline, /^postgres(?:ql)? dump finished: \d+ bytes in (\d+) ms/i),
    // Staged: the dump itself is "staged in N ms"; "dump finished" then includes the upload after it.
    neo4jDumpMs:
      number(timeline, /^Neo4j dump staged in (\d+) ms/) ??
      number(timeline, /^neo4j dump finished: \d+ bytes in (\d+) ms/i),
    neo4jOfflineMs: number(timeline, /Neo4j serving (?:database \S+ )?again after (\d+) ms offline/),
    // Until the services are started again; the local environment's stand-ins log no "started" line, so
    // then until the restore completed, or (create) until Neo4j serves again.
    outageMs: span(
      at(timeline, /^stopping application services/),
      at(timeline, /^started /, true) ??
        at(timeline, /^restore completed/) ??
        at(timeline, /^Neo4j serving (?:database \S+ )?again after/, true),
    ),
  };
  return Object.fromEntries(Object.entries(phases).filter(([, v]) => v !== undefined)) as Phases;
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function pgDumpScript(ctx: BenchContext): string {
  const pg = ctx.stack.postgres;
  return `${q(pg.bin("pg_dump"))} -Fc -h 127.0.0.1 -U ${q(pg.app.user)} -d ${q(pg.app.database)}`;
}

function neo4jDumpScript(ctx: BenchContext): string {
  return `${q(join(ctx.stack.neo4j.binDir, "neo4j-admin"))} database dump --to-stdout ${ctx.stack.neo4j.database}`;
}

/**
 * The dump commands alone (Neo4j offline, as any Community dump must be), written to local files: the
 * files are the input of the raw load baseline, and writing them costs about what `> /dev/null` does
 * (they stay in the page cache).
 */
export async function rawDump(ctx: BenchContext): Promise<Sample> {
  const pgFile = join(ctx.workDir, "prefect.dump");
  const neo4jFile = join(ctx.workDir, "neo4j.dump");
  const pg = await measureShell(`${pgDumpScript(ctx)} > ${q(pgFile)}`, ctx.stack.postgres.env("app"));
  const neo = await ctx.cycle.offline(() =>
    measureShell(`${neo4jDumpScript(ctx)} > ${q(neo4jFile)}`, ctx.stack.neo4j.env()),
  );
  return {
    scenario: "raw-dump",
    wallMs: pg.wallMs + neo.result.wallMs,
    cpuMs: pg.cpuMs + neo.result.cpuMs,
    peakRssBytes: Math.max(pg.peakRssBytes, neo.result.peakRssBytes),
    cycleMs: neo.stopMs + neo.startMs,
    neo4jDumpMs: neo.result.wallMs,
    dumpBytes: (await stat(pgFile)).size + (await stat(neo4jFile)).size,
    phases: {
      postgresDumpMs: pg.wallMs,
      neo4jDumpMs: neo.result.wallMs,
      neo4jOfflineMs: neo.stopMs + neo.result.wallMs + neo.startMs,
      outageMs: neo.stopMs + neo.result.wallMs + neo.startMs,
    },
  };
}

/** `dump | gzip | mc pipe` for each database, same tools, default gzip level. */
export async function naiveCreate(ctx: BenchContext, tag: string): Promise<Sample> {
  const target = (file: string) => q(`bench/${ctx.bucket}/naive/${tag}/${file}`);
  const env = { ...ctx.stack.postgres.env("app"), ...ctx.mcEnv };
  const pg = await measureShell(
    `${pgDumpScript(ctx)} | gzip | ${q(ctx.mc)} -q pipe ${target("prefect.dump.gz")}`,
    env,
  );
  const neo = await ctx.cycle.offline(() =>
    measureShell(`${neo4jDumpScript(ctx)} | gzip | ${q(ctx.mc)} -q pipe ${target("neo4j.dump.gz")}`, {
      ...ctx.stack.neo4j.env(),
      ...ctx.mcEnv,
    }),
  );
  return {
    scenario: "naive-create",
    wallMs: pg.wallMs + neo.result.wallMs,
    cpuMs: pg.cpuMs + neo.result.cpuMs,
    peakRssBytes: Math.max(pg.peakRssBytes, neo.result.peakRssBytes),
    cycleMs: neo.stopMs + neo.startMs,
  };
}

interface JsonLine {
  type?: string;
  msg?: string;
  message?: string;
  name?: string;
  time?: string;
}

function timeline(stderr: string, spawnedAt: number): Array<{ atMs: number; msg: string }> {
  return jsonLines(stderr)
    .filter((l) => l.type === "log" && l.time !== undefined)
    .map((l) => ({ atMs: Date.parse(l.time ?? "") - spawnedAt, msg: l.msg ?? "" }));
}

function jsonLines(text: string): JsonLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as JsonLine);
}

/** Our `create --s3-upload` as its own process; returns the sample and the archive's name. */
export async function oursCreate(
  ctx: BenchContext,
  path: OursPath = "local",
): Promise<{ sample: Sample; name: string }> {
  await ctx.cycle.settled();
  const target = cliTarget(ctx, path);
  const r = await runOurs(ctx, ["create", ...target.args, "--s3-upload", "--log-format", "json"], target.env);
  if (r.exitCode !== 0) throw new Error(`create failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  const result = jsonLines(r.stdout).find((l) => l.type === "result");
  if (!result?.name) throw new Error(`create printed no result:\n${r.stdout}`);
  let downtimeMs: number | undefined;
  for (const line of jsonLines(r.stderr)) {
    const m = /Neo4j serving (?:database \S+ )?again after (\d+) ms offline/.exec(
      line.msg ?? line.message ?? "",
    );
    if (m) downtimeMs = Number(m[1]);
  }
  await ctx.cycle.settled();
  const lines = timeline(r.stderr, r.spawnedAt);
  return {
    name: result.name,
    sample: {
      scenario: path === "local" ? "ours-create" : "ours-create-k8s",
      wallMs: r.wallMs,
      cpuMs: r.cpuMs,
      peakRssBytes: r.peakRssBytes,
      diskWriteBytes: r.diskWriteBytes,
      diskWriteBytesWithChildren: r.diskWriteBytesWithChildren,
      timeline: lines,
      phases: phasesOf(lines),
      ...(r.memoryAtPeak ? { memoryAtPeak: r.memoryAtPeak } : {}),
      ...(downtimeMs !== undefined ? { downtimeMs } : {}),
    },
  };
}

/** Our `restore s3://<bucket>/<key> --yes` as its own process (validation pass + restore pass). */
export async function oursRestore(
  ctx: BenchContext,
  name: string,
  path: OursPath = "local",
): Promise<Sample> {
  await ctx.cycle.settled();
  const target = cliTarget(ctx, path);
  const r = await runOurs(
    ctx,
    [
      "restore",
      `s3://${ctx.bucket}/${ctx.cliEnv.INFRAHUB_S3_PREFIX}/${name}`,
      ...target.args,
      "--yes",
      "--log-format",
      "json",
    ],
    target.env,
  );
  if (r.exitCode !== 0) throw new Error(`restore failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  await ctx.cycle.settled();
  const lines = timeline(r.stderr, r.spawnedAt);
  return {
    scenario: path === "local" ? "ours-restore" : "ours-restore-k8s",
    wallMs: r.wallMs,
    cpuMs: r.cpuMs,
    peakRssBytes: r.peakRssBytes,
    diskWriteBytes: r.diskWriteBytes,
    diskWriteBytesWithChildren: r.diskWriteBytesWithChildren,
    timeline: lines,
    phases: phasesOf(lines),
    ...(r.memoryAtPeak ? { memoryAtPeak: r.memoryAtPeak } : {}),
  };
}

/**
 * One read of our archive from S3 (`mc cat`), then the raw load commands fed from the dump files of
 * the last raw-dump step:
 * `pg_restore --clean --create` and (Neo4j offline) `neo4j-admin database load --from-stdin`.
 */
export async function rawLoad(ctx: BenchContext, name: string): Promise<Sample> {
  const prefix = ctx.cliEnv.INFRAHUB_S3_PREFIX ?? "";
  const read = await measureShell(`${q(ctx.mc)} cat ${q(`bench/${ctx.bucket}/${prefix}/${name}`)} | wc -c`, {
    ...process.env,
    ...ctx.mcEnv,
  });
  const pg = ctx.stack.postgres;
  const restore = await measureShell(
    `${q(pg.bin("pg_restore"))} -h 127.0.0.1 -d postgres --clean --if-exists --create --no-owner --no-privileges --exit-on-error < ${q(join(ctx.workDir, "prefect.dump"))}`,
    pg.env("app"),
  );
  const neo = await ctx.cycle.offline(() =>
    measureShell(
      `${q(join(ctx.stack.neo4j.binDir, "neo4j-admin"))} database load --from-stdin --overwrite-destination=true ${ctx.stack.neo4j.database} < ${q(join(ctx.workDir, "neo4j.dump"))}`,
      ctx.stack.neo4j.env(),
    ),
  );
  return {
    scenario: "raw-load",
    wallMs: read.wallMs + restore.wallMs + neo.result.wallMs,
    cpuMs: read.cpuMs + restore.cpuMs + neo.result.cpuMs,
    peakRssBytes: Math.max(read.peakRssBytes, restore.peakRssBytes, neo.result.peakRssBytes),
    cycleMs: neo.stopMs + neo.startMs,
    archiveReadMs: read.wallMs,
    phases: {
      pass1Ms: read.wallMs,
      postgresMs: restore.wallMs,
      neo4jMs: neo.result.wallMs,
      neo4jOfflineMs: neo.stopMs + neo.result.wallMs + neo.startMs,
      // The floor of an outage: both loads at once, from local files (what staging aims at).
      outageMs: Math.max(restore.wallMs, neo.stopMs + neo.result.wallMs + neo.startMs),
    },
  };
}

/** Removes this run's objects (ours and naive) so the bucket does not grow across runs. */
export async function clearBucket(ctx: BenchContext): Promise<void> {
  await measureShell(`${q(ctx.mc)} -q rm --recursive --force ${q(`bench/${ctx.bucket}/`)} >/dev/null`, {
    ...process.env,
    ...ctx.mcEnv,
  });
}
