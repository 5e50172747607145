// ci-cost: 130 s (the two files it merges measured alone on an idle 2-core machine: 55 s + 34 s for the restricted-users case, and 90 s for monitoring, of which one stack start, a create and a restore are now shared)
// End to end: the built CLI as a child process against a real local Infrahub stack (Neo4j Community,
// PostgreSQL, MinIO), driven through --local-config / INFRAHUB_LOCAL_CONFIG. Monitoring rides on the same
// runs: they push to a real Pushgateway (scraped over HTTP like Prometheus does), write a node-exporter
// textfile, and call webhooks (a local receiver: a test double of the chat tool).
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  digestInfrahubData,
  freePort,
  type InfrahubLocalStack,
  type PrometheusSample,
  type PushgatewayServer,
  parseExposition,
  seedInfrahubData,
  startInfrahubLocalStack,
  startPushgateway,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, jsonLines, removeCli, runCli } from "./cli-process.js";
import { startWebhookReceiverDouble, type WebhookReceiverDouble } from "./webhook-receiver-double.js";

const BUCKET = "backups";
const LONG = 300_000;
const GROUP = { job: "infrahub-backup", deployment: "local" };
let stack: InfrahubLocalStack;
let dir: TempDir;
let gateway: PushgatewayServer;
let receiver: WebhookReceiverDouble;
let env: NodeJS.ProcessEnv;
let metricsFile: string;

/** The one value of `name` in the group of `operation`. */
function value(samples: PrometheusSample[], name: string, operation: string, labels: object = {}): number {
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.entries({ ...GROUP, operation, ...labels }).every(([k, v]) => s.labels[k] === v),
  );
  expect(found, `${name}{operation=${operation}}`).toHaveLength(1);
  return (found[0] as PrometheusSample).value;
}

/** The Pushgateway's series and the textfile's, each checked the same way. */
async function bothSeries(): Promise<PrometheusSample[][]> {
  return [await gateway.samples(), parseExposition(await readFile(metricsFile, "utf8"))];
}

const monitoringArgs = () => ["--metrics-pushgateway", gateway.url, "--metrics-file", metricsFile];

beforeAll(async () => {
  buildCli();
  [stack, dir, gateway, receiver] = await Promise.all([
    startInfrahubLocalStack(),
    tempDir("ihb-cli-e2e-"),
    startPushgateway({ basicAuth: true }),
    startWebhookReceiverDouble("ok"),
  ]);
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  const config = join(dir.path, "local.json");
  await stack.writeLocalConfig(config);
  metricsFile = join(dir.path, "textfile", "infrahub-backup.prom");
  await mkdir(join(dir.path, "textfile"));
  env = cleanEnv({
    INFRAHUB_LOCAL_CONFIG: config,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "infrahub",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
    BACKUP_DIR: join(dir.path, "backups"),
    INFRAHUB_METRICS_PUSHGATEWAY_USERNAME: gateway.basicAuth?.username,
    INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD: gateway.basicAuth?.password,
  });
}, LONG);

afterAll(async () => {
  removeCli();
  await receiver?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
}, 120_000);

describe("CLI end to end on a local Infrahub stack", () => {
  let firstName: string;
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;
  let createdAfter: number;
  let successAt: number;
  let key: string;

  it(
    "create --s3-upload streams the archive to S3 (no local file), JSON logs end with a summary",
    async () => {
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      createdAfter = Date.now() / 1000;
      const r = await runCli(
        [
          "create",
          "--s3-upload",
          "--log-format",
          "json",
          ...monitoringArgs(),
          "--notify-webhook",
          receiver.url,
          "--notify-on",
          "always",
        ],
        { env },
      );
      expect(r.stderr).not.toMatch(/"type":"error"|METRICS_NOT_PUBLISHED|NOTIFICATION_NOT_SENT/);
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
      // The preflight's size estimate gives the dumps' progress a total: percent and ETA, marked estimated.
      expect(
        lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("size estimate: ")),
      ).toMatchObject({
        bytes: expect.any(Number),
        neo4j_store_bytes: expect.any(Number),
        postgres_bytes: expect.any(Number),
      });
      expect(lines.find((l) => l.type === "progress" && l.entry === "prefect.dump")).toMatchObject({
        total_estimated: true,
        percent: expect.any(Number),
        eta_s: expect.any(Number),
      });
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`infrahub/${firstName}`]);
      expect(existsSync(join(dir.path, "backups", firstName))).toBe(false);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    },
    LONG,
  );

  it("monitoring of that create: success series in the Pushgateway (basic auth) and the textfile, a webhook with --notify-on always", async () => {
    const location = `s3://${BUCKET}/infrahub/${firstName}`;
    for (const samples of await bothSeries()) {
      successAt = value(samples, "infrahub_backup_last_success_timestamp_seconds", "create");
      expect(successAt).toBeGreaterThanOrEqual(createdAfter);
      expect(value(samples, "infrahub_backup_last_attempt_timestamp_seconds", "create")).toBe(successAt);
      expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(1);
      expect(value(samples, "infrahub_backup_duration_seconds", "create")).toBeGreaterThan(0);
      expect(value(samples, "infrahub_backup_archive_size_bytes", "create")).toBeGreaterThan(0);
      expect(value(samples, "infrahub_backup_neo4j_offline_seconds", "create")).toBeGreaterThan(0);
      for (const database of ["neo4j", "prefect"])
        expect(value(samples, "infrahub_backup_dump_size_bytes", "create", { database })).toBeGreaterThan(0);
      expect(samples.some((s) => s.name === "infrahub_backup_last_failure_info")).toBe(false);
    }
    expect(receiver.requests).toHaveLength(1);
    const sent = receiver.requests[0];
    expect(sent?.method).toBe("POST");
    expect(sent?.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(sent?.body ?? "{}") as Record<string, unknown>;
    expect(body).toMatchObject({
      event: "infrahub-backup.create",
      status: "succeeded",
      operation: "create",
      deployment: "local",
      archive: { location, size_bytes: expect.any(Number) },
      dump_size_bytes: { neo4j: expect.any(Number), prefect: expect.any(Number) },
      neo4j_offline_seconds: expect.any(Number),
      duration_seconds: expect.any(Number),
      text: expect.stringContaining("create succeeded on local"),
    });
    for (const secret of [stack.minio.rootPassword, gateway.basicAuth?.password ?? "?"])
      expect(sent?.body).not.toContain(secret);
  });

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
    "a failing create (missing bucket): exit code unchanged, success 0 + failure info, last success kept; a refused and a hanging webhook only warn, within bounded time",
    async () => {
      const earlierFile = await readFile(metricsFile, "utf8");
      await using hanging = await startWebhookReceiverDouble("hang", "T111-hanging");
      const refused = `http://127.0.0.1:${await freePort()}/hooks/T222-refused`;
      const started = Date.now();
      const r = await runCli(
        [
          "create",
          "--s3-upload",
          ...monitoringArgs(),
          ...[receiver.url, refused, hanging.url].flatMap((url) => ["--notify-webhook", url]),
          "--monitoring-timeout",
          "1s",
          "--log-format",
          "json",
        ],
        { env: { ...env, INFRAHUB_S3_BUCKET: "no-such-bucket" } },
      );
      const elapsed = Date.now() - started;
      const lines = jsonLines(r.stderr);
      const error = lines.find((l) => l.type === "error");
      expect(error).toMatchObject({ code: "STORAGE_NO_BUCKET", category: "storage", exit_code: 9 });
      expect(r.code).toBe(9);
      // 3 attempts of 1 s with 1 s + 2 s between them: the hanging receiver costs ~6 s, not forever.
      expect(elapsed).toBeLessThan(30_000);
      const warnings = lines.filter((l) => l.code === "NOTIFICATION_NOT_SENT");
      expect(warnings.map((w) => w.msg)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^webhook 2 of 3 not notified: connection refused/),
          expect.stringMatching(/^webhook 3 of 3 not notified: no answer within 1 s/),
        ]),
      );
      expect(warnings).toHaveLength(2);
      // The error stays the last line (scripts read it), after the warnings of the notifications.
      expect(lines.at(-1)).toMatchObject({ type: "error", code: "STORAGE_NO_BUCKET" });
      for (const secret of ["T000", "T111", "T222"]) expect(r.stderr + r.stdout).not.toContain(secret);
      expect(hanging.requests.length).toBeGreaterThanOrEqual(1);
      const body = JSON.parse(receiver.requests.at(-1)?.body ?? "{}") as Record<string, unknown>;
      expect(body).toMatchObject({
        event: "infrahub-backup.create",
        status: "failed",
        error: { code: "STORAGE_NO_BUCKET", category: "storage", exit_code: 9, message: expect.any(String) },
        text: expect.stringContaining("STORAGE_NO_BUCKET"),
      });

      for (const samples of await bothSeries()) {
        expect(value(samples, "infrahub_backup_last_success_timestamp_seconds", "create")).toBe(successAt);
        expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(0);
        expect(value(samples, "infrahub_backup_last_attempt_timestamp_seconds", "create")).toBeGreaterThan(
          successAt,
        );
        expect(
          value(samples, "infrahub_backup_last_failure_info", "create", {
            category: "storage",
            code: "STORAGE_NO_BUCKET",
          }),
        ).toBe(1);
      }
      // Atomic: no temp file left beside it; the earlier file's header lines are still those of one family each.
      expect(await readdir(join(dir.path, "textfile"))).toEqual(["infrahub-backup.prom"]);
      const text = await readFile(metricsFile, "utf8");
      expect(text).not.toBe(earlierFile);
      const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
      expect(new Set(types).size).toBe(types.length);
    },
    LONG,
  );

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
    "restore --latest --s3 --yes brings the data back exactly; its metrics are a group of their own, with the archive size and Neo4j's offline time",
    async () => {
      const r = await runCli(["restore", "--latest", "--s3", "--yes", ...monitoringArgs()], { env });
      expect(r.stderr).toContain("Restore completed successfully");
      expect(r.code).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
      const samples = await gateway.samples();
      expect(value(samples, "infrahub_backup_last_attempt_success", "restore")).toBe(1);
      expect(value(samples, "infrahub_backup_archive_size_bytes", "restore")).toBeGreaterThan(0);
      expect(value(samples, "infrahub_backup_neo4j_offline_seconds", "restore")).toBeGreaterThan(0);
      // A success clears no other group: the failed create stays the create's last attempt.
      expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(0);
    },
    LONG,
  );

  it(
    "keygen + create --s3-upload --s3-keep-local --encrypt-key: .enc locally and in S3; keys required; prune keeps the newest",
    async () => {
      key = join(dir.path, "backup.key");
      const kg = await runCli(["keygen", "-o", key], { env });
      expect(kg.code).toBe(0);
      expect(kg.stdout.trim()).toMatch(/^[A-Za-z0-9+/]+=*$/);

      await new Promise((r) => setTimeout(r, 1100)); // a new second-resolution stamp
      const r = await runCli(
        ["create", "--s3-upload", "--s3-keep-local", "--encrypt-key", `${key}.pub`, ...monitoringArgs()],
        { env: { ...env, INFRAHUB_PROGRESS_INTERVAL: "0.5" } },
      );
      expect(r.stderr).toContain("Backup created successfully");
      // No TTY: progress lines while bytes flow (the dumps, then the upload of the local file, whose size
      // is known), and for phases that move no bytes a line naming the step — never "progress bytes=0".
      expect(r.stderr).toMatch(
        /level=info msg=progress entry=prefect\.dump bytes=[1-9]\d* .* rate="[^"]+\/s"/,
      );
      expect(r.stderr).toMatch(/level=info msg=progress entry=infrahub_backup_\S+ bytes=\d+ .*percent=100 /);
      expect(r.stderr).not.toMatch(/msg=progress bytes=0|msg=progress entry=\S+ bytes=0 /);
      expect(r.code).toBe(0);
      const [localPath, s3Location] = r.stdout.trim().split("\n");
      const second = localPath?.split("/").at(-1) ?? "";
      expect(second).toMatch(/^infrahub_backup_\d{8}_\d{6}\.tar\.gz\.enc$/);
      expect(localPath).toBe(join(dir.path, "backups", second));
      expect(existsSync(localPath ?? "")).toBe(true);
      expect(s3Location).toBe(`s3://${BUCKET}/infrahub/${second}`);
      expect((await stack.minio.listObjectKeys(BUCKET)).sort()).toEqual(
        [`infrahub/${firstName}`, `infrahub/${second}`].sort(),
      );

      // The newest is encrypted: refused without a key, before anything else (usage, 2).
      const noKey = await runCli(["restore", "--latest", "--s3", "--yes"], { env });
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/encrypted/);
      // INFRAHUB_DECRYPT_KEY is read (upstream #159): the dry run decrypts and validates.
      const dryS3 = await runCli(["restore", "--latest", "--s3", "--dry-run"], {
        env: { ...env, INFRAHUB_DECRYPT_KEY: key },
      });
      expect(dryS3.code).toBe(0);
      expect(dryS3.stdout).toContain("Dry run: nothing was changed.");
      // A local path restores through a store of its directory.
      const dryLocal = await runCli(["restore", localPath ?? "", "--dry-run", "--decrypt-key", key], { env });
      expect(dryLocal.code).toBe(0);
      expect(dryLocal.stdout).toContain(`Restore plan for ${localPath}`);
      const v = await runCli(["verify", localPath ?? "", "--decrypt-key", key], { env });
      expect(v.code).toBe(0);
      expect(v.stdout).toContain("encrypted:        true");

      const dry = await runCli(["prune", "--retention-count", "1", "--s3", "--dry-run"], { env });
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain(`would delete\t${firstName}`);
      expect((await stack.minio.listObjectKeys(BUCKET)).length).toBe(2);

      const p = await runCli(["prune", "--retention-count", "1", "--s3", "--yes"], { env });
      expect(p.code).toBe(0);
      expect(p.stdout).toContain(`deleted\t${firstName}`);
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`infrahub/${second}`]);

      const l = await runCli(["list", "--log-format", "json"], { env });
      const listed = JSON.parse(l.stdout) as { archives: { name: string; encrypted: boolean }[] };
      expect(listed.archives).toEqual([expect.objectContaining({ name: second, encrypted: true })]);
    },
    LONG,
  );

  it(
    "monitoring: the encrypted create's success clears the failure info; verify and prune report their groups; a Pushgateway that is down only warns; a usage error pushes nothing",
    async () => {
      const samples = await gateway.samples();
      expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(1);
      expect(value(samples, "infrahub_backup_last_success_timestamp_seconds", "create")).toBeGreaterThan(
        successAt,
      );
      expect(samples.some((s) => s.name === "infrahub_backup_last_failure_info")).toBe(false);

      const verify = await runCli(["verify", "--latest", "--s3", "--decrypt-key", key, ...monitoringArgs()], {
        env,
      });
      expect(verify.code, verify.stderr).toBe(0);
      expect(value(await gateway.samples(), "infrahub_backup_last_attempt_success", "verify")).toBe(1);

      const down = `http://127.0.0.1:${await freePort()}`;
      const prune = await runCli(
        [
          "prune",
          "--retention-count",
          "5",
          "--s3",
          "--yes",
          "--metrics-pushgateway",
          down,
          "--metrics-file",
          metricsFile,
        ],
        { env: { ...env, INFRAHUB_MONITORING_TIMEOUT: "500ms", INFRAHUB_LOG_FORMAT: "json" } },
      );
      expect(prune.code).toBe(0);
      expect(jsonLines(prune.stderr).at(-1)).toMatchObject({ type: "summary", command: "prune" });
      expect(jsonLines(prune.stderr).find((l) => l.code === "METRICS_NOT_PUBLISHED")).toMatchObject({
        level: "warn",
        msg: expect.stringMatching(/^metrics not pushed to the Pushgateway: connection refused/),
        target: "pushgateway",
      });
      const file = parseExposition(await readFile(metricsFile, "utf8"));
      expect(value(file, "infrahub_backup_last_attempt_success", "prune")).toBe(1);
      expect(value(file, "infrahub_backup_last_attempt_success", "create")).toBe(1);
      expect(value(file, "infrahub_backup_last_attempt_success", "restore")).toBe(1);

      const before = await gateway.scrape();
      const usage = await runCli(["prune", ...monitoringArgs()], { env });
      expect(usage.code).toBe(2);
      const lastAttempts = (text: string) =>
        parseExposition(text).filter((s) => s.name === "infrahub_backup_last_attempt_timestamp_seconds");
      expect(lastAttempts(await gateway.scrape())).toEqual(lastAttempts(before));
    },
    LONG,
  );

  it(
    "restricted S3 users: list+get only → the write preflight refuses (4) before anything stops; no s3:DeleteObject → the backup succeeds (0) and retention warns with not_deleted, in JSON and text",
    async () => {
      const prefix = "restricted";
      const old = ["20250101_000000", "20250102_000000"].map((s) => `infrahub_backup_${s}.tar.gz`);
      for (const name of old) await stack.minio.putObject(BUCKET, `${prefix}/${name}`, "an old archive");
      const policy = (name: string, actions: string[]) => ({
        name,
        document: {
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: actions,
              Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
            },
          ],
        },
      });
      const as = (keys: { accessKeyId: string; secretAccessKey: string }) => ({
        ...env,
        INFRAHUB_S3_PREFIX: prefix,
        AWS_ACCESS_KEY_ID: keys.accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      });
      const expected = await digestInfrahubData(stack.neo4j, stack.postgres);

      const listGet = await stack.minio.createUser(policy("e2e-list-get", ["s3:ListBucket", "s3:GetObject"]));
      const denied = await runCli(["create", "--s3-upload"], { env: as(listGet) });
      expect(denied.code).toBe(4);
      expect(denied.stderr).toMatch(
        /Error: cannot write backups to s3:\/\/backups\/restricted\/: access denied for s3:PutObject/,
      );
      expect(denied.stderr).toMatch(
        /Hint: grant s3:PutObject and s3:AbortMultipartUpload on arn:aws:s3:::backups\/restricted\/\*/,
      );
      expect(denied.stderr).toContain("preflight on local deployment");
      expect(denied.stderr).not.toMatch(/stopping application services|dumping|writing s3:/i);
      expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
      await stack.neo4j.cypher("RETURN 1");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(expected);

      const noDelete = await stack.minio.createUser(
        policy("e2e-no-delete", [
          "s3:ListBucket",
          "s3:GetObject",
          "s3:PutObject",
          "s3:AbortMultipartUpload",
          "s3:ListBucketMultipartUploads",
          "s3:ListMultipartUploadParts",
        ]),
      );
      await new Promise((r) => setTimeout(r, 1100));
      const json = await runCli(["create", "--s3-upload", "--retention-count", "1", "--log-format", "json"], {
        env: as(noDelete),
      });
      expect(json.code).toBe(0);
      const result = JSON.parse(json.stdout) as { name: string; warnings: number; housekeeping: unknown[] };
      expect(result.warnings).toBe(2);
      expect(result.housekeeping).toEqual([
        expect.objectContaining({
          location: `s3://${BUCKET}/${prefix}/`,
          retention: expect.objectContaining({
            deleted: [],
            not_deleted: old
              .slice()
              .reverse()
              .map((name) => expect.objectContaining({ name, code: "STORAGE_ACCESS_DENIED" })),
          }),
        }),
      ]);
      const lines = jsonLines(json.stderr);
      expect(lines.filter((l) => l.msg === "Retention: archive NOT deleted")).toHaveLength(2);
      expect(lines.at(-2)).toMatchObject({
        type: "log",
        level: "warn",
        msg: "WARNING: the backup succeeded, but retention left 2 archive(s) it should have deleted; see the warnings above",
        not_deleted: 2,
      });
      expect(lines.at(-1)).toMatchObject({
        type: "summary",
        retention: { deleted: 0, not_deleted: 2 },
        warnings: 2,
      });

      await new Promise((r) => setTimeout(r, 1100));
      const text = await runCli(["create", "--s3-upload", "--retention-count", "1"], { env: as(noDelete) });
      expect(text.code).toBe(0);
      expect(text.stdout.trim()).toMatch(
        /^s3:\/\/backups\/restricted\/infrahub_backup_\d{8}_\d{6}\.tar\.gz$/,
      );
      expect(text.stderr).toMatch(
        /level=warn msg="Retention: archive NOT deleted" .*name=infrahub_backup_20250101_000000\.tar\.gz code=STORAGE_ACCESS_DENIED/,
      );
      expect(text.stderr.trim().split("\n").at(-1)).toMatch(
        /level=warn msg="WARNING: the backup succeeded, but retention left 3 archive\(s\) it should have deleted; see the warnings above" not_deleted=3 deleted=0$/,
      );
      expect((await stack.minio.listObjectKeys(BUCKET, `${prefix}/`)).length).toBe(4);
      expect(await stack.minio.listMultipartUploads(BUCKET)).toEqual([]);
    },
    LONG,
  );
});
