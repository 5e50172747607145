import type { Executor } from "../exec/executor.js";
import type { LockRequest, OperationLock } from "./operation-lock.js";
import type { ServiceName } from "./services.js";

/** What was stopped, and how to bring it back exactly (replica counts, process handles …). */
export interface StoppedServices {
  /** The services stopped, in the order they were stopped. */
  readonly services: readonly ServiceName[];
  /** Transport-specific record (e.g. replicas per workload); opaque to operations. */
  readonly state: unknown;
  /**
   * Aborted, with a SCALE_CONFLICT BackupError as its reason, when someone else brings a stopped service
   * back while the operation holds it down (a GitOps controller reverting the scale). Watched until
   * `start`; absent where the environment cannot tell.
   */
  readonly interference?: AbortSignal;
}

/** How to wait until a deployment's services are up (`Environment.waitUntilReady`). */
export interface ReadinessWait {
  /** Give up after this long with DEPLOYMENT_NOT_READY naming what is not ready. */
  timeoutMs: number;
  /**
   * Services that must exist and be ready. Every other service is waited for only when the deployment
   * has it (a workload or a pod). Default: the graph database.
   */
  required?: readonly ServiceName[];
  /** Told what is still not ready: at the start, on every change, and at least every `progressMs`. */
  onProgress?: (message: string, notReady: readonly string[]) => void;
  /** Default 15 s. */
  progressMs?: number;
  /** Poll interval; default 2 s. */
  pollMs?: number;
  /** Aborts the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** The record of the last completed restore of a deployment, so a repeated request is not restored twice. */
export interface RestoreRecord {
  /** The caller's identifier of the restore request (the chart passes a hash of its restore values). */
  requestId: string;
  /** ISO 8601, UTC. */
  completedAt: string;
  /** Where the archive was read from. */
  location: string;
  /** The restored archive's backup id, when its metadata has one. */
  backupId?: string;
}

/**
 * A restore request under way: the archive its run resolved. A run killed outright leaves it, so the retry
 * of the same request restores that archive, not whatever is the latest by then.
 */
export interface StartedRestore {
  /** The request (`RestoreRecord.requestId`). */
  requestId: string;
  /** The archive's name in its store. */
  name: string;
  /** ISO 8601, UTC. */
  startedAt: string;
  /**
   * True once the run passed its last check before changing data (`--only-if-fresh`'s second probe): the
   * deployment may hold part of this archive's data since, which a retry must not take for data to keep.
   */
  changing?: boolean;
}

/** Facts about how Neo4j runs in this deployment. */
export interface Neo4jRuntime {
  /** The server's pid file inside the database container. */
  pidFile: string;
  /** OS user for neo4j-admin (Compose exec defaults to root; Helm already runs as neo4j). */
  adminUser?: string;
}

/**
 * How long Neo4j's container survives Neo4j not answering: its liveness probe fails while Neo4j is offline
 * (the freeze follows a clean shutdown, which closes Neo4j's ports), and once it has failed
 * `failureThreshold` times in a row the kubelet stops the container — after its termination grace period,
 * since the frozen JVM holds the SIGTERM until it is resumed (measured on kind, docs/kind-node-image.md).
 */
export interface LivenessWindow {
  /** Seconds from Neo4j's last answer until its container may be killed, at the earliest. */
  seconds: number;
  /** The probe as a person reads it: `tcpSocket :7687 every 5 s, 40 failures`. */
  probe: string;
  /** Seconds between two probes. */
  periodSeconds: number;
  /** Failed probes in a row after which the kubelet stops the container. */
  failureThreshold: number;
  /** The grace period the kubelet gives the container once the probe has failed. */
  graceSeconds: number;
}

/**
 * An Infrahub deployment the tool acts on: where each service's commands run, how services are stopped
 * and started. Local processes, Kubernetes and Docker Compose implement it; operations and engines
 * only ever talk to this interface.
 */
export interface Environment {
  /** What runs the deployment: processes on this host, Kubernetes, or Docker Compose. */
  readonly kind: "local" | "kubernetes" | "compose";
  /** The deployment's name for messages: "local", a namespace, a Compose project. */
  readonly name: string;
  /** True when the deployment has this service. */
  has(service: ServiceName): Promise<boolean>;
  /** Where to run commands for a service; SERVICE_NOT_FOUND when it has none. */
  executor(service: ServiceName): Promise<Executor>;
  /** The environment variables a service's container runs with (credentials live there). */
  serviceEnv(service: ServiceName): Promise<Record<string, string>>;
  /** Which of `services` are currently running. */
  running(services: readonly ServiceName[]): Promise<ServiceName[]>;
  /**
   * Which of `services` `stop` would stop, when that differs from `running` (services an environment
   * describes but does not control are never stopped). Default: `running`.
   */
  stoppable?(services: readonly ServiceName[]): Promise<ServiceName[]>;
  /** Stops the running ones among `services`, in the given order, and waits until they are down. */
  stop(services: readonly ServiceName[]): Promise<StoppedServices>;
  /** Brings back exactly what `stop` stopped, in the given order, and waits until it is up. */
  start(stopped: StoppedServices, order?: readonly ServiceName[]): Promise<void>;
  /**
   * Starts the service's container when it is not running and nothing else will: a Compose container
   * killed or stopped from outside during the operation (Docker's restart policies do not restart a
   * container stopped that way). Resolves true when it started it. Absent where a supervisor restarts
   * what ends (the kubelet, systemd).
   */
  startIfStopped?(service: ServiceName): Promise<boolean>;
  /** Where Neo4j keeps its home, pid file and store in the database service (memoised). */
  neo4jRuntime(): Promise<Neo4jRuntime>;
  /**
   * The liveness probe of Neo4j's container, as a window (see LivenessWindow); undefined when it has none.
   * Absent where nothing restarts a container whose probe fails (Compose's healthchecks only report).
   */
  neo4jLiveness?(): Promise<LivenessWindow | undefined>;
  /**
   * Takes the deployment's operation lock (one create or restore at a time); OPERATION_IN_PROGRESS
   * when another operation holds it. Released by disposing it.
   */
  lock(request: LockRequest): Promise<OperationLock>;
  /**
   * Waits until the deployment's services are running and ready (pods Running and Ready, workloads at
   * their desired replicas). Resolves with how long it waited; DEPLOYMENT_NOT_READY at the timeout.
   * Absent where the environment cannot tell.
   */
  waitUntilReady?(wait: ReadinessWait): Promise<{ waitedMs: number }>;
  /** The record of the last completed restore; undefined when none. Absent where nothing is recorded. */
  lastRestore?(): Promise<RestoreRecord | undefined>;
  /**
   * The record of that request when it is among the last completed ones (not only the last: a request
   * whose values come back must not run again); undefined otherwise. Absent where nothing is recorded.
   */
  completedRestore?(requestId: string): Promise<RestoreRecord | undefined>;
  /** Records a completed restore (the last one, and among the completed requests); the started one is cleared. */
  recordRestore?(record: RestoreRecord): Promise<void>;
  /** The restore started and not ended (its run was killed); undefined when none. */
  startedRestore?(): Promise<StartedRestore | undefined>;
  /** Records the restore under way, or with undefined clears it (a run that ended without completing). */
  recordStartedRestore?(started: StartedRestore | undefined): Promise<void>;
}
