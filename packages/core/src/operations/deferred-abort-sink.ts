import type { ArchiveSink, SinkCommit } from "../archive/archive-sink.js";
import { BackupError } from "../errors.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

/**
 * The archive's sink during a backup, whose clean-up waits for its owner: when a write fails, the archive
 * writer aborts its sink at once, and a store that is down can take a minute to refuse the abort — a
 * minute Neo4j would stay frozen. Here `abort` only records the reason; the real abort runs when the
 * owner disposes this sink, after the deployment was brought back. Disposing a committed sink does nothing.
 */
export class DeferredAbortSink implements ArchiveSink, AsyncDisposable {
  readonly #inner: ArchiveSink;
  readonly #onEvent: EventSink;
  #committed = false;
  #reason: unknown;

  constructor(inner: ArchiveSink, onEvent: EventSink) {
    this.#inner = inner;
    this.#onEvent = onEvent;
  }

  get position(): number {
    return this.#inner.position;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#inner.write(chunk);
  }

  writePlaceholder(chunk: Uint8Array): Promise<number> {
    return this.#inner.writePlaceholder(chunk);
  }

  patch(offset: number, bytes: Uint8Array): Promise<void> {
    return this.#inner.patch(offset, bytes);
  }

  async commit(): Promise<SinkCommit> {
    const commit = await this.#inner.commit();
    this.#committed = true;
    return commit;
  }

  async abort(reason?: unknown): Promise<void> {
    this.#reason ??= reason;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#committed) return;
    try {
      await this.#inner.abort(this.#reason ?? new BackupError("CANCELLED", "the backup did not finish"));
    } catch (error) {
      // Reported, not thrown: the backup's own failure is the error; this one names what may be left.
      this.#onEvent(
        warning(
          "UPLOAD_NOT_REMOVED",
          `the unfinished archive could not be removed from storage: ${(error as Error).message}`,
        ),
      );
    }
  }
}
