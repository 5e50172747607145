// ci-cost: 135 s (157 s with a create more, measured alone on a 2-core machine with other work running; tools/vitest/cost-first-sequencer.ts runs costly files first)
// SIGTERM and SIGKILL of the CLI process in each phase of create and restore, against a real local
// Infrahub stack. SIGTERM: the CLI winds up like after any failure and says what each database holds.
// SIGKILL: nothing in the CLI runs any more; the freeze helper's lease must resume Neo4j (and put the
// previous store back during a restore) by itself, and the next operation takes the stale lock over.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  digestInfrahubData,
  findProcesses,
  freezeOwnedProcesses,
  type InfrahubDataDigest,
  type InfrahubLocalStack,
  seedBulkData,
  seedInfrahubData,
  startInfrahubLocalStack,
  type TempDir,
  tempDir,
  waitUntil,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, type CliResult, cleanEnv, removeCli, runCli, startCli } from "./cli-process.js";

const BUCKET = "signals";
const LONG = 300_000;
let stack: InfrahubLocalStack;
let dir: TempDir;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  buildCli();
  [stack, dir] = await Promise.all([startInfrahubLocalStack(), tempDir("ihb-cli-signals-")]);
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  // Each dump lasts seconds, so a signal sent when its phase starts lands while it streams.
  await seedBulkData(stack.neo4j, stack.postgres, { postgresMiB: 12, neo4jNodes: 30_000 });
  const config = join(dir.path, "local.json");
  await stack.writeLocalConfig(config);
  env = cleanEnv({
    INFRAHUB_LOCAL_CONFIG: config,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "infrahub",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
    INFRAHUB_FORCE: "true",
  });
}, LONG);

afterAll(async () => {
  removeCli();
  await stack?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
}, 120_000);

/** Runs the CLI and sends `signal` as soon as a log line matches `when`; resolves with its result. */
async function signalAt(
  args: string[],
  when: RegExp,
  signal: NodeJS.Signals,
): Promise<CliResult & { sentAt: number | undefined; endedAt: number }> {
  const { child, result } = startCli([...args, "--log-format", "json"], { env });
  let sentAt: number | undefined;
  let seen = "";
  child.stderr?.on("data", (d: Buffer) => {
    seen += d.toString();
    if (sentAt === undefined && when.test(seen)) {
      sentAt = Date.now();
      child.kill(signal);
    }
  });
  const r = await result;
  return { ...r, sentAt, endedAt: Date.now() };
}

function errorOf(stderr: string): { message: string; code: string; exit_code: number } | undefined {
  const line = stderr
    .split("\n")
    .filter((l) => l.includes('"type":"error"'))
    .at(-1);
  return line ? (JSON.parse(line) as { message: string; code: string; exit_code: number }) : undefined;
}

/** SIGKILLs the CLI once its log matches `when`: Neo4j must serve again within the freeze's lease, by itself. */
async function killedAndBack(args: string[], when: RegExp, what: string): Promise<void> {
  const r = await signalAt(args, when, "SIGKILL");
  expect(r.signal).toBe("SIGKILL");
  const back = await expectNeo4jServingSoon(60_000);
  console.log(`${what}: Neo4j serving again ${back} ms after the CLI died`);
  // The lease is 20 s, plus Neo4j's restart.
  expect(back).toBeLessThan(50_000);
  expectNothingLeftOnTheStore();
}

/** What the newest archive in the bucket holds, once a test made it. */
let lastBackup: InfrahubDataDigest | undefined;

const lockDir = () => join(dirname(stack.neo4j.pidFile), "infrahub-backup.lock");

async function expectNeo4jServingSoon(withinMs: number): Promise<number> {
  const started = Date.now();
  await waitUntil(
    "Neo4j serving its user database",
    async () => {
      try {
        return /1$/.test((await stack.neo4j.cypher("RETURN 1 AS ok")).trim());
      } catch {
        return false;
      }
    },
    { timeoutMs: withinMs, intervalMs: 1_000 },
  );
  return Date.now() - started;
}

function expectNothingLeftOnTheStore(): void {
  expect(freezeOwnedProcesses(stack.neo4j.confDir)).toEqual([]);
  expect(
    findProcesses((p) => (p.argv[0] ?? "").endsWith("neo4j-freeze") && p.argv.includes(stack.neo4j.pidFile)),
  ).toEqual([]);
}

describe("SIGTERM: the CLI winds up and says what is true (and SIGKILL of a create, whose next run makes the restores' archive)", () => {
  const phases: [string, RegExp][] = [
    ["the PostgreSQL dump", /dumping PostgreSQL/],
    ["the Neo4j dump", /dumping Neo4j database/],
  ];
  for (const [phase, when] of phases) {
    it(`create, during ${phase}: exit 143, nothing stored, Neo4j serving, data unchanged`, async () => {
      const before = await digestInfrahubData(stack.neo4j, stack.postgres);
      const r = await signalAt(["create", "--s3-upload"], when, "SIGTERM");
      const error = errorOf(r.stderr);
      console.log(
        `create, SIGTERM during ${phase}: exit ${r.code} ${r.endedAt - (r.sentAt ?? 0)} ms after the signal: ${error?.message}`,
      );
      expect(r.sentAt).toBeDefined();
      expect(r.code).toBe(143);
      expect(error).toMatchObject({ code: "CANCELLED", exit_code: 143 });
      expect(error?.message).toMatch(/^backup cancelled: .*Nothing was stored\./);
      if (phase === "the Neo4j dump") expect(error?.message).toMatch(/Neo4j serves again; /);
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([]);
      expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
      expect(existsSync(lockDir())).toBe(false);
      expectNothingLeftOnTheStore();
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
    });
  }

  // Before the restore tests: the create that follows the kill is their archive.
  describe("SIGKILL (create)", () => {
    it("create, during the Neo4j dump: Neo4j resumes by itself within its lease; the next create takes the stale lock over", async () => {
      const before = await digestInfrahubData(stack.neo4j, stack.postgres);
      const keysBefore = await stack.minio.listObjectKeys(BUCKET);
      await killedAndBack(
        ["create", "--s3-upload"],
        /dumping Neo4j database/,
        "create, SIGKILL during the Neo4j dump",
      );
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
      // No object: the archive was never committed.
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual(keysBefore);

      // The dead run's lock is taken over at once (its process is gone on this host); its unfinished
      // upload is swept once old enough.
      expect(existsSync(lockDir())).toBe(true);
      const next = await runCli(["create", "--s3-upload", "--stale-upload-age", "1s"], { env });
      expect(next.code, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/taking over a stale operation lock \(create by .*that process is gone\)/);
      expect(await stack.minio.listMultipartUploads(BUCKET), next.stderr).toEqual([]);
      // The restore tests' archive (the newest): a backup of what the deployment holds now.
      lastBackup = before;
    });
  });

  describe("restore", () => {
    let backedUp: InfrahubDataDigest;
    beforeAll(async () => {
      backedUp = await digestInfrahubData(stack.neo4j, stack.postgres);
      // `--latest` restores the newest archive: the SIGKILL test's next create when it ran (this data), else one made here.
      if (JSON.stringify(lastBackup) !== JSON.stringify(backedUp)) {
        const r = await runCli(["create", "--s3-upload"], { env });
        expect(r.code, r.stderr).toBe(0);
      }
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'after-the-backup'})");
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'AFTER-BACKUP'");
    }, LONG);

    // Archives hold prefect.dump first (PostgreSQL is dumped first, online): PostgreSQL is restored
    // into its new database, then Neo4j's store is set aside and the dump loaded.
    const restorePhases: [string, RegExp, string][] = [
      [
        "the PostgreSQL restore (before Neo4j is touched)",
        /restoring PostgreSQL database/,
        "Neo4j: unchanged",
      ],
      [
        "the Neo4j load (previous store set aside)",
        /set aside at/,
        "Neo4j: unchanged (the previous store was put back)",
      ],
    ];
    for (const [phase, when, neo4jState] of restorePhases) {
      it(`during ${phase}: exit 143, both databases unchanged and serving`, async () => {
        const current = await digestInfrahubData(stack.neo4j, stack.postgres);
        expect(current).not.toEqual(backedUp);
        const r = await signalAt(["restore", "--latest", "--s3", "--yes"], when, "SIGTERM");
        const error = errorOf(r.stderr);
        console.log(
          `restore, SIGTERM during ${phase}: exit ${r.code} ${r.endedAt - (r.sentAt ?? 0)} ms after the signal: ${error?.message}`,
        );
        expect(r.code).toBe(143);
        expect(error?.message).toMatch(/^restore cancelled: /);
        expect(error?.message).toContain(`PostgreSQL: unchanged. ${neo4jState}.`);
        expect(error?.message).toMatch(/Nothing was changed: fix the cause and run the restore again\.$/);
        expectNothingLeftOnTheStore();
        expect(existsSync(lockDir())).toBe(false);
        expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(current);
      });
    }

    it("after the point of no return (the restored Neo4j serves): the restore completes and says so, exit 0", async () => {
      const r = await signalAt(
        ["restore", "--latest", "--s3", "--yes"],
        /Neo4j serving database neo4j again/,
        "SIGTERM",
      );
      expect(r.sentAt).toBeDefined();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/Restore completed successfully/);
      expect(r.stderr).toMatch(/received SIGTERM after the restore had completed/);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(backedUp);
    });
  });
});

describe("SIGKILL: Neo4j never stays frozen, the previous store comes back, the next run goes on", () => {
  it("restore, during the Neo4j load: the helper puts the previous store back and resumes Neo4j", async () => {
    await stack.neo4j.cypher("CREATE (:Node {uuid: 'before-the-killed-restore'})");
    const before = await digestInfrahubData(stack.neo4j, stack.postgres);
    await killedAndBack(
      ["restore", "--latest", "--s3", "--yes"],
      /set aside at/,
      "restore, SIGKILL during the Neo4j load",
    );
    // The graph is the one from before the restore, marker included; PostgreSQL came later in the archive.
    expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
  });
});
