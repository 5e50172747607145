// Which failed API calls are tried again. The API server here is a TEST DOUBLE (node:http, a boundary we do not
// own): a real kube-apiserver answers 429 and 503 only under load or while it starts, which a test cannot
// arrange on demand. Resets through a real API server: test/kubernetes-scale-watch.test.ts.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { KubeApi, KubeApiError } from "./kubernetes-api.js";
import type { KubeConfig } from "./kubernetes-config.js";

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** An API server double answering the n-th request with `answers[n]` (the last one from then on). */
async function apiServerDouble(answers: Answer[]): Promise<{ api: KubeApi; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const answer = answers[Math.min(requests.length, answers.length) - 1] as Answer;
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const config: KubeConfig = {
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    contextName: "api-server-double",
    requestOptions: async () => ({ rejectUnauthorized: true, headers: {} }),
  };
  return { api: new KubeApi(config), requests };
}

const status =
  (code: number, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(code, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify({ kind: "Status", code, message: `refused with ${code}` }));
  };
const scale =
  (replicas: number): Answer =>
  (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ kind: "Scale", spec: { replicas } }));
  };
/** The connection dropped before any answer (a pooled connection an idle timeout closed, a restart). */
const reset: Answer = (req) => req.socket.destroy();
const scalePatch = {
  name: "server",
  namespace: "infrahub",
  body: [{ op: "replace", path: "/spec/replicas", value: 2 }],
};
const lease = { metadata: { name: "infrahub-backup" } };

describe("KubeApi: transient failures", () => {
  it("a read is tried again after 503, 500 and a dropped connection, then answers", async () => {
    const { api, requests } = await apiServerDouble([status(503), status(500), reset, scale(3)]);
    const answer = await api.readNamespacedDeploymentScale({ name: "server", namespace: "infrahub" });
    expect(answer.spec?.replicas).toBe(3);
    expect(requests).toHaveLength(4);
  });

  it("a scale patch is tried again after a dropped connection and 502 (setting replicas twice is harmless)", async () => {
    const { api, requests } = await apiServerDouble([reset, status(502), scale(2)]);
    const answer = await api.patchNamespacedDeploymentScale(scalePatch);
    expect(answer.spec?.replicas).toBe(2);
    expect(requests.every((r) => r.startsWith("PATCH "))).toBe(true);
    expect(requests).toHaveLength(3);
  });

  it("429 is tried again for any call, after the server's Retry-After", async () => {
    const { api, requests } = await apiServerDouble([status(429, { "Retry-After": "1" }), scale(1)]);
    const started = Date.now();
    await api.createNamespacedLease({ namespace: "infrahub", body: lease });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(requests).toEqual([
      "POST /apis/coordination.k8s.io/v1/namespaces/infrahub/leases",
      "POST /apis/coordination.k8s.io/v1/namespaces/infrahub/leases",
    ]);
  });

  it("a Lease write that may have taken effect (503, dropped connection) is not repeated", async () => {
    const first = await apiServerDouble([status(503), scale(1)]);
    await expect(
      first.api.createNamespacedLease({ namespace: "infrahub", body: lease }),
    ).rejects.toMatchObject({
      code: 503,
    });
    expect(first.requests).toHaveLength(1);
    await close?.();
    const second = await apiServerDouble([reset, scale(1)]);
    await expect(
      second.api.replaceNamespacedLease({ name: "infrahub-backup", namespace: "infrahub", body: lease }),
    ).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(second.requests).toHaveLength(1);
  });

  it("a refusal that no retry changes (403, 404, 409) is reported at once", async () => {
    for (const code of [403, 404, 409]) {
      const { api, requests } = await apiServerDouble([status(code), scale(1)]);
      const error = await api
        .readNamespacedDeploymentScale({ name: "server", namespace: "infrahub" })
        .catch((e) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).code).toBe(code);
      expect(requests).toHaveLength(1);
      await close?.();
      close = undefined;
    }
  });

  it("gives up after five tries (about 4 s of waiting) with the last failure", async () => {
    const { api, requests } = await apiServerDouble([status(503)]);
    const started = Date.now();
    const error = await api
      .readNamespacedDeploymentScale({ name: "server", namespace: "infrahub" })
      .catch((e) => e);
    expect((error as KubeApiError).code).toBe(503);
    expect((error as KubeApiError).message).toMatch(/^refused with 503 \(tried 5 times over \d+\.\d s\)$/);
    expect(requests).toHaveLength(5);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(3700);
    expect(waited).toBeLessThan(8000);
  });

  it("a server that refuses connections is tried again for any call", async () => {
    // A port that was just listening and is closed now: connections are refused.
    const refused = await apiServerDouble([scale(1)]);
    await close?.();
    close = undefined;
    const started = Date.now();
    const error = await refused.api
      .createNamespacedLease({ namespace: "infrahub", body: lease })
      .catch((e) => e);
    expect((error as { code?: string }).code).toBe("ECONNREFUSED");
    // Tried five times: 0.25 + 0.5 + 1 + 2 s of waiting.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3700);
  });
});
