import type { ErrorCategory, OperationEvent } from "@infrahub-backup/core";

/** The commands whose runs are reported to metrics and webhooks. */
export type MonitoredOperation = "create" | "restore" | "verify" | "drill" | "prune";

/** The databases whose dumps are measured, as the `database` label names them. */
export type DumpDatabase = "neo4j" | "prefect";

/** Why a run failed: the stable facts of the error the CLI reported. */
export interface RunFailure {
  code: string;
  category: ErrorCategory;
  exitCode: number;
  message: string;
  hint?: string | undefined;
}

/** What a run did, as metrics and notifications report it. */
export interface RunResult {
  operation: MonitoredOperation;
  /** Kubernetes namespace, Compose project, or `local`. */
  deployment: string;
  startedAt: number;
  finishedAt: number;
  succeeded: boolean;
  /** The archive written, restored, verified or drilled, when the run got that far. */
  archive?: { location: string; size?: number | undefined };
  /** Create/restore with Neo4j offline (Community): from the stop until it served again. */
  neo4jOfflineMs?: number;
  dumpBytes: Partial<Record<DumpDatabase, number>>;
  failure?: RunFailure;
}

/**
 * Collects the facts of one run from the library's typed events (and the few the CLI knows itself), so
 * that metrics and notifications are a rendering of the run's result, like its log lines.
 */
export class RunRecord {
  readonly operation: MonitoredOperation;
  readonly startedAt: number;
  #deployment: string;
  #archive: RunResult["archive"];
  #offlineMs: number | undefined;
  readonly #dumps: Partial<Record<DumpDatabase, number>> = {};
  readonly #now: () => number;

  constructor(operation: MonitoredOperation, deployment: string, now: () => number = Date.now) {
    this.operation = operation;
    this.#deployment = deployment;
    this.#now = now;
    this.startedAt = now();
  }

  /** The deployment the run found (auto-detection may name one the flags did not). */
  environment(environment: { kind: string; name: string }): void {
    this.#deployment = environment.kind === "local" ? "local" : environment.name;
  }

  /** The archive the run works on. */
  archive(location: string, size?: number): void {
    this.#archive = { location, size: size ?? this.#archive?.size };
  }

  readonly observe = (event: OperationEvent): void => {
    switch (event.type) {
      case "phase-started":
        if (event.phase === "preflight" && event.subject?.deployment)
          this.environment(event.subject.deployment);
        if ((event.phase === "verify" || event.phase === "drill-load") && event.subject?.location)
          this.archive(event.subject.location, event.subject.size);
        return;
      case "phase-finished":
        if (event.bytes === undefined) return;
        if (event.phase === "dump-postgres") this.#dumps.prefect = event.bytes;
        // A staged dump's bytes are counted by its upload; a streamed one's by the dump itself.
        if (event.phase === "upload-staged-dump" || event.phase === "backup-neo4j")
          this.#dumps.neo4j = event.bytes;
        if (event.phase === "dump-neo4j" && !event.subject?.stagedIn) this.#dumps.neo4j = event.bytes;
        return;
      case "neo4j-serving":
        this.#offlineMs = (this.#offlineMs ?? 0) + event.downtimeMs;
        return;
      case "committed":
        this.archive(event.location, event.size);
        return;
      default:
        return;
    }
  };

  /** The run's result; `failure` unset means it succeeded. */
  finish(failure?: RunFailure): RunResult {
    return {
      operation: this.operation,
      deployment: this.#deployment,
      startedAt: this.startedAt,
      finishedAt: this.#now(),
      succeeded: failure === undefined,
      ...(this.#archive ? { archive: this.#archive } : {}),
      ...(this.#offlineMs !== undefined ? { neo4jOfflineMs: this.#offlineMs } : {}),
      dumpBytes: { ...this.#dumps },
      ...(failure ? { failure } : {}),
    };
  }
}
