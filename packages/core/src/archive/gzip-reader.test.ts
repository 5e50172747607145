import { randomBytes } from "node:crypto";
import { crc32, deflateRawSync, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { bufferSource, collect } from "./__tests__/helpers.js";
import { gunzip } from "./gzip-reader.js";
import { GZIP_HEADER, gzipEnd, storedBlockParts } from "./gzip-stream.js";

async function decode(bytes: Buffer, chunk = 777): Promise<Buffer> {
  return collect(gunzip(bufferSource(bytes, chunk), { bytes: 0 }));
}

async function code(bytes: Buffer, chunk = 777): Promise<string> {
  return decode(bytes, chunk).then(
    () => "ok",
    (error: unknown) => (error instanceof BackupError ? error.code : `not a BackupError: ${String(error)}`),
  );
}

/**
 * One member: `first` as stored blocks, then `second` deflated by zlib as if it continued the same stream
 * (the last 32 KiB of `first` as its dictionary), so its matches refer back into the stored bytes.
 */
function storedThenCompressed(first: Buffer, second: Buffer): Buffer {
  const deflated = deflateRawSync(second, { dictionary: first.subarray(-32 * 1024) });
  const data = Buffer.concat([first, second]);
  return Buffer.concat([
    GZIP_HEADER,
    ...storedBlockParts(first),
    deflated,
    // The trailer only: `deflated` already ends with the final block.
    gzipEnd(crc32(data), data.length).subarray(5),
  ]);
}

describe("gunzip", () => {
  const text = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i % 37} of a log\n`).join(""));
  const noise = randomBytes(300_000);

  it("decodes what zlib writes at every level, whatever the chunking", async () => {
    for (const level of [0, 1, 6, 9]) {
      const data = Buffer.concat([noise.subarray(0, 100_000), text, noise.subarray(0, 70_000)]);
      const gz = gzipSync(data, { level });
      for (const chunk of [7, 4096, 65_536, 1 << 20]) {
        expect((await decode(gz, chunk)).equals(data), `level ${level}, chunk ${chunk}`).toBe(true);
      }
    }
  });

  it("hands zlib the preceding output as its dictionary when compressed blocks follow stored ones", async () => {
    const second = Buffer.concat([text.subarray(100, 30_000), noise]);
    const gz = storedThenCompressed(text, second);
    const expected = Buffer.concat([text, second]);
    expect(gunzipSync(gz).equals(expected)).toBe(true);
    // Within one batch, zlib decodes again from the batch's first block; after a pause of the source
    // (the stored part already handed out), it needs the dictionary.
    expect((await decode(gz)).equals(expected)).toBe(true);
    const split = gz.length - 8 - deflateRawSync(second, { dictionary: text.subarray(-32 * 1024) }).length;
    async function* pausing(): AsyncGenerator<Buffer> {
      yield gz.subarray(0, split);
      await new Promise((resolve) => setTimeout(resolve, 50));
      yield gz.subarray(split);
    }
    expect((await collect(gunzip(pausing(), { bytes: 0 }))).equals(expected)).toBe(true);
  });

  it("reads several members, ignores zero padding after one, refuses other trailing bytes", async () => {
    const a = gzipSync(noise.subarray(0, 1000), { level: 0 });
    const b = gzipSync(text);
    expect((await decode(Buffer.concat([a, b, a]))).length).toBe(2000 + text.length);
    expect((await decode(Buffer.concat([a, Buffer.alloc(600), Buffer.from("junk")]))).length).toBe(1000);
    expect(await code(Buffer.concat([a, Buffer.from("junk")]))).toBe("ARCHIVE_CORRUPT");
  });

  it("skips the optional header fields and checks the header CRC-16 as zlib does", async () => {
    const body = gzipSync(text, { level: 0 }).subarray(10);
    const fixed = Buffer.from([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3]);
    const extra = Buffer.concat([Buffer.from([6, 0]), Buffer.from("ab\x02\x00cd", "latin1")]);
    const strings = Buffer.from(`${"n".repeat(70_000)}\0a comment\0`, "latin1");
    const head = Buffer.concat([fixed, extra, strings]);
    const hcrc = Buffer.alloc(2);
    hcrc.writeUInt16LE(crc32(head) & 0xffff);
    const member = Buffer.concat([head, hcrc, body]);
    expect(gunzipSync(member).equals(text)).toBe(true);
    expect((await decode(member)).equals(text)).toBe(true);
    hcrc[0] = (hcrc[0] as number) ^ 1;
    expect(await code(Buffer.concat([head, hcrc, body]))).toBe("ARCHIVE_CORRUPT");
    expect(await code(Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]))).toBe("ARCHIVE_CORRUPT");
    expect(await code(Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]))).toBe("ARCHIVE_CORRUPT");
  });

  it("every cut is a truncation, every flipped stored length or trailer byte a corruption, never a hang", async () => {
    const gz = storedThenCompressed(noise.subarray(0, 70_000), text);
    for (let cut = 0; cut < gz.length; cut += cut < 200 || gz.length - cut < 200 ? 1 : 997) {
      expect(await code(gz.subarray(0, cut), 1000), `cut at ${cut}`).toBe("ARCHIVE_TRUNCATED");
    }
    for (const at of [13, 14, gz.length - 8, gz.length - 5, gz.length - 1]) {
      const bad = Buffer.from(gz);
      bad[at] = (bad[at] as number) ^ 0x10;
      expect(await code(bad), `flip at ${at}`).toBe("ARCHIVE_CORRUPT");
    }
  });

  it("hands out what arrived before a stalled source, then waits", async () => {
    const gz = gzipSync(noise.subarray(0, 200_000), { level: 0 });
    async function* stalled(): AsyncGenerator<Buffer> {
      yield gz.subarray(0, 150_000);
      await new Promise(() => undefined);
    }
    const reader = gunzip(stalled(), { bytes: 0 });
    let got = 0;
    while (got < 140_000) {
      const next = await reader.next();
      got += (next.value as Buffer).length;
    }
    expect(got).toBeLessThanOrEqual(150_000);
  });
});
