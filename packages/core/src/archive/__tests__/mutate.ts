import { gunzipSync } from "node:zlib";
import { gzip } from "./helpers.js";

/** Small deterministic PRNG (mulberry32) so a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One random damage to an archive: bytes overwritten, one bit flipped (a BFINAL or BTYPE bit, a LEN
 * bit of a stored block…), a cut, a deletion, inserted junk, a duplicated range, or damage to the tar
 * itself re-gzipped so the tar parser sees what the gzip CRC would otherwise hide.
 */
export function mutate(input: Buffer, rand: () => number): Buffer {
  const at = () => Math.floor(rand() * input.length);
  switch (Math.floor(rand() * 7)) {
    case 0: {
      const out = Buffer.from(input);
      for (let i = 0, n = 1 + Math.floor(rand() * 4); i < n; i++) out[at()] = Math.floor(rand() * 256);
      return out;
    }
    case 1:
      return input.subarray(0, at());
    case 2: {
      const p = at();
      return Buffer.concat([input.subarray(0, p), input.subarray(p + 1 + Math.floor(rand() * 600))]);
    }
    case 3: {
      const p = at();
      const junk = Buffer.from(
        Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)),
      );
      return Buffer.concat([input.subarray(0, p), junk, input.subarray(p)]);
    }
    case 4: {
      const p = at();
      const q = Math.min(input.length, p + Math.floor(rand() * 2000));
      return Buffer.concat([input.subarray(0, q), input.subarray(p, q), input.subarray(q)]);
    }
    case 5: {
      const out = Buffer.from(input);
      const p = at();
      out[p] = (out[p] as number) ^ (1 << Math.floor(rand() * 8));
      return out;
    }
    default: {
      let tar: Buffer;
      try {
        tar = gunzipSync(input);
      } catch {
        // Not a gzip stream (the encrypted base): nothing to re-gzip, the input goes through unchanged.
        return input;
      }
      const out = Buffer.from(tar);
      for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) {
        out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
      }
      return gzip(out);
    }
  }
}
