/**
 * Every upload that is open (put → commit/abort) registers here, so a process that is asked to stop
 * (SIGINT/SIGTERM) can abort them all and leave no partial object or stranded multipart parts.
 */
export interface AbortableUpload {
  readonly location: string;
  abort(reason?: unknown): Promise<void>;
}

const active = new Set<AbortableUpload>();

/** @internal used by the sinks. */
export function trackUpload(upload: AbortableUpload): () => void {
  active.add(upload);
  return () => {
    active.delete(upload);
  };
}

/** Locations of uploads in flight (opened and neither committed nor aborted). */
export function activeUploads(): string[] {
  return [...active].map((u) => u.location);
}

/** Aborts every upload in flight; resolves when each abort has finished (failures are swallowed). */
export async function abortActiveUploads(reason?: unknown): Promise<void> {
  await Promise.allSettled([...active].map((u) => u.abort(reason)));
}

export interface AbortOnSignalsOptions {
  signals?: readonly NodeJS.Signals[];
  /**
   * Called after the uploads are aborted, with the signal; typically exits with 128+n. Called at once on
   * a second signal (aborting may wait for the network, up to the store's abort budget).
   */
  onAborted: (signal: NodeJS.Signals) => void;
}

/**
 * For the CLI: on the first SIGINT/SIGTERM, abort every upload in flight, then call `onAborted`.
 * Returns a function that removes the handlers. The library never installs this by itself.
 */
export function abortUploadsOnSignals(options: AbortOnSignalsOptions): () => void {
  const signals = options.signals ?? (["SIGINT", "SIGTERM"] as const);
  let fired = false;
  const handler = (signal: NodeJS.Signals) => {
    if (fired) {
      // A second signal while aborting (the network may be down): stop waiting.
      options.onAborted(signal);
      return;
    }
    fired = true;
    void abortActiveUploads(new Error(`received ${signal}`)).finally(() => options.onAborted(signal));
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
