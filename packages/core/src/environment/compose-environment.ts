import { BackupError } from "../errors.js";
import { ComposeExecutor } from "../exec/compose-executor.js";
import type { Executor } from "../exec/executor.js";
import { ComposeCli, type ComposeCliOptions } from "./compose-cli.js";
import { detectContainerNeo4jRuntime, IMAGE_NEO4J_HOME, memoisedRuntime } from "./container-neo4j-runtime.js";
import type { Environment, Neo4jRuntime, StoppedServices } from "./environment.js";
import { HeldDownServices } from "./held-down-services.js";
import { acquireDirectoryLock, type LockRequest, type OperationLock } from "./operation-lock.js";
import type { ServiceName } from "./services.js";
import { stopInOrderOrUndo } from "./stop-in-order.js";

/** Options of a Compose environment: the project and how docker is run. */
export interface ComposeEnvironmentOptions extends ComposeCliOptions {
  /** The Compose project (`docker compose -p <project>`). */
  project: string;
}

/** Container states nothing brings back by itself. */
const STOPPED_STATES = new Set(["exited", "created", "dead"]);

/** The official neo4j image's NEO4J_HOME; the server writes its pid file to `$NEO4J_HOME/run/neo4j.pid`. */
export const COMPOSE_NEO4J_HOME = IMAGE_NEO4J_HOME;

/**
 * An Infrahub deployment run by Docker Compose: commands go through `docker compose -p <project> exec -T`,
 * services are stopped and started with `docker compose stop/start`, one at a time so the order is ours.
 */
export class ComposeEnvironment implements Environment {
  /** {@inheritDoc Environment.kind} */
  readonly kind = "compose" as const;
  /** {@inheritDoc Environment.name} */
  readonly name: string;
  readonly #cli: ComposeCli;
  /** What this operation has stopped, recorded beside its lock. */
  readonly #heldDown = new HeldDownServices();
  readonly #options: ComposeEnvironmentOptions;
  #services: Promise<Set<string>> | undefined;
  readonly #runtime = memoisedRuntime(() => detectContainerNeo4jRuntime(this));

  constructor(options: ComposeEnvironmentOptions) {
    this.name = options.project;
    this.#options = options;
    this.#cli = new ComposeCli(options);
  }

  /** The project's services, stopped ones included; read once (services do not come and go mid-run). */
  #serviceSet(): Promise<Set<string>> {
    this.#services ??= this.#cli.containers(this.name).then((list) => new Set(list.map((c) => c.service)));
    // A failed listing is not cached: the next call asks docker again.
    this.#services.catch(() => {
      this.#services = undefined;
    });
    return this.#services;
  }

  /** {@inheritDoc Environment.has} */
  async has(service: ServiceName): Promise<boolean> {
    return (await this.#serviceSet()).has(service);
  }

  /** {@inheritDoc Environment.executor} */
  async executor(service: ServiceName): Promise<Executor> {
    if (!(await this.has(service))) {
      throw new BackupError("SERVICE_NOT_FOUND", `Compose project ${this.name} has no ${service} service`, {
        hint: "the services must be named as in Infrahub's docker-compose.yml",
      });
    }
    return new ComposeExecutor({
      project: this.name,
      service,
      ...(this.#options.docker ? { docker: this.#options.docker } : {}),
    });
  }

  /** {@inheritDoc Environment.serviceEnv} */
  async serviceEnv(service: ServiceName): Promise<Record<string, string>> {
    const executor = await this.executor(service);
    const result = await executor.exec({ argv: ["env"], timeoutMs: 60_000 });
    if (result.exitCode !== 0) {
      throw new BackupError(
        "EXEC_FAILED",
        `reading the environment of ${executor.target} failed (exit status ${result.exitCode})`,
        { hint: `is ${service} running? \`docker compose -p ${this.name} ps\`` },
      );
    }
    return parseEnvOutput(result.stdout.toString("utf8"));
  }

  /** {@inheritDoc Environment.running} */
  async running(services: readonly ServiceName[]): Promise<ServiceName[]> {
    const up = new Set(
      (await this.#cli.containers(this.name)).filter((c) => c.state === "running").map((c) => c.service),
    );
    return services.filter((service) => up.has(service));
  }

  /** {@inheritDoc Environment.stop} */
  async stop(services: readonly ServiceName[]): Promise<StoppedServices> {
    const stopped = await stopInOrderOrUndo(
      await this.running(services),
      async (service) => {
        await this.#heldDown.beforeStop(service);
        await this.#cli.stop(this.name, service);
      },
      (back) => this.start({ services: back, state: undefined }),
      `Compose project ${this.name}`,
    );
    return { services: stopped, state: undefined };
  }

  /** {@inheritDoc Environment.start} */
  async start(stopped: StoppedServices, order?: readonly ServiceName[]): Promise<void> {
    const sequence = order ? order.filter((s) => stopped.services.includes(s)) : stopped.services;
    const failures: string[] = [];
    const started: ServiceName[] = [];
    for (const service of sequence) {
      try {
        await this.#cli.start(this.name, service);
        started.push(service);
      } catch (error) {
        failures.push(`${service}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await this.#heldDown.started(started);
    if (failures.length > 0) {
      throw new BackupError("SERVICES_NOT_RESTORED", `could not start again: ${failures.join("; ")}`, {
        hint: `start them with \`docker compose -p ${this.name} start <service>\``,
      });
    }
  }

  /** {@inheritDoc Environment.startIfStopped} */
  async startIfStopped(service: ServiceName): Promise<boolean> {
    // `restarting` is Docker's restart policy at work (a JVM that exited by itself): left to it. `exited`
    // is what the policy does not restart: a container stopped or killed from outside.
    const states = (await this.#cli.containers(this.name))
      .filter((c) => c.service === service)
      .map((c) => c.state);
    if (!states.some((state) => STOPPED_STATES.has(state))) return false;
    await this.#cli.start(this.name, service);
    return true;
  }

  /** Pid file and neo4j-admin user, by upstream's rule for containers (detected once). */
  neo4jRuntime(): Promise<Neo4jRuntime> {
    return this.#runtime();
  }

  /**
   * A lock directory beside Neo4j's pid file in the database container: every client of the project
   * execs into that container, and it keeps its file system across Neo4j's restarts.
   */
  async lock(request: LockRequest): Promise<OperationLock> {
    const { pidFile } = await this.neo4jRuntime();
    const lock = await acquireDirectoryLock(
      await this.executor("database"),
      `${pidFile.replace(/\/[^/]*$/, "")}/infrahub-backup.lock`,
      request,
    );
    // What a killed run left stopped: `docker compose start` for containers still exited.
    return this.#heldDown.hold(lock, request, (service) => this.startIfStopped(service));
  }
}

/** Parses `env` output; a line that does not start a `NAME=` entry continues the previous value. */
export function parseEnvOutput(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  let last: string | undefined;
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(line);
    if (match?.[1] !== undefined) {
      last = match[1];
      env[last] = match[2] ?? "";
    } else if (last !== undefined) {
      env[last] += `\n${line}`;
    }
  }
  return env;
}
