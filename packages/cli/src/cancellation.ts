import { abortUploadsOnSignals } from "@infrahub-backup/core";

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * SIGINT/SIGTERM: abort the running operation (its signal) and every S3 upload in flight, then report
 * 130/143. While aborting, the operation rejects with CANCELLED; `main` waits for `done` instead of
 * reporting that as a failure.
 */
export class Cancellation {
  readonly #controller = new AbortController();
  readonly #dispose: () => void;
  readonly #onSignal = (signal: NodeJS.Signals) => {
    this.#signalName ??= signal;
    this.#controller.abort(new Error(`received ${signal}`));
  };
  #signalName: NodeJS.Signals | undefined;
  #aborted = false;
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code once uploads are aborted (only after a signal). */
  readonly done = new Promise<number>((r) => {
    this.#resolveDone = r;
  });

  constructor() {
    this.#dispose = abortUploadsOnSignals({
      onAborted: (signal) => {
        const code = SIGNAL_EXIT[signal] ?? 130;
        // A second signal means "stop now": the operation had its chance to clean up.
        if (this.#aborted) process.exit(code);
        this.#aborted = true;
        this.#resolveDone(code);
      },
    });
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get fired(): NodeJS.Signals | undefined {
    return this.#signalName;
  }

  dispose(): void {
    this.#dispose();
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
  }
}
