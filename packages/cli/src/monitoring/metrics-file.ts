import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { formatExposition, mergeRun, parseSamples } from "./metrics.js";
import type { RunResult } from "./run-record.js";

/** How long a run waits for another one writing the same file, and when a lock is taken for abandoned. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 30_000;
const LOCK_POLL_MS = 50;

/**
 * Writes the run into a node-exporter textfile: the series of earlier runs stay (other operations and
 * deployments, and the last success when this run failed), every series carries job/deployment/operation.
 * Atomic: a temp file in the same directory (no `.prom` suffix, so the collector never reads it half
 * written), fsync, rename. Runs that end at the same time (one host's cron, several deployments) take
 * turns through a lock file beside it, so none drops another's series.
 */
export async function writeMetricsFile(path: string, result: RunResult): Promise<void> {
  await using _lock = await lockFile(join(dirname(path), `.${basename(path)}.lock`));
  let earlier = "";
  try {
    earlier = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const text = formatExposition(mergeRun(parseSamples(earlier), result));
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    // 0644: node-exporter runs as another user, and the file holds no secret.
    const file = await open(temp, "w", 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Creates `path` exclusively, waiting while another run holds it; a lock older than LOCK_STALE_MS was left
 * by a run killed mid-write (a write takes milliseconds) and is taken over. Removed on dispose.
 */
async function lockFile(path: string): Promise<AsyncDisposable> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(path, "wx", 0o644)).close();
      return { [Symbol.asyncDispose]: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      // Gone between the two calls: the other run finished; try again at once.
      () => 0,
    );
    if (age > LOCK_STALE_MS) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `another run has been writing ${dirname(path)} for over ${LOCK_WAIT_MS / 1000} s (lock ${path})`,
      );
    }
    await sleep(LOCK_POLL_MS);
  }
}
