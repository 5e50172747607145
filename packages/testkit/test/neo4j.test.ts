// ci-cost: 30 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Neo4jServer, run, startNeo4j } from "../src/index.js";

/** Runs a command bound to the instance with binary stdin/stdout (dumps are binary). */
async function pipe(server: Neo4jServer, args: readonly string[], input?: Buffer): Promise<Buffer> {
  return await new Promise((resolveRun, reject) => {
    const child = spawn("neo4j-admin", args, { env: server.env(), stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolveRun(Buffer.concat(out));
      else reject(new Error(`neo4j-admin exited with ${code}: ${Buffer.concat(err).toString("utf8")}`));
    });
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** Pids of processes whose environment binds them to this conf dir. */
function processesBoundTo(confDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (environ.includes(`NEO4J_CONF=${confDir}`)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Starts two instances in parallel (JVM start is partly single-threaded); both are disposed with the stack. */
async function startPair(
  stack: AsyncDisposableStack,
  firstPassword: string,
): Promise<[Neo4jServer, Neo4jServer]> {
  const [first, second] = await Promise.allSettled([startNeo4j({ password: firstPassword }), startNeo4j()]);
  if (first.status === "fulfilled") stack.use(first.value);
  if (second.status === "fulfilled") stack.use(second.value);
  if (first.status === "rejected") throw first.reason;
  if (second.status === "rejected") throw second.reason;
  return [first.value, second.value];
}

/** Milliseconds `action` takes, logged under `what`. */
async function timed<T>(what: string, action: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await action();
  } finally {
    console.log(`${what}: ${Date.now() - started} ms`);
  }
}

const countThings = "MATCH (t:Thing) RETURN count(t) AS n, sum(t.i) AS total";

describe("testkit Neo4j", () => {
  it("answers queries over Bolt as cypher-shell prints them, with auth on; refuses a wrong password and a dump while running; dump --to-stdout / load --from-stdin move the graph to a fresh instance; dispose leaves nothing", async () => {
    let confDirs: string[];
    {
      await using instances = new AsyncDisposableStack();
      // Quotes, backslash, spaces and '#' exercise the password's way into neo4j-admin (an @file, never argv).
      const [source, target] = await timed("two fresh instances, started in parallel", async () =>
        startPair(instances, `p "w" \\ it's #1`),
      );
      expect(source.boltUrl).toBe(`bolt://127.0.0.1:${source.boltPort}`);
      await source.cypher("UNWIND range(1, $count) AS i CREATE (:Thing {i: i, name: $name})", {
        params: { count: 1000, name: "o'brien" },
      });
      expect(await source.cypher(countThings)).toBe("n, total\n1000, 500500\n");
      expect(await source.cypher("MATCH (t:Thing {i: 7}) RETURN t.name AS name")).toBe('name\n"o\'brien"\n');

      // cypher() renders what the tool's cypher-shell prints, for every kind of value the tests read.
      const kinds = `MATCH (t:Thing) WHERE t.i <= 2 RETURN t.i AS i, t.name + '"' AS s, 1.0 AS f, null AS n,
                     t.i = 1 AS b, [t.i, 'x'] AS l, {a: t.i} AS m ORDER BY i`;
      const shell = (query: string, password = source.password) =>
        run("cypher-shell", ["-u", "neo4j", "-d", "neo4j", "--format", "plain", query], {
          env: { ...source.env(), NEO4J_PASSWORD: password },
        });
      for (const query of [kinds, countThings, "MATCH (t:Thing) WHERE t.i < 0 RETURN t.i AS none"]) {
        expect(await source.cypher(query)).toBe((await shell(query)).stdout);
      }

      // The wrappers in binDir act like the commands inside the database container.
      await expect(shell("RETURN 1", "wrong")).rejects.toThrow(/unauthorized due to authentication failure/);
      await expect(
        run("neo4j-admin", ["database", "dump", "--to-stdout", "neo4j"], { env: source.env() }),
      ).rejects.toThrow(/The database is in use\. Stop database 'neo4j' and try again\./);

      await timed("clean stop", async () => source.stop());
      expect(source.running).toBe(false);
      expect(existsSync(source.pidFile)).toBe(false);
      const dump = await timed("dump --to-stdout", async () =>
        pipe(source, ["database", "dump", "--to-stdout", "neo4j"]),
      );
      expect(dump.subarray(0, 4).toString("latin1")).toBe("DZV1");

      expect(await target.cypher(countThings)).toBe("n, total\n0, 0\n");
      await target.stop();
      await timed("load --from-stdin", async () =>
        pipe(target, ["database", "load", "--from-stdin", "--overwrite-destination=true", "neo4j"], dump),
      );
      await timed("restart with the loaded store", async () => target.start());
      expect(await target.cypher(countThings)).toBe("n, total\n1000, 500500\n");
      // The server JVM alone, as in the official image (no bootloader JVM in front of it).
      expect(processesBoundTo(target.confDir)).toHaveLength(1);
      confDirs = [source.confDir, target.confDir];
    }
    for (const confDir of confDirs) {
      expect(processesBoundTo(confDir)).toEqual([]);
      expect(existsSync(confDir)).toBe(false);
    }
  });
});
