import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { type DamageBase, damageBases } from "./__tests__/damage-bases.js";
import { bufferSource, collect, MemorySink, sha256 } from "./__tests__/helpers.js";
import { mutate, prng } from "./__tests__/mutate.js";
import { readArchive } from "./archive-reader.js";
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
const keys = generateEncryptionKeyPair();

async function bases(): Promise<DamageBase[]> {
  // 2 KiB segments: the deflated entry is five independently deflated segments, CRCs combined.
  const plain = await damageBases(files, { deflateBlockBytes: 2048 });
  const ours = plain[0] as DamageBase;
  const inner = new MemorySink();
  const enc = new EncryptingSink(inner, parsePublicKey(keys.publicKeyFile), { chunkSize: 4096 });
  await enc.write(ours.bytes);
  await enc.commit();
  return [
    ...plain,
    { ...ours, name: "encrypted", bytes: inner.committed as Buffer, decryptKey: keys.privateKeyPem },
  ];
}

async function attempt(bytes: Buffer, base: DamageBase): Promise<string> {
  const seen: Record<string, string> = {};
  const run = readArchive(bufferSource(bytes, 777), {
    ...(base.decryptKey ? { decryptKey: base.decryptKey } : {}),
    onEntry: async (entry) => {
      seen[entry.path] = sha256(await collect(entry.body));
    },
  }).then(
    () => {
      // Success must mean exactly the original data.
      expect(seen).toEqual(base.files);
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
