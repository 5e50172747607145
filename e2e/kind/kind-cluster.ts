// A kind cluster on the node image built here (tools/kind-cluster.sh, docs/kind-node-image.md), owned by one
// test file: created in its beforeAll, deleted when disposed. Everything talks to it through the pinned kubectl
// with the cluster's own kubeconfig (never the machine's current context).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot, run, type TempDir, tempDir, toolDir } from "@infrahub-backup/testkit";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON here
export type KubeObject = Record<string, any>;

const KIND_CLUSTER_SCRIPT = join(repoRoot, "tools/kind-cluster.sh");

/** Why no kind cluster can start here, or undefined when one can (a Docker engine answers). */
export function kindUnavailableHere(): string | undefined {
  const docker = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
  if (docker.error || docker.status !== 0) return "no Docker engine answers (tools/docker-daemon.sh start)";
  return undefined;
}

/**
 * The cluster name of this test run: tools/check-leftovers.sh finds (and deletes) a cluster a run left behind
 * by the `ihb-<IHB_TEST_RUN>` prefix. kind names become container and network names: short, lower case.
 */
export function kindClusterName(suffix: string): string {
  const run = (process.env.IHB_TEST_RUN ?? `dev-${process.pid}`).toLowerCase().replace(/[^a-z0-9-]/g, "-");
  return `ihb-${run}-${suffix}`.slice(0, 50);
}

export class KindCluster implements AsyncDisposable {
  readonly kubeconfig: string;
  readonly #kubectl = join(toolDir("kubectl", "KUBERNETES_VERSION"), "bin/kubectl");

  private constructor(
    readonly name: string,
    readonly work: TempDir,
  ) {
    this.kubeconfig = join(work.path, "kubeconfig");
  }

  /**
   * Creates the cluster (building the node image first when its inputs changed) and waits until every system
   * pod is Ready. The node gets a normal CPU weight: the test waits on its pods.
   */
  static async start(name: string): Promise<KindCluster> {
    const work = await tempDir("ihb-kind-");
    const cluster = new KindCluster(name, work);
    try {
      await run("bash", [KIND_CLUSTER_SCRIPT, "up", name, cluster.kubeconfig], {
        env: { ...process.env, IHB_KIND_CPU_SHARES: "1024" },
        timeoutMs: 1_200_000,
      });
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    return cluster;
  }

  /** Copies local images into the node's containerd (pods use them with `imagePullPolicy: Never`). */
  async loadImages(images: readonly string[]): Promise<void> {
    await run("bash", [KIND_CLUSTER_SCRIPT, "load", this.name, ...images], { timeoutMs: 600_000 });
  }

  /** The pinned kubectl against this cluster; rejects with its stderr on a non-zero exit. */
  async kubectl(
    args: readonly string[],
    options: { input?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    return (
      await run(this.#kubectl, ["--kubeconfig", this.kubeconfig, ...args], {
        timeoutMs: options.timeoutMs ?? 120_000,
        ...(options.input === undefined ? {} : { input: options.input }),
      })
    ).stdout;
  }

  async json(args: readonly string[]): Promise<KubeObject> {
    return JSON.parse(await this.kubectl([...args, "-o", "json"])) as KubeObject;
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    await this.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    });
  }

  /** The node container's address on the kind network: NodePorts are reachable there from this machine. */
  async nodeAddress(): Promise<string> {
    const node = await this.json(["get", "node", `${this.name}-control-plane`]);
    const address = (node.status?.addresses ?? []).find((a: KubeObject) => a.type === "InternalIP")?.address;
    if (!address) throw new Error(`kind cluster ${this.name}: its node has no InternalIP`);
    return address as string;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await run("bash", [KIND_CLUSTER_SCRIPT, "down", this.name], { timeoutMs: 120_000 });
    } finally {
      await this.work[Symbol.asyncDispose]();
    }
  }
}
