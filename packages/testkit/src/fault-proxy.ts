import { connect, createServer, type Server, type Socket } from "node:net";

export type FaultMode =
  | { kind: "pass" }
  /** Every chunk in both directions is held this long before it is forwarded (order kept). */
  | { kind: "delay"; ms: number }
  /**
   * Forwards bytes until `bytes` more have gone through in `direction` (client→server "up", the
   * default, or server→client "down"; counted across connections from the moment the mode is set),
   * then destroys every connection and refuses new ones.
   */
  | { kind: "cutAfter"; bytes: number; direction?: "up" | "down" }
  /** Resets (RST) every open connection now and every new one. */
  | { kind: "reset" }
  /**
   * A black hole: open connections go silent (nothing more is forwarded either way, nothing is closed) and
   * new ones are accepted but never answered. Stalled connections stay silent until their client gives
   * up, even after another mode is set; connections made after that mode change work again.
   */
  | { kind: "stall" }
  /** Forwards like `cutAfter` until `bytes` more have gone through in `direction`, then stalls. */
  | { kind: "stallAfter"; bytes: number; direction?: "up" | "down" };

export interface FaultProxy extends AsyncDisposable {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: use in place of the target's endpoint. */
  readonly endpoint: string;
  /** Client→server and server→client bytes forwarded so far. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** True once a cutAfter budget was exhausted. */
  readonly cut: boolean;
  /** True once a stall began (`stall`, or a `stallAfter` budget exhausted); reset by `setMode`. */
  readonly stalled: boolean;
  /** Connections accepted while stalling (never answered); reset by `setMode`. */
  readonly stalledConnections: number;
  setMode(mode: FaultMode): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  /** Absent for a connection accepted while stalling (never forwarded anywhere). */
  upstream: Socket | undefined;
  /** Silent for good: nothing is forwarded any more. */
  stalled: boolean;
}

/** A TCP proxy on 127.0.0.1 in front of `target`, able to delay, cut or reset traffic on demand. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let mode: FaultMode = { kind: "pass" };
  let budget = Number.POSITIVE_INFINITY;
  let cut = false;
  let stalling = false;
  let stalledConnections = 0;
  let bytesUp = 0;
  let bytesDown = 0;

  const killAll = (reset: boolean) => {
    for (const pair of pairs) {
      for (const socket of [pair.client, pair.upstream]) {
        if (socket === undefined) continue;
        if (reset) socket.resetAndDestroy();
        else socket.destroy();
      }
    }
    pairs.clear();
  };

  // Sockets are paused, not closed: the peers see an open connection on which nothing ever arrives.
  const stallAll = () => {
    stalling = true;
    for (const pair of pairs) {
      pair.stalled = true;
      pair.client.pause();
      pair.upstream?.pause();
    }
  };

  // Forwarding with an ordered queue so delays never reorder bytes; backpressure by pausing the source.
  const forward = (pair: Pair, from: Socket, to: Socket, direction: "up" | "down") => {
    let chain = Promise.resolve();
    from.on("data", (chunk: Buffer) => {
      if (pair.stalled) {
        from.pause();
        return;
      }
      let data = chunk;
      const counted =
        (mode.kind === "cutAfter" || mode.kind === "stallAfter") && (mode.direction ?? "up") === direction;
      if (counted) {
        if (data.length > budget) {
          data = data.subarray(0, budget);
        }
        budget -= data.length;
      }
      const exhausted = counted && budget <= 0;
      const delay = mode.kind === "delay" ? mode.ms : 0;
      from.pause();
      const stallAfter = mode.kind === "stallAfter";
      chain = chain.then(async () => {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (pair.stalled) return;
        if (data.length > 0 && !to.destroyed) {
          if (direction === "up") bytesUp += data.length;
          else bytesDown += data.length;
          if (!to.write(data)) await new Promise((r) => to.once("drain", r));
        }
        if (exhausted && stallAfter) {
          stallAll();
          return;
        }
        if (exhausted) {
          cut = true;
          killAll(false);
          return;
        }
        if (!from.destroyed) from.resume();
      });
    });
    from.on("end", () => {
      chain = chain.then(() => {
        if (!to.destroyed && !pair.stalled) to.end();
      });
    });
  };

  const server: Server = createServer((client) => {
    if (mode.kind === "reset") {
      client.resetAndDestroy();
      return;
    }
    if (cut) {
      client.destroy();
      return;
    }
    if (stalling || mode.kind === "stall") {
      stalledConnections++;
      const pair: Pair = { client, upstream: undefined, stalled: true };
      pairs.add(pair);
      client.pause();
      const drop = () => {
        pairs.delete(pair);
        client.destroy();
      };
      client.on("error", drop);
      client.on("close", drop);
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, stalled: false };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    forward(pair, client, upstream, "up");
    forward(pair, upstream, client, "down");
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolveListen());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fault proxy: no listening address");
  const port = address.port;

  const close = async () => {
    killAll(false);
    await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  };

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get cut() {
      return cut;
    },
    get stalled() {
      return stalling;
    },
    get stalledConnections() {
      return stalledConnections;
    },
    setMode(next: FaultMode) {
      mode = next;
      cut = false;
      stalling = false;
      stalledConnections = 0;
      budget = next.kind === "cutAfter" || next.kind === "stallAfter" ? next.bytes : Number.POSITIVE_INFINITY;
      if (next.kind === "reset") killAll(true);
      if (next.kind === "stall") stallAll();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
