// ci-cost: 120 s (a Neo4j, a PostgreSQL and a MinIO started; one cypher-shell JVM per probe; a create and two restores; measured on the loaded 2-core machine)
// restore --only-if-fresh's probe against real databases: what counts as a fresh Infrahub, what as data.
import {
  digestInfrahubData,
  freezeHelperPath,
  type InfrahubLocalStack,
  seedFreshInfrahub,
  seedInfrahubData,
  startInfrahubLocalStack,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LocalEnvironment } from "../src/environment/local-environment.js";
import { createBackup } from "../src/operations/create-backup.js";
import type { OperationEvent } from "../src/operations/events.js";
import { findFreshnessCredentials, probeFreshness } from "../src/operations/freshness.js";
import { restoreBackup } from "../src/operations/restore-backup.js";
import { LocalStore } from "../src/storage/local-store.js";

let stack: InfrahubLocalStack;
let environment: LocalEnvironment;

beforeAll(async () => {
  stack = await startInfrahubLocalStack();
  environment = new LocalEnvironment(
    stack.environmentOptions as ConstructorParameters<typeof LocalEnvironment>[0],
  );
}, 300_000);

afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

/** Empties both databases, as a deployment that Infrahub never started on. */
async function wipe(): Promise<void> {
  await stack.neo4j.cypher("MATCH (n) DETACH DELETE n");
  await stack.postgres.psql("DROP TABLE IF EXISTS log, task_run, flow_run, bulk CASCADE;");
}

describe("probeFreshness (real Neo4j and PostgreSQL, read-only)", () => {
  beforeEach(wipe, 60_000);

  it("an empty deployment and one holding only a first start's data are fresh; the event says so", async () => {
    const events: OperationEvent[] = [];
    const empty = await probeFreshness({ environment, onEvent: (e) => events.push(e) });
    expect(empty).toMatchObject({ fresh: true, findings: [], graphNodes: 0, oldFlowRuns: 0 });
    expect(events.filter((e) => e.type === "freshness-checked")).toEqual([
      { type: "freshness-checked", fresh: true, findings: [], graphNodes: 0 },
    ]);
    await seedFreshInfrahub(stack.neo4j);
    // Prefect's own scheduled flows ran since the first start: not data.
    await stack.postgres.psql(
      "CREATE TABLE flow_run (id serial PRIMARY KEY, name text, created timestamptz DEFAULT now()); INSERT INTO flow_run (name) VALUES ('git-repositories-sync');",
    );
    const initialised = await probeFreshness({ environment });
    expect(initialised.findings).toEqual([]);
    expect(initialised.fresh).toBe(true);
    expect(initialised.graphNodes).toBeGreaterThan(40);
  }, 120_000);

  it("user objects, a user schema, a second branch, extra accounts and old task history are data, each named", async () => {
    await seedFreshInfrahub(stack.neo4j);
    await stack.neo4j.cypher(
      `CREATE (:Node {uuid: 'd1', kind: 'InfraDevice'}), (:Node {uuid: 'd2', kind: 'InfraDevice'})
       CREATE (:Branch {name: 'feature-1', created_at: toString(datetime())})
       CREATE (s:Node {uuid: 's1', kind: 'SchemaNode'})-[:HAS_ATTRIBUTE]->(:Attribute {name: 'namespace'})-[:HAS_VALUE]->(:AttributeValue {value: 'Ipam'})
       CREATE (s)-[:HAS_ATTRIBUTE]->(:Attribute {name: 'name'})-[:HAS_VALUE]->(:AttributeValue {value: 'IPPrefix'})
       CREATE (:Node {kind: 'CoreAccount'}), (:Node {kind: 'CoreAccount'})
       CREATE (:Filler {i: 1})`,
    );
    await stack.postgres.psql(
      "CREATE TABLE flow_run (id serial PRIMARY KEY, name text, created timestamptz DEFAULT now()); INSERT INTO flow_run (name, created) VALUES ('old', now() - interval '2 days');",
    );
    const report = await probeFreshness({ environment });
    expect(report.fresh).toBe(false);
    expect(report.dataKinds).toEqual({
      InfraDevice: 2,
      CoreAccount: 3,
      ":Filler": 1,
      "branch feature-1": 1,
      "schema IpamIPPrefix": 1,
    });
    expect(report.findings[0]).toMatch(/^8 nodes a first start does not create: /);
    expect(report.findings).toContain("3 nodes of kind CoreAccount (a first start creates at most 2)");
    expect(report.findings.at(-1)).toMatch(/^1 Prefect flow runs older than the graph's first start/);
    expect(report.oldFlowRuns).toBe(1);
  }, 120_000);

  it("seeded Infrahub data (no first start, task history) is data; --exclude-taskmanager leaves Prefect out", async () => {
    await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 5, flowRuns: 3 });
    const report = await probeFreshness({ environment });
    expect(report.fresh).toBe(false);
    expect(report.dataKinds).toMatchObject({ InfraDevice: 5 });
    // The seed's Root has no branch: no first start known, so every flow run is old.
    expect(report.oldFlowRuns).toBe(3);
    const graphOnly = await probeFreshness({ environment, excludeTaskManager: true });
    expect(graphOnly.oldFlowRuns).toBeUndefined();
    expect(graphOnly.findings.some((f) => /Prefect/.test(f))).toBe(false);
  }, 120_000);

  it("a probe that cannot run throws: never fresh when in doubt", async () => {
    await stack.postgres.stop();
    try {
      await expect(probeFreshness({ environment })).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    } finally {
      await stack.postgres.start();
    }
  }, 120_000);
});

describe("restore's second look, once the application services are stopped", () => {
  it("data written while pass 1 read the archive is found then: nothing is restored, the services are back", async () => {
    await wipe();
    await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 3, flowRuns: 1 });
    await using dir = await tempDir("ihb-fresh-race-");
    const store = new LocalStore({ directory: dir.path });
    const freezeHelper = (arch: "amd64" | "arm64") => freezeHelperPath(arch);
    const { name } = await createBackup({ environment, store, toolVersion: "test", freezeHelper });
    // The deployment is fresh when the restore is asked for …
    await wipe();
    await seedFreshInfrahub(stack.neo4j);
    const credentials = await findFreshnessCredentials({ environment });
    expect((await probeFreshness({ environment, credentials })).fresh).toBe(true);
    let appsRunningWhenAsked: string[] | undefined;
    const result = await restoreBackup({
      environment,
      store,
      name,
      freezeHelper,
      proceedOnceStopped: async () => {
        appsRunningWhenAsked = Object.entries(stack.apps)
          .filter(([, app]) => app.isRunning())
          .map(([service]) => service);
        // … and a user's first object arrived while pass 1 ran (the write landed before the services stopped).
        await stack.neo4j.cypher("CREATE (:Node {uuid: 'first-user-object', kind: 'InfraDevice'})");
        return (await probeFreshness({ environment, credentials })).fresh;
      },
    });
    expect(appsRunningWhenAsked).toEqual([]);
    expect(result).toMatchObject({ skipped: true, dryRun: false });
    expect(Object.values(stack.apps).every((app) => app.isRunning())).toBe(true);
    expect(await stack.neo4j.cypher("MATCH (n:Node {uuid: 'first-user-object'}) RETURN count(n)")).toContain(
      "1",
    );
    const kept = await digestInfrahubData(stack.neo4j, stack.postgres);
    // Proceeding restores the archive over the user's object.
    const restored = await restoreBackup({
      environment,
      store,
      name,
      freezeHelper,
      proceedOnceStopped: async () => true,
    });
    expect(restored.skipped).toBeUndefined();
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(kept);
    expect(await stack.neo4j.cypher("MATCH (n:Node {uuid: 'first-user-object'}) RETURN count(n)")).toContain(
      "0",
    );
  }, 300_000);
});
