import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource, collect, sha256 } from "./__tests__/helpers.js";
import {
  buildGoReader,
  busyboxTar,
  gnuTar,
  goReader,
  gzipList,
  gzipTest,
  HAVE_BUSYBOX,
  HAVE_GO,
  type ListedEntry,
  PYTHON_WITH_CRYPTOGRAPHY,
  pythonFile,
  pythonStream,
} from "./__tests__/interop.js";
import { readArchive, verifyArchive } from "./archive-reader.js";
import type { ArchiveSink } from "./archive-sink.js";
import { ArchiveWriter, type ArchiveWriterOptions, type MetadataInput } from "./archive-writer.js";
import { serializeBackupMetadata } from "./backup-metadata.js";
import {
  decryptStream,
  EncryptingSink,
  generateEncryptionKeyPair,
  parsePrivateKey,
  parsePublicKey,
} from "./encryption.js";

const ECIES_PY = join(import.meta.dirname, "../../test/fixtures/archives/ecies.py");
const MTIME = new Date("2026-01-30T09:20:31Z");
const BASE: Omit<MetadataInput, "components"> = {
  backupId: "infrahub_backup_20260130_092031",
  createdAt: "2026-01-30T09:20:31Z",
  toolVersion: "v0.1.0",
  infrahubVersion: "1.5.3",
};

interface Variant {
  name: string;
  files: Array<[path: string, data: Buffer, chunk: number]>;
  metadata: MetadataInput;
  options?: ArchiveWriterOptions;
  encrypt?: boolean;
  /** Compression each entry must have been given (checks the variant covers what it claims). */
  compressions?: string[];
}

const text = Buffer.from(
  Array.from({ length: 100_000 }, (_, i) => `line ${i}: some compressible text ${(i * 7919) % 997}\n`).join(
    "",
  ),
);
const neo4jDump = Buffer.concat([Buffer.from("DZV1"), randomBytes(3 * 1024 * 1024 + 13)]);
const artefact = randomBytes(2 * 1024 * 1024 + 5);
const prefect = Buffer.concat([Buffer.from("PGDMP"), Buffer.from("x".repeat(1024 * 1024))]);

function variants(): Variant[] {
  const community: Variant = {
    name: "Community: dump stored, a text file deflated in parallel segments, prefect.dump, an empty file",
    files: [
      ["database/neo4j.dump", neo4jDump, 65536],
      ["database/neo4j-2025-03-24T19-57-18.backup", text, 4096],
      ["database/empty.backup", Buffer.alloc(0), 1],
      ["prefect.dump", prefect, 1000],
    ],
    metadata: { ...BASE, components: ["database", "task-manager-db"], neo4jEdition: "community" },
    // Small segments so the text entry is several independently deflated segments, 3 at a time.
    options: { deflateBlockBytes: 256 * 1024, parallelism: 3 },
    compressions: ["store", "deflate", "deflate", "store"],
  };
  return [
    community,
    {
      name: "Enterprise-shaped: backup artefacts, one in a subdirectory, no task manager",
      files: [
        ["database/neo4j-2025-09-29T10-00-00.backup", artefact, 65536],
        ["database/neo4j-2025-09-29T10-00-00.inc.backup", text.subarray(0, 300_000), 7000],
        ["database/store/neostore.nodestore.db", Buffer.from("node store ".repeat(20_000)), 50_000],
      ],
      metadata: { ...BASE, components: ["database"], neo4jEdition: "enterprise" },
      compressions: ["store", "deflate", "deflate"],
    },
    {
      name: "empty dumps",
      files: [
        ["database/neo4j.dump", Buffer.alloc(0), 1],
        ["prefect.dump", Buffer.alloc(0), 1],
      ],
      metadata: { ...BASE, components: ["database", "task-manager-db"], neo4jEdition: "community" },
    },
    {
      ...community,
      name: "encrypted (ECIES v2, 64 KiB chunks so patched headers sit in held chunks), read after decryption",
      encrypt: true,
      metadata: { ...community.metadata, encrypted: true },
    },
  ];
}

interface Written {
  path: string;
  /** The gzip file the tar readers get: the archive, or its decryption by the Python implementation. */
  plainPath: string;
  expected: ListedEntry[];
  decryptKey?: string;
  size: number;
  metadataJson: string;
}

async function write(dir: string, variant: Variant): Promise<Written> {
  const keys = generateEncryptionKeyPair();
  const path = join(dir, `infrahub_backup_20260130_092031.tar.gz${variant.encrypt ? ".enc" : ""}`);
  let sink: ArchiveSink = await FileSink.create(path);
  if (variant.encrypt)
    sink = new EncryptingSink(sink, parsePublicKey(keys.publicKeyFile), { chunkSize: 65536 });
  const writer = new ArchiveWriter(sink, { mtime: MTIME, ...variant.options });
  const entries = [];
  for (const [name, data, chunk] of variant.files)
    entries.push(await writer.addFile(name, bufferSource(data, chunk)));
  if (variant.compressions) expect(entries.map((e) => e.compression)).toEqual(variant.compressions);
  const result = await writer.finish(variant.metadata);
  expect((await stat(path)).size).toBe(result.commit.size);
  const metadataJson = serializeBackupMetadata(result.metadata);

  const expected: ListedEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (name: string) => {
    if (!dirs.has(name)) expected.push({ name, type: "dir", size: 0 });
    dirs.add(name);
  };
  for (const [name, data] of variant.files) {
    const segments = `backup/${name}`.split("/");
    for (let i = 1; i < segments.length; i++) addDir(segments.slice(0, i).join("/"));
    expected.push({ name: `backup/${name}`, type: "file", size: data.length, sha256: sha256(data) });
  }
  addDir("backup/database");
  expected.push({
    name: "backup/backup_information.json",
    type: "file",
    size: Buffer.byteLength(metadataJson),
    sha256: sha256(Buffer.from(metadataJson)),
  });

  let plainPath = path;
  if (variant.encrypt) {
    await writeFile(join(dir, "k.pem"), keys.privateKeyPem);
    plainPath = join(dir, "decrypted.tar.gz");
    if (PYTHON_WITH_CRYPTOGRAPHY) {
      execFileSync(PYTHON_WITH_CRYPTOGRAPHY, [ECIES_PY, "decrypt", join(dir, "k.pem"), path, plainPath]);
    } else {
      console.log("decrypting with our own decryptStream: no python3 with the cryptography package");
      await writeFile(
        plainPath,
        await collect(decryptStream(createReadStream(path), parsePrivateKey(keys.privateKeyPem))),
      );
    }
  }
  return {
    path,
    plainPath,
    expected,
    size: result.commit.size,
    metadataJson,
    ...(variant.encrypt ? { decryptKey: keys.privateKeyPem } : {}),
  };
}

/** Our reader, as `restore` uses it: bodies streamed to a consumer, a digest per entry. */
async function ours(written: Written): Promise<{ listed: ListedEntry[]; tarBytes: number }> {
  const hashes: Record<string, string> = {};
  const report = await readArchive(createReadStream(written.path), {
    ...(written.decryptKey ? { decryptKey: written.decryptKey } : {}),
    onEntry: async (entry) => {
      const body = await collect(entry.body);
      const digest = await entry.digest;
      expect(digest.sha256).toBe(sha256(body));
      expect(digest.status).toBe("pending"); // metadata comes last
      hashes[entry.name] = digest.sha256;
    },
  });
  expect(report.ok).toBe(true);
  expect(report.metadataPosition).toBe("last");
  expect(report.checksums.every((c) => c.status === "ok")).toBe(true);
  const verified = await verifyArchive(createReadStream(written.path), {
    ...(written.decryptKey ? { decryptKey: written.decryptKey } : {}),
  });
  expect(verified.ok).toBe(true);
  if (!written.decryptKey) expect(verified.compressedBytes).toBe(written.size);
  const listed = report.entries.map((e): ListedEntry => {
    const sum =
      e.path === "backup_information.json" ? sha256(Buffer.from(written.metadataJson)) : hashes[e.name];
    return {
      name: e.name,
      type: e.type === "directory" ? "dir" : "file",
      size: e.size,
      ...(sum ? { sha256: sum } : {}),
    };
  });
  return { listed, tarBytes: report.tarBytes };
}

let goBin: string | undefined;
let goDir: AsyncDisposable & { path: string };

beforeAll(async () => {
  goDir = await tempDir();
  if (HAVE_GO) goBin = await buildGoReader(goDir.path);
  else console.log("skipping the Go reader: no `go` toolchain on this machine");
  if (!HAVE_BUSYBOX) console.log("skipping BusyBox tar: `busybox` is not installed");
  return async () => {
    await goDir[Symbol.asyncDispose]();
  };
}, 120_000);

describe("every reader sees every entry of every archive variant we write (one gzip member)", () => {
  for (const variant of variants()) {
    it(variant.name, { timeout: 60_000 }, async () => {
      await using tmp = await tempDir();
      const written = await write(tmp.path, variant);
      const { listed, tarBytes } = await ours(written);
      expect(listed).toEqual(written.expected);

      const plain = written.plainPath;
      expect(await pythonStream(plain), "Python tarfile r|gz from a pipe").toEqual(written.expected);
      expect(await pythonFile(plain, "r:gz"), "Python tarfile r:gz").toEqual(written.expected);
      expect(await pythonFile(plain, "r:*"), "Python tarfile r:*").toEqual(written.expected);
      expect(await gnuTar(plain), "GNU tar").toEqual(written.expected);
      if (HAVE_BUSYBOX) expect(await busyboxTar(plain), "BusyBox tar").toEqual(written.expected);
      if (goBin)
        expect(await goReader(goBin, plain), "Go archive/tar + compress/gzip").toEqual(written.expected);
      await gzipTest(plain);
      expect(await gzipList(plain)).toEqual({
        compressed: (await stat(plain)).size,
        uncompressed: tarBytes % 2 ** 32,
      });
    });
  }

  it("metadata bytes are Go MarshalIndent style, upstream field order", async () => {
    await using tmp = await tempDir();
    const written = await write(tmp.path, variants()[0] as Variant);
    const json = execFileSync("tar", ["-xzOf", written.path, "backup/backup_information.json"], {
      encoding: "utf8",
    });
    expect(json).toBe(written.metadataJson);
    expect(json.split("\n").slice(0, 8)).toEqual([
      "{",
      '    "metadata_version": 2025111200,',
      '    "backup_id": "infrahub_backup_20260130_092031",',
      '    "created_at": "2026-01-30T09:20:31Z",',
      '    "tool_version": "v0.1.0",',
      '    "infrahub_version": "1.5.3",',
      '    "components": [',
      '        "database",',
    ]);
    expect(json).toMatch(/"neo4j_edition": "community"\n}$/);
  });
});
