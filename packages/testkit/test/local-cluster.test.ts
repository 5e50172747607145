// ci-cost: 30 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// One local cluster and one Infrahub local stack for the whole file: the fixture's pods are kwok's, their
// containers' exec runs in sandboxes bound to the stack's real Neo4j and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  backupRbacObjects,
  createContainerSandbox,
  deployInfrahubFixture,
  type InfrahubFixture,
  type InfrahubLocalStack,
  type KubeObject,
  type LocalCluster,
  startInfrahubLocalStack,
  startLocalCluster,
} from "../src/index.js";

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

describe("local cluster with the Infrahub fixture", () => {
  let cluster: LocalCluster;
  let stack: InfrahubLocalStack;
  let fixture: InfrahubFixture;
  const ns = "infrahub";

  const podsOf = async (selector: string): Promise<KubeObject[]> =>
    (
      await cluster.client.json(
        "GET",
        `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`,
      )
    ).items;

  beforeAll(async () => {
    const t0 = Date.now();
    [cluster, stack] = await Promise.all([startLocalCluster(), startInfrahubLocalStack()]);
    const t1 = Date.now();
    fixture = await deployInfrahubFixture(cluster, stack, { namespace: ns, backupRbac: true });
    const t2 = Date.now();
    console.log(
      `warm start: cluster + local stack ${t1 - t0} ms, fixture Ready ${t2 - t1} ms, total ${t2 - t0} ms`,
    );
  });
  afterAll(async () => {
    await fixture?.[Symbol.asyncDispose]();
    await cluster?.[Symbol.asyncDispose]();
    await stack?.[Symbol.asyncDispose]();
  });

  it("has a Ready kwok node and every fixture pod Running and Ready", async () => {
    const nodes = await cluster.kubectl(["get", "nodes", "-o", "json"]);
    const node = JSON.parse(nodes.stdout).items[0];
    expect(node.metadata.name).toBe(cluster.nodeName);
    expect(node.status.conditions.find((c: KubeObject) => c.type === "Ready").status).toBe("True");
    const pods: KubeObject[] = (await cluster.client.json("GET", `/api/v1/namespaces/${ns}/pods`)).items;
    const names = pods.map((p) => p.metadata.name as string).sort();
    expect(names.filter((n) => !/-[a-z0-9]+-[a-z0-9]{5}$/.test(n))).toEqual([
      "infrahub-cache-master-0",
      "infrahub-database-0",
      "infrahub-message-queue-0",
      "infrahub-postgresql-0",
    ]);
    expect(names.filter((n) => n.startsWith("infrahub-infrahub-task-worker-"))).toHaveLength(2);
    expect(names.filter((n) => n.startsWith("infrahub-infrahub-server-"))).toHaveLength(1);
    expect(names.filter((n) => n.startsWith("prefect-server-"))).toHaveLength(1);
    for (const pod of pods) {
      expect(pod.status.phase).toBe("Running");
      expect(pod.status.conditions.find((c: KubeObject) => c.type === "Ready").status).toBe("True");
    }
    // The chart's label families: infrahub/service everywhere, app.kubernetes.io/name=infrahub on server/workers only.
    expect((await podsOf("infrahub/service")).length).toBe(pods.length);
    expect(
      (await podsOf("app.kubernetes.io/name=infrahub"))
        .map((p) => p.metadata.labels["infrahub/service"])
        .sort(),
    ).toEqual(["server", "task-worker", "task-worker"]);
  });

  it("kubectl exec into infrahub-database-0 -c neo4j runs cypher-shell against the real Neo4j", async () => {
    await stack.neo4j.cypher("MERGE (m:ClusterMarker {v: 'seen-through-kwok'})");
    const result = await cluster.kubectl([
      "exec",
      "-n",
      ns,
      "infrahub-database-0",
      "-c",
      "neo4j",
      "--",
      "sh",
      "-c",
      'cypher-shell -u neo4j -p"$(cut -d/ -f2 "$NEO4J_AUTH_PATH")" --format plain "MATCH (m:ClusterMarker) RETURN m.v AS v"',
    ]);
    expect(result.stdout).toBe('v\n"seen-through-kwok"\n');
    const whoami = await cluster.kubectl([
      "exec",
      "-n",
      ns,
      "infrahub-database-0",
      "-c",
      "neo4j",
      "--",
      "whoami",
    ]);
    expect(whoami.stdout).toBe("neo4j\n");
  });

  it("pg_dump in infrahub-postgresql-0 dumps the real PostgreSQL with the container's credentials", async () => {
    await stack.postgres.psql(
      "CREATE TABLE IF NOT EXISTS cluster_marker (v text); INSERT INTO cluster_marker VALUES ('pg-through-kwok');",
    );
    const result = await cluster.kubectl([
      "exec",
      "-n",
      ns,
      "infrahub-postgresql-0",
      "--",
      "sh",
      "-c",
      'PGPASSWORD="$POSTGRES_PASSWORD" pg_dump -h localhost -U "$POSTGRES_USER" -d "$POSTGRES_DATABASE" --data-only -t cluster_marker',
    ]);
    expect(result.stdout).toContain("pg-through-kwok");
    const anon = await cluster.kubectl(["exec", "-n", ns, "infrahub-postgresql-0", "--", "whoami"], {
      allowFailure: true,
    });
    expect(anon.exitCode).not.toBe(0);
  });

  it("env in a pod shows the container env (credentials as the chart sets them), not the host's", async () => {
    const pods = await podsOf("infrahub/service=task-manager");
    const prefect = parseEnv(
      (await cluster.kubectl(["exec", "-n", ns, pods[0]?.metadata.name, "--", "env"])).stdout,
    );
    expect(prefect.PREFECT_SERVER_DATABASE_CONNECTION_URL).toBe(stack.postgres.connectionUrl());
    expect(prefect.HOSTNAME === undefined || prefect.HOSTNAME !== process.env.HOSTNAME).toBe(true);
    for (const hostOnly of ["IHB_CACHE", "NODE_OPTIONS", "VITEST", "PNPM_HOME"])
      expect(prefect[hostOnly]).toBeUndefined();
    const pg = parseEnv(
      (await cluster.kubectl(["exec", "-n", ns, "infrahub-postgresql-0", "--", "env"])).stdout,
    );
    expect([pg.POSTGRES_USER, pg.POSTGRES_DATABASE, pg.POSTGRES_PASSWORD]).toEqual([
      "prefect",
      "server",
      stack.postgres.app.password,
    ]);
  });

  it("exec into a Deployment pod (random name) works, and a non-zero exit is reported", async () => {
    const [worker] = await podsOf("infrahub/service=task-worker");
    const name: string = worker?.metadata.name;
    expect(name).toMatch(/^infrahub-infrahub-task-worker-[a-z0-9]+-[a-z0-9]{5}$/);
    const env = parseEnv((await cluster.kubectl(["exec", "-n", ns, name, "--", "env"])).stdout);
    expect(env.INFRAHUB_INTERNAL_ADDRESS).toBe("http://infrahub-infrahub-server:8000");
    expect(env.HOSTNAME).toBe(name);
    const failed = await cluster.kubectl(
      ["exec", "-n", ns, name, "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
      {
        allowFailure: true,
      },
    );
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stdout).toBe("out\n");
    expect(failed.stderr).toContain("err");
    expect(failed.stderr).toMatch(/exit (status|code) 3/);
    const missing = await cluster.kubectl(["exec", "-n", ns, name, "--", "pg_dump", "--version"], {
      allowFailure: true,
    });
    expect(missing.exitCode).not.toBe(0);
    const taskList = [
      "exec",
      "-n",
      ns,
      name,
      "--",
      "infrahubctl",
      "task",
      "list",
      "--json",
      "--state",
      "running",
      "--state",
      "pending",
    ];
    expect(JSON.parse((await cluster.kubectl(taskList)).stdout)).toEqual([]);
    await fixture.setRunningTasks([{ id: "t-1", state: "RUNNING" }]);
    try {
      expect(JSON.parse((await cluster.kubectl(taskList)).stdout)).toEqual([{ id: "t-1", state: "RUNNING" }]);
    } finally {
      await fixture.setRunningTasks([]);
    }
    const unknown = await cluster.kubectl(["exec", "-n", ns, name, "--", "infrahubctl", "schema", "load"], {
      allowFailure: true,
    });
    expect(unknown.stderr).toContain("No such command 'schema'");
    const [server] = await podsOf("infrahub/service=server");
    const version = await cluster.kubectl([
      "exec",
      "-n",
      ns,
      server?.metadata.name,
      "--",
      "python",
      "-c",
      "import infrahub; print(infrahub.__version__)",
    ]);
    expect(version.stdout).toBe("1.9.3\n");
  });

  it("scaling a Deployment to 0 removes its pods; back to 2 they are Running, Ready and exec-able", async () => {
    const deployment = "deployment/infrahub-infrahub-task-worker";
    await cluster.kubectl(["scale", "-n", ns, deployment, "--replicas=0"]);
    const deadline = Date.now() + 60_000;
    while ((await podsOf("infrahub/service=task-worker")).length > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
    }
    await cluster.kubectl(["scale", "-n", ns, deployment, "--replicas=2"]);
    await cluster.waitForReady(ns);
    const pods = await podsOf("infrahub/service=task-worker");
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      const out = await cluster.kubectl([
        "exec",
        "-n",
        ns,
        pod.metadata.name,
        "--",
        "sh",
        "-c",
        "echo $INFRAHUB_API_TOKEN",
      ]);
      expect(out.stdout.trim()).not.toBe("");
    }
  });

  it("variants: Neo4j data on a bound PVC, server storage emptyDir, NEO4J_AUTH env, the older Prefect variable", async () => {
    const variant = "infrahub-variant";
    await using v = await deployInfrahubFixture(cluster, stack, {
      namespace: variant,
      neo4jDataVolume: "pvc",
      serverStorage: "emptyDir",
      neo4jAuth: "env",
      prefectUrlVariable: "PREFECT_API_DATABASE_CONNECTION_URL",
      taskWorkerReplicas: 1,
    });
    expect(v.namespace).toBe(variant);
    const pvc = JSON.parse(
      (await cluster.kubectl(["get", "pvc", "-n", variant, "data-infrahub-database-0", "-o", "json"])).stdout,
    );
    expect(pvc.status.phase).toBe("Bound");
    const server = JSON.parse(
      (await cluster.kubectl(["get", "deployment", "-n", variant, "infrahub-infrahub-server", "-o", "json"]))
        .stdout,
    );
    expect(server.spec.template.spec.volumes).toEqual([{ name: "storage-data", emptyDir: {} }]);
    const dbEnv = parseEnv(
      (await cluster.kubectl(["exec", "-n", variant, "infrahub-database-0", "--", "env"])).stdout,
    );
    expect(dbEnv.NEO4J_AUTH).toBe(`neo4j/${stack.neo4j.password}`);
    expect(dbEnv.NEO4J_AUTH_PATH).toBeUndefined();
    const [prefect] = (
      await cluster.client.json(
        "GET",
        `/api/v1/namespaces/${variant}/pods?labelSelector=infrahub%2Fservice%3Dtask-manager`,
      )
    ).items;
    const prefectEnv = parseEnv(
      (await cluster.kubectl(["exec", "-n", variant, prefect.metadata.name, "--", "env"])).stdout,
    );
    expect(Object.keys(prefectEnv).filter((k) => k.includes("DATABASE_CONNECTION_URL"))).toEqual([
      "PREFECT_API_DATABASE_CONNECTION_URL",
    ]);
    // Bound again (the latest binding wins): the recreated StatefulSet pod, same name, execs in the new sandbox.
    await using rebound = await createContainerSandbox({ name: "rebound", env: { REBOUND: "yes" } });
    const binding = { namespace: variant, selector: { app: "infrahub" }, containers: { neo4j: rebound } };
    await cluster.bindSandboxes(binding);
    try {
      await cluster.kubectl(["delete", "pod", "-n", variant, "infrahub-database-0", "--wait=true"]);
      await cluster.waitForReady(variant);
      const after = parseEnv(
        (await cluster.kubectl(["exec", "-n", variant, "infrahub-database-0", "--", "env"])).stdout,
      );
      expect([after.REBOUND, after.NEO4J_AUTH]).toEqual(["yes", undefined]);
    } finally {
      cluster.unbindSandboxes(binding);
    }
  });

  it("a Job's pod turns Running and stays so until someone sets its status (jobPods: external)", async () => {
    await cluster.createNamespace("jobs");
    await cluster.apply({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "once", namespace: "jobs" },
      spec: {
        backoffLimit: 0,
        template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "fake" }] } },
      },
    });
    const jobPod = async () =>
      (await cluster.client.json("GET", "/api/v1/namespaces/jobs/pods?labelSelector=job-name%3Donce"))
        .items[0];
    const deadline = Date.now() + 60_000;
    while ((await jobPod())?.status?.phase !== "Running") {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 3_000));
    const pod = await jobPod();
    expect(pod.status.phase).toBe("Running");
    expect(pod.spec.nodeName).toBe(cluster.nodeName);
    await cluster.client.json(
      "PATCH",
      `/api/v1/namespaces/jobs/pods/${pod.metadata.name}/status`,
      { status: { phase: "Succeeded" } },
      "application/merge-patch+json",
    );
    while (
      !(await cluster.client.json("GET", "/apis/batch/v1/namespaces/jobs/jobs/once")).status?.succeeded
    ) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  it("PodSecurity admission is on: a privileged pod is rejected in a restricted namespace", async () => {
    await cluster.createNamespace("restricted", { "pod-security.kubernetes.io/enforce": "restricted" });
    const result = await cluster.kubectl(["apply", "-f", "-"], {
      allowFailure: true,
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "priv", namespace: "restricted" },
        spec: { containers: [{ name: "c", image: "fake", securityContext: { privileged: true } }] },
      }),
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  it("exec round trip time (apiserver → kwok → sandbox), for the README figures", async () => {
    const t0 = Date.now();
    for (let i = 0; i < 5; i++)
      await cluster.kubectl(["exec", "-n", ns, "infrahub-database-0", "--", "true"]);
    const perExec = (Date.now() - t0) / 5;
    console.log(`kubectl exec -- true: ${perExec.toFixed(0)} ms per call (kubectl process included)`);
    expect(perExec).toBeLessThan(5_000);
  });

  it("a ServiceAccount kubeconfig has exactly its Role: exec and scale allowed, secrets and other namespaces 403", async () => {
    expect(fixture.backupServiceAccount).toBe("infrahub-infrahub-backup");
    const kubeconfig = await cluster.serviceAccountKubeconfig(ns, "infrahub-infrahub-backup");
    const allowed = await cluster.kubectl(["exec", "-n", ns, "infrahub-database-0", "--", "whoami"], {
      kubeconfig,
    });
    expect(allowed.stdout).toBe("neo4j\n");
    const scale = await cluster.kubectl(
      ["get", "--raw", `/apis/apps/v1/namespaces/${ns}/deployments/prefect-server/scale`],
      {
        kubeconfig,
      },
    );
    expect(JSON.parse(scale.stdout).spec.replicas).toBe(1);
    const secrets = await cluster.kubectl(["get", "secrets", "-n", ns], { kubeconfig, allowFailure: true });
    expect(secrets.exitCode).not.toBe(0);
    expect(secrets.stderr).toMatch(/Forbidden|forbidden/);
    expect(secrets.stderr).toContain('cannot list resource "secrets"');
    const cluster_wide = await cluster.kubectl(["get", "pods", "-A"], { kubeconfig, allowFailure: true });
    expect(cluster_wide.stderr).toMatch(/forbidden/);
    const deleted = await cluster.kubectl(
      ["delete", "pod", "-n", ns, "infrahub-database-0", "--dry-run=server"],
      {
        kubeconfig,
        allowFailure: true,
      },
    );
    expect(deleted.stderr).toContain('cannot delete resource "pods"');
    expect(backupRbacObjects(ns, "x").map((o) => o.kind)).toEqual(["ServiceAccount", "Role", "RoleBinding"]);
  });
});
