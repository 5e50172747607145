import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  findProcesses,
  ManagedProcess,
  type Neo4jServer,
  type PostgresCluster,
  postgresBin,
  repoRoot,
  run,
  seedInfrahubData,
  serviceUser,
  startNeo4j,
  startPostgres,
  type TempDir,
  tempDir,
  toolDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackupFromFiles } from "../operations/create-from-files.js";
import type { OperationEvent } from "../operations/events.js";
import { LocalStore } from "../storage/local-store.js";
import { type DrillBackupOptions, drillBackup } from "./drill-backup.js";
import { DRILL_PROCESS_VARIABLE } from "./server-process.js";

// Real Neo4j and PostgreSQL: the seeded source databases are dumped once; every drill starts its own.
let dir: TempDir;
let neo4jDump: string;
let pgDump: string;
let store: LocalStore;

beforeAll(async () => {
  dir = await tempDir("ihb-drill-");
  await using neo4j: Neo4jServer = await startNeo4j();
  await using postgres: PostgresCluster = await startPostgres();
  await seedInfrahubData(neo4j, postgres, { nodes: 50, flowRuns: 40 });
  await neo4j.stop();
  await run(join(neo4j.binDir, "neo4j-admin"), ["database", "dump", `--to-path=${dir.path}`, "neo4j"], {
    env: neo4j.env(),
  });
  neo4jDump = join(dir.path, "neo4j.dump");
  pgDump = join(dir.path, "prefect.dump");
  await run(postgres.bin("pg_dump"), ["-Fc", "-f", pgDump], { env: postgres.env("app") });
  store = new LocalStore({ directory: join(dir.path, "store") });
}, 300_000);

afterAll(async () => {
  await dir?.[Symbol.asyncDispose]();
});

/** User checks the seed answers: 50 devices, 5 failed flow runs. */
const SEED_CHECKS = [
  { name: "devices", cypher: "MATCH (n:InfraDevice) RETURN count(n)", expect: "50" },
  { sql: "SELECT count(*) FROM flow_run WHERE state_type = 'FAILED'", expect: "5" },
];

const checksByName = (result: { checks: { name: string }[] } | undefined) =>
  Object.fromEntries((result?.checks ?? []).map((c) => [c.name, c]));

async function drill(name: string, extra: Partial<DrillBackupOptions> = {}) {
  const events: OperationEvent[] = [];
  await using work = await tempDir("ihb-drill-work-");
  // PostgreSQL runs unprivileged when the tests run as root: it must traverse the work directory.
  await chmod(work.path, 0o711);
  const outcome = await drillBackup({
    store,
    name,
    neo4j: { home: toolDir("neo4j", "NEO4J_VERSION") },
    postgres: { binDir: postgresBin("postgres").replace(/\/postgres$/, "") },
    workDir: work.path,
    onEvent: (event) => events.push(event),
    ...extra,
  }).then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error as Error & { code?: string } }),
  );
  // Nothing left behind: no process of this drill, an empty work directory.
  const leftovers = findProcesses(
    (p) => p.env[DRILL_PROCESS_VARIABLE] !== undefined && p.argv.join(" ").includes(work.path),
  );
  const leftoverNeo4j = findProcesses((p) => (p.env.NEO4J_CONF ?? "").startsWith(work.path));
  expect([...leftovers, ...leftoverNeo4j]).toEqual([]);
  expect(await readdir(work.path)).toEqual([]);
  return { ...outcome, events };
}

// Each drill starts a Neo4j JVM and runs cypher-shell JVMs: minutes on a busy 2-core machine.
describe("drillBackup (throwaway Neo4j + PostgreSQL)", { timeout: 400_000 }, () => {
  it("a Community archive with the task manager: both load and serve, Infrahub's root and Prefect's rows are counted", async () => {
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: neo4jDump,
      postgresPath: pgDump,
    });
    const { result, error, events } = await drill(name, {
      checks: SEED_CHECKS,
    });
    expect(error).toBeUndefined();
    expect(result?.ok).toBe(true);
    expect(result?.postgres).toBe("loaded");
    const byName = checksByName(result);
    expect(byName["neo4j-nodes"]).toMatchObject({ status: "passed", value: 1 + 50 * 5 });
    expect(byName["neo4j-relationships"]).toMatchObject({ status: "passed", value: 50 * 4 + 49 });
    expect(byName["infrahub-root"]).toMatchObject({ status: "passed", value: 1 });
    // The seed has no :SchemaNode: the drill cannot tell, and says so.
    expect(byName["infrahub-schema"]).toMatchObject({ status: "unknown" });
    expect(byName["prefect-flow-run-rows"]).toMatchObject({ status: "passed", value: 40 });
    expect(byName["prefect-task-run-rows"]).toMatchObject({ status: "passed", value: 40 });
    expect(byName.devices).toMatchObject({ status: "passed" });
    expect(byName["sql-2"]).toMatchObject({ status: "passed" });
    expect(events.filter((e) => e.type === "drill-check")).toHaveLength(result?.checks.length ?? -1);
    expect(events.some((e) => e.type === "phase-finished" && e.phase === "drill-start")).toBe(true);
  });

  it("an encrypted archive without the task manager: the key decrypts it, PostgreSQL is skipped and said so; a failing user check fails the drill", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: neo4jDump,
      encryptTo: publicKey,
    });
    expect(name).toMatch(/\.enc$/);
    const { result, error, events } = await drill(name, {
      decryptKey: privateKey,
      checks: [{ name: "too-many", cypher: "MATCH (n:InfraDevice) RETURN count(n)", expect: "51" }],
    });
    expect(error).toBeUndefined();
    expect(result?.postgres).toBe("no-dump");
    expect(events).toContainEqual({ type: "drill-skipped", component: "postgres", reason: "no-dump" });
    expect(result?.ok).toBe(false);
    expect(result?.checks.find((c) => c.name === "too-many")).toMatchObject({
      status: "failed",
      value: "50",
      expected: "51",
    });
    expect(result?.checks.find((c) => c.name === "infrahub-root")?.status).toBe("passed");
  });

  it("a dump that passes its checksum but is not a store: DRILL_LOAD_FAILED, and nothing is left behind", async () => {
    await mkdir(join(dir.path, "garbage"));
    const garbage = join(dir.path, "garbage", "neo4j.dump");
    await writeFile(garbage, Buffer.concat([Buffer.from("DZV1"), randomBytes(200_000)]));
    const { name } = await createBackupFromFiles({ store, toolVersion: "t", neo4jPath: garbage });
    const { error } = await drill(name);
    expect(error?.code).toBe("DRILL_LOAD_FAILED");
    expect(error?.message).toMatch(/database\/neo4j\.dump does not load/);
  });
});

/** The drill pod's agents as local processes: the chart's script, as its neo4j and postgres containers run it. */
async function startAgents(exchange: string) {
  const script = join(repoRoot, "charts", "infrahub-backup", "files", "drill-agent.sh");
  const neo4jHome = toolDir("neo4j", "NEO4J_VERSION");
  const pgBinDir = postgresBin("postgres").replace(/\/postgres$/, "");
  // PostgreSQL refuses root: its container runs as its image's user.
  const pgUser = serviceUser(["postgres", "nobody"]);
  const agent = (name: string, env: NodeJS.ProcessEnv, ids = {}) =>
    ManagedProcess.start({
      name: `drill-agent-${name}`,
      command: "bash",
      args: [script, exchange, name],
      env: { ...process.env, ...env },
      logFile: join(exchange, `../${name}-agent.log`),
      ...ids,
    });
  return {
    neo4j: agent("neo4j", { NEO4J_HOME: neo4jHome, PATH: `${join(neo4jHome, "bin")}:${process.env.PATH}` }),
    postgres: agent(
      "postgres",
      { PATH: `${pgBinDir}:${process.env.PATH}`, HOME: "/tmp" },
      pgUser ? { uid: pgUser.uid, gid: pgUser.gid } : {},
    ),
  };
}

// The Kubernetes drill's transport, without Kubernetes: the agents run the databases, the drill only
// hands over files in the shared directory (as in the drill pod's emptyDir).
describe("drillBackup through the drill agents (--drill-exchange-dir)", { timeout: 400_000 }, () => {
  async function agentDrill(name: string, extra: Partial<DrillBackupOptions> = {}) {
    await using work = await tempDir("ihb-drill-exchange-");
    const exchange = join(work.path, "exchange");
    await mkdir(exchange);
    await chmod(work.path, 0o755);
    await chmod(exchange, 0o777); // an emptyDir
    const agents = startAgents(exchange);
    const { neo4j, postgres } = await agents;
    try {
      const outcome = await drillBackup({
        store,
        name,
        neo4j: {},
        exchange: { dir: exchange, agentTimeoutMs: 60_000 },
        ...extra,
      }).then(
        (result) => ({ result, error: undefined }),
        (error: unknown) => ({ result: undefined, error: error as Error & { code?: string } }),
      );
      // `done` ends both agents with 0, and nothing they started outlives them.
      expect(await Promise.race([neo4j.exited, delay(10_000)])).toEqual({ code: 0, signal: null });
      expect(await Promise.race([postgres.exited, delay(10_000)])).toEqual({ code: 0, signal: null });
      expect(findProcesses((p) => p.argv.join(" ").includes(exchange))).toEqual([]);
      return outcome;
    } finally {
      await Promise.all([neo4j.stop(5_000), postgres.stop(5_000)]);
    }
  }

  it("a Community archive with the task manager: loaded and checked in the agents' containers", async () => {
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: neo4jDump,
      postgresPath: pgDump,
      now: () => new Date("2021-01-01T00:00:01Z"),
    });
    const { result, error } = await agentDrill(name, {
      checks: SEED_CHECKS,
    });
    expect(error).toBeUndefined();
    expect(result?.ok).toBe(true);
    expect(result?.postgres).toBe("loaded");
    const byName = checksByName(result);
    expect(byName["neo4j-nodes"]).toMatchObject({ status: "passed", value: 1 + 50 * 5 });
    expect(byName["prefect-flow-run-rows"]).toMatchObject({ status: "passed", value: 40 });
    expect(byName.devices).toMatchObject({ status: "passed" });
    expect(byName["sql-2"]).toMatchObject({ status: "passed" });
  });

  it("a dump that passes its checksum but is not a store: DRILL_LOAD_FAILED from the agent's neo4j-admin", async () => {
    await mkdir(join(dir.path, "garbage-x"), { recursive: true });
    const garbage = join(dir.path, "garbage-x", "neo4j.dump");
    await writeFile(garbage, Buffer.concat([Buffer.from("DZV1"), randomBytes(200_000)]));
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: garbage,
      now: () => new Date("2021-01-01T00:00:02Z"),
    });
    const { error } = await agentDrill(name);
    expect(error?.code).toBe("DRILL_LOAD_FAILED");
    expect(error?.message).toMatch(/database\/neo4j\.dump does not load/);
  });

  it("no agent: DRILL_SETUP_FAILED once the agent timeout has passed, naming the container", async () => {
    await using work = await tempDir("ihb-drill-exchange-");
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: neo4jDump,
      now: () => new Date("2021-01-01T00:00:03Z"),
    });
    const started = Date.now();
    const error = await drillBackup({
      store,
      name,
      neo4j: {},
      exchange: { dir: work.path, agentTimeoutMs: 2_000 },
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.code).toBe("DRILL_SETUP_FAILED");
    expect(error?.message).toMatch(/drill's neo4j agent did not show up/);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The agents that come late are told to stop at once.
    expect((await stat(join(work.path, "done"))).isFile()).toBe(true);
  });
});

function delay(ms: number): Promise<string> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms, "still running"));
}
