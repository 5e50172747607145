import { randomBytes } from "node:crypto";
import type { Executor } from "./executor.js";

/**
 * A fresh scratch directory name in a container, never reused: leftovers of an earlier run must not be
 * picked up (upstream #156). The caller creates it (`mkdir`, which fails on a collision) and removes it.
 */
export function containerWorkDir(): string {
  return `/tmp/infrahub-backup-${randomBytes(6).toString("hex")}`;
}

/**
 * `rm -rf dir` on the executor's target. Returns what went wrong (exit status and error output, or the exec
 * failure) or undefined once the directory is gone; never throws: each caller decides whether a directory
 * left behind is an error or a warning.
 */
export async function removeContainerDir(
  executor: Executor,
  dir: string,
  timeoutMs = 60_000,
): Promise<string | undefined> {
  try {
    const result = await executor.exec({ argv: ["rm", "-rf", dir], timeoutMs });
    if (result.exitCode === 0) return undefined;
    return `exit ${result.exitCode}: ${result.stderrTail.trim() || "no error output"}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
