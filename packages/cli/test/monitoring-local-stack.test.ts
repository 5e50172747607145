// ci-cost: 90 s (a create, a failing create, a restore, verify and prune of the built CLI on a local stack)
// Monitoring end to end: the built CLI pushes to a real Pushgateway (scraped over HTTP like Prometheus
// does), writes a node-exporter textfile, and calls webhooks (a local receiver: a test double of the chat
// tool), on a real local Infrahub stack (Neo4j Community, PostgreSQL, MinIO).
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
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

const monitoringArgs = () => ["--metrics-pushgateway", gateway.url, "--metrics-file", metricsFile];
/** `create --s3-upload` to the Pushgateway and the textfile, notifying each of `webhooks`. */
const createArgs = (webhooks: string[], ...extra: string[]) => [
  "create",
  "--s3-upload",
  ...monitoringArgs(),
  ...webhooks.flatMap((url) => ["--notify-webhook", url]),
  ...extra,
];

beforeAll(async () => {
  buildCli();
  [stack, dir, gateway, receiver] = await Promise.all([
    startInfrahubLocalStack(),
    tempDir("ihb-cli-monitoring-"),
    startPushgateway({ basicAuth: true }),
    startWebhookReceiverDouble("ok"),
  ]);
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 100, flowRuns: 200 });
  const config = join(dir.path, "local.json");
  await stack.writeLocalConfig(config);
  metricsFile = join(dir.path, "textfile", "infrahub-backup.prom");
  await mkdir(join(dir.path, "textfile"));
  env = cleanEnv({
    INFRAHUB_LOCAL_CONFIG: config,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
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

describe("monitoring of CLI runs on a local Infrahub stack", () => {
  let successAt: number;

  it(
    "create: success series in the Pushgateway (basic auth) and the textfile, a webhook with --notify-on always",
    async () => {
      const before = Date.now() / 1000;
      const r = await runCli(createArgs([receiver.url], "--notify-on", "always"), { env });
      expect(r.stderr).not.toMatch(/METRICS_NOT_PUBLISHED|NOTIFICATION_NOT_SENT|level=error/);
      expect(r.code).toBe(0);
      const location = r.stdout.trim();
      for (const samples of [await gateway.samples(), parseExposition(await readFile(metricsFile, "utf8"))]) {
        successAt = value(samples, "infrahub_backup_last_success_timestamp_seconds", "create");
        expect(successAt).toBeGreaterThanOrEqual(before);
        expect(value(samples, "infrahub_backup_last_attempt_timestamp_seconds", "create")).toBe(successAt);
        expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(1);
        expect(value(samples, "infrahub_backup_duration_seconds", "create")).toBeGreaterThan(0);
        expect(value(samples, "infrahub_backup_archive_size_bytes", "create")).toBeGreaterThan(0);
        expect(value(samples, "infrahub_backup_neo4j_offline_seconds", "create")).toBeGreaterThan(0);
        for (const database of ["neo4j", "prefect"])
          expect(value(samples, "infrahub_backup_dump_size_bytes", "create", { database })).toBeGreaterThan(
            0,
          );
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
        text: expect.stringContaining(`create succeeded on local`),
      });
      for (const secret of [stack.minio.rootPassword, gateway.basicAuth?.password ?? "?"])
        expect(sent?.body).not.toContain(secret);
    },
    LONG,
  );

  it(
    "a failing create (missing bucket): exit code unchanged, success 0 + failure info, last success kept; a refused and a hanging webhook only warn, within bounded time",
    async () => {
      const earlierFile = await readFile(metricsFile, "utf8");
      await using hanging = await startWebhookReceiverDouble("hang", "T111-hanging");
      const refused = `http://127.0.0.1:${await freePort()}/hooks/T222-refused`;
      const started = Date.now();
      const r = await runCli(
        createArgs(
          [receiver.url, refused, hanging.url],
          "--monitoring-timeout",
          "1s",
          "--log-format",
          "json",
        ),
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

      for (const samples of [await gateway.samples(), parseExposition(await readFile(metricsFile, "utf8"))]) {
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
    "restore: its own group with the archive size and Neo4j's offline time; a success clears no other group",
    async () => {
      const r = await runCli(["restore", "--latest", "--s3", "--yes", ...monitoringArgs()], { env });
      expect(r.code).toBe(0);
      const samples = await gateway.samples();
      expect(value(samples, "infrahub_backup_last_attempt_success", "restore")).toBe(1);
      expect(value(samples, "infrahub_backup_archive_size_bytes", "restore")).toBeGreaterThan(0);
      expect(value(samples, "infrahub_backup_neo4j_offline_seconds", "restore")).toBeGreaterThan(0);
      expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(0);
    },
    LONG,
  );

  it(
    "a second successful create clears the failure info; verify and prune report their groups; a Pushgateway that is down only warns",
    async () => {
      const ok = await runCli(createArgs([]), { env });
      expect(ok.code).toBe(0);
      const samples = await gateway.samples();
      expect(value(samples, "infrahub_backup_last_attempt_success", "create")).toBe(1);
      expect(value(samples, "infrahub_backup_last_success_timestamp_seconds", "create")).toBeGreaterThan(
        successAt,
      );
      expect(samples.some((s) => s.name === "infrahub_backup_last_failure_info")).toBe(false);

      const verify = await runCli(["verify", "--latest", "--s3", ...monitoringArgs()], { env });
      expect(verify.code).toBe(0);
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
    },
    LONG,
  );

  it("a usage error before anything ran pushes nothing", async () => {
    const before = await gateway.scrape();
    const r = await runCli(["prune", ...monitoringArgs()], { env });
    expect(r.code).toBe(2);
    const after = await gateway.scrape();
    const lastAttempts = (text: string) =>
      parseExposition(text).filter((s) => s.name === "infrahub_backup_last_attempt_timestamp_seconds");
    expect(lastAttempts(after)).toEqual(lastAttempts(before));
  });
});
