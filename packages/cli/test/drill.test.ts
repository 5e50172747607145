// ci-cost: 110 s (measured alone; tools/vitest/cost-first-sequencer.ts runs costly files first)
// `drill` as users run it: the bundled CLI against archives in MinIO and a directory, with real Neo4j and
// PostgreSQL started and removed by the drill itself.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createBackupFromFiles, LocalStore, S3Store } from "@infrahub-backup/core";
import {
  findProcesses,
  type MinioServer,
  type PrometheusSample,
  parseExposition,
  postgresBin,
  run,
  seedInfrahubData,
  startMinio,
  startNeo4j,
  startPostgres,
  type TempDir,
  tempDir,
  toolDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, type CliResult, cleanEnv, removeCli, startCli } from "./cli-process.js";

const BUCKET = "drills";
let dir: TempDir;
let minio: MinioServer;
let env: NodeJS.ProcessEnv;
let neo4jDump: string;
let pgDump: string;
let local: LocalStore;

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  buildCli();
  dir = await tempDir("ihb-cli-drill-");
  minio = await startMinio();
  await minio.createBucket(BUCKET);
  {
    await using neo4j = await startNeo4j();
    await using postgres = await startPostgres();
    await seedInfrahubData(neo4j, postgres, { nodes: 20, flowRuns: 30 });
    await neo4j.stop();
    await run(join(neo4j.binDir, "neo4j-admin"), ["database", "dump", `--to-path=${dir.path}`, "neo4j"], {
      env: neo4j.env(),
    });
    await run(postgres.bin("pg_dump"), ["-Fc", "-f", join(dir.path, "prefect.dump")], {
      env: postgres.env("app"),
    });
  }
  neo4jDump = join(dir.path, "neo4j.dump");
  pgDump = join(dir.path, "prefect.dump");
  local = new LocalStore({ directory: join(dir.path, "backups") });
  env = cleanEnv({
    INFRAHUB_S3_ENDPOINT: minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "infrahub",
    AWS_ACCESS_KEY_ID: minio.rootUser,
    AWS_SECRET_ACCESS_KEY: minio.rootPassword,
    INFRAHUB_DRILL_NEO4J_HOME: toolDir("neo4j", "NEO4J_VERSION"),
    INFRAHUB_DRILL_PG_BIN: postgresBin("postgres").replace(/\/postgres$/, ""),
    INFRAHUB_LOG_FORMAT: "json",
  });
}, 300_000);

afterAll(async () => {
  removeCli();
  await minio?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

/** A Community archive of the seeded dumps in the local store (another Prefect dump if given); its path. */
async function localArchive(postgresPath = pgDump): Promise<string> {
  const { name } = await createBackupFromFiles({
    store: local,
    toolVersion: "t",
    neo4jPath: neo4jDump,
    postgresPath,
  });
  return join(local.directory, name);
}

/** The samples of the drill's group in the node-exporter textfile `file`, by metric name. */
async function drillSeries(file: string): Promise<Map<string, PrometheusSample>> {
  const samples = parseExposition(await readFile(file, "utf8"));
  const group = { job: "infrahub-backup", deployment: "local", operation: "drill" };
  expect(samples.every((s) => Object.entries(group).every(([k, v]) => s.labels[k] === v))).toBe(true);
  return new Map(samples.map((s) => [s.name, s]));
}

/** Runs `drill` with its own work directory; checks nothing of it is left afterwards (processes, files). */
async function drill(
  args: string[],
  options: { onStderr?: (text: string, kill: (signal: NodeJS.Signals) => void) => void } = {},
): Promise<CliResult & { lines: Record<string, unknown>[] }> {
  await using work = await tempDir("ihb-cli-drill-work-");
  // PostgreSQL runs unprivileged when the tests run as root: it must traverse the work directory.
  await chmod(work.path, 0o711);
  const { child, result } = startCli(["drill", ...args, "--drill-work-dir", work.path], { env });
  if (options.onStderr) {
    let seen = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      options.onStderr?.(seen, (signal) => child.kill(signal));
    });
  }
  const r = await result;
  const mine = findProcesses(
    (p) =>
      p.env.INFRAHUB_BACKUP_DRILL !== undefined &&
      `${p.env.NEO4J_CONF ?? ""} ${p.argv.join(" ")}`.includes(work.path),
  );
  expect(mine).toEqual([]);
  expect(await readdir(work.path)).toEqual([]);
  return { ...r, lines: jsonLines(r.stderr) };
}

// Each drill starts a Neo4j JVM and runs cypher-shell JVMs: minutes on a busy 2-core machine.
describe("infrahub-backup drill", { timeout: 400_000 }, () => {
  it("--latest --s3: a Community archive with the task manager loads, serves and passes; checks are typed JSON lines; --metrics-file has the drill's success", async () => {
    const s3 = new S3Store({
      bucket: BUCKET,
      prefix: "infrahub",
      endpoint: minio.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword },
    });
    await createBackupFromFiles({ store: s3, toolVersion: "t", neo4jPath: neo4jDump, postgresPath: pgDump });
    const metricsFile = join(dir.path, "drill-passed.prom");
    const before = Date.now() / 1000;
    const r = await drill([
      "--latest",
      "--s3",
      "--check-cypher",
      "MATCH (d:InfraDevice) WHERE d.uuid = 'node-1' RETURN count(d)==1",
      "--check-sql",
      "SELECT count(*) FROM flow_run==30",
      "--metrics-file",
      metricsFile,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      ok: boolean;
      postgres: string;
      checks: { name: string; status: string; value?: unknown }[];
    };
    expect(result).toMatchObject({ ok: true, postgres: "loaded" });
    // The built-in checks count what the seed wrote (20 devices, 30 flow runs with a task run each).
    const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]));
    expect(byName["neo4j-nodes"]).toMatchObject({ status: "passed", value: 1 + 20 * 5 });
    expect(byName["neo4j-relationships"]).toMatchObject({ status: "passed", value: 20 * 4 + 19 });
    expect(byName["infrahub-root"]).toMatchObject({ status: "passed", value: 1 });
    // The seed has no :SchemaNode: the drill cannot tell, and says so.
    expect(byName["infrahub-schema"]).toMatchObject({ status: "unknown" });
    expect(byName["prefect-flow-run-rows"]).toMatchObject({ status: "passed", value: 30 });
    expect(byName["prefect-task-run-rows"]).toMatchObject({ status: "passed", value: 30 });
    expect(byName["cypher-flag"]).toMatchObject({ status: "passed" });
    expect(byName["sql-flag"]).toMatchObject({ status: "passed" });
    const summary = r.lines.find((l) => l.type === "summary");
    expect(summary).toMatchObject({ command: "drill", ok: true, failed: 0 });
    expect(r.lines.filter((l) => typeof l.check === "string" && typeof l.status === "string").length).toBe(
      result.checks.length,
    );
    const series = await drillSeries(metricsFile);
    expect(series.get("infrahub_backup_last_attempt_success")?.value).toBe(1);
    expect(series.get("infrahub_backup_last_success_timestamp_seconds")?.value).toBeGreaterThanOrEqual(
      before,
    );
    expect(series.get("infrahub_backup_duration_seconds")?.value).toBeGreaterThan(0);
    expect(series.get("infrahub_backup_archive_size_bytes")?.value).toBeGreaterThan(0);
    expect(series.has("infrahub_backup_last_failure_info")).toBe(false);
  });

  it("a failing --check-sql: exit 12, DRILL_CHECK_FAILED naming the check, and in --metrics-file", async () => {
    const archive = await localArchive();
    const metricsFile = join(dir.path, "drill-failed.prom");
    const r = await drill([
      archive,
      "--check-sql",
      "SELECT count(*) FROM flow_run==31",
      "--metrics-file",
      metricsFile,
    ]);
    expect(r.code, r.stderr).toBe(12);
    const error = r.lines.find((l) => l.type === "error");
    expect(error).toMatchObject({ code: "DRILL_CHECK_FAILED", exit_code: 12 });
    expect(String(error?.message)).toMatch(/sql-flag \(returned "30", expected "31"\)/);
    const series = await drillSeries(metricsFile);
    expect(series.get("infrahub_backup_last_attempt_success")?.value).toBe(0);
    expect(series.get("infrahub_backup_last_failure_info")).toMatchObject({
      labels: { code: "DRILL_CHECK_FAILED", category: "check-failed" },
      value: 1,
    });
    expect(series.has("infrahub_backup_last_success_timestamp_seconds")).toBe(false);
  });

  it("a Prefect dump that verifies but is not a pg_dump archive: exit 6, DRILL_LOAD_FAILED with a clear message", async () => {
    await mkdir(join(dir.path, "bad"), { recursive: true });
    const badPg = join(dir.path, "bad", "prefect.dump");
    await writeFile(badPg, Buffer.concat([Buffer.from("PGDMP"), randomBytes(64_000)]));
    const archive = await localArchive(badPg);
    const r = await drill([archive]);
    expect(r.code, r.stderr).toBe(6);
    const error = r.lines.find((l) => l.type === "error");
    expect(error).toMatchObject({ code: "DRILL_LOAD_FAILED" });
    expect(String(error?.message)).toMatch(/^prefect\.dump does not load: pg_restore/);
    expect(String(error?.hint)).toMatch(/cannot be restored/);
  });

  it("a second SIGTERM exits at once: the last-resort exit hook still kills both databases and removes their files", async () => {
    const archive = await localArchive();
    let sent = 0;
    const r = await drill([archive], {
      onStderr: (text, kill) => {
        if (sent === 0 && text.includes("drill: starting Neo4j")) {
          sent = 1;
          kill("SIGTERM");
          setTimeout(() => kill("SIGTERM"), 200);
        }
      },
    });
    expect(sent).toBe(1);
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/received SIGTERM again: exiting now/);
  });

  it("SIGTERM while Neo4j starts: exit 143, the throwaway databases and their files are gone", async () => {
    const archive = await localArchive();
    let sent = false;
    const r = await drill([archive], {
      onStderr: (text, kill) => {
        if (!sent && text.includes("drill: starting Neo4j")) {
          sent = true;
          kill("SIGTERM");
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code, r.stderr).toBe(143);
    expect(r.lines.find((l) => l.type === "error")).toMatchObject({ code: "CANCELLED" });
  });
});
