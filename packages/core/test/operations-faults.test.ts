// ci-cost: 340 s (400 s before the refusals rode on the JVM-killed create and the restores on the stale-lock create's archive; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  digestInfrahubData,
  type FaultProxy,
  findProcesses,
  freezeHelperPath,
  freezeOwnedProcesses,
  type InfrahubDataDigest,
  type InfrahubLocalStack,
  seedBulkData,
  seedInfrahubData,
  startFaultProxy,
  startInfrahubLocalStack,
  tempDir,
  waitUntil,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractArchive } from "../src/archive/extract-archive.js";
import { LocalEnvironment } from "../src/environment/local-environment.js";
import { createBackup } from "../src/operations/create-backup.js";
import { createBackupFromFiles } from "../src/operations/create-from-files.js";
import type { OperationEvent, OperationPhase } from "../src/operations/events.js";
import { restoreBackup } from "../src/operations/restore-backup.js";
import { verifyBackup } from "../src/operations/verify-backup.js";
import { LocalStore } from "../src/storage/local-store.js";
import { S3Store } from "../src/storage/s3-store.js";

// Faults against the real services, each injected at a precise phase: the S3 endpoint cut (the fault
// proxy in front of MinIO), the Neo4j JVM killed, a second operation started. Every test asserts the
// deployment's state afterwards: Neo4j serves its user database, the application services run, the data
// is what it should be, no command is left on the store, the lock is free, nothing partial in storage.

const BUCKET = "faults";
const PART = 5 * 1024 * 1024;
let stack: InfrahubLocalStack;
let environment: LocalEnvironment;
const freezeHelper = (arch: "amd64" | "arm64") => freezeHelperPath(arch);

/** Deadlines short enough for a test; the defaults' own bound is tested in storage/. */
const STALL = { connectTimeoutMs: 4_000, requestTimeoutMs: 4_000, idleTimeoutMs: 4_000 };

function store(
  endpoint: string,
  prefix: string,
  deadlines: Partial<typeof STALL> & { maxAttempts?: number } = {},
): S3Store {
  return new S3Store({
    bucket: BUCKET,
    prefix,
    endpoint,
    credentials: { accessKeyId: stack.minio.rootUser, secretAccessKey: stack.minio.rootPassword },
    partSize: PART,
    // No retry of a cut request: the blip below heals in 2 s, a retry would mask the fault.
    maxAttempts: 1,
    ...deadlines,
    // One resume: a read paused by us longer than the idle timeout (the loads wait for Neo4j's freeze)
    // times out and resumes where it was; an injected fault still fails (the store is down for 2 s or more).
    readResumes: 1,
    abortTimeoutMs: 8_000,
  });
}

beforeAll(async () => {
  stack = await startInfrahubLocalStack();
  environment = new LocalEnvironment(
    stack.environmentOptions as ConstructorParameters<typeof LocalEnvironment>[0],
  );
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres);
  // Dumps bigger than two S3 parts each, so parts upload while each dump streams.
  await seedBulkData(stack.neo4j, stack.postgres, { postgresMiB: 14, neo4jNodes: 30_000 });
}, 300_000);

afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

const lockDir = () => join(dirname(stack.neo4j.pidFile), "infrahub-backup.lock");
/** Staging directories left in this stack's database volumes. */
const stagingLeftovers = () =>
  [stack.neo4j.dataDir, stack.postgres.dataDir].flatMap((dir) =>
    readdirSync(dir).filter((name) => name.startsWith(".infrahub-backup-staging-")),
  );

/** What every fault must leave behind: the deployment as it was (or restored), nothing on the side. */
async function expectDeploymentBack(expected: InfrahubDataDigest): Promise<void> {
  expect(Object.values(stack.apps).every((app) => app.isRunning())).toBe(true);
  expect(freezeOwnedProcesses(stack.neo4j.confDir)).toEqual([]);
  const helpers = findProcesses(
    (p) => (p.argv[0] ?? "").endsWith("neo4j-freeze") && p.argv.includes(stack.neo4j.pidFile),
  );
  expect(helpers).toEqual([]);
  expect(existsSync(lockDir())).toBe(false);
  // Nothing recorded as held down: every stopped service was started and taken off the record.
  expect(existsSync(`${lockDir()}.held-down`)).toBe(false);
  // The digest's query runs on the user database: it also proves that one serves (not only the system database).
  expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(expected);
}

async function expectNothingStored(prefix: string): Promise<void> {
  expect(await stack.minio.listObjectKeys(BUCKET, `${prefix}/`)).toEqual([]);
  expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
}

/**
 * Runs `operation` and cuts (or stalls) the proxy when `when` sees its event; returns the error and the
 * time from the fault to the error.
 */
async function faultAt(
  proxy: FaultProxy,
  fault: "cut" | "stall",
  direction: "up" | "down",
  when: (e: OperationEvent) => boolean,
  operation: (onEvent: (e: OperationEvent) => void) => Promise<unknown>,
  /** Bytes let through in `direction` after the event before the fault starts. */
  budget = 0,
): Promise<{ error: Error & { code?: string }; afterCutMs: number; events: OperationEvent[] }> {
  let armed = false;
  let cutAtMs: number | undefined;
  const events: OperationEvent[] = [];
  // The fault starts with the next bytes in that direction. Uploads (up): then a blip, not a dead store —
  // the store answers again once the stalled request has timed out (2 s after a cut), so the unfinished
  // upload can be aborted after the deployment is back (a store down for good is the warning's case).
  // Reads (down): the store stays away until the operation has ended. A read that the consumer paused
  // (backpressure: a slow load on a busy machine) longer than the idle timeout resumes once (S3Store), and
  // rightly succeeds if the store is back by then — CI39 saw a 2-s cut heal inside such a pause.
  const watch = setInterval(() => {
    if (armed && cutAtMs === undefined && (fault === "cut" ? proxy.cut : proxy.stalled)) {
      cutAtMs = Date.now();
      if (direction === "up")
        setTimeout(
          () => proxy.setMode({ kind: "pass" }),
          fault === "cut" ? 2_000 : STALL.idleTimeoutMs + 1_500,
        );
    }
  }, 10);
  const error = (await operation((e) => {
    events.push(e);
    if (!armed && when(e)) {
      armed = true;
      proxy.setMode({ kind: fault === "cut" ? "cutAfter" : "stallAfter", bytes: budget, direction });
    }
  }).then(
    () => {
      throw new Error("the operation succeeded despite the cut");
    },
    (e: unknown) => e,
  )) as Error & { code?: string };
  clearInterval(watch);
  expect(cutAtMs, `the fault was never injected; the operation failed with: ${error.message}`).toBeDefined();
  return { error, afterCutMs: Date.now() - (cutAtMs ?? 0), events };
}

/**
 * Once `neo4j-admin` holds the frozen store's lock, stops (SIGSTOP) the commands working on the store,
 * kills the frozen JVM, and waits until the supervisor has started Neo4j again and its user database has
 * failed to start on the locked store; then lets the commands go on. Returns the killed pid and how many
 * commands were held.
 */
async function killWhileDumpHoldsTheStore(): Promise<{ killed: number; held: number }> {
  // /proc/locks names the holder of a lock on the lock file's inode.
  const lockInode = statSync(join(stack.neo4j.dataDir, "databases", "neo4j", "database_lock")).ino;
  const holding = (pid: number) =>
    readFileSync("/proc/locks", "utf8")
      .split("\n")
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return Number(f[4]) === pid && Number((f[5] ?? "").split(":")[2]) === lockInode;
      });
  await waitUntil(
    "neo4j-admin to lock the store",
    async () => freezeOwnedProcesses(stack.neo4j.confDir).some((p) => holding(p.pid)),
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  const owned = freezeOwnedProcesses(stack.neo4j.confDir);
  for (const p of owned) process.kill(p.pid, "SIGSTOP");
  try {
    const [jvm] = findProcesses(
      (p) =>
        p.env.NEO4J_CONF === stack.neo4j.confDir &&
        p.env.IHB_OWNER === undefined &&
        /^State:\s+T/m.test(readFileSync(`/proc/${p.pid}/status`, "utf8")),
    );
    if (!jvm) throw new Error("no frozen Neo4j JVM of this stack");
    const restarts = stack.neo4jSupervisor.restarts;
    process.kill(jvm.pid, "SIGKILL");
    await waitUntil(
      "the supervisor to start Neo4j again",
      async () => stack.neo4jSupervisor.restarts > restarts,
      {
        timeoutMs: 30_000,
      },
    );
    await stack.neo4jSupervisor.lastRestart;
    await waitUntil(
      "Neo4j's user database to fail on the locked store",
      async () =>
        (
          await stack.neo4j.cypher(
            "SHOW DATABASES YIELD name, currentStatus WHERE name = 'neo4j' RETURN currentStatus",
            {
              database: "system",
            },
          )
        ).includes("offline"),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    return { killed: jvm.pid, held: owned.length };
  } finally {
    for (const p of owned) process.kill(p.pid, "SIGCONT");
  }
}

/** The newest archive a create test left, with the data it holds: the restore tests restore it. */
let lastArchive: { prefix: string; name: string; digest: InfrahubDataDigest } | undefined;

const phase = (name: OperationPhase) => (e: OperationEvent) => e.type === "phase-started" && e.phase === name;

describe("create: a storage cut or stall never leaves Infrahub down, and stores nothing", () => {
  // [where, when, staging, faults]: the Neo4j dump streamed while Neo4j is frozen (staging none), or
  // staged in its container first and streamed once Neo4j serves again (the default where there is room).
  const points: [string, (e: OperationEvent) => boolean, "auto" | "none", ("cut" | "stall")[]][] = [
    ["during the PostgreSQL dump", phase("dump-postgres"), "auto", ["cut", "stall"]],
    ["during the streamed Neo4j dump (Neo4j frozen)", phase("dump-neo4j"), "none", ["cut", "stall"]],
    ["while the staged Neo4j dump streams (Neo4j back)", phase("upload-staged-dump"), "auto", ["cut"]],
    [
      "at the commit (after Neo4j serves again)",
      (e) => e.type === "neo4j-serving" && e.database === "neo4j",
      "auto",
      ["cut", "stall"],
    ],
  ];
  for (const [where, when, staging, faults] of points)
    for (const fault of faults) {
      it(`${fault} ${where}`, async () => {
        const before = await digestInfrahubData(stack.neo4j, stack.postgres);
        await using proxy = await startFaultProxy({ host: "127.0.0.1", port: stack.minio.port });
        const prefix = `${fault}-${where.replace(/[^a-z]+/gi, "-")}`;
        const { error, afterCutMs, events } = await faultAt(proxy, fault, "up", when, (onEvent) =>
          createBackup({
            environment,
            store: store(proxy.endpoint, prefix, fault === "stall" ? STALL : {}),
            toolVersion: "t",
            force: true,
            freezeHelper,
            staging,
            onEvent,
          }),
        );
        console.log(`create, S3 ${fault} ${where}: ${afterCutMs} ms to fail: ${error.message}`);
        expect(error.code).toMatch(/^STORAGE_/);
        expect(error.message).toMatch(/Nothing was stored\./);
        if (where.includes("Neo4j dump") || where.includes("commit")) {
          expect(error.message).toMatch(/Neo4j serves again; the application services were started again\./);
        }
        // The services come back before storage is cleaned up: no warning-free minute of a frozen Neo4j.
        expect(afterCutMs).toBeLessThan(45_000);
        // No warning about the deployment or the upload (a busy machine may make a freeze start over).
        expect(
          events.flatMap((e) =>
            e.type === "warning" && e.code !== "FREEZE_RETRY" ? [`${e.code}: ${e.message}`] : [],
          ),
        ).toEqual([]);
        await expectDeploymentBack(before);
        await expectNothingStored(prefix);
      });
    }
});

describe("create: other faults", () => {
  it("the Neo4j JVM killed while frozen and started again by its supervisor before the dump ends: the dump completes, Neo4j is restarted on the free store", async () => {
    // As a systemd unit with Restart=always would: the new server starts while neo4j-admin holds the store
    // lock, so its user database fails to start ("Lock file has been locked by another process"). The JVM is
    // killed once the dump holds the lock, and the dump held until the database has failed: the same race
    // on every run.
    const before = await digestInfrahubData(stack.neo4j, stack.postgres);
    let fault: Promise<{ killed: number; held: number }> | undefined;
    // One operation at a time: a second create and a restore started while this one runs are refused (here
    // rather than in a create of their own: they end long before the dump that the fault waits for).
    let second: Promise<unknown> | undefined;
    let third: Promise<unknown> | undefined;
    const events: OperationEvent[] = [];
    const result = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "jvm-killed"),
      toolVersion: "t",
      force: true,
      freezeHelper,
      onEvent: (e) => {
        events.push(e);
        if (second === undefined && phase("dump-postgres")(e)) {
          second = createBackup({
            environment,
            store: store(stack.minio.endpoint, "refused"),
            toolVersion: "t",
            force: true,
            freezeHelper,
          }).catch((error: unknown) => error);
          third = restoreBackup({
            environment,
            store: store(stack.minio.endpoint, "jvm-killed"),
            name: "infrahub_backup_20200101_000000.tar.gz",
            freezeHelper,
          }).catch((error: unknown) => error);
        }
        if (phase("dump-neo4j")(e)) fault ??= killWhileDumpHoldsTheStore();
      },
    });
    const refusal = (await second) as Error & { code?: string };
    expect(refusal).toMatchObject({ code: "OPERATION_IN_PROGRESS" });
    expect(refusal.message).toMatch(/^a create is already running on local database since \d{4}-\d\d-\d\dT/);
    expect(await third).toMatchObject({ code: "OPERATION_IN_PROGRESS" });
    expect(await stack.minio.listObjectKeys(BUCKET, "refused/")).toEqual([]);
    expect(fault, "the fault was injected").toBeDefined();
    expect((await fault)?.held).toBeGreaterThan(0);
    expect(events).toContainEqual(expect.objectContaining({ type: "warning", code: "NEO4J_RESTARTED" }));
    expect(await stack.minio.listObjectKeys(BUCKET, "jvm-killed/")).toEqual([`jvm-killed/${result.name}`]);
    expect(
      (await verifyBackup({ store: store(stack.minio.endpoint, "jvm-killed"), name: result.name })).ok,
    ).toBe(true);
    await expectDeploymentBack(before);
  });

  it("a stale lock is taken over: what the dead holder stopped is started first, then the create runs", async () => {
    const before = await digestInfrahubData(stack.neo4j, stack.postgres);
    // A lock left by a process that died (this host, a pid that no longer runs) is taken over, and what
    // it had stopped (its record beside the lock) is started first.
    await stack.apps["task-worker"].stop();
    await writeFile(`${lockDir()}.held-down`, "task-worker\n");
    await mkdir(lockDir());
    await writeFile(
      join(lockDir(), "info"),
      JSON.stringify({
        id: "gone",
        operation: "restore",
        host: (await import("node:os")).hostname(),
        pid: 2 ** 22 + 7,
        startedAt: "2026-01-01T00:00:00Z",
      }),
    );
    await writeFile(join(lockDir(), "renewed"), "");
    const warnings: string[] = [];
    const { name } = await createBackup({
      environment,
      store: store(stack.minio.endpoint, "stale"),
      toolVersion: "t",
      force: true,
      freezeHelper,
      onEvent: (e) => {
        if (e.type === "warning") warnings.push(`${e.code}: ${e.message}`);
      },
    });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^LOCK: taking over a stale operation lock \(restore by .* since 2026-01-01T00:00:00Z, that process is gone\)$/,
      ),
      "LOCK: a previous operation ended without starting again what it had stopped (killed, or its start failed): started task-worker",
    ]);
    expect(existsSync(`${lockDir()}.held-down`)).toBe(false);
    await expectDeploymentBack(before);
    // The restore tests' archive: what the deployment holds now.
    lastArchive = { prefix: "stale", name, digest: before };
  }, 300_000); // a full create: ~60 s on a loaded 2-core machine
});

describe("restore: a fault in the destructive phase leaves each database as it was", () => {
  let archiveName: string;
  let source: string;
  let backedUp: InfrahubDataDigest;

  beforeAll(async () => {
    backedUp = await digestInfrahubData(stack.neo4j, stack.postgres);
    // The last create's archive when it holds this data (a run of the whole file); else one made here.
    if (lastArchive && JSON.stringify(lastArchive.digest) === JSON.stringify(backedUp)) {
      ({ prefix: source, name: archiveName } = lastArchive);
    } else {
      source = "source";
      archiveName = (
        await createBackup({
          environment,
          store: store(stack.minio.endpoint, source),
          toolVersion: "t",
          force: true,
          freezeHelper,
        })
      ).name;
    }
    // The deployment moves on after the backup: a failed restore must leave THIS state.
    await stack.neo4j.cypher("CREATE (:Node {uuid: 'written-after-the-backup'})");
    await stack.postgres.psql("UPDATE flow_run SET state_type = 'AFTER-BACKUP'");
  }, 300_000);

  // Archives hold prefect.dump first: PostgreSQL goes into its new database, then Neo4j is loaded, and
  // the metadata comes last. The fault is placed by bytes into pass 2's read (set when it starts): the
  // read runs ahead of the loads by whatever the buffers hold, so an event would place it by chance.
  const MiB = 1024 * 1024;
  const points: [string, (archiveBytes: number) => number][] = [
    ["during the PostgreSQL restore (into its new database)", () => 2 * MiB],
    ["during the Neo4j load (previous store set aside, PostgreSQL ready)", (size) => size - 3 * MiB],
  ];
  for (const [where, budgetOf] of points)
    for (const fault of ["cut", "stall"] as const) {
      it(`storage ${fault} ${where}`, async () => {
        const current = await digestInfrahubData(stack.neo4j, stack.postgres);
        expect(current).not.toEqual(backedUp);
        await using proxy = await startFaultProxy({ host: "127.0.0.1", port: stack.minio.port });
        const { error, afterCutMs } = await faultAt(
          proxy,
          fault,
          "down",
          phase("stop-services"),
          (onEvent) =>
            restoreBackup({
              environment,
              store: store(proxy.endpoint, source, fault === "stall" ? STALL : {}),
              name: archiveName,
              freezeHelper,
              // Streamed: pass 2 reads storage while the deployment is down.
              staging: "none",
              onEvent,
            }),
          budgetOf((await store(stack.minio.endpoint, source).head(archiveName)).size),
        );
        console.log(`restore, S3 ${fault} ${where}: ${afterCutMs} ms to fail: ${error.message}`);
        expect(error.code).toMatch(/^STORAGE_/);
        expect(error.message).toMatch(/PostgreSQL: unchanged\. Neo4j: unchanged/);
        expect(error.message).toMatch(/Neo4j serves again; the application services were started again\./);
        expect(error.message).toMatch(/Nothing was changed: fix the cause and run the restore again\.$/);
        await expectDeploymentBack(current);
      });
    }

  it("staged: a storage cut while pass 1 stages the dumps changes nothing, stops nothing, and leaves no staged file", async () => {
    const current = await digestInfrahubData(stack.neo4j, stack.postgres);
    const stopsBefore = stack.apps["infrahub-server"].stops;
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: stack.minio.port });
    const { error } = await faultAt(proxy, "cut", "down", phase("verify"), (onEvent) =>
      restoreBackup({
        environment,
        store: store(proxy.endpoint, source),
        name: archiveName,
        freezeHelper,
        onEvent,
      }),
    );
    console.log(`restore, S3 cut while staging: ${error.message}`);
    expect(error.code).toMatch(/^STORAGE_/);
    expect(stack.apps["infrahub-server"].stops).toBe(stopsBefore);
    expect(stagingLeftovers()).toEqual([]);
    await expectDeploymentBack(current);
  });

  it("a Neo4j dump that passes its checksum but does not load: the previous store is put back", async () => {
    const current = await digestInfrahubData(stack.neo4j, stack.postgres);
    await using work = await tempDir("ihb-bad-dump-");
    await extractArchive(await store(stack.minio.endpoint, source).get(archiveName), work.path);
    const dump = join(work.path, "backup", "database", "neo4j.dump");
    // A zstd-framed dump header followed by noise: right magic, right checksum (computed anew), not a store.
    await writeFile(dump, Buffer.concat([Buffer.from("DZV1"), Buffer.alloc(256 * 1024, 7)]));
    const local = new LocalStore({ directory: join(work.path, "store") });
    await mkdir(join(work.path, "store"));
    const bad = await createBackupFromFiles({
      store: local,
      toolVersion: "t",
      neo4jPath: dump,
      postgresPath: join(work.path, "backup", "prefect.dump"),
    });
    const error = (await restoreBackup({ environment, store: local, name: bad.name, freezeHelper }).catch(
      (e: unknown) => e,
    )) as Error & { code?: string };
    console.log(`restore of an unloadable dump: ${error.message}`);
    expect(error.code).toBe("DATABASE_COMMAND_FAILED");
    expect(error.message).toMatch(/Neo4j: unchanged \(the previous store was put back\)/);
    expect(error.message).toMatch(/PostgreSQL: unchanged\./);
    await expectDeploymentBack(current);
  });

  for (const cancelled of [false, true])
    it(`staged: PostgreSQL's switch fails after Neo4j already serves the restored store${cancelled ? ", the restore cancelled meanwhile" : ""}: both are put back`, async () => {
      const current = await digestInfrahubData(stack.neo4j, stack.postgres);
      const events: OperationEvent[] = [];
      let collision: string | undefined;
      let blocked: Promise<unknown> | undefined;
      // Cancelled once Neo4j serves the restored store: the freeze that puts its previous store back must
      // still run, as the release does after a signal.
      const cancel = new AbortController();
      const error = (await restoreBackup({
        environment,
        store: store(stack.minio.endpoint, source),
        name: archiveName,
        freezeHelper,
        signal: cancel.signal,
        onEvent: (e) => {
          events.push(e);
          if (cancelled && e.type === "neo4j-serving") cancel.abort(new Error("test: cancelled"));
          // A real fault, placed by name: a database already holding the name the switch renames the live one
          // to (the set-aside store's stamp is the restore's). The switch comes after both loads.
          const stamp = e.type === "store-set-aside" ? /\.previous-(\w+)$/.exec(e.path)?.[1] : undefined;
          if (stamp) {
            collision = `${stack.postgres.app.database}__ihb_prev_${stamp}`;
            blocked = stack.postgres.psql(`CREATE DATABASE "${collision}"`, {
              database: "postgres",
              as: "superuser",
            });
          }
        },
      }).catch((e: unknown) => e)) as Error & { code?: string };
      await blocked;
      try {
        console.log(`restore whose switch fails after Neo4j serves the restored store: ${error.message}`);
        for (const e of events) if (e.type === "warning") console.log(`  warning ${e.code}: ${e.message}`);
        expect(collision).toBeDefined();
        const order = events
          .filter((e) => e.type === "neo4j-serving" || e.type === "neo4j-stopped" || e.type === "warning")
          .map((e) => (e.type === "warning" ? `warning ${e.code}` : e.type));
        // Served early (before the switch), frozen again for the rollback, served again on the previous store.
        expect(order).toEqual(["neo4j-stopped", "neo4j-serving", "neo4j-stopped", "neo4j-serving"]);
        expect(error.message).toMatch(
          /PostgreSQL: unchanged\. Neo4j: unchanged \(the previous store was put back\)/,
        );
        expect(error.message).toMatch(/Neo4j serves again; the application services were started again\./);
        await expectDeploymentBack(current);
        expect(stagingLeftovers()).toEqual([]);
      } finally {
        if (collision)
          await stack.postgres.psql(`DROP DATABASE IF EXISTS "${collision}"`, {
            database: "postgres",
            as: "superuser",
          });
      }
    });

  it("after the faults, the same restore without one brings the backup's data", async () => {
    await restoreBackup({
      environment,
      store: store(stack.minio.endpoint, source),
      name: archiveName,
      freezeHelper,
    });
    await expectDeploymentBack(backedUp);
  });
});
