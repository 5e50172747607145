import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { metadataJson } from "./__tests__/helpers.js";
import { readArchive } from "./archive-reader.js";
import type { ArchiveSink } from "./archive-sink.js";
import { ArchiveWriter } from "./archive-writer.js";
import { storedMember } from "./gzip-member.js";
import { decodeTarHeader, encodeTarHeader, MAX_OCTAL_SIZE } from "./tar-header.js";

// Streams more than 8 GiB through the writer and the reader (~1–2 minutes of CPU); opt in with
// ARCHIVE_SLOW_TESTS=1. The base-256 encoding itself is always tested in tar-header.test.ts.
const SLOW = process.env.ARCHIVE_SLOW_TESTS === "1";
const SIZE = MAX_OCTAL_SIZE + 1 + 4096; // 8 GiB + 4 KiB
const BLOCK = 64 * 1024 * 1024;
const zeros = Buffer.alloc(BLOCK);

async function* zeroSource(size: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < size; sent += BLOCK) yield zeros.subarray(0, Math.min(BLOCK, size - sent));
}

function zeroDigest(size: number): string {
  const hash = createHash("sha256");
  for (let sent = 0; sent < size; sent += BLOCK) hash.update(zeros.subarray(0, Math.min(BLOCK, size - sent)));
  return hash.digest("hex");
}

describe.skipIf(!SLOW)("entries larger than 8 GiB (ARCHIVE_SLOW_TESTS=1)", () => {
  it("the writer patches a base-256 size; the reader streams such an entry", {
    timeout: 600_000,
  }, async () => {
    // Writer: a sink that keeps only the placeholders (the data is discarded).
    const patched = new Map<number, Uint8Array>();
    let position = 0;
    const sink: ArchiveSink = {
      get position() {
        return position;
      },
      async write(chunk) {
        position += chunk.length;
      },
      async writePlaceholder(chunk) {
        const offset = position;
        position += chunk.length;
        return offset;
      },
      async patch(offset, bytes) {
        patched.set(offset, bytes);
      },
      async commit() {
        return { location: "discard", size: position };
      },
      async abort() {},
    };
    const writer = new ArchiveWriter(sink);
    const entry = await writer.addFile("database/neo4j.dump", zeroSource(SIZE), { compression: "store" });
    expect(entry.size).toBe(SIZE);
    const header = gunzipSync([...patched.values()][0] as Uint8Array);
    expect(decodeTarHeader(header).size).toBe(SIZE);
    expect(header[124]).toBe(0x80);

    // Reader: the same header, then the data as repeated gzip members of 64 MiB of zeros.
    const member = gzipSync(zeros, { level: 1 });
    const checksum = zeroDigest(SIZE);
    expect(entry.sha256).toBe(checksum);
    async function* archive(): AsyncGenerator<Buffer> {
      yield Buffer.from(
        storedMember(encodeTarHeader({ name: "backup", type: "directory", size: 0, mtime: 0 })),
      );
      yield Buffer.from(storedMember(header));
      for (let sent = 0; sent + BLOCK <= SIZE; sent += BLOCK) yield member;
      // The tail: the rest of the data, tar padding to 512.
      const tail = SIZE % BLOCK;
      yield gzipSync(Buffer.alloc(tail + ((512 - (tail % 512)) % 512)));
      const json = metadataJson({ components: ["database"], checksums: { "database/neo4j.dump": checksum } });
      const meta = encodeTarHeader({
        name: "backup/backup_information.json",
        type: "file",
        size: json.length,
        mtime: 0,
      });
      yield gzipSync(
        Buffer.concat([meta, json, Buffer.alloc((512 - (json.length % 512)) % 512), Buffer.alloc(1024)]),
      );
    }
    const started = performance.now();
    const report = await readArchive(archive());
    console.log(`read ${SIZE} bytes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(report.entries.find((e) => e.path === "database/neo4j.dump")?.size).toBe(SIZE);
    expect(report.checksums[0]?.status).toBe("ok");
  });
});
