import { deflateRawSync } from "node:zlib";
import type { Executor } from "../../exec/executor.js";
import type { PostgresCredentials } from "./credentials.js";
import { libpqEnv } from "./postgres-engine.js";

/** How `pg_dump -Fc` compresses, chosen for this database rather than inherited (zlib level 6). */
export interface PgDumpCompression {
  /** pg_dump's option, e.g. `--compress=lz4`, `--compress=1`, `--compress=0`. */
  flag: string;
  /** Why, for the log. */
  reason: string;
}

/** Below this ratio (compressed ÷ raw) at deflate level 1, a sample is worth compressing. */
const WORTH_COMPRESSING = 0.9;
/** Bytes of table data sampled. */
const SAMPLE_BYTES = 4 * 1024 * 1024;

/**
 * pg_dump's default zlib level 6 runs at ~16 MB/s on one core on incompressible data, most of a large
 * backup's time. Chosen instead: no compression when a sample of the largest table's rows (binary COPY)
 * does not shrink at deflate level 1 — the archive then stores the dump as is; otherwise lz4 where
 * pg_dump supports it (16+), else zlib level 1. The dump stays custom format (`-Fc`): pg_restore of the
 * same version — upstream's tool included — restores it. Any probe that fails gives zlib level 1.
 */
export async function choosePgDumpCompression(
  executor: Executor,
  credentials: PostgresCredentials,
  options: { signal?: AbortSignal } = {},
): Promise<PgDumpCompression> {
  const sig = options.signal ? { signal: options.signal } : {};
  const version = await executor
    .exec({ argv: ["pg_dump", "--version"], timeoutMs: 30_000, ...sig })
    .then((r) => Number(/(\d+)(?:\.\d+)?/.exec(r.stdout.toString("utf8"))?.[1] ?? 0))
    .catch(() => {
      options.signal?.throwIfAborted();
      // A pg_dump that cannot say its version still dumps; the choice below is safe for every version.
      return 0;
    });
  const fast =
    version >= 16 ? { flag: "--compress=lz4", name: "lz4" } : { flag: "--compress=1", name: "zlib level 1" };
  const sample = await sampleLargestTable(executor, credentials, sig);
  if (sample === undefined) return { flag: fast.flag, reason: `${fast.name} (no table data to sample)` };
  const ratio = deflateRawSync(sample, { level: 1 }).length / sample.length;
  if (ratio > WORTH_COMPRESSING) {
    return {
      flag: "--compress=0",
      reason: `none: a sample of the largest table does not shrink (${ratio.toFixed(2)})`,
    };
  }
  return {
    flag: fast.flag,
    reason: `${fast.name}: a sample of the largest table shrinks to ${ratio.toFixed(2)}`,
  };
}

/** Up to SAMPLE_BYTES of the largest user table's rows, binary COPY; undefined when there is none or it fails. */
async function sampleLargestTable(
  executor: Executor,
  credentials: PostgresCredentials,
  sig: { signal?: AbortSignal },
): Promise<Buffer | undefined> {
  const script = `set -e
t=$(psql -X -A -t -h localhost -U "$PGUSER" -d "$PGDATABASE" -c "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC LIMIT 1")
[ -n "$t" ] || exit 0
psql -X -h localhost -U "$PGUSER" -d "$PGDATABASE" -c "COPY (SELECT * FROM $t LIMIT 20000) TO STDOUT WITH (FORMAT binary)" | head -c "$N"`;
  try {
    const result = await executor.exec({
      argv: ["sh", "-c", script],
      env: { ...libpqEnv(credentials), N: String(SAMPLE_BYTES) },
      maxOutputBytes: SAMPLE_BYTES + 1024,
      timeoutMs: 60_000,
      ...sig,
    });
    // A COPY cut by `head` exits non-zero (SIGPIPE): what arrived is the sample all the same.
    return result.stdout.length >= 64 * 1024 ? result.stdout : undefined;
  } catch {
    sig.signal?.throwIfAborted();
    // Sampling is an optimisation: without it, the safe default (zlib level 1 or lz4) applies.
    return undefined;
  }
}
