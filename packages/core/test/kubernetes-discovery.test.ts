// Pod and workload choice rules on pod/workload objects as the API returns them (the same rules run
// against the real API server in kubernetes-environment.test.ts; these are the cases a chart-shaped
// fixture does not produce: fallbacks, sidecars, terminating pods, other owners).
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { choosePod, serviceSelectors } from "../src/environment/kubernetes-discovery.js";
import { assertSafeToScaleDown, type Workload } from "../src/environment/kubernetes-workloads.js";

function pod(
  name: string,
  options: {
    labels?: Record<string, string>;
    containers?: string[];
    ready?: boolean;
    owner?: string;
    deleting?: boolean;
    annotations?: Record<string, string>;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      labels: options.labels ?? {},
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.deleting ? { deletionTimestamp: new Date() } : {}),
      ...(options.owner
        ? {
            ownerReferences: [
              {
                apiVersion: "apps/v1",
                kind: "ReplicaSet",
                name: options.owner,
                uid: options.owner,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: { containers: (options.containers ?? ["main"]).map((n) => ({ name: n })) },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }],
    },
  };
}

describe("pod choice", () => {
  it("prefers infrahub/service=server over upstream's selectors and over a name match", () => {
    expect(serviceSelectors("infrahub-server")[0]).toEqual({ "infrahub/service": "server" });
    const pods = [
      pod("infrahub-server-by-name", { containers: ["infrahub-server"] }),
      pod("api-0", { labels: { service: "infrahub-server" }, containers: ["infrahub-server"] }),
      pod("api-1", { labels: { "infrahub/service": "server" }, containers: ["infrahub-server"] }),
    ];
    expect(choosePod(pods, "infrahub-server", "ns")).toEqual({
      pod: "api-1",
      container: "infrahub-server",
      how: "label infrahub/service=server",
    });
  });

  it("falls back to a name match last (the HA reference topology has no infrahub/service labels)", () => {
    const pods = [pod("taskmanagerdb-1", { containers: ["postgres"] }), pod("other", {})];
    expect(() => choosePod(pods, "task-manager-db", "ns")).toThrow(/no pod for task-manager-db/);
    const named = [pod("infrahub-task-manager-db-0", { containers: ["postgres"] })];
    expect(choosePod(named, "task-manager-db", "ns")).toMatchObject({
      pod: "infrahub-task-manager-db-0",
      container: "postgres",
      how: 'name containing "task-manager-db"',
    });
  });

  it("never picks a terminating or unready pod", () => {
    const pods = [
      pod("infrahub-database-0", {
        labels: { "infrahub/service": "database" },
        containers: ["neo4j"],
        deleting: true,
      }),
      pod("infrahub-database-1", {
        labels: { "infrahub/service": "database" },
        containers: ["neo4j"],
        ready: false,
      }),
    ];
    expect(() => choosePod(pods, "database", "ns")).toThrow(
      "database in namespace ns has no Running and Ready pod: infrahub-database-0 (terminating), infrahub-database-1 (Running, not Ready)",
    );
  });

  it("replicas of one worker Deployment are interchangeable; pods of two owners are not", () => {
    const labels = { "infrahub/service": "task-worker" };
    const containers = ["infrahub-task-worker"];
    const same = [
      pod("w-b", { labels, containers, owner: "rs-1" }),
      pod("w-a", { labels, containers, owner: "rs-1" }),
    ];
    expect(choosePod(same, "task-worker", "ns").pod).toBe("w-a");
    const two = [
      pod("w-b", { labels, containers, owner: "rs-1" }),
      pod("w-a", { labels, containers, owner: "rs-2" }),
    ];
    expect(() => choosePod(two, "task-worker", "ns")).toThrow(
      expect.objectContaining({ code: "ENVIRONMENT_AMBIGUOUS" }),
    );
  });

  it("a database's replicas need a primary even under one owner; legacy role=primary counts", () => {
    const labels = { "infrahub/service": "task-manager-db" };
    const pods = [
      pod("pg-0", { labels, containers: ["postgresql"], owner: "sts" }),
      pod("pg-1", { labels, containers: ["postgresql"], owner: "sts" }),
    ];
    expect(() => choosePod(pods, "task-manager-db", "ns")).toThrow(/none is marked primary: pg-0, pg-1/);
    pods[1] = pod("pg-1", {
      labels: { ...labels, role: "primary" },
      containers: ["postgresql"],
      owner: "sts",
    });
    expect(choosePod(pods, "task-manager-db", "ns").pod).toBe("pg-1");
  });

  it("a sidecar never gets the commands: the chart's container, else the declared default, else an error", () => {
    const labels = { "infrahub/service": "database" };
    expect(
      choosePod([pod("db", { labels, containers: ["istio-proxy", "neo4j"] })], "database", "ns").container,
    ).toBe("neo4j");
    const declared = pod("db", {
      labels,
      containers: ["istio-proxy", "graph"],
      annotations: { "kubectl.kubernetes.io/default-container": "graph" },
    });
    expect(choosePod([declared], "database", "ns").container).toBe("graph");
    expect(() =>
      choosePod([pod("db", { labels, containers: ["istio-proxy", "graph"] })], "database", "ns"),
    ).toThrow("pod db (database) has no container named neo4j; it has istio-proxy, graph");
  });
});

describe("scale-down safety", () => {
  const server = (
    volume: Record<string, unknown>,
    env: { name: string; value: string }[] = [],
  ): Workload => ({
    kind: "Deployment",
    name: "infrahub-infrahub-server",
    selector: {},
    template: {
      spec: {
        containers: [
          {
            name: "infrahub-server",
            env,
            volumeMounts: [{ name: "storage", mountPath: "/opt/infrahub/storage" }],
          },
        ],
        volumes: [{ name: "storage", ...volume }],
      },
    },
  });

  it("refuses an emptyDir under the server's storage, accepts a PVC or S3 storage", () => {
    expect(() => assertSafeToScaleDown("infrahub-server", server({ emptyDir: {} }), "ns")).toThrow(
      expect.objectContaining({ code: "UNSAFE_SCALE_DOWN" }),
    );
    expect(() =>
      assertSafeToScaleDown(
        "infrahub-server",
        server({ persistentVolumeClaim: { claimName: "data" } }),
        "ns",
      ),
    ).not.toThrow();
    expect(() =>
      assertSafeToScaleDown(
        "infrahub-server",
        server({ emptyDir: {} }, [{ name: "INFRAHUB_STORAGE_DRIVER", value: "s3" }]),
        "ns",
      ),
    ).not.toThrow();
  });

  it("never scales a database", () => {
    expect(() =>
      assertSafeToScaleDown(
        "database",
        { kind: "StatefulSet", name: "infrahub-database", selector: {}, template: undefined },
        "ns",
      ),
    ).toThrow(/is a database and is never scaled/);
  });
});
