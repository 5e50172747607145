import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { ArchiveSink, SinkCommit } from "../archive-sink.js";
import { encodeTarHeader, TAR_BLOCK, writeChecksum } from "../tar-header.js";

/** An in-memory ArchiveSink (a real implementation of the contract, for fast tests). */
export class MemorySink implements ArchiveSink {
  chunks: Buffer[] = [];
  #position = 0;
  placeholders = new Map<number, number>();
  /** Every patch, in order: where and how long. */
  patches: Array<{ offset: number; length: number }> = [];
  committed: Buffer | undefined;
  aborted = false;

  get position(): number {
    return this.#position;
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(Buffer.from(chunk));
    this.#position += chunk.length;
  }
  async writePlaceholder(chunk: Uint8Array): Promise<number> {
    const offset = this.#position;
    this.placeholders.set(offset, chunk.length);
    await this.write(chunk);
    return offset;
  }
  async patch(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.placeholders.get(offset) !== bytes.length) throw new Error(`bad patch at ${offset}`);
    this.placeholders.delete(offset);
    this.patches.push({ offset, length: bytes.length });
    const all = Buffer.concat(this.chunks);
    all.set(bytes, offset);
    this.chunks = [all];
  }
  async commit(): Promise<SinkCommit> {
    if (this.placeholders.size > 0) throw new Error("unpatched placeholders");
    this.committed = Buffer.concat(this.chunks);
    return { location: "memory", size: this.committed.length };
  }
  async abort(): Promise<void> {
    this.aborted = true;
    this.chunks = [];
  }
}

export async function* bufferSource(data: Uint8Array, chunkSize = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += chunkSize) {
    yield Buffer.from(data.subarray(i, i + chunkSize));
  }
}

/**
 * Incompressible bytes generated on the fly (a random 1 MiB block, each chunk stamped with a counter):
 * constant memory for any size. `prefix` replaces the first bytes (e.g. a magic number).
 */
export async function* patternSource(
  size: number,
  options: { chunkSize?: number; prefix?: Uint8Array; seed?: Buffer } = {},
): AsyncGenerator<Buffer> {
  const chunkSize = options.chunkSize ?? 1024 * 1024;
  const base = options.seed ?? randomBytes(chunkSize);
  let sent = 0;
  let counter = 0;
  while (sent < size) {
    const n = Math.min(chunkSize, size - sent);
    const chunk = Buffer.allocUnsafe(n);
    base.copy(chunk, 0, 0, n);
    if (n >= 8) chunk.writeBigUInt64BE(BigInt(counter++), 0);
    if (sent === 0 && options.prefix) chunk.set(options.prefix.subarray(0, n), 0);
    sent += n;
    yield chunk;
  }
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function collect(source: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

export interface RawEntry {
  name: string;
  /** Tar type flag; default "0" (file), "5" dir, "2" symlink… */
  typeflag?: string;
  data?: Uint8Array;
  linkname?: string;
  /** Lie about the size in the header. */
  size?: number;
}

/** Hand-built tar bytes (USTAR headers, any names and types) ending with the two zero blocks. */
export function buildTar(entries: RawEntry[], options: { endMarker?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? new Uint8Array(0));
    const typeflag = e.typeflag ?? "0";
    const header = encodeTarHeader({
      name: "x",
      type: typeflag === "5" ? "directory" : "file",
      size: e.size ?? data.length,
      mtime: 1769764831,
    });
    const nameBytes = Buffer.from(e.name, "utf8");
    if (nameBytes.length > 100) throw new Error("name too long for buildTar");
    header.fill(0, 0, 100);
    header.set(nameBytes, 0);
    header[156] = typeflag.charCodeAt(0);
    if (e.linkname) header.set(Buffer.from(e.linkname), 157);
    writeChecksum(header);
    parts.push(Buffer.from(header));
    if (data.length > 0) {
      parts.push(data);
      const pad = (TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  if (options.endMarker !== false) parts.push(Buffer.alloc(2 * TAR_BLOCK));
  return Buffer.concat(parts);
}

/** Go-style metadata JSON text for fixtures. */
export function metadataJson(value: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(value, null, 4));
}

export function gzip(tar: Uint8Array): Buffer {
  return gzipSync(tar);
}
