import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { type DamageBase, damageBases } from "./__tests__/damage-bases.js";
import { bufferSource, collect, sha256 } from "./__tests__/helpers.js";
import { mutate, prng } from "./__tests__/mutate.js";
import { readArchive } from "./archive-reader.js";

const run = promisify(execFile);
/** Mutated archives per run; each is read by ours, GNU tar and Python (streaming and random access). */
const SAMPLES = Number(process.env.ARCHIVE_DIFF_SAMPLES ?? 240);

const files: Record<string, Buffer> = {
  "database/neo4j.dump": Buffer.concat([
    Buffer.from("DZV1"),
    Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24)),
  ]),
  "database/neo4j-2025-01-01T00-00-00.backup": Buffer.from("text that deflates well ".repeat(1000)),
  "database/empty.backup": Buffer.alloc(0),
  "prefect.dump": Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(3000, 5)]),
};

/** Paths whose complete, original bytes a reader handed out (whatever it did afterwards). */
type Intact = Set<string>;

interface OursResult {
  intact: Intact;
  /** `ok` or the BackupError code. */
  outcome: string;
}

async function ours(bytes: Buffer, base: DamageBase): Promise<OursResult> {
  const intact: Intact = new Set();
  const seen: Record<string, string> = {};
  let outcome: string;
  try {
    await readArchive(bufferSource(bytes, 4096), {
      onEntry: async (entry) => {
        const sum = sha256(await collect(entry.body));
        seen[entry.path] = sum;
        if (base.files[entry.path] === sum) intact.add(entry.path);
      },
    });
    outcome = "ok";
    // Success must mean exactly the original data.
    expect(seen).toEqual(base.files);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    outcome = error.code;
  }
  return { intact, outcome };
}

/** GNU tar hashes each file it extracts (`--to-command`: nothing is written); errors are expected. */
async function gnuTar(path: string, base: DamageBase): Promise<Intact> {
  const result = await run("tar", ["-xzf", path, '--to-command=printf "%s " "$TAR_FILENAME"; sha256sum'], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
  return intactFrom(
    result.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split(/\s+/) as [string, string]),
    base,
  );
}

function intactFrom(pairs: Array<[string, string]>, base: DamageBase): Intact {
  const intact: Intact = new Set();
  for (const [name, sum] of pairs) {
    const path = name.startsWith("backup/") ? name.slice("backup/".length) : name;
    if (base.files[path] === sum) intact.add(path);
  }
  return intact;
}

/**
 * Python `tarfile` in one process for every sample: streaming `r|gz` (as from an S3 body) and random
 * access `r:gz`; per archive, the files read to their end with their SHA-256, up to the first error.
 */
const PYTHON_BATCH = `
import hashlib, json, sys, tarfile
def read(path, mode):
    got = []
    try:
        with open(path, "rb") as fo, tarfile.open(fileobj=fo, mode=mode) as tf:
            for m in tf:
                if not m.isfile():
                    continue
                f = tf.extractfile(m)
                h, n = hashlib.sha256(), 0
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
                if n == m.size:
                    got.append([m.name, h.hexdigest()])
    except Exception:
        pass  # damaged archive: what was read before the error is the answer
    return got
print(json.dumps([{"stream": read(p, "r|gz"), "file": read(p, "r:gz")} for p in sys.argv[1:]]))
`;

describe("differential: on mutated archives, ours is never laxer than GNU tar and Python", () => {
  it("every file our reader hands out intact is also intact for GNU tar, Python r|gz and Python r:gz", {
    timeout: 180_000,
  }, async () => {
    const seed = Number(process.env.ARCHIVE_FUZZ_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    // 4 KiB segments: the deflated entry is several independently deflated segments.
    const inputs = await damageBases(files, { deflateBlockBytes: 4096 });
    await using tmp = await tempDir();
    const samples: Array<{ base: DamageBase; path: string; bytes: Buffer }> = [];
    for (let i = 0; i < SAMPLES; i++) {
      const base = inputs[i % inputs.length] as DamageBase;
      const bytes = mutate(base.bytes, rand);
      const path = join(tmp.path, `case-${i}.tar.gz`);
      await writeFile(path, bytes);
      samples.push({ base, path, bytes });
    }
    const python = JSON.parse(
      (
        await run("python3", ["-c", PYTHON_BATCH, ...samples.map((s) => s.path)], {
          encoding: "utf8",
          maxBuffer: 64 * 1024 * 1024,
        })
      ).stdout,
    ) as Array<{ stream: Array<[string, string]>; file: Array<[string, string]> }>;

    /** oursStricter: (sample, reader) pairs where another reader had intact files ours did not hand out. */
    const tally = { oursOk: 0, oursHandedOutIntactFiles: 0, oursStricter: 0 };
    for (const [i, sample] of samples.entries()) {
      const context = `ARCHIVE_FUZZ_SEED=${seed}, case ${i} (${sample.base.name})`;
      const mine = await ours(sample.bytes, sample.base);
      const others: Record<string, Intact> = {
        "GNU tar": await gnuTar(sample.path, sample.base),
        "Python r:gz": intactFrom(python[i]?.file ?? [], sample.base),
      };
      if (!sample.base.multiMember) others["Python r|gz"] = intactFrom(python[i]?.stream ?? [], sample.base);
      for (const [reader, intact] of Object.entries(others)) {
        const laxer = [...mine.intact].filter((p) => !intact.has(p));
        expect(laxer, `${context}: ours (${mine.outcome}) handed out files ${reader} did not`).toEqual([]);
        if ([...intact].some((p) => !mine.intact.has(p))) {
          tally.oursStricter++;
          if (process.env.ARCHIVE_DIFF_DEBUG)
            console.log(JSON.stringify([context, mine.outcome, [...mine.intact], reader, [...intact]]));
        }
      }
      if (mine.outcome === "ok") tally.oursOk++;
      if (mine.outcome !== "ok" && mine.intact.size > 0) tally.oursHandedOutIntactFiles++;
    }
    console.log(`differential seed ${seed}: ${SAMPLES} mutated archives`, tally);
    // Not vacuous: ours handed out intact files from many damaged archives, each checked above.
    expect(tally.oursHandedOutIntactFiles).toBeGreaterThan(SAMPLES / 20);
  });
});
