import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { livenessWarning, offlineSeconds } from "../operations/liveness-check.js";
import { livenessWindowOf } from "./kubernetes-liveness.js";

const pod = (probe: object | undefined, grace?: number): V1Pod => ({
  spec: {
    ...(grace !== undefined ? { terminationGracePeriodSeconds: grace } : {}),
    containers: [{ name: "sidecar" }, { name: "neo4j", ...(probe ? { livenessProbe: probe } : {}) }],
  },
});

describe("the liveness window of Neo4j's container", () => {
  it("the neo4j chart's probe: 39 periods of 5 s after the first failure, then its 3600 s grace", () => {
    const chart = pod(
      { tcpSocket: { port: 7687 }, failureThreshold: 40, timeoutSeconds: 10, periodSeconds: 5 },
      3600,
    );
    expect(livenessWindowOf(chart, "neo4j")).toEqual({
      seconds: 3795,
      probe: "tcpSocket :7687 every 5 s, 40 failures",
      periodSeconds: 5,
      failureThreshold: 40,
      graceSeconds: 3600,
    });
  });

  it("Kubernetes' defaults (10 s, 3 failures, 30 s grace); the probe's own grace period wins over the pod's", () => {
    expect(livenessWindowOf(pod({ httpGet: { port: 7474 } }), "neo4j")).toMatchObject({
      seconds: 50,
      probe: "httpGet :7474/ every 10 s, 3 failures",
    });
    const own = pod({ grpc: { port: 9000 }, terminationGracePeriodSeconds: 2, failureThreshold: 1 }, 600);
    expect(livenessWindowOf(own, "neo4j")).toMatchObject({ seconds: 2, graceSeconds: 2 });
  });

  it("no probe on that container: no window; an exec probe is named by its program only (arguments may hold a password)", () => {
    expect(livenessWindowOf(pod(undefined), "neo4j")).toBeUndefined();
    expect(livenessWindowOf(pod({ tcpSocket: { port: 1 } }), "other")).toBeUndefined();
    const exec = pod({ exec: { command: ["cypher-shell", "-u", "neo4j", "-p", "s3cret", "RETURN 1"] } });
    const window = livenessWindowOf(exec, "neo4j");
    expect(window?.probe).toBe("exec cypher-shell… every 10 s, 3 failures");
    expect(JSON.stringify(window)).not.toContain("s3cret");
  });
});

describe("the warning before an offline step", () => {
  const chart = livenessWindowOf(
    pod({ tcpSocket: { port: 7687 }, failureThreshold: 40, periodSeconds: 5 }, 3600),
    "neo4j",
  );
  const tight = livenessWindowOf(
    pod({ tcpSocket: { port: 7687 }, failureThreshold: 40, periodSeconds: 5 }, 30),
    "neo4j",
  );

  it("estimates shutdown + bytes at neo4j-admin's bench rates", () => {
    expect(offlineSeconds({ kind: "dump", bytes: 0 })).toBe(10);
    expect(offlineSeconds({ kind: "dump", bytes: 4e9 })).toBe(110);
    expect(offlineSeconds({ kind: "load", bytes: 4e9 })).toBe(90);
  });

  it("none while the step fits twice in the window; else a warning naming the failureThreshold that gives it room", () => {
    if (!chart || !tight) throw new Error("no window");
    expect(livenessWarning(chart, { kind: "dump", bytes: 50e9 })).toBeUndefined();
    expect(livenessWarning(tight, { kind: "dump", bytes: 4e9 })).toBeUndefined(); // 110 s × 2 ≤ 225 s
    const warning = livenessWarning(tight, { kind: "dump", bytes: 5e9 }); // 135 s × 2 > 225 s
    expect(warning).toMatchObject({
      type: "warning",
      code: "LIVENESS_PROBE",
      fields: { windowSeconds: 225, estimatedSeconds: 135, neededFailureThreshold: 49 },
    });
    // The threshold it names is enough: with it, the same step fits.
    const widened = livenessWindowOf(
      pod({ tcpSocket: { port: 7687 }, failureThreshold: 49, periodSeconds: 5 }, 30),
      "neo4j",
    );
    if (!widened) throw new Error("no window");
    expect(livenessWarning(widened, { kind: "dump", bytes: 5e9 })).toBeUndefined();
  });
});
