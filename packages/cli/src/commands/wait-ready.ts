import { BackupError, type Environment } from "@infrahub-backup/core";
import type { CommandContext } from "./context.js";

/**
 * `--wait-ready`: waits until Infrahub's pods are Running and Ready before the command stops or changes
 * anything, with a progress line whenever what is missing changes (and every 15 s). The operation's lock
 * is taken after this wait, inside the operation: a restore started while a backup holds the services
 * down waits for that backup to finish instead of failing as busy, and two waiting commands still cannot
 * both proceed (the second gets OPERATION_IN_PROGRESS).
 */
export async function waitUntilReady(
  environment: Environment,
  timeoutMs: number,
  ctx: CommandContext,
  required: Parameters<NonNullable<Environment["waitUntilReady"]>>[0]["required"],
): Promise<void> {
  if (timeoutMs <= 0) return;
  if (!environment.waitUntilReady) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `--wait-ready is not supported for the ${environment.kind} environment "${environment.name}"`,
      { hint: "it waits for Kubernetes pods; leave --wait-ready (INFRAHUB_WAIT_READY) unset here" },
    );
  }
  const { waitedMs } = await environment.waitUntilReady({
    timeoutMs,
    ...(required ? { required } : {}),
    signal: ctx.cancellation.signal,
    onProgress: (message, notReady) => ctx.output.info(message, { not_ready: notReady }),
  });
  ctx.output.info(`Infrahub is ready (waited ${Math.round(waitedMs / 1000)} s)`, { waited_ms: waitedMs });
}
