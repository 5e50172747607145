import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BackupError } from "../errors.js";
import type { ExecRequest, ExecResult, Executor } from "./executor.js";

const STDERR_TAIL_BYTES = 8 * 1024;
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

export interface LocalExecutorOptions {
  /** Names this target in messages, e.g. the logical service name. */
  target: string;
  /** The "container" environment: what every command here sees (credentials, PATH of the sandbox …). */
  env?: Readonly<Record<string, string>>;
  /** Directories put first on PATH (a sandbox bin dir with wrappers bound to one service). */
  pathPrepend?: readonly string[];
  cwd?: string;
}

/** Runs commands as local processes: the transport of the local environment and of tests. */
export class LocalExecutor implements Executor {
  readonly target: string;
  readonly #options: LocalExecutorOptions;

  constructor(options: LocalExecutorOptions) {
    this.target = options.target;
    this.#options = options;
  }

  async exec(request: ExecRequest): Promise<ExecResult> {
    const [command, ...args] = request.argv;
    if (!command) throw new BackupError("INTERNAL", "exec: empty argv");
    request.signal?.throwIfAborted();
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.#options.env, ...request.env };
    const prepend = this.#options.pathPrepend ?? [];
    if (prepend.length > 0) env.PATH = [...prepend, env.PATH ?? ""].join(":");
    const ids = request.user ? lookupUser(request.user) : undefined;

    const child = spawn(command, args, {
      env,
      cwd: this.#options.cwd,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
      ...(ids && ids.uid !== process.getuid?.() ? ids : {}),
    });

    let stderrTail = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    let stdoutBytes = 0;
    const collected: Buffer[] = [];
    const maxOutput = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    let failure: BackupError | undefined;
    const kill = (error: BackupError) => {
      failure ??= error;
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    };

    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (!request.stdout) {
        if (stdoutBytes > maxOutput) {
          kill(
            new BackupError("EXEC_FAILED", `${this.target}: ${command} wrote more than ${maxOutput} bytes`),
          );
        } else collected.push(chunk);
      }
    });
    if (request.stdout) {
      const sink = request.stdout;
      child.stdout.pipe(sink, { end: false });
      sink.once("error", (error) =>
        kill(
          new BackupError("EXEC_FAILED", `${this.target}: output of ${command} could not be written`, {
            cause: error,
          }),
        ),
      );
      sink.once("close", () => {
        if (child.exitCode === null && child.signalCode === null) {
          kill(
            new BackupError(
              "CANCELLED",
              `${this.target}: output of ${command} was closed before the command ended`,
            ),
          );
        }
      });
    }

    let stdinDone: Promise<void> = Promise.resolve();
    if (request.stdin) {
      const source = request.stdin instanceof Readable ? request.stdin : Readable.from(request.stdin);
      stdinDone = pipeline(source, child.stdin).catch((error: NodeJS.ErrnoException) => {
        // A command that exits without reading all its input (EPIPE) reports that through its status.
        if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_PREMATURE_CLOSE") {
          kill(
            error instanceof BackupError
              ? error
              : new BackupError(
                  "EXEC_FAILED",
                  `${this.target}: input of ${command} failed: ${error.message}`,
                  {
                    cause: error,
                  },
                ),
          );
        }
      });
    } else {
      child.stdin.end();
    }
    child.stdin.on("error", () => {
      // reported through the pipeline above or the exit status
    });

    const onAbort = () => kill(new BackupError("CANCELLED", `${this.target}: ${command} was cancelled`));
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const timer =
      request.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              kill(
                new BackupError(
                  "TIMEOUT",
                  `${this.target}: ${command} did not finish within ${request.timeoutMs} ms`,
                ),
              ),
            request.timeoutMs,
          );

    try {
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolveExit, reject) => {
          child.once("error", (error: NodeJS.ErrnoException) =>
            reject(
              new BackupError(
                "EXEC_FAILED",
                `${this.target}: cannot run ${command}: ${error.code ?? error.message}`,
                {
                  cause: error,
                },
              ),
            ),
          );
          child.once("close", (exitCode, exitSignal) => resolveExit({ code: exitCode, signal: exitSignal }));
        },
      );
      await stdinDone;
      if (request.stdout) child.stdout.unpipe(request.stdout);
      if (failure) throw failure;
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      return { exitCode, stdout: Buffer.concat(collected), stdoutBytes, stderrTail };
    } finally {
      if (timer) clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
    }
  }
}

function lookupUser(name: string): { uid: number; gid: number } {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name && uid !== undefined && gid !== undefined)
      return { uid: Number(uid), gid: Number(gid) };
  }
  throw new BackupError("EXEC_FAILED", `no local user named ${name} to run the command as`);
}
