import { promisify } from "node:util";
import { constants, crc32, deflateRaw } from "node:zlib";
import { crc32Combine } from "./crc32-combine.js";

/**
 * Pieces of ONE gzip member written as a sequence of deflate blocks, none final until the end: the
 * 10-byte header, stored blocks (fixed length, so a tar header in one can be patched in place),
 * independently deflated segments ending on a byte boundary, and the closing empty final block with
 * the trailer (CRC-32 joined with `crc32Combine`, ISIZE mod 2^32).
 */

/** gzip header: magic, CM=deflate, no flags, MTIME 0, XFL 0, OS 255 (unknown). */
export const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff);
/** Largest payload of one stored block. */
export const MAX_STORED_BLOCK = 0xffff;
/** Bytes a stored block adds to its payload: BFINAL/BTYPE byte, LEN, NLEN. */
export const STORED_BLOCK_OVERHEAD = 5;
/** Closes the member: an empty stored block with BFINAL=1 (LEN 0, NLEN 0xffff). */
const FINAL_EMPTY_BLOCK = Uint8Array.of(0x01, 0x00, 0x00, 0xff, 0xff);

function writeStoredHeader(out: Uint8Array, at: number, n: number): void {
  out[at] = 0x00; // BFINAL=0, BTYPE=00, padding to the byte boundary
  out[at + 1] = n & 0xff;
  out[at + 2] = n >>> 8;
  out[at + 3] = ~n & 0xff;
  out[at + 4] = (~n >>> 8) & 0xff;
}

/**
 * One non-final stored block holding `data` (≤ 65535 bytes). Its length depends only on
 * `data.length` (517 bytes for a 512-byte tar header), which is what makes it patchable in place.
 */
export function storedBlock(data: Uint8Array): Uint8Array {
  if (data.length > MAX_STORED_BLOCK) throw new RangeError("stored block larger than 65535 bytes");
  const out = new Uint8Array(STORED_BLOCK_OVERHEAD + data.length);
  writeStoredHeader(out, 0, data.length);
  out.set(data, STORED_BLOCK_OVERHEAD);
  return out;
}

/**
 * `chunk` as non-final stored blocks without copying it: 5-byte block headers and views of `chunk`
 * itself, which must not change afterwards.
 */
export function storedBlockParts(chunk: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let pos = 0; pos < chunk.length; pos += MAX_STORED_BLOCK) {
    const n = Math.min(MAX_STORED_BLOCK, chunk.length - pos);
    const header = new Uint8Array(STORED_BLOCK_OVERHEAD);
    writeStoredHeader(header, 0, n);
    parts.push(header, chunk.subarray(pos, pos + n));
  }
  return parts;
}

/** The final empty block and the trailer: 13 bytes. */
export function gzipEnd(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(FINAL_EMPTY_BLOCK.length + 8);
  out.set(FINAL_EMPTY_BLOCK, 0);
  const view = new DataView(out.buffer);
  view.setUint32(FINAL_EMPTY_BLOCK.length, crc >>> 0, true);
  view.setUint32(FINAL_EMPTY_BLOCK.length + 4, size % 2 ** 32, true);
  return out;
}

/** CRC-32 and length of uncompressed bytes, extended by bytes or by the CRC of a later segment. */
export class Crc32Accumulator {
  crc = 0;
  /** Exact (not mod 2^32) up to 2^53. */
  length = 0;

  update(bytes: Uint8Array): void {
    this.crc = crc32(bytes, this.crc);
    this.length += bytes.length;
  }

  /** Appends a segment known only by its CRC and length. */
  append(crc: number, length: number): void {
    this.crc = crc32Combine(this.crc, crc, length);
    this.length += length;
  }
}

const deflateRawAsync = promisify(deflateRaw);

/**
 * Deflates `data` as an independent raw segment on the libuv thread pool, ending with a sync flush:
 * byte-aligned, no final block, no reference to earlier bytes, so segments compressed in parallel
 * can be concatenated inside one member.
 */
export function deflateSegment(data: Uint8Array, level: number): Promise<Buffer> {
  return deflateRawAsync(data, { level, finishFlush: constants.Z_SYNC_FLUSH });
}
