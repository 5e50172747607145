import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../src/ports.js";

const listenOn = (port: number) =>
  new Promise<Server | undefined>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
const close = (server: Server) => new Promise<void>((r) => server.close(() => r()));

describe("freePort", () => {
  afterEach(() => {
    delete process.env.IHB_PORT_RANGE;
  });

  it("hands out distinct bindable ports below the ephemeral range", async () => {
    const [ephemeralLow] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow!);
    }
    const server = await listenOn(ports[0]!);
    expect(server).toBeDefined();
    await close(server!);
  });

  it("skips ports something listens on, and says so when none is left (IHB_PORT_RANGE)", async () => {
    // Ten ports just below the ephemeral range: occupy those we can, then ask for the rest.
    const from = 31_000 + Math.floor(Math.random() * 1_000);
    const servers: Server[] = [];
    const occupied = new Set<number>();
    try {
      for (let port = from; port < from + 10; port += 2) {
        const server = await listenOn(port);
        if (server) {
          servers.push(server);
          occupied.add(port);
        }
      }
      process.env.IHB_PORT_RANGE = `${from}-${from + 9}`;
      const got = new Set<number>();
      for (;;) {
        let port: number;
        try {
          port = await freePort();
        } catch (error) {
          expect((error as Error).message).toMatch(/no free TCP port on 127\.0\.0\.1/);
          break;
        }
        expect(port).toBeGreaterThanOrEqual(from);
        expect(port).toBeLessThanOrEqual(from + 9);
        expect(occupied.has(port)).toBe(false);
        got.add(port);
      }
      expect(occupied.size).toBeGreaterThan(0);
      expect(got.size).toBeGreaterThan(0);
      expect(got.size + occupied.size).toBeLessThanOrEqual(10);
    } finally {
      await Promise.all(servers.map(close));
    }
  });
});
