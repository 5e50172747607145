import type { KubeObject } from "@infrahub-backup/testkit";

/**
 * Splits the writes of an API server audit log (JSON lines, audit.k8s.io/v1 Events) received at or after
 * `since` by the `admin` identity into Helm's and everyone else's, ignoring the test bed's own: requests
 * with `ignoreUserAgent` (the job pod runner) and kwok's Exec/Logs objects (fake-kubelet configuration).
 * Controllers, the scheduler and the CLI's ServiceAccount are other identities and not counted.
 */
export function adminWrites(
  auditLog: string,
  since: number,
  ignoreUserAgent: string,
): { byHelm: number; others: string[] } {
  const others: string[] = [];
  let byHelm = 0;
  for (const line of auditLog.split("\n")) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as KubeObject;
    if (e.stage !== "ResponseComplete" || Date.parse(e.requestReceivedTimestamp) < since) continue;
    if (!["create", "update", "patch", "delete", "deletecollection"].includes(e.verb)) continue;
    if (e.user?.username !== "admin") continue;
    const agent = String(e.userAgent ?? "");
    if (agent.startsWith("Helm/")) byHelm += 1;
    else if (agent !== ignoreUserAgent && e.objectRef?.apiGroup !== "kwok.x-k8s.io") {
      others.push(`${e.verb} ${e.requestURI} (${agent})`);
    }
  }
  return { byHelm, others };
}
