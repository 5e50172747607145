import type { Executor } from "../exec/executor.js";
import type { LockRequest, OperationLock } from "./operation-lock.js";
import type { ServiceName } from "./services.js";

/** What was stopped, and how to bring it back exactly (replica counts, process handles …). */
export interface StoppedServices {
  readonly services: readonly ServiceName[];
  /** Transport-specific record (e.g. replicas per workload); opaque to operations. */
  readonly state: unknown;
}

/** Facts about how Neo4j runs in this deployment. */
export interface Neo4jRuntime {
  /** The server's pid file inside the database container. */
  pidFile: string;
  /** OS user for neo4j-admin (Compose exec defaults to root; Helm already runs as neo4j). */
  adminUser?: string;
}

/**
 * An Infrahub deployment the tool acts on: where each service's commands run, how services are stopped
 * and started. Local processes, Kubernetes and Docker Compose implement it; operations and engines
 * only ever talk to this interface.
 */
export interface Environment {
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
  /** Stops the running ones among `services`, in the given order, and waits until they are down. */
  stop(services: readonly ServiceName[]): Promise<StoppedServices>;
  /** Brings back exactly what `stop` stopped, in the given order, and waits until it is up. */
  start(stopped: StoppedServices, order?: readonly ServiceName[]): Promise<void>;
  neo4jRuntime(): Promise<Neo4jRuntime>;
  /**
   * Takes the deployment's operation lock (one create or restore at a time); OPERATION_IN_PROGRESS
   * when another operation holds it. Released by disposing it.
   */
  lock(request: LockRequest): Promise<OperationLock>;
}
