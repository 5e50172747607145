import type { V1Pod } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { ReadinessWait } from "./environment.js";
import type { KubeApi } from "./kubernetes-api.js";
import { candidatePods, isReady } from "./kubernetes-discovery.js";
import { matchWorkloads } from "./kubernetes-workloads.js";
import { SERVICE_NAMES, type ServiceName } from "./services.js";

/** What one service looks like right now: undefined when ready, else why not. */
type ServiceState = { service: ServiceName; problem: string | undefined };

/** Why a pod is not Ready, in the words `kubectl get pods` would use. */
export function podProblem(pod: V1Pod): string {
  const name = pod.metadata?.name ?? "?";
  if (pod.metadata?.deletionTimestamp) return `${name} terminating`;
  const waiting = (pod.status?.containerStatuses ?? [])
    .map((c) => c.state?.waiting?.reason)
    .find((reason) => reason !== undefined);
  if (waiting) return `${name} ${waiting}`;
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason,
  );
  if (unschedulable) return `${name} ${unschedulable.reason}`;
  const phase = pod.status?.phase ?? "Unknown";
  return `${name} ${phase === "Running" ? "Running, not Ready" : phase}`;
}

/**
 * One look at every service: a required service must have a Ready pod; any service with a Deployment or
 * StatefulSet must have all its desired replicas available (Ready for its minReadySeconds, for the
 * current generation); a service with neither a workload nor a pod is not part of this deployment.
 */
async function look(
  api: KubeApi,
  namespace: string,
  required: ReadonlySet<ServiceName>,
): Promise<ServiceState[]> {
  const [pods, deployments, statefulSets] = await Promise.all([
    api.listNamespacedPod({ namespace }),
    api.listNamespacedDeployment({ namespace }),
    api.listNamespacedStatefulSet({ namespace }),
  ]);
  const states: ServiceState[] = [];
  for (const service of SERVICE_NAMES) {
    const found = candidatePods(pods.items, service).pods;
    const workloads = matchWorkloads(deployments.items, statefulSets.items, service);
    if (workloads.length === 0 && found.length === 0) {
      if (required.has(service)) states.push({ service, problem: "no pod yet" });
      continue;
    }
    const lagging: string[] = [];
    for (const { workload, item } of workloads) {
      const want = item.spec?.replicas ?? 1;
      // Available: Ready for the workload's minReadySeconds (the controllers count it; = Ready without it).
      const have = item.status?.availableReplicas ?? 0;
      const current = (item.status?.observedGeneration ?? 0) >= (item.metadata?.generation ?? 0);
      if (!current || have < want)
        lagging.push(`${workload.kind} ${workload.name} ${have}/${want} available`);
    }
    const needPod = required.has(service) && !found.some(isReady);
    if (lagging.length === 0 && !needPod) {
      states.push({ service, problem: undefined });
      continue;
    }
    const notReadyPods = found.filter((pod) => !isReady(pod)).map(podProblem);
    const parts = [...lagging, ...(needPod && lagging.length === 0 ? ["no Ready pod"] : []), ...notReadyPods];
    states.push({ service, problem: parts.join(", ") });
  }
  return states;
}

/**
 * Waits until Infrahub in `namespace` is up: see `look`. Progress at the start, whenever the set of
 * problems changes, and every `progressMs`. DEPLOYMENT_NOT_READY names what was still not ready.
 */
export async function waitForDeploymentReady(
  api: KubeApi,
  namespace: string,
  wait: ReadinessWait,
): Promise<{ waitedMs: number }> {
  const started = Date.now();
  const required = new Set<ServiceName>(wait.required ?? ["database"]);
  const pollMs = wait.pollMs ?? 2000;
  const progressMs = wait.progressMs ?? 15_000;
  let lastReport = "";
  let lastReportAt = 0;
  let last: ServiceState[] = [];
  for (;;) {
    wait.signal?.throwIfAborted();
    try {
      last = await look(api, namespace, required);
    } catch (error) {
      // Unusable credentials do not heal by waiting either, and already say what to fix.
      if (error instanceof BackupError) throw error;
      const status = (error as { code?: number }).code;
      // Forbidden and unauthorised do not heal by waiting; anything else (a restarting API server) may.
      if (status === 401 || status === 403) {
        throw new BackupError(
          "EXEC_FAILED",
          `Kubernetes API: cannot read the pods and workloads of namespace ${namespace}: ${(error as Error).message}`,
          {
            cause: error,
            hint: "the identity needs list on pods, deployments and statefulsets (the chart's Role)",
          },
        );
      }
      last = [{ service: "database", problem: `the API server did not answer: ${(error as Error).message}` }];
    }
    const notReady = last.filter((s) => s.problem !== undefined).map((s) => `${s.service}: ${s.problem}`);
    const waitedMs = Date.now() - started;
    if (notReady.length === 0) return { waitedMs };
    const report = notReady.join("; ");
    if (report !== lastReport || Date.now() - lastReportAt >= progressMs) {
      wait.onProgress?.(
        `waiting for Infrahub in namespace ${namespace} to be ready (${Math.round(waitedMs / 1000)} s of ${Math.round(wait.timeoutMs / 1000)} s): ${report}`,
        notReady,
      );
      lastReport = report;
      lastReportAt = Date.now();
    }
    if (waitedMs >= wait.timeoutMs) {
      throw new BackupError(
        "DEPLOYMENT_NOT_READY",
        `Infrahub in namespace ${namespace} was not ready after ${Math.round(wait.timeoutMs / 1000)} s: ${report}`,
        {
          hint: `look at kubectl -n ${namespace} get pods; if Infrahub only needs longer to start, raise --wait-ready (INFRAHUB_WAIT_READY; chart: restore.options.waitReady / backup.options.waitReady)`,
          details: { namespace, notReady },
        },
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, wait.timeoutMs - waitedMs)), wait.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
