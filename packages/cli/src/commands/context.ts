import type { Cancellation } from "../cancellation.js";
import type { RunRecord } from "../monitoring/run-record.js";
import type { HostEnvironment } from "../options.js";
import type { Output } from "../output.js";

/** What every command implementation gets from `main`. */
export interface CommandContext {
  output: Output;
  env: HostEnvironment;
  cancellation: Cancellation;
  version: string;
  stdin: NodeJS.ReadStream;
  /** The record of a monitored run (create, restore, verify, drill, prune) for its metrics and notifications. */
  run?: RunRecord;
}

/** Host env passed to the library as `hostEnv` (INFRAHUB_DB_*, the Prefect URLs). */
export function hostEnv(env: HostEnvironment): Record<string, string | undefined> {
  const keys = [
    "INFRAHUB_DB_DATABASE",
    "INFRAHUB_DB_USERNAME",
    "INFRAHUB_DB_PASSWORD",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
  ];
  const out: Record<string, string | undefined> = {};
  for (const k of keys) if (env[k] !== undefined) out[k] = env[k];
  return out;
}

export async function sleep(
  ms: number,
  signal: AbortSignal,
  ctx: CommandContext,
  why: string,
): Promise<void> {
  if (ms <= 0) return;
  ctx.output.info(why, { duration_ms: ms });
  const { setTimeout } = await import("node:timers/promises");
  // A signal during the sleep ends it (the only way it rejects); the caller's error path reports 130/143.
  await setTimeout(ms, undefined, { signal }).catch(() => undefined);
  signal.throwIfAborted();
}

/** Asks y/N on a terminal; true when confirmed. */
export async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: ctx.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function interactive(ctx: CommandContext): boolean {
  return ctx.stdin.isTTY === true && process.stderr.isTTY === true;
}
