// The Kubernetes environment's watch over what it scaled down, its readiness wait and its restore record,
// against a real local control plane (kube-apiserver, controllers, scheduler, kwok fake nodes from testkit).
// Everything the tool does goes through a ServiceAccount bound to the Role `helm template
// charts/infrahub-backup` renders; the "someone else" who scales Infrahub back up is the admin with kubectl
// and an explicit field manager, as Argo CD's application controller would.
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { type LocalCluster, repoRoot, startFaultProxy, startLocalCluster } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Neo4jCredentials } from "../src/engines/neo4j/credentials.js";
import { HeldDeployment } from "../src/environment/held-deployment.js";
import { loadKubeConfig } from "../src/environment/kubernetes-config.js";
import { KubernetesEnvironment } from "../src/environment/kubernetes-environment.js";
import { BackupError } from "../src/errors.js";
import type { OperationEvent } from "../src/operations/events.js";

const NS = "scale-watch";
let cluster: LocalCluster;
let environment: KubernetesEnvironment;

function workload(
  kind: "Deployment" | "StatefulSet",
  name: string,
  role: string,
  container: string,
  replicas: number,
) {
  const selector = { "app.kubernetes.io/name": "infrahub", service: name };
  return {
    apiVersion: "apps/v1",
    kind,
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: selector },
      ...(kind === "StatefulSet" ? { serviceName: name } : {}),
      template: {
        metadata: { labels: { ...selector, "infrahub/service": role } },
        spec: { containers: [{ name: container, image: "registry.example/infrahub:test" }] },
      },
    },
  };
}

async function kubectl(args: string[]): Promise<string> {
  return (await cluster.kubectl(["-n", NS, ...args])).stdout;
}

async function replicas(name: string): Promise<number> {
  return Number(await kubectl(["get", "deployment", name, "-o", "jsonpath={.spec.replicas}"]));
}

/**
 * Someone else (admin, with a named field manager) sets spec.replicas on the Deployment itself, as Argo
 * CD's self-heal, Flux and `helm upgrade` do.
 */
async function scaleAs(manager: string, name: string, count: number): Promise<void> {
  await kubectl([
    "patch",
    "deployment",
    name,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { replicas: count } }),
    `--field-manager=${manager}`,
  ]);
}

async function aborted(signal: AbortSignal | undefined, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  while (!signal?.aborted) {
    if (Date.now() > deadline) throw new Error(`not aborted within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return signal.reason;
}

beforeAll(async () => {
  cluster = await startLocalCluster();
  await cluster.createNamespace(NS);
  const rendered = execFileSync(
    "helm",
    ["template", "infrahub-backup", `${repoRoot}/charts/infrahub-backup`, "--namespace", NS],
    { encoding: "utf8" },
  );
  await cluster.apply(rendered);
  await cluster.apply([
    workload("StatefulSet", "infrahub-database", "database", "neo4j", 1),
    workload("Deployment", "infrahub-infrahub-server", "server", "infrahub-server", 1),
    workload("Deployment", "infrahub-infrahub-task-worker", "task-worker", "infrahub-task-worker", 2),
    workload("Deployment", "prefect-server", "task-manager", "prefect-server", 1),
  ]);
  await cluster.waitForReady(NS);
  environment = new KubernetesEnvironment({
    kubeConfig: loadKubeConfig({ kubeconfig: await cluster.serviceAccountKubeconfig(NS, "infrahub-backup") }),
    namespace: NS,
    pollMs: 250,
    scaleWatchPollMs: 250,
  });
}, 300_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 120_000);

describe("scale-fight detection", () => {
  it("a workload scaled back up by another field manager aborts `interference` with SCALE_CONFLICT naming it", async () => {
    const stopped = await environment.stop(["infrahub-server", "task-worker"]);
    expect(await replicas("infrahub-infrahub-task-worker")).toBe(0);
    expect(stopped.interference?.aborted).toBe(false);
    const at = Date.now();
    await scaleAs("argocd-controller", "infrahub-infrahub-task-worker", 1);
    const reason = await aborted(stopped.interference, 5_000);
    const detectedMs = Date.now() - at;
    console.log(`scale-up detected ${detectedMs} ms after it was made (poll 250 ms)`);
    expect(reason).toBeInstanceOf(BackupError);
    const error = reason as BackupError;
    expect(error.code).toBe("SCALE_CONFLICT");
    expect(error.category).toBe("environment");
    expect(error.message).toBe(
      `Deployment infrahub-infrahub-task-worker in namespace ${NS} was scaled to 1 by the field manager "argocd-controller" (Update) while this operation held it at 0 replicas`,
    );
    expect(error.hint).toContain('section "GitOps: keep controllers from scaling Infrahub back up"');
    expect(error.details).toMatchObject({ fieldManager: "argocd-controller", replicas: 1 });
    // Bringing back what was stopped still works, to the recorded counts.
    await environment.start(stopped);
    expect(await replicas("infrahub-infrahub-task-worker")).toBe(2);
    expect(await replicas("infrahub-infrahub-server")).toBe(1);
  });

  it("kubectl scale (the scale subresource) is seen too; managedFields cannot name who did it", async () => {
    const stopped = await environment.stop(["infrahub-server"]);
    await kubectl(["scale", "deployment", "infrahub-infrahub-server", "--replicas=2"]);
    const reason = (await aborted(stopped.interference, 5_000)) as BackupError;
    expect(reason.message).toBe(
      `Deployment infrahub-infrahub-server in namespace ${NS} was scaled to 2 by a client its managedFields do not name (a change through the scale subresource, e.g. kubectl scale, leaves none) while this operation held it at 0 replicas`,
    );
    await environment.start(stopped);
    expect(await replicas("infrahub-infrahub-server")).toBe(1);
  });

  it("a scale-up while stop() still waits for the pods to go ends the stop at once with SCALE_CONFLICT, everything started again", async () => {
    // A finalizer keeps the pods Terminating, as a slow shutdown would: stop() is still waiting for them.
    const ns = "slow-stop";
    await cluster.createNamespace(ns);
    const server = workload("Deployment", "infrahub-infrahub-server", "server", "infrahub-server", 1);
    const database = workload("StatefulSet", "infrahub-database", "database", "neo4j", 1);
    for (const w of [server, database]) w.metadata.namespace = ns;
    (server.spec.template.metadata as Record<string, unknown>).finalizers = ["example.com/slow-shutdown"];
    await cluster.apply([database, server]);
    await cluster.waitForReady(ns);
    const admin = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }),
      namespace: ns,
      pollMs: 250,
      scaleWatchPollMs: 250,
      scaleDownMs: 120_000,
    });
    const started = Date.now();
    const stopping = admin.stop(["infrahub-server"]).then(
      () => undefined,
      (e: unknown) => e,
    );
    const deadline = Date.now() + 30_000;
    while (
      Number(
        await kubectl([
          "-n",
          ns,
          "get",
          "deployment",
          "infrahub-infrahub-server",
          "-o",
          "jsonpath={.spec.replicas}",
        ]).catch(() => "1"),
      ) !== 0
    ) {
      if (Date.now() > deadline) throw new Error("stop() did not scale the server to 0");
      await new Promise((r) => setTimeout(r, 100));
    }
    await cluster.kubectl([
      "-n",
      ns,
      "patch",
      "deployment",
      "infrahub-infrahub-server",
      "--type=merge",
      "-p",
      '{"spec":{"replicas":1}}',
      "--field-manager=argocd-controller",
    ]);
    const error = (await stopping) as BackupError;
    console.log(`stop() ended ${Date.now() - started} ms after it began (pods held by a finalizer)`);
    expect(error).toBeInstanceOf(BackupError);
    expect(error.code).toBe("SCALE_CONFLICT");
    expect(error.message).toContain('scaled to 1 by the field manager "argocd-controller"');
    expect(Date.now() - started).toBeLessThan(60_000);
    // Let the held pods go.
    const pods = JSON.parse((await cluster.kubectl(["-n", ns, "get", "pods", "-o", "json"])).stdout) as {
      items: { metadata: { name: string; finalizers?: string[] } }[];
    };
    for (const pod of pods.items.filter((p) => p.metadata.finalizers?.length)) {
      await cluster.kubectl([
        "-n",
        ns,
        "patch",
        "pod",
        pod.metadata.name,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
      ]);
    }
  });

  it("our own stop and start are not interference", async () => {
    const stopped = await environment.stop(["infrahub-server", "task-worker", "task-manager"]);
    await new Promise((r) => setTimeout(r, 1_000));
    await environment.start(stopped);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(stopped.interference?.aborted).toBe(false);
    expect(await replicas("infrahub-infrahub-server")).toBe(1);
  });

  it("Infrahub is scaled back up through an API server whose connections reset for a moment (a restart, a dropped pooled connection)", async () => {
    const port = Number(new URL(cluster.server).port);
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port });
    // The ServiceAccount's kubeconfig, its server the proxy (the same address, so the certificate still matches).
    const direct = await cluster.serviceAccountKubeconfig(NS, "infrahub-backup");
    const viaProxy = `${direct}.via-fault-proxy`;
    await writeFile(
      viaProxy,
      (await readFile(direct, "utf8")).replace(cluster.server, `https://127.0.0.1:${proxy.port}`),
    );
    const flaky = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({ kubeconfig: viaProxy }),
      namespace: NS,
      pollMs: 250,
      scaleWatchPollMs: 250,
    });
    const stopped = await flaky.stop(["infrahub-server", "task-worker"]);
    expect(await replicas("infrahub-infrahub-task-worker")).toBe(0);
    const downAt = proxy.bytesUp;
    proxy.setMode({ kind: "reset" });
    setTimeout(() => proxy.setMode({ kind: "pass" }), 1_500);
    const started = Date.now();
    await flaky.start(stopped);
    console.log(`start() through 1.5 s of reset connections took ${Date.now() - started} ms`);
    expect(Date.now() - started, "start() never met the reset window").toBeGreaterThanOrEqual(1_000);
    expect(proxy.bytesUp).toBeGreaterThan(downAt);
    expect(await replicas("infrahub-infrahub-task-worker")).toBe(2);
    expect(await replicas("infrahub-infrahub-server")).toBe(1);
  });

  it("a scale-up within the last poll interval before `start` is still seen (start looks once more)", async () => {
    const slow = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({
        kubeconfig: await cluster.serviceAccountKubeconfig(NS, "infrahub-backup"),
      }),
      namespace: NS,
      pollMs: 250,
      scaleWatchPollMs: 600_000,
    });
    const stopped = await slow.stop(["infrahub-server"]);
    await scaleAs("helm", "infrahub-infrahub-server", 1);
    expect(stopped.interference?.aborted).toBe(false);
    await slow.start(stopped);
    expect(stopped.interference?.aborted).toBe(true);
    expect(String((stopped.interference?.reason as BackupError | undefined)?.message)).toContain(
      'by the field manager "helm"',
    );
  });

  it("HeldDeployment links it into commandSignal, warns, exposes the cause, and release brings everything back", async () => {
    const events: OperationEvent[] = [];
    const hold = new HeldDeployment({
      environment,
      // Never used: this hold freezes nothing (Neo4j is untouched by stopApplications).
      neo4jCredentials: { user: "neo4j", password: "unused", database: "neo4j" } as Neo4jCredentials,
      runtime: { pidFile: "/unused" },
      freezeHelper: () => "/unused",
      onEvent: (e) => events.push(e),
    });
    await hold.stopApplications();
    expect(await replicas("prefect-server")).toBe(0);
    expect(hold.commandSignal.aborted).toBe(false);
    await scaleAs("kustomize-controller", "prefect-server", 1);
    const reason = await aborted(hold.commandSignal, 5_000);
    expect((reason as BackupError).code).toBe("SCALE_CONFLICT");
    expect(hold.interference).toBe(reason);
    expect(hold.interference?.message).toContain(
      'Deployment prefect-server in namespace scale-watch was scaled to 1 by the field manager "kustomize-controller"',
    );
    expect(events).toContainEqual({
      type: "warning",
      code: "SCALE_CONFLICT",
      message: `${hold.interference?.message}: ${hold.interference?.hint}`,
    });
    // Scaled down and back (Kubernetes: scaling, not stopping).
    expect(events).toContainEqual(expect.objectContaining({ type: "services-stopped", how: "scaled-down" }));
    const outcome = await hold.release();
    expect(outcome).toEqual({ neo4j: { state: "untouched" }, services: { state: "back" } });
    expect(await replicas("prefect-server")).toBe(1);
    expect(await replicas("infrahub-infrahub-task-worker")).toBe(2);
    expect(await replicas("infrahub-infrahub-server")).toBe(1);
  });
});

describe("waitUntilReady", () => {
  it("resolves at once when everything is Ready", async () => {
    const { waitedMs } = await environment.waitUntilReady({ timeoutMs: 30_000, pollMs: 250 });
    expect(waitedMs).toBeLessThan(5_000);
  });

  it("reports progress, times out with DEPLOYMENT_NOT_READY naming what is not Ready, then resolves once it is", async () => {
    const ns = "not-ready";
    await cluster.createNamespace(ns);
    const server = workload("Deployment", "infrahub-infrahub-server", "server", "infrahub-server", 1);
    const database = workload("StatefulSet", "infrahub-database", "database", "neo4j", 1);
    for (const w of [server, database]) w.metadata.namespace = ns;
    // No node has this label: the server's pod stays Pending (Unschedulable), as on a cluster out of room.
    (server.spec.template.spec as Record<string, unknown>).nodeSelector = { "example.com/none": "x" };
    await cluster.apply([database, server]);
    const admin = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }),
      namespace: ns,
    });
    const progress: string[] = [];
    const error = await admin
      .waitUntilReady({ timeoutMs: 6_000, pollMs: 250, onProgress: (m) => progress.push(m) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe("DEPLOYMENT_NOT_READY");
    expect((error as BackupError).message).toMatch(
      /^Infrahub in namespace not-ready was not ready after 6 s: infrahub-server: Deployment infrahub-infrahub-server 0\/1 available, infrahub-infrahub-server-[a-z0-9]+-[a-z0-9]+ Unschedulable$/,
    );
    expect((error as BackupError).hint).toContain("--wait-ready");
    expect(progress[0]).toMatch(/^waiting for Infrahub in namespace not-ready to be ready \(0 s of 6 s\): /);
    // Now it can be scheduled: the wait ends as soon as it is Ready.
    await cluster.kubectl([
      "-n",
      ns,
      "patch",
      "deployment",
      "infrahub-infrahub-server",
      "--type=json",
      "-p",
      JSON.stringify([{ op: "remove", path: "/spec/template/spec/nodeSelector" }]),
    ]);
    const later: string[] = [];
    const { waitedMs } = await admin.waitUntilReady({
      timeoutMs: 60_000,
      pollMs: 250,
      onProgress: (m) => later.push(m),
    });
    console.log(`ready after ${waitedMs} ms; progress: ${later.join(" | ")}`);
    expect(waitedMs).toBeLessThan(60_000);
  });

  it("a namespace without the graph database waits for it and names it", async () => {
    await cluster.createNamespace("empty");
    const admin = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }),
      namespace: "empty",
    });
    await expect(admin.waitUntilReady({ timeoutMs: 1_000, pollMs: 250 })).rejects.toMatchObject({
      code: "DEPLOYMENT_NOT_READY",
      message: "Infrahub in namespace empty was not ready after 1 s: database: no pod yet",
    });
  });

  it("a cancellation ends the wait with the signal's reason", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new BackupError("CANCELLED", "stop")), 500);
    const admin = new KubernetesEnvironment({
      kubeConfig: loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }),
      namespace: "empty",
    });
    await expect(
      admin.waitUntilReady({ timeoutMs: 60_000, pollMs: 250, signal: controller.signal }),
    ).rejects.toMatchObject({ code: "CANCELLED" });
  });
});

describe("restore record (Lease infrahub-backup-last-restore) with the chart's Role", () => {
  it("is absent at first, then holds the last record written", async () => {
    expect(await environment.lastRestore()).toBeUndefined();
    const first = {
      requestId: "a1b2c3d4e5",
      completedAt: "2026-01-02T03:04:05Z",
      location: "s3://b/k.tar.gz",
      backupId: "x",
    };
    await environment.recordRestore(first);
    expect(await environment.lastRestore()).toEqual(first);
    const second = { requestId: "f6a7b8c9d0", completedAt: "2026-01-03T03:04:05Z", location: "/b/k.tar.gz" };
    await environment.recordRestore(second);
    expect(await environment.lastRestore()).toEqual(second);
  });

  it("keeps the archive a started request resolved beside the last record, until it is cleared or completed", async () => {
    const last = await environment.lastRestore();
    expect(await environment.startedRestore()).toBeUndefined();
    const started = {
      requestId: "0123456789",
      name: "infrahub_backup_20260104_010203.tar.gz",
      startedAt: "2026-01-04T01:02:10Z",
    };
    await environment.recordStartedRestore(started);
    expect(await environment.startedRestore()).toEqual(started);
    // The last completed restore is kept beside it: a completed request is still skipped.
    expect(await environment.lastRestore()).toEqual(last);
    // Past its last check (--only-if-fresh's second probe): kept, so a retry does not probe its data.
    await environment.recordStartedRestore({ ...started, changing: true });
    expect(await environment.startedRestore()).toEqual({ ...started, changing: true });
    await environment.recordStartedRestore(undefined);
    expect(await environment.startedRestore()).toBeUndefined();
    expect(await environment.lastRestore()).toEqual(last);
    // Completing a request clears what was started.
    await environment.recordStartedRestore(started);
    const completed = {
      requestId: started.requestId,
      completedAt: "2026-01-04T01:05:00Z",
      location: `s3://b/${started.name}`,
    };
    await environment.recordRestore(completed);
    expect(await environment.startedRestore()).toBeUndefined();
    expect(await environment.lastRestore()).toEqual(completed);
  });

  it("the Role allows get/update/delete on these two Leases only", async () => {
    const sa = await cluster.serviceAccountKubeconfig(NS, "infrahub-backup");
    const canI = async (...args: string[]) =>
      (
        await cluster.kubectl(["auth", "can-i", ...args, "-n", NS], { kubeconfig: sa, allowFailure: true })
      ).stdout.trim();
    expect(await canI("update", "leases.coordination.k8s.io/infrahub-backup-last-restore")).toBe("yes");
    expect(await canI("delete", "leases.coordination.k8s.io/infrahub-backup")).toBe("yes");
    expect(await canI("update", "leases.coordination.k8s.io/kube-scheduler")).toBe("no");
    expect(await canI("get", "leases.coordination.k8s.io/other")).toBe("no");
    expect(await canI("get", "pods", "--subresource=log")).toBe("no");
  });
});
