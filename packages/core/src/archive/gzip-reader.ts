import { crc32, createInflateRaw } from "node:zlib";
import { BackupError } from "../errors.js";
import { truncated } from "./byte-reader.js";

/**
 * Decodes a gzip stream (one member or several) into the bytes it holds.
 *
 * Stored deflate blocks — how the writer emits tar headers and already-compressed dumps, i.e. nearly
 * every byte of a backup — are handed out as views of the input, checked by a CRC-32 on the way: no
 * copy, no allocation, no thread-pool round trip. Verifying a 512 MiB archive of stored entries from
 * MinIO took 2.2–3.1 s of CPU when zlib inflated everything, 1.7–2.0 s this way, of which the
 * read alone is ~1.0 s and SHA-256 ~0.4 s (load 7–15 on 2 cores; bench/README.md, "Pass 1").
 * From the first compressed block of a member to the end of that member zlib inflates, on the thread
 * pool, fed in blocks; this reader takes over again at the member's trailer.
 *
 * Like zlib, which fills its output buffer before handing anything out, stored blocks are decoded in
 * batches of up to {@link BATCH_BYTES} and a batch is handed out only once it decoded cleanly — so damage
 * just after an entry fails the read before that entry's end is handed out, as it did when zlib decoded
 * everything. A batch is cut short as soon as the source pauses ({@link SOURCE_IDLE_MS}), so a stalled
 * source never holds back bytes that have arrived. A batch that reaches a compressed block is read again
 * by zlib from its first block boundary (the preceding 32 KiB of output as zlib's dictionary).
 *
 * Errors are the ones zlib gives for the same damage: `ARCHIVE_TRUNCATED` when the input ends early,
 * `ARCHIVE_CORRUPT` for a bad header, stored-block length, CRC-32 or ISIZE. What follows a member is
 * another member, or zero padding that is ignored with everything after it (as Node's gunzip does).
 *
 * Memory: the batch (views of at most `BATCH_BYTES` plus one source chunk), the last 32 KiB of output,
 * and, while zlib inflates, one input block of up to {@link INFLATE_INPUT_BYTES} and zlib's buffers.
 */
export async function* gunzip(
  source: AsyncIterable<Buffer>,
  counter: { bytes: number },
): AsyncGenerator<Buffer> {
  const input = new GzipInput(source, counter);
  const recent = new RecentOutput();
  try {
    for (let members = 0; ; members++) {
      const next = await input.peekByte();
      if (next === undefined) {
        if (members === 0) throw truncated("the gzip stream");
        return;
      }
      if (members > 0 && next === 0) return;
      await readMemberHeader(input);
      const member = new StoredBlocks(input);
      for (;;) {
        const batch = await member.decodeBatch();
        if (batch.inflate === undefined) {
          for (const view of batch.views) {
            recent.add(view);
            yield view;
          }
          if (member.checked) break;
          continue;
        }
        for (const view of batch.views.slice(0, batch.inflate.from)) {
          recent.add(view);
          yield view;
        }
        const check = batch.inflate.check;
        yield* inflateToMemberEnd(input, check, recent.window());
        checkTrailer(await input.exact(8), check);
        break;
      }
    }
  } finally {
    await input.close();
  }
}

/** Maps zlib's errors to ours; BackupErrors pass through. */
export function zlibError(error: unknown): BackupError {
  if (error instanceof BackupError) return error;
  const code = (error as { code?: string }).code;
  if (code === "Z_BUF_ERROR") return truncated("the gzip stream");
  if (typeof code === "string" && code.startsWith("Z_")) return corrupt((error as Error).message, error);
  return error as BackupError;
}

function corrupt(what: string, cause?: unknown): BackupError {
  return new BackupError("ARCHIVE_CORRUPT", `corrupt gzip data: ${what}`, {
    ...(cause === undefined ? {} : { cause }),
    hint: "the archive is damaged",
  });
}

interface Check {
  crc: number;
  size: number;
}

function checkTrailer(trailer: Buffer, check: Check): void {
  if (trailer.readUInt32LE(0) !== check.crc >>> 0) throw corrupt("incorrect data check");
  if (trailer.readUInt32LE(4) !== check.size % 2 ** 32) throw corrupt("incorrect length check");
}

/**
 * Output decoded ahead before any of it is handed out: 256 KiB, zlib's own output buffer. Each batch holds
 * views of the source's chunks (S3 body chunks of up to 64 KiB), so it also bounds how long they stay
 * referenced: with 1 MiB, chunks in flight lived through two scavenges of the 1 MiB young generation,
 * were promoted, and waited for a mark-compact as tens of MiB of dead ArrayBuffers (packages/core
 * README, "Memory").
 */
const BATCH_BYTES = 256 * 1024;

interface Batch {
  views: Buffer[];
  /**
   * Set when a compressed block was reached: `views` from `from` on are decoded again by zlib, from the
   * batch's first block boundary, where the member's CRC-32 and length were `check`.
   */
  inflate?: { from: number; check: Check };
}

/** The stored blocks of one member, decoded batch by batch (a batch may start or end inside a block). */
class StoredBlocks {
  readonly #input: GzipInput;
  readonly #check: Check = { crc: 0, size: 0 };
  /** Payload bytes of the current stored block not decoded yet. */
  #storedLeft = 0;
  #final = false;
  /** The trailer was read and matched: the member is done. */
  checked = false;

  constructor(input: GzipInput) {
    this.#input = input;
  }

  async decodeBatch(): Promise<Batch> {
    const input = this.#input;
    const views: Buffer[] = [];
    /** Input taken (bounds what `rewind` may have to put back), nearly all of it output. */
    let bytes = 0;
    let boundary: { from: number; check: Check } | undefined;
    try {
      while (bytes < BATCH_BYTES) {
        const idleOk = views.length > 0;
        if (this.#storedLeft > 0) {
          if ((await input.ready(1, idleOk)) !== true) break;
          const view = input.take(this.#storedLeft);
          this.#check.crc = crc32(view, this.#check.crc);
          this.#check.size += view.length;
          this.#storedLeft -= view.length;
          bytes += view.length;
          views.push(view);
          continue;
        }
        if (this.#final) {
          if ((await input.ready(8, idleOk)) !== true) break;
          checkTrailer(input.take(8), this.#check);
          this.checked = true;
          break;
        }
        if (boundary === undefined) {
          input.mark();
          boundary = { from: views.length, check: { ...this.#check } };
        }
        if ((await input.ready(1, idleOk)) !== true) break;
        const first = input.peek();
        if (((first >> 1) & 3) !== 0) {
          input.rewind();
          return { views, inflate: boundary };
        }
        if ((await input.ready(5, idleOk)) !== true) break;
        const header = input.take(5);
        bytes += header.length;
        const length = (header[1] as number) | ((header[2] as number) << 8);
        const complement = (header[3] as number) | ((header[4] as number) << 8);
        if (length !== (~complement & 0xffff)) throw corrupt("invalid stored block lengths");
        this.#storedLeft = length;
        this.#final = (first & 1) === 1;
      }
    } finally {
      input.unmark();
    }
    if (views.length === 0 && !this.checked) throw truncated("the gzip stream");
    return { views };
  }
}

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED_FLAGS = 0xe0;

/** RFC 1952 member header, checked as zlib checks it (header CRC-16 included). */
async function readMemberHeader(input: GzipInput): Promise<void> {
  // Checked as the bytes come, like zlib: junk after a member is corrupt even when shorter than a header.
  const magic = await input.exact(2);
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw corrupt("incorrect header check");
  const method = await input.exact(2);
  if (method[0] !== 8) throw corrupt("unknown compression method");
  const flags = method[1] as number;
  if ((flags & RESERVED_FLAGS) !== 0) throw corrupt("unknown header flags set");
  let crc = crc32(await input.exact(6), crc32(method, crc32(magic)));
  if (flags & FEXTRA) {
    const xlen = await input.exact(2);
    crc = crc32(xlen, crc);
    for (let left = xlen.readUInt16LE(0); left > 0; ) {
      if ((await input.ready(1, false)) !== true) throw truncated("the gzip stream");
      const view = input.take(left);
      crc = crc32(view, crc);
      left -= view.length;
    }
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    // A zero-terminated string of any length: skipped, never held.
    for (;;) {
      if ((await input.ready(1, false)) !== true) throw truncated("the gzip stream");
      const end = input.indexOfZero();
      const view = input.take(end === -1 ? Number.MAX_SAFE_INTEGER : end + 1);
      crc = crc32(view, crc);
      if (end !== -1) break;
    }
  }
  if (flags & FHCRC) {
    const stored = await input.exact(2);
    if (stored.readUInt16LE(0) !== (crc & 0xffff)) throw corrupt("header crc mismatch");
  }
}

/** The last 32 KiB of output: zlib's dictionary when it takes over inside a member. */
class RecentOutput {
  static readonly WINDOW = 32 * 1024;
  #views: Buffer[] = [];
  #bytes = 0;

  add(view: Buffer): void {
    this.#views.push(view);
    this.#bytes += view.length;
    while (this.#views.length > 1 && this.#bytes - (this.#views[0] as Buffer).length >= RecentOutput.WINDOW) {
      this.#bytes -= (this.#views.shift() as Buffer).length;
    }
  }

  window(): Buffer {
    const all = Buffer.concat(this.#views, this.#bytes);
    return all.subarray(Math.max(0, all.length - RecentOutput.WINDOW));
  }
}

/**
 * Compressed input that has already arrived is handed to zlib in blocks of up to about this size: S3
 * bodies arrive in ~64 KiB chunks and each zlib write costs a thread-pool round trip (verifying a
 * 500 MiB deflated archive from MinIO: a median 4.3 s chunk by chunk, 3.1 s in blocks, 6 interleaved
 * runs each). Bytes are not held once the source pauses, so a bad entry followed by a stall still fails
 * at once, and a restore's load starts as soon as its bytes are here.
 */
const INFLATE_INPUT_BYTES = 1024 * 1024;
/** Output buffer of zlib (each full one is a thread-pool round trip). */
const INFLATE_OUTPUT_BYTES = 256 * 1024;
/** A pause this long means the source is idle, not just between two socket reads. */
const SOURCE_IDLE_MS = 5;
const IDLE = Symbol("idle");

async function settledOrIdle<T>(pending: Promise<T>): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<typeof IDLE>((resolve) => {
    timer = setTimeout(resolve, SOURCE_IDLE_MS, IDLE);
  });
  try {
    return await Promise.race([pending, idle]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Raw-inflates from the current position (a block boundary) to the end of the member's final block,
 * with zlib; the input zlib did not consume (the trailer, further members) is put back. Updates `check`
 * with the CRC-32 and length of what it yields.
 */
async function* inflateToMemberEnd(
  input: GzipInput,
  check: Check,
  dictionary: Buffer,
): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw({
    chunkSize: INFLATE_OUTPUT_BYTES,
    ...(dictionary.length > 0 ? { dictionary } : {}),
  });
  const stop = new AbortController();
  let fed = 0;
  let sourceError: unknown;
  /** Writes one block and waits until zlib consumed it or ended; puts back what it did not use. */
  const feed = async (block: Buffer): Promise<boolean> => {
    fed += block.length;
    await new Promise<void>((resolve, reject) => {
      inflater.write(block, (error) => (error ? reject(error) : resolve()));
    });
    const unused = fed - inflater.bytesWritten;
    if (unused === 0) return true;
    input.unread(block.subarray(block.length - unused));
    return false;
  };
  const feeding = (async () => {
    let held: Buffer[] = [];
    let heldBytes = 0;
    const flush = async (): Promise<boolean> => {
      if (heldBytes === 0) return true;
      const block = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      return feed(block);
    };
    try {
      for (;;) {
        if (stop.signal.aborted || inflater.destroyed) return;
        const more = await input.ready(1, heldBytes > 0);
        if (more === IDLE) {
          if (!(await flush())) return;
          continue;
        }
        if (!more) break;
        const chunk = input.take(Number.MAX_SAFE_INTEGER);
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes >= INFLATE_INPUT_BYTES && !(await flush())) return;
      }
      // The source ended: zlib reports a deflate stream that had not ended yet (Z_BUF_ERROR: truncated).
      if (await flush()) inflater.end();
    } catch (error) {
      if (!stop.signal.aborted && !inflater.destroyed) {
        sourceError = error;
        inflater.destroy(error as Error);
      }
    }
  })();
  try {
    for await (const chunk of inflater) {
      const out = chunk as Buffer;
      check.crc = crc32(out, check.crc);
      check.size += out.length;
      yield out;
    }
    await feeding;
    if (sourceError !== undefined) throw sourceError;
  } catch (error) {
    throw sourceError ?? zlibError(error);
  } finally {
    stop.abort();
    inflater.destroy();
    // Not awaited when the read stops early: the feeder may be waiting on a stalled source; it stops at
    // its next chunk and never throws.
    void feeding;
  }
}

/**
 * The compressed bytes: a queue of the source's chunks (views, never copied but to join a few header
 * bytes), one source read in flight at most — it may outlive the wait that started it: its chunk is
 * queued when it arrives. What is taken after `mark()` can be put back with `rewind()`.
 */
class GzipInput {
  readonly #iterator: AsyncIterator<Buffer>;
  readonly #counter: { bytes: number };
  #queue: Buffer[] = [];
  #queued = 0;
  #reading: Promise<void> | undefined;
  #ended = false;
  #error: { error: unknown } | undefined;
  #taken: Buffer[] | undefined;

  constructor(source: AsyncIterable<Buffer>, counter: { bytes: number }) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#counter = counter;
  }

  /** The source has ended (what is queued is all there is). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * True once `n` bytes are queued; false if the source ends before. With `idleOk`, `IDLE` when the
   * source has not answered within {@link SOURCE_IDLE_MS} (the read stays in flight). Throws the
   * source's error.
   */
  async ready(n: number, idleOk: boolean): Promise<boolean | typeof IDLE> {
    while (this.#queued < n) {
      if (this.#error) throw this.#error.error;
      if (this.#ended) return false;
      this.#reading ??= this.#iterator.next().then(
        (next) => {
          this.#reading = undefined;
          if (next.done) this.#ended = true;
          else if (next.value.length > 0) {
            this.#counter.bytes += next.value.length;
            this.#queue.push(next.value);
            this.#queued += next.value.length;
          }
        },
        (error: unknown) => {
          this.#reading = undefined;
          this.#error = { error };
        },
      );
      if (idleOk) {
        if ((await settledOrIdle(this.#reading)) === IDLE) return IDLE;
      } else {
        await this.#reading;
      }
    }
    return true;
  }

  /** The next byte (call after `ready` returned true). */
  peek(): number {
    return (this.#queue[0] as Buffer)[0] as number;
  }

  /** Index of the first zero byte in the first queued chunk, -1 if none. */
  indexOfZero(): number {
    return (this.#queue[0] as Buffer).indexOf(0);
  }

  /**
   * Up to `max` queued bytes, at least one (call after `ready`): a view of the first chunk — or, for
   * `max` ≤ 8 bytes all queued (block headers, trailers) but spread over chunks, a copy joining them.
   */
  take(max: number): Buffer {
    return max <= 8 && this.#queued >= max ? this.#join(max) : this.#takeView(max);
  }

  /** Exactly `n` queued bytes: a view when one chunk holds them, else a copy. */
  #join(n: number): Buffer {
    const first = this.#takeView(n);
    if (first.length === n) return first;
    const parts = [first];
    for (let have = first.length; have < n; ) {
      const part = this.#takeView(n - have);
      parts.push(part);
      have += part.length;
    }
    return Buffer.concat(parts, n);
  }

  #takeView(max: number): Buffer {
    const head = this.#queue[0] as Buffer;
    let view: Buffer;
    if (head.length <= max) {
      view = head;
      this.#queue.shift();
    } else {
      view = head.subarray(0, max);
      this.#queue[0] = head.subarray(max);
    }
    this.#queued -= view.length;
    this.#taken?.push(view);
    return view;
  }

  /** Exactly `n` bytes; the source ending first is a truncation. */
  async exact(n: number): Promise<Buffer> {
    if ((await this.ready(n, false)) !== true) throw truncated("the gzip stream");
    return this.#join(n);
  }

  async peekByte(): Promise<number | undefined> {
    return (await this.ready(1, false)) === true ? this.peek() : undefined;
  }

  /** Puts bytes back in front of the queue. */
  unread(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#queue.unshift(bytes);
    this.#queued += bytes.length;
  }

  mark(): void {
    this.#taken = [];
  }

  unmark(): void {
    this.#taken = undefined;
  }

  /** Puts back everything taken since `mark()`. */
  rewind(): void {
    const taken = this.#taken ?? [];
    this.#taken = undefined;
    for (let i = taken.length - 1; i >= 0; i--) this.unread(taken[i] as Buffer);
  }

  async close(): Promise<void> {
    this.#queue = [];
    this.#queued = 0;
    if (this.#ended) return;
    this.#ended = true;
    if (this.#reading === undefined) {
      await this.#iterator.return?.();
      return;
    }
    // A read is in flight (the source may be stalled): the source is told to stop once it answers,
    // without waiting here. Its error on closing, if any, adds nothing to the one being reported.
    void this.#reading.then(() => this.#iterator.return?.()).catch(() => undefined);
  }
}
