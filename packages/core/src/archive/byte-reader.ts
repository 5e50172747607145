import { BackupError } from "../errors.js";

/** Pull-based reader over an async iterator of buffers: exact reads and bounded slices. */
export class ByteReader {
  readonly #iterator: AsyncIterator<Buffer>;
  readonly #signal: AbortSignal | undefined;
  #current: Buffer = Buffer.alloc(0);
  #done = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(source: AsyncIterable<Buffer>, signal?: AbortSignal) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#signal = signal;
  }

  async #fill(): Promise<boolean> {
    while (this.#current.length === 0) {
      if (this.#done) return false;
      if (this.#signal?.aborted) {
        throw new BackupError("CANCELLED", "archive read cancelled", { cause: this.#signal.reason });
      }
      const next = await this.#iterator.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#current = next.value;
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or `undefined` at the end of the input. */
  async readSome(max: number): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#current.length);
    const out = this.#current.subarray(0, n);
    this.#current = this.#current.subarray(n);
    this.position += n;
    return out;
  }

  /** Exactly `n` bytes; `undefined` if the input ended before the first byte; truncation error otherwise. */
  async readExact(n: number, what: string): Promise<Buffer | undefined> {
    const first = await this.readSome(n);
    if (first === undefined) return undefined;
    if (first.length === n) return first;
    const parts = [Buffer.from(first)];
    let have = first.length;
    while (have < n) {
      const more = await this.readSome(n - have);
      if (more === undefined) throw truncated(what);
      parts.push(Buffer.from(more));
      have += more.length;
    }
    return Buffer.concat(parts, n);
  }

  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const chunk = await this.readSome(Math.min(left, 1 << 20));
      if (chunk === undefined) throw truncated(what);
      left -= chunk.length;
    }
  }

  /** Reads and discards everything left (so the decoder verifies its trailers). */
  async drain(): Promise<void> {
    while ((await this.readSome(1 << 20)) !== undefined) {
      // discard
    }
  }

  async close(): Promise<void> {
    this.#done = true;
    await this.#iterator.return?.();
  }
}

export function truncated(what: string): BackupError {
  return new BackupError("ARCHIVE_TRUNCATED", `archive is truncated (inside ${what})`, {
    hint: "the file is incomplete: check that the upload or download finished",
  });
}
