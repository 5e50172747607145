import type { Environment } from "../environment/environment.js";
import { BackupError, isBackupError } from "../errors.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

export interface RunningTaskGateOptions {
  /** Give up (TASKS_RUNNING) after this long. Default 30 min; upstream waits forever. */
  timeoutMs?: number;
  /** Pause between checks. Default 5 s, as upstream. */
  intervalMs?: number;
  signal?: AbortSignal;
}

interface TaskSummary {
  id?: string;
  name?: string;
  state?: string;
}

/**
 * Waits until Infrahub reports no running or pending tasks (`infrahubctl task list` in task-worker),
 * so a backup does not capture — or interrupt — work in flight. Skipped when the deployment has no
 * task-worker. When the installed infrahubctl cannot list tasks, warns and goes on.
 */
export async function waitForIdleTasks(
  environment: Environment,
  onEvent: EventSink,
  options: RunningTaskGateOptions = {},
): Promise<void> {
  if (!(await environment.has("task-worker"))) return;
  const executor = await environment.executor("task-worker");
  const workerEnv = await environment.serviceEnv("task-worker").catch(() => ({}) as Record<string, string>);
  const env: Record<string, string> = { INFRAHUB_PAGINATION_SIZE: "200" };
  const address = workerEnv.INFRAHUB_INTERNAL_ADDRESS;
  if (address) env.INFRAHUB_ADDRESS = address;
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  const interval = options.intervalMs ?? 5_000;
  for (;;) {
    options.signal?.throwIfAborted();
    let result: Awaited<ReturnType<typeof executor.exec>>;
    try {
      result = await executor.exec({
        argv: ["infrahubctl", "task", "list", "--json", "--state", "running", "--state", "pending"],
        env,
        timeoutMs: 60_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (!isBackupError(error, "EXEC_FAILED")) throw error;
      onEvent(
        warning(
          "TASKS_UNCHECKED",
          "infrahubctl is not available in task-worker; going on without waiting for running tasks",
        ),
      );
      return;
    }
    if (result.exitCode !== 0) {
      onEvent(
        warning(
          "TASKS_UNCHECKED",
          "could not list Infrahub's running tasks; going on without waiting for them",
          {
            stderr: result.stderrTail.trim().split("\n").slice(-3).join(" "),
          },
        ),
      );
      return;
    }
    let tasks: TaskSummary[];
    try {
      const parsed: unknown = JSON.parse(result.stdout.toString() || "[]");
      if (!Array.isArray(parsed)) throw new Error("not an array");
      tasks = parsed as TaskSummary[];
    } catch {
      onEvent(warning("TASKS_UNCHECKED", "infrahubctl task list did not print a JSON array; going on"));
      return;
    }
    if (tasks.length === 0) return;
    if (Date.now() + interval > deadline) {
      throw new BackupError("TASKS_RUNNING", `${tasks.length} Infrahub task(s) still running or pending`, {
        hint: "wait for them to finish, or pass --force to back up anyway; nothing was stopped",
        details: { tasks: tasks.slice(0, 20).map((t) => t.name ?? t.id) },
      });
    }
    onEvent({
      type: "tasks-running",
      count: tasks.length,
      tasks: tasks.slice(0, 5).map((t) => `${t.name ?? t.id} (${t.state ?? "?"})`),
    });
    await new Promise((r) => setTimeout(r, interval));
  }
}
