import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { BackupError } from "../../errors.js";
import { runCommand } from "../../exec/command.js";
import type { Executor } from "../../exec/executor.js";

/** Where the Neo4j image keeps its pid file (the server's main process writes it). */
export const NEO4J_PID_FILE = "/var/lib/neo4j/run/neo4j.pid";

export interface FreezeOptions {
  /** The server's pid file inside the container. */
  pidFile?: string;
  /** Local path of the static freeze helper for a container architecture (`amd64` | `arm64`). */
  helperPath: (arch: "amd64" | "arm64") => string;
  /** How long a clean shutdown may take before we give up (default 180 s). */
  shutdownTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A Neo4j JVM stopped (SIGSTOP) after its clean shutdown: store files closed and unlocked. */
export interface FrozenNeo4j {
  pid: number;
  /** Private scratch directory in the container, removed by `resume`. */
  workDir: string;
  frozenAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Shuts Neo4j down cleanly and freezes its JVM before it exits, so the container stays up with the
 * database offline (Community has no online backup and cannot stop its default database).
 * Nothing is stopped until the helper is in place and armed; any failure before the SIGTERM leaves
 * Neo4j untouched.
 */
export async function freezeNeo4j(executor: Executor, options: FreezeOptions): Promise<FrozenNeo4j> {
  const pidFile = options.pidFile ?? NEO4J_PID_FILE;
  const signal = options.signal;
  const sig = signal ? { signal } : {};
  const pidText = await runCommand(
    executor,
    { argv: ["cat", pidFile], ...sig },
    {
      what: `reading the Neo4j pid file ${pidFile}`,
      failureCode: "DATABASE_UNAVAILABLE",
      hint: "is Neo4j running in this container?",
    },
  );
  const pid = Number(pidText.trim());
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new BackupError(
      "DATABASE_UNAVAILABLE",
      `${pidFile} does not hold a process id: ${JSON.stringify(pidText.trim())}`,
    );
  }

  const machine = (
    await runCommand(executor, { argv: ["uname", "-m"], ...sig }, { what: "uname -m" })
  ).trim();
  const arch =
    machine === "x86_64" || machine === "amd64"
      ? "amd64"
      : machine === "aarch64" || machine === "arm64"
        ? "arm64"
        : undefined;
  if (!arch)
    throw new BackupError(
      "EXEC_FAILED",
      `unsupported container architecture ${machine} for the Neo4j freeze helper`,
    );

  // A fresh directory per run: never reuse leftovers of an earlier run (upstream #156).
  const workDir = `/tmp/infrahub-backup-${randomBytes(6).toString("hex")}`;
  const helper = options.helperPath(arch);
  const { size } = await stat(helper);
  await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'umask 077 && mkdir "$D" && head -c "$N" > "$D/neo4j-freeze" && chmod 700 "$D/neo4j-freeze"',
      ],
      env: { D: workDir, N: String(size) },
      stdin: createReadStream(helper),
      ...sig,
    },
    { what: "installing the Neo4j freeze helper" },
  );
  await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'nohup "$D/neo4j-freeze" --pid-file "$P" --ready-file "$D/ready" --timeout 20m > "$D/freeze.log" 2>&1 < /dev/null &',
      ],
      env: { D: workDir, P: pidFile },
      ...sig,
    },
    { what: "starting the Neo4j freeze helper" },
  );
  const readyBy = Date.now() + 10_000;
  while ((await executor.exec({ argv: ["test", "-f", `${workDir}/ready`], ...sig })).exitCode !== 0) {
    if (Date.now() > readyBy) {
      const log = await executor.exec({ argv: ["cat", `${workDir}/freeze.log`] }).catch(() => undefined);
      await removeWorkDir(executor, workDir);
      throw new BackupError(
        "EXEC_FAILED",
        `the Neo4j freeze helper did not arm: ${log?.stdout.toString().trim() ?? ""}`,
      );
    }
    await sleep(100);
  }

  await runCommand(
    executor,
    { argv: ["kill", "-TERM", String(pid)], ...sig },
    { what: "stopping Neo4j (SIGTERM)" },
  );
  const frozenBy = Date.now() + (options.shutdownTimeoutMs ?? 180_000);
  for (;;) {
    const state = await processState(executor, pid);
    if (state === "T") return { pid, workDir, frozenAt: Date.now() };
    if (state === undefined) {
      await removeWorkDir(executor, workDir);
      throw new BackupError(
        "DATABASE_COMMAND_FAILED",
        `Neo4j (pid ${pid}) exited before it could be paused; its supervisor will restart it and nothing was dumped or loaded`,
        { details: { exitedBeforePause: true } },
      );
    }
    if (Date.now() > frozenBy) {
      throw new BackupError(
        "TIMEOUT",
        `Neo4j (pid ${pid}) did not finish its shutdown in time (state ${state})`,
        {
          hint: "the server is still shutting down; it will be restarted by its supervisor",
        },
      );
    }
    signal?.throwIfAborted();
    await sleep(250);
  }
}

/**
 * The helper lost its race: the JVM exited between removing its pid file and the SIGSTOP (a busy node
 * can delay the helper that long). Nothing was touched; Neo4j restarts and the freeze can be tried again.
 */
export function exitedBeforePause(error: unknown): boolean {
  return error instanceof BackupError && error.details?.exitedBeforePause === true;
}

/** Lets the frozen JVM exit (its supervisor or the container restart brings Neo4j back) and cleans up. */
export async function resumeNeo4j(executor: Executor, frozen: FrozenNeo4j): Promise<void> {
  const result = await executor.exec({ argv: ["kill", "-CONT", String(frozen.pid)] });
  await removeWorkDir(executor, frozen.workDir);
  if (result.exitCode !== 0 && (await processState(executor, frozen.pid)) === "T") {
    throw new BackupError(
      "SERVICES_NOT_RESTORED",
      `could not resume the frozen Neo4j process ${frozen.pid}`,
      {
        hint: `run 'kill -CONT ${frozen.pid}' in the database container`,
      },
    );
  }
}

async function processState(executor: Executor, pid: number): Promise<string | undefined> {
  const result = await executor.exec({ argv: ["cat", `/proc/${pid}/status`] });
  if (result.exitCode !== 0) return undefined;
  const line = result.stdout
    .toString()
    .split("\n")
    .find((l) => l.startsWith("State:"));
  return line?.replace(/^State:\s*/, "").charAt(0);
}

async function removeWorkDir(executor: Executor, workDir: string): Promise<void> {
  await executor.exec({ argv: ["rm", "-rf", workDir] }).catch(() => undefined);
}
