// `pnpm bench:cli-kind-vs-kwok`: our CLI's create and restore of the same small dataset through a kind cluster
// (Infrahub from local images, real pods and kubelet) and through the testkit's local cluster (kwok pods
// that exec into the local stack), interleaved, in one run. See ../README.md, "Exec round trip".
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freezeHelperPath, seedInfrahubData, tempDir } from "@infrahub-backup/testkit";
import {
  deployInfrahubOnKind,
  graphQueries,
  INFRAHUB_NAMESPACE,
  LOCAL_IMAGES,
  sqlQueries,
} from "../../e2e/kind/infrahub-on-kind.js";
import { KindCluster, kindClusterName } from "../../e2e/kind/kind-cluster.js";
import { measureProcess } from "./measure.js";
import { median } from "./report.js";
import { CLI_BIN_ENV, CLI_NODE_FLAGS } from "./scenarios.js";
import { bundleCli, disposeAll, startBenchStack, startKubernetesPath, stoppedOnSignal } from "./setup.js";

const HELP = `pnpm bench:cli-kind-vs-kwok [--rounds 1] [--nodes 200] [--flow-runs 300] [--logs DIR]

Seeds the same small dataset (testkit seedInfrahubData) into Infrahub on a kind cluster and into the local
stack behind the local cluster's kwok pods, then runs our CLI (the bundle, as the bin shim starts it)
\`create --k8s-namespace infrahub --backup-dir DIR\` and \`restore FILE --yes\` against each, interleaved.
Prints wall time per run and Neo4j's offline window from the CLI's log; --logs keeps each run's JSON log.`;

type Tier = "kind" | "kwok";

const running = stoppedOnSignal();
const log = (msg: string) =>
  console.error(`[bench:cli-kind-vs-kwok ${new Date().toISOString().slice(11, 19)}] ${msg}`);

interface TierTarget {
  tier: Tier;
  kubeconfig: string;
  /** Waits until the deployment is back to normal between runs. */
  settled: () => Promise<void>;
}

/** One CLI run; returns its wall time and, for create, the archive and Neo4j's offline window. */
async function runCli(
  cli: string,
  target: TierTarget,
  args: string[],
): Promise<{ wallMs: number; offlineMs: number | undefined; stderr: string }> {
  await target.settled();
  const r = await measureProcess(process.execPath, [...CLI_NODE_FLAGS, cli, ...args], {
    env: {
      ...CLI_BIN_ENV,
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      KUBECONFIG: target.kubeconfig,
      INFRAHUB_FREEZE_HELPER_DIR: join(freezeHelperPath("amd64"), ".."),
    },
  });
  if (r.exitCode !== 0)
    throw new Error(`${target.tier} ${args[0]} failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  const offline = /Neo4j serving (?:database \S+ )?again after (\d+) ms offline/.exec(r.stderr);
  await target.settled();
  return { wallMs: r.wallMs, offlineMs: offline ? Number(offline[1]) : undefined, stderr: r.stderr };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "1" },
      nodes: { type: "string", default: "200" },
      "flow-runs": { type: "string", default: "300" },
      logs: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const dataset = { nodes: Number(values.nodes), flowRuns: Number(values["flow-runs"]) };
  const started = new Date();
  try {
    const work = await tempDir("ihb-bench-cli-kind-");
    running.add(work);
    const cli = bundleCli(work.path);

    const kindStart = Date.now();
    const cluster = await KindCluster.start(kindClusterName("cli-rt"));
    running.add(cluster);
    await cluster.loadImages(Object.values(LOCAL_IMAGES));
    await deployInfrahubOnKind(cluster);
    await seedInfrahubData(graphQueries(cluster), sqlQueries(cluster), dataset);
    log(`kind: Infrahub deployed and seeded in ${((Date.now() - kindStart) / 1000).toFixed(1)} s`);
    const kind: TierTarget = {
      tier: "kind",
      kubeconfig: cluster.kubeconfig,
      settled: async () => {
        await cluster.kubectl(
          ["-n", INFRAHUB_NAMESPACE, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=300s"],
          { timeoutMs: 320_000 },
        );
      },
    };

    const kwokStart = Date.now();
    const bench = await startBenchStack(running);
    running.add(bench);
    const { kubernetes } = await startKubernetesPath(bench.stack, running);
    await seedInfrahubData(bench.stack.neo4j, bench.stack.postgres, dataset);
    log(
      `kwok: local stack + cluster started and seeded in ${((Date.now() - kwokStart) / 1000).toFixed(1)} s`,
    );
    const kwok: TierTarget = {
      tier: "kwok",
      kubeconfig: kubernetes.kubeconfig,
      settled: () => bench.cycle.settled(),
    };

    const loadBefore = loadavg();
    const lines: string[] = [];
    const times: Record<string, number[]> = {};
    const logsDir = values.logs;
    if (logsDir) await mkdir(logsDir, { recursive: true });
    const record = async (
      key: string,
      run: { wallMs: number; offlineMs: number | undefined; stderr: string },
    ) => {
      const { wallMs: ms, offlineMs } = run;
      if (logsDir)
        await writeFile(join(logsDir, `${key.replace(" ", "-")}-${lines.length + 1}.jsonl`), run.stderr);
      times[key] = [...(times[key] ?? []), ms];
      lines.push(
        `${key} | ${(ms / 1000).toFixed(1)} | ${offlineMs === undefined ? "" : (offlineMs / 1000).toFixed(1)}`,
      );
      log(lines.at(-1) ?? "");
    };
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const target of round % 2 === 1 ? [kind, kwok] : [kwok, kind]) {
        const dir = join(work.path, `${target.tier}-${round}`);
        const created = await runCli(cli, target, [
          "create",
          "--k8s-namespace",
          INFRAHUB_NAMESPACE,
          "--backup-dir",
          dir,
          "--log-format",
          "json",
        ]);
        await record(`${target.tier} create`, created);
        const [archive] = (await readdir(dir)).filter((f) => f.endsWith(".tar.gz"));
        if (!archive) throw new Error(`${target.tier}: create wrote no archive into ${dir}`);
        const restored = await runCli(cli, target, [
          "restore",
          join(dir, archive),
          "--k8s-namespace",
          INFRAHUB_NAMESPACE,
          "--yes",
          "--log-format",
          "json",
        ]);
        await record(`${target.tier} restore`, restored);
      }
    }
    const loadAfter = loadavg();
    const med = (key: string) => median(times[key] ?? []);
    console.log(
      [
        `CLI create/restore, seedInfrahubData ${JSON.stringify(dataset)}, started ${started.toISOString()}`,
        `load average before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`,
        "tier operation | wall s | Neo4j offline s (from the CLI's log)",
        ...lines,
        `ratio kind/kwok wall (medians): create ${(med("kind create") / med("kwok create")).toFixed(2)}, restore ${(med("kind restore") / med("kwok restore")).toFixed(2)}`,
      ].join("\n"),
    );
  } finally {
    await disposeAll(running, log);
  }
}

await main();
