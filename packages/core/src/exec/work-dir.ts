import { randomBytes } from "node:crypto";

/**
 * A fresh scratch directory name in a container, never reused: leftovers of an earlier run must not be
 * picked up (upstream #156). The caller creates it (`mkdir`, which fails on a collision) and removes it.
 */
export function containerWorkDir(): string {
  return `/tmp/infrahub-backup-${randomBytes(6).toString("hex")}`;
}
