import { open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { formatExposition, mergeRun, parseSamples } from "./metrics.js";
import type { RunResult } from "./run-record.js";

/**
 * Writes the run into a node-exporter textfile: the series of earlier runs stay (other operations and
 * deployments, and the last success when this run failed), every series carries job/deployment/operation.
 * Atomic: a temp file in the same directory (no `.prom` suffix, so the collector never reads it half
 * written), fsync, rename.
 */
export async function writeMetricsFile(path: string, result: RunResult): Promise<void> {
  let earlier = "";
  try {
    earlier = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const text = formatExposition(mergeRun(parseSamples(earlier), result));
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
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
