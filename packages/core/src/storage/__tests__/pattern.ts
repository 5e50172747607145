import { createHash } from "node:crypto";
import type { ArchiveSink } from "../../archive/archive-sink.js";

/** A 2 MiB block of fixed pseudo-random bytes; chunks are windows into it, stamped with their offset. */
const BASE = (() => {
  const buf = Buffer.allocUnsafe(2 * 1024 * 1024);
  let x = 0x9e3779b9;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  return buf;
})();

function bytesAt(offset: number, length: number): Buffer {
  const start = (offset * 2654435761) % (BASE.length - length);
  const out = Buffer.from(BASE.subarray(start, start + length));
  // Position-dependent, so a misplaced or repeated part changes the hash.
  out.writeUIntLE(offset % 2 ** 48, 0, Math.min(6, length));
  return out;
}

export interface PatternOptions {
  size: number;
  /** Largest data chunk. Default 256 KiB (sizes vary from 1 byte up). */
  maxChunk?: number;
  /** A 535-byte placeholder roughly every this many bytes. Default 3 MiB. */
  placeholderEvery?: number;
  /** A placeholder is patched once this many more bytes were written. Default 7 MiB (crosses parts). */
  patchLag?: number;
  /** Hash the final bytes (costs CPU). Default true. */
  hash?: boolean;
}

/**
 * Writes a deterministic archive-like stream: data chunks of varying sizes and zeroed 535-byte
 * placeholders (like the archive writer's tar headers) patched later. Returns the SHA-256 of the final
 * object (what any correct sink must store).
 */
export async function writePattern(
  sink: ArchiveSink,
  options: PatternOptions,
): Promise<{ sha256: string; size: number; placeholders: number }> {
  const maxChunk = options.maxChunk ?? 256 * 1024;
  const every = options.placeholderEvery ?? 3 * 1024 * 1024;
  const lag = options.patchLag ?? 7 * 1024 * 1024;
  const hash = options.hash === false ? undefined : createHash("sha256");
  const pending: { offset: number; bytes: Buffer }[] = [];
  let pos = 0;
  let nextPlaceholder = 0;
  let placeholders = 0;
  let i = 0;
  while (pos < options.size) {
    if (pos >= nextPlaceholder && options.size - pos >= 535) {
      const final = bytesAt(pos + 1, 535);
      const offset = await sink.writePlaceholder(Buffer.alloc(535));
      if (offset !== pos) throw new Error(`placeholder offset ${offset} != ${pos}`);
      hash?.update(final);
      pending.push({ offset, bytes: final });
      pos += 535;
      placeholders++;
      nextPlaceholder = pos + every - (i % 1000) * 97;
    } else {
      const len = Math.min(options.size - pos, 1 + ((i * 7919 + 13) % maxChunk));
      const chunk = bytesAt(pos, len);
      hash?.update(chunk);
      await sink.write(chunk);
      pos += len;
    }
    i++;
    while (pending.length > 0 && pending[0]!.offset + lag <= pos) {
      const p = pending.shift()!;
      await sink.patch(p.offset, p.bytes);
    }
  }
  for (const p of pending) await sink.patch(p.offset, p.bytes);
  if (sink.position !== options.size) throw new Error(`sink position ${sink.position} != ${options.size}`);
  return { sha256: hash?.digest("hex") ?? "", size: pos, placeholders };
}

export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

/** Wraps a sink so `afterWrite` runs after every successful write (to trigger faults mid-upload). */
export function tapSink(sink: ArchiveSink, afterWrite: (position: number) => void): ArchiveSink {
  return {
    get position() {
      return sink.position;
    },
    write: async (chunk) => {
      await sink.write(chunk);
      afterWrite(sink.position);
    },
    writePlaceholder: (chunk) => sink.writePlaceholder(chunk),
    patch: (offset, bytes) => sink.patch(offset, bytes),
    commit: () => sink.commit(),
    abort: (reason) => sink.abort(reason),
  };
}
