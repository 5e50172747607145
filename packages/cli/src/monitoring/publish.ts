import type { EventSink } from "@infrahub-backup/core";
import { DeliveryFailure } from "./deliver.js";
import { writeMetricsFile } from "./metrics-file.js";
import type { MonitoringOptions } from "./monitoring-options.js";
import { pushMetrics } from "./pushgateway.js";
import type { RunResult } from "./run-record.js";
import { sendNotification } from "./webhook.js";

/** True when the options send the run anywhere. */
export function monitoringWanted(options: MonitoringOptions): boolean {
  return (
    options.pushgateway !== undefined || options.metricsFile !== undefined || options.webhooks.length > 0
  );
}

const reason = (error: unknown): string =>
  error instanceof DeliveryFailure ? error.message : error instanceof Error ? error.message : String(error);

/**
 * Sends the run's result to the Pushgateway, the metrics file and the webhooks, all at once. Each failure
 * is a `warning` event (METRICS_NOT_PUBLISHED, NOTIFICATION_NOT_SENT) and nothing else: it never changes
 * the run's exit code, and the delivery policy bounds the time a dead or slow receiver can take.
 */
export async function publishRun(
  result: RunResult,
  options: MonitoringOptions,
  emit: EventSink,
): Promise<void> {
  const tasks: Promise<void>[] = [];
  const { pushgateway, metricsFile, webhooks } = options;
  if (pushgateway) {
    tasks.push(
      pushMetrics(pushgateway.url, pushgateway.auth, result, options.delivery).catch((error: unknown) => {
        emit({
          type: "warning",
          code: "METRICS_NOT_PUBLISHED",
          message: `metrics not pushed to the Pushgateway: ${reason(error)}`,
          fields: { target: "pushgateway" },
        });
      }),
    );
  }
  if (metricsFile) {
    tasks.push(
      writeMetricsFile(metricsFile, result).catch((error: unknown) => {
        emit({
          type: "warning",
          code: "METRICS_NOT_PUBLISHED",
          message: `metrics file not written: ${reason(error)}`,
          fields: { target: "file", path: metricsFile },
        });
      }),
    );
  }
  if (options.notifyOn === "always" || !result.succeeded) {
    webhooks.forEach((url, i) => {
      tasks.push(
        sendNotification(url, result, options.delivery).catch((error: unknown) => {
          emit({
            type: "warning",
            code: "NOTIFICATION_NOT_SENT",
            message: `webhook ${i + 1} of ${webhooks.length} not notified: ${reason(error)}`,
            fields: { webhook: i + 1, webhooks: webhooks.length },
          });
        }),
      );
    });
  }
  await Promise.all(tasks);
}
