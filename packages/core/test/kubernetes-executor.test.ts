// The exec transport's failure handling against situations a healthy local API server never produces:
// an older server without v5, a stream cut short between pod and client, a connection that closes
// before the status frame. Working transfers are tested against the real API server in
// kubernetes-environment.test.ts.
import { readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket as ServerSocket, WebSocketServer } from "ws";
import { type KubeConfig, loadKubeConfig } from "../src/environment/kubernetes-config.js";
import { Channel, TRAILER_MARK } from "../src/exec/kube-exec-protocol.js";
import { KubernetesExecutor } from "../src/exec/kube-executor.js";

type Behaviour = (socket: ServerSocket, url: URL) => void;

// TEST DOUBLE (the Kubernetes API server's exec endpoint, a boundary we do not own): a plain WebSocket
// server that plays one scripted exchange per connection.
let server: WebSocketServer;
let behaviour: Behaviour = () => undefined;
let offered: string[] = [];
let answer: string | false = "v5.channel.k8s.io";
let kubeconfig: string;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  server = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    handleProtocols: (protocols) => {
      offered = [...protocols];
      return answer;
    },
  });
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("connection", (socket, request) => behaviour(socket, new URL(request.url ?? "/", "http://x")));
  const port = (server.address() as AddressInfo).port;
  dir = await tempDir("ihb-kube-double-");
  kubeconfig = `${dir.path}/config`;
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`,
  );
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await dir[Symbol.asyncDispose]();
});

function executor() {
  return new KubernetesExecutor({
    kubeConfig: loadKubeConfig({ kubeconfig }),
    namespace: "infrahub",
    pod: "infrahub-database-0",
    container: "neo4j",
  });
}

const frame = (channel: number, data: string | Buffer) =>
  Buffer.concat([Buffer.of(channel), Buffer.isBuffer(data) ? data : Buffer.from(data)]);
const SUCCESS = JSON.stringify({ metadata: {}, status: "Success" });

describe("exec transport failure handling", () => {
  it("offers v5 first and refuses a server that only speaks v4", async () => {
    answer = "v4.channel.k8s.io";
    behaviour = () => undefined;
    await expect(executor().exec({ argv: ["true"] })).rejects.toMatchObject({
      code: "EXEC_PROTOCOL_UNSUPPORTED",
      message: expect.stringContaining("offers exec protocol v4.channel.k8s.io, not v5.channel.k8s.io"),
      hint: expect.stringContaining("1.30"),
    });
    expect(offered[0]).toBe("v5.channel.k8s.io");
  });

  it("refuses a server that negotiates no subprotocol", async () => {
    answer = false;
    await expect(executor().exec({ argv: ["true"] })).rejects.toMatchObject({
      code: "EXEC_PROTOCOL_UNSUPPORTED",
    });
    answer = "v5.channel.k8s.io";
  });

  it("a streamed output shorter than what the pod wrote fails, even with exit status 0", async () => {
    behaviour = (socket, url) => {
      // The request asks for the counted wrapper; answer as a cut transport would: part of the bytes.
      expect(url.searchParams.getAll("command").slice(0, 2)).toEqual(["sh", "-c"]);
      socket.send(frame(Channel.stdout, Buffer.alloc(1000, 1)));
      socket.send(frame(Channel.stderr, `\n${TRAILER_MARK} rc=0 4096\n`));
      socket.send(frame(Channel.status, SUCCESS));
      socket.close();
    };
    const sink = new PassThrough();
    sink.resume();
    await expect(
      executor().exec({ argv: ["neo4j-admin", "database", "dump"], stdout: sink }),
    ).rejects.toMatchObject({
      code: "EXEC_FAILED",
      message: expect.stringContaining("arrived damaged: received 1000 bytes of 4096"),
    });
  });

  it("a digest that differs from the pod's fails", async () => {
    behaviour = (socket) => {
      socket.send(frame(Channel.stdout, "hello"));
      socket.send(frame(Channel.stderr, `\n${TRAILER_MARK} rc=0 ${"0".repeat(64)} -\n`));
      socket.send(frame(Channel.status, SUCCESS));
      socket.close();
    };
    const sink = new PassThrough();
    sink.resume();
    await expect(executor().exec({ argv: ["pg_dump"], stdout: sink })).rejects.toMatchObject({
      code: "EXEC_FAILED",
      message: expect.stringContaining("SHA-256 differs"),
    });
  });

  it("a connection that closes before the status frame is a failure, not success", async () => {
    behaviour = (socket) => {
      socket.send(frame(Channel.stdout, "partial"));
      socket.close();
    };
    await expect(executor().exec({ argv: ["cat", "/x"] })).rejects.toMatchObject({
      code: "EXEC_FAILED",
      message: expect.stringContaining("closed before cat reported its exit status"),
    });
  });

  it("is done only when the status AND the close have arrived", async () => {
    let closedAt = 0;
    behaviour = (socket) => {
      socket.send(frame(Channel.stdout, "out"));
      socket.send(frame(Channel.status, SUCCESS));
      setTimeout(() => {
        // Output after the status still belongs to the command.
        socket.send(frame(Channel.stdout, "-late"));
        closedAt = Date.now();
        socket.close();
      }, 300);
    };
    const result = await executor().exec({ argv: ["echo"] });
    expect(Date.now()).toBeGreaterThanOrEqual(closedAt);
    expect(closedAt).toBeGreaterThan(0);
    expect(result).toMatchObject({ exitCode: 0 });
    expect(result.stdout.toString()).toBe("out-late");
  });

  it("an HTTP refusal before the upgrade carries the API server's message", async () => {
    answer = "v5.channel.k8s.io";
    const original = server.options.verifyClient;
    server.options.verifyClient = (_info, done) =>
      done(false, 403, 'pods "infrahub-database-0" is forbidden: cannot create resource "pods/exec"');
    try {
      await expect(executor().exec({ argv: ["true"] })).rejects.toMatchObject({
        code: "EXEC_FAILED",
        message: expect.stringContaining("exec is forbidden"),
        hint: expect.stringContaining("pods/exec"),
      });
    } finally {
      server.options.verifyClient = original;
    }
  });

  it("503 and 429 answered to the upgrade are tried again (nothing ran), and the command runs once", async () => {
    answer = "v5.channel.k8s.io";
    const original = server.options.verifyClient;
    let upgrades = 0;
    let runs = 0;
    server.options.verifyClient = (_info, done) => {
      upgrades += 1;
      if (upgrades === 1) done(false, 503, "the API server is shutting down");
      else if (upgrades === 2) done(false, 429, "too many requests");
      else done(true);
    };
    behaviour = (socket) => {
      runs += 1;
      socket.send(frame(Channel.stdout, "ran"));
      socket.send(frame(Channel.status, SUCCESS));
      socket.close();
    };
    try {
      const result = await executor().exec({ argv: ["echo"] });
      expect(result.stdout.toString()).toBe("ran");
      expect([upgrades, runs]).toEqual([3, 1]);
    } finally {
      server.options.verifyClient = original;
    }
  });

  it("a 500 answered to the upgrade is reported at once (the kubelet may have started the command)", async () => {
    const original = server.options.verifyClient;
    let upgrades = 0;
    server.options.verifyClient = (_info, done) => {
      upgrades += 1;
      done(false, 500, "error dialing backend");
    };
    try {
      await expect(executor().exec({ argv: ["true"] })).rejects.toMatchObject({
        code: "EXEC_FAILED",
        message: expect.stringContaining("exec refused (HTTP 500)"),
      });
      expect(upgrades).toBe(1);
    } finally {
      server.options.verifyClient = original;
    }
  });

  it("an API server that refuses connections for a moment (restarting) is tried again", async () => {
    // A port nothing listens on yet; the server double starts listening there 0.6 s after the exec began.
    const probe = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((resolve) => probe.once("listening", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const config = `${dir.path}/restarting`;
    writeFileSync(config, readFileSync(kubeconfig, "utf8").replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
    let late: WebSocketServer | undefined;
    const starting = setTimeout(() => {
      late = new WebSocketServer({ port, host: "127.0.0.1", handleProtocols: () => "v5.channel.k8s.io" });
      late.on("connection", (socket) => {
        socket.send(frame(Channel.stdout, "back"));
        socket.send(frame(Channel.status, SUCCESS));
        socket.close();
      });
    }, 600);
    try {
      const started = Date.now();
      const result = await new KubernetesExecutor({
        kubeConfig: loadKubeConfig({ kubeconfig: config }),
        namespace: "infrahub",
        pod: "infrahub-database-0",
        container: "neo4j",
      }).exec({ argv: ["echo"] });
      expect(result.stdout.toString()).toBe("back");
      expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    } finally {
      clearTimeout(starting);
      const closing = late;
      if (closing) await new Promise((resolve) => closing.close(resolve));
    }
  });

  it("a credential refused at the upgrade (401) is dropped and the exec made once more with the next one", async () => {
    const original = server.options.verifyClient;
    const seen: string[] = [];
    server.options.verifyClient = (info, done) => {
      const auth = String(info.req.headers.authorization);
      seen.push(auth);
      if (auth === "Bearer revoked") done(false, 401, "Unauthorized");
      else done(true);
    };
    behaviour = (socket) => {
      socket.send(frame(Channel.status, SUCCESS));
      socket.close();
    };
    const port = (server.address() as AddressInfo).port;
    let issued = 0;
    let dropped = 0;
    // An exec plugin's credentials as loadKubeConfig keeps them: the first was revoked meanwhile.
    const kubeConfig: KubeConfig = {
      server: `http://127.0.0.1:${port}`,
      contextName: "exec-plugin",
      requestOptions: async () => ({
        rejectUnauthorized: true,
        headers: { Authorization: `Bearer ${issued++ === 0 ? "revoked" : "fresh"}` },
      }),
      credentialRefused: () => {
        dropped += 1;
        return true;
      },
    };
    try {
      const result = await new KubernetesExecutor({
        kubeConfig,
        namespace: "infrahub",
        pod: "infrahub-database-0",
        container: "neo4j",
      }).exec({ argv: ["true"] });
      expect(result.exitCode).toBe(0);
      expect(seen).toEqual(["Bearer revoked", "Bearer fresh"]);
      expect(dropped).toBe(1);
    } finally {
      server.options.verifyClient = original;
    }
  });
});
