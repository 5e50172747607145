const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * SIGINT/SIGTERM: the first one aborts the running operation's signal, and the operation winds up as it
 * would after any failure — deployment brought back first, unfinished uploads removed after — then
 * reports what is true. A second signal exits at once: whatever the operation held is then left to the
 * safety nets (the freeze helper resumes Neo4j when its lease expires; a lock goes stale).
 */
export class Cancellation {
  readonly #controller = new AbortController();
  readonly #onSignal = (signal: NodeJS.Signals) => {
    if (this.#signalName !== undefined) {
      process.stderr.write(
        `received ${signal} again: exiting now without waiting for the clean-up; a frozen Neo4j resumes by itself within its lease (20 s), stopped services may need starting by hand\n`,
      );
      process.exit(SIGNAL_EXIT[signal] ?? 130);
    }
    this.#signalName = signal;
    this.#controller.abort(new Error(`received ${signal}`));
  };
  #signalName: NodeJS.Signals | undefined;

  constructor() {
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get fired(): NodeJS.Signals | undefined {
    return this.#signalName;
  }

  /** 130 for SIGINT, 143 for SIGTERM; undefined before any signal. */
  get exitCode(): number | undefined {
    return this.#signalName === undefined ? undefined : (SIGNAL_EXIT[this.#signalName] ?? 130);
  }

  dispose(): void {
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
  }
}
