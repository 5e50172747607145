import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource, collect, MemorySink, patternSource, sha256 } from "./__tests__/helpers.js";
import { PYTHON_WITH_CRYPTOGRAPHY } from "./__tests__/interop.js";
import { readArchive } from "./archive-reader.js";
import { ArchiveWriter } from "./archive-writer.js";
import {
  decryptStream,
  detectArchiveFormat,
  EncryptingSink,
  generateEncryptionKeyPair,
  OPSMILL_PUBLIC_KEY,
  parsePrivateKey,
  parsePublicKey,
  publicKeyToBase64,
  writeEncryptionKeyFiles,
} from "./encryption.js";

const PY = join(import.meta.dirname, "../../test/fixtures/archives/ecies.py");
const PYTHON = PYTHON_WITH_CRYPTOGRAPHY;
const withPython = PYTHON ? it : it.skip;
if (!PYTHON) console.log("skipping Python ECIES interop: no python3 with the cryptography package");

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof BackupError) return error.code;
    throw error;
  }
}

async function encryptBytes(plain: Uint8Array, publicKey: string, chunkSize?: number): Promise<Buffer> {
  const inner = new MemorySink();
  const sink = new EncryptingSink(inner, parsePublicKey(publicKey), chunkSize ? { chunkSize } : {});
  for (const chunk of [plain.subarray(0, 1000), plain.subarray(1000)]) await sink.write(chunk);
  await sink.commit();
  return inner.committed as Buffer;
}

describe("ECIES v2 container", () => {
  it("keygen writes upstream-compatible key files and the built-in key parses", () => {
    const pair = generateEncryptionKeyPair();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(pair.publicKeyFile).toMatch(/^[A-Za-z0-9+/]{87}=\n$/);
    expect(Buffer.from(pair.publicKeyBase64, "base64")[0]).toBe(0x04);
    expect(publicKeyToBase64(parsePrivateKey(pair.privateKeyPem))).toBe(pair.publicKeyBase64);
    expect(publicKeyToBase64(parsePublicKey(OPSMILL_PUBLIC_KEY))).toBe(OPSMILL_PUBLIC_KEY);
    expect(() => parsePublicKey("BAAA")).toThrow(BackupError);
    // A point that is not on the curve.
    const bad = Buffer.from(OPSMILL_PUBLIC_KEY, "base64");
    bad[64] = (bad[64] as number) ^ 1;
    expect(() => parsePublicKey(bad.toString("base64"))).toThrow(BackupError);
    expect(() => parsePrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(
      BackupError,
    );
  });

  it("keygen files: 0600 PEM and 0644 .pub, never overwritten", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "backup.key");
    const pair = await writeEncryptionKeyFiles(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.pub`)).mode & 0o777).toBe(0o644);
    expect(await readFile(`${path}.pub`, "utf8")).toBe(pair.publicKeyFile);
    expect(publicKeyToBase64(parsePrivateKey(await readFile(path)))).toBe(pair.publicKeyBase64);
    expect(await codeOf(writeEncryptionKeyFiles(path))).toBe("ARTIFACT_EXISTS");
    expect(await readFile(`${path}.pub`, "utf8")).toBe(pair.publicKeyFile);
  });

  it("detects the container by its first byte", () => {
    expect(detectArchiveFormat(0x02)).toBe("encrypted");
    expect(detectArchiveFormat(0x1f)).toBe("gzip");
    expect(() => detectArchiveFormat(0x50)).toThrow("unrecognized file format: first byte 0x50");
  });

  withPython("interoperates with an independent Python implementation in both directions", async () => {
    await using tmp = await tempDir();
    const pair = generateEncryptionKeyPair();
    await writeFile(join(tmp.path, "k.pem"), pair.privateKeyPem);
    await writeFile(join(tmp.path, "k.pub"), pair.publicKeyFile);
    const plain = await collect(patternSource(9 * 1024 * 1024 + 5)); // three 4 MiB chunks
    await writeFile(join(tmp.path, "plain"), plain);

    // Ours → Python.
    await writeFile(join(tmp.path, "ours.enc"), await encryptBytes(plain, pair.publicKeyFile));
    execFileSync(PYTHON as string, [
      PY,
      "decrypt",
      join(tmp.path, "k.pem"),
      join(tmp.path, "ours.enc"),
      join(tmp.path, "ours.out"),
    ]);
    expect(sha256(await readFile(join(tmp.path, "ours.out")))).toBe(sha256(plain));

    // Python → ours.
    execFileSync(PYTHON as string, [
      PY,
      "encrypt",
      join(tmp.path, "k.pub"),
      join(tmp.path, "plain"),
      join(tmp.path, "py.enc"),
    ]);
    const out = await collect(
      decryptStream(createReadStream(join(tmp.path, "py.enc")), parsePrivateKey(pair.privateKeyPem)),
    );
    expect(sha256(out)).toBe(sha256(plain));
  });

  withPython("encrypts an archive while the writer patches headers inside encrypted chunks", async () => {
    await using tmp = await tempDir();
    const pair = generateEncryptionKeyPair();
    const path = join(tmp.path, "infrahub_backup_20260130_092031.tar.gz.enc");
    // Small chunks so that headers straddle chunk boundaries and several chunks are held.
    const sink = new EncryptingSink(await FileSink.create(path), parsePublicKey(pair.publicKeyFile), {
      chunkSize: 1000,
    });
    const writer = new ArchiveWriter(sink);
    const neo4j = await collect(patternSource(200_000, { chunkSize: 777, prefix: Buffer.from("DZV1") }));
    await writer.addFile("database/neo4j.dump", bufferSource(neo4j, 333));
    await writer.addFile("prefect.dump", bufferSource(Buffer.from("PGDMP-data".repeat(5000)), 4096));
    await writer.finish({
      backupId: "infrahub_backup_20260130_092031",
      createdAt: "2026-01-30T09:20:31Z",
      toolVersion: "v0.1.0",
      infrahubVersion: "1.5.3",
      components: ["database", "task-manager-db"],
      neo4jEdition: "community",
      encrypted: true,
    });
    const report = await readArchive(createReadStream(path), { decryptKey: pair.privateKeyPem });
    expect(report.encrypted).toBe(true);
    expect(report.metadata.encrypted).toBe(true);
    expect(report.checksums.map((c) => c.status)).toEqual(["ok", "ok"]);
    expect(report.metadata.checksums["database/neo4j.dump"]).toBe(sha256(neo4j));

    // Python decrypts it, then GNU tar reads the plaintext.
    await writeFile(join(tmp.path, "k.pem"), pair.privateKeyPem);
    execFileSync(PYTHON as string, [
      PY,
      "decrypt",
      join(tmp.path, "k.pem"),
      path,
      join(tmp.path, "plain.tar.gz"),
    ]);
    expect(execFileSync("tar", ["-tzf", join(tmp.path, "plain.tar.gz")], { encoding: "utf8" })).toContain(
      "backup/prefect.dump",
    );
  });

  it("fails clearly: no key, wrong key, unexpected key, truncated, size mismatch, trailing data", async () => {
    const pair = generateEncryptionKeyPair();
    const other = generateEncryptionKeyPair();
    const plain = await collect(patternSource(300_000));
    const enc = await encryptBytes(plain, pair.publicKeyFile, 100_000);
    const key = parsePrivateKey(pair.privateKeyPem);
    expect(await codeOf(collect(decryptStream(bufferSource(enc), key)))).toBe("ok");
    expect(
      await codeOf(collect(decryptStream(bufferSource(enc), parsePrivateKey(other.privateKeyPem)))),
    ).toBe("DECRYPTION_FAILED");
    expect(await codeOf(collect(decryptStream(bufferSource(enc.subarray(0, enc.length - 10)), key)))).toBe(
      "ARCHIVE_TRUNCATED",
    );
    expect(await codeOf(collect(decryptStream(bufferSource(enc.subarray(0, 50)), key)))).toBe(
      "ARCHIVE_TRUNCATED",
    );
    expect(
      await codeOf(collect(decryptStream(bufferSource(Buffer.concat([enc, Buffer.from("x")])), key))),
    ).toBe("DECRYPTION_FAILED");
    const lie = Buffer.from(enc);
    lie.writeBigUInt64BE(BigInt(plain.length - 1), 70); // header size no longer matches
    expect(await codeOf(collect(decryptStream(bufferSource(lie), key)))).toBe("DECRYPTION_FAILED");
    const flipped = Buffer.from(enc);
    flipped[enc.length - 100] = (flipped[enc.length - 100] as number) ^ 0x40;
    expect(await codeOf(collect(decryptStream(bufferSource(flipped), key)))).toBe("DECRYPTION_FAILED");
    // Through the archive reader.
    expect(await codeOf(readArchive(bufferSource(enc)))).toBe("ENCRYPTION_KEY_REQUIRED");
    expect(await codeOf(readArchive(bufferSource(enc), { decryptKey: other.privateKeyPem }))).toBe(
      "DECRYPTION_FAILED",
    );
    expect(await codeOf(readArchive(bufferSource(enc), { decryptKey: "not a key" }))).toBe(
      "ENCRYPTION_KEY_INVALID",
    );
    const gz = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(await codeOf(readArchive(bufferSource(gz), { decryptKey: pair.privateKeyPem }))).toBe(
      "ENCRYPTION_UNEXPECTED_KEY",
    );
  });

  it("empty input encrypts to a header with zero chunks", async () => {
    const pair = generateEncryptionKeyPair();
    const inner = new MemorySink();
    const sink = new EncryptingSink(inner, parsePublicKey(pair.publicKeyFile));
    await sink.commit();
    expect(inner.committed?.length).toBe(86);
    expect(
      await collect(
        decryptStream(bufferSource(inner.committed as Buffer), parsePrivateKey(pair.privateKeyPem)),
      ),
    ).toHaveLength(0);
  });
});
