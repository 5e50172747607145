import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import {
  endOwnedCommands,
  type FrozenNeo4j,
  freezeNeo4jRetrying,
  ownedBy,
  removeFreezeWorkDir,
  restartNeo4jServer,
  resumeNeo4j,
} from "../engines/neo4j/freeze.js";
import { isFailedStart, waitForNeo4j } from "../engines/neo4j/wait.js";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import type { EventSink } from "../operations/events.js";
import { warning } from "../operations/warning.js";
import type { Environment, LivenessWindow, Neo4jRuntime, StoppedServices } from "./environment.js";
import { APP_START_ORDER, APP_STOP_ORDER } from "./services.js";

export interface HeldDeploymentOptions {
  environment: Environment;
  neo4jCredentials: Neo4jCredentials;
  runtime: Neo4jRuntime;
  /** Local path of the static freeze helper for a container architecture. */
  freezeHelper: (arch: "amd64" | "arm64") => string;
  onEvent: EventSink;
  /** The operation's cancellation. Releasing runs without it: it must finish after a signal too. */
  signal?: AbortSignal;
  /** How long a frozen Neo4j may outlive this process if it is killed (default 20 s). */
  leaseTtlMs?: number;
  /** How long releasing waits for Neo4j's user database to serve again (default 5 min). */
  serveTimeoutMs?: number;
  /** The liveness probe of Neo4j's container, to say when it is what restarted a frozen Neo4j. */
  liveness?: LivenessWindow;
}

/** The truth about one part of the deployment once the hold is released. */
export type PartState =
  /** Never stopped by this hold. */
  | { state: "untouched" }
  /** Stopped, and running (Neo4j: serving its user database) again. */
  | { state: "back" }
  | { state: "not-back"; problem: string };

export interface HoldOutcome {
  neo4j: PartState;
  services: PartState;
}

/** A step that undoes part of the operation when the hold is released before the operation finished. */
export type UndoStep = () => Promise<void>;

/**
 * The deployment held down for an operation: what was stopped and frozen, and how to bring it back.
 * One instance per operation, used with `await using`. On release — success, failure, cancellation —
 * it kills the commands still working on the Neo4j store (in the container, not only their exec
 * sessions), runs the operation's undo steps while Neo4j is still frozen (e.g. putting the previous
 * store back), resumes Neo4j and waits until its USER database serves, runs the undo steps that must
 * precede the applications, starts the application services in order, and records the truth per part
 * (`outcome`). Releasing never throws: callers read `outcome`. Storage cleanup belongs after it.
 */
export class HeldDeployment implements AsyncDisposable {
  readonly #options: HeldDeploymentOptions;
  readonly #commands = new AbortController();
  /** Aborted when the release begins (not by the operation's cancellation). */
  readonly #released = new AbortController();
  readonly #whileFrozen: UndoStep[] = [];
  readonly #beforeServices: UndoStep[] = [];
  #database: Executor | undefined;
  #stopped: StoppedServices | undefined;
  #frozen: FrozenNeo4j | undefined;
  #freezing: Promise<FrozenNeo4j> | undefined;
  /** Set once Neo4j was asked to stop: from then on it must be seen serving again. */
  #neo4jTouched = false;
  #servicesTouched = false;
  #stoppedAt: number | undefined;
  #neo4jStoppedAt: number | undefined;
  #outcome: HoldOutcome = { neo4j: { state: "untouched" }, services: { state: "untouched" } };
  #releasing: Promise<HoldOutcome> | undefined;
  #interference: BackupError | undefined;
  /** From Neo4j's stop until its user database served again (last cycle). */
  neo4jDowntimeMs: number | undefined;
  /** From the application services' stop until they were started again. */
  servicesDownMs: number | undefined;

  constructor(options: HeldDeploymentOptions) {
    this.#options = options;
    options.signal?.addEventListener("abort", () => this.#commands.abort(options.signal?.reason), {
      once: true,
    });
  }

  /**
   * Aborted when the operation is cancelled, the hold is released, or the environment reports that
   * someone else brought a stopped service back (`interference`): give it to every streaming command.
   */
  get commandSignal(): AbortSignal {
    return this.#commands.signal;
  }

  /**
   * Why the hold was broken from outside, if it was: a SCALE_CONFLICT error naming the workload, the
   * replica count and the field manager. The operation's failure should state this as its cause.
   */
  get interference(): BackupError | undefined {
    return this.#interference;
  }

  get frozen(): FrozenNeo4j | undefined {
    return this.#frozen;
  }

  get outcome(): HoldOutcome {
    return this.#outcome;
  }

  /** Kubernetes scales workloads; the other environments stop and start containers. */
  get #scaled(): boolean {
    return this.#options.environment.kind === "kubernetes";
  }

  async #databaseExecutor(): Promise<Executor> {
    this.#database ??= await this.#options.environment.executor("database");
    return this.#database;
  }

  /** Stops the running application services in upstream's order; remembered for the release. */
  async stopApplications(): Promise<void> {
    this.#servicesTouched = true;
    this.#stoppedAt = Date.now();
    this.#stopped = await this.#options.environment.stop(APP_STOP_ORDER);
    this.#watchInterference(this.#stopped.interference);
    if (this.#stopped.services.length > 0) {
      this.#options.onEvent({
        type: "services-stopped",
        services: this.#stopped.services,
        how: this.#scaled ? "scaled-down" : "stopped",
      });
    }
  }

  /** Links the environment's interference signal into the command signal (first report wins). */
  #watchInterference(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const interfere = () => {
      // Also while releasing: `start` takes a last look before scaling back, and what it saw happened
      // while the services were held down.
      if (this.#interference) return;
      const reason = signal.reason;
      this.#interference =
        reason instanceof BackupError ? reason : new BackupError("SCALE_CONFLICT", String(reason));
      const { message, hint } = this.#interference;
      this.#options.onEvent(warning("SCALE_CONFLICT", hint ? `${message}: ${hint}` : message));
      this.#commands.abort(this.#interference);
    };
    if (signal.aborted) interfere();
    else signal.addEventListener("abort", interfere, { once: true });
  }

  /**
   * Shuts Neo4j down cleanly and freezes its JVM (Community offline dump/load). The freeze lives only
   * while this process renews its lease. Commands on the store must run with `ownerEnv()`.
   */
  freezeNeo4j(options: { evenIfCancelled?: boolean } = {}): Promise<FrozenNeo4j> {
    this.#freezing ??= this.#freeze(options.evenIfCancelled === true).finally(() => {
      this.#freezing = undefined;
    });
    return this.#freezing;
  }

  /**
   * `evenIfCancelled`: a freeze that undoes part of the operation (putting a previous store back) must
   * run after a signal too, like the release; it is ended only by the release itself.
   */
  async #freeze(evenIfCancelled: boolean): Promise<FrozenNeo4j> {
    if (this.#frozen) return this.#frozen;
    const executor = await this.#databaseExecutor();
    this.#neo4jTouched = true;
    this.#neo4jStoppedAt ??= Date.now();
    // The command signal: releasing the hold also ends a freeze still under way.
    this.#frozen = await freezeNeo4jRetrying(executor, this.#options.neo4jCredentials, {
      pidFile: this.#options.runtime.pidFile,
      helperPath: this.#options.freezeHelper,
      ...(this.#options.leaseTtlMs !== undefined ? { leaseTtlMs: this.#options.leaseTtlMs } : {}),
      onRetry: async (message) => {
        this.#options.onEvent(warning("FREEZE_RETRY", message));
        // Its exit may have stopped a container nothing restarts: then the wait would be for nothing.
        await this.#startStoppedDatabase();
      },
      signal: evenIfCancelled ? this.#released.signal : this.#commands.signal,
    });
    this.#options.onEvent({ type: "neo4j-stopped", how: "frozen" });
    return this.#frozen;
  }

  /** Environment for a command on the frozen store: it is killed in the container on release. */
  ownerEnv(): Record<string, string> {
    if (!this.#frozen) throw new BackupError("INTERNAL", "ownerEnv() needs a frozen Neo4j");
    return ownedBy(this.#frozen);
  }

  /**
   * Registers an undo step run on release while Neo4j is still frozen (after the store's commands are
   * killed). Returns a function that withdraws it (once the operation no longer needs undoing).
   */
  undoWhileFrozen(step: UndoStep): () => void {
    return withdrawable(this.#whileFrozen, step);
  }

  /** Registers an undo step run on release after Neo4j serves again, before the services start. */
  undoBeforeServices(step: UndoStep): () => void {
    return withdrawable(this.#beforeServices, step);
  }

  /**
   * Ends the commands still working on the store, resumes Neo4j and waits until its user database
   * serves. Throws when it does not (the error says why); `outcome.neo4j` records the same.
   *
   * A frozen JVM killed while frozen is started again by its supervisor at once (systemd's
   * Restart=always, a restart policy): while a `neo4j-admin` still held the store lock, the new server's
   * user database failed to start and stays down. Then the server is restarted once, now on a free store.
   */
  async resumeNeo4j(): Promise<void> {
    if (!this.#neo4jTouched) return;
    const executor = await this.#databaseExecutor();
    const frozen = this.#frozen;
    try {
      let workDirLeft: string | undefined;
      let exitedWhileFrozen = false;
      if (frozen) {
        this.#frozen = undefined;
        await endOwnedCommands(executor, frozen);
        ({ workDirLeft, exitedWhileFrozen } = await resumeNeo4j(executor, frozen));
      }
      // Not frozen here: the freeze failed, the JVM gone with its container (killed during its shutdown).
      if ((!frozen || exitedWhileFrozen) && (await this.#startStoppedDatabase())) {
        exitedWhileFrozen = false;
        // The same container started again keeps its file system, the freeze's work dir included.
        if (frozen) workDirLeft = frozen.workDir;
      }
      try {
        // A server started while the store was ours: its database reported failed is no slow start.
        await this.#waitForNeo4j(executor, exitedWhileFrozen ? { failedForMs: 0 } : {});
      } catch (error) {
        if (!exitedWhileFrozen || !isFailedStart(error)) throw error;
        this.#options.onEvent(
          warning(
            "NEO4J_RESTARTED",
            `Neo4j was started again while its store was in use (${messageOf(error)}); restarting it on the free store`,
          ),
        );
        await restartNeo4jServer(executor, this.#options.runtime.pidFile);
        await this.#waitForNeo4j(executor);
        exitedWhileFrozen = false;
      }
      if (exitedWhileFrozen) {
        // It serves, but the operation must say why what it ran on the store may have failed.
        this.#options.onEvent(
          warning(
            "NEO4J_RESTARTED",
            `Neo4j's frozen process was gone when it was to be resumed (killed, or its container restarted): its supervisor started it again during the operation${this.#livenessExplanation()}`,
          ),
        );
      }
      this.neo4jDowntimeMs = Date.now() - (this.#neo4jStoppedAt ?? Date.now());
      this.#neo4jStoppedAt = undefined;
      this.#neo4jTouched = false;
      this.#outcome = { ...this.#outcome, neo4j: { state: "back" } };
      this.#options.onEvent({
        type: "neo4j-serving",
        database: this.#options.neo4jCredentials.database,
        downtimeMs: this.neo4jDowntimeMs,
      });
      // After the downtime is measured: Neo4j already serves while the leftover directory goes.
      if (workDirLeft !== undefined) await this.#removeFreezeWorkDir(executor, workDirLeft);
    } catch (error) {
      this.#outcome = { ...this.#outcome, neo4j: { state: "not-back", problem: messageOf(error) } };
      throw error;
    }
  }

  /**
   * Why the kubelet may have restarted a frozen Neo4j: offline at least as long as its container's liveness
   * probe and grace period allow. Empty when that is not the explanation.
   */
  #livenessExplanation(): string {
    const window = this.#options.liveness;
    const offlineSeconds = Math.round((Date.now() - (this.#neo4jStoppedAt ?? Date.now())) / 1000);
    if (!window || offlineSeconds < window.seconds) return "";
    return `; Neo4j had been offline ${offlineSeconds} s, longer than its container's liveness probe (${window.probe}) and grace period (${window.graceSeconds} s) allow, so the kubelet restarted it: give that probe room (a larger failureThreshold)`;
  }

  /**
   * The frozen process is gone with its container, and where nothing restarts a stopped container
   * (Compose, after a `docker kill`/`docker stop` from outside) it is started here: the deployment had
   * Neo4j running when the operation began. True when it was started (and said so).
   */
  async #startStoppedDatabase(): Promise<boolean> {
    const environment = this.#options.environment;
    if (!environment.startIfStopped) return false;
    try {
      if (!(await environment.startIfStopped("database"))) return false;
    } catch (error) {
      // The wait for Neo4j that follows says whether it serves; this says why it may not.
      this.#options.onEvent(
        warning("RELEASE_STEP_FAILED", `could not start the stopped Neo4j container: ${messageOf(error)}`),
      );
      return false;
    }
    this.#options.onEvent(
      warning(
        "NEO4J_RESTARTED",
        `Neo4j's container stopped during the operation (killed or stopped from outside) and nothing started it again: started it (${environment.kind} ${environment.name}, service database)`,
      ),
    );
    return true;
  }

  /** Without a signal: a cancelled operation still brings Neo4j back. */
  #waitForNeo4j(executor: Executor, options: { failedForMs?: number } = {}): Promise<void> {
    return waitForNeo4j(executor, this.#options.neo4jCredentials, {
      ...(this.#options.serveTimeoutMs !== undefined ? { timeoutMs: this.#options.serveTimeoutMs } : {}),
      ...options,
    });
  }

  /** Second try, once Neo4j serves (its container restarted): a directory still left is only warned about. */
  async #removeFreezeWorkDir(executor: Executor, workDir: string): Promise<void> {
    try {
      await removeFreezeWorkDir(executor, workDir);
    } catch (error) {
      this.#options.onEvent(warning("FREEZE_WORK_DIR_LEFT", messageOf(error), { workDir }));
    }
  }

  /** Starts what `stopApplications` stopped, in upstream's start order. Throws when one did not start. */
  async startApplications(): Promise<void> {
    const stopped = this.#stopped;
    if (!stopped) return;
    this.#stopped = undefined;
    try {
      await this.#options.environment.start(stopped, APP_START_ORDER);
      if (this.#stoppedAt !== undefined) this.servicesDownMs = Date.now() - this.#stoppedAt;
      this.#outcome = { ...this.#outcome, services: { state: "back" } };
      if (stopped.services.length > 0) {
        this.#options.onEvent({
          type: "services-started",
          services: stopped.services,
          how: this.#scaled ? "scaled-up" : "started",
          ...(this.servicesDownMs !== undefined ? { downMs: this.servicesDownMs } : {}),
        });
      }
    } catch (error) {
      this.#outcome = { ...this.#outcome, services: { state: "not-back", problem: messageOf(error) } };
      throw error;
    }
  }

  /**
   * Brings everything back, in order; never throws, records the truth in `outcome`. Idempotent: a second
   * call returns the first one's outcome.
   */
  release(): Promise<HoldOutcome> {
    this.#releasing ??= this.#release();
    return this.#releasing;
  }

  async #release(): Promise<HoldOutcome> {
    const windingUp = new BackupError("CANCELLED", "the operation is being wound up");
    this.#commands.abort(windingUp);
    this.#released.abort(windingUp);
    const warn = (message: string) => this.#options.onEvent(warning("RELEASE_STEP_FAILED", message));
    try {
      await this.#freezing;
    } catch {
      // A freeze that failed or was ended by the abort above cleaned up after itself (freezeNeo4j);
      // Neo4j is then waited for below like any other stopped Neo4j.
    }
    if (this.#frozen) {
      // While frozen: the store's commands must be gone before any undo step touches the store.
      try {
        await endOwnedCommands(await this.#databaseExecutor(), this.#frozen);
      } catch (error) {
        warn(messageOf(error));
      }
      await runSteps(this.#whileFrozen, warn);
    }
    try {
      await this.resumeNeo4j();
    } catch {
      // Recorded in outcome.neo4j by resumeNeo4j; the services are started all the same.
    }
    await runSteps(this.#beforeServices, warn);
    try {
      await this.startApplications();
    } catch {
      // Recorded in outcome.services by startApplications.
    }
    if (this.#servicesTouched && this.#outcome.services.state === "untouched")
      this.#outcome = { ...this.#outcome, services: { state: "back" } };
    return this.#outcome;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

function withdrawable(list: UndoStep[], step: UndoStep): () => void {
  list.push(step);
  return () => {
    const index = list.indexOf(step);
    if (index >= 0) list.splice(index, 1);
  };
}

/** Runs undo steps newest first; a failing step is reported and the others still run. */
async function runSteps(steps: UndoStep[], warn: (message: string) => void): Promise<void> {
  for (const step of steps.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      warn(messageOf(error));
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Says in words what `outcome` means for users: the tail of every failure message. */
export function describeOutcome(outcome: HoldOutcome): string {
  const parts: string[] = [];
  if (outcome.neo4j.state === "back") parts.push("Neo4j serves again");
  if (outcome.neo4j.state === "not-back")
    parts.push(`Neo4j does NOT serve its database: ${outcome.neo4j.problem}`);
  if (outcome.services.state === "back") parts.push("the application services were started again");
  if (outcome.services.state === "not-back")
    parts.push(`the application services were NOT all started again: ${outcome.services.problem}`);
  return parts.join("; ");
}

/** True when something the hold stopped is not back. */
export function outcomeHasProblems(outcome: HoldOutcome): boolean {
  return outcome.neo4j.state === "not-back" || outcome.services.state === "not-back";
}
