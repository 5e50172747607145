import { createHash } from "node:crypto";
import { crc32, deflateRawSync } from "node:zlib";
import { BackupError } from "../errors.js";
import type { ArchiveSink, SinkCommit } from "./archive-sink.js";
import { type BackupMetadata, METADATA_VERSION, serializeBackupMetadata } from "./backup-metadata.js";
import { toBuffer } from "./bytes.js";
import {
  Crc32Accumulator,
  deflateSegment,
  GZIP_HEADER,
  gzipEnd,
  storedBlock,
  storedBlockParts,
} from "./gzip-stream.js";
import { encodeTarHeader, TAR_BLOCK } from "./tar-header.js";

/** Top-level directory of every archive. */
export const ARCHIVE_ROOT = "backup";
/** Metadata path relative to the root. */
export const METADATA_FILE = "backup_information.json";

/** How an entry's bytes are encoded. `auto` stores already-compressed data and deflates the rest. */
export type EntryCompression = "auto" | "store" | "deflate";

/**
 * Tuning of ArchiveWriter; every field has a default. Memory: the entry sample plus `(parallelism + 1) ×
 * deflateBlockBytes` and zlib state, plus what the sink holds.
 */
export interface ArchiveWriterOptions {
  /** zlib level for deflated entries. Default 1 (fast; dumps that compress well still shrink a lot). */
  level?: number;
  /** Modification time of every entry. Default: when the writer was created. */
  mtime?: Date;
  /**
   * Bytes sampled from the start of an `auto` entry to decide store vs deflate. Default 64 KiB; this is
   * the only part of an entry ever held in memory by the writer.
   */
  sampleBytes?: number;
  /**
   * Deflated entries are cut into blocks of this size, each deflated as an independent segment (sync
   * flush) on the libuv thread pool. Default 4 MiB.
   */
  deflateBlockBytes?: number;
  /**
   * Blocks compressed at the same time (uses that many cores). Default 2. Memory: about
   * `(parallelism + 1) × deflateBlockBytes` for input plus the compressed output.
   */
  parallelism?: number;
}

/** Options of ArchiveWriter.addFile. */
export interface AddFileOptions {
  /** Default `auto`. */
  compression?: EntryCompression;
}

/** An entry the writer finished: its size, digest and how it was encoded. */
export interface WrittenEntry {
  /** Path relative to `backup/`, e.g. `database/neo4j.dump`; this is also its checksum key. */
  path: string;
  /** Bytes of the entry's data (uncompressed). */
  size: number;
  /** Lower-case hex SHA-256 of the entry's data. */
  sha256: string;
  /** How the entry was encoded in the gzip stream. */
  compression: "store" | "deflate";
}

/** Metadata supplied by the caller; the writer fills in `checksums` (and `metadataVersion` if absent). */
export type MetadataInput = Omit<BackupMetadata, "checksums" | "metadataVersion" | "unknownKeys"> & {
  metadataVersion?: number;
};

/** What ArchiveWriter.finish wrote and where the sink committed it. */
export interface ArchiveWriteResult {
  /** The metadata as written (with checksums). */
  metadata: BackupMetadata;
  /** Every file entry, in archive order. */
  entries: WrittenEntry[];
  /** The sink's commit (location, size). */
  commit: SinkCommit;
}

/** Magic numbers of formats that are already compressed: Neo4j dumps (zstd / gzip) and pg_dump -Fc. */
const COMPRESSED_MAGIC = ["DZV1", "DGV1", "PGDMP"].map((m) => Buffer.from(m, "latin1"));

/** Decides the encoding of an entry from its first bytes. */
export function chooseCompression(sample: Uint8Array): "store" | "deflate" {
  const head = Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength);
  if (COMPRESSED_MAGIC.some((magic) => head.subarray(0, magic.length).equals(magic))) return "store";
  if (sample.length < 512) return "deflate";
  const deflated = deflateRawSync(sample, { level: 1 });
  return deflated.length < sample.length * 0.9 ? "deflate" : "store";
}

const SAFE_SEGMENT = /^[A-Za-z0-9._+@=,-][A-Za-z0-9._+@=, -]*$/;

function validateEntryPath(path: string): string[] {
  const segments = path.split("/");
  const ok =
    segments.every((s) => s !== "" && s !== "." && s !== ".." && SAFE_SEGMENT.test(s)) &&
    (path === "prefect.dump" || (segments[0] === "database" && segments.length >= 2));
  if (!ok || path === `${METADATA_FILE}`) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `archive entry path must be prefect.dump or database/<file>: ${JSON.stringify(path)}`,
    );
  }
  return segments;
}

/**
 * Throws `INVALID_ARGUMENT` unless `path` (relative to `backup/`) can be written: `prefect.dump` or
 * `database/<…>` with safe segments, and a name that fits one tar header. Lets a caller refuse its
 * input before anything is written.
 */
export function checkEntryPath(path: string): void {
  validateEntryPath(path);
  encodeTarHeader({ name: `${ARCHIVE_ROOT}/${path}`, type: "file", size: 0, mtime: 0 });
}

/**
 * Streams an upstream-layout archive (`backup/`, `backup/database/…`, `backup/prefect.dump`, then
 * `backup/backup_information.json`) into a sink, as ONE gzip member (layout in README.md). Entries have
 * unknown length: each tar header is a fixed-length stored block written as a placeholder and patched
 * when the entry ends, so nothing is spooled; the trailer's CRC-32 joins the patched headers' and the
 * data's CRCs. SHA-256 is computed while the bytes flow. Memory: the sample of the current entry plus
 * zlib state and whatever the sink holds.
 *
 * Any failure aborts the sink; the caller may also `abort()` (or dispose) at any time.
 */
export class ArchiveWriter implements AsyncDisposable {
  readonly #sink: ArchiveSink;
  readonly #level: number;
  readonly #mtime: number;
  readonly #sampleBytes: number;
  readonly #blockBytes: number;
  readonly #parallelism: number;
  readonly #entries: WrittenEntry[] = [];
  readonly #dirs = new Set<string>();
  /** CRC-32 and length of the tar stream written so far (patched headers as patched). */
  readonly #tar = new Crc32Accumulator();
  #started = false;
  #busy = false;
  #state: "open" | "finished" | "failed" = "open";

  constructor(sink: ArchiveSink, options: ArchiveWriterOptions = {}) {
    this.#sink = sink;
    this.#level = options.level ?? 1;
    this.#mtime = Math.floor((options.mtime ?? new Date()).getTime() / 1000);
    this.#sampleBytes = options.sampleBytes ?? 64 * 1024;
    this.#blockBytes = options.deflateBlockBytes ?? 4 * 1024 * 1024;
    this.#parallelism = Math.max(1, options.parallelism ?? 2);
  }

  /** The file entries written so far, in order. */
  get entries(): readonly WrittenEntry[] {
    return this.#entries;
  }

  /**
   * Adds `backup/<path>` from a byte source of unknown length (a `Readable`, an async generator…).
   * Entries are written one at a time. The source must not modify a chunk after yielding it (stored
   * data is handed to the sink without copying; Node streams never do).
   */
  async addFile(
    path: string,
    source: AsyncIterable<unknown>,
    options: AddFileOptions = {},
  ): Promise<WrittenEntry> {
    const segments = validateEntryPath(path);
    if (this.#entries.some((e) => e.path === path) || this.#dirs.has(`${ARCHIVE_ROOT}/${path}`)) {
      throw new BackupError("INVALID_ARGUMENT", `archive entry added twice: ${path}`);
    }
    this.#refuseFileAsParent(segments);
    return this.#run(async () => {
      await this.#ensureDirs(segments.slice(0, -1));
      const entry = await this.#writeFile(`${ARCHIVE_ROOT}/${path}`, source, options.compression ?? "auto");
      const written = { ...entry, path };
      this.#entries.push(written);
      return written;
    });
  }

  /**
   * Adds the directory `backup/database/…` (and its parents) — only needed for a directory that holds
   * no file, since `addFile` writes the parents of each file.
   */
  async addDirectory(path: string): Promise<void> {
    const segments = validateEntryPath(path);
    if (segments[0] !== "database" || this.#entries.some((e) => e.path === path)) {
      throw new BackupError("INVALID_ARGUMENT", `archive directory must be a new database/<dir>: ${path}`);
    }
    encodeTarHeader({ name: `${ARCHIVE_ROOT}/${path}`, type: "directory", size: 0, mtime: 0 });
    this.#refuseFileAsParent([...segments, ""]);
    await this.#run(() => this.#ensureDirs(segments));
  }

  /** A file already written cannot also be the directory of a later entry. */
  #refuseFileAsParent(segments: string[]): void {
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join("/");
      if (this.#entries.some((e) => e.path === parent)) {
        throw new BackupError("INVALID_ARGUMENT", `archive entry ${parent} is a file, not a directory`);
      }
    }
  }

  /** Writes the metadata (with the checksums of every entry) last, closes the tar and commits the sink. */
  async finish(input: MetadataInput): Promise<ArchiveWriteResult> {
    return this.#run(async () => {
      const hasPrefect = this.#entries.some((e) => e.path === "prefect.dump");
      if (hasPrefect !== input.components.includes("task-manager-db")) {
        throw new BackupError(
          "INVALID_ARGUMENT",
          "components must list task-manager-db exactly when prefect.dump is in the archive",
        );
      }
      if (!this.#entries.some((e) => e.path.startsWith("database/"))) {
        throw new BackupError("INVALID_ARGUMENT", "an archive needs at least one database/ entry");
      }
      const checksums: Record<string, string> = {};
      for (const e of this.#entries) checksums[e.path] = e.sha256;
      const metadata: BackupMetadata = {
        ...input,
        metadataVersion: input.metadataVersion ?? METADATA_VERSION,
        checksums,
      };
      const json = Buffer.from(serializeBackupMetadata(metadata), "utf8");
      await this.#ensureDirs(["database"]);
      const name = `${ARCHIVE_ROOT}/${METADATA_FILE}`;
      await this.#writeStored(encodeTarHeader({ name, type: "file", size: json.length, mtime: this.#mtime }));
      await this.#writeStored(json);
      const pad = (TAR_BLOCK - (json.length % TAR_BLOCK)) % TAR_BLOCK;
      if (pad > 0) await this.#writeStored(new Uint8Array(pad));
      // End of archive: two zero blocks; then the final empty block and the trailer.
      await this.#writeStored(new Uint8Array(2 * TAR_BLOCK));
      await this.#sink.write(gzipEnd(this.#tar.crc, this.#tar.length));
      const commit = await this.#sink.commit();
      this.#state = "finished";
      return { metadata, entries: [...this.#entries], commit };
    });
  }

  /** Discards the archive (nothing is left in the sink). Safe to call at any time, more than once. */
  async abort(reason?: unknown): Promise<void> {
    if (this.#state === "finished") return;
    this.#state = "failed";
    await this.#sink.abort(reason);
  }

  /** Aborts an archive that was not finished (`await using`); a finished one is left as committed. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort(new BackupError("CANCELLED", "archive writer disposed before finish"));
  }

  async #run<T>(step: () => Promise<T>): Promise<T> {
    if (this.#state !== "open") throw new BackupError("INTERNAL", `archive writer is ${this.#state}`);
    if (this.#busy) throw new BackupError("INTERNAL", "archive entries must be written one at a time");
    this.#busy = true;
    try {
      return await step();
    } catch (error) {
      this.#state = "failed";
      // The step's error is the one to report; a sink that also fails to abort cannot be helped here.
      await this.#sink.abort(error).catch(() => undefined);
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /** The gzip header, once, before the first block. */
  async #start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#sink.write(GZIP_HEADER);
  }

  /** Tar bytes that are final when written, as stored blocks. */
  async #writeStored(bytes: Uint8Array): Promise<void> {
    await this.#start();
    for (const part of storedBlockParts(bytes)) await this.#sink.write(part);
    this.#tar.update(bytes);
  }

  async #ensureDirs(segments: string[]): Promise<void> {
    const names = [ARCHIVE_ROOT];
    for (let i = 0; i < segments.length; i++)
      names.push(`${ARCHIVE_ROOT}/${segments.slice(0, i + 1).join("/")}`);
    for (const name of names) {
      if (this.#dirs.has(name)) continue;
      this.#dirs.add(name);
      await this.#writeStored(encodeTarHeader({ name, type: "directory", size: 0, mtime: this.#mtime }));
    }
  }

  async #writeFile(
    name: string,
    source: AsyncIterable<unknown>,
    compression: EntryCompression,
  ): Promise<Omit<WrittenEntry, "path">> {
    const sink = this.#sink;
    const mtime = this.#mtime;
    await this.#start();
    const offset = await sink.writePlaceholder(
      storedBlock(encodeTarHeader({ name, type: "file", size: 0, mtime })),
    );
    const hash = createHash("sha256");
    /** The entry's data and tar padding, joined after the patched header at the end. */
    const data = new Crc32Accumulator();
    let size = 0;

    const iterator = source[Symbol.asyncIterator]();
    const sample: Buffer[] = [];
    let sampled = 0;
    let ended = false;
    if (compression === "auto") {
      while (sampled < this.#sampleBytes) {
        const next = await iterator.next();
        if (next.done) {
          ended = true;
          break;
        }
        const chunk = toBuffer(next.value, "archive entry sources");
        sample.push(chunk);
        sampled += chunk.length;
      }
    }
    const mode = compression === "auto" ? chooseCompression(Buffer.concat(sample)) : compression;

    async function* counted(): AsyncGenerator<Buffer> {
      const take = (chunk: Buffer): Buffer => {
        hash.update(chunk);
        size += chunk.length;
        return chunk;
      };
      for (const chunk of sample.splice(0)) yield take(chunk);
      if (!ended) {
        for (;;) {
          const next = await iterator.next();
          if (next.done) break;
          const chunk = toBuffer(next.value, "archive entry sources");
          if (chunk.length > 0) yield take(chunk);
        }
      }
      const pad = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
      if (pad > 0) yield Buffer.alloc(pad);
    }

    try {
      if (mode === "store") {
        for await (const chunk of counted()) {
          for (const part of storedBlockParts(chunk)) await sink.write(part);
          data.update(chunk);
        }
      } else {
        await this.#deflateBlocks(counted(), data);
      }
    } catch (error) {
      // Closing the source is best effort: the write already failed with `error`, which is reported.
      await iterator.return?.().catch(() => undefined);
      throw error;
    }
    const header = encodeTarHeader({ name, type: "file", size, mtime });
    await sink.patch(offset, storedBlock(header));
    this.#tar.update(header);
    this.#tar.append(data.crc, data.length);
    return { size, sha256: hash.digest("hex"), compression: mode };
  }

  /**
   * Cuts the stream into blocks and deflates up to `parallelism` of them at once as independent
   * segments (zlib runs on the thread pool, so hashing on the main thread overlaps); segments are
   * written in order and their CRCs, computed here, joined into `data`.
   */
  async #deflateBlocks(source: AsyncIterable<Buffer>, data: Crc32Accumulator): Promise<void> {
    const inflight: Promise<Buffer>[] = [];
    const level = this.#level;
    let parts: Buffer[] = [];
    let held = 0;
    const submit = async (): Promise<void> => {
      if (held === 0) return;
      const block = Buffer.concat(parts, held);
      parts = [];
      held = 0;
      const job = deflateSegment(block, level);
      // Awaited below in order; this only keeps an early rejection from being reported as unhandled.
      job.catch(() => undefined);
      inflight.push(job);
      data.append(crc32(block), block.length);
      if (inflight.length >= this.#parallelism)
        await this.#sink.write(await (inflight.shift() as Promise<Buffer>));
    };
    for await (const chunk of source) {
      let pos = 0;
      while (pos < chunk.length) {
        const n = Math.min(chunk.length - pos, this.#blockBytes - held);
        parts.push(chunk.subarray(pos, pos + n));
        held += n;
        pos += n;
        if (held === this.#blockBytes) await submit();
      }
    }
    await submit();
    while (inflight.length > 0) await this.#sink.write(await (inflight.shift() as Promise<Buffer>));
  }
}
