import { dirname } from "node:path";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { LocalExecutor } from "../exec/local-executor.js";
import type { Environment, Neo4jRuntime, StoppedServices } from "./environment.js";
import { HeldDownServices } from "./held-down-services.js";
import { acquireDirectoryLock, type LockRequest, type OperationLock } from "./operation-lock.js";
import type { ServiceName } from "./services.js";
import { stopInOrderOrUndo } from "./stop-in-order.js";

/** Starts, stops and observes one locally run service (a process, a supervisor …). */
export interface LocalServiceControl {
  /** Whether the service runs now. */
  isRunning(): boolean | Promise<boolean>;
  /** Stops it; resolves once it is down. */
  stop(): Promise<void>;
  /** Starts it; resolves once it is up. */
  start(): Promise<void>;
}

/** One service of a local deployment: its environment and, when it can be stopped, how. */
export interface LocalServiceConfig {
  /** The service's "container" environment (credentials, ports, PATH of its sandbox). */
  env?: Record<string, string>;
  /** Directories put first on PATH for its commands (wrappers bound to this service instance). */
  pathPrepend?: string[];
  /** Working directory of its commands. Default: this process's. */
  cwd?: string;
  /** How to stop/start it; services without control are always considered running and never stopped. */
  control?: LocalServiceControl;
}

/** A deployment whose services run on this host (the CLI's `--local-config` file). */
export interface LocalEnvironmentOptions {
  /** The services the deployment has; a missing one is SERVICE_NOT_FOUND when needed. */
  services: Partial<Record<ServiceName, LocalServiceConfig>>;
  /** Where Neo4j keeps its pid file, home and store on this host. */
  neo4j: Neo4jRuntime;
}

/**
 * An Infrahub deployment whose services run as local processes, described by configuration (paths,
 * ports, credentials). Used by the demo and the integration tests; the model the Kubernetes and
 * Compose environments follow.
 */
export class LocalEnvironment implements Environment {
  /** {@inheritDoc Environment.kind} */
  readonly kind = "local" as const;
  /** {@inheritDoc Environment.name} */
  readonly name = "local";
  readonly #options: LocalEnvironmentOptions;
  /** What this operation has stopped, recorded beside its lock. */
  readonly #heldDown = new HeldDownServices();

  constructor(options: LocalEnvironmentOptions) {
    this.#options = options;
  }

  #config(service: ServiceName): LocalServiceConfig {
    const config = this.#options.services[service];
    if (!config) {
      throw new BackupError("SERVICE_NOT_FOUND", `the local deployment has no ${service} service`);
    }
    return config;
  }

  /** {@inheritDoc Environment.has} */
  async has(service: ServiceName): Promise<boolean> {
    return this.#options.services[service] !== undefined;
  }

  /** {@inheritDoc Environment.executor} */
  async executor(service: ServiceName): Promise<Executor> {
    const config = this.#config(service);
    return new LocalExecutor({
      target: `local ${service}`,
      ...(config.env ? { env: config.env } : {}),
      ...(config.pathPrepend ? { pathPrepend: config.pathPrepend } : {}),
      ...(config.cwd ? { cwd: config.cwd } : {}),
    });
  }

  /** {@inheritDoc Environment.serviceEnv} */
  async serviceEnv(service: ServiceName): Promise<Record<string, string>> {
    return { ...(this.#config(service).env ?? {}) };
  }

  /** {@inheritDoc Environment.running} */
  async running(services: readonly ServiceName[]): Promise<ServiceName[]> {
    const out: ServiceName[] = [];
    for (const service of services) {
      const config = this.#options.services[service];
      if (config && (await (config.control?.isRunning() ?? true))) out.push(service);
    }
    return out;
  }

  /** Only services with a control are ever stopped (a config file describes services, it cannot stop them). */
  async stoppable(services: readonly ServiceName[]): Promise<ServiceName[]> {
    const out: ServiceName[] = [];
    for (const service of services) {
      const control = this.#options.services[service]?.control;
      if (control && (await control.isRunning())) out.push(service);
    }
    return out;
  }

  /** {@inheritDoc Environment.stop} */
  async stop(services: readonly ServiceName[]): Promise<StoppedServices> {
    const running = await this.stoppable(services);
    const stopped = await stopInOrderOrUndo(
      running,
      async (service) => {
        await this.#heldDown.beforeStop(service);
        await this.#options.services[service]?.control?.stop();
      },
      (back) => this.start({ services: back, state: undefined }),
      "the local deployment",
    );
    return { services: stopped, state: undefined };
  }

  /** {@inheritDoc Environment.start} */
  async start(stopped: StoppedServices, order?: readonly ServiceName[]): Promise<void> {
    const sequence = order ? order.filter((s) => stopped.services.includes(s)) : stopped.services;
    const failures: string[] = [];
    const started: ServiceName[] = [];
    for (const service of sequence) {
      const control = this.#options.services[service]?.control;
      if (!control) continue;
      try {
        if (!(await control.isRunning())) await control.start();
        started.push(service);
      } catch (error) {
        failures.push(`${service}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await this.#heldDown.started(started);
    if (failures.length > 0) {
      throw new BackupError("SERVICES_NOT_RESTORED", `could not start again: ${failures.join("; ")}`);
    }
  }

  /** {@inheritDoc Environment.neo4jRuntime} */
  async neo4jRuntime(): Promise<Neo4jRuntime> {
    return this.#options.neo4j;
  }

  /** A lock directory beside Neo4j's pid file: one per local deployment. */
  async lock(request: LockRequest): Promise<OperationLock> {
    const lock = await acquireDirectoryLock(
      await this.executor("database"),
      `${dirname(this.#options.neo4j.pidFile)}/infrahub-backup.lock`,
      request,
    );
    return this.#heldDown.hold(lock, request, async (service) => {
      const control = this.#options.services[service]?.control;
      if (!control || (await control.isRunning())) return false;
      await control.start();
      return true;
    });
  }
}
