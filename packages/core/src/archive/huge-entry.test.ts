// ci-cost: 25 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource } from "./__tests__/helpers.js";
import { pythonStream } from "./__tests__/interop.js";
import { verifyArchive } from "./archive-reader.js";
import { ArchiveWriter } from "./archive-writer.js";
import { GZIP_HEADER, STORED_BLOCK_OVERHEAD } from "./gzip-stream.js";
import { decodeTarHeader, MAX_OCTAL_SIZE, TAR_BLOCK } from "./tar-header.js";

// Just over what the octal size field holds, so the header needs GNU base-256; and over 2^32, so the
// trailer's ISIZE wraps and the CRC is combined across segments of an entry longer than 4 GiB.
const SIZE = MAX_OCTAL_SIZE + 1 + 1234;
const BLOCK = 64 * 1024 * 1024;
const zeros = Buffer.alloc(BLOCK);

/** 8 GiB of zeros without holding them: the same buffer again and again (deflated ~230:1 on disk). */
async function* zeroSource(size: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < size; sent += BLOCK) yield zeros.subarray(0, Math.min(BLOCK, size - sent));
}

/** `head -c 8589935826 /dev/zero | sha256sum` */
const ZEROS_SHA256 = "026a54bcff3210b427bfa6c8afced60a3a3f6de36941ab90808359a9a32e55a4";

describe("an entry larger than 8 GiB (GNU base-256 size) in one gzip member", () => {
  it("is written without 8 GiB on disk and streamed whole by Python r|gz and our reader", {
    timeout: 180_000,
  }, async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "infrahub_backup_20260130_092031.tar.gz");
    const writer = new ArchiveWriter(await FileSink.create(path), {
      mtime: new Date("2026-01-30T09:20:31Z"),
    });
    const started = performance.now();
    const huge = await writer.addFile("database/neo4j-2026-01-30T09-20-31.backup", zeroSource(SIZE), {
      compression: "deflate",
    });
    const prefect = Buffer.from("PGDMP after the huge entry");
    await writer.addFile("prefect.dump", bufferSource(prefect));
    const result = await writer.finish({
      backupId: "infrahub_backup_20260130_092031",
      createdAt: "2026-01-30T09:20:31Z",
      toolVersion: "v0.1.0",
      infrahubVersion: "1.5.3",
      components: ["database", "task-manager-db"],
      neo4jEdition: "enterprise",
    });
    const wrote = performance.now();
    expect(huge.size).toBe(SIZE);
    expect(huge.sha256).toBe(ZEROS_SHA256);
    expect(result.commit.size).toBeLessThan(64 * 1024 * 1024);

    // The patched header, after the gzip header and the two directory blocks: base-256 size.
    const at = GZIP_HEADER.length + 2 * (STORED_BLOCK_OVERHEAD + TAR_BLOCK) + STORED_BLOCK_OVERHEAD;
    const file = await open(path, "r");
    const header = Buffer.alloc(TAR_BLOCK);
    await file.read(header, 0, TAR_BLOCK, at);
    await file.close();
    expect(header[124]).toBe(0x80);
    expect(decodeTarHeader(header)).toMatchObject({
      name: "backup/database/neo4j-2026-01-30T09-20-31.backup",
      size: SIZE,
    });

    // Python streams it from a pipe (reading every byte, hashing only the small entries) while our
    // reader hashes every byte and zlib checks the trailer's CRC-32 and ISIZE — on both cores at once.
    // (gzip -t would decode it a third time at ~400 MB/s; the small variants in
    // archive-roundtrip.test.ts run it.)
    const [listed, report] = await Promise.all([
      pythonStream(path, 1024 * 1024),
      verifyArchive(createReadStream(path, { highWaterMark: 1 << 20 })),
    ]);
    expect(listed.map((e) => [e.name, e.size])).toEqual([
      ["backup", 0],
      ["backup/database", 0],
      ["backup/database/neo4j-2026-01-30T09-20-31.backup", SIZE],
      ["backup/prefect.dump", prefect.length],
      ["backup/backup_information.json", expect.any(Number)],
    ]);
    expect(listed[3]?.sha256).toBe(result.metadata.checksums["prefect.dump"]);
    expect(report.ok).toBe(true);
    expect(report.checksums.map((c) => c.status)).toEqual(["ok", "ok"]);
    expect(report.tarBytes).toBeGreaterThan(2 ** 33);
    // ISIZE is the tar length mod 2^32 (zlib compared it too; this pins the wrap explicitly).
    const trailer = Buffer.alloc(4);
    const handle = await open(path, "r");
    await handle.read(trailer, 0, 4, result.commit.size - 4);
    await handle.close();
    expect(trailer.readUInt32LE(0)).toBe(report.tarBytes % 2 ** 32);
    console.log(
      `8 GiB + ${SIZE - 2 ** 33} B entry: written in ${((wrote - started) / 1000).toFixed(1)} s ` +
        `(${result.commit.size} bytes on disk), read by Python and ours (in parallel) in ${((performance.now() - wrote) / 1000).toFixed(1)} s`,
    );
  });
});
