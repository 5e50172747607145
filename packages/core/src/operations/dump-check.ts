import { pipeline as pipe, type Readable, Transform } from "node:stream";
import type { ArchiveFileEntry } from "../archive/archive-reader.js";
import { BackupError } from "../errors.js";
import type { EventSink } from "./events.js";

/**
 * Passes an entry's bytes through, checking that it starts like what its load command expects (a stray
 * log line on a dump's stdout would otherwise be archived as data), and emits progress every few MiB.
 */
export function checked(
  entry: string,
  magics: readonly Buffer[],
  onEvent: EventSink,
  refuse: (head: Buffer) => BackupError = (head) =>
    new BackupError(
      "DATABASE_COMMAND_FAILED",
      `${entry} does not start like a dump: ${JSON.stringify(head.toString("latin1"))}`,
      {
        hint: "something other than the dump was written to the command's stdout; nothing was stored",
      },
    ),
): Transform {
  let bytes = 0;
  let reported = 0;
  let head = Buffer.alloc(0);
  const need = Math.max(...magics.map((m) => m.length));
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      if (head.length < need) {
        head = Buffer.concat([head, chunk.subarray(0, need - head.length)]);
        if (head.length >= need && !magics.some((m) => head.subarray(0, m.length).equals(m))) {
          callback(refuse(head));
          return;
        }
      }
      bytes += chunk.length;
      if (bytes - reported >= 8 * 1024 * 1024) {
        reported = bytes;
        onEvent({ type: "progress", entry, bytes });
      }
      callback(null, chunk);
    },
    flush(callback) {
      onEvent({ type: "progress", entry, bytes });
      callback();
    },
  });
}

/** `source` piped through `transform`, errors of either surfacing on the returned stream. */
export function pipeline(source: Readable, transform: Transform): Transform {
  // The error reaches the consumer through the returned stream; the callback has nothing to add.
  return pipe(source, transform, () => undefined);
}

/**
 * A load command whose input broke fails too ("not a valid archive" on a short read), often before the
 * broken read is reported: the read's error is the cause then, the command's failure only its effect.
 */
export async function fedFrom<T>(entry: ArchiveFileEntry, load: Promise<T>): Promise<T> {
  try {
    return await load;
  } catch (error) {
    const source = await Promise.race([
      entry.digest.then(
        () => undefined,
        (readError: unknown) => readError,
      ),
      new Promise<undefined>((resolve) => setTimeout(resolve, 2_000, undefined)),
    ]);
    throw source ?? error;
  }
}
