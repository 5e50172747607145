import { describe, expect, it } from "vitest";
import { adminWrites } from "./audit-writes.js";

const event = (over: Record<string, unknown>) =>
  JSON.stringify({
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    stage: "ResponseComplete",
    verb: "create",
    requestURI: "/apis/batch/v1/namespaces/infrahub/jobs",
    user: { username: "admin", groups: ["system:masters", "system:authenticated"] },
    userAgent: "Helm/4.3.1",
    objectRef: { resource: "jobs", namespace: "infrahub", apiGroup: "batch", apiVersion: "v1" },
    requestReceivedTimestamp: "2026-11-22T08:00:10.000000Z",
    ...over,
  });

describe("adminWrites (scenario 19's reading of the audit log)", () => {
  const since = Date.parse("2026-11-22T08:00:00Z");

  it("counts Helm's writes and reports a kubectl write by the same identity", () => {
    const log = [
      event({}),
      event({
        verb: "patch",
        requestURI: "/api/v1/namespaces/infrahub/secrets/s3",
        userAgent: "kubectl/v1.36.4 (linux/amd64)",
      }),
    ].join("\n");
    expect(adminWrites(log, since, "ihb-job-pod-runner")).toEqual({
      byHelm: 1,
      others: ["patch /api/v1/namespaces/infrahub/secrets/s3 (kubectl/v1.36.4 (linux/amd64))"],
    });
  });

  it("ignores the test bed (runner, kwok objects), other identities, earlier requests and other stages", () => {
    const log = [
      event({
        userAgent: "ihb-job-pod-runner",
        requestURI: "/api/v1/namespaces/infrahub/pods/p/status",
        verb: "patch",
      }),
      event({ userAgent: "ihb-testkit", objectRef: { apiGroup: "kwok.x-k8s.io", resource: "execs" } }),
      event({
        user: { username: "system:serviceaccount:infrahub:oneshot-infrahub-backup" },
        userAgent: "node",
      }),
      event({ user: { username: "system:kube-controller-manager" }, userAgent: "kube-controller-manager" }),
      event({ requestReceivedTimestamp: "2026-11-22T07:59:59.000000Z", userAgent: "kubectl/v1.36.4" }),
      event({ stage: "ResponseStarted", userAgent: "kubectl/v1.36.4" }),
      "",
    ].join("\n");
    expect(adminWrites(log, since, "ihb-job-pod-runner")).toEqual({ byHelm: 0, others: [] });
  });
});
