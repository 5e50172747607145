/**
 * The Node.js version check that runs before anything else is imported. Dependencies (the AWS SDK among
 * them) fail while loading on older Node with errors that say nothing about the version (`Cannot read
 * properties of undefined (reading 'bind')`), so the entry points import this module alone, call
 * {@link guardNodeVersion}, and import the CLI only when it passes.
 *
 * This module imports nothing and uses no syntax newer than ES2017, so that it loads on any Node.js that
 * can load an ES module at all.
 */

/** `engines.node` of package.json (a test keeps the two equal). */
export const MIN_NODE_VERSION = "22.19.0";

/** Exit code of a refused runtime: a usage error (2) — the command line is fine, the runtime is not. */
export const UNSUPPORTED_NODE_EXIT = 2;

function parts(version: string): number[] {
  return version
    .replace(/^v/, "")
    .split(".")
    .map((p) => Number.parseInt(p, 10) || 0);
}

/** True when `version` (`22.19.0` or `v22.19.0`) is at least {@link MIN_NODE_VERSION}. */
export function isSupportedNode(version: string): boolean {
  const have = parts(version);
  const need = parts(MIN_NODE_VERSION);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] || 0;
    const b = need[i] || 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The refusal's message and hint for a runtime that is too old. */
export function unsupportedNodeError(
  version: string,
  execPath: string,
): { code: "NODE_UNSUPPORTED"; message: string; hint: string } {
  const [major, minor] = parts(MIN_NODE_VERSION);
  return {
    code: "NODE_UNSUPPORTED",
    message: `Node.js ≥ ${major}.${minor} is required; this is Node.js ${version.replace(/^v?/, "v")} (${execPath})`,
    hint: "install Node.js 22.19 or later (24 LTS recommended) and run infrahub-backup with it, or use the container image",
  };
}

/**
 * Refuses a Node.js older than {@link MIN_NODE_VERSION}: prints the error (a JSON error line when
 * `--log-format json` or `INFRAHUB_LOG_FORMAT=json` asks for it), sets the exit code to 2 and returns
 * false. Returns true when the runtime is supported.
 */
export function guardNodeVersion(
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  if (isSupportedNode(process.versions.node)) return true;
  const error = unsupportedNodeError(process.versions.node, process.execPath);
  const at = argv.indexOf("--log-format");
  const json =
    argv.indexOf("--log-format=json") >= 0 ||
    (at >= 0 ? argv[at + 1] === "json" : env.INFRAHUB_LOG_FORMAT === "json");
  if (json) {
    process.stderr.write(
      `${JSON.stringify({
        type: "error",
        time: new Date().toISOString(),
        message: error.message,
        code: error.code,
        category: "usage",
        exit_code: UNSUPPORTED_NODE_EXIT,
        hint: error.hint,
      })}\n`,
    );
  } else {
    process.stderr.write(`Error: ${error.message}\nHint: ${error.hint}\n`);
  }
  process.exitCode = UNSUPPORTED_NODE_EXIT;
  return false;
}
