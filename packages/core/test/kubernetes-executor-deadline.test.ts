// ci-cost: 45 s (a local control plane and a 30 s stall; measured alone on an idle 2-core machine)
// The exec transport's handshake deadline against the REAL local kube-apiserver, reached through the testkit
// fault proxy: passing, the proxy is invisible (a real 404 comes back); stalled — connections accepted and
// never answered, as a hung API server or a black-holing load balancer does — exec fails within the
// handshake timeout, naming the API server and the phase, instead of hanging before `timeoutMs` starts.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LocalCluster, startFaultProxy, startLocalCluster, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKubeConfig } from "../src/environment/kubernetes-config.js";
import { EXEC_HANDSHAKE_TIMEOUT_MS, KubernetesExecutor } from "../src/exec/kube-executor.js";

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await startLocalCluster();
}, 180_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 120_000);

/**
 * A fault proxy in front of the real API server and an executor (for a pod that does not exist) that
 * reaches the server through it: a kubeconfig for the admin with the proxy's port (same CA, same SAN).
 */
async function viaProxy(handshakeTimeoutMs?: number) {
  const proxy = await startFaultProxy({ host: "127.0.0.1", port: Number(new URL(cluster.server).port) });
  const dir = await tempDir("ihb-kube-deadline-");
  const kubeconfig = join(dir.path, "kubeconfig");
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${proxy.port}", certificate-authority: "${cluster.caFile}"}}]
users: [{name: u, user: {token: "${cluster.adminToken}"}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]
current-context: c
`,
    { mode: 0o600 },
  );
  const executor = new KubernetesExecutor({
    kubeConfig: loadKubeConfig({ kubeconfig }),
    namespace: "default",
    pod: "no-such-pod",
    container: "c",
    ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
  });
  return {
    proxy,
    executor,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

describe("Kubernetes exec handshake deadline (real kube-apiserver behind the fault proxy)", () => {
  it.concurrent("with the default (30 s) a stalled API server fails the exec in 30 s, not never", async () => {
    expect(EXEC_HANDSHAKE_TIMEOUT_MS).toBe(30_000);
    await using via = await viaProxy();
    via.proxy.setMode({ kind: "stall" });
    const started = performance.now();
    const error = await via.executor.exec({ argv: ["neo4j-admin"] }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    console.log(
      `Kubernetes exec, default deadline, stalled API server: failed after ${(elapsed / 1000).toFixed(1)} s`,
    );
    expect(error).toMatchObject({
      code: "EXEC_FAILED",
      details: { phase: "exec handshake", timeoutMs: 30_000 },
    });
    expect(elapsed).toBeGreaterThanOrEqual(29_900);
    expect(elapsed).toBeLessThan(35_000);
  }, 60_000);

  it.concurrent("through a passing proxy the real API server answers; through a stalled one exec fails within the handshake timeout", async () => {
    await using via = await viaProxy(3_000);
    const { proxy, executor } = via;
    // Passing: the real API server's answer for a pod that does not exist.
    await expect(executor.exec({ argv: ["true"] })).rejects.toMatchObject({ code: "SERVICE_NOT_FOUND" });
    expect(proxy.bytesDown).toBeGreaterThan(0);

    proxy.setMode({ kind: "stall" });
    const started = performance.now();
    const error = await executor
      .exec({ argv: ["cypher-shell"], timeoutMs: 600_000 })
      .catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    console.log(
      `Kubernetes exec against a stalled API server: failed after ${(elapsed / 1000).toFixed(1)} s`,
    );
    expect(error).toMatchObject({
      code: "EXEC_FAILED",
      details: { phase: "exec handshake", server: `https://127.0.0.1:${proxy.port}`, timeoutMs: 3_000 },
    });
    expect((error as Error).message).toBe(
      `pod default/no-such-pod (c): the API server at https://127.0.0.1:${proxy.port} did not establish the exec session for cypher-shell within 3 s`,
    );
    expect(proxy.stalledConnections).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(elapsed).toBeLessThan(6_000);
  }, 60_000);

  it.concurrent("a cancellation during the handshake wins over the deadline", async () => {
    await using via = await viaProxy();
    via.proxy.setMode({ kind: "stall" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    await expect(via.executor.exec({ argv: ["true"], signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELLED",
    });
    expect(performance.now() - started).toBeLessThan(5_000);
  }, 60_000);
});
