import { humanBytes } from "../values.js";
import { type DeliveryPolicy, deliver } from "./deliver.js";
import type { RunResult } from "./run-record.js";

/** When webhooks are called: only for failed runs (default), or for every run. */
export type NotifyOn = "failure" | "always";

/** The JSON body of a notification. Secrets are never in it (no URL credentials, no keys, no passwords). */
export interface NotificationBody {
  /** `infrahub-backup.<operation>` */
  event: string;
  status: "succeeded" | "failed";
  operation: RunResult["operation"];
  deployment: string;
  started_at: string;
  finished_at: string;
  duration_seconds: number;
  archive?: { location: string; size_bytes?: number };
  dump_size_bytes?: Partial<Record<"neo4j" | "prefect", number>>;
  neo4j_offline_seconds?: number;
  error?: { code: string; category: string; exit_code: number; message: string; hint?: string };
  /** One line for chat tools: Slack (and Mattermost, Rocket.Chat) incoming webhooks show `text`. */
  text: string;
}

/**
 * URL credentials (`scheme://user:secret@host`) taken out of a text. Library messages carry no secrets by
 * contract; this covers an unexpected error that quotes a URL.
 */
export function scrubUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1");
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

export function notificationBody(result: RunResult): NotificationBody {
  const failure = result.failure;
  const archive = result.archive && {
    location: scrubUrlCredentials(result.archive.location),
    ...(result.archive.size !== undefined ? { size_bytes: result.archive.size } : {}),
  };
  const body: NotificationBody = {
    event: `infrahub-backup.${result.operation}`,
    status: result.succeeded ? "succeeded" : "failed",
    operation: result.operation,
    deployment: result.deployment,
    started_at: new Date(result.startedAt).toISOString(),
    finished_at: new Date(result.finishedAt).toISOString(),
    duration_seconds: seconds(result.finishedAt - result.startedAt),
    ...(archive ? { archive } : {}),
    ...(Object.keys(result.dumpBytes).length > 0 ? { dump_size_bytes: result.dumpBytes } : {}),
    ...(result.neo4jOfflineMs !== undefined ? { neo4j_offline_seconds: seconds(result.neo4jOfflineMs) } : {}),
    ...(failure
      ? {
          error: {
            code: failure.code,
            category: failure.category,
            exit_code: failure.exitCode,
            message: scrubUrlCredentials(failure.message),
            ...(failure.hint ? { hint: scrubUrlCredentials(failure.hint) } : {}),
          },
        }
      : {}),
    text: "",
  };
  body.text = summaryText(body);
  return body;
}

function summaryText(body: NotificationBody): string {
  const head = `infrahub-backup ${body.operation} ${body.status} on ${body.deployment} after ${body.duration_seconds} s`;
  if (body.error) {
    const hint = body.error.hint ? ` Hint: ${body.error.hint}` : "";
    return `:x: ${head}: ${body.error.message} (${body.error.code}, exit ${body.error.exit_code}).${hint}`;
  }
  const archive = body.archive
    ? `: ${body.archive.location}${body.archive.size_bytes !== undefined ? ` (${humanBytes(body.archive.size_bytes)})` : ""}`
    : "";
  const offline =
    body.neo4j_offline_seconds !== undefined ? `, Neo4j offline ${body.neo4j_offline_seconds} s` : "";
  return `:white_check_mark: ${head}${archive}${offline}`;
}

/** POSTs the notification of `result` to one webhook. */
export async function sendNotification(
  url: string,
  result: RunResult,
  policy: DeliveryPolicy,
): Promise<void> {
  await deliver(
    url,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(notificationBody(result)),
    },
    policy,
  );
}
