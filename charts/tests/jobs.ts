// Waiting for the chart's Jobs on the local cluster: the conditions a Job ends with, read as the Job
// controller writes them.
import type { KubeClient } from "@infrahub-backup/testkit";
import type { K8sObject } from "./helm.ts";

/** The Job's condition of this type when it is True (`Complete`, `Failed`, …). */
export function jobCondition(job: K8sObject, type: string): K8sObject | undefined {
  return (job.status?.conditions ?? []).find((c: K8sObject) => c.type === type && c.status === "True");
}

/** The Job ended: Complete or Failed. */
export function jobFinished(job: K8sObject): boolean {
  return jobCondition(job, "Complete") !== undefined || jobCondition(job, "Failed") !== undefined;
}

/**
 * Polls the namespace's Jobs (optionally only those with a label `selector`, e.g.
 * `app.kubernetes.io/component=verify`) until one satisfies `match`; throws with the Jobs' statuses after
 * `deadline` (epoch ms).
 */
export async function waitForJob(
  client: KubeClient,
  namespace: string,
  options: { match: (job: K8sObject) => boolean; deadline: number; selector?: string; what: string },
): Promise<K8sObject> {
  const query = options.selector ? `?labelSelector=${encodeURIComponent(options.selector)}` : "";
  for (;;) {
    const list = (await client.json("GET", `/apis/batch/v1/namespaces/${namespace}/jobs${query}`)) as {
      items: K8sObject[];
    };
    const found = list.items.find(options.match);
    if (found) return found;
    if (Date.now() > options.deadline) {
      const seen = list.items.map((j) => ({ name: j.metadata?.name, status: j.status }));
      throw new Error(`no ${options.what}: ${JSON.stringify(seen)}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
