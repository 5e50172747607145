// ci-cost: 28 s (measured at load 12-19)
// The chart's PrometheusRule, rendered by the pinned Helm and run by the pinned promtool (`promtool check
// rules`, `promtool test rules`): the alerts fire, and stay quiet, on series shaped as Prometheus stores what
// the CLI pushes — the Pushgateway's grouping labels (job, deployment, operation), its `instance=""`, the
// target labels of a ServiceMonitor scrape with honor_labels, and the CLI's push semantics (a success replaces
// its group, PUT; a failure replaces only the series it carries, POST, so last_success stays).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TempDir, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { chartDir, type K8sObject, render } from "./helm.ts";
import {
  promtool,
  type Sample,
  seriesSelector,
  stepValues,
  storedLabels,
  writeRuleFile,
} from "./promtool.ts";

const NS = "infrahub";
// Seconds between two scrapes (promtool's `interval`): under the 5 min lookback, so a series never goes stale.
const STEP = 60;
const HOUR = 3600;
const DAY = 24 * HOUR;
const DAYS = 3;
const RUN_SECONDS = 95;
const STEPS = (DAYS * DAY) / STEP;
let work: TempDir;
let n = 0;

beforeAll(async () => {
  work = await tempDir("ihb-promtool-");
});

afterAll(async () => {
  await work?.[Symbol.asyncDispose]();
});

const scheduled = (extra: Record<string, unknown> = {}) => ({
  backup: { enabled: true, mode: "cronjob", schedule: "0 2 * * *", storage: { s3: { bucket: "backups" } } },
  metrics: { prometheusRule: { enabled: true, ...extra } },
});

/** One CLI run as it pushes its metrics (the interface of issue 24's CLI). */
interface Run {
  at: number;
  operation?: "create" | "restore";
  ok: boolean;
  deployment?: string;
  offlineSeconds?: number;
  failure?: { category: string; code: string };
}

/** The series one run pushes to its group. */
function pushed(run: Run): Sample[] {
  const s = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({
    name,
    labels,
    value,
  });
  const out = [
    s("infrahub_backup_last_attempt_timestamp_seconds", run.at),
    s("infrahub_backup_last_attempt_success", run.ok ? 1 : 0),
    s("infrahub_backup_duration_seconds", RUN_SECONDS),
  ];
  if (run.ok) {
    out.push(
      s("infrahub_backup_last_success_timestamp_seconds", run.at + RUN_SECONDS),
      s("infrahub_backup_archive_size_bytes", 52_428_800),
      s("infrahub_backup_neo4j_offline_seconds", run.offlineSeconds ?? 41),
      s("infrahub_backup_dump_size_bytes", 41_943_040, { database: "neo4j" }),
      s("infrahub_backup_dump_size_bytes", 10_485_760, { database: "prefect" }),
    );
  } else {
    const f = run.failure ?? { category: "storage", code: "S3_AUTH" };
    out.push(s("infrahub_backup_last_failure_info", 1, f));
  }
  return out;
}

/**
 * The input series Prometheus would hold after scraping the Pushgateway every STEP while these runs push,
 * one group per (deployment, operation), each run's push landing at its own time.
 */
function seriesOf(runs: Run[]): Array<{ series: string; values: string }> {
  const groups = new Map<string, Map<string, Sample[]>>();
  const timeline = new Map<
    string,
    { labels: Record<string, string>; name: string; changes: Array<[number, number | undefined]> }
  >();
  for (const run of [...runs].sort((a, b) => a.at - b.at)) {
    const grouping = {
      job: "infrahub-backup",
      deployment: run.deployment ?? NS,
      operation: run.operation ?? "create",
    };
    const key = JSON.stringify(grouping);
    const group = groups.get(key) ?? new Map<string, Sample[]>();
    groups.set(key, group);
    // The CLI pushes when the run ends (its duration after the start).
    const step = Math.ceil((run.at + RUN_SECONDS) / STEP);
    const byName = new Map<string, Sample[]>();
    for (const sample of pushed(run)) byName.set(sample.name, [...(byName.get(sample.name) ?? []), sample]);
    // A success PUTs (its group is replaced: the failure info goes); a failure POSTs (only its names).
    const replaced = run.ok ? new Set([...group.keys(), ...byName.keys()]) : new Set(byName.keys());
    for (const name of replaced) {
      const samples = byName.get(name) ?? [];
      for (const old of group.get(name) ?? []) {
        const id = seriesSelector(
          old.name,
          storedLabels({ ...old, labels: { ...old.labels, ...grouping, instance: "" } }),
        );
        timeline.get(id)?.changes.push([step, undefined]);
      }
      if (samples.length > 0) group.set(name, samples);
      else group.delete(name);
      for (const sample of samples) {
        const labels = storedLabels({ ...sample, labels: { ...sample.labels, ...grouping, instance: "" } });
        const id = seriesSelector(sample.name, labels);
        const entry = timeline.get(id) ?? { labels, name: sample.name, changes: [] };
        entry.changes.push([step, sample.value]);
        timeline.set(id, entry);
      }
    }
  }
  return [...timeline.entries()].map(([series, t]) => ({ series, values: stepValues(t.changes, STEPS) }));
}

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts: Array<{ exp_labels: Record<string, string>; exp_annotations: Record<string, string> }>;
}

/** `promtool test rules` of these cases on the rendered rules; the promtool output on failure. */
function ruleTest(objects: K8sObject[], runs: Run[], cases: AlertCase[]) {
  n += 1;
  const rules = writeRuleFile(objects, work.path, `rules-${n}.yaml`);
  const test = `test-${n}.yaml`;
  writeFileSync(
    join(work.path, test),
    stringify({
      rule_files: [rules],
      evaluation_interval: "1m",
      tests: [{ interval: `${STEP}s`, input_series: seriesOf(runs), alert_rule_test: cases }],
    }),
  );
  return promtool(["test", "rules", test], work.path);
}

const at = (day: number, hour: number, minute = 0) => day * DAY + hour * HOUR + minute * 60;
const evalAt = (day: number, hour: number, minute = 0) => `${at(day, hour, minute)}s`;
const base = { job: "infrahub-backup", deployment: NS };

const failed = (operation = "create") => ({
  exp_labels: { ...base, operation, severity: "critical" },
  exp_annotations: {
    summary: `The last Infrahub ${operation} in namespace ${NS} failed`,
    description: `The last ${operation} run of infrahub-backup in namespace ${NS} failed; it stays failed until a run succeeds. The error category and code are in infrahub_backup_last_failure_info, the cause in the Job's log: kubectl -n ${NS} logs job/<name>.`,
  },
});
const tooOld = (age: string) => ({
  exp_labels: { ...base, operation: "create", severity: "critical" },
  exp_annotations: {
    summary: `No successful Infrahub backup in namespace ${NS} for ${age}`,
    description: `The last successful backup of namespace ${NS} is older than 93600s (backup.schedule "0 2 * * *" plus margin, or maxAgeSeconds). Check the CronJob's recent Jobs: kubectl -n ${NS} get jobs -l app.kubernetes.io/component=backup.`,
  },
});

describe("the PrometheusRule under promtool", () => {
  it("promtool check rules accepts the rendered rules, with and without every optional alert", () => {
    for (const values of [
      scheduled(),
      scheduled({ additionalRuleLabels: { team: "platform" }, backupFailed: { for: "15m" } }),
      {
        restore: { enabled: true, storage: { s3: { bucket: "bk", latest: true } } },
        metrics: { prometheusRule: { enabled: true } },
      },
    ]) {
      n += 1;
      const file = writeRuleFile(render(values, { namespace: NS }), work.path, `check-${n}.yaml`);
      const res = promtool(["check", "rules", file], work.path);
      expect(res.status, res.output).toBe(0);
      expect(res.output).toMatch(/SUCCESS: \d+ rules found/);
      expect(res.output).not.toMatch(/FAILED|lint error/);
    }
  });

  it("a failed nightly backup fires InfrahubBackupFailed at once; the next night's success clears it; other namespaces do not count", () => {
    const runs: Run[] = [
      { at: at(0, 2), ok: true },
      { at: at(1, 2), ok: false },
      { at: at(2, 2), ok: true },
      // Another Infrahub's failures, in the same Pushgateway.
      { at: at(0, 3), ok: false, deployment: "staging" },
    ];
    const res = ruleTest(render(scheduled(), { namespace: NS }), runs, [
      { eval_time: evalAt(1, 1), alertname: "InfrahubBackupFailed", exp_alerts: [] },
      { eval_time: evalAt(1, 2, 15), alertname: "InfrahubBackupFailed", exp_alerts: [failed()] },
      { eval_time: evalAt(1, 23), alertname: "InfrahubBackupFailed", exp_alerts: [failed()] },
      { eval_time: evalAt(2, 2, 15), alertname: "InfrahubBackupFailed", exp_alerts: [] },
    ]);
    expect(res.status, res.output).toBe(0);
  });

  it("a failed restore fires it too, with its operation", () => {
    const res = ruleTest(
      render(scheduled(), { namespace: NS }),
      [{ at: at(0, 5), ok: false, operation: "restore" }],
      [{ eval_time: evalAt(0, 6), alertname: "InfrahubBackupFailed", exp_alerts: [failed("restore")] }],
    );
    expect(res.status, res.output).toBe(0);
  });

  it("daily schedule: InfrahubBackupTooOld fires 26 h after the last success (a failed night keeps it), not before", () => {
    const runs: Run[] = [
      { at: at(0, 2), ok: true },
      { at: at(1, 2), ok: false },
    ];
    // Last success at 02:01:35 of day 0 (the run's start + its 95 s): 26 h later is 04:01:35 of day 1.
    const res = ruleTest(render(scheduled(), { namespace: NS }), runs, [
      { eval_time: evalAt(1, 2, 30), alertname: "InfrahubBackupTooOld", exp_alerts: [] },
      { eval_time: evalAt(1, 4), alertname: "InfrahubBackupTooOld", exp_alerts: [] },
      {
        eval_time: evalAt(1, 4, 10),
        alertname: "InfrahubBackupTooOld",
        exp_alerts: [tooOld("1d 2h 8m 25s")],
      },
    ]);
    expect(res.status, res.output).toBe(0);
  });

  it("nightly successes never fire anything", () => {
    const runs: Run[] = [0, 1, 2].map((day) => ({ at: at(day, 2), ok: true }));
    const cases: AlertCase[] = [];
    for (const alertname of [
      "InfrahubBackupFailed",
      "InfrahubBackupTooOld",
      "InfrahubBackupNeo4jOfflineTooLong",
    ])
      for (const t of [evalAt(0, 3), evalAt(1, 3), evalAt(2, 1, 50), evalAt(2, 23)])
        cases.push({ eval_time: t, alertname, exp_alerts: [] });
    const res = ruleTest(render(scheduled(), { namespace: NS }), runs, cases);
    expect(res.status, res.output).toBe(0);
  });

  it("no successful backup ever: the absent-series alert fires after 26 h of failures, not before; alertWhenAbsent false drops it", () => {
    const runs: Run[] = [0, 1, 2].map((day) => ({ at: at(day, 2), ok: false }));
    const absent = {
      exp_labels: { ...base, operation: "create", severity: "critical" },
      exp_annotations: {
        summary: `No successful Infrahub backup in namespace ${NS} is known`,
        description: `No infrahub_backup_last_success_timestamp_seconds series for namespace ${NS} for 93600s: no backup has succeeded since the Pushgateway started, or no backup pushes metrics (metrics.pushgateway.url), or Prometheus does not scrape the Pushgateway with honor_labels.`,
      },
    };
    const res = ruleTest(render(scheduled(), { namespace: NS }), runs, [
      { eval_time: evalAt(1, 1, 50), alertname: "InfrahubBackupNoSuccessKnown", exp_alerts: [] },
      { eval_time: evalAt(1, 2, 10), alertname: "InfrahubBackupNoSuccessKnown", exp_alerts: [absent] },
    ]);
    expect(res.status, res.output).toBe(0);
    const off = ruleTest(
      render(scheduled({ noRecentBackup: { alertWhenAbsent: false } }), { namespace: NS }),
      runs,
      [{ eval_time: evalAt(2, 5), alertname: "InfrahubBackupNoSuccessKnown", exp_alerts: [] }],
    );
    expect(off.status, off.output).toBe(0);
  });

  it("hourly schedule derives 3 h; maxAgeSeconds overrides the derivation", () => {
    const hourly = {
      ...scheduled({ noRecentBackup: { alertWhenAbsent: false } }),
      backup: { ...scheduled().backup, schedule: "15 * * * *" },
    };
    const rule = (values: unknown) =>
      render(values, { namespace: NS })
        .find((o) => o.kind === "PrometheusRule")
        ?.spec.groups[0].rules.find((r: K8sObject) => r.alert === "InfrahubBackupTooOld");
    expect(rule(hourly).expr).toMatch(/ > 10800$/);
    expect(rule(scheduled({ noRecentBackup: { maxAgeSeconds: 50_000 } })).expr).toMatch(/ > 50000$/);
    const res = ruleTest(
      render(hourly, { namespace: NS }),
      [{ at: at(0, 1, 15), ok: true }],
      [
        { eval_time: evalAt(0, 4, 10), alertname: "InfrahubBackupTooOld", exp_alerts: [] },
        {
          eval_time: evalAt(0, 4, 20),
          alertname: "InfrahubBackupTooOld",
          exp_alerts: [
            {
              exp_labels: { ...base, operation: "create", severity: "critical" },
              exp_annotations: {
                summary: `No successful Infrahub backup in namespace ${NS} for 3h 3m 25s`,
                description: `The last successful backup of namespace ${NS} is older than 10800s (backup.schedule "15 * * * *" plus margin, or maxAgeSeconds). Check the CronJob's recent Jobs: kubectl -n ${NS} get jobs -l app.kubernetes.io/component=backup.`,
              },
            },
          ],
        },
      ],
    );
    expect(res.status, res.output).toBe(0);
  });

  it("Neo4j offline longer than the threshold fires InfrahubBackupNeo4jOfflineTooLong until a shorter backup", () => {
    const runs: Run[] = [
      { at: at(0, 2), ok: true, offlineSeconds: 1900 },
      { at: at(1, 2), ok: true, offlineSeconds: 600 },
    ];
    const res = ruleTest(
      render(scheduled({ additionalRuleLabels: { team: "platform" } }), { namespace: NS }),
      runs,
      [
        {
          eval_time: evalAt(0, 3),
          alertname: "InfrahubBackupNeo4jOfflineTooLong",
          exp_alerts: [
            {
              exp_labels: { ...base, operation: "create", severity: "warning", team: "platform" },
              exp_annotations: {
                summary: `The last Infrahub backup in namespace ${NS} kept Neo4j offline for 31m 40s`,
                description: `Infrahub is down while Neo4j is offline for the dump; the last backup of namespace ${NS} took longer than 1800s. Schedule the backup when such an outage is acceptable, or raise metrics.prometheusRule.neo4jOffline.thresholdSeconds.`,
              },
            },
          ],
        },
        { eval_time: evalAt(1, 3), alertname: "InfrahubBackupNeo4jOfflineTooLong", exp_alerts: [] },
      ],
    );
    expect(res.status, res.output).toBe(0);
  });
});

describe("the README's kube-state-metrics rules under promtool", () => {
  const readme = readFileSync(join(chartDir, "README.md"), "utf8");
  const block =
    /<!-- kube-state-metrics-rules:start -->\n```yaml\n([\s\S]*?)```\n<!-- kube-state-metrics-rules:end -->/.exec(
      readme,
    )?.[1];
  /** Labels of a kube-state-metrics scrape (honorLabels: the object's namespace wins). */
  const ksm = { job: "kube-state-metrics", instance: "10.0.3.7:8080", service: "kube-state-metrics" };
  const STEPS_KSM = (2 * DAY + 6 * HOUR) / STEP;
  const m = (day: number, hour: number, minute = 0) => at(day, hour, minute) / STEP;
  type Changes = Array<[number, number | undefined]>;
  const series = (name: string, labels: Record<string, string>, changes: Changes) => ({
    series: seriesSelector(name, { ...ksm, namespace: NS, ...labels }),
    values: stepValues(changes, STEPS_KSM),
  });
  /** One run of the CronJob: Job created at `start`, its pods failing (`fails` times) or succeeding at `end`. */
  const jobRun = (name: string, start: number, end: number, outcome: "ok" | "failed", retries = 0) => [
    series(
      "kube_job_owner",
      { job_name: name, owner_kind: "CronJob", owner_name: "infrahub-backup", owner_is_controller: "true" },
      [[start, 1]],
    ),
    series("kube_job_created", { job_name: name }, [[start, start * STEP]]),
    series("kube_job_status_active", { job_name: name }, [
      [start, 1],
      [end, 0],
    ]),
    series("kube_job_status_failed", { job_name: name }, [
      [start, 0],
      ...(retries > 0 ? ([[start + 3, retries]] as Changes) : []),
      ...(outcome === "failed" ? ([[end, retries + 1]] as Changes) : []),
    ]),
    series("kube_job_status_succeeded", { job_name: name }, [
      [start, 0],
      [end, outcome === "ok" ? 1 : 0],
    ]),
  ];
  const cronjob = (successes: number[]) => [
    series("kube_cronjob_created", { cronjob: "infrahub-backup" }, [[0, 0]]),
    ...(successes.length > 0
      ? [
          series(
            "kube_cronjob_status_last_successful_time",
            { cronjob: "infrahub-backup" },
            successes.map((s): [number, number] => [s, s * STEP]),
          ),
        ]
      : []),
  ];
  const failedAlert = {
    exp_labels: { namespace: NS, cronjob: "infrahub-backup", severity: "critical" },
    exp_annotations: { summary: `A scheduled Infrahub backup in ${NS} failed` },
  };

  function ksmTest(input: Array<{ series: string; values: string }>, cases: AlertCase[]) {
    n += 1;
    writeFileSync(join(work.path, `ksm-rules-${n}.yaml`), block as string);
    writeFileSync(
      join(work.path, `ksm-test-${n}.yaml`),
      stringify({
        rule_files: [`ksm-rules-${n}.yaml`],
        evaluation_interval: "1m",
        tests: [{ interval: `${STEP}s`, input_series: input, alert_rule_test: cases }],
      }),
    );
    return promtool(["test", "rules", `ksm-test-${n}.yaml`], work.path);
  }

  it("promtool check rules accepts them", () => {
    expect(block).toBeDefined();
    writeFileSync(join(work.path, "ksm-check.yaml"), block as string);
    const res = promtool(["check", "rules", "ksm-check.yaml"], work.path);
    expect(res.status, res.output).toBe(0);
    expect(res.output).toContain("SUCCESS: 2 rules found");
  });

  it("a failed run fires once its retries are over, until a later run succeeds; 26 h without success fires the age alert", () => {
    // Day 0: ok at 02:05. Day 1: a pod fails at 02:03, the retry fails at 02:09. Day 2: ok at 02:05.
    const input = [
      ...jobRun("infrahub-backup-29000000", m(0, 2), m(0, 2, 5), "ok"),
      ...jobRun("infrahub-backup-29001440", m(1, 2), m(1, 2, 9), "failed", 1),
      ...jobRun("infrahub-backup-29002880", m(2, 2), m(2, 2, 5), "ok"),
      ...cronjob([m(0, 2, 5), m(2, 2, 5)]),
    ];
    const res = ksmTest(input, [
      { eval_time: evalAt(1, 2, 6), alertname: "InfrahubBackupJobFailed", exp_alerts: [] },
      { eval_time: evalAt(1, 2, 10), alertname: "InfrahubBackupJobFailed", exp_alerts: [failedAlert] },
      { eval_time: evalAt(1, 20), alertname: "InfrahubBackupJobFailed", exp_alerts: [failedAlert] },
      // The failed Job is still kept (failedJobsHistoryLimit), but a later run succeeded.
      { eval_time: evalAt(2, 3), alertname: "InfrahubBackupJobFailed", exp_alerts: [] },
      { eval_time: evalAt(1, 4), alertname: "InfrahubBackupCronJobTooOld", exp_alerts: [] },
      {
        eval_time: evalAt(1, 4, 15),
        alertname: "InfrahubBackupCronJobTooOld",
        exp_alerts: [
          {
            exp_labels: { namespace: NS, cronjob: "infrahub-backup", severity: "critical" },
            exp_annotations: { summary: `No successful Infrahub backup in ${NS} for 1d 2h 10m 0s` },
          },
        ],
      },
    ]);
    expect(res.status, res.output).toBe(0);
  });

  it("a new CronJob whose first run fails fires too (no last successful time yet)", () => {
    const input = [...jobRun("infrahub-backup-29000000", m(0, 2), m(0, 2, 4), "failed"), ...cronjob([])];
    const res = ksmTest(input, [
      { eval_time: evalAt(0, 2, 2), alertname: "InfrahubBackupJobFailed", exp_alerts: [] },
      { eval_time: evalAt(0, 2, 5), alertname: "InfrahubBackupJobFailed", exp_alerts: [failedAlert] },
    ]);
    expect(res.status, res.output).toBe(0);
  });
});
