import { BackupError } from "../errors.js";

/**
 * A chunk of a byte stream as a Buffer without copying (Node streams yield Buffers, web streams
 * Uint8Arrays, a string source its text as UTF-8); anything else is INVALID_ARGUMENT naming `what`.
 */
export function toBuffer(chunk: unknown, what: string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw new BackupError("INVALID_ARGUMENT", `${what} must yield bytes`);
}

/** `source` chunk by chunk as Buffers ({@link toBuffer}). */
export async function* asBuffers(source: AsyncIterable<unknown>, what: string): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield toBuffer(chunk, what);
}
