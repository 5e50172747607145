import { join } from "node:path";
import { parseArgs } from "node:util";
import { tempDir } from "@infrahub-backup/testkit";
import { Dataset } from "./dataset.js";
import { measureProcess } from "./measure.js";
import { formatBytes, parseSize } from "./report.js";
import {
  CLI_BIN_ENV,
  CLI_NODE_FLAGS,
  clearBucket,
  type OursPath,
  oursCreate,
  oursRestore,
  type Sample,
} from "./scenarios.js";
import { benchContext, bundleCli, startBenchStack, startKubernetesPath, stoppedOnSignal } from "./setup.js";

const HELP = `pnpm bench:memory [--sizes 64MiB,512MiB] [--paths kubernetes] [--variant NAME:ENV=V,ENV=V]… [--runs 1] [--timeline]

Our create and restore only (random dataset), each variant's CLI environment in turn (default: one
variant, "as shipped", with no extra environment). Prints per run: peak RSS (VmHWM), the split at the
highest sampled RSS: V8 heap, external, ArrayBuffers, the rest; the resident anonymous memory by mapping
(glibc's main arena, its other thread arenas, other anonymous mappings); wall time and our process's CPU
(user + system: what a GC setting costs). Before the runs, the floor of each variant: an idle \`node\`
with the same flags and environment, and the CLI's \`--version\` (the bundle loaded, nothing streamed). A
variant's IHB_BENCH_CLI names another CLI bundle (code variants compared in one stack start),
IHB_BENCH_NODE_FLAGS adds Node flags. --timeline also prints each run's phases and its log lines with the
second each was written at (where the time went).`;

/** Peak RSS of an idle Node and of the CLI bundle loaded (`--version`): what no streaming bound can lower. */
async function floorOf(cli: string, env: Record<string, string>): Promise<string> {
  const flags = [...CLI_NODE_FLAGS, ...(env.IHB_BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "")];
  const processEnv = { ...process.env, ...CLI_BIN_ENV, ...env };
  const idle = await measureProcess(process.execPath, [...flags, "-e", "setTimeout(() => {}, 300)"], {
    env: processEnv,
  });
  const loaded = await measureProcess(process.execPath, [...flags, env.IHB_BENCH_CLI ?? cli, "--version"], {
    env: processEnv,
  });
  return `idle node ${mib(idle.peakRssBytes)} MiB, CLI --version ${mib(loaded.peakRssBytes)} MiB`;
}

const running = stoppedOnSignal();

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** The last log line our process wrote before `atMs`: what it was doing at its peak. */
function stepAt(s: Sample, atMs: number): string {
  const before = (s.timeline ?? []).filter((l) => l.atMs <= atMs).at(-1);
  return before
    ? `${(atMs / 1000).toFixed(1)} s, after "${before.msg.slice(0, 70)}"`
    : `${(atMs / 1000).toFixed(1)} s`;
}

function line(size: number, variant: string, s: Sample): string {
  const m = s.memoryAtPeak;
  const maps = m?.mappingsKiB;
  return [
    formatBytes(size),
    variant,
    s.scenario,
    mib(s.peakRssBytes),
    m ? `${mib(m.heapTotal)} (${mib(m.heapUsed)})` : "",
    m ? mib(m.external) : "",
    m ? mib(m.arrayBuffers) : "",
    m ? mib(Math.max(0, m.rss - m.heapTotal - m.external)) : "",
    maps
      ? `${(maps.brk / 1024).toFixed(1)} / ${(maps.arenas / 1024).toFixed(1)} / ${(maps.anon / 1024).toFixed(1)}`
      : "",
    (s.wallMs / 1000).toFixed(1),
    (s.cpuMs / 1000).toFixed(1),
    m?.atMs !== undefined ? stepAt(s, m.atMs) : "",
  ].join(" | ");
}

/** A run's phases and its log lines with the second each was written at (`--timeline`). */
function timelineOf(s: Sample): string {
  const steps = (s.timeline ?? []).map((l) => `  ${(l.atMs / 1000).toFixed(1).padStart(7)} s  ${l.msg}`);
  return [`${s.scenario} phases ${JSON.stringify(s.phases ?? {})}`, ...steps].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "64MiB,512MiB" },
      paths: { type: "string", default: "kubernetes" },
      variant: { type: "string", multiple: true, default: [] },
      runs: { type: "string", default: "1" },
      timeline: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sizes = values.sizes.split(",").map(parseSize);
  const paths = values.paths.split(",") as OursPath[];
  const runs = Number(values.runs);
  const variants = (values.variant.length > 0 ? values.variant : ["as-shipped:"]).map((spec) => {
    const colon = spec.indexOf(":");
    const name = colon < 0 ? spec : spec.slice(0, colon);
    const pairs =
      colon < 0
        ? []
        : spec
            .slice(colon + 1)
            .split(",")
            .filter((p) => p !== "");
    return {
      name,
      env: Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)])),
    };
  });
  const log = (msg: string) =>
    console.error(`[bench:memory ${new Date().toISOString().slice(11, 19)}] ${msg}`);

  await using work = await tempDir("ihb-bench-memory-");
  running.add(work);
  const cli = bundleCli(work.path);
  await using bench = await startBenchStack(running);
  const { stack, cycle, bucket } = bench;
  const kubernetes = paths.includes("kubernetes")
    ? (await startKubernetesPath(stack, running)).kubernetes
    : undefined;
  const config = join(work.path, "local.json");
  await stack.writeLocalConfig(config);
  const base = benchContext({ stack, cycle, cli, bucket, workDir: work.path, kubernetes }, config, {});
  const dataset = new Dataset(stack, "random", work.path, cycle);
  const header =
    "size | variant | scenario | peak RSS MiB | V8 heap (used) | external | ArrayBuffers | rest | brk / arenas / anon | wall s | CPU s | peak at";
  const lines: string[] = [];
  for (const variant of variants) {
    lines.push(`floor | ${variant.name} | ${await floorOf(cli, variant.env)}`);
    log(lines.at(-1) ?? "");
  }
  for (const size of sizes.sort((a, b) => a - b)) {
    log(`${formatBytes(size)}: generating data`);
    await dataset.grow(size);
    for (let run = 1; run <= runs; run++) {
      for (const variant of run % 2 === 1 ? variants : [...variants].reverse()) {
        const ctx = { ...base, cliEnv: { ...base.cliEnv, ...variant.env } };
        for (const path of paths) {
          const created = await oursCreate(ctx, path);
          lines.push(line(size, variant.name, created.sample));
          log(lines.at(-1) ?? "");
          if (values.timeline) log(timelineOf(created.sample));
          const restored = await oursRestore(ctx, created.name, path);
          lines.push(line(size, variant.name, restored));
          log(lines.at(-1) ?? "");
          if (values.timeline) log(timelineOf(restored));
          await clearBucket(ctx);
        }
      }
    }
  }
  console.log([header, ...lines].join("\n"));
  // The cluster and its fixture are not `await using`: stopped here, before the stack they exec into.
  for (const d of [...running].filter((d) => d !== work && d !== bench).reverse()) {
    await d[Symbol.asyncDispose]();
    running.delete(d);
  }
  running.delete(bench);
  running.delete(work);
}

await main();
