// The exec transport's failure handling against situations a healthy local API server never produces:
// an older server without v5, a stream cut short between pod and client, a connection that closes
// before the status frame. Working transfers are tested against the real API server in
// kubernetes-environment.test.ts.
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket as ServerSocket, WebSocketServer } from "ws";
import { loadKubeConfig } from "../src/environment/kubernetes-config.js";
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
});
