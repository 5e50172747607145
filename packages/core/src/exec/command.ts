import { PassThrough, type Readable } from "node:stream";
import { BackupError, type ErrorCode } from "../errors.js";
import type { ExecRequest, ExecResult, Executor } from "./executor.js";
import { redact, secretValues } from "./redact.js";

/**
 * Bytes of a streamed command's stdout held for a slow consumer before the exec transport pauses (the
 * Kubernetes socket, the local pipe). They are views of the transport's receive buffers, which the
 * garbage collector frees late once they lived through two scavenges: kept small so they rarely do
 * (packages/core README, "Memory").
 */
const STREAM_BUFFER_BYTES = 256 * 1024;

export interface CommandOptions {
  /** What the command does, for messages: "pg_dump of database server". */
  what: string;
  /** Code of the error thrown when the command exits non-zero. */
  failureCode?: ErrorCode;
  hint?: string;
}

/** The error for a command that exited non-zero: what, where, status, and stderr with secrets masked. */
export function commandFailure(
  executor: Executor,
  request: ExecRequest,
  result: ExecResult,
  options: CommandOptions,
): BackupError {
  const stderr = redact(result.stderrTail.trim(), secretValues(request.env));
  const lastLines = stderr.split("\n").slice(-12).join("\n");
  return new BackupError(
    options.failureCode ?? "EXEC_FAILED",
    `${options.what} failed on ${executor.target} (exit status ${result.exitCode})${lastLines ? `: ${lastLines}` : ""}`,
    {
      ...(options.hint ? { hint: options.hint } : {}),
      details: { exitCode: result.exitCode, target: executor.target },
    },
  );
}

/** Runs a command and returns its collected stdout; any non-zero exit becomes a BackupError. */
export async function runCommand(
  executor: Executor,
  request: ExecRequest,
  options: CommandOptions,
): Promise<string> {
  const result = await executor.exec(request);
  if (result.exitCode !== 0) throw commandFailure(executor, request, result, options);
  return result.stdout.toString("utf8");
}

export interface StreamingCommand {
  /**
   * The command's stdout. It ends only after the command exited 0; on any failure it errors instead,
   * so a consumer can never take a truncated stream for a complete one.
   */
  stdout: Readable;
  /** Settles with the command; always await it (it rejects with the same error the stream carries). */
  done: Promise<ExecResult>;
}

/** Starts a command whose stdout is consumed as a stream (a dump going into the archive). */
export function streamCommand(
  executor: Executor,
  request: Omit<ExecRequest, "stdout">,
  options: CommandOptions,
): StreamingCommand {
  const stdout = new PassThrough({ highWaterMark: STREAM_BUFFER_BYTES });
  const controller = new AbortController();
  const signal = request.signal ? AbortSignal.any([request.signal, controller.signal]) : controller.signal;
  let settled = false;
  // A consumer that gives up (destroys the stream) stops the command too.
  stdout.once("close", () => {
    if (!settled) controller.abort();
  });
  const done = executor.exec({ ...request, stdout, signal }).then(
    (result) => {
      settled = true;
      if (result.exitCode !== 0) {
        const error = commandFailure(executor, request, result, options);
        stdout.destroy(error);
        throw error;
      }
      stdout.end();
      return result;
    },
    (error: unknown) => {
      settled = true;
      stdout.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    },
  );
  // The stream carries the error to its consumer; `done` is awaited by the caller. Avoid a double report.
  done.catch(() => undefined);
  return { stdout, done };
}
