import type { Readable, Writable } from "node:stream";
import { BackupError } from "../errors.js";

/**
 * One command to run inside a service's container (or its local stand-in). Secrets go in `env` or
 * `stdin`, never in `argv`: argv is visible in process lists and in Kubernetes audit logs.
 */
export interface ExecRequest {
  /** The command and its arguments, run without a shell; never secrets. */
  argv: readonly string[];
  /** Extra environment for the command; each transport delivers it without putting it on argv. */
  env?: Readonly<Record<string, string>>;
  /** Run as this OS user (transports map it to `-u`, `su`, or a uid). */
  user?: string;
  /** Bytes fed to the command's stdin, with backpressure. Without it, stdin is closed at once. */
  stdin?: Readable | AsyncIterable<Uint8Array>;
  /** Where stdout goes, with backpressure (the command is paused when it is full). Not ended by exec. */
  stdout?: Writable;
  /** When `stdout` is not given, stdout is collected up to this many bytes (default 16 MiB). */
  maxOutputBytes?: number;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** Kills the command; the result rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** How a command ended (a non-zero exit is a result, not an exception). */
export interface ExecResult {
  /** The command's exit status; a command killed by a signal reports 128 + signal number. */
  exitCode: number;
  /** Collected stdout (empty when it was streamed to `stdout`). */
  stdout: Buffer;
  /** Bytes the command wrote to stdout. */
  stdoutBytes: number;
  /** The last few KiB of stderr, for error messages. */
  stderrTail: string;
}

/** Runs commands in one place: a local process, a pod's container, a Compose service. */
export interface Executor {
  /** Where commands run, for messages: e.g. `local database`, `pod infrahub/infrahub-database-0 (neo4j)`. */
  readonly target: string;
  /**
   * Resolves with the exit status (a non-zero status is not an exception); rejects only when the
   * command could not be run, timed out, or was cancelled.
   */
  exec(request: ExecRequest): Promise<ExecResult>;
}

/**
 * The command could not run because its container is not running: its main process exited (a Neo4j JVM
 * after its shutdown), or it is being restarted. Transports that can tell set `details.containerNotRunning`.
 */
export function containerNotRunning(error: unknown): boolean {
  return error instanceof BackupError && error.details?.containerNotRunning === true;
}
