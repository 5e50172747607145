import { readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { localProcessAlive } from "../environment/operation-lock.js";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { LocalExecutor, type LocalExecutorOptions } from "../exec/local-executor.js";
import type { ExchangeAgent } from "./exchange-agent.js";
import { DRILL_PROCESS_VARIABLE, ServerProcess, type ServerStart } from "./server-process.js";

/** A throwaway database server, wherever it runs. */
export interface DrillServer {
  readonly running: boolean;
  readonly exited: Promise<void>;
  /** The end of its log, for messages. */
  logTail(bytes?: number): string;
  /** Sends `signal` to its process group, SIGKILL after `graceMs`. */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

/**
 * Where a throwaway database's programs run and its files live: local processes (the drill's own
 * machine), or a database container of the drill pod reached through its agent (ExchangeAgent).
 */
export interface DrillHost {
  /** Whether the files and processes are this process's own (root then runs PostgreSQL as another user). */
  readonly local: boolean;
  executor(options: LocalExecutorOptions): Executor;
  server(start: ServerStart): Promise<DrillServer>;
  mkdir(path: string): Promise<void>;
  readFile(path: string): Promise<string>;
  /** Writes a file only the database's user may read. */
  writeFile(path: string, data: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Reads the pid in `file` now; the function returned SIGKILLs it if it still runs (a JVM that outlived its group). */
  pidKiller(file: string): Promise<() => Promise<void>>;
}

/** The drill's own machine. */
export const localDrillHost: DrillHost = {
  local: true,
  executor: (options) => new LocalExecutor(options),
  server: async (start) => new ServerProcess(start),
  mkdir: async (path) => {
    await mkdir(path, { recursive: true });
  },
  readFile: (path) => readFile(path, "utf8"),
  writeFile: (path, data) => writeFile(path, data, { mode: 0o600 }),
  remove: (path) => rm(path, { recursive: true, force: true }),
  pidKiller: async (file) => {
    const pid = readPid(file);
    return async () => {
      if (pid === undefined || !localProcessAlive(pid)) return;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // It exited in the meantime.
      }
    };
  },
};

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A database container of the drill pod: every file and process is the agent's (its user, its image). */
export function agentDrillHost(agent: ExchangeAgent): DrillHost {
  const run = async (argv: string[], what: string, stdin?: string) => {
    const command = await agent.start({
      argv,
      ...(stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {}),
    });
    const status = await command.wait({ what, timeoutMs: 60_000 });
    if (status !== 0) {
      throw new BackupError(
        "DRILL_SETUP_FAILED",
        `${agent.target}: ${what} failed (exit ${status}): ${command.logTail(1000)}`,
        {
          hint: "the drill's database containers must be able to write in the directory shared with the CLI (the pod's emptyDir, one user for all containers)",
        },
      );
    }
    return command;
  };
  return {
    local: false,
    executor: (options) => agent.executor(options),
    server: (start) => agentServer(agent, start),
    mkdir: async (path) => {
      await run(["mkdir", "-p", path], `mkdir ${path}`);
    },
    readFile: async (path) => {
      const command = await run(["cat", path], `reading ${path}`);
      return readFileSync(command.stdoutFile, "utf8");
    },
    writeFile: async (path, data) => {
      await run(["sh", "-c", 'umask 077 && cat > "$1"', "sh", path], `writing ${path}`, data);
    },
    remove: async (path) => {
      await run(["rm", "-rf", path], `removing ${path}`);
    },
    pidKiller: async (file) => {
      // The run directory is in the shared directory: readable here, though the process is not ours to signal.
      const pid = readPid(file);
      return async () => {
        if (pid === undefined) return;
        await run(
          ["sh", "-c", 'kill -KILL "$1" 2>/dev/null; exit 0', "sh", String(pid)],
          `stopping pid ${pid}`,
        );
      };
    },
  };
}

/** A server run by the agent: a command that runs until it is stopped, its output its log. */
async function agentServer(agent: ExchangeAgent, start: ServerStart): Promise<DrillServer> {
  const command = await agent.start({
    argv: [start.command, ...start.args],
    env: { ...start.env, [DRILL_PROCESS_VARIABLE]: start.drillId },
  });
  let running = true;
  const exited = command.wait({ what: start.name }).then(
    () => {
      running = false;
    },
    () => {
      // The agent stopped answering: the server is as good as gone; its log says what is known.
      running = false;
    },
  );
  return {
    get running() {
      return running;
    },
    exited,
    logTail: (bytes) => command.logTail(bytes),
    stop: async (signal, graceMs) => {
      if (running) {
        await command.kill(signal.replace(/^SIG/, ""));
        const timer = setTimeout(() => {
          command.kill("KILL").catch(() => {
            // The exchange directory is gone: so is the pod, and the server with it.
          });
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
