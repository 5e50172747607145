// End to end: the built CLI as a child process against a real local Infrahub stack (Neo4j Community,
// PostgreSQL, MinIO), driven through --local-config / INFRAHUB_LOCAL_CONFIG.
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  digestInfrahubData,
  type InfrahubLocalStack,
  seedInfrahubData,
  startInfrahubLocalStack,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, runCli } from "./cli-process.js";

const BUCKET = "backups";
const LONG = 300_000;
let stack: InfrahubLocalStack;
let dir: TempDir;
let env: NodeJS.ProcessEnv;

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  buildCli();
  [stack, dir] = await Promise.all([startInfrahubLocalStack(), tempDir("ihb-cli-e2e-")]);
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  const config = join(dir.path, "local.json");
  // The testkit's start/stop controls are in-process objects; a config file describes services only.
  await writeFile(
    config,
    JSON.stringify(stack.environmentOptions, (k, v) => (k === "control" ? undefined : v)),
  );
  env = cleanEnv({
    INFRAHUB_LOCAL_CONFIG: config,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "infrahub",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
    BACKUP_DIR: join(dir.path, "backups"),
  });
}, LONG);

afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
}, 120_000);

describe("CLI end to end on a local Infrahub stack", () => {
  let firstName: string;
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it(
    "create --s3-upload streams the archive to S3 (no local file), JSON logs end with a summary",
    async () => {
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      const r = await runCli(["create", "--s3-upload", "--log-format", "json"], { env });
      expect(r.stderr).not.toMatch(/"type":"error"/);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as { type: string; name: string; locations: string[] };
      expect(result.type).toBe("result");
      firstName = result.name;
      expect(firstName).toMatch(/^infrahub_backup_\d{8}_\d{6}\.tar\.gz$/);
      expect(result.locations).toEqual([`s3://${BUCKET}/infrahub/${firstName}`]);
      const lines = jsonLines(r.stderr);
      expect(lines.every((l) => typeof l.type === "string")).toBe(true);
      expect(lines.find((l) => l.msg === "Backup created successfully")).toMatchObject({
        filename: firstName,
        path: `s3://${BUCKET}/infrahub/${firstName}`,
      });
      expect(lines.at(-1)).toMatchObject({ type: "summary", command: "create" });
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`infrahub/${firstName}`]);
      expect(existsSync(join(dir.path, "backups", firstName))).toBe(false);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    },
    LONG,
  );

  it("list --s3 prints it on stdout", async () => {
    const r = await runCli(["list", "--s3"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(firstName);
    expect(r.stdout).toContain(`s3://${BUCKET}/infrahub/${firstName}`);
  });

  it("verify --latest --s3 checks every checksum", async () => {
    const r = await runCli(["verify", "--latest", "--s3"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`s3://${BUCKET}/infrahub/${firstName}: OK`);
    expect(r.stdout).toMatch(/database\/neo4j\.dump/);
  });

  it(
    "restore --latest --s3 --dry-run validates and prints the plan, changing nothing",
    async () => {
      await stack.neo4j.cypher("MATCH (v:AttributeValue) WITH v LIMIT 20 SET v.value = 'changed-by-test'");
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-backup'})");
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'MARKED';");
      const changed = await digestInfrahubData(stack.neo4j, stack.postgres);
      expect(changed).not.toEqual(original);
      const r = await runCli(["restore", "--latest", "--s3", "--dry-run"], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Dry run: nothing was changed.");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(changed);
    },
    LONG,
  );

  it(
    "restore --latest --s3 --yes brings the data back exactly",
    async () => {
      const r = await runCli(["restore", "--latest", "--s3", "--yes"], { env });
      expect(r.stderr).toContain("Restore completed successfully");
      expect(r.code).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    },
    LONG,
  );

  it(
    "create --s3-upload --s3-keep-local writes locally and uploads; prune --retention-count 1 --s3 --yes keeps the newest",
    async () => {
      await new Promise((r) => setTimeout(r, 1100)); // a new second-resolution stamp
      const r = await runCli(["create", "--s3-upload", "--s3-keep-local"], { env });
      expect(r.stderr).toContain("Backup created successfully");
      expect(r.code).toBe(0);
      const [localPath, s3Location] = r.stdout.trim().split("\n");
      const second = localPath?.split("/").at(-1) ?? "";
      expect(localPath).toBe(join(dir.path, "backups", second));
      expect(existsSync(localPath ?? "")).toBe(true);
      expect(s3Location).toBe(`s3://${BUCKET}/infrahub/${second}`);
      expect((await stack.minio.listObjectKeys(BUCKET)).sort()).toEqual(
        [`infrahub/${firstName}`, `infrahub/${second}`].sort(),
      );

      const dry = await runCli(["prune", "--retention-count", "1", "--s3", "--dry-run"], { env });
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain(`would delete\t${firstName}`);
      expect((await stack.minio.listObjectKeys(BUCKET)).length).toBe(2);

      const p = await runCli(["prune", "--retention-count", "1", "--s3", "--yes"], { env });
      expect(p.code).toBe(0);
      expect(p.stdout).toContain(`deleted\t${firstName}`);
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`infrahub/${second}`]);

      const v = await runCli(["verify", localPath ?? ""], { env });
      expect(v.code).toBe(0);
      const l = await runCli(["list", "--log-format", "json"], { env });
      const listed = JSON.parse(l.stdout) as { archives: { name: string }[] };
      expect(listed.archives.map((a) => a.name)).toEqual([second]);
    },
    LONG,
  );
});
