import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;
const handedOut = new Set<number>();

/**
 * Ports to choose from: below the kernel's ephemeral range, so no outgoing connection can take one as
 * its source port while a server is down between a stop and a start (Neo4j is restarted on the same
 * port after every freeze); a slice of them per vitest worker, so parallel workers do not race.
 * IHB_PORT_RANGE=`from-to` (inclusive) replaces the choice.
 */
function candidateRange(): { from: number; to: number } {
  const override = /^(\d+)-(\d+)$/.exec(process.env.IHB_PORT_RANGE ?? "");
  if (override) return { from: Number(override[1]), to: Number(override[2]) + 1 };
  let ephemeralLow = 32_768;
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const parsed = Number(low);
    if (Number.isInteger(parsed) && parsed > LOWEST + 1_000) ephemeralLow = parsed;
  } catch {
    // Not Linux: keep the IANA default.
  }
  const worker = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(worker) || worker < 1) return { from: LOWEST, to: ephemeralLow };
  const slices = 8;
  const width = Math.floor((ephemeralLow - LOWEST) / slices);
  const from = LOWEST + ((worker - 1) % slices) * width;
  return { from, to: from + width };
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on `host` a moment ago, never handed out before by this process. Chosen at random
 * outside the ephemeral range (see candidateRange), so it stays free until the server binds it.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const { from, to } = candidateRange();
  const width = to - from;
  const start = Math.floor(Math.random() * width);
  // From a random start, candidates in turn: a small range is searched exhaustively.
  for (let i = 0; i < Math.min(width, 2_000); i++) {
    const port = from + ((start + i) % width);
    if (handedOut.has(port)) continue;
    if (await bindable(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on ${host} in ${from}–${to - 1}`);
}
