import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeClient, type KubeObject } from "../job-pod-runner/kube-client.js";
import { freePort } from "../ports.js";
import { ManagedProcess, waitUntil } from "../process.js";
import { type TempDir, tempDir } from "../temp.js";
import { toolDir } from "../toolchain.js";
import { ExecBinder, type SandboxBinding } from "./exec-bindings.js";
import { type ClusterPki, createClusterPki } from "./pki.js";

export interface LocalClusterOptions {
  /**
   * Who finishes the pods of Jobs. `external` (default): kwok makes them Running (and Ready) but never
   * Succeeded/Failed — a test runs the container's work itself and patches `pods/<name>/status` (see
   * testkit's job pod runner). `kwok`: kwok's `pod-complete` stage marks them Succeeded at once.
   */
  jobPods?: "external" | "kwok";
  /** Number of fake Nodes (`kwok-node-0` …). Default 1. */
  nodes?: number;
  /** Extra kube-apiserver flags (e.g. `--enable-admission-plugins=…`). */
  apiserverArgs?: string[];
}

export interface KubectlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin, then closed. */
  input?: string;
  /** Return a non-zero exit as a result instead of throwing. */
  allowFailure?: boolean;
  /** Another kubeconfig (e.g. from `serviceAccountKubeconfig`). Default: the admin's. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/**
 * A real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver with its default admission plugins —
 * PodSecurity included — and RBAC, kube-controller-manager with all default controllers, kube-scheduler) and
 * kwok as the kubelet of fake Nodes. Pods do not run processes; `exec` into a container runs the command
 * in the container sandbox bound to it (`bindSandboxes`). Disposing stops everything and removes the dir.
 */
export interface LocalCluster extends AsyncDisposable {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** PEM of the cluster CA (verifies the API server). */
  readonly caFile: string;
  /** Bearer token of `admin` (group system:masters). Never log it. */
  readonly adminToken: string;
  /** Kubeconfig of `admin` (CA + token). */
  readonly adminKubeconfig: string;
  /** PEM files of a client certificate in group system:masters (what kind's and kubeadm's kubeconfigs use). */
  readonly adminClientCert: { cert: string; key: string };
  /** The first fake Node (`kwok-node-0`). */
  readonly nodeName: string;
  readonly nodeNames: readonly string[];
  /** One log file per component: etcd.log, kube-apiserver.log, … kwok.log. */
  readonly logsDir: string;
  /** The pinned kubectl (v1.36.4). */
  readonly kubectlPath: string;
  /** A JSON client of the API as admin. */
  readonly client: KubeClient;
  /** Runs kubectl (admin kubeconfig unless `kubeconfig` is given); throws on a non-zero exit unless `allowFailure`. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** `kubectl apply --server-side` of YAML text or objects. */
  apply(manifests: string | KubeObject | readonly KubeObject[]): Promise<void>;
  /** A real TokenRequest token of the ServiceAccount (so RBAC applies as it would in the cluster). */
  serviceAccountToken(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string>;
  /** A kubeconfig file using `serviceAccountToken` (namespace set as the context's default). */
  serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string>;
  /**
   * Binds the containers of pods matching `selector` in `namespace` to sandboxes (exec runs there). Bind before
   * the pods exist. A command added to a sandbox later is found through `sh -c` at once, and as argv[0] for pods
   * created afterwards or once the sandbox is bound again (kwok resolves argv[0] through its own PATH).
   */
  bindSandboxes(binding: SandboxBinding): Promise<void>;
  /** Removes a binding given to `bindSandboxes` (same object); later pods matching it get no exec. */
  unbindSandboxes(binding: SandboxBinding): void;
  /**
   * Waits until every Deployment and StatefulSet in `namespace` has all its replicas Ready, every pod not
   * owned by a Job is Running and Ready, and each pod matching a binding has its exec in place.
   */
  waitForReady(namespace: string, options?: { timeoutMs?: number }): Promise<void>;
  /** Creates a namespace (optionally labelled) and waits for its `default` ServiceAccount. */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
}

const SERVICE_RANGE = "10.0.0.0/24";

function kubeconfigYaml(
  server: string,
  caFile: string,
  user: string,
  token: string,
  namespace?: string,
): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: local",
    "  context:",
    "    cluster: local",
    `    user: ${user}`,
    ...(namespace ? [`    namespace: ${namespace}`] : []),
    "current-context: local",
    "",
  ].join("\n");
}

/** kwok's default stages (kube.sh ships them), without `pod-complete` when Job pods are finished externally. */
async function kwokStages(kwokDir: string, jobPods: "external" | "kwok"): Promise<string> {
  const docs = (await readFile(join(kwokDir, "etc", "stages.yaml"), "utf8")).split(/^---\s*$/m);
  const kept = docs.filter(
    (doc) => doc.trim() && (jobPods === "kwok" || !/^\s+name: pod-complete\s*$/m.test(doc)),
  );
  return kept.map((doc) => `---\n${doc.trim()}\n`).join("");
}

/** Starts the control plane and kwok; resolves when the Nodes are Ready and pods can be admitted. */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const etcdBin = join(toolDir("etcd", "ETCD_VERSION"), "bin", "etcd");
  const kubeDir = join(toolDir("kubernetes", "KUBERNETES_VERSION"), "bin");
  const kubectlPath = join(toolDir("kubectl", "KUBERNETES_VERSION"), "bin", "kubectl");
  const kwokDir = toolDir("kwok", "KWOK_VERSION");
  const crdDir = toolDir("kwok-crds", "KWOK_VERSION");
  const dir: TempDir = await tempDir("ihb-cluster-");
  const processes: ManagedProcess[] = [];
  let binder: ExecBinder | undefined;
  const stopAll = async () => {
    await binder?.stop();
    for (const proc of [...processes].reverse()) await proc.stop(10_000);
    await dir[Symbol.asyncDispose]();
  };
  try {
    // Traversable (not listable) by the users that bound containers run as: kwok's dispatcher lives here.
    await chmod(dir.path, 0o711);
    const logsDir = join(dir.path, "logs");
    const pkiDir = join(dir.path, "pki");
    await Promise.all([mkdir(logsDir), mkdir(pkiDir)]);
    const [pki, etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all([
      createClusterPki(pkiDir),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const token = () => randomBytes(16).toString("hex");
    const tokens = { admin: token(), kcm: token(), scheduler: token(), kwok: token() };
    await writeFile(
      join(pkiDir, "tokens.csv"),
      [
        `${tokens.admin},admin,admin,"system:masters"`,
        `${tokens.kcm},system:kube-controller-manager,system:kube-controller-manager,""`,
        `${tokens.scheduler},system:kube-scheduler,system:kube-scheduler,""`,
        `${tokens.kwok},kwok,kwok,"system:masters"`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigs: Record<keyof typeof tokens, string> = {
      admin: join(dir.path, "admin.kubeconfig"),
      kcm: join(dir.path, "controller-manager.kubeconfig"),
      scheduler: join(dir.path, "scheduler.kubeconfig"),
      kwok: join(dir.path, "kwok.kubeconfig"),
    };
    for (const [user, path] of Object.entries(kubeconfigs) as [keyof typeof tokens, string][])
      await writeFile(path, kubeconfigYaml(server, pki.caCert, user, tokens[user]), { mode: 0o600 });

    const start = (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => {
      const proc = ManagedProcess.start({
        name,
        command,
        args,
        logFile: join(logsDir, `${name}.log`),
        ...(env ? { env } : {}),
      });
      processes.push(proc);
      return proc;
    };

    const etcd = start("etcd", etcdBin, [
      "--name=local",
      `--data-dir=${join(dir.path, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeerPort}`,
      "--initial-cluster-state=new",
      "--log-level=warn",
      // Test data only: skip fsync so a busy 2-core machine does not stall on disk flushes.
      "--unsafe-no-fsync",
    ]);
    await waitUntil("etcd /health", async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, {
      process: etcd,
      timeoutMs: 30_000,
    });

    const apiserver = start("kube-apiserver", join(kubeDir, "kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir.path, "apiserver")}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${join(pkiDir, "tokens.csv")}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      // The `kubernetes` Endpoints would carry 127.0.0.1, which validation rejects (loopback).
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      // exec/logs: the apiserver dials the Node's InternalIP:kubeletEndpoint (kwok's server) over TLS,
      // verifying kwok's certificate with the cluster CA, and presents its kubelet client certificate.
      `--kubelet-certificate-authority=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.kubeletClientCert}`,
      `--kubelet-client-key=${pki.kubeletClientKey}`,
      "--kubelet-preferred-address-types=InternalIP",
      ...(options.apiserverArgs ?? []),
    ]);
    const client = new KubeClient({ server, caFile: pki.caCert, token: tokens.admin });
    await waitUntil("kube-apiserver /readyz", async () => (await client.text("GET", "/readyz")) === "ok", {
      process: apiserver,
      timeoutMs: 180_000,
      intervalMs: 300,
    });

    const componentArgs = (kubeconfig: string, port: number, name: string) => [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${join(dir.path, name)}`,
      "--leader-elect=false",
    ];
    start("kube-controller-manager", join(kubeDir, "kube-controller-manager"), [
      ...componentArgs(kubeconfigs.kcm, kcmPort, "controller-manager"),
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
    ]);
    start(
      "kube-scheduler",
      join(kubeDir, "kube-scheduler"),
      componentArgs(kubeconfigs.scheduler, schedPort, "scheduler"),
    );

    // kwok's CRDs first: with --enable-crds it reads Exec/Logs objects from the API.
    const crdFiles = (await readdir(crdDir)).filter((f) =>
      /_(execs|clusterexecs|logs|clusterlogs)\.yaml$/.test(f),
    );
    const crdYaml = (await Promise.all(crdFiles.map((f) => readFile(join(crdDir, f), "utf8")))).join(
      "\n---\n",
    );
    const cluster = new RunningCluster(
      server,
      pki,
      tokens.admin,
      kubeconfigs.admin,
      logsDir,
      kubectlPath,
      client,
      dir.path,
    );
    await cluster.apply(crdYaml);
    await waitUntil(
      "kwok CRDs established",
      async () => {
        for (const plural of ["execs", "clusterexecs", "logs", "clusterlogs"]) {
          const crd = await client.json(
            "GET",
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.kwok.x-k8s.io`,
          );
          if (
            !crd.status?.conditions?.some((c: KubeObject) => c.type === "Established" && c.status === "True")
          )
            return false;
        }
        return true;
      },
      { timeoutMs: 60_000 },
    );

    const stagesFile = join(dir.path, "kwok-stages.yaml");
    await writeFile(stagesFile, await kwokStages(kwokDir, options.jobPods ?? "external"));
    binder = new ExecBinder(client, join(dir.path, "kwok-path"));
    await binder.prepare();
    start(
      "kwok",
      join(kwokDir, "bin", "kwok"),
      [
        `--kubeconfig=${kubeconfigs.kwok}`,
        `--config=${stagesFile}`,
        "--enable-crds=Exec,ClusterExec,Logs,ClusterLogs",
        "--manage-all-nodes=true",
        "--node-ip=127.0.0.1",
        `--node-port=${kwokPort}`,
        `--server-address=127.0.0.1:${kwokPort}`,
        `--tls-cert-file=${pki.kwokServingCert}`,
        `--tls-private-key-file=${pki.kwokServingKey}`,
        "--node-lease-duration-seconds=40",
        "--cidr=10.244.0.1/24",
      ],
      // kwok resolves an exec's argv[0] with its own PATH: only the dispatcher directory (exec-bindings.ts).
      { PATH: binder.dispatchDir },
    );
    binder.start();
    cluster.attach(binder);

    const nodeNames = Array.from({ length: options.nodes ?? 1 }, (_, i) => `kwok-node-${i}`);
    for (const name of nodeNames) {
      await client.json("POST", "/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
          labels: {
            type: "kwok",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
          },
        },
        spec: {},
      });
    }
    cluster.setNodes(nodeNames);
    await waitUntil(
      "Nodes Ready",
      async () => {
        for (const name of nodeNames) {
          const node = await client.json("GET", `/api/v1/nodes/${name}`);
          if (!node.status?.conditions?.some((c: KubeObject) => c.type === "Ready" && c.status === "True"))
            return false;
        }
        return true;
      },
      { timeoutMs: 60_000 },
    );
    await waitUntil(
      "ServiceAccount default/default",
      async () => (await client.get("/api/v1/namespaces/default/serviceaccounts/default")) !== undefined,
      {
        timeoutMs: 60_000,
      },
    );
    cluster.onDispose(stopAll);
    return cluster;
  } catch (error) {
    const logs = await Promise.all(processes.map(async (p) => `--- ${p.name} ---\n${p.logTail(1500)}`));
    await stopAll();
    throw new Error(`local cluster did not start: ${(error as Error).message}\n${logs.join("\n")}`, {
      cause: error,
    });
  }
}

class RunningCluster implements LocalCluster {
  #nodes: string[] = [];
  #binder: ExecBinder | undefined;
  #dispose: (() => Promise<void>) | undefined;

  constructor(
    readonly server: string,
    private readonly pki: ClusterPki,
    readonly adminToken: string,
    readonly adminKubeconfig: string,
    readonly logsDir: string,
    readonly kubectlPath: string,
    readonly client: KubeClient,
    private readonly dir: string,
  ) {}

  get caFile(): string {
    return this.pki.caCert;
  }

  get adminClientCert(): { cert: string; key: string } {
    return { cert: this.pki.adminClientCert, key: this.pki.adminClientKey };
  }

  get nodeName(): string {
    return this.#nodes[0] ?? "kwok-node-0";
  }

  get nodeNames(): readonly string[] {
    return this.#nodes;
  }

  setNodes(nodes: string[]): void {
    this.#nodes = nodes;
  }

  attach(binder: ExecBinder): void {
    this.#binder = binder;
  }

  onDispose(dispose: () => Promise<void>): void {
    this.#dispose = dispose;
  }

  async kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const kubeconfig = options.kubeconfig ?? this.adminKubeconfig;
    const result = await new Promise<KubectlResult>((resolveRun, reject) => {
      const child = spawn(this.kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], {
        // kubectl keeps its discovery cache under $HOME/.kube: the cluster's own dir, not the developer's.
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.dir },
        stdio: ["pipe", "pipe", "pipe"],
        timeout: options.timeoutMs ?? 120_000,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => err.push(c));
      child.stdin.on("error", () => undefined);
      child.once("error", reject);
      child.once("close", (code, signal) =>
        resolveRun({
          exitCode: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
        }),
      );
      child.stdin.end(options.input ?? "");
    });
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new Error(
        `kubectl ${args.join(" ")} exited with ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`,
      );
    }
    return result;
  }

  async apply(manifests: string | KubeObject | readonly KubeObject[]): Promise<void> {
    const input =
      typeof manifests === "string"
        ? manifests
        : JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: Array.isArray(manifests) ? manifests : [manifests],
          });
    await this.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], { input });
  }

  async serviceAccountToken(
    namespace: string,
    serviceAccount: string,
    expirationSeconds = 3600,
  ): Promise<string> {
    const response = await this.client.json(
      "POST",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds } },
    );
    const token: unknown = response.status?.token;
    if (typeof token !== "string" || !token)
      throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
    return token;
  }

  async serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string> {
    const token = await this.serviceAccountToken(namespace, serviceAccount);
    const path = join(
      this.dir,
      `sa-${namespace}-${serviceAccount}-${randomBytes(4).toString("hex")}.kubeconfig`,
    );
    await writeFile(
      path,
      kubeconfigYaml(this.server, this.caFile, `${namespace}-${serviceAccount}`, token, namespace),
      {
        mode: 0o600,
      },
    );
    return path;
  }

  unbindSandboxes(binding: SandboxBinding): void {
    this.#binder?.unbind(binding);
  }

  async bindSandboxes(binding: SandboxBinding): Promise<void> {
    if (!this.#binder) throw new Error("local cluster: exec binder not started");
    await this.#binder.bind(binding);
  }

  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
    await waitUntil(
      `ServiceAccount ${name}/default`,
      async () => (await this.client.get(`/api/v1/namespaces/${name}/serviceaccounts/default`)) !== undefined,
      {
        timeoutMs: 60_000,
      },
    );
  }

  async waitForReady(namespace: string, options: { timeoutMs?: number } = {}): Promise<void> {
    let pending = "";
    try {
      await waitUntil(
        `workloads in ${namespace} Ready`,
        async () => {
          const [deployments, statefulsets, pods] = await Promise.all([
            this.client.json("GET", `/apis/apps/v1/namespaces/${namespace}/deployments`),
            this.client.json("GET", `/apis/apps/v1/namespaces/${namespace}/statefulsets`),
            this.client.json("GET", `/api/v1/namespaces/${namespace}/pods`),
          ]);
          for (const w of [...(deployments.items ?? []), ...(statefulsets.items ?? [])]) {
            const want = w.spec?.replicas ?? 1;
            const status = w.status ?? {};
            if (
              (status.readyReplicas ?? 0) !== want ||
              (status.replicas ?? 0) !== want ||
              (status.updatedReplicas ?? 0) !== want
            ) {
              pending = `${w.kind ?? "workload"} ${w.metadata.name}: ${status.readyReplicas ?? 0}/${want} ready, ${status.replicas ?? 0} pods`;
              return false;
            }
          }
          for (const pod of pods.items ?? []) {
            if (pod.metadata?.ownerReferences?.some((o: KubeObject) => o.kind === "Job")) continue;
            const ready = pod.status?.conditions?.some(
              (c: KubeObject) => c.type === "Ready" && c.status === "True",
            );
            if (pod.metadata?.deletionTimestamp || pod.status?.phase !== "Running" || !ready) {
              pending = `pod ${pod.metadata.name}: ${pod.status?.phase}${pod.metadata?.deletionTimestamp ? " (terminating)" : ""}`;
              return false;
            }
            if (this.#binder?.isBindable(pod) && !this.#binder.isBound(pod)) {
              pending = `pod ${pod.metadata.name}: exec not bound yet`;
              return false;
            }
          }
          return true;
        },
        { timeoutMs: options.timeoutMs ?? 120_000, intervalMs: 250 },
      );
    } catch (error) {
      const binderError = this.#binder?.lastError;
      const detail = binderError
        ? ` (last exec-binder error: ${(binderError as Error).message ?? binderError})`
        : "";
      throw new Error(`${(error as Error).message}: ${pending}${detail}`, { cause: error });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#dispose?.();
  }
}
