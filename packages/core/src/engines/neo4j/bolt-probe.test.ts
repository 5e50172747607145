import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalExecutor } from "../../exec/local-executor.js";
import { boltPortListening } from "./bolt-probe.js";

async function listen(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return { server, port: address.port };
}

const close = (server: Server) => new Promise<void>((r) => server.close(() => r()));

/** A port nothing listens on: bound, then closed. */
async function freePort(): Promise<number> {
  const { server, port } = await listen("127.0.0.1");
  await close(server);
  return port;
}

const executor = (env: Record<string, string>) =>
  new LocalExecutor({
    target: "test database",
    // The host's own NEO4J_* must not leak into what the probe reads.
    env: { NEO4J_ADDRESS: "", NEO4J_CONF: "", NEO4J_HOME: "/nonexistent", ...env },
  });

describe("boltPortListening (real sockets, /proc/net/tcp of this host)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bolt-probe-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("follows NEO4J_ADDRESS, for IPv4 and IPv6 listeners", async () => {
    const v4 = await listen("127.0.0.1");
    // A machine without IPv6 on loopback cannot listen on ::1: the IPv6 half is then skipped below.
    const v6 = await listen("::1").catch(() => undefined);
    try {
      expect(await boltPortListening(executor({ NEO4J_ADDRESS: `neo4j://localhost:${v4.port}` }))).toBe(true);
      if (v6)
        expect(await boltPortListening(executor({ NEO4J_ADDRESS: `bolt://[::1]:${v6.port}` }))).toBe(true);
    } finally {
      await close(v4.server);
      if (v6) await close(v6.server);
    }
    expect(await boltPortListening(executor({ NEO4J_ADDRESS: `neo4j://localhost:${v4.port}` }))).toBe(false);
  });

  it("reads server.bolt.listen_address from $NEO4J_CONF/neo4j.conf, the last line winning", async () => {
    const { server, port } = await listen("127.0.0.1");
    const other = await freePort();
    const conf = join(dir, "conf-a");
    await mkdir(conf);
    try {
      await writeFile(
        join(conf, "neo4j.conf"),
        `# server.bolt.listen_address=:1\nserver.bolt.listen_address=:${other}\n  server.bolt.listen_address = 127.0.0.1:${port}\r\n`,
      );
      expect(await boltPortListening(executor({ NEO4J_CONF: conf }))).toBe(true);
      await writeFile(join(conf, "neo4j.conf"), `server.bolt.listen_address=0.0.0.0:${other}\n`);
      expect(await boltPortListening(executor({ NEO4J_CONF: conf }))).toBe(false);
    } finally {
      await close(server);
    }
  });

  it("falls back to the image's NEO4J_server_bolt_listen__address", async () => {
    const { server, port } = await listen("127.0.0.1");
    try {
      expect(await boltPortListening(executor({ NEO4J_server_bolt_listen__address: `:${port}` }))).toBe(true);
    } finally {
      await close(server);
    }
  });

  it("cannot tell without grep, or with a port that is not a number", async () => {
    const bin = join(dir, "bin-sh-only");
    await mkdir(bin);
    await symlink("/bin/sh", join(bin, "sh"));
    const shOnly = new LocalExecutor({ target: "test database", env: { PATH: bin, NEO4J_ADDRESS: "x:1" } });
    expect(await boltPortListening(shOnly)).toBeUndefined();
    expect(await boltPortListening(executor({ NEO4J_ADDRESS: "neo4j://localhost:bolt" }))).toBeUndefined();
  });

  it("cancellation rejects instead of answering", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(boltPortListening(executor({}), { signal: controller.signal })).rejects.toThrow();
  });
});
