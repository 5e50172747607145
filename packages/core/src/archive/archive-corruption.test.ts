import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { tempDir } from "@infrahub-backup/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import {
  bufferSource,
  buildTar,
  gzip,
  MemorySink,
  metadataJson,
  type RawEntry,
  sha256,
} from "./__tests__/helpers.js";
import { MULTI_MEMBER, MULTI_MEMBER_HEADER } from "./__tests__/multi-member-fixture.js";
import { ArchiveWriter } from "./archive-writer.js";
import { EncryptingSink, generateEncryptionKeyPair, parsePublicKey } from "./encryption.js";
import { extractArchive } from "./extract-archive.js";
import { GZIP_HEADER, STORED_BLOCK_OVERHEAD } from "./gzip-stream.js";

/** A tar header's stored block (517 bytes) and where the n-th one starts in our one-member layout. */
const HEADER_BLOCK = STORED_BLOCK_OVERHEAD + 512;
const headerAt = (n: number) => GZIP_HEADER.length + n * HEADER_BLOCK;
const neo4j = Buffer.concat([Buffer.from("DZV1"), Buffer.alloc(20_000, 3)]);
const prefect = Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(7_000, 9)]);
const keys = generateEncryptionKeyPair();
const otherKeys = generateEncryptionKeyPair();

function meta(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata_version: 2025111200,
    backup_id: "infrahub_backup_20260130_092031",
    created_at: "2026-01-30T09:20:31Z",
    tool_version: "v1.7.4",
    infrahub_version: "1.5.3",
    components: ["database", "task-manager-db"],
    checksums: { "database/neo4j.dump": sha256(neo4j), "prefect.dump": sha256(prefect) },
    neo4j_edition: "community",
    ...overrides,
  };
}

/** A valid upstream-shaped tar with `extra` entries spliced in before the metadata. */
function tarWith(extra: RawEntry[], options: { metadata?: Buffer; files?: RawEntry[] } = {}): Buffer {
  const files = options.files ?? [
    { name: "backup/database/neo4j.dump", data: neo4j },
    { name: "backup/prefect.dump", data: prefect },
  ];
  return buildTar([
    { name: "backup", typeflag: "5" },
    { name: "backup/database", typeflag: "5" },
    ...files,
    ...extra,
    { name: "backup/backup_information.json", data: options.metadata ?? metadataJson(meta()) },
  ]);
}

let ours: Buffer;
beforeAll(async () => {
  const sink = new MemorySink();
  const writer = new ArchiveWriter(sink, { mtime: new Date("2026-01-30T09:20:31Z") });
  await writer.addFile("database/neo4j.dump", bufferSource(neo4j, 4096), { compression: "store" });
  await writer.addFile("prefect.dump", bufferSource(prefect, 4096), { compression: "store" });
  await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database", "task-manager-db"],
    neo4jEdition: "community",
  });
  ours = sink.committed as Buffer;
});

function flip(buf: Buffer, offset: number): Buffer {
  const out = Buffer.from(buf);
  out[offset] = (out[offset] as number) ^ 0x20;
  return out;
}

async function encrypted(plain: Buffer): Promise<Buffer> {
  const inner = new MemorySink();
  const sink = new EncryptingSink(inner, parsePublicKey(keys.publicKeyFile));
  await sink.write(plain);
  await sink.commit();
  return inner.committed as Buffer;
}

interface Case {
  name: string;
  archive: () => Buffer | Promise<Buffer>;
  code: string;
  decryptKey?: string;
}

const cases: Case[] = [
  { name: "empty file", archive: () => Buffer.alloc(0), code: "ARCHIVE_TRUNCATED" },
  { name: "not gzip", archive: () => Buffer.from("PK\x03\x04 a zip file"), code: "ARCHIVE_NOT_GZIP" },
  {
    name: "truncated gzip (inside entry data)",
    archive: () => ours.subarray(0, headerAt(3) + 5000),
    code: "ARCHIVE_TRUNCATED",
  },
  {
    name: "truncated at a deflate block boundary (after a header block)",
    archive: () => ours.subarray(0, headerAt(3)),
    code: "ARCHIVE_TRUNCATED",
  },
  {
    name: "truncated before the trailer (final block present, CRC and ISIZE missing)",
    archive: () => ours.subarray(0, ours.length - 8),
    code: "ARCHIVE_TRUNCATED",
  },
  {
    name: "multi-member generation truncated at a gzip member boundary",
    archive: () => MULTI_MEMBER.subarray(0, 3 * MULTI_MEMBER_HEADER),
    code: "ARCHIVE_TRUNCATED",
  },
  {
    name: "multi-member generation with a flipped byte in entry data",
    archive: () => flip(MULTI_MEMBER, 3 * MULTI_MEMBER_HEADER + 15 + 1000),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "truncated: last byte missing",
    archive: () => ours.subarray(0, ours.length - 1),
    code: "ARCHIVE_TRUNCATED",
  },
  {
    name: "flipped byte in entry data",
    archive: () => flip(ours, headerAt(3) + STORED_BLOCK_OVERHEAD + 1000),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "flipped byte in a tar header",
    archive: () => flip(ours, headerAt(2) + STORED_BLOCK_OVERHEAD + 20),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "flipped byte in the trailer's CRC-32",
    archive: () => flip(ours, ours.length - 6),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "flipped byte in the trailer's ISIZE",
    archive: () => flip(ours, ours.length - 2),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "a final block (BFINAL) set early: the member ends before the tar does",
    archive: () => {
      const out = Buffer.from(ours);
      out[headerAt(3)] = 0x01; // the stored block of the first entry's header becomes the last block
      return out;
    },
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "flipped byte in a tar header, gzip CRC recomputed",
    archive: () => gzip(flip(gunzipSync(ours), 2 * 512 + 20)),
    code: "ARCHIVE_CORRUPT",
  },
  {
    name: "data altered with valid gzip and tar (checksum mismatch)",
    archive: () => gzip(flip(gunzipSync(ours), 4 * 512 + 100)),
    code: "ARCHIVE_CHECKSUM_MISMATCH",
  },
  {
    name: "wrong checksum in metadata",
    archive: () =>
      gzip(
        tarWith([], {
          metadata: metadataJson(
            meta({ checksums: { "database/neo4j.dump": "0".repeat(64), "prefect.dump": sha256(prefect) } }),
          ),
        }),
      ),
    code: "ARCHIVE_CHECKSUM_MISMATCH",
  },
  {
    name: "missing file",
    archive: () => gzip(tarWith([], { files: [{ name: "backup/prefect.dump", data: prefect }] })),
    code: "ARCHIVE_MISSING_FILE",
  },
  {
    name: "prefect.dump missing although the metadata includes the task manager",
    archive: () =>
      gzip(
        tarWith([], {
          files: [{ name: "backup/database/neo4j.dump", data: neo4j }],
          metadata: metadataJson(meta({ checksums: { "database/neo4j.dump": sha256(neo4j) } })),
        }),
      ),
    code: "ARCHIVE_MISSING_FILE",
  },
  {
    name: "checksums removed from 2025111200 metadata",
    archive: () => gzip(tarWith([], { metadata: metadataJson(meta({ checksums: undefined })) })),
    code: "ARCHIVE_CHECKSUM_MISSING",
  },
  {
    name: "prefect.dump without a checksum",
    archive: () =>
      gzip(
        tarWith([], {
          metadata: metadataJson(meta({ checksums: { "database/neo4j.dump": sha256(neo4j) } })),
        }),
      ),
    code: "ARCHIVE_CHECKSUM_MISSING",
  },
  {
    name: "extra file under database/",
    archive: () => gzip(tarWith([{ name: "backup/database/extra.bin", data: Buffer.from("x") }])),
    code: "ARCHIVE_UNEXPECTED_FILE",
  },
  {
    name: "extra file outside backup/",
    archive: () => gzip(tarWith([{ name: "etc/cron.d/evil", data: Buffer.from("x") }])),
    code: "ARCHIVE_UNEXPECTED_FILE",
  },
  {
    name: "symlink",
    archive: () => gzip(tarWith([{ name: "backup/database/link", typeflag: "2", linkname: "/etc/passwd" }])),
    code: "ARCHIVE_UNSUPPORTED_ENTRY",
  },
  {
    name: "hard link",
    archive: () =>
      gzip(tarWith([{ name: "backup/database/hard", typeflag: "1", linkname: "backup/prefect.dump" }])),
    code: "ARCHIVE_UNSUPPORTED_ENTRY",
  },
  {
    name: "FIFO",
    archive: () => gzip(tarWith([{ name: "backup/database/fifo", typeflag: "6" }])),
    code: "ARCHIVE_UNSUPPORTED_ENTRY",
  },
  {
    name: "../ entry",
    archive: () => gzip(tarWith([{ name: "backup/../../escaped", data: Buffer.from("x") }])),
    code: "ARCHIVE_UNSAFE_PATH",
  },
  {
    name: "absolute path",
    archive: () => gzip(tarWith([{ name: "/tmp/escaped-absolute", data: Buffer.from("x") }])),
    code: "ARCHIVE_UNSAFE_PATH",
  },
  {
    name: "duplicate entry",
    archive: () => gzip(tarWith([{ name: "backup/prefect.dump", data: prefect }])),
    code: "ARCHIVE_DUPLICATE_ENTRY",
  },
  {
    name: "huge metadata",
    archive: () => gzip(tarWith([], { metadata: Buffer.alloc(2 * 1024 * 1024, 0x20) })),
    code: "METADATA_TOO_LARGE",
  },
  {
    name: "non-JSON metadata",
    archive: () => gzip(tarWith([], { metadata: Buffer.from("checksums: yes") })),
    code: "METADATA_INVALID",
  },
  {
    name: "metadata with a wrong type",
    archive: () => gzip(tarWith([], { metadata: metadataJson(meta({ components: "database" })) })),
    code: "METADATA_INVALID",
  },
  {
    name: "no metadata",
    archive: () =>
      gzip(
        buildTar([
          { name: "backup", typeflag: "5" },
          { name: "backup/prefect.dump", data: prefect },
        ]),
      ),
    code: "METADATA_MISSING",
  },
  { name: "encrypted without key", archive: () => encrypted(ours), code: "ENCRYPTION_KEY_REQUIRED" },
  {
    name: "encrypted, wrong key",
    archive: () => encrypted(ours),
    code: "DECRYPTION_FAILED",
    decryptKey: otherKeys.privateKeyPem,
  },
  {
    name: "encrypted, truncated",
    archive: async () => (await encrypted(ours)).subarray(0, 200),
    code: "ARCHIVE_TRUNCATED",
    decryptKey: keys.privateKeyPem,
  },
];

async function outcome(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("HANG"), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => "ok",
        (error: unknown) => (error instanceof BackupError ? error.code : `non-BackupError: ${String(error)}`),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe("corruption matrix: each caught with its own code, nothing written outside the target, no hang", () => {
  it("the unmodified archive extracts", async () => {
    await using tmp = await tempDir();
    expect(await outcome(extractArchive(bufferSource(ours, 999), join(tmp.path, "target")), 10_000)).toBe(
      "ok",
    );
    expect((await readdir(join(tmp.path, "target/backup"), { recursive: true })).sort()).toEqual([
      "database",
      "database/neo4j.dump",
      "prefect.dump",
    ]);
  });

  for (const c of cases) {
    it(c.name, async () => {
      await using tmp = await tempDir();
      const archive = await c.archive();
      const target = join(tmp.path, "target");
      const code = await outcome(
        extractArchive(bufferSource(archive, 1000), target, c.decryptKey ? { decryptKey: c.decryptKey } : {}),
        10_000,
      );
      expect(code).toBe(c.code);
      // Only the target exists next to it, and whatever was written into it was removed again.
      expect(await readdir(tmp.path)).toEqual(["target"]);
      const left = await readdir(target, { recursive: true, withFileTypes: true });
      expect(left.filter((d) => !d.isDirectory())).toEqual([]);
      expect(existsSync("/tmp/escaped-absolute")).toBe(false);
      expect(existsSync(join(tmp.path, "escaped"))).toBe(false);
    });
  }
});
