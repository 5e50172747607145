// ci-cost: 150 s (125 s measured alone on an idle 2-core machine, plus the freshness probes moved here; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  digestInfrahubData,
  freezeHelperPath,
  freezeOwnedProcesses,
  type InfrahubLocalStack,
  seedFreshInfrahub,
  seedInfrahubData,
  startInfrahubLocalStack,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { extractArchive } from "../src/archive/extract-archive.js";
import { LocalEnvironment } from "../src/environment/local-environment.js";
import type { ServiceName } from "../src/environment/services.js";
import type { Executor } from "../src/exec/executor.js";
import { createBackup } from "../src/operations/create-backup.js";
import type { OperationEvent } from "../src/operations/events.js";
import { findFreshnessCredentials, probeFreshness } from "../src/operations/freshness.js";
import { restoreBackup } from "../src/operations/restore-backup.js";
import { listBackups, verifyBackup } from "../src/operations/verify-backup.js";
import type { PutOptions } from "../src/storage/backup-store.js";
import { LocalStore } from "../src/storage/local-store.js";
import { S3Store } from "../src/storage/s3-store.js";

const BUCKET = "backups";
let stack: InfrahubLocalStack;
let environment: LocalEnvironment;

function store(endpoint = stack.minio.endpoint, prefix = "infrahub"): S3Store {
  return new S3Store({
    bucket: BUCKET,
    prefix,
    endpoint,
    credentials: { accessKeyId: stack.minio.rootUser, secretAccessKey: stack.minio.rootPassword },
    maxAttempts: 2,
    readResumes: 1,
  });
}

const freezeHelper = (arch: "amd64" | "arm64") => freezeHelperPath(arch);

/** `target` recording the options of each `put` (what the operation told the store to expect). */
function recordingPuts<T extends S3Store>(target: T, puts: PutOptions[]): T {
  const put = target.put.bind(target);
  target.put = (name, options) => {
    puts.push(options ?? {});
    return put(name, options);
  };
  return target;
}
const appsRunning = () => Object.values(stack.apps).every((app) => app.isRunning());

beforeAll(async () => {
  stack = await startInfrahubLocalStack();
  environment = new LocalEnvironment(
    stack.environmentOptions as ConstructorParameters<typeof LocalEnvironment>[0],
  );
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres);
}, 300_000);

afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

describe("operations on a local Infrahub deployment (real Neo4j, PostgreSQL, MinIO)", () => {
  let archiveName: string;
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it("creates a backup in S3 with both databases, bringing services back", async () => {
    original = await digestInfrahubData(stack.neo4j, stack.postgres);
    const events: OperationEvent[] = [];
    const puts: PutOptions[] = [];
    const result = await createBackup({
      environment,
      store: recordingPuts(store(), puts),
      toolVersion: "test",
      freezeHelper,
      onEvent: (e) => events.push(e),
    });
    archiveName = result.name;
    expect(result.name).toMatch(/^infrahub_backup_\d{8}_\d{6}\.tar\.gz$/);
    expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`infrahub/${result.name}`]);
    expect(result.metadata.components).toEqual(["database", "task-manager-db"]);
    expect(result.metadata.neo4jEdition).toBe("community");
    expect(Object.keys(result.metadata.checksums).sort()).toEqual(["database/neo4j.dump", "prefect.dump"]);
    expect(appsRunning()).toBe(true);
    expect(stack.apps["infrahub-server"].stops).toBe(1);
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    console.log(
      `create: ${result.size} bytes in ${result.durations.totalMs} ms; Neo4j downtime ${result.durations.neo4jDowntimeMs} ms; ` +
        `services down ${result.durations.servicesDownMs} ms`,
    );
    expect(events.some((e) => e.type === "progress" && e.entry === "database/neo4j.dump")).toBe(true);
    // Each dump's size and duration are logged, so the downtime can be split into dump and restart.
    const finished = events.flatMap((e) =>
      e.type === "phase-finished" && e.phase !== "write-archive" && e.bytes !== undefined
        ? [[e.phase, e.bytes]]
        : [],
    );
    const bytesOf = (path: string) => result.entries.find((e) => e.path === path)?.size;
    expect(finished).toEqual([
      ["dump-postgres", bytesOf("prefect.dump")],
      [expect.stringMatching(/^(dump-neo4j|upload-staged-dump)$/), bytesOf("database/neo4j.dump")],
    ]);
    for (const e of events) if (e.type === "phase-finished") expect(e.durationMs).toBeGreaterThanOrEqual(0);
    // The size estimate: the store's size plus pg_database_size, an upper bound of the archive, planned
    // into the S3 parts and given as the total of each dump's progress.
    const estimate = events.find((e) => e.type === "size-estimated");
    const pgSize = Number(await stack.postgres.psql("SELECT pg_database_size(current_database())"));
    expect(estimate).toMatchObject({
      parts: { neo4jStore: expect.any(Number), postgres: expect.any(Number) },
    });
    if (estimate?.type !== "size-estimated") throw new Error("no size estimate");
    const { neo4jStore = 0, postgres = 0 } = estimate.parts;
    console.log(
      `size estimate ${estimate.bytes} bytes (store ${neo4jStore}, PostgreSQL ${postgres}); archive ${result.size}`,
    );
    expect(estimate.bytes).toBe(neo4jStore + postgres);
    expect(postgres).toBeGreaterThan(0.8 * pgSize);
    expect(postgres).toBeLessThan(1.25 * pgSize);
    expect(estimate.bytes).toBeGreaterThan(result.size);
    expect(puts).toEqual([expect.objectContaining({ sizeHint: estimate.bytes, estimated: true })]);
    const totals = (entry: string) =>
      new Set(
        events.flatMap((e) =>
          e.type === "progress" && e.entry === entry ? [`${e.total}${e.estimated ? " estimated" : ""}`] : [],
        ),
      );
    expect(totals("prefect.dump")).toEqual(new Set([`${postgres} estimated`]));
    // A staged Neo4j dump (the default where there is room) is measured before its upload: an exact total.
    const staged = events.some((e) => e.type === "phase-started" && e.phase === "upload-staged-dump");
    expect(totals("database/neo4j.dump")).toEqual(
      new Set([staged ? `${bytesOf("database/neo4j.dump")}` : `${neo4jStore} estimated`]),
    );
    console.log(`Neo4j dump ${staged ? "staged: exact total" : "streamed: estimated total"}`);
    expect(events.some((e) => e.type === "warning" && e.code === "NO_SIZE_ESTIMATE")).toBe(false);
  });

  it("verifies and lists the backup", async () => {
    const report = await verifyBackup({ store: store(), name: archiveName });
    expect(report.ok).toBe(true);
    expect(report.checksums.map((c) => [c.key, c.status]).sort()).toEqual([
      ["database/neo4j.dump", "ok"],
      ["prefect.dump", "ok"],
    ]);
    expect((await listBackups(store())).map((a) => a.name)).toEqual([archiveName]);
  });

  it("refuses a corrupted archive before touching any data", async () => {
    const client = stack.minio.client();
    const object = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: `infrahub/${archiveName}` }),
    );
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `corrupt/${archiveName}`, Body: bytes }));
    await stack.neo4j.cypher("CREATE (:Node {uuid: 'marker-before-corrupt-restore'})");
    const before = await digestInfrahubData(stack.neo4j, stack.postgres);
    const stopsBefore = stack.apps["infrahub-server"].stops;
    await expect(
      restoreBackup({
        environment,
        store: store(stack.minio.endpoint, "corrupt"),
        name: archiveName,
        freezeHelper,
      }),
    ).rejects.toMatchObject({ category: "integrity" });
    expect(stack.apps["infrahub-server"].stops).toBe(stopsBefore);
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
    await stack.neo4j.cypher("MATCH (n {uuid: 'marker-before-corrupt-restore'}) DELETE n");
  });

  it("dry-run plans without changing anything", async () => {
    const result = await restoreBackup({
      environment,
      store: store(),
      name: archiveName,
      freezeHelper,
      dryRun: true,
    });
    expect(result.dryRun).toBe(true);
    expect(result.plan.postgres?.mode).toBe("recreate");
    expect(result.plan.steps.join("\n")).toMatch(/load database\/neo4j\.dump/);
  });

  it("restores both databases to the backup's state", async () => {
    await stack.neo4j.cypher("MATCH (v:AttributeValue) WHERE v.value = 'core' SET v.value = 'changed'");
    await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-backup'})");
    await stack.postgres.psql(
      "DELETE FROM log; UPDATE flow_run SET state_type = 'CRASHED'; CREATE TABLE added_later (x int);",
    );
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(original);
    // What two restores killed outright left (nothing ran their undo or finish): a partial load, and the
    // database from before one that had switched.
    const { database, user } = stack.postgres.app;
    const partial = `${database}__ihb_new_20250101T000000Z`;
    const previous = `${database}__ihb_prev_20250101T000000Z`;
    const databases = async () =>
      (
        await stack.postgres.psql(
          `SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE '${database}%'`,
          { database: "postgres", as: "superuser" },
        )
      ).trim();
    for (const name of [partial, previous])
      await stack.postgres.psql(`CREATE DATABASE "${name}" OWNER "${user}"`, {
        database: "postgres",
        as: "superuser",
      });
    const events: OperationEvent[] = [];
    const result = await restoreBackup({
      environment,
      store: store(),
      name: archiveName,
      freezeHelper,
      onEvent: (e) => events.push(e),
    });
    console.log(
      `restore: ${result.durations.totalMs} ms (validation pass ${result.durations.validateMs} ms); Neo4j offline ${result.durations.neo4jDowntimeMs} ms`,
    );
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    expect(appsRunning()).toBe(true);
    expect(
      events.flatMap((e) => (e.type === "warning" && e.code === "LEFTOVER_DATABASE" ? [e.fields] : [])),
    ).toEqual([
      { database: partial, kind: "partial" },
      { database: previous, kind: "previous" },
    ]);
    // The partial one is gone; the previous data stays until a person drops it.
    expect(await databases()).toBe([database, previous].sort().join(","));
    await stack.postgres.psql(`DROP DATABASE "${previous}"`, { database: "postgres", as: "superuser" });
  });

  it("fails before stopping anything when the Neo4j database name is wrong", async () => {
    const error = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "wrong-db"),
      toolVersion: "test",
      freezeHelper,
      hostEnv: { INFRAHUB_DB_DATABASE: "nosuchdb" },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      message: "Neo4j has no database named nosuchdb",
    });
    expect(stack.apps["infrahub-server"].isRunning()).toBe(true);
    expect(await stack.minio.listObjectKeys(BUCKET, "wrong-db/")).toEqual([]);
  });

  it("fails before writing anything when a database refuses the credentials", async () => {
    const error = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "wrong-pg"),
      toolVersion: "test",
      freezeHelper,
      hostEnv: {
        PREFECT_SERVER_DATABASE_CONNECTION_URL: "postgresql+asyncpg://prefect:not-the-password@x/server",
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    expect(String((error as Error).message)).not.toContain("not-the-password");
    expect(await stack.minio.listObjectKeys(BUCKET, "wrong-pg/")).toEqual([]);
    expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
    expect(appsRunning()).toBe(true);
  });
  it("restores an archive written the upstream way (GNU tar, one gzip member, metadata first, no edition) from a local directory, with a new deployment id", async () => {
    await using work = await tempDir("ihb-upstream-");
    // Real dumps: the entries of the backup taken above.
    await extractArchive(await store().get(archiveName), join(work.path, "src"));
    const stage = join(work.path, "stage");
    await mkdir(join(stage, "backup", "database"), { recursive: true });
    await copyFile(
      join(work.path, "src", "backup", "database", "neo4j.dump"),
      join(stage, "backup", "database", "neo4j.dump"),
    );
    await copyFile(join(work.path, "src", "backup", "prefect.dump"), join(stage, "backup", "prefect.dump"));
    const sha = async (path: string) =>
      createHash("sha256")
        .update(await readFile(path))
        .digest("hex");
    // v0.0.7 shape (metadata_version 2025102200): no neo4j_edition; Go's 4-space indentation.
    const metadata = {
      metadata_version: 2025102200,
      backup_id: "infrahub_backup_20251030_101500",
      created_at: "2025-10-30T10:15:00Z",
      tool_version: "0a1b2c3",
      infrahub_version: "1.4.0",
      components: ["database", "task-manager-db"],
      checksums: {
        "database/neo4j.dump": await sha(join(stage, "backup", "database", "neo4j.dump")),
        "prefect.dump": await sha(join(stage, "backup", "prefect.dump")),
      },
    };
    await writeFile(join(stage, "backup", "backup_information.json"), JSON.stringify(metadata, null, 4));
    const dir = join(work.path, "backups");
    await mkdir(dir);
    const name = "infrahub_backup_20251030_101500.tar.gz";
    // Upstream's lexical walk: backup, backup/backup_information.json, backup/database, …, backup/prefect.dump.
    execFileSync("tar", [
      "-czf",
      join(dir, name),
      "--no-recursion",
      "-C",
      stage,
      "backup",
      "backup/backup_information.json",
      "backup/database",
      "backup/database/neo4j.dump",
      "backup/prefect.dump",
    ]);

    const rootBefore = (await stack.neo4j.cypher("MATCH (r:Root) RETURN r.uuid AS uuid")).trim();
    await stack.postgres.psql("UPDATE flow_run SET state_type = 'UPSTREAM-TEST';");
    const result = await restoreBackup({
      environment,
      store: new LocalStore({ directory: dir }),
      name,
      freezeHelper,
      resetDeploymentId: true,
    });
    expect(result.plan.metadata.metadataVersion).toBe(2025102200);
    const after = await digestInfrahubData(stack.neo4j, stack.postgres);
    expect(after.postgres).toBe(original.postgres);
    const rootAfter = (await stack.neo4j.cypher("MATCH (r:Root) RETURN r.uuid AS uuid")).trim();
    expect(rootAfter).not.toBe(rootBefore);
    expect(rootAfter).toMatch(/[0-9a-f-]{36}/);
    expect((await stack.neo4j.cypher("MATCH (n:InfraDevice) RETURN count(n)")).trim()).toMatch(/500$/);
    expect(appsRunning()).toBe(true);
  });

  it("a failing Neo4j dump fails the backup: nothing stored, Neo4j and services back", async () => {
    const error = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "neo4j-fails"),
      toolVersion: "test",
      freezeHelper,
      onEvent: (e) => {
        // The dump process dies (as under the OOM killer) as soon as it shows up: exactly the JVM of
        // the dump this backup started on this stack's Neo4j, never a process picked by name.
        if (e.type === "phase-started" && e.phase === "dump-neo4j") {
          const killer = setInterval(() => {
            const [dump] = freezeOwnedProcesses(stack.neo4j.confDir).filter((p) =>
              p.argv.some((a) => a.includes("Neo4jAdminCommand")),
            );
            if (dump) {
              process.kill(dump.pid, "SIGKILL");
              clearInterval(killer);
            }
          }, 20);
          setTimeout(() => clearInterval(killer), 60_000);
        }
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DATABASE_COMMAND_FAILED" });
    expect(String((error as Error).message)).toMatch(/neo4j-admin database dump of neo4j failed/);
    expect(await stack.minio.listObjectKeys(BUCKET, "neo4j-fails/")).toEqual([]);
    expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
    expect(appsRunning()).toBe(true);
    await stack.neo4j.cypher("RETURN 1");
  });

  it("a freeze whose helper loses the race with the exiting JVM is tried again once Neo4j serves again; a size probe that fails costs the estimate, not the backup", async () => {
    // Fault injection at our own helper's seat: the first "helper" arms and never pauses the JVM, as
    // when a busy node delays the real one past the JVM's exit. The second attempt gets the real one.
    await using dir = await tempDir("ihb-lost-race-");
    const losingHelper = join(dir.path, "neo4j-freeze-loses");
    await writeFile(
      losingHelper,
      '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --ready-file ] && echo ready > "$2"; shift; done\n',
      { mode: 0o755 },
    );
    // In the same create (the two faults are independent; each create costs ~20 s), a fault at the executor
    // seam: the real task-manager database answers every command but the size query, which fails as it
    // would for a role denied it.
    class SizeProbeDenied extends LocalEnvironment {
      override async executor(service: ServiceName): Promise<Executor> {
        const real = await super.executor(service);
        if (service !== "task-manager-db") return real;
        return {
          target: real.target,
          exec: (request) =>
            request.argv.some((a) => a.includes("pg_database_size"))
              ? Promise.resolve({
                  exitCode: 1,
                  stdout: Buffer.alloc(0),
                  stdoutBytes: 0,
                  stderrTail: "ERROR:  permission denied for function pg_database_size",
                })
              : real.exec(request),
        };
      }
    }
    let calls = 0;
    const events: OperationEvent[] = [];
    const puts: PutOptions[] = [];
    const restartsBefore = stack.neo4jSupervisor.restarts;
    const result = await createBackup({
      environment: new SizeProbeDenied(
        stack.environmentOptions as ConstructorParameters<typeof LocalEnvironment>[0],
      ),
      store: recordingPuts(store(stack.minio.endpoint, "lost-race"), puts),
      toolVersion: "test",
      // No look at running tasks (its own test below): its warning would be one more.
      force: true,
      freezeHelper: (arch) => (++calls === 1 ? losingHelper : freezeHelper(arch)),
      onEvent: (e) => events.push(e),
    });
    expect(calls).toBe(2);
    expect(stack.neo4jSupervisor.restarts).toBe(restartsBefore + 2);
    expect(
      events.filter(
        (e) => e.type === "warning" && e.code === "FREEZE_RETRY" && /\(attempt 1 of 3\)/.test(e.message),
      ),
    ).toHaveLength(1);
    expect(await stack.minio.listObjectKeys(BUCKET, "lost-race/")).toEqual([`lost-race/${result.name}`]);
    expect(
      (await verifyBackup({ store: store(stack.minio.endpoint, "lost-race"), name: result.name })).ok,
    ).toBe(true);
    // The size probe's failure: one warning that says why, no estimate, no size hint for the upload.
    const warnings = events.flatMap((e) => (e.type === "warning" && e.code !== "FREEZE_RETRY" ? [e] : []));
    expect(warnings).toEqual([
      expect.objectContaining({
        code: "NO_SIZE_ESTIMATE",
        message: expect.stringMatching(/the PostgreSQL database: .*permission denied/),
      }),
    ]);
    expect(events.some((e) => e.type === "size-estimated")).toBe(false);
    expect(puts).toEqual([expect.objectContaining({ sizeHint: undefined })]);
    expect(
      events.some((e) => e.type === "progress" && e.entry === "prefect.dump" && e.total !== undefined),
    ).toBe(false);
    expect(appsRunning()).toBe(true);
    await stack.neo4j.cypher("RETURN 1");
  });

  it("PostgreSQL going away during the dump fails the backup with nothing stored", async () => {
    let stopping: Promise<void> | undefined;
    const error = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "pg-dies"),
      toolVersion: "test",
      freezeHelper,
      onEvent: (e) => {
        if (e.type === "phase-started" && e.phase === "dump-postgres") stopping = stack.postgres.stop();
      },
    }).catch((e: unknown) => e);
    await stopping;
    await stack.postgres.start();
    expect(error).toMatchObject({ code: "DATABASE_COMMAND_FAILED" });
    expect(await stack.minio.listObjectKeys(BUCKET, "pg-dies/")).toEqual([]);
    expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
    expect(appsRunning()).toBe(true);
  });

  it("waits for Infrahub's running tasks before stopping anything (unless --force)", async () => {
    await using work = await tempDir("ihb-tasks-");
    // TEST DOUBLE (Infrahub's own CLI, a boundary we do not own): reports one running task twice, then none.
    const bin = join(work.path, "bin");
    await mkdir(bin);
    await writeFile(
      join(bin, "infrahubctl"),
      `#!/bin/sh\nn=$(cat "${work.path}/calls" 2>/dev/null || echo 0); echo $((n+1)) > "${work.path}/calls"\n` +
        `echo "$INFRAHUB_ADDRESS" > "${work.path}/address"\n` +
        `if [ "$n" -lt 2 ]; then echo '[{"id":"t1","name":"generate-artifacts","state":"RUNNING"}]'; else echo '[]'; fi\n`,
      { mode: 0o755 },
    );
    const options = stack.environmentOptions as ConstructorParameters<typeof LocalEnvironment>[0];
    const withWorker = new LocalEnvironment({
      ...options,
      services: {
        ...options.services,
        "task-worker": {
          ...options.services["task-worker"],
          env: { INFRAHUB_INTERNAL_ADDRESS: "http://infrahub-server:8000" },
          pathPrepend: [bin],
        },
      },
    });
    const events: OperationEvent[] = [];
    const stopsBefore = stack.apps["task-worker"].stops;
    const tooShort = await createBackup({
      environment: withWorker,
      store: store(stack.minio.endpoint, "tasks"),
      toolVersion: "test",
      freezeHelper,
      taskWaitTimeoutMs: 1,
    }).catch((e: unknown) => e);
    expect(tooShort).toMatchObject({ code: "TASKS_RUNNING" });
    expect(stack.apps["task-worker"].stops).toBe(stopsBefore);
    const result = await createBackup({
      environment: withWorker,
      store: store(stack.minio.endpoint, "tasks"),
      toolVersion: "test",
      freezeHelper,
      onEvent: (e) => events.push(e),
    });
    expect(events.some((e) => e.type === "tasks-running" && e.count === 1)).toBe(true);
    expect((await readFile(join(work.path, "address"), "utf8")).trim()).toBe("http://infrahub-server:8000");
    expect(await stack.minio.listObjectKeys(BUCKET, "tasks/")).toEqual([`tasks/${result.name}`]);
  });

  it("--redact needs --force, then replaces attribute values (equal values stay equal) and marks the archive", async () => {
    await expect(
      createBackup({
        environment,
        store: store(stack.minio.endpoint, "redact"),
        toolVersion: "t",
        freezeHelper,
        redact: true,
      }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const result = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "redact"),
      toolVersion: "t",
      freezeHelper,
      redact: true,
      force: true,
    });
    expect(result.metadata.redacted).toBe(true);
    const values = (await stack.neo4j.cypher("MATCH (v:AttributeValue) RETURN DISTINCT v.value AS value"))
      .trim()
      .split("\n")
      .slice(1);
    // 500 distinct names + 3 distinct roles before; each distinct value became one UUID.
    expect(values.length).toBe(503);
    for (const value of values) expect(value).toMatch(/^"[0-9a-f-]{36}"$/);
  });

  // restore --only-if-fresh's probe against real databases: what counts as a fresh Infrahub, what as data.
  // Last in this file: these tests empty the databases.

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
      // The archive: the first test's backup of the seeded deployment. The deployment is fresh when the
      // restore is asked for …
      const name = archiveName;
      await wipe();
      await seedFreshInfrahub(stack.neo4j);
      const credentials = await findFreshnessCredentials({ environment });
      expect((await probeFreshness({ environment, credentials })).fresh).toBe(true);
      let appsRunningWhenAsked: string[] | undefined;
      const result = await restoreBackup({
        environment,
        store: store(),
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
      expect(
        await stack.neo4j.cypher("MATCH (n:Node {uuid: 'first-user-object'}) RETURN count(n)"),
      ).toContain("1");
      const kept = await digestInfrahubData(stack.neo4j, stack.postgres);
      // Proceeding restores the archive over the user's object.
      const restored = await restoreBackup({
        environment,
        store: store(),
        name,
        freezeHelper,
        proceedOnceStopped: async () => true,
      });
      expect(restored.skipped).toBeUndefined();
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(kept);
      expect(
        await stack.neo4j.cypher("MATCH (n:Node {uuid: 'first-user-object'}) RETURN count(n)"),
      ).toContain("0");
    }, 300_000);
  });
});
