import { setTimeout as sleep } from "node:timers/promises";
import type { V1Pod } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { KubernetesExecutor } from "../exec/kube-executor.js";
import { parseEnvOutput } from "./compose-environment.js";
import { detectContainerNeo4jRuntime, IMAGE_NEO4J_HOME, memoisedRuntime } from "./container-neo4j-runtime.js";
import type {
  Environment,
  LivenessWindow,
  Neo4jRuntime,
  ReadinessWait,
  RestoreRecord,
  StartedRestore,
  StoppedServices,
} from "./environment.js";
import { KubeApi } from "./kubernetes-api.js";
import type { KubeConfig } from "./kubernetes-config.js";
import { candidatePods, choosePod, type PodChoice } from "./kubernetes-discovery.js";
import { acquireLease, type HeldDownWorkload, type LeaseOperationLock } from "./kubernetes-lease.js";
import { livenessWindowOf } from "./kubernetes-liveness.js";
import { waitForDeploymentReady } from "./kubernetes-readiness.js";
import {
  readCompletedRestore,
  readRestoreRecord,
  readStartedRestore,
  writeRestoreRecord,
  writeStartedRestore,
} from "./kubernetes-restore-record.js";
import { ScaleWatch } from "./kubernetes-scale-watch.js";
import {
  assertSafeToScaleDown,
  findWorkloads,
  type ScaledWorkload,
  type ScaleTimeouts,
  type Workload,
  WorkloadScaler,
} from "./kubernetes-workloads.js";
import { type LockRequest, type OperationLock, readyLock } from "./operation-lock.js";
import { type ServiceName, startRank } from "./services.js";
import { stopInOrderOrUndo } from "./stop-in-order.js";

/**
 * Options of a Kubernetes environment: the API client, the namespace and the timeouts of scaling and exec.
 */
export interface KubernetesEnvironmentOptions extends ScaleTimeouts {
  /** Credentials and server (see `loadKubeConfig`). */
  kubeConfig: KubeConfig;
  /** Infrahub's namespace. */
  namespace: string;
  /** WebSocket ping interval of exec connections. Default 20 s. */
  keepAliveMs?: number;
  /** How often workloads held at zero are checked for someone scaling them back up. Default 1 s. */
  scaleWatchPollMs?: number;
  /** The operation lock's duration: renewed every quarter of it, taken over once not renewed for it. Default 60 s. */
  lockTtlMs?: number;
}

/** How long an operation that took over a dead holder's lock waits for a Ready database pod. */
const DATABASE_POD_WAIT_MS = 5 * 60_000;

/** The official neo4j image: NEO4J_HOME=/var/lib/neo4j, pid file in `$NEO4J_HOME/run`. */
export const KUBERNETES_NEO4J_HOME = IMAGE_NEO4J_HOME;

/**
 * An Infrahub deployment in a Kubernetes namespace, as the official `infrahub` chart lays it out
 * (compat-reference §6). Commands run through the API server's exec endpoint in explicitly named
 * containers of Running+Ready pods; services are stopped by scaling their Deployments/StatefulSets to
 * zero through the scale subresource and brought back to the recorded replica counts. Needs exactly the
 * RBAC of the infrahub-backup chart's Role.
 */
export class KubernetesEnvironment implements Environment {
  /** {@inheritDoc Environment.kind} */
  readonly kind = "kubernetes" as const;
  /** {@inheritDoc Environment.name} */
  readonly name: string;
  readonly #options: KubernetesEnvironmentOptions;
  readonly #api: KubeApi;
  readonly #scaler: WorkloadScaler;
  /** Pod choices, kept until the service is scaled (a frozen Neo4j is not Ready, yet still ours). */
  readonly #choices = new Map<ServiceName, PodChoice>();
  readonly #runtime = memoisedRuntime(() => detectContainerNeo4jRuntime(this));
  /** The watch over what each `stop` scaled down, by its recorded state, until `start` brings it back. */
  readonly #watches = new WeakMap<object, ScaleWatch>();
  /** The operation lock while held: `stop` records on it what it scales down, before it does. */
  #lock: LeaseOperationLock | undefined;
  /** What is scaled down and not brought back yet, as recorded on the lock. */
  #heldDown: HeldDownWorkload[] = [];

  constructor(options: KubernetesEnvironmentOptions) {
    this.#options = options;
    this.name = options.namespace;
    this.#api = new KubeApi(options.kubeConfig);
    this.#scaler = new WorkloadScaler(this.#api, options.namespace, options);
  }

  /** Infrahub's namespace. */
  get namespace(): string {
    return this.#options.namespace;
  }

  async #pods(): Promise<V1Pod[]> {
    return (
      await api(`list pods in namespace ${this.name}`, () =>
        this.#api.listNamespacedPod({ namespace: this.name }),
      )
    ).items;
  }

  /** Which pod and container run a service's commands (cached until the service is scaled). */
  async locate(service: ServiceName): Promise<PodChoice> {
    const cached = this.#choices.get(service);
    if (cached) return cached;
    const choice = choosePod(await this.#pods(), service, this.name);
    this.#choices.set(service, choice);
    return choice;
  }

  /** {@inheritDoc Environment.has} */
  async has(service: ServiceName): Promise<boolean> {
    if (this.#choices.has(service)) return true;
    return candidatePods(await this.#pods(), service).pods.length > 0;
  }

  /** {@inheritDoc Environment.executor} */
  async executor(service: ServiceName): Promise<Executor> {
    const choice = await this.locate(service);
    return new KubernetesExecutor({
      kubeConfig: this.#options.kubeConfig,
      namespace: this.name,
      pod: choice.pod,
      container: choice.container,
      ...(this.#options.keepAliveMs !== undefined ? { keepAliveMs: this.#options.keepAliveMs } : {}),
    });
  }

  /**
   * The container's environment as `env` prints it: Secrets loaded with envFrom only show there. For
   * Neo4j, NEO4J_AUTH is read from the file NEO4J_AUTH_PATH names when the chart mounts it that way.
   */
  async serviceEnv(service: ServiceName): Promise<Record<string, string>> {
    const executor = await this.executor(service);
    const result = await executor.exec({ argv: ["env"], timeoutMs: 60_000 });
    if (result.exitCode !== 0) {
      throw new BackupError(
        "EXEC_FAILED",
        `reading the environment of ${executor.target} failed (exit status ${result.exitCode})`,
      );
    }
    const env = parseEnvOutput(result.stdout.toString("utf8"));
    if (service === "database" && !env.NEO4J_AUTH && env.NEO4J_AUTH_PATH) {
      const auth = await executor.exec({ argv: ["cat", env.NEO4J_AUTH_PATH], timeoutMs: 60_000 });
      if (auth.exitCode === 0) env.NEO4J_AUTH = auth.stdout.toString("utf8").trim();
    }
    return env;
  }

  /** A service runs while any of its pods is Running and not being deleted. */
  async running(services: readonly ServiceName[]): Promise<ServiceName[]> {
    const pods = await this.#pods();
    return services.filter((service) =>
      candidatePods(pods, service).pods.some(
        (pod) => pod.status?.phase === "Running" && !pod.metadata?.deletionTimestamp,
      ),
    );
  }

  /** {@inheritDoc Environment.stop} */
  async stop(services: readonly ServiceName[]): Promise<StoppedServices> {
    const toStop = await this.running(services);
    // Every check before the first scale: a refusal must leave everything running.
    const plan: { service: ServiceName; workloads: Workload[] }[] = [];
    for (const service of toStop) {
      const workloads = await api(`list workloads in namespace ${this.name}`, () =>
        findWorkloads(this.#api, this.name, service),
      );
      if (workloads.length === 0) {
        throw new BackupError(
          "SERVICE_NOT_FOUND",
          `${service} runs in namespace ${this.name} but no Deployment or StatefulSet manages it, so it cannot be stopped`,
        );
      }
      for (const workload of workloads) assertSafeToScaleDown(service, workload, this.name);
      plan.push({ service, workloads });
    }
    const scaled: ScaledWorkload[] = [];
    const watch = new ScaleWatch(this.#api, this.name, {
      ...(this.#options.scaleWatchPollMs !== undefined ? { pollMs: this.#options.scaleWatchPollMs } : {}),
    });
    this.#watches.set(scaled, watch);
    let undoFailed = false;
    const workloadsOf = new Map(plan.map(({ service, workloads }) => [service, workloads]));
    const stopped = await stopInOrderOrUndo(
      plan.map((p) => p.service),
      async (service) => {
        const workloads = workloadsOf.get(service) ?? [];
        for (const workload of workloads) {
          const replicas = await api(`read the scale of ${workload.kind} ${workload.name}`, () =>
            this.#scaler.replicas(workload.kind, workload.name),
          );
          if (replicas === 0) continue;
          // Recorded first: a run killed from here on leaves the record, and the next one brings it back.
          await this.#recordHeldDown([
            ...this.#heldDown,
            { service, kind: workload.kind, name: workload.name, replicas },
          ]);
          await api(`scale ${workload.kind} ${workload.name} to 0`, () =>
            this.#scaler.scale(workload.kind, workload.name, 0),
          );
          watch.add(workload);
          scaled.push({
            service,
            kind: workload.kind,
            name: workload.name,
            replicas,
            selector: workload.selector,
          });
        }
        this.#choices.delete(service);
        // Someone scaling it back up while we wait would keep its pods forever: that ends the wait.
        for (const workload of workloads) await this.#scaler.waitForNoPods(workload, watch.signal);
      },
      // The service that failed half-way is brought back too: its workloads scaled so far are in `scaled`.
      (back) =>
        this.start({
          services: [...new Set([...back, ...scaled.map((w) => w.service)])],
          state: scaled,
        }).catch((error: unknown) => {
          undoFailed = true;
          throw error;
        }),
      `namespace ${this.name}`,
    ).catch((error: unknown) => {
      // Interference while stopping, and everything stopped so far is back: that is the cause to report.
      if (watch.signal.aborted && !undoFailed) throw watch.signal.reason;
      throw error;
    });
    return { services: stopped, state: scaled, interference: watch.signal };
  }

  /** {@inheritDoc Environment.start} */
  async start(stopped: StoppedServices, order?: readonly ServiceName[]): Promise<void> {
    const state = Array.isArray(stopped.state) ? (stopped.state as ScaledWorkload[]) : [];
    const watch = this.#watches.get(state);
    if (watch) {
      // A last look before scaling back ourselves: a scale-up within the last poll interval still counts.
      await watch.check();
      watch.stop();
      this.#watches.delete(state);
    }
    const sequence = order ? order.filter((s) => stopped.services.includes(s)) : stopped.services;
    const failures: string[] = [];
    const failed = new Set<ServiceName>();
    for (const service of sequence) {
      const workloads = state.filter((w) => w.service === service);
      this.#choices.delete(service);
      try {
        for (const w of workloads) {
          await api(`scale ${w.kind} ${w.name} to ${w.replicas}`, () =>
            this.#scaler.scale(w.kind, w.name, w.replicas),
          );
        }
        // Dependencies first: the next service starts once this one is Ready.
        for (const w of workloads) await this.#scaler.waitForReady(w.kind, w.name, w.replicas);
      } catch (error) {
        failed.add(service);
        failures.push(`${service}: ${(error as Error).message}`);
      }
    }
    // What came back leaves the record; what did not stays on it for the next operation.
    const stillDown = this.#heldDown.filter(
      (w) => !state.some((s) => s.kind === w.kind && s.name === w.name && !failed.has(s.service)),
    );
    if (stillDown.length !== this.#heldDown.length) {
      await this.#recordHeldDown(stillDown).catch(() => {
        // Harmless when stale: the next operation scales back only workloads still at zero.
      });
    }
    if (failures.length > 0) {
      const commands = state
        .filter((w) => sequence.includes(w.service))
        .map(
          (w) => `kubectl -n ${this.name} scale ${w.kind.toLowerCase()}/${w.name} --replicas=${w.replicas}`,
        );
      throw new BackupError("SERVICES_NOT_RESTORED", `could not start again: ${failures.join("; ")}`, {
        hint: `bring them back with: ${commands.join(" && ")} (the next backup or restore in this namespace also scales them back first: the operation lock keeps the record)`,
        details: { workloads: state.map(({ selector: _s, ...w }) => w) },
      });
    }
  }

  /** Pid file and neo4j-admin user, by upstream's rule for containers (detected once). */
  neo4jRuntime(): Promise<Neo4jRuntime> {
    return this.#runtime();
  }

  /** The liveness probe of the container that runs Neo4j's commands (see `livenessWindowOf`). */
  async neo4jLiveness(): Promise<LivenessWindow | undefined> {
    const { pod, container } = await this.locate("database");
    const spec = (await this.#pods()).find((p) => p.metadata?.name === pod);
    return spec ? livenessWindowOf(spec, container) : undefined;
  }

  /**
   * The Lease `infrahub-backup` in the namespace (a pod's files do not survive its container's restart).
   * Workloads a previous operation scaled down and never brought back (killed, node lost, its start failed)
   * are brought back first, with a warning; failing that, the lock is released and the error says how.
   */
  async lock(request: LockRequest): Promise<OperationLock> {
    const lock = await acquireLease(this.#options.kubeConfig, this.name, request, this.#options.lockTtlMs);
    const held = await readyLock(
      lock,
      async () => {
        if (lock.leftHeldDown) {
          await this.#bringBackLeftovers(lock.leftHeldDown.workloads, request);
          await lock.recordHeldDown([]);
        }
        // Its Neo4j may still be paused (not Ready) until its freeze helper's lease runs out and the kubelet
        // restarts the container: the database's commands need a Ready pod.
        if (lock.tookOverFrom) await this.#waitForDatabasePod(request);
      },
      () => {
        this.#lock = undefined;
      },
    );
    this.#lock = lock;
    this.#heldDown = [];
    return held;
  }

  async #waitForDatabasePod(request: LockRequest): Promise<void> {
    const deadline = Date.now() + DATABASE_POD_WAIT_MS;
    for (;;) {
      request.signal?.throwIfAborted();
      this.#choices.delete("database");
      try {
        await this.locate("database");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      await sleep(1000, undefined, request.signal ? { signal: request.signal } : {});
    }
  }

  async #recordHeldDown(workloads: HeldDownWorkload[]): Promise<void> {
    this.#heldDown = workloads;
    await this.#lock?.recordHeldDown(workloads);
  }

  /** Scales back what the record says was held down, where it is still at zero; waits until Ready. */
  async #bringBackLeftovers(workloads: readonly HeldDownWorkload[], request: LockRequest): Promise<void> {
    const scaled: string[] = [];
    // Dependencies first, as after an operation.
    const ordered = [...workloads].sort((a, b) => startRank(a.service) - startRank(b.service));
    for (const w of ordered) {
      const now = await api(`read the scale of ${w.kind} ${w.name}`, () =>
        this.#scaler.replicas(w.kind, w.name),
      );
      // Brought back meanwhile (by hand, by a GitOps controller): theirs to keep.
      if (now !== 0) continue;
      await api(`scale ${w.kind} ${w.name} to ${w.replicas}`, () =>
        this.#scaler.scale(w.kind, w.name, w.replicas),
      );
      scaled.push(`${w.kind} ${w.name} to ${w.replicas}`);
      await this.#scaler.waitForReady(w.kind, w.name, w.replicas);
    }
    if (scaled.length > 0) {
      request.onWarning?.(
        `a previous operation ended without starting again what it had stopped (killed, or its start failed): scaled ${scaled.join(", ")}`,
      );
    }
  }

  /** Pods Running and Ready, workloads at their desired replicas (see `waitForDeploymentReady`). */
  waitUntilReady(wait: ReadinessWait): Promise<{ waitedMs: number }> {
    return waitForDeploymentReady(this.#api, this.name, wait);
  }

  /** The Lease `infrahub-backup-last-restore` (see `readRestoreRecord`). */
  lastRestore(): Promise<RestoreRecord | undefined> {
    return readRestoreRecord(this.#options.kubeConfig, this.name);
  }

  /** {@inheritDoc Environment.completedRestore} */
  completedRestore(requestId: string): Promise<RestoreRecord | undefined> {
    return readCompletedRestore(this.#options.kubeConfig, this.name, requestId);
  }

  /** {@inheritDoc Environment.recordRestore} */
  recordRestore(record: RestoreRecord): Promise<void> {
    return writeRestoreRecord(this.#options.kubeConfig, this.name, record);
  }

  /** {@inheritDoc Environment.startedRestore} */
  startedRestore(): Promise<StartedRestore | undefined> {
    return readStartedRestore(this.#options.kubeConfig, this.name);
  }

  /** {@inheritDoc Environment.recordStartedRestore} */
  recordStartedRestore(started: StartedRestore | undefined): Promise<void> {
    return writeStartedRestore(this.#options.kubeConfig, this.name, started);
  }
}

/** Runs a Kubernetes API call; its failures become BackupErrors that say what was attempted. */
export async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof BackupError) throw error;
    const status = (error as { code?: number }).code;
    // A KubeApiError's message is already the API server's own (its Status message).
    const reason = (error as Error).message;
    throw new BackupError("EXEC_FAILED", `Kubernetes API: cannot ${what}: ${reason}`, {
      cause: error,
      ...(status === 403
        ? {
            hint: "the identity lacks a permission the infrahub-backup chart's Role grants (pods list, pods/exec create and get, deployments/statefulsets get/list, their scale get/patch)",
          }
        : {}),
      details: { status },
    });
  }
}
