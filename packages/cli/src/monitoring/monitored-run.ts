import { type BackupError, isBackupError } from "@infrahub-backup/core";
import type { Output } from "../output.js";
import type { ParsedCommand } from "../parse.js";
import { monitoringWanted, publishRun } from "./publish.js";
import { type RunFailure, RunRecord } from "./run-record.js";

/** A run whose result goes to metrics and webhooks once it ends. */
export interface MonitoredRun {
  readonly record: RunRecord;
  /**
   * Publishes the result: a success without `failure`. Never throws; failures are warning events. `hurry`
   * (a signal stopped the run): one attempt per receiver, as a pod's grace period may end soon.
   */
  publish(failure?: RunFailure, hurry?: boolean): Promise<void>;
}

/**
 * The monitored run of `cmd`: create, restore, verify, drill and prune with a metrics or webhook target. Dry runs
 * are not runs of the operation (they would count as its last success), so they are not reported.
 */
export function startMonitoredRun(cmd: ParsedCommand, output: Output): MonitoredRun | undefined {
  if (
    cmd.command !== "create" &&
    cmd.command !== "restore" &&
    cmd.command !== "verify" &&
    cmd.command !== "drill" &&
    cmd.command !== "prune"
  )
    return undefined;
  if (!monitoringWanted(cmd.monitoring) || ("dryRun" in cmd && cmd.dryRun)) return undefined;
  const { k8sNamespace, project } = cmd.global;
  const record = new RunRecord(cmd.command, k8sNamespace ?? project ?? "local");
  output.observe(record.observe);
  output.holdFinalLines();
  return {
    record,
    publish: (failure, hurry = false) => {
      const options = hurry
        ? { ...cmd.monitoring, delivery: { ...cmd.monitoring.delivery, attempts: 1 } }
        : cmd.monitoring;
      return publishRun(record.finish(failure), options, output.onEvent);
    },
  };
}

/** The facts of the error the CLI reported, as a run failure. */
export function runFailure(error: unknown, exitCode: number): RunFailure {
  const known: BackupError | undefined = isBackupError(error) ? error : undefined;
  return {
    code: known?.code ?? "INTERNAL",
    category: known?.category ?? "internal",
    exitCode,
    message: error instanceof Error ? error.message : String(error),
    ...(known?.hint ? { hint: known.hint } : {}),
  };
}
