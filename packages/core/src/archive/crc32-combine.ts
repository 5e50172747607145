/** The reflected CRC-32 polynomial of gzip (and of `zlib.crc32`). */
const POLY = 0xedb88320;

/** a × b modulo the CRC polynomial (reflected bit order, as zlib's `multmodp`); `a` must not be 0. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let x = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= x;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    x = x & 1 ? (x >>> 1) ^ POLY : x >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial for k = 0…31; the cycle repeats after that. */
const X2N = (() => {
  const table = new Uint32Array(32);
  let p = 0x40000000; // x^1
  for (let k = 0; k < 32; k++) {
    table[k] = p;
    p = multModP(p, p);
  }
  return table;
})();

/** x^(n × 2^k) modulo the polynomial; `n` may exceed 2^32 (any safe integer). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0 = 1
  let rest = n;
  let i = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multModP(X2N[i & 31] as number, p);
    rest = Math.floor(rest / 2);
    i++;
  }
  return p;
}

/**
 * CRC-32 of `A ‖ B` from `crc32(A)`, `crc32(B)` and the length of B (zlib's `crc32_combine`, as pigz
 * joins the CRCs of blocks compressed in parallel). O(log len2), independent of the bytes.
 */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (!Number.isSafeInteger(len2) || len2 < 0) throw new RangeError(`invalid length ${len2}`);
  return (multModP(x2nModP(len2, 3), crc1 >>> 0) ^ (crc2 >>> 0)) >>> 0;
}
