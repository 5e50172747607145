import { crc32 } from "node:zlib";

/** gzip member header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS 255 (unknown). */
const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff);
const MAX_STORED_BLOCK = 0xffff;
/** An empty final stored block: BFINAL=1, BTYPE=00, LEN=0, NLEN=0xffff. */
const FINAL_EMPTY_BLOCK = Uint8Array.of(0x01, 0x00, 0x00, 0xff, 0xff);

/** Length of a gzip member holding `n ≤ 65535` bytes in one stored block: 10 + 5 + n + 8. */
export function storedMemberLength(n: number): number {
  return GZIP_HEADER.length + 5 + n + 8;
}

function trailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 2 ** 32, true);
  return out;
}

/**
 * A complete gzip member with `data` (≤ 65535 bytes) in a single final stored block. Its length depends
 * only on `data.length`, which is what makes a tar header patchable in place (535 bytes for 512).
 */
export function storedMember(data: Uint8Array): Uint8Array {
  if (data.length > MAX_STORED_BLOCK) throw new RangeError("stored member larger than one block");
  const out = new Uint8Array(storedMemberLength(data.length));
  out.set(GZIP_HEADER, 0);
  const o = GZIP_HEADER.length;
  out[o] = 0x01;
  out[o + 1] = data.length & 0xff;
  out[o + 2] = data.length >>> 8;
  out[o + 3] = ~data.length & 0xff;
  out[o + 4] = (~data.length >>> 8) & 0xff;
  out.set(data, o + 5);
  out.set(trailer(crc32(data), data.length), o + 5 + data.length);
  return out;
}

/**
 * Incrementally frames bytes as one gzip member made of stored deflate blocks (no compression, ~memcpy
 * speed). `push` returns the framed bytes for a chunk; `finish` the closing block and trailer.
 */
export class StoredMemberEncoder {
  #crc = 0;
  #size = 0;
  #started = false;

  push(chunk: Uint8Array): Uint8Array {
    if (chunk.length === 0) return new Uint8Array(0);
    const blocks = Math.ceil(chunk.length / MAX_STORED_BLOCK);
    const head = this.#started ? 0 : GZIP_HEADER.length;
    const out = Buffer.allocUnsafe(head + blocks * 5 + chunk.length);
    let o = 0;
    if (!this.#started) {
      out.set(GZIP_HEADER, 0);
      o = head;
      this.#started = true;
    }
    for (let pos = 0; pos < chunk.length; pos += MAX_STORED_BLOCK) {
      const n = Math.min(MAX_STORED_BLOCK, chunk.length - pos);
      out[o] = 0x00;
      out[o + 1] = n & 0xff;
      out[o + 2] = n >>> 8;
      out[o + 3] = ~n & 0xff;
      out[o + 4] = (~n >>> 8) & 0xff;
      out.set(chunk.subarray(pos, pos + n), o + 5);
      o += 5 + n;
    }
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
    return out;
  }

  /**
   * Like {@link push} without copying: the block headers as small arrays and views of `chunk`
   * itself (which must not change afterwards).
   */
  pushParts(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    const parts: Uint8Array[] = [];
    for (let pos = 0; pos < chunk.length; pos += MAX_STORED_BLOCK) {
      const n = Math.min(MAX_STORED_BLOCK, chunk.length - pos);
      const head = this.#started ? 0 : GZIP_HEADER.length;
      const header = new Uint8Array(head + 5);
      if (!this.#started) {
        header.set(GZIP_HEADER, 0);
        this.#started = true;
      }
      header[head + 1] = n & 0xff;
      header[head + 2] = n >>> 8;
      header[head + 3] = ~n & 0xff;
      header[head + 4] = (~n >>> 8) & 0xff;
      parts.push(header, chunk.subarray(pos, pos + n));
    }
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
    return parts;
  }

  /** Closes the member; returns nothing when no byte was ever pushed (no empty member is emitted). */
  finish(): Uint8Array {
    if (!this.#started) return new Uint8Array(0);
    const out = new Uint8Array(FINAL_EMPTY_BLOCK.length + 8);
    out.set(FINAL_EMPTY_BLOCK, 0);
    out.set(trailer(this.#crc, this.#size), FINAL_EMPTY_BLOCK.length);
    return out;
  }
}
