import { connect, createServer, type Server } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFaultProxy } from "../src/index.js";

/** A real TCP echo server on loopback: the thing behind the proxy. */
let echo: Server;
let echoPort: number;

beforeEach(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  echoPort = (echo.address() as { port: number }).port;
});
afterEach(async () => {
  await new Promise<void>((r) => echo.close(() => r()));
});

async function roundTrip(port: number, payload: Buffer): Promise<{ received: Buffer; error?: Error }> {
  return await new Promise((resolveTrip) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).length >= payload.length) socket.end();
    });
    socket.on("error", (e) => {
      error = e;
    });
    socket.on("close", () => resolveTrip({ received: Buffer.concat(chunks), ...(error ? { error } : {}) }));
    socket.write(payload);
  });
}

describe("testkit fault proxy", () => {
  it("passes bytes through unchanged and counts them", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    const payload = Buffer.alloc(1 << 20, 7);
    const { received } = await roundTrip(proxy.port, payload);
    expect(received.equals(payload)).toBe(true);
    expect(proxy.bytesUp).toBe(payload.length);
    expect(proxy.bytesDown).toBe(payload.length);
  });

  it("delays traffic", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    proxy.setMode({ kind: "delay", ms: 150 });
    const started = Date.now();
    const { received } = await roundTrip(proxy.port, Buffer.from("hello"));
    expect(received.toString()).toBe("hello");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("cuts after N client bytes, then refuses new connections", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    proxy.setMode({ kind: "cutAfter", bytes: 1000 });
    const { received } = await roundTrip(proxy.port, Buffer.alloc(64 * 1024, 1));
    expect(received.length).toBeLessThanOrEqual(1000);
    expect(proxy.cut).toBe(true);
    expect(proxy.bytesUp).toBe(1000);
    const second = await roundTrip(proxy.port, Buffer.from("again"));
    expect(second.received.length).toBe(0);
    proxy.setMode({ kind: "pass" });
    expect((await roundTrip(proxy.port, Buffer.from("back"))).received.toString()).toBe("back");
  });

  it("resets connections", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    proxy.setMode({ kind: "reset" });
    const { received, error } = await roundTrip(proxy.port, Buffer.from("x"));
    expect(received.length).toBe(0);
    expect(error?.message).toMatch(/ECONNRESET|EPIPE/);
  });
});

describe("testkit fault proxy, downstream cut", () => {
  it("cuts after N server bytes", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    proxy.setMode({ kind: "cutAfter", bytes: 5000, direction: "down" });
    const { received } = await roundTrip(proxy.port, Buffer.alloc(64 * 1024, 2));
    expect(received.length).toBe(5000);
    expect(proxy.cut).toBe(true);
  });
});

/** Sends `payload` and collects what comes back until the socket is silent for `quietMs` (it stays open). */
async function untilQuiet(
  port: number,
  payload: Buffer,
  quietMs: number,
): Promise<{ received: Buffer; open: boolean; close: () => void }> {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined); // the test only looks at what arrived and whether it closed
  socket.on("close", () => {
    closed = true;
  });
  socket.write(payload);
  let seen = -1;
  while (seen !== Buffer.concat(chunks).length) {
    seen = Buffer.concat(chunks).length;
    await new Promise((r) => setTimeout(r, quietMs));
  }
  return { received: Buffer.concat(chunks), open: !closed, close: () => socket.destroy() };
}

describe("testkit fault proxy, stalls", () => {
  it("stall: a new connection is accepted and never answered; open ones go silent; later connections work after pass", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    const before = await untilQuiet(proxy.port, Buffer.from("one"), 100);
    expect(before.received.toString()).toBe("one");
    proxy.setMode({ kind: "stall" });
    const fresh = await untilQuiet(proxy.port, Buffer.from("two"), 300);
    expect(fresh.received.length).toBe(0);
    expect(fresh.open).toBe(true);
    expect(proxy.stalled).toBe(true);
    expect(proxy.stalledConnections).toBe(1);
    proxy.setMode({ kind: "pass" });
    const after = await untilQuiet(proxy.port, Buffer.from("three"), 100);
    expect(after.received.toString()).toBe("three");
    // The connections that were stalled stay silent.
    expect(proxy.stalled).toBe(false);
    for (const c of [before, fresh, after]) c.close();
  });

  it("stallAfter: forwards N bytes in one direction, then the connection stays open and silent both ways", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: echoPort });
    proxy.setMode({ kind: "stallAfter", bytes: 1000 });
    const up = await untilQuiet(proxy.port, Buffer.alloc(64 * 1024, 3), 300);
    expect(proxy.bytesUp).toBe(1000);
    expect(up.received.length).toBe(0); // the echo of those 1000 bytes is held too
    expect(up.open).toBe(true);
    expect(proxy.stalled).toBe(true);
    up.close();

    proxy.setMode({ kind: "stallAfter", bytes: 5000, direction: "down" });
    const down = await untilQuiet(proxy.port, Buffer.alloc(64 * 1024, 4), 300);
    expect(down.received.length).toBe(5000);
    expect(down.open).toBe(true);
    expect(proxy.stalled).toBe(true);
    down.close();
  });
});
