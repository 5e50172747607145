import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { constants, crc32, gunzipSync, inflateRawSync } from "node:zlib";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource, collect, MemorySink, patternSource, sha256 } from "./__tests__/helpers.js";
import { readArchive } from "./archive-reader.js";
import { ArchiveWriter, chooseCompression } from "./archive-writer.js";
import { GZIP_HEADER } from "./gzip-stream.js";
import { decodeTarHeader } from "./tar-header.js";

const metadataWithPrefect = {
  backupId: "infrahub_backup_20260130_092031",
  createdAt: "2026-01-30T09:20:31Z",
  toolVersion: "v0.1.0",
  infrahubVersion: "1.5.3",
  components: ["database", "task-manager-db"],
};

const metadata = {
  backupId: "infrahub_backup_20260130_092031",
  createdAt: "2026-01-30T09:20:31Z",
  toolVersion: "v0.1.0",
  infrahubVersion: "1.5.3",
  components: ["database"],
};

describe("ArchiveWriter", () => {
  it("chooses store for compressed formats and incompressible data, deflate otherwise", async () => {
    expect(chooseCompression(Buffer.from("DZV1 anything"))).toBe("store");
    expect(chooseCompression(Buffer.from("DGV1 anything"))).toBe("store");
    expect(chooseCompression(Buffer.from("PGDMP\x01\x0e"))).toBe("store");
    expect(chooseCompression(Buffer.from("a".repeat(100_000)))).toBe("deflate");
    const random = await collect(patternSource(65536));
    expect(chooseCompression(random)).toBe("store");
  });

  it("refuses paths outside the upstream layout and duplicate entries", async () => {
    const writer = new ArchiveWriter(new MemorySink());
    for (const bad of [
      "../x",
      "/etc/passwd",
      "database",
      "other.dump",
      "database/../x",
      "backup_information.json",
      "database/a\\b",
    ]) {
      await expect(writer.addFile(bad, bufferSource(Buffer.from("x")))).rejects.toThrow(BackupError);
    }
    await writer.addFile("database/neo4j.dump", bufferSource(Buffer.from("x")));
    await expect(writer.addFile("database/neo4j.dump", bufferSource(Buffer.from("x")))).rejects.toThrow(
      /twice/,
    );
  });

  it("refuses metadata that contradicts the entries (upstream restore would fail on it)", async () => {
    const noPrefect = new ArchiveWriter(new MemorySink());
    await noPrefect.addFile("database/neo4j.dump", bufferSource(Buffer.from("DZV1")));
    await expect(
      noPrefect.finish({ ...metadata, components: ["database", "task-manager-db"] }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    const noDatabase = new ArchiveWriter(new MemorySink());
    await noDatabase.addFile("prefect.dump", bufferSource(Buffer.from("PGDMP")));
    await expect(
      noDatabase.finish({ ...metadata, components: ["database", "task-manager-db"] }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("adds empty directories under database/ only, never over a file's name", async () => {
    const sink = new MemorySink();
    const writer = new ArchiveWriter(sink);
    await writer.addDirectory("database/store/empty");
    await writer.addFile("database/store/a.db", bufferSource(Buffer.from("x")));
    for (const bad of ["prefect.dump", "database", "../x", "database/store/a.db"]) {
      await expect(writer.addDirectory(bad), bad).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(writer.addFile("database/store/empty", bufferSource(Buffer.from("x")))).rejects.toThrow(
      /twice/,
    );
    await expect(writer.addFile("database/store/a.db/x", bufferSource(Buffer.from("x")))).rejects.toThrow(
      /is a file/,
    );
    await expect(writer.addDirectory("database/store/a.db/sub")).rejects.toThrow(/is a file/);
    await writer.finish(metadata);
    const report = await readArchive(bufferSource(sink.committed as Buffer));
    expect(report.entries.filter((e) => e.type === "directory").map((e) => e.name)).toEqual([
      "backup",
      "backup/database",
      "backup/database/store",
      "backup/database/store/empty",
    ]);
  });

  it("writes entries one at a time", async () => {
    const writer = new ArchiveWriter(new MemorySink());
    const first = writer.addFile("database/a.backup", patternSource(1_000_000));
    await expect(writer.addFile("database/b.backup", bufferSource(Buffer.from("x")))).rejects.toThrow(
      /one at a time/,
    );
    await first;
  });

  it("a failing source aborts the sink: no partial archive is left", async () => {
    await using tmp = await tempDir();
    const sink = await FileSink.create(join(tmp.path, "infrahub_backup_20260130_092031.tar.gz"));
    const writer = new ArchiveWriter(sink);
    async function* failing() {
      yield Buffer.alloc(100_000, 1);
      throw new BackupError("EXEC_FAILED", "pg_dump exited with status 1");
    }
    await expect(writer.addFile("prefect.dump", failing())).rejects.toMatchObject({ code: "EXEC_FAILED" });
    expect(await readdir(tmp.path)).toEqual([]);
    await expect(writer.finish(metadata)).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("writes ONE gzip member: 517-byte patched header blocks, no final block before the end, a combined CRC", async () => {
    const sink = new MemorySink();
    const writer = new ArchiveWriter(sink, { deflateBlockBytes: 50_000, parallelism: 2 });
    const dump = Buffer.concat([Buffer.from("DZV1"), randomBytes(150_000)]);
    const text = Buffer.from("compressible text, line after line\n".repeat(10_000));
    const written = [
      await writer.addFile("database/neo4j.dump", bufferSource(dump, 70_000)),
      await writer.addFile("database/notes.log", bufferSource(text, 9_000)),
      await writer.addFile("prefect.dump", bufferSource(Buffer.from("PGDMP"), 5)),
    ];
    expect(written.map((e) => e.compression)).toEqual(["store", "deflate", "store"]);
    await writer.finish(metadataWithPrefect);
    const bytes = sink.committed as Buffer;
    const tar = gunzipSync(bytes);

    expect(bytes.subarray(0, 10)).toEqual(Buffer.from(GZIP_HEADER));
    // The two directory headers follow, each one stored block of 5 + 512 bytes.
    const block = (at: number) => ({
      head: [...bytes.subarray(at, at + 5)],
      tar: decodeTarHeader(bytes.subarray(at + 5, at + 517)),
    });
    expect(block(10)).toMatchObject({ head: [0, 0, 2, 0xff, 0xfd], tar: { name: "backup", typeflag: "5" } });
    expect(block(527)).toMatchObject({
      head: [0, 0, 2, 0xff, 0xfd],
      tar: { name: "backup/database", typeflag: "5" },
    });
    // Each file header was a 517-byte placeholder, patched with its size once the entry ended.
    expect(sink.patches.map((p) => p.length)).toEqual([517, 517, 517]);
    expect(sink.patches.map((p) => block(p.offset))).toEqual(
      written.map((e) => ({
        head: [0, 0, 2, 0xff, 0xfd],
        tar: expect.objectContaining({ name: `backup/${e.path}`, size: e.size, typeflag: "0" }),
      })),
    );
    // The deflate stream has no final block before the end: what precedes the last 13 bytes inflates
    // to the whole tar (zlib stops at a final block and ignores the rest).
    const body = bytes.subarray(10, bytes.length - 13);
    expect(sha256(inflateRawSync(body, { finishFlush: constants.Z_SYNC_FLUSH }))).toBe(sha256(tar));
    // Then an empty final stored block, and the trailer: CRC-32 of the tar (as patched), ISIZE.
    const end = bytes.subarray(bytes.length - 13);
    expect([...end.subarray(0, 5)]).toEqual([0x01, 0x00, 0x00, 0xff, 0xff]);
    expect(end.readUInt32LE(5)).toBe(crc32(tar));
    expect(end.readUInt32LE(9)).toBe(tar.length);
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
  });

  it("deflates blocks in parallel as ordered segments that every reader joins", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "infrahub_backup_20260130_092031.tar.gz");
    const writer = new ArchiveWriter(await FileSink.create(path), {
      deflateBlockBytes: 100_000,
      parallelism: 3,
    });
    const text = Buffer.from(
      Array.from({ length: 60_000 }, (_, i) => `line ${i} ${(i * 7919) % 1000}\n`).join(""),
    );
    const entry = await writer.addFile(
      "database/neo4j-2025-01-01T00-00-00.backup",
      bufferSource(text, 7_000),
    );
    expect(entry.compression).toBe("deflate");
    await writer.finish(metadata);
    const report = await readArchive(createReadStream(path));
    expect(report.checksums[0]).toMatchObject({ status: "ok", actual: sha256(text) });
    expect(report.compressedBytes).toBeLessThan(text.length / 2);
    const out = execFileSync("tar", ["-xzOf", path, "backup/database/neo4j-2025-01-01T00-00-00.backup"], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(sha256(out)).toBe(sha256(text));
  });

  it("dispose before finish aborts", async () => {
    const sink = new MemorySink();
    {
      await using writer = new ArchiveWriter(sink);
      await writer.addFile("database/neo4j.dump", bufferSource(Buffer.from("DZV1")));
    }
    expect(sink.aborted).toBe(true);
  });
});
