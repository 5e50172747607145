import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { collect, MemorySink, sha256 } from "./__tests__/helpers.js";
import { readArchive } from "./archive-reader.js";
import type { ArchiveSink } from "./archive-sink.js";
import { ArchiveWriter, type EntryCompression } from "./archive-writer.js";
import { EncryptingSink, generateEncryptionKeyPair, parsePublicKey } from "./encryption.js";

const TIME_BUDGET_MS = 8_000;
const keys = generateEncryptionKeyPair();

function int(max: number): number {
  return Math.floor(Math.random() * max);
}

async function* chunked(data: Buffer, maxChunk: number): AsyncGenerator<Buffer> {
  for (let pos = 0; pos < data.length; ) {
    const n = 1 + int(maxChunk);
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

describe("property: random entries, chunkings, encodings and encryption chunk sizes round-trip", () => {
  it("reads back exactly what was written", { timeout: 60_000 }, async () => {
    const deadline = Date.now() + TIME_BUDGET_MS;
    let runs = 0;
    while (Date.now() < deadline) {
      const inner = new MemorySink();
      const encrypt = Math.random() < 0.5;
      const chunkSize = 513 + int(40_000);
      const sink: ArchiveSink = encrypt
        ? new EncryptingSink(inner, parsePublicKey(keys.publicKeyFile), { chunkSize })
        : inner;
      const writer = new ArchiveWriter(sink, {
        deflateBlockBytes: 1 + int(100_000),
        parallelism: 1 + int(3),
        sampleBytes: int(5000),
      });
      const expected: Record<string, string> = {};
      const count = 1 + int(3);
      for (let i = 0; i < count; i++) {
        const size = int(5) === 0 ? 0 : int(200_000);
        // Half random (incompressible), half repetitive.
        const data = Math.random() < 0.5 ? randomBytes(size) : Buffer.alloc(size, int(256));
        const path = `database/file-${i}.backup`;
        const compression = (["auto", "store", "deflate"] as EntryCompression[])[int(3)] as EntryCompression;
        await writer.addFile(path, chunked(data, 1 + int(70_000)), { compression });
        expected[path] = sha256(data);
      }
      await writer.finish({
        backupId: "infrahub_backup_20260130_092031",
        createdAt: "2026-01-30T09:20:31Z",
        toolVersion: "v0.1.0",
        infrahubVersion: "1.5.3",
        components: ["database"],
      });
      const seen: Record<string, string> = {};
      const report = await readArchive(chunked(inner.committed as Buffer, 1 + int(20_000)), {
        ...(encrypt ? { decryptKey: keys.privateKeyPem } : {}),
        onEntry: async (entry) => {
          seen[entry.path] = sha256(await collect(entry.body));
        },
      });
      expect(seen, `run ${runs} (encrypt=${encrypt}, chunkSize=${chunkSize})`).toEqual(expected);
      expect(report.ok).toBe(true);
      runs++;
    }
    console.log(`property runs: ${runs}`);
    expect(runs).toBeGreaterThan(20);
  });
});
