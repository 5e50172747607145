import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource, collect, MemorySink, patternSource, sha256 } from "./__tests__/helpers.js";
import { readArchive } from "./archive-reader.js";
import { ArchiveWriter, chooseCompression } from "./archive-writer.js";

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

  it("deflates blocks in parallel as ordered gzip members that every reader joins", async () => {
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
