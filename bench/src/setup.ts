import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import {
  deployInfrahubFixture,
  freezeHelperPath,
  type InfrahubLocalStack,
  type LocalCluster,
  repoRoot,
  startLocalCluster,
} from "@infrahub-backup/testkit";

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
    ["template", "infrahub-backup", join(repoRoot, "charts", "infrahub-backup"), "--namespace", namespace],
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
