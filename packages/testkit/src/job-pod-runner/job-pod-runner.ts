import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { TESTKIT_MARKER } from "../process.js";
import { type TempDir, tempDir } from "../temp.js";
import { CriLogWriter } from "./cri-log.js";
import { KubeApiError, KubeClient, type KubeObject } from "./kube-client.js";
import { ContainerConfigError, expandVars, resolveContainerEnv } from "./pod-env.js";
import { type MountTable, prepareMounts } from "./pod-volumes.js";

export interface JobPodRunnerOptions {
  /** API server URL, its CA file and an admin token (the runner's own identity, like a kubelet's). */
  server: string;
  caFile: string;
  adminToken: string;
  /** Only pods bound to this (kwok) node are run. */
  nodeName: string;
  /**
   * The image's ENTRYPOINT as a local command, e.g. `[process.execPath, ".../infrahub-backup.mjs"]`;
   * the container's `args` are appended as given (after `$(VAR)` expansion and path rewriting).
   */
  entrypoint: string[];
  /** The image's WORKDIR (default `/`), resolved through the pod's mounts. */
  workingDir?: string;
  /** The image's ENV (e.g. HOME). Absolute paths are resolved through the pod's mounts. */
  imageEnv?: Record<string, string>;
  /**
   * Host variables every container also gets, standing in for what the image's file system provides
   * (e.g. PATH, the toolchain cache). Not rewritten.
   */
  hostEnv?: Record<string, string>;
  /** Which pods on the node this runner runs. Default: pods owned by a Job, and Helm test pods. */
  accept?: (pod: KubeObject) => boolean;
  /**
   * Register a kwok `Logs` object per pod (same namespace/name, owned by the pod) pointing at the CRI
   * log file, so `kubectl logs` works through the API server. Needs kwok `--enable-crds=Logs`. Default true.
   */
  kwokLogs?: boolean;
  /** Seconds between retries of a pod whose container config cannot be resolved yet (default 5). */
  configRetrySeconds?: number;
  /**
   * Other images a pod may run beside the CLI's, by repository (the image without tag or digest), e.g. the
   * drill pod's database containers. Their containers may set `command`; the other containers may not.
   */
  images?: Record<string, ImageStandIn>;
}

/** How a container of another image is run locally. */
export interface ImageStandIn {
  /** The image's ENTRYPOINT as a local command; a container's `command` replaces it, as in Kubernetes. */
  entrypoint?: string[];
  /** What stands in for the image's ENV and file system (PATH with a toolchain's bin dirs, NEO4J_HOME …). Not rewritten. */
  env?: Record<string, string>;
  /** Run as this local user (an image whose program refuses root, when the tests run as root). */
  user?: { uid: number; gid: number };
}

/** The repository of an image reference: without `@digest` and `:tag`. */
export function imageRepository(image: string): string {
  const name = image.split("@")[0] as string;
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
}

/** One finished (or running) container of a pod the runner ran. */
export interface ContainerRun {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  /** The container's args as the pod spec has them (before path rewriting). */
  args: string[];
  /** The env names the container got (values are not kept: they may be secrets). */
  envNames: string[];
  mounts: MountTable;
  startedAt: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** stdout and stderr, as written to the CRI log. */
  logs(): string;
  /**
   * Sends a signal to the container's processes (its process group), as a kernel OOM kill (SIGKILL) would;
   * the pod then fails like a killed container (exit 128 + signal).
   */
  kill(signal: NodeJS.Signals): void;
  readonly done: Promise<ContainerRun>;
}

export interface JobPodRunner extends AsyncDisposable {
  /** Every container started so far, in start order. */
  readonly runs: readonly ContainerRun[];
  /** Resolves with the first run (started before or after the call) that matches. */
  waitForRun(match: (run: ContainerRun) => boolean, timeoutMs: number): Promise<ContainerRun>;
  /** Kills running containers, stops watching, removes the pods' local dirs (not PV paths). */
  stop(): Promise<void>;
}

/** Pods owned by a Job, and `helm test` pods. */
export function isJobOrTestPod(pod: KubeObject): boolean {
  const owned = ((pod.metadata.ownerReferences ?? []) as KubeObject[]).some((o) => o.kind === "Job");
  return owned || /\btest\b/.test(pod.metadata.annotations?.["helm.sh/hook"] ?? "");
}

/** The User-Agent of the runner's API requests (pod status, kwok Logs objects, TokenRequests). */
export const RUNNER_USER_AGENT = "ihb-job-pod-runner";
/** Held on a Job pod while its process runs (a kubelet keeps a deleted pod until its containers stop). */
export const RUNNER_FINALIZER = "testkit.infrahub-backup/job-pod-runner";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) if (child.pid) process.kill(-child.pid, "SIGKILL");
  });
}

/**
 * TEST DOUBLE of the kubelet (a boundary we do not own), for the pods of Jobs on a kwok node: kwok makes
 * them Running; this runner runs each container's process locally — the image's entrypoint with the
 * container's args, its env with Secret/ConfigMap/downward refs resolved through the API, its volumes
 * as local dirs (paths rewritten, see MountTable), a kubeconfig with a TokenRequest token of the pod's
 * ServiceAccount bound to the pod (KUBECONFIG; not given when automountServiceAccountToken is false) —
 * writes its output as a CRI log kwok serves to `kubectl logs`, and reports the exit through the pod's
 * status (Succeeded/Failed, terminated exit code), so the real Job controller does the rest.
 */
export async function startJobPodRunner(options: JobPodRunnerOptions): Promise<JobPodRunner> {
  const root = await tempDir("ihb-job-pods-");
  // A container run as another user must reach its pod's directories.
  if (Object.values(options.images ?? {}).some((image) => image.user)) await chmod(root.path, 0o755);
  const runner = new Runner(options, root);
  try {
    await runner.start();
  } catch (error) {
    await runner.stop();
    throw error;
  }
  return runner;
}

interface PreparedContainer {
  container: KubeObject;
  standIn: ImageStandIn | undefined;
  mounts: MountTable;
  env: Record<string, string>;
  args: string[];
  argv: string[];
  cwd: string;
}

interface PodState {
  started: boolean;
  children: ChildProcess[];
  retry?: NodeJS.Timeout;
}

class Runner implements JobPodRunner {
  readonly runs: ContainerRun[] = [];
  readonly #client: KubeClient;
  readonly #abort = new AbortController();
  readonly #pods = new Map<string, PodState>();
  readonly #waiters = new Set<() => void>();
  readonly #pending = new Set<Promise<unknown>>();
  #loop: Promise<void> | undefined;

  constructor(
    readonly options: JobPodRunnerOptions,
    readonly root: TempDir,
  ) {
    this.#client = new KubeClient({
      server: options.server,
      caFile: options.caFile,
      token: options.adminToken,
      userAgent: RUNNER_USER_AGENT,
    });
  }

  async start(): Promise<void> {
    const path = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.options.nodeName}`)}`;
    const list = await this.#client.json("GET", path);
    for (const pod of list.items as KubeObject[]) this.#onPod("ADDED", pod);
    let rv = list.metadata.resourceVersion as string;
    killAllOnExit();
    this.#loop = (async () => {
      while (!this.#abort.signal.aborted) {
        try {
          await this.#client.watch(
            path,
            rv,
            (type, obj) => {
              if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
              if (type !== "BOOKMARK" && type !== "ERROR") this.#onPod(type, obj);
              if (type === "ERROR") rv = "";
            },
            this.#abort.signal,
          );
          if (rv === "") {
            const again = await this.#client.json("GET", path);
            for (const pod of again.items as KubeObject[]) this.#onPod("MODIFIED", pod);
            rv = again.metadata.resourceVersion;
          }
        } catch {
          if (this.#abort.signal.aborted) return;
          await new Promise((r) => setTimeout(r, 500));
          rv = "";
          try {
            const again = await this.#client.json("GET", path);
            for (const pod of again.items as KubeObject[]) this.#onPod("MODIFIED", pod);
            rv = again.metadata.resourceVersion;
          } catch {
            // The next round retries.
          }
        }
      }
    })();
  }

  #track<T>(p: Promise<T>): void {
    this.#pending.add(p);
    // Only bookkeeping: the tracked promise's own handler reports its failure.
    void p.finally(() => this.#pending.delete(p)).catch(() => undefined);
  }

  #onPod(type: string, pod: KubeObject): void {
    const uid = pod.metadata.uid as string;
    const accept = this.options.accept ?? isJobOrTestPod;
    if (!accept(pod)) return;
    const state = this.#pods.get(uid);
    if (type === "DELETED" || pod.metadata.deletionTimestamp) {
      if (state) {
        clearTimeout(state.retry);
        const grace = (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
        for (const child of state.children) this.#kill(child, grace);
      }
      return;
    }
    if (state?.started) return;
    // kwok's pod-ready stage has made it Running (an IP is the sign); a finished pod stays finished.
    if (pod.status?.phase !== "Running" || !pod.status?.podIP) return;
    if (this.#abort.signal.aborted) return;
    this.#pods.set(uid, { started: true, children: [] });
    this.#track(this.#runPod(pod));
  }

  /** Containers already sent SIGTERM: a kubelet sends it once, then SIGKILL after the grace period. */
  readonly #terminating = new WeakSet<ChildProcess>();

  #kill(child: ChildProcess, graceMs: number): void {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    // Every update of a deleted pod arrives here; a second SIGTERM would make the CLI exit at once. The
    // SIGKILL deadline is armed each time (the earliest wins: `stop` shortens it).
    if (!this.#terminating.has(child)) {
      this.#terminating.add(child);
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }, graceMs);
    child.once("exit", () => clearTimeout(timer));
  }

  async #runPod(pod: KubeObject): Promise<void> {
    const ns = pod.metadata.namespace as string;
    const name = pod.metadata.name as string;
    const uid = pod.metadata.uid as string;
    const state = this.#pods.get(uid) as PodState;
    const podDir = join(this.root.path, ns, `${name}-${uid.slice(0, 8)}`);
    await mkdir(podDir, { recursive: true });
    const containers = (pod.spec.containers ?? []) as KubeObject[];
    const logs = new Map<string, CriLogWriter>();
    for (const c of containers) logs.set(c.name, new CriLogWriter(join(podDir, `${c.name}.log`)));
    try {
      if (this.options.kwokLogs !== false) await this.#registerLogs(pod, podDir, containers);
      if ((pod.spec.initContainers ?? []).length > 0) {
        throw new ContainerConfigError("init containers are not supported by the job pod runner");
      }
      const prepared = [];
      for (const c of containers) {
        const standIn = this.options.images?.[imageRepository(String(c.image ?? ""))];
        if (c.command && !standIn) {
          throw new ContainerConfigError(
            `container ${c.name} sets command; the job pod runner only runs the image's entrypoint`,
          );
        }
        prepared.push(await this.#prepare(pod, c, join(podDir, c.name), podDir, standIn));
      }
      // As a kubelet: the pod object stays (Terminating) until its containers have stopped, so a process
      // winding up after SIGTERM still has its pod-bound ServiceAccount token and its status is reported.
      await this.#holdPod(pod);
      const runs = prepared.map((p) =>
        this.#spawn(pod, p, logs.get(p.container.name) as CriLogWriter, state),
      );
      const finished = await Promise.all(runs.map((r) => r.done));
      await Promise.all([...logs.values()].map((l) => l.close()));
      try {
        await this.#reportFinished(pod, finished);
      } finally {
        await this.#releasePod(pod);
      }
    } catch (error) {
      if (error instanceof ContainerConfigError) {
        // As the kubelet: the container waits with CreateContainerConfigError and is retried.
        for (const l of logs.values()) await l.close();
        // A status the API server refuses now is written again by the retry below.
        await this.#reportWaiting(pod, containers, error.message).catch(() => undefined);
        if (!this.#abort.signal.aborted) {
          state.retry = setTimeout(
            () => {
              state.started = false;
              // A failed re-read only skips this retry; the pod watch delivers the pod's next change.
              void this.#client
                .get(`/api/v1/namespaces/${ns}/pods/${name}`)
                .then((p) => p && p.metadata.uid === uid && this.#onPod("MODIFIED", p))
                .catch(() => undefined);
            },
            (this.options.configRetrySeconds ?? 5) * 1000,
          );
        }
        return;
      }
      for (const l of logs.values()) {
        l.note(`job pod runner: ${(error as Error).message}`);
        // The error is in the log's last line already; a log that cannot be closed has nothing more to say.
        await l.close().catch(() => undefined);
      }
      if (!(error instanceof KubeApiError && error.status === 404)) {
        // Best effort: the pod may be gone meanwhile; the error is in its container log either way.
        await this.#reportFinished(
          pod,
          containers.map((c) => ({
            container: c.name,
            exitCode: 128,
            startedAt: new Date(),
            finishedAt: new Date(),
          })),
        ).catch(() => undefined);
      }
    }
  }

  async #registerLogs(pod: KubeObject, podDir: string, containers: KubeObject[]): Promise<void> {
    const body = {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Logs",
      metadata: {
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid }],
      },
      spec: {
        logs: containers.map((c) => ({
          containers: [c.name],
          logsFile: join(podDir, `${c.name}.log`),
          follow: true,
        })),
      },
    };
    try {
      await this.#client.json(
        "POST",
        `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${pod.metadata.namespace}/logs`,
        body,
      );
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) throw error;
    }
  }

  /**
   * The in-cluster credentials the pod got (the ServiceAccount volume, already written by prepareMounts)
   * as a kubeconfig: the CLI cannot read them at their fixed absolute path, so KUBECONFIG points here.
   */
  async #kubeconfig(pod: KubeObject, mounts: MountTable, dir: string): Promise<string | undefined> {
    const sa = mounts.mounts.find((m) => m.mountPath === SERVICE_ACCOUNT_DIR);
    if (!sa) return undefined;
    const token = await readFile(join(sa.hostPath, "token"), "utf8");
    const ca = await readFile(join(sa.hostPath, "ca.crt"));
    const ns = await readFile(join(sa.hostPath, "namespace"), "utf8").catch(
      () => pod.metadata.namespace as string,
    );
    const file = join(dir, "kubeconfig");
    const config = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "in-cluster",
          cluster: { server: this.#client.server, "certificate-authority-data": ca.toString("base64") },
        },
      ],
      users: [{ name: "pod", user: { token } }],
      contexts: [{ name: "in-cluster", context: { cluster: "in-cluster", user: "pod", namespace: ns } }],
      "current-context": "in-cluster",
    };
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  async #prepare(
    pod: KubeObject,
    container: KubeObject,
    dir: string,
    podDir: string,
    standIn: ImageStandIn | undefined,
  ): Promise<PreparedContainer> {
    const mounts = await prepareMounts(this.#client, pod, container, dir, podDir);
    const kubeconfig = await this.#kubeconfig(pod, mounts, dir);
    const base: Record<string, string> = { HOSTNAME: pod.metadata.name };
    if (!standIn) for (const [k, v] of Object.entries(this.options.imageEnv ?? {})) base[k] = v;
    const env = await resolveContainerEnv(this.#client, pod, container, base);
    const rewritten: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) rewritten[k] = mounts.rewrite(v);
    // Node's os.tmpdir() is /tmp in the container: the same directory here.
    rewritten.TMPDIR ??= mounts.resolve("/tmp");
    if (kubeconfig) rewritten.KUBECONFIG = kubeconfig;
    const command = ((container.command ?? []) as string[]).map((a) => expandVars(String(a), env));
    const args = [...command, ...((container.args ?? []) as string[]).map((a) => expandVars(String(a), env))];
    const cwd = mounts.resolve(container.workingDir ?? (standIn ? "/" : (this.options.workingDir ?? "/")));
    await mkdir(cwd, { recursive: true });
    await mkdir(rewritten.TMPDIR, { recursive: true });
    if (rewritten.HOME) await mkdir(rewritten.HOME, { recursive: true });
    return {
      container,
      standIn,
      mounts,
      env: rewritten,
      args,
      argv: args.map((a) => mounts.rewrite(a)),
      cwd,
    };
  }

  #spawn(pod: KubeObject, p: PreparedContainer, log: CriLogWriter, state: PodState): ContainerRun {
    const entrypoint = p.container.command ? [] : (p.standIn?.entrypoint ?? this.options.entrypoint);
    const [command, ...rest] = [...entrypoint, ...p.argv] as [string, ...string[]];
    const user = p.standIn?.user;
    const child = spawn(command, rest, {
      cwd: p.cwd,
      env: {
        ...this.options.hostEnv,
        ...p.standIn?.env,
        ...p.env,
        [TESTKIT_MARKER]: `job-pod ${pod.metadata.name}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    live.add(child);
    state.children.push(child);
    child.stdout?.on("data", (c: Buffer) => log.write("stdout", c));
    child.stderr?.on("data", (c: Buffer) => log.write("stderr", c));
    const run: ContainerRun = {
      namespace: pod.metadata.namespace,
      pod: pod.metadata.name,
      uid: pod.metadata.uid,
      container: p.container.name,
      args: p.args,
      envNames: Object.keys(p.env).sort(),
      mounts: p.mounts,
      startedAt: new Date(),
      logs: () => log.text,
      kill: (signal) => {
        if (child.pid && child.exitCode === null && child.signalCode === null)
          process.kill(-child.pid, signal);
      },
      done: new Promise<ContainerRun>((resolve) => {
        child.once("error", (error) => {
          log.note(`job pod runner: cannot start ${command}: ${error.message}`);
        });
        child.once("close", (code, signal) => {
          live.delete(child);
          run.finishedAt = new Date();
          // As a container runtime reports it: 128 + signal number for a killed process.
          run.exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
          resolve(run);
          for (const wake of this.#waiters) wake();
        });
      }),
    };
    this.runs.push(run);
    for (const wake of this.#waiters) wake();
    return run;
  }

  async #reportWaiting(pod: KubeObject, containers: KubeObject[], message: string): Promise<void> {
    await this.#patchStatus(pod, {
      // A kubelet would report phase Pending; Running is kept so that kwok's pod-ready stage
      // (Pending → Running) does not overwrite this status.
      phase: "Running",
      conditions: conditions(false, "ContainersNotReady"),
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: "",
        ready: false,
        restartCount: 0,
        started: false,
        state: { waiting: { reason: "CreateContainerConfigError", message } },
      })),
    });
  }

  async #reportFinished(
    pod: KubeObject,
    finished: { container: string; exitCode?: number; startedAt: Date; finishedAt?: Date }[],
  ): Promise<void> {
    const ok = finished.every((r) => r.exitCode === 0);
    const images = new Map(((pod.spec.containers ?? []) as KubeObject[]).map((c) => [c.name, c.image]));
    await this.#patchStatus(pod, {
      phase: ok ? "Succeeded" : "Failed",
      conditions: conditions(false, "PodCompleted"),
      containerStatuses: finished.map((r) => ({
        name: r.container,
        image: images.get(r.container),
        imageID: "",
        ready: false,
        restartCount: 0,
        started: false,
        state: {
          terminated: {
            exitCode: r.exitCode ?? 128,
            reason: r.exitCode === 0 ? "Completed" : "Error",
            startedAt: r.startedAt.toISOString().replace(/\.\d+Z$/, "Z"),
            finishedAt: (r.finishedAt ?? new Date()).toISOString().replace(/\.\d+Z$/, "Z"),
          },
        },
      })),
    });
  }

  async #holdPod(pod: KubeObject): Promise<void> {
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    const patch = pod.metadata.finalizers?.length
      ? [{ op: "add", path: "/metadata/finalizers/-", value: RUNNER_FINALIZER }]
      : [{ op: "add", path: "/metadata/finalizers", value: [RUNNER_FINALIZER] }];
    await this.#client.json("PATCH", path, patch, "application/json-patch+json");
  }

  /** Removes the runner's finalizer (the Job controller edits the list too: retried on a conflict). */
  async #releasePod(pod: KubeObject): Promise<void> {
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const current = await this.#client.get(path);
      if (!current || current.metadata.uid !== pod.metadata.uid) return;
      const finalizers = ((current.metadata.finalizers ?? []) as string[]).filter(
        (f) => f !== RUNNER_FINALIZER,
      );
      if (finalizers.length === (current.metadata.finalizers ?? []).length) return;
      try {
        await this.#client.json(
          "PATCH",
          path,
          { metadata: { finalizers, resourceVersion: current.metadata.resourceVersion } },
          "application/merge-patch+json",
        );
        return;
      } catch (error) {
        if (!(error instanceof KubeApiError && (error.status === 409 || error.status === 404))) throw error;
        if (error.status === 404) return;
      }
    }
  }

  async #patchStatus(pod: KubeObject, status: KubeObject): Promise<void> {
    await this.#client.json(
      "PATCH",
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
      { metadata: { uid: pod.metadata.uid }, status },
      "application/merge-patch+json",
    );
  }

  async waitForRun(match: (run: ContainerRun) => boolean, timeoutMs: number): Promise<ContainerRun> {
    const found = () => this.runs.find(match);
    return await new Promise((resolve, reject) => {
      const hit = found();
      if (hit) return resolve(hit);
      const wake = () => {
        const run = found();
        if (!run) return;
        cleanup();
        resolve(run);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no matching job pod run within ${timeoutMs} ms (runs: ${this.runs.map((r) => r.pod).join(", ") || "none"})`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      this.#waiters.add(wake);
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const state of this.#pods.values()) {
      clearTimeout(state.retry);
      for (const child of state.children) this.#kill(child, 5_000);
    }
    await Promise.allSettled([this.#loop, ...this.#pending]);
    await this.root[Symbol.asyncDispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function conditions(ready: boolean, reason: string): KubeObject[] {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const c = (type: string, status: boolean, why?: string) => ({
    type,
    status: status ? "True" : "False",
    lastTransitionTime: now,
    ...(why ? { reason: why } : {}),
  });
  return [
    c("PodScheduled", true),
    c("Initialized", true),
    c("Ready", ready, ready ? undefined : reason),
    c("ContainersReady", ready, ready ? undefined : reason),
  ];
}
