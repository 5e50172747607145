import type { V1Pod, V1Probe } from "@kubernetes/client-node";
import type { LivenessWindow } from "./environment.js";

/** Kubernetes' defaults for a probe's fields and a pod's grace period (core/v1 Probe, PodSpec). */
const DEFAULT_PERIOD_SECONDS = 10;
const DEFAULT_FAILURE_THRESHOLD = 3;
const DEFAULT_GRACE_SECONDS = 30;

/**
 * The liveness window of a container of a pod: the kubelet counts consecutive failed probes, one per
 * period, and the first may come as soon as Neo4j stops answering; at `failureThreshold` it stops the
 * container with the probe's `terminationGracePeriodSeconds`, else the pod's. Undefined without a probe.
 */
export function livenessWindowOf(pod: V1Pod, container: string): LivenessWindow | undefined {
  const probe = pod.spec?.containers.find((c) => c.name === container)?.livenessProbe;
  if (!probe) return undefined;
  const periodSeconds = probe.periodSeconds ?? DEFAULT_PERIOD_SECONDS;
  const failureThreshold = probe.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
  const graceSeconds =
    probe.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  return {
    seconds: periodSeconds * Math.max(failureThreshold - 1, 0) + graceSeconds,
    probe: `${describeProbe(probe)} every ${periodSeconds} s, ${failureThreshold} failure${failureThreshold === 1 ? "" : "s"}`,
    periodSeconds,
    failureThreshold,
    graceSeconds,
  };
}

function describeProbe(probe: V1Probe): string {
  if (probe.tcpSocket) return `tcpSocket :${probe.tcpSocket.port}`;
  if (probe.httpGet) return `httpGet :${probe.httpGet.port}${probe.httpGet.path ?? "/"}`;
  if (probe.grpc) return `grpc :${probe.grpc.port}`;
  // Only the program: a probe's arguments may hold a password (`cypher-shell -p …`).
  if (probe.exec) return `exec ${probe.exec.command?.[0] ?? ""}…`;
  return "probe";
}
