import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/** What one process cost, sampled from /proc while it ran (Linux only). */
export interface ProcessCost {
  wallMs: number;
  /** User + system CPU of the process itself (not of the commands it started). */
  cpuMs: number;
  /** VmHWM: the peak resident set size, bytes. */
  peakRssBytes: number;
  /**
   * Bytes the process's own threads caused to be written to a block device (write_bytes summed over
   * `/proc/<pid>/task/<tid>/io`): the commands it ran are not counted.
   */
  diskWriteBytes: number;
  /** `/proc/<pid>/io` write_bytes: the above plus the commands it started and reaped (local dump/load tools). */
  diskWriteBytesWithChildren: number;
  exitCode: number | null;
  /** Epoch ms at spawn, to place the process's own timestamped log lines. */
  spawnedAt: number;
  stdout: string;
  stderr: string;
}

const CLOCK_TICKS = 100;

async function ownWriteBytes(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const io = await readFile(`/proc/${pid}/task/${tid}/io`, "utf8").catch(() => "");
    total += Number(/write_bytes:\s+(\d+)/.exec(io)?.[1] ?? 0);
  }
  return total;
}

interface Snapshot {
  rss: number;
  write: number;
  ownWrite: number;
  cpuMs: number;
}

async function sample(pid: number): Promise<Snapshot | undefined> {
  try {
    const [status, io, stat] = await Promise.all([
      readFile(`/proc/${pid}/status`, "utf8"),
      readFile(`/proc/${pid}/io`, "utf8"),
      readFile(`/proc/${pid}/stat`, "utf8"),
    ]);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    const write = /write_bytes:\s+(\d+)/.exec(io);
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (!hwm || !write) return undefined;
    return {
      rss: Number(hwm[1]) * 1024,
      write: Number(write[1]),
      ownWrite: await ownWriteBytes(pid),
      cpuMs: (ticks * 1000) / CLOCK_TICKS,
    };
  } catch {
    return undefined; // the process has exited (or is a zombie without these files)
  }
}

/**
 * Runs a command and samples its peak RSS, disk writes and CPU every `intervalMs` until it exits; the
 * figures are those of the last sample (taken at most `intervalMs` before the exit).
 */
export async function measureProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; intervalMs?: number } = {},
): Promise<ProcessCost> {
  const started = performance.now();
  const spawnedAt = Date.now();
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let last: Snapshot = { rss: 0, write: 0, ownWrite: 0, cpuMs: 0 };
  let exited = false;
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
    child.on("exit", () => {
      exited = true;
    });
  });
  const pid = child.pid;
  const poll = (async () => {
    while (!exited && pid !== undefined) {
      const s = await sample(pid);
      if (s) last = { ...s, rss: Math.max(last.rss, s.rss) };
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
    }
  })();
  const exitCode = await closed;
  const wallMs = performance.now() - started;
  await poll;
  return {
    wallMs,
    cpuMs: last.cpuMs,
    peakRssBytes: last.rss,
    diskWriteBytes: last.ownWrite,
    diskWriteBytesWithChildren: last.write,
    exitCode,
    spawnedAt,
    stdout,
    stderr,
  };
}

/** What a shell pipeline cost, from GNU time (CPU and max RSS over the whole process tree it waited for). */
export interface ShellCost {
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  stdout: string;
}

/** Runs `script` with `sh -c` under /usr/bin/time; fails on a non-zero exit (set -o pipefail in bash). */
export async function measureShell(script: string, env: NodeJS.ProcessEnv): Promise<ShellCost> {
  const started = performance.now();
  const child = spawn("/usr/bin/time", ["-f", "IHB_TIME %U %S %M", "bash", "-o", "pipefail", "-c", script], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const wallMs = performance.now() - started;
  const m = /IHB_TIME ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
  if (code !== 0 || !m) {
    throw new Error(`shell step failed (exit ${code}): ${script}\n${stderr.slice(-2000)}`);
  }
  return {
    wallMs,
    cpuMs: (Number(m[1]) + Number(m[2])) * 1000,
    peakRssBytes: Number(m[3]) * 1024,
    stdout,
  };
}
