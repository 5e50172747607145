// ci-cost: 25 s (measured at load 9-14)
// Issue 24's "done when", on the local cluster: a scheduled backup configured with chart values only fails,
// and that alone produces a webhook call and metrics in a real Pushgateway which, scraped and fed to the
// pinned promtool as the series Prometheus would store, fire the chart's shipped alert (the PrometheusRule the
// release installed, read back from the API server, which validated it against the Prometheus Operator's CRD).
// Real: kube-apiserver, the CronJob and Job controllers, Helm 4, the CLI bundle the image ships (run by
// testkit's job pod runner, a TEST DOUBLE of the kubelet), the Pushgateway with basic auth, promtool. The
// webhook receiver is a TEST DOUBLE of a chat tool's incoming webhook. The backup fails because the
// namespace has no Infrahub: the cheapest real failure (the CLI's, not a faked exit code).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type JobPodRunner,
  type LocalCluster,
  type PushgatewayServer,
  startLocalCluster,
  startPushgateway,
  type TempDir,
  tempDir,
  toolDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { buildCli, removeCli } from "../../packages/cli/test/cli-process.ts";
import {
  startWebhookReceiverDouble,
  type WebhookReceiverDouble,
} from "../../packages/cli/test/webhook-receiver-double.ts";
import { startCliPodRunner } from "./cli-pod-runner.ts";
import { runMissedSchedule } from "./cron.ts";
import { chartDir, helm, type K8sObject } from "./helm.ts";
import { jobCondition, waitForJob } from "./jobs.ts";
import { promtool, seriesSelector, stepValues, storedLabels, writeRuleFile } from "./promtool.ts";

const NS = "nightly";
const LONG = 300_000;
let cluster: LocalCluster;
let runner: JobPodRunner;
let pushgateway: PushgatewayServer;
let receiver: WebhookReceiverDouble;
let work: TempDir;

beforeAll(async () => {
  buildCli();
  [cluster, work, pushgateway, receiver] = await Promise.all([
    startLocalCluster(),
    tempDir("ihb-monitoring-run-"),
    startPushgateway({ basicAuth: true }),
    startWebhookReceiverDouble("ok"),
  ]);
  runner = await startCliPodRunner(cluster);
  await cluster.createNamespace(NS);
  // The Prometheus Operator's CRD (pinned; tools/install/promtool.sh): the chart's PrometheusRule is installed for
  // real and validated against its schema by the API server.
  await cluster.apply(
    readFileSync(
      join(
        toolDir("prometheus-operator-crds", "PROMETHEUS_OPERATOR_VERSION"),
        "monitoring.coreos.com_prometheusrules.yaml",
      ),
      "utf8",
    ),
  );
  await cluster.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/prometheusrules.monitoring.coreos.com",
  ]);
  const auth = pushgateway.basicAuth as { username: string; password: string };
  await cluster.apply([
    secret("pushgateway-auth", { username: auth.username, password: auth.password }),
    secret("backup-webhooks", { urls: receiver.url }),
  ]);
}, LONG);

afterAll(async () => {
  await runner?.stop();
  await cluster?.[Symbol.asyncDispose]();
  await pushgateway?.stop();
  await receiver?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
  removeCli();
}, 120_000);

function secret(name: string, data: Record<string, string>): K8sObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: NS }, stringData: data };
}

/** The values a platform operator would write: nothing but chart values. */
const values = () => ({
  image: { repository: "registry.example/infrahub-backup", tag: "test" },
  backup: {
    enabled: true,
    mode: "cronjob",
    schedule: "* * * * *",
    job: { backoffLimit: 0 },
    storage: { s3: { bucket: "backups", endpoint: "http://127.0.0.1:9" } },
  },
  metrics: {
    pushgateway: {
      url: pushgateway.url,
      auth: { secretName: "pushgateway-auth", usernameKey: "username", passwordKey: "password" },
    },
    prometheusRule: {
      enabled: true,
      labels: { release: "kube-prometheus-stack" },
      // The schedule fires every minute so that the test sees a run; the threshold is the nightly one.
      noRecentBackup: { maxAgeSeconds: 93_600 },
    },
  },
  notifications: { webhook: { secretName: "backup-webhooks" }, notifyOn: "failure" },
});

describe("a failed scheduled backup on the local cluster, chart values only (issue 24, done when)", () => {
  it(
    "calls the webhook, pushes metrics to the Pushgateway, and those metrics fire InfrahubBackupFailed in promtool",
    async () => {
      const file = join(work.path, "values.yaml");
      writeFileSync(file, stringify(values()));
      const install = helm([
        "install",
        "backup",
        chartDir,
        "-n",
        NS,
        "-f",
        file,
        "--kubeconfig",
        cluster.adminKubeconfig,
      ]);
      expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
      // The scheduled run now, not at the next minute boundary.
      await runMissedSchedule(cluster, NS, "backup");

      const job = await waitForJob(cluster.client, NS, {
        selector: "app.kubernetes.io/component=backup",
        match: (j) => jobCondition(j, "Failed") !== undefined,
        deadline: Date.now() + 180_000,
        what: "failed backup Job",
      });
      expect(job.metadata.ownerReferences?.[0]?.kind).toBe("CronJob");
      const run = runner.runs.find((r) => r.namespace === NS && r.exitCode !== undefined);
      expect(run, "the runner ran the backup pod").toBeDefined();
      const log = run?.logs() ?? "";
      expect(run?.envNames).toEqual(
        expect.arrayContaining([
          "INFRAHUB_METRICS_PUSHGATEWAY",
          "INFRAHUB_METRICS_PUSHGATEWAY_USERNAME",
          "INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD",
          "INFRAHUB_NOTIFY_WEBHOOK",
          "INFRAHUB_NOTIFY_ON",
        ]),
      );

      // The webhook: one call per failed pod, a JSON body naming the failure, no secret in it or in the log.
      expect(receiver.requests.length, log).toBeGreaterThanOrEqual(1);
      const call = receiver.requests[0] as (typeof receiver.requests)[number];
      expect(call.method).toBe("POST");
      const body = JSON.parse(call.body) as {
        event: string;
        status: string;
        deployment: string;
        text: string;
        error: { code: string; category: string; exit_code: number };
      };
      expect(body).toMatchObject({ event: "infrahub-backup.create", status: "failed", deployment: NS });
      expect(body.error.exit_code).toBe(run?.exitCode);
      expect(body.text).toContain(body.error.code);
      console.info(`backup pod exit ${run?.exitCode}, webhook text: ${body.text}`);
      const password = (pushgateway.basicAuth as { password: string }).password;
      for (const text of [call.body, log]) {
        expect(text).not.toContain(password);
        expect(text).not.toContain("T000-secret-token");
      }

      // The Pushgateway, scraped as Prometheus would.
      const samples = (await pushgateway.samples()).filter((s) => s.labels.job === "infrahub-backup");
      const success = samples.find((s) => s.name === "infrahub_backup_last_attempt_success");
      expect(success?.labels).toMatchObject({ job: "infrahub-backup", deployment: NS, operation: "create" });
      expect(success?.value).toBe(0);
      expect(samples.some((s) => s.name === "infrahub_backup_last_success_timestamp_seconds")).toBe(false);
      const info = samples.find((s) => s.name === "infrahub_backup_last_failure_info");
      expect(info?.labels).toMatchObject({ category: body.error.category, code: body.error.code });

      // promtool: the scraped samples as stored series from minute 5 on, the rule rendered from the same values.
      const STEPS = 27 * 60;
      const input = samples.map((s) => ({
        series: seriesSelector(s.name, storedLabels(s)),
        values: stepValues([[5, s.value]], STEPS),
      }));
      // The rule as the API server stored it from the release.
      const stored = (await cluster.client.json(
        "GET",
        `/apis/monitoring.coreos.com/v1/namespaces/${NS}/prometheusrules`,
      )) as { items: K8sObject[] };
      expect(stored.items.map((r) => r.metadata.labels.release)).toEqual(["kube-prometheus-stack"]);
      const rules = writeRuleFile(stored.items, work.path);
      const labels = { job: "infrahub-backup", deployment: NS, operation: "create", severity: "critical" };
      writeFileSync(
        join(work.path, "test.yaml"),
        stringify({
          rule_files: [rules],
          evaluation_interval: "1m",
          tests: [
            {
              interval: "1m",
              input_series: input,
              alert_rule_test: [
                { eval_time: "4m", alertname: "InfrahubBackupFailed", exp_alerts: [] },
                {
                  eval_time: "10m",
                  alertname: "InfrahubBackupFailed",
                  exp_alerts: [
                    {
                      exp_labels: labels,
                      exp_annotations: {
                        summary: `The last Infrahub create in namespace ${NS} failed`,
                        description: `The last create run of infrahub-backup in namespace ${NS} failed; it stays failed until a run succeeds. The error category and code are in infrahub_backup_last_failure_info, the cause in the Job's log: kubectl -n ${NS} logs job/<name>.`,
                      },
                    },
                  ],
                },
                // Nightly runs that keep failing: 26 h without any success fires the age alert too.
                { eval_time: "25h", alertname: "InfrahubBackupNoSuccessKnown", exp_alerts: [] },
                {
                  eval_time: "26h10m",
                  alertname: "InfrahubBackupNoSuccessKnown",
                  exp_alerts: [
                    {
                      exp_labels: labels,
                      exp_annotations: {
                        summary: `No successful Infrahub backup in namespace ${NS} is known`,
                        description: `No infrahub_backup_last_success_timestamp_seconds series for namespace ${NS} for 93600s: no backup has succeeded since the Pushgateway started, or no backup pushes metrics (metrics.pushgateway.url), or Prometheus does not scrape the Pushgateway with honor_labels.`,
                      },
                    },
                  ],
                },
              ],
            },
          ],
        }),
      );
      const res = promtool(["test", "rules", "test.yaml"], work.path);
      expect(res.status, `${res.output}\n${JSON.stringify(input, null, 1)}`).toBe(0);
    },
    LONG,
  );
});
