import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import {
  bufferSource,
  buildTar,
  collect,
  gzip,
  MemorySink,
  metadataJson,
  patternSource,
  sha256,
} from "./__tests__/helpers.js";
import { normalizeEntryName, readArchive, verifyArchive } from "./archive-reader.js";
import { ArchiveWriter } from "./archive-writer.js";

const neo4j = await collect(patternSource(3_000_000, { prefix: Buffer.from("DZV1") }));
const prefect = Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(500_000, 2)]);

async function archive(): Promise<Buffer> {
  const sink = new MemorySink();
  const writer = new ArchiveWriter(sink);
  await writer.addFile("database/neo4j.dump", bufferSource(neo4j));
  await writer.addFile("prefect.dump", bufferSource(prefect));
  await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database", "task-manager-db"],
    neo4jEdition: "community",
  });
  return sink.committed as Buffer;
}
const ours = await archive();

describe("readArchive", () => {
  it("a consumer may read part of an entry; the reader drains and hashes the rest", async () => {
    const seen: string[] = [];
    const report = await readArchive(bufferSource(ours, 4096), {
      onEntry: async (entry) => {
        // Read only the first chunk, then give up (like a restore command that failed early).
        for await (const chunk of entry.body) {
          seen.push(`${entry.path}:${(chunk as Buffer).length > 0}`);
          break;
        }
        expect((await entry.digest).sha256).toBe(
          entry.path === "prefect.dump" ? sha256(prefect) : sha256(neo4j),
        );
      },
    });
    expect(report.ok).toBe(true);
    expect(seen).toEqual(["database/neo4j.dump:true", "prefect.dump:true"]);
  });

  it("a consumer error stops the read with that error", async () => {
    const failure = new BackupError("DATABASE_COMMAND_FAILED", "pg_restore exited with status 1");
    await expect(
      readArchive(bufferSource(ours), {
        onEntry: async (entry) => {
          if (entry.path === "prefect.dump") throw failure;
          entry.body.resume();
        },
      }),
    ).rejects.toBe(failure);
  });

  it("fails promptly on a bad entry even if the source then stalls forever", async () => {
    const bad = gzip(buildTar([{ name: "/etc/passwd", data: Buffer.from("x") }], { endMarker: false }));
    async function* stalled(): AsyncGenerator<Buffer> {
      yield bad;
      await new Promise(() => undefined);
    }
    await expect(readArchive(stalled())).rejects.toMatchObject({ code: "ARCHIVE_UNSAFE_PATH" });
  });

  it("stops when the signal is aborted", async () => {
    const controller = new AbortController();
    await expect(
      readArchive(bufferSource(ours, 1000), {
        signal: controller.signal,
        onEntry: async (entry) => {
          controller.abort();
          entry.body.resume();
        },
      }),
    ).rejects.toMatchObject({ code: "CANCELLED" });
  });

  it("verifyArchive reports checksum problems instead of throwing", async () => {
    const tar = buildTar([
      { name: "backup", typeflag: "5" },
      { name: "backup/database/neo4j.dump", data: neo4j },
      {
        name: "backup/backup_information.json",
        data: metadataJson({
          components: ["database"],
          checksums: { "database/neo4j.dump": "0".repeat(64), "database/gone.dump": "1".repeat(64) },
        }),
      },
    ]);
    const report = await verifyArchive(bufferSource(gzip(tar)));
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code).sort()).toEqual([
      "ARCHIVE_CHECKSUM_MISMATCH",
      "ARCHIVE_MISSING_FILE",
    ]);
    expect(report.problems.map((p) => p.message)).toContain(
      `checksum mismatch for database/neo4j.dump: expected ${"0".repeat(64)}, got ${sha256(neo4j)}`,
    );
    expect(report.problems.map((p) => p.message)).toContain("missing backup file: database/gone.dump");
    await expect(readArchive(bufferSource(gzip(tar)))).rejects.toMatchObject({
      code: "ARCHIVE_CHECKSUM_MISMATCH",
    });
  });

  it("with --exclude-taskmanager the prefect.dump checks are skipped", async () => {
    const tar = buildTar([
      { name: "backup", typeflag: "5" },
      { name: "backup/database/neo4j.dump", data: neo4j },
      { name: "backup/prefect.dump", data: prefect },
      {
        name: "backup/backup_information.json",
        data: metadataJson({
          components: ["database", "task-manager-db"],
          checksums: { "database/neo4j.dump": sha256(neo4j) },
        }),
      },
    ]);
    await expect(readArchive(bufferSource(gzip(tar)))).rejects.toMatchObject({
      code: "ARCHIVE_CHECKSUM_MISSING",
    });
    const report = await readArchive(bufferSource(gzip(tar)), { excludeTaskManager: true });
    expect(report.checksums.find((c) => c.key === "prefect.dump")?.status).toBe("skipped");
  });

  it("reads PAX and GNU long-name headers (what Go and GNU tar write for long names and > 8 GiB)", async () => {
    const long = `backup/database/${"n".repeat(120)}.backup`;
    const paxRecord = (key: string, value: string) => {
      let len = key.length + value.length + 3;
      len += String(len).length;
      if (String(len).length !== String(len - String(len).length).length) len++;
      return `${len} ${key}=${value}\n`;
    };
    const tar = buildTar([
      { name: "backup", typeflag: "5" },
      {
        name: "PaxHeaders/x",
        typeflag: "x",
        data: Buffer.from(paxRecord("path", long) + paxRecord("size", "3")),
      },
      // The size field says 0: the PAX record wins (Go writes PAX sizes for entries over 8 GiB).
      { name: "placeholder-name", data: Buffer.from("pax"), size: 0 },
      { name: "././@LongLink", typeflag: "L", data: Buffer.from(`${long.replace(".backup", "2.backup")}\0`) },
      { name: "truncated-name", data: Buffer.from("gnu") },
      {
        name: "backup/backup_information.json",
        data: metadataJson({
          components: ["database"],
          checksums: {
            [long.slice(7)]: sha256(Buffer.from("pax")),
            [long.slice(7).replace(".backup", "2.backup")]: sha256(Buffer.from("gnu")),
          },
        }),
      },
    ]);
    const report = await readArchive(bufferSource(gzip(tar)));
    expect(report.checksums.map((c) => c.status)).toEqual(["ok", "ok"]);
  });

  it("normalises names and rejects escapes", () => {
    expect(normalizeEntryName("./backup//database/")).toBe("backup/database");
    for (const bad of ["/abs", "a/../../b", "..", "C:/x", "a\\..\\b", "a\0b"]) {
      expect(() => normalizeEntryName(bad)).toThrow(BackupError);
    }
  });
});
