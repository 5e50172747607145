import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (testkit lives in packages/testkit/src). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

let pins: Record<string, string> | undefined;

/** The pins of tools/versions.env, parsed once. */
export function toolVersions(): Record<string, string> {
  if (pins) return pins;
  const text = readFileSync(join(repoRoot, "tools/versions.env"), "utf8");
  const parsed: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=([^\s#]*)/.exec(line);
    if (match?.[1]) parsed[match[1]] = match[2] ?? "";
  }
  pins = parsed;
  return parsed;
}

/** The toolchain cache the bootstrap installs into (same rule as tools/lib.sh). */
export function toolsDir(): string {
  const cache =
    process.env.IHB_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "infrahub-backup");
  return join(cache, "tools");
}

/**
 * Absolute path of an installed tool directory `<tools>/<name>-<version>`, or a clear error telling
 * the developer to run the bootstrap. Tests never depend on what happens to be on PATH.
 */
export function toolDir(name: string, versionKey: string): string {
  const version = toolVersions()[versionKey];
  if (!version) throw new Error(`tools/versions.env has no value for ${versionKey}`);
  const dir = join(toolsDir(), `${name}-${version}`);
  if (!existsSync(join(dir, ".installed"))) {
    throw new Error(`${name} ${version} is not installed in ${dir}: run tools/bootstrap.sh first`);
  }
  return dir;
}

/** Absolute path of a PostgreSQL server/client binary (Debian layout). */
export function postgresBin(name: string): string {
  const major = toolVersions().POSTGRES_MAJOR ?? "15";
  const path = `/usr/lib/postgresql/${major}/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} not found: run tools/bootstrap.sh first`);
  return path;
}

/**
 * The Neo4j freeze helper built by tools/install/freeze-helper.sh for this checkout's source
 * (cached under a hash of go.mod + *.go, computed here the same way).
 */
export function freezeHelperPath(
  arch: "amd64" | "arm64" = process.arch === "arm64" ? "arm64" : "amd64",
): string {
  const src = join(repoRoot, "packages/image/neo4j-freeze");
  const files = [
    "go.mod",
    ...readdirSync(src)
      .filter((f) => f.endsWith(".go"))
      .sort(),
  ];
  const hash = createHash("sha256");
  for (const file of files) hash.update(readFileSync(join(src, file)));
  const path = join(
    toolsDir(),
    `neo4j-freeze-${hash.digest("hex").slice(0, 16)}`,
    `neo4j-freeze-linux-${arch}`,
  );
  if (!existsSync(path)) throw new Error(`${path} not found: run tools/bootstrap.sh first`);
  return path;
}
