import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BackupError } from "@infrahub-backup/core";
import type { HostEnvironment } from "./options.js";

type Arch = "amd64" | "arm64";

/** Candidate paths of `neo4j-freeze-linux-<arch>`, most explicit first. */
export function freezeHelperCandidates(
  arch: Arch,
  env: HostEnvironment,
  moduleUrl = import.meta.url,
): string[] {
  const file = `neo4j-freeze-linux-${arch}`;
  const here = dirname(fileURLToPath(moduleUrl));
  const out: string[] = [];
  if (env.INFRAHUB_FREEZE_HELPER_DIR) out.push(join(env.INFRAHUB_FREEZE_HELPER_DIR, file));
  // The image puts the helper in libexec/ next to the bundle (dist/bundle/ or dist/).
  out.push(join(here, "libexec", file), join(here, "..", "libexec", file));
  const dev = devHelperPath(arch, env, here);
  if (dev) out.push(dev);
  return out;
}

/** When running from the repository: the helper tools/bootstrap.sh built for this checkout's source. */
function devHelperPath(arch: Arch, env: HostEnvironment, here: string): string | undefined {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const src = join(dir, "packages/image/neo4j-freeze");
    if (existsSync(join(src, "go.mod"))) {
      const files = [
        "go.mod",
        ...readdirSync(src)
          .filter((f) => f.endsWith(".go"))
          .sort(),
      ];
      const hash = createHash("sha256");
      for (const f of files) hash.update(readFileSync(join(src, f)));
      const cache = env.IHB_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "infrahub-backup");
      return join(
        cache,
        "tools",
        `neo4j-freeze-${hash.digest("hex").slice(0, 16)}`,
        `neo4j-freeze-linux-${arch}`,
      );
    }
    dir = resolve(dir, "..");
  }
  return undefined;
}

/** The `freezeHelper` option of createBackup/restoreBackup: the first candidate that exists, or a clear error. */
export function freezeHelperResolver(env: HostEnvironment): (arch: Arch) => string {
  return (arch) => {
    const candidates = freezeHelperCandidates(arch, env);
    const found = candidates.find((p) => existsSync(p));
    if (found) return found;
    throw new BackupError(
      "INVALID_CONFIG",
      `the Neo4j freeze helper neo4j-freeze-linux-${arch} was not found`,
      {
        hint:
          "set INFRAHUB_FREEZE_HELPER_DIR to the directory holding it (looked in: " +
          candidates.join(", ") +
          ")",
      },
    );
  };
}
