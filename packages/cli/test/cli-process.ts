// Runs the CLI as a child process, as users and CronJobs do.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const pkgDir = fileURLToPath(new URL("..", import.meta.url));
/**
 * A bundle built once before the test run (tools/run-tests.sh: the source does not change during a CI run),
 * used by every test file instead of one esbuild run per file; it must lie in this package's dist/ too.
 */
const sharedBundle = process.env.IHB_TEST_CLI_BUNDLE || undefined;

/**
 * The CLI under test: the single-file bundle built from the current source (as the image ships it), in
 * this package's dist/ so that the repository-relative freeze-helper lookup applies. One file per test
 * process: test files run in parallel.
 */
export const bin = sharedBundle ?? join(pkgDir, "dist", `test-bundle-${process.pid}`, "infrahub-backup.mjs");

/** Bundles the CLI from source with esbuild (no type check: other packages may be mid-edit). */
export function buildCli(): void {
  if (sharedBundle) return;
  execFileSync(process.execPath, [join(pkgDir, "scripts/bundle.mjs"), bin], { cwd: pkgDir, stdio: "pipe" });
}

/** Removes this process's bundle (a shared one is the test run's). */
export function removeCli(): void {
  if (sharedBundle) return;
  rmSync(dirname(bin), { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The env a clean CI job would have: PATH/HOME and the toolchain cache only, plus `extra`. The machine's
 * Docker engine is out of reach (DOCKER_HOST names a socket that does not exist) unless `docker: "machine"`:
 * Compose detection runs first, and a real Compose project another test file runs at the same time
 * (compose-real) must not become a second Infrahub in this CLI's `environment list` or detection.
 */
export function cleanEnv(
  extra: Record<string, string | undefined> = {},
  options: { docker?: "none" | "machine" } = {},
): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "IHB_CACHE", "XDG_CACHE_HOME", "TMPDIR", "LANG"];
  if (options.docker === "machine") keep.push("DOCKER_HOST", "DOCKER_CONFIG");
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  if (options.docker !== "machine") env.DOCKER_HOST = NO_DOCKER_HOST;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** A Docker endpoint nothing answers on: the CLI finds no Compose deployment there. */
const NO_DOCKER_HOST = "unix:///nonexistent/ihb-cli-tests/docker.sock";

export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { child: ChildProcess; result: Promise<CliResult> } {
  return startProcess(process.execPath, [bin, ...args], options);
}

/** Any command as a child process, its output collected (stdin closed). */
export function startProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(command, args, {
    env: options.env ?? cleanEnv(),
    cwd: options.cwd ?? pkgDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, result };
}

export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return startCli(args, options).result;
}

export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return startProcess(command, args, options).result;
}

/** The JSON lines of a `--log-format json` stream (other lines skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `child` has written `text` to stderr (e.g. the line a signal test waits for). */
export function stderrIncludes(child: ChildProcess, text: string): Promise<void> {
  let stderr = "";
  return new Promise<void>((resolve) => {
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(text)) resolve();
    });
  });
}
