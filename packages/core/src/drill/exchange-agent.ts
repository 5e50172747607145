import { createReadStream, createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BackupError } from "../errors.js";
import type { ExecRequest, ExecResult, Executor } from "../exec/executor.js";
import { untilExit } from "./server-process.js";

/** How often the CLI tells the agents it is alive, and how often it looks at a request. */
const HEARTBEAT_MS = 5_000;
const POLL_MS = 150;
/** An agent whose `alive` file is older than this has stopped (it touches it every ~0.2 s). */
const SILENT_MS = 30_000;
const STDERR_TAIL_BYTES = 8 * 1024;
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/** Options of an exchange (`drill --drill-exchange-dir`). */
export interface DrillExchangeOptions {
  /** The directory shared with the agents (the drill pod's emptyDir, mounted at the same path in every container). */
  dir: string;
  /** How long an agent may take to show up (its container may still be pulling its image). Default 10 min. */
  agentTimeoutMs?: number;
}

const SETUP_HINT =
  "the drill pod runs drill-agent.sh in its neo4j and postgres containers with the same --drill-exchange-dir: check those containers' logs (kubectl logs <pod> -c neo4j / -c postgres)";

/**
 * The CLI's side of the file exchange with the drill agents (charts/infrahub-backup/files/drill-agent.sh):
 * a heartbeat while it is open, `done` when it is closed, and one ExchangeAgent per database container.
 */
export class DrillExchange {
  readonly dir: string;
  readonly agentTimeoutMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #withdraw: () => void;

  private constructor(options: DrillExchangeOptions) {
    this.dir = options.dir;
    this.agentTimeoutMs = options.agentTimeoutMs ?? 600_000;
    this.#timer = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#timer.unref();
    // A CLI exiting at once (second signal) still releases the agents, so the pod can end.
    this.#withdraw = untilExit(() => writeFileSync(join(this.dir, "done"), "exit\n"));
  }

  static async open(options: DrillExchangeOptions): Promise<DrillExchange> {
    await mkdir(options.dir, { recursive: true });
    // A directory used before (locally): its `done` would stop the agents at once.
    await rm(join(options.dir, "done"), { force: true });
    await writeFile(join(options.dir, "heartbeat"), "");
    return new DrillExchange(options);
  }

  #beat(): void {
    try {
      writeFileSync(join(this.dir, "heartbeat"), "");
    } catch {
      // A missed beat is retried in 5 s; the agents wait minutes before they give up.
    }
  }

  agent(name: "neo4j" | "postgres"): ExchangeAgent {
    return new ExchangeAgent(this, name);
  }

  /** Tells the agents to stop their commands and exit. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await releaseDrillAgents(this.dir);
    this.#withdraw();
  }
}

/**
 * Tells the drill agents of `dir` to stop their commands and exit, so the drill pod ends: also when the drill
 * failed before it reached them (no archive, storage refused), which would leave them waiting for a heartbeat.
 */
export async function releaseDrillAgents(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "done"), "ok\n");
}

/** A command handed to an agent; `exited` resolves with its status. */
export interface AgentCommand {
  readonly id: string;
  /** Sends a signal to the command's process group (by name, without `SIG`). */
  kill(signal: string): Promise<void>;
  /** The end of the command's stdout and stderr. */
  logTail(bytes?: number): string;
  /** Its exit status; rejects when the agent stops answering or `signal` aborts. */
  wait(options?: { timeoutMs?: number; signal?: AbortSignal; what?: string }): Promise<number>;
  stdoutFile: string;
}

let sequence = 0;

/** One database container's agent: runs commands there through files (an Executor for the drill's code). */
export class ExchangeAgent {
  readonly name: string;
  readonly #exchange: DrillExchange;
  readonly #req: string;
  readonly #out: string;
  #seen = false;

  constructor(exchange: DrillExchange, name: string) {
    this.#exchange = exchange;
    this.name = name;
    this.#req = join(exchange.dir, `${name}.req`);
    this.#out = join(exchange.dir, `${name}.out`);
  }

  /** A directory of the agent's own for its database (made by the agent, so owned by its user). */
  get workDir(): string {
    return join(this.#exchange.dir, this.name);
  }

  async #aliveAgeMs(): Promise<number | undefined> {
    try {
      return Date.now() - (await stat(join(this.#out, "alive"))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /** Waits for the agent's first sign of life (its container may still be starting). */
  async #ready(signal?: AbortSignal): Promise<void> {
    if (this.#seen) return;
    const deadline = Date.now() + this.#exchange.agentTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const age = await this.#aliveAgeMs();
      if (age !== undefined && age < SILENT_MS) break;
      if (Date.now() > deadline) {
        throw new BackupError(
          "DRILL_SETUP_FAILED",
          `the drill's ${this.name} agent did not show up in ${this.#exchange.dir} within ${Math.round(this.#exchange.agentTimeoutMs / 1000)} s`,
          { hint: SETUP_HINT },
        );
      }
      await delay(500);
    }
    this.#seen = true;
    await mkdir(this.#req, { recursive: true });
  }

  /** Hands a command over; its stdin (if any) is written to the shared directory first. */
  async start(request: {
    argv: readonly string[];
    env?: Readonly<Record<string, string>>;
    pathPrepend?: readonly string[];
    cwd?: string;
    stdin?: Readable | AsyncIterable<Uint8Array>;
    signal?: AbortSignal;
  }): Promise<AgentCommand> {
    await this.#ready(request.signal);
    sequence += 1;
    const id = `${process.pid}-${sequence}`;
    const dir = join(this.#req, id);
    await mkdir(dir);
    // Readable by the agent, which may run as another user; what they hold is the throwaway databases' own.
    const write = (file: string, data: string) => writeFile(join(dir, file), data, { mode: 0o644 });
    await write("argv", request.argv.map((arg) => `${arg}\0`).join(""));
    await write(
      "env",
      Object.entries(request.env ?? {})
        .map(([key, value]) => `${key}=${value}\0`)
        .join(""),
    );
    if (request.cwd !== undefined) await write("cwd", request.cwd);
    if (request.pathPrepend?.length) await write("path", request.pathPrepend.join(":"));
    if (request.stdin) {
      await pipeline(request.stdin, createWriteStream(join(dir, "stdin"), { mode: 0o644 }), {
        ...(request.signal ? { signal: request.signal } : {}),
      });
    }
    await writeFile(join(this.#req, `${id}.ready`), "");
    return this.#command(id);
  }

  #command(id: string): AgentCommand {
    const out = join(this.#out, id);
    const kill = async (signal: string) => {
      await writeFile(join(this.#req, `${id}.kill`), signal, { mode: 0o644 });
    };
    const logTail = (bytes = 3000) =>
      ["stdout", "stderr"]
        .map((file) => {
          try {
            return readFileSync(join(out, file), "utf8").slice(-bytes).trim();
          } catch {
            return "";
          }
        })
        .filter((text) => text !== "")
        .join("\n");
    const wait = async (options: { timeoutMs?: number; signal?: AbortSignal; what?: string } = {}) => {
      const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
      try {
        for (;;) {
          try {
            const status = Number.parseInt(await readFile(join(out, "exit"), "utf8"), 10);
            if (Number.isInteger(status)) return status;
          } catch {
            // Not finished yet.
          }
          if (options.signal?.aborted) {
            await kill("KILL");
            throw new BackupError(
              "CANCELLED",
              `${this.target}: ${options.what ?? "a command"} was cancelled`,
            );
          }
          if (deadline !== undefined && Date.now() > deadline) {
            await kill("KILL");
            throw new BackupError(
              "TIMEOUT",
              `${this.target}: ${options.what ?? "a command"} did not finish within ${options.timeoutMs} ms`,
            );
          }
          const age = await this.#aliveAgeMs();
          if (age === undefined || age > SILENT_MS) {
            throw new BackupError(
              "DRILL_SETUP_FAILED",
              `the drill's ${this.name} agent stopped answering (nothing from it for ${Math.round((age ?? SILENT_MS) / 1000)} s) while it ran ${options.what ?? "a command"}`,
              { hint: SETUP_HINT },
            );
          }
          await delay(POLL_MS);
        }
      } finally {
        // The request (and the dump it may hold as stdin) is not needed once the agent has its result.
        await rm(join(this.#req, id), { recursive: true, force: true });
      }
    };
    return { id, kill, logTail, wait, stdoutFile: join(out, "stdout") };
  }

  get target(): string {
    return `drill ${this.name} container`;
  }

  /** An Executor running its commands through this agent, with a base environment like LocalExecutor's. */
  executor(base: {
    env?: Readonly<Record<string, string>>;
    pathPrepend?: readonly string[];
    cwd?: string;
  }): Executor {
    return {
      target: this.target,
      exec: (request) => this.#exec(request, base),
    };
  }

  async #exec(
    request: ExecRequest,
    base: { env?: Readonly<Record<string, string>>; pathPrepend?: readonly string[]; cwd?: string },
  ): Promise<ExecResult> {
    if (request.user !== undefined) {
      throw new BackupError(
        "INTERNAL",
        `${this.target}: commands run as the container's user, not ${request.user}`,
      );
    }
    request.signal?.throwIfAborted();
    const what = request.argv[0] ?? "a command";
    const command = await this.start({
      argv: request.argv,
      env: { ...base.env, ...request.env },
      ...(base.pathPrepend ? { pathPrepend: base.pathPrepend } : {}),
      ...(base.cwd !== undefined ? { cwd: base.cwd } : {}),
      ...(request.stdin ? { stdin: request.stdin } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const exitCode = await command.wait({
      what,
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const out = join(this.#out, command.id);
    const stderr = await readFile(join(out, "stderr"), "utf8").catch(
      // A command the agent could not start leaves no stderr: the status says it.
      () => "",
    );
    const stdoutBytes = (await stat(command.stdoutFile)).size;
    let stdout = Buffer.alloc(0);
    if (request.stdout) {
      await pipeline(createReadStream(command.stdoutFile), request.stdout, { end: false });
    } else {
      const max = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
      if (stdoutBytes > max) {
        throw new BackupError("EXEC_FAILED", `${this.target}: ${what} wrote more than ${max} bytes`);
      }
      stdout = await readFile(command.stdoutFile);
    }
    return { exitCode, stdout, stdoutBytes, stderrTail: stderr.slice(-STDERR_TAIL_BYTES) };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}
