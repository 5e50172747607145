import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

/**
 * Every process the testkit starts carries this variable, so a check after the test run
 * (tools/check-leftovers.sh) can find anything that outlived it.
 */
export const TESTKIT_MARKER = "IHB_TESTKIT_PROCESS";
/** Identifies one test run (set by tools/run-tests.sh) in the environment of every process it starts. */
export const TEST_RUN_VARIABLE = "IHB_TEST_RUN";

export interface StartOptions {
  /** Short name used in errors, e.g. "minio". */
  name: string;
  command: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here (never piped into the test process: no backpressure stalls). */
  logFile: string;
  /** Run as this uid/gid (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const proc of live) proc.killGroup("SIGKILL");
  };
  // Last resort when a test run dies without disposing: kill whole process groups synchronously.
  process.on("exit", killAll);
  // A worker killed by its runner (timeout, Ctrl-C) gets a signal, and "exit" does not run then.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/** A long-running child process in its own process group, stopped (group and all) on dispose. */
export class ManagedProcess implements AsyncDisposable {
  readonly name: string;
  readonly logFile: string;
  readonly exited: Promise<ExitStatus>;
  #child: ChildProcess;
  #status: ExitStatus | undefined;

  private constructor(options: StartOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const log = openSync(options.logFile, "a");
    try {
      this.#child = spawn(options.command, options.args ?? [], {
        cwd: options.cwd,
        env: {
          ...(options.env ?? process.env),
          [TESTKIT_MARKER]: options.name,
          // The run this process belongs to (tools/run-tests.sh sets it): the leftover check looks at
          // this run only, never at other processes of the machine.
          ...(process.env[TEST_RUN_VARIABLE] ? { [TEST_RUN_VARIABLE]: process.env[TEST_RUN_VARIABLE] } : {}),
        },
        stdio: ["ignore", log, log],
        detached: true,
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      });
    } finally {
      closeSync(log);
    }
    this.exited = new Promise((resolveExit) => {
      this.#child.once("exit", (code, signal) => {
        this.#status = { code, signal };
        live.delete(this);
        resolveExit(this.#status);
      });
      this.#child.once("error", (error) => {
        this.#status = { code: null, signal: null };
        live.delete(this);
        resolveExit(this.#status);
        this.spawnError = error;
      });
    });
    live.add(this);
    installExitHook();
  }

  spawnError: Error | undefined;

  static start(options: StartOptions): ManagedProcess {
    return new ManagedProcess(options);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  /** The last `bytes` of the process log, for error messages. */
  logTail(bytes = 4000): string {
    try {
      const text = readFileSync(this.logFile, "utf8");
      return text.slice(-bytes);
    } catch {
      return "";
    }
  }

  /** Signals the whole process group; `evenIfExited` reaches children that outlived the leader. */
  killGroup(signal: NodeJS.Signals, evenIfExited = false): void {
    const pid = this.#child.pid;
    if (pid === undefined || (!this.running && !evenIfExited)) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM to the group, SIGKILL after `timeoutMs`; resolves when the process has exited. */
  async stop(timeoutMs = 30_000): Promise<ExitStatus> {
    if (!this.running) {
      this.killGroup("SIGKILL", true);
      return this.#status as ExitStatus;
    }
    this.killGroup("SIGTERM");
    const timer = setTimeout(() => this.killGroup("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      // Children that ignored the leader's death (e.g. forked server processes) go too.
      this.killGroup("SIGKILL", true);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Polls `probe` until it returns true, failing with the process log when the process exits first or
 * the deadline passes.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; process?: ManagedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const interval = options.intervalMs ?? 200;
  for (;;) {
    if (options.process && !options.process.running) {
      throw new Error(
        `${options.process.name} exited while waiting for ${what}:\n${options.process.logTail()}`,
      );
    }
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      const log = options.process ? `\n${options.process.logTail()}` : "";
      throw new Error(`timed out waiting for ${what}${log}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
