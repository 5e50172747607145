import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import {
  deployInfrahubFixture,
  freezeHelperPath,
  type InfrahubLocalStack,
  type LocalCluster,
  repoRoot,
  startInfrahubLocalStack,
  startLocalCluster,
  toolDir,
} from "@infrahub-backup/testkit";
import { Neo4jCycle } from "./neo4j-cycle.js";
import type { BenchContext } from "./scenarios.js";

/**
 * The local cluster with the Infrahub-shaped fixture whose pods exec into the stack's databases, and the
 * chart's RBAC rendered by the real helm: our CLI runs as its ServiceAccount. Every disposable is added
 * to `running` as soon as it exists, so an interrupted run stops it.
 */
export async function startKubernetesPath(
  stack: InfrahubLocalStack,
  running: Set<AsyncDisposable>,
): Promise<{ cluster: LocalCluster; kubernetes: { kubeconfig: string; namespace: string } }> {
  const cluster = await startLocalCluster();
  running.add(cluster);
  const namespace = "infrahub";
  const fixture = await deployInfrahubFixture(cluster, stack, { namespace });
  running.add(fixture);
  const rendered = execFileSync(
    "helm",
    [
      "template",
      "infrahub-backup",
      // IHB_BENCH_CHART: another copy of the chart (e.g. the last commit's, while the working tree's is
      // being edited); only its RBAC matters here.
      process.env.IHB_BENCH_CHART ?? join(repoRoot, "charts", "infrahub-backup"),
      "--namespace",
      namespace,
    ],
    { encoding: "utf8" },
  );
  await cluster.apply(rendered);
  return {
    cluster,
    kubernetes: {
      kubeconfig: await cluster.serviceAccountKubeconfig(namespace, "infrahub-backup"),
      namespace,
    },
  };
}

/** Our CLI's environment on the local stack: local config, MinIO as S3, the freeze helper, plus `extra`. */
export function ourCliEnv(
  stack: InfrahubLocalStack,
  localConfig: string,
  bucket: string,
  extra: Record<string, string>,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    IHB_CACHE: process.env.IHB_CACHE,
    TMPDIR: process.env.TMPDIR,
    INFRAHUB_LOCAL_CONFIG: localConfig,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: bucket,
    INFRAHUB_S3_PREFIX: "infrahub",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
    INFRAHUB_FREEZE_HELPER_DIR: dirname(freezeHelperPath("amd64")),
    ...extra,
  };
}

/** `mc`'s environment with the alias `bench` pointing at the stack's MinIO. */
export function mcEnv(stack: InfrahubLocalStack, workDir: string): NodeJS.ProcessEnv {
  const endpoint = new URL(stack.minio.endpoint);
  const host = `${endpoint.protocol}//${encodeURIComponent(stack.minio.rootUser)}:${encodeURIComponent(stack.minio.rootPassword)}@${endpoint.host}`;
  return { MC_HOST_bench: host, MC_CONFIG_DIR: join(workDir, "mc") };
}

/**
 * What must be stopped if the run is interrupted (a signal skips the `await using` disposals): the set
 * returned, disposed in reverse order on SIGINT/SIGTERM before the process exits.
 */
export function stoppedOnSignal(): Set<AsyncDisposable> {
  const running = new Set<AsyncDisposable>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`[bench] ${signal}: stopping the local stack`);
      void (async () => {
        for (const d of [...running].reverse()) {
          try {
            await d[Symbol.asyncDispose]();
          } catch {
            // stopping as much as possible: one failed disposal must not keep the others running
          }
        }
        process.exit(130);
      })();
    });
  }
  return running;
}

/**
 * Disposes everything left in `running`, last added first; a failed disposal is reported and the others are
 * still stopped (a kind cluster left behind costs the machine a core).
 */
export async function disposeAll(running: Set<AsyncDisposable>, log: (msg: string) => void): Promise<void> {
  for (const d of [...running].reverse()) {
    try {
      await d[Symbol.asyncDispose]();
    } catch (error) {
      log(`stopping failed: ${(error as Error).message}`);
    }
    running.delete(d);
  }
}

/** Our CLI bundled (as it ships) into `workDir`; returns its path. */
export function bundleCli(workDir: string): string {
  const cli = join(workDir, "infrahub-backup.mjs");
  const cliDir = join(repoRoot, "packages", "cli");
  execFileSync(process.execPath, [join(cliDir, "scripts", "bundle.mjs"), cli], {
    cwd: cliDir,
    stdio: "pipe",
  });
  return cli;
}

/** What every scenario needs: the stack, MinIO through `mc`, our CLI and its environment. */
export function benchContext(
  parts: Pick<BenchContext, "stack" | "cycle" | "cli" | "bucket" | "workDir" | "kubernetes">,
  localConfig: string,
  extraEnv: Record<string, string>,
): BenchContext {
  const { kubernetes, ...rest } = parts;
  return {
    ...rest,
    mc: join(toolDir("mc", "MC_VERSION"), "bin", "mc"),
    mcEnv: mcEnv(parts.stack, parts.workDir),
    cliEnv: ourCliEnv(parts.stack, localConfig, parts.bucket, extraEnv),
    ...(kubernetes ? { kubernetes } : {}),
  };
}

/**
 * The local stack, the Neo4j stop/start helper and the `bench` bucket, as one disposable (the helper is
 * disposed before the stack), added to `running` for an interrupted run.
 */
export async function startBenchStack(
  running: Set<AsyncDisposable>,
  lazyNeo4jStart = false,
): Promise<{ stack: InfrahubLocalStack; cycle: Neo4jCycle; bucket: string } & AsyncDisposable> {
  const stack = await startInfrahubLocalStack();
  const cycle = new Neo4jCycle(stack.neo4j, stack.neo4jSupervisor, lazyNeo4jStart);
  const bench = {
    stack,
    cycle,
    bucket: "bench",
    async [Symbol.asyncDispose]() {
      try {
        await cycle[Symbol.asyncDispose]();
      } finally {
        await stack[Symbol.asyncDispose]();
      }
    },
  };
  running.add(bench);
  await stack.minio.createBucket(bench.bucket);
  return bench;
}
