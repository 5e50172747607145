// ci-cost: 40 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { Readable } from "node:stream";
import { freezeHelperPath, type Neo4jServer, startNeo4j, supervise } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { collect } from "../../../test/support/collect.js";
import type { ExecRequest, Executor } from "../../exec/executor.js";
import { LocalExecutor } from "../../exec/local-executor.js";
import { cypherShell, plainRows } from "./cypher-shell.js";
import { detectNeo4j } from "./edition.js";
import { freezeNeo4j, resumeNeo4j } from "./freeze.js";
import { dumpNeo4j, loadNeo4j, NEO4J_DUMP_MAGICS } from "./offline.js";
import { neo4jServerFacts } from "./server-facts.js";
import { locateStore } from "./store-swap.js";

/** The database container, as a local sandbox: its PATH has neo4j-admin/cypher-shell bound to the instance. */
function containerOf(neo4j: Neo4jServer): LocalExecutor {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(neo4j.env())) if (v !== undefined) env[k] = v;
  return new LocalExecutor({ target: "local database", env });
}

async function waitServing(neo4j: Neo4jServer, timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await neo4j.cypher("RETURN 1");
      return Date.now() - started;
    } catch {
      if (Date.now() - started > timeoutMs) throw new Error("Neo4j did not come back");
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Digest of the graph: every node's labels and properties, ordered. */
async function graphDigest(neo4j: Neo4jServer): Promise<string> {
  const out = await neo4j.cypher(
    "MATCH (n) WITH n ORDER BY n.uuid RETURN count(n) AS nodes, " +
      "reduce(s = '', x IN collect(labels(n)[0] + ':' + n.uuid + ':' + coalesce(n.value, '')) | s + x + ';') AS d",
  );
  return plainRows(out).join("\n");
}

describe("neo4j engine (real Neo4j Community)", () => {
  it("detects the edition, then dumps offline and loads back through a freeze, with the server restarted by its supervisor", async () => {
    await using neo4j = await startNeo4j();
    await using supervisor = supervise(neo4j);
    const exec = containerOf(neo4j);
    const creds = { user: neo4j.user, password: neo4j.password, database: neo4j.database };

    expect(await detectNeo4j(exec, creds)).toMatchObject({
      edition: "community",
      version: expect.stringMatching(/^5\.26\./),
    });
    await cypherShell(
      exec,
      creds,
      "CREATE (:Root {uuid: 'root-1'}) WITH 1 AS x UNWIND range(1, 300) AS i CREATE (:Node {uuid: 'n-' + i})-[:HAS_ATTRIBUTE]->(:AttributeValue {uuid: 'a-' + i, value: 'v' + i})",
    );
    const original = await graphDigest(neo4j);

    const frozen = await freezeNeo4j(exec, {
      pidFile: neo4j.pidFile,
      helperPath: (arch) => freezeHelperPath(arch),
    });
    const dump = dumpNeo4j(exec, creds.database);
    let bytes: Buffer;
    try {
      bytes = await collect(dump.stdout);
      await dump.done;
    } finally {
      await resumeNeo4j(exec, frozen);
    }
    expect(NEO4J_DUMP_MAGICS.some((m) => bytes.subarray(0, 4).equals(m))).toBe(true);
    const back = await waitServing(neo4j);
    console.log(
      `dump ${bytes.length} bytes; Neo4j offline ${Date.now() - frozen.frozenAt} ms (serving again ${back} ms after resume)`,
    );
    expect(supervisor.restarts).toBeGreaterThanOrEqual(1);
    expect(await graphDigest(neo4j)).toBe(original);

    await neo4j.cypher("MATCH (a:AttributeValue) WHERE a.uuid ENDS WITH '7' DETACH DELETE a");
    await neo4j.cypher("CREATE (:Node {uuid: 'added-after-backup'})");
    expect(await graphDigest(neo4j)).not.toBe(original);

    const frozenAgain = await freezeNeo4j(exec, {
      pidFile: neo4j.pidFile,
      helperPath: (arch) => freezeHelperPath(arch),
    });
    const endless = new Readable({ read() {} });
    endless.push(bytes);
    try {
      await loadNeo4j(exec, creds.database, endless, bytes.length);
    } finally {
      endless.destroy();
      await resumeNeo4j(exec, frozenAgain);
    }
    await waitServing(neo4j);
    expect(await graphDigest(neo4j)).toBe(original);
  }, 480_000);

  it("a wrong password makes edition detection fail as a refused login (DATABASE_AUTH), naming what to check; the server facts come from one cypher-shell run", async () => {
    await using neo4j = await startNeo4j();
    const exec = containerOf(neo4j);
    const error = await detectNeo4j(exec, {
      user: "neo4j",
      password: "wrong-password-x",
      database: "neo4j",
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DATABASE_AUTH", category: "database" });
    expect((error as Error).message).toBe(
      'Neo4j refused the login of user "neo4j" on local database: wrong user name or password',
    );
    expect((error as { hint: string }).hint).toContain("INFRAHUB_DB_USERNAME / INFRAHUB_DB_PASSWORD");
    expect((error as { hint: string }).hint).toContain("NEO4J_AUTH of the database container");
    expect(JSON.stringify(error)).not.toContain("wrong-password-x");
    expect((error as Error).message).not.toContain("wrong-password-x");
    // The right password still works afterwards (one refusal does not lock the user out).
    expect(
      await detectNeo4j(exec, { user: neo4j.user, password: neo4j.password, database: "neo4j" }),
    ).toMatchObject({
      edition: "community",
    });

    // What create and restore ask before they start: the same answers as the separate probes, from ONE
    // cypher-shell run; a refused login is reported once, not asked again (Neo4j locks a user out).
    const runs: string[][] = [];
    const counted: Executor = {
      target: exec.target,
      exec: (request: ExecRequest) => {
        runs.push([...request.argv]);
        return exec.exec(request);
      },
    };
    const credentials = { user: neo4j.user, password: neo4j.password, database: "neo4j" };
    const facts = neo4jServerFacts(counted, credentials);
    const [server, , location] = await Promise.all([
      facts.server(),
      facts.databaseExists(),
      facts.location(),
    ]);
    expect(runs).toHaveLength(1);
    expect(server).toEqual(await detectNeo4j(exec, credentials));
    expect(location).toEqual(await locateStore(exec, credentials));
    expect(location.dataDir).toBe(neo4j.dataDir);

    const misnamed = neo4jServerFacts(counted, { ...credentials, database: "infrahub" });
    await expect(misnamed.databaseExists()).rejects.toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      message: "Neo4j has no database named infrahub",
      hint: expect.stringContaining("the server has: neo4j, system"),
    });
    expect(await misnamed.server()).toEqual(server);
    expect(runs).toHaveLength(2);

    const refused = neo4jServerFacts(counted, { ...credentials, password: "wrong-password-x" });
    const outcomes = await Promise.allSettled([
      refused.server(),
      refused.databaseExists(),
      refused.location(),
    ]);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ reason: { code: "DATABASE_AUTH" } });
    expect(runs).toHaveLength(3);
  });
});
