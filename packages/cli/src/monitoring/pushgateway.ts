import { type Delivery, type DeliveryPolicy, deliver } from "./deliver.js";
import { formatExposition, groupingLabels, runSamples } from "./metrics.js";
import type { RunResult } from "./run-record.js";

/** Credentials for the Pushgateway, from the environment only. */
export type PushgatewayAuth =
  | { kind: "basic"; username: string; password: string }
  | { kind: "bearer"; token: string }
  | undefined;

/** `…/metrics/job/<job>/deployment/<d>/operation/<op>`; a value a path cannot carry is sent as `label@base64/…`. */
export function groupingPath(base: string, result: RunResult): string {
  const parts = Object.entries(groupingLabels(result)).map(([label, value]) =>
    /^[A-Za-z0-9_.-]+$/.test(value)
      ? `${label}/${value}`
      : `${label}@base64/${Buffer.from(value).toString("base64url") || "="}`,
  );
  return `${base.replace(/\/+$/, "")}/metrics/${parts.join("/")}`;
}

/**
 * Pushes the run's series to its group. A success replaces the whole group (PUT), so a failure's
 * `last_failure_info` and sizes it did not measure go; a failure replaces only the metrics it has (POST),
 * so the group's `last_success_timestamp_seconds` stays.
 */
export async function pushMetrics(
  base: string,
  auth: PushgatewayAuth,
  result: RunResult,
  policy: DeliveryPolicy,
): Promise<void> {
  const delivery: Delivery = {
    method: result.succeeded ? "PUT" : "POST",
    headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", ...authorization(auth) },
    body: formatExposition(runSamples(result)),
  };
  await deliver(groupingPath(base, result), delivery, policy);
}

function authorization(auth: PushgatewayAuth): Record<string, string> {
  if (auth?.kind === "basic") {
    return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` };
  }
  if (auth?.kind === "bearer") return { authorization: `Bearer ${auth.token}` };
  return {};
}
