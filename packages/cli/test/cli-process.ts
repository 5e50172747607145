// Runs the built CLI (bin shim → dist) as a child process, as users and CronJobs do.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const pkgDir = fileURLToPath(new URL("..", import.meta.url));
export const bin = fileURLToPath(new URL("../bin/infrahub-backup.js", import.meta.url));

/** Builds dist (incremental) so the bin shim runs the current source. */
export function buildCli(): void {
  execFileSync(process.execPath, [join(pkgDir, "../../node_modules/typescript/bin/tsc"), "-b"], {
    cwd: pkgDir,
    stdio: "pipe",
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The env a clean CI job would have: PATH/HOME and the toolchain cache only, plus `extra`. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "IHB_CACHE", "XDG_CACHE_HOME", "TMPDIR", "LANG"];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [bin, ...args], {
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
