import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import {
  bufferSource,
  buildTar,
  collect,
  gzip,
  MemorySink,
  metadataJson,
  sha256,
} from "./__tests__/helpers.js";
import { MULTI_MEMBER, MULTI_MEMBER_FILES } from "./__tests__/multi-member-fixture.js";
import { mutate, prng } from "./__tests__/mutate.js";
import { readArchive } from "./archive-reader.js";
import { ArchiveWriter } from "./archive-writer.js";
import { EncryptingSink, generateEncryptionKeyPair, parsePublicKey } from "./encryption.js";

/** ARCHIVE_FUZZ_MS runs longer (the issue-26 bar: ~1M mutations in 8 min, no hang, only typed errors). */
const TIME_BUDGET_MS = Number(process.env.ARCHIVE_FUZZ_MS ?? 12_000);
const HANG_MS = 5_000;

const files: Record<string, Buffer> = {
  "database/neo4j.dump": Buffer.concat([
    Buffer.from("DZV1"),
    Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 7919) & 0xff)),
  ]),
  "database/neo4j-2025-01-01T00-00-00.backup": Buffer.from("text that deflates well ".repeat(400)),
  "prefect.dump": Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(3000, 5)]),
};
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const keys = generateEncryptionKeyPair();

interface Base {
  name: string;
  bytes: Buffer;
  expected: Record<string, string>;
  decryptKey?: string;
}

async function bases(): Promise<Base[]> {
  const sink = new MemorySink();
  // 2 KiB segments: the deflated entry is five independently deflated segments, CRCs combined.
  const writer = new ArchiveWriter(sink, { deflateBlockBytes: 2048 });
  for (const [path, data] of Object.entries(files)) await writer.addFile(path, bufferSource(data, 1500));
  await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database", "task-manager-db"],
  });
  const ours = sink.committed as Buffer;
  const upstream = gzip(
    buildTar([
      { name: "backup", typeflag: "5" },
      {
        name: "backup/backup_information.json",
        data: metadataJson({
          metadata_version: 2025111200,
          backup_id: "x",
          components: ["database", "task-manager-db"],
          checksums: expected,
        }),
      },
      { name: "backup/database", typeflag: "5" },
      ...Object.entries(files).map(([path, data]) => ({ name: `backup/${path}`, data })),
    ]),
  );
  const inner = new MemorySink();
  const enc = new EncryptingSink(inner, parsePublicKey(keys.publicKeyFile), { chunkSize: 4096 });
  await enc.write(ours);
  await enc.commit();
  return [
    { name: "ours (one member)", bytes: ours, expected },
    { name: "ours, multi-member generation (1eaafc3)", bytes: MULTI_MEMBER, expected: MULTI_MEMBER_FILES },
    { name: "upstream (single member)", bytes: upstream, expected },
    { name: "encrypted", bytes: inner.committed as Buffer, expected, decryptKey: keys.privateKeyPem },
  ];
}

async function attempt(bytes: Buffer, base: Base): Promise<string> {
  const seen: Record<string, string> = {};
  const run = readArchive(bufferSource(bytes, 777), {
    ...(base.decryptKey ? { decryptKey: base.decryptKey } : {}),
    onEntry: async (entry) => {
      seen[entry.path] = sha256(await collect(entry.body));
    },
  }).then(
    () => {
      // Success must mean exactly the original data.
      expect(seen).toEqual(base.expected);
      return "ok";
    },
    (error: unknown) => {
      if (error instanceof BackupError) return error.code;
      throw error;
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((_, reject) => {
    timer = setTimeout(() => reject(new Error("reader hung")), HANG_MS);
  });
  try {
    return await Promise.race([run, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe("fuzz: random mutations", () => {
  it("end in the original data or a BackupError, never a hang or another error", {
    timeout: TIME_BUDGET_MS + 60_000,
  }, async () => {
    const seed = Number(process.env.ARCHIVE_FUZZ_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const inputs = await bases();
    const tally = new Map<string, number>();
    const deadline = Date.now() + TIME_BUDGET_MS;
    let runs = 0;
    while (Date.now() < deadline) {
      const base = inputs[runs % inputs.length] as (typeof inputs)[number];
      const mutated = mutate(base.bytes, rand);
      let result: string;
      if (process.env.ARCHIVE_FUZZ_DUMP !== undefined && runs === Number(process.env.ARCHIVE_FUZZ_DUMP)) {
        // Replay aid: ARCHIVE_FUZZ_SEED=<seed> ARCHIVE_FUZZ_DUMP=<run> writes the failing input.
        writeFileSync(join(tmpdir(), "archive-fuzz-case.bin"), mutated);
      }
      try {
        result = await attempt(mutated, base);
      } catch (error) {
        throw new Error(
          `fuzz failure (ARCHIVE_FUZZ_SEED=${seed}, run ${runs}, base ${base.name}): ${String(error)}`,
          { cause: error },
        );
      }
      tally.set(result, (tally.get(result) ?? 0) + 1);
      runs++;
    }
    console.log(
      `fuzz seed ${seed}: ${runs} runs`,
      Object.fromEntries([...tally].sort((a, b) => b[1] - a[1])),
    );
    expect(runs).toBeGreaterThan(100);
  });
});
