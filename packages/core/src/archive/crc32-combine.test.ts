import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32Combine } from "./crc32-combine.js";

describe("crc32Combine", () => {
  it("equals zlib's crc32 of the concatenation, for any split of random data", () => {
    const data = randomBytes(300_000);
    const cuts = [0, 1, 2, 3, 7, 8, 255, 256, 65_535, 65_536, 123_457, 299_999, 300_000];
    for (let i = 0; i < 200; i++) cuts.push(Math.floor(Math.random() * data.length));
    for (const cut of cuts) {
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      expect(crc32Combine(crc32(a), crc32(b), b.length), `cut at ${cut}`).toBe(crc32(data));
    }
  });

  it("folds many segments in order, as the writer joins deflated blocks and patched headers", () => {
    const parts = Array.from({ length: 50 }, (_, i) => randomBytes(1 + ((i * 7919) % 5000)));
    let combined = 0;
    for (const part of parts) combined = crc32Combine(combined, crc32(part), part.length);
    expect(combined).toBe(crc32(Buffer.concat(parts)));
  });

  it("handles lengths beyond 2^32 (entries over 4 GiB) like zlib", () => {
    // 65 × 64 MiB of zeros = 4 GiB + 64 MiB, checked against zlib's running CRC over the same bytes.
    const block = Buffer.alloc(64 * 1024 * 1024);
    const head = randomBytes(1000);
    let running = crc32(head);
    let zerosCrc = 0;
    for (let i = 0; i < 65; i++) {
      running = crc32(block, running);
      zerosCrc = crc32(block, zerosCrc);
    }
    const length = 65 * block.length;
    expect(length).toBeGreaterThan(2 ** 32);
    expect(crc32Combine(crc32(head), zerosCrc, length)).toBe(running);
  });

  it("refuses lengths that are not safe non-negative integers", () => {
    expect(() => crc32Combine(0, 0, -1)).toThrow(RangeError);
    expect(() => crc32Combine(0, 0, 1.5)).toThrow(RangeError);
  });
});
