import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { BackupError } from "../errors.js";

/** Names every server process a drill starts, so a leftover can be recognised (`/proc/<pid>/environ`). */
export const DRILL_PROCESS_VARIABLE = "INFRAHUB_BACKUP_DRILL";

const lastResort = new Set<() => void>();
let exitHooked = false;

/**
 * Runs `undo` synchronously if this process exits before the returned function withdraws it: the CLI
 * exits at once on a second SIGINT/SIGTERM, and no `finally` runs then. Undone in reverse order.
 */
export function untilExit(undo: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", () => {
      for (const step of [...lastResort].reverse()) {
        try {
          step();
        } catch {
          // The process is exiting: the other steps still run.
        }
      }
    });
  }
  lastResort.add(undo);
  return () => {
    lastResort.delete(undo);
  };
}

export interface ServerStart {
  /** For messages: "neo4j", "postgres". */
  name: string;
  command: string;
  args: readonly string[];
  /** Added to this process's environment (an agent's server gets only these). */
  env: Readonly<Record<string, string>>;
  /** stdout and stderr are appended here (never piped into this process). */
  logFile: string;
  /** The drill's id, set as DRILL_PROCESS_VARIABLE in the server's environment. */
  drillId: string;
  uid?: number;
  gid?: number;
}

/** A throwaway database server: a child in its own process group, ended with its group. */
export class ServerProcess {
  readonly name: string;
  readonly logFile: string;
  /** Settles when the server's leader process has exited. */
  readonly exited: Promise<void>;
  readonly #child: ChildProcess;
  readonly #withdraw: () => void;
  #running = true;

  constructor(start: ServerStart) {
    this.name = start.name;
    this.logFile = start.logFile;
    const log = openSync(start.logFile, "a");
    try {
      this.#child = spawn(start.command, [...start.args], {
        env: { ...process.env, ...start.env, [DRILL_PROCESS_VARIABLE]: start.drillId },
        stdio: ["ignore", log, log],
        detached: true,
        ...(start.uid === undefined ? {} : { uid: start.uid, gid: start.gid ?? start.uid }),
      });
    } finally {
      closeSync(log);
    }
    this.#withdraw = untilExit(() => this.#signalGroup("SIGKILL"));
    this.exited = new Promise((resolveExit) => {
      const done = () => {
        this.#running = false;
        resolveExit();
      };
      this.#child.once("exit", done);
      this.#child.once("error", done);
    });
  }

  get running(): boolean {
    return this.#running;
  }

  /** The end of the server's log, for messages. */
  logTail(bytes = 3000): string {
    try {
      return readFileSync(this.logFile, "utf8").slice(-bytes).trim();
    } catch {
      return "";
    }
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is gone already.
    }
  }

  /**
   * Sends `signal` to the group, SIGKILL after `graceMs`; then SIGKILL once more for members that outlived
   * the leader (a forked server process).
   */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.#running) {
      this.#signalGroup(signal);
      const timer = setTimeout(() => this.#signalGroup("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.#signalGroup("SIGKILL");
    this.#withdraw();
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (chosen by the kernel). */
export async function freeLoopbackPort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (error) =>
      reject(new BackupError("DRILL_SETUP_FAILED", "no free port on 127.0.0.1", { cause: error })),
    );
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Polls `probe` every `intervalMs` until it returns a value other than undefined; rejects with
 * `onTimeout()` after `timeoutMs`, with `onExit()` when `server` exits first, or with the signal's reason.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  options: {
    timeoutMs: number;
    intervalMs: number;
    server: { readonly running: boolean };
    onTimeout: () => Error;
    onExit: () => Error;
    signal?: AbortSignal;
  },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    if (!options.server.running) throw options.onExit();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw options.onTimeout();
    await new Promise((resolveDelay) => setTimeout(resolveDelay, options.intervalMs));
  }
}
