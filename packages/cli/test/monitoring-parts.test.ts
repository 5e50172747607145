// The monitoring parts without a stack: option parsing (URLs never quoted), the series of a run and how
// a run merges into earlier ones, the webhook body. The end-to-end runs are in e2e-local-stack.test.ts.
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatExposition, mergeRun, parseSamples, runSamples } from "../src/monitoring/metrics.js";
import { writeMetricsFile } from "../src/monitoring/metrics-file.js";
import { groupingPath } from "../src/monitoring/pushgateway.js";
import type { RunResult } from "../src/monitoring/run-record.js";
import { notificationBody } from "../src/monitoring/webhook.js";
import { parseCommandLine } from "../src/parse.js";

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseCommandLine(argv, { env, cwd: "/cwd", version: "0.0.0" });
  if (r.kind !== "command" || !("monitoring" in r.command)) throw new Error("no monitored command");
  return r.command.monitoring;
};

const refused = (argv: string[], env: Record<string, string> = {}): Error => {
  try {
    parse(argv, env);
  } catch (error) {
    return error as Error;
  }
  throw new Error("accepted");
};

describe("monitoring options", () => {
  it("--notify-webhook repeats; the env var splits on spaces and commas; flags win", () => {
    const a = "https://hooks.example/T1/secret-a";
    const b = "https://hooks.example/T2/secret-b";
    expect(parse(["verify", "x", "--notify-webhook", a, `--notify-webhook=${b}`]).webhooks).toEqual([a, b]);
    expect(parse(["verify", "x"], { INFRAHUB_NOTIFY_WEBHOOK: ` ${a},${b}\n` }).webhooks).toEqual([a, b]);
    expect(parse(["verify", "x", "--notify-webhook", b], { INFRAHUB_NOTIFY_WEBHOOK: a }).webhooks).toEqual([
      b,
    ]);
    expect(parse(["prune", "--retention-count", "1"]).notifyOn).toBe("failure");
  });

  it("a bad URL is refused without quoting it; auth only from env, one kind", () => {
    const error = refused([
      "create",
      "--notify-webhook",
      "https://ok.example/x",
      "--notify-webhook",
      "secret-token",
    ]);
    expect(error.message).toBe(
      "webhook 2 of 2 (--notify-webhook) is not an http(s) URL without user:password@",
    );
    expect(refused(["verify", "x"], { INFRAHUB_METRICS_PUSHGATEWAY: "pg:9091" }).message).not.toContain(
      "pg:9091",
    );
    const withCredentials = refused(["verify", "x", "--metrics-pushgateway", "http://u:pa55@pg:9091"]);
    expect(withCredentials.message).not.toContain("pa55");
    expect((withCredentials as { hint?: string }).hint).toMatch(/INFRAHUB_METRICS_PUSHGATEWAY_USERNAME/);
    const pg = { INFRAHUB_METRICS_PUSHGATEWAY: "http://pg:9091" };
    expect(
      parse(["verify", "x"], { ...pg, INFRAHUB_METRICS_PUSHGATEWAY_BEARER_TOKEN: "t" }).pushgateway,
    ).toEqual({
      url: "http://pg:9091",
      auth: { kind: "bearer", token: "t" },
    });
    expect(refused(["verify", "x"], { ...pg, INFRAHUB_METRICS_PUSHGATEWAY_USERNAME: "u" }).message).toMatch(
      /go together/,
    );
    expect(refused(["verify", "x", "--monitoring-timeout", "1h"], pg).message).toMatch(
      /--monitoring-timeout must be between/,
    );
  });
});

const run = (over: Partial<RunResult> = {}): RunResult => ({
  operation: "create",
  deployment: "infrahub",
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_042_500,
  succeeded: true,
  archive: { location: "s3://b/infrahub_backup_1.tar.gz", size: 1000 },
  neo4jOfflineMs: 3_250,
  dumpBytes: { neo4j: 600, prefect: 300 },
  ...over,
});

const failed = (at: number): RunResult =>
  run({
    finishedAt: at,
    succeeded: false,
    archive: undefined,
    neo4jOfflineMs: undefined,
    dumpBytes: {},
    failure: { code: "STORAGE_NO_BUCKET", category: "storage", exitCode: 9, message: "no bucket b" },
  });

describe("series", () => {
  it("a success: seconds, bytes, per-database dumps; no failure info", () => {
    const text = formatExposition(runSamples(run()));
    expect(text).toContain("# TYPE infrahub_backup_last_success_timestamp_seconds gauge\n");
    expect(text).toContain("infrahub_backup_last_success_timestamp_seconds 1700000042.5\n");
    expect(text).toContain("infrahub_backup_duration_seconds 42.5\n");
    expect(text).toContain("infrahub_backup_neo4j_offline_seconds 3.25\n");
    expect(text).toContain('infrahub_backup_dump_size_bytes{database="neo4j"} 600\n');
    expect(text).not.toContain("failure");
  });

  it("a failure keeps the group's last success and sizes; a later success drops the failure info", () => {
    const first = mergeRun([], run());
    const other = mergeRun(first, run({ operation: "verify" }));
    const afterFailure = mergeRun(parseSamples(formatExposition(other)), failed(1_700_000_100_000));
    const pick = (samples: typeof first, name: string, operation = "create") =>
      samples.filter((s) => s.name === name && s.labels.operation === operation).map((s) => s.value);
    expect(pick(afterFailure, "infrahub_backup_last_success_timestamp_seconds")).toEqual([1_700_000_042.5]);
    expect(pick(afterFailure, "infrahub_backup_last_attempt_success")).toEqual([0]);
    expect(pick(afterFailure, "infrahub_backup_archive_size_bytes")).toEqual([1000]);
    expect(pick(afterFailure, "infrahub_backup_last_attempt_success", "verify")).toEqual([1]);
    expect(afterFailure.find((s) => s.name === "infrahub_backup_last_failure_info")?.labels).toEqual({
      job: "infrahub-backup",
      deployment: "infrahub",
      operation: "create",
      category: "storage",
      code: "STORAGE_NO_BUCKET",
    });
    const recovered = mergeRun(afterFailure, run({ finishedAt: 1_700_000_200_000 }));
    expect(recovered.some((s) => s.name === "infrahub_backup_last_failure_info")).toBe(false);
    expect(pick(recovered, "infrahub_backup_last_attempt_success", "verify")).toEqual([1]);
  });

  it("runs that end together (one textfile, several deployments) take turns: none drops another's series", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ihb-metrics-"));
    try {
      const path = join(dir, "infrahub_backup.prom");
      // Left by a run killed mid-write a minute ago: taken over, not waited on.
      await writeFile(join(dir, ".infrahub_backup.prom.lock"), "");
      const aMinuteAgo = new Date(Date.now() - 60_000);
      await utimes(join(dir, ".infrahub_backup.prom.lock"), aMinuteAgo, aMinuteAgo);
      const deployments = Array.from({ length: 8 }, (_, i) => `infrahub-${i}`);
      await Promise.all(deployments.map((deployment) => writeMetricsFile(path, run({ deployment }))));
      const samples = parseSamples(await readFile(path, "utf8"));
      const written = samples
        .filter((s) => s.name === "infrahub_backup_last_attempt_success")
        .map((s) => s.labels.deployment);
      expect(written.sort()).toEqual(deployments);
      // No lock or temp file left beside it.
      expect(await readdir(dir)).toEqual(["infrahub_backup.prom"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a deployment a URL path cannot carry is sent base64url-encoded", () => {
    expect(groupingPath("http://pg:9091/", run())).toBe(
      "http://pg:9091/metrics/job/infrahub-backup/deployment/infrahub/operation/create",
    );
    expect(groupingPath("http://pg:9091", run({ deployment: "a/b" }))).toContain("/deployment@base64/YS9i/");
  });
});

describe("webhook body", () => {
  it("a failure carries code, category, exit code and hint; URL credentials are taken out", () => {
    const body = notificationBody({
      ...failed(1_700_000_100_000),
      failure: {
        code: "STORAGE_UNREACHABLE",
        category: "storage",
        exitCode: 9,
        message: "cannot reach https://user:pa55@s3.example/b",
        hint: "check https://k:v@proxy.example",
      },
    });
    expect(body).toMatchObject({
      event: "infrahub-backup.create",
      status: "failed",
      error: { code: "STORAGE_UNREACHABLE", category: "storage", exit_code: 9 },
    });
    expect(JSON.stringify(body)).not.toMatch(/pa55|k:v/);
    expect(body.text).toMatch(
      /^:x: infrahub-backup create failed on infrahub after 100 s: cannot reach https:\/\/s3/,
    );
  });
});
