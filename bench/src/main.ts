import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot, tempDir } from "@infrahub-backup/testkit";
import { writeChart } from "./chart.js";
import { Dataset, type DatasetKind } from "./dataset.js";
import { formatBytes, formatTables, parseSize, type RunRecord, summarize } from "./report.js";
import {
  type BenchContext,
  clearBucket,
  naiveCreate,
  type OursPath,
  oursCreate,
  oursRestore,
  rawDump,
  rawLoad,
  type Sample,
} from "./scenarios.js";
import { benchContext, bundleCli, startBenchStack, startKubernetesPath, stoppedOnSignal } from "./setup.js";

const HELP = `pnpm bench [--sizes 64MiB,512MiB,2GiB] [--runs 1] [--kinds random,text] [--text-max 512MiB] [--paths local[,kubernetes]] [--cli-env NAME=VALUE]… [--lazy-neo4j-start] [--out bench/results]

Generates datasets of increasing dump size on a local Infrahub stack and times, alternating, our
create to MinIO, the raw dump commands, a naive dump | gzip | mc pipe; then our restore vs one archive
read + the raw load commands. Prints medians and ratios; writes <out>/bench-<stamp>.json and .png.
The text (compressible) dataset skips sizes above --text-max, to keep the default run near 20 minutes.
--paths kubernetes also runs our create and restore through a local cluster's API server (kube-apiserver
+ kwok pods whose exec reaches the same databases), next to the local path, in the same runs.
--lazy-neo4j-start leaves Neo4j stopped after an offline step until our CLI needs it, and runs both
offline baselines before our create (the smoke test: three fewer Neo4j starts a run); the baselines'
stop/start times are then not measured, nor is the order alternated.`;

const running = stoppedOnSignal();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "64MiB,512MiB,2GiB" },
      runs: { type: "string", default: "1" },
      kinds: { type: "string", default: "random,text" },
      "text-max": { type: "string", default: "512MiB" },
      paths: { type: "string", default: "local" },
      "cli-env": { type: "string", multiple: true, default: [] },
      "lazy-neo4j-start": { type: "boolean", default: false },
      out: { type: "string", default: join(repoRoot, "bench", "results") },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sizes = values.sizes
    .split(",")
    .map(parseSize)
    .sort((a, b) => a - b);
  const runs = Number(values.runs);
  const kinds = values.kinds.split(",") as DatasetKind[];
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
  for (const k of kinds) if (k !== "random" && k !== "text") throw new Error(`unknown kind ${k}`);
  /** Extra environment of our CLI, e.g. `--cli-env MALLOC_ARENA_MAX=2` (experiments; recorded in the JSON). */
  const cliExtraEnv = Object.fromEntries(
    values["cli-env"].map((pair) => {
      const at = pair.indexOf("=");
      if (at <= 0) throw new Error(`--cli-env wants NAME=VALUE, got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const paths = values.paths.split(",") as OursPath[];
  for (const p of paths) if (p !== "local" && p !== "kubernetes") throw new Error(`unknown path ${p}`);
  const outDir = resolve(values.out);
  await mkdir(outDir, { recursive: true });
  const startedAt = new Date();
  const loadBefore = loadavg();
  const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

  await using work = await tempDir("ihb-bench-");
  running.add(work);
  const cli = bundleCli(work.path);
  log(`CLI bundled at ${cli}`);

  const records: RunRecord[] = [];
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const jsonPath = join(outDir, `bench-${stamp}.json`);
  const pngPath = join(outDir, `bench-${stamp}.png`);
  /** Written after every size too, so an interrupted run keeps what it measured. */
  const writeResults = async (complete: boolean) => {
    const { rows, ratios } = summarize(records);
    await writeFile(
      jsonPath,
      `${JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          complete,
          options: {
            sizes,
            runs,
            kinds,
            paths,
            cliEnv: cliExtraEnv,
            lazyNeo4jStart: values["lazy-neo4j-start"],
          },
          machine: {
            cpus: cpus().length,
            cpuModel: cpus()[0]?.model,
            memoryBytes: totalmem(),
            node: process.version,
          },
          loadAverage: { before: loadBefore, after: loadavg() },
          rows,
          ratios,
          records,
        },
        null,
        2,
      )}\n`,
    );
    await writeChart(pngPath, rows);
    return { rows, ratios };
  };
  for (const kind of kinds) {
    log(`starting the local stack for the ${kind} dataset`);
    await using bench = await startBenchStack(running, values["lazy-neo4j-start"]);
    const { stack, cycle, bucket } = bench;
    let kubernetes: BenchContext["kubernetes"];
    if (paths.includes("kubernetes")) {
      log("starting the local cluster and the Infrahub fixture");
      ({ kubernetes } = await startKubernetesPath(stack, running));
    }
    const config = join(work.path, `local-${kind}.json`);
    await stack.writeLocalConfig(config);
    const ctx = benchContext(
      { stack, cycle, cli, bucket, workDir: work.path, kubernetes },
      config,
      cliExtraEnv,
    );
    const dataset = new Dataset(stack, kind, work.path, cycle);
    const textMax = parseSize(values["text-max"]);
    for (const size of sizes) {
      if (kind === "text" && size > textMax) {
        log(`text ${formatBytes(size)}: skipped (above --text-max ${formatBytes(textMax)})`);
        continue;
      }
      log(`${kind} ${formatBytes(size)}: generating data`);
      await dataset.grow(size);
      for (let run = 1; run <= runs; run++) {
        const samples: Sample[] = [];
        // A/B alternation: the order flips every run so drift (page cache, other load) hits both sides.
        const forward = run % 2 === 1;
        const names: Partial<Record<OursPath, string>> = {};
        const rawDumpStep = async () => void samples.push(await rawDump(ctx));
        const oursCreateSteps = paths.map((path) => async () => {
          const r = await oursCreate(ctx, path);
          samples.push(r.sample);
          names[path] = r.name;
        });
        const naiveCreateStep = async () =>
          void samples.push(await naiveCreate(ctx, `${kind}-${size}-${run}`));
        const createSteps = [rawDumpStep, ...oursCreateSteps, naiveCreateStep];
        // Lazy start: both offline baselines first, in the stop of the data import (no A/B order then).
        const createOrder = values["lazy-neo4j-start"]
          ? [rawDumpStep, naiveCreateStep, ...oursCreateSteps]
          : forward
            ? createSteps
            : [...createSteps].reverse();
        for (const step of createOrder) await step();
        // Each path restores the archive it created; the raw read is of the first path's archive.
        const restoreSteps = [
          ...paths.map(
            (path) => async () => void samples.push(await oursRestore(ctx, names[path] ?? "", path)),
          ),
          async () => void samples.push(await rawLoad(ctx, names[paths[0] as OursPath] ?? "")),
        ];
        for (const step of forward ? restoreSteps : [...restoreSteps].reverse()) await step();
        await clearBucket(ctx);
        records.push({ kind, size, run, samples });
        log(
          `${kind} ${formatBytes(size)} run ${run}: ${samples.map((s) => `${s.scenario} ${(s.wallMs / 1000).toFixed(1)}s`).join(", ")}`,
        );
      }
      await writeResults(false);
    }
    for (const d of [...running].filter((d) => d !== work && d !== bench).reverse()) {
      await d[Symbol.asyncDispose]();
      running.delete(d);
    }
    // Disposed by `await using` right after this line; the signal handler must not do it again.
    running.delete(bench);
  }

  const { rows, ratios } = await writeResults(true);
  console.log(formatTables(rows, ratios));
  console.log(
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(`JSON: ${jsonPath}\nPNG:  ${pngPath}`);
}

await main();
