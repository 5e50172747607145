// Monitoring values (issue 24), rendered by the pinned Helm: the Pushgateway and webhook settings reach every
// backup and restore pod as the CLI's env (credentials and URLs only through Secret refs), the NetworkPolicy
// lets them out, the PrometheusRule is optional and its thresholds follow the schedule. promtool runs the
// rules themselves in prometheus-rules.test.ts.
import { describe, expect, it } from "vitest";
import { chartDir, envMap, find, helm, type K8sObject, render, renderError, renderRaw } from "./helm.ts";
import { KubeValidator } from "./kube-schema.ts";

const s3 = { bucket: "backups", secretName: "s3-creds" };
const monitoring = {
  metrics: {
    pushgateway: {
      url: "http://prometheus-pushgateway.monitoring:9091",
      auth: { secretName: "pushgateway-auth", usernameKey: "user", passwordKey: "password" },
    },
  },
  notifications: { webhook: { secretName: "backup-webhooks" }, notifyOn: "always" },
};
const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });
const expectedEnv = {
  INFRAHUB_METRICS_PUSHGATEWAY: "http://prometheus-pushgateway.monitoring:9091",
  INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD: ref("pushgateway-auth", "password"),
  INFRAHUB_METRICS_PUSHGATEWAY_USERNAME: ref("pushgateway-auth", "user"),
  INFRAHUB_NOTIFY_WEBHOOK: ref("backup-webhooks", "urls"),
  INFRAHUB_NOTIFY_ON: "always",
};
const monitoringEnv = (obj: K8sObject) =>
  Object.fromEntries(Object.entries(envMap(obj)).filter(([k]) => /^INFRAHUB_(METRICS|NOTIFY)_/.test(k)));

/** Every backup and restore workload the chart renders (one-shot, hook, scheduled). */
const workloads = (values: Record<string, unknown>): K8sObject[] => [
  ...render({ ...values, backup: { enabled: true, storage: { s3 } } }).filter((o) => o.kind === "Job"),
  ...render({ ...values, backup: { enabled: true, mode: "cronjob", storage: { s3 } } }).filter(
    (o) => o.kind === "CronJob",
  ),
  ...render({ ...values, restore: { enabled: true, storage: { s3: { ...s3, latest: true } } } }).filter(
    (o) => o.kind === "Job",
  ),
  ...render({
    ...values,
    restore: { enabled: true, mode: "cronjob", storage: { s3: { ...s3, latest: true } } },
  }).filter((o) => o.kind === "CronJob"),
];

describe("metrics push and webhook notifications reach the pods (issue 24)", () => {
  it("every backup and restore Job and CronJob gets the Pushgateway URL, its credentials and the webhooks from Secret refs", () => {
    const all = workloads(monitoring);
    expect(all.map((o) => `${o.kind}:${o.metadata.labels["app.kubernetes.io/component"]}`)).toEqual([
      "Job:backup",
      "CronJob:backup",
      "Job:restore",
      "CronJob:restore",
    ]);
    for (const obj of all) expect(monitoringEnv(obj)).toEqual(expectedEnv);
  });

  it("nothing by default: no env, no PrometheusRule, no NetworkPolicy rule for them", () => {
    for (const obj of workloads({})) expect(monitoringEnv(obj)).toEqual({});
    const objects = render({ backup: { enabled: true, storage: { s3 } }, networkPolicy: { enabled: true } });
    expect(objects.some((o) => o.kind === "PrometheusRule")).toBe(false);
    expect(JSON.stringify(find(objects, "NetworkPolicy").spec.egress)).not.toContain("9091");
  });

  it("a bearer token instead of basic auth; no credentials without a Secret; notifyOn defaults to failure", () => {
    const [job] = workloads({
      metrics: {
        pushgateway: {
          url: "https://pgw.example.com",
          auth: { secretName: "pgw", bearerTokenKey: "token" },
        },
      },
      notifications: { webhook: { secretName: "hooks", key: "slack" } },
    });
    expect(monitoringEnv(job as K8sObject)).toEqual({
      INFRAHUB_METRICS_PUSHGATEWAY: "https://pgw.example.com",
      INFRAHUB_METRICS_PUSHGATEWAY_BEARER_TOKEN: ref("pgw", "token"),
      INFRAHUB_NOTIFY_WEBHOOK: ref("hooks", "slack"),
      INFRAHUB_NOTIFY_ON: "failure",
    });
    const [plain] = workloads({ metrics: { pushgateway: { url: "http://pgw:9091" } } });
    expect(monitoringEnv(plain as K8sObject)).toEqual({ INFRAHUB_METRICS_PUSHGATEWAY: "http://pgw:9091" });
  });

  it("no credential or webhook URL is ever a plain value in the rendered objects", () => {
    const text = renderRaw({ ...monitoring, backup: { enabled: true, storage: { s3 } } }).stdout;
    expect(text).not.toMatch(/value: .*hooks\.slack|INFRAHUB_NOTIFY_WEBHOOK\n\s+value:/);
    expect(helm(["show", "values", chartDir]).stdout).not.toMatch(/https:\/\/hooks\./);
  });

  it("the NetworkPolicy lets the pods reach the Pushgateway and webhook ports, never the metadata endpoints", () => {
    const np = find(
      render({ ...monitoring, backup: { enabled: true, storage: { s3 } }, networkPolicy: { enabled: true } }),
      "NetworkPolicy",
    );
    const rule = np.spec.egress.find((r: K8sObject) => r.ports.some((p: K8sObject) => p.port === 9091));
    expect(rule.ports).toEqual([
      { protocol: "TCP", port: 9091 },
      { protocol: "TCP", port: 443 },
    ]);
    expect(JSON.stringify(rule.to)).toContain("169.254.0.0/16");
    const narrowed = find(
      render({
        ...monitoring,
        backup: { enabled: true, storage: { s3 } },
        networkPolicy: { enabled: true, monitoring: { cidrs: ["10.1.0.0/16"], ports: [9091] } },
      }),
      "NetworkPolicy",
    );
    expect(narrowed.spec.egress).toContainEqual({
      ports: [{ protocol: "TCP", port: 9091 }],
      to: [{ ipBlock: { cidr: "10.1.0.0/16" } }],
    });
  });
});

describe("PrometheusRule (issue 24)", () => {
  const scheduled = (schedule: string, rule: Record<string, unknown> = {}) => ({
    backup: { enabled: true, mode: "cronjob", schedule, storage: { s3 } },
    metrics: { prometheusRule: { enabled: true, ...rule } },
  });
  const rules = (values: unknown, namespace = "infrahub") =>
    find(render(values, { namespace }), "PrometheusRule").spec.groups[0].rules as K8sObject[];
  const tooOld = (values: unknown) => rules(values).find((r) => r.alert === "InfrahubBackupTooOld");

  it("renders the alerts on this namespace's series, with the rule-selector labels and an optional namespace", () => {
    const objects = render(
      scheduled("0 2 * * *", {
        namespace: "monitoring",
        labels: { release: "kube-prometheus-stack" },
        annotations: { owner: "platform" },
      }),
      { namespace: "prod" },
    );
    const rule = find(objects, "PrometheusRule");
    expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(rule.metadata.namespace).toBe("monitoring");
    expect(rule.metadata.labels.release).toBe("kube-prometheus-stack");
    expect(rule.metadata.annotations).toEqual({ owner: "platform" });
    const group = rule.spec.groups[0];
    expect(group.rules.map((r: K8sObject) => r.alert)).toEqual([
      "InfrahubBackupFailed",
      "InfrahubBackupTooOld",
      "InfrahubBackupNoSuccessKnown",
      "InfrahubBackupNeo4jOfflineTooLong",
    ]);
    for (const r of group.rules) expect(r.expr).toContain('job="infrahub-backup",deployment="prod"');
  });

  it.each([
    ["0 2 * * *", 26 * 3600],
    ["@daily", 26 * 3600],
    ["30 1 * * *", 26 * 3600],
    ["@hourly", 3 * 3600],
    ["15 * * * *", 3 * 3600],
    ["*/30 * * * *", 7200 + 1800],
    ["0 */6 * * *", 8 * 3600],
    ["0 3 * * 0", 7 * 86400 + 7200],
    ["0 3 * * sun", 7 * 86400 + 7200],
    ["0 3 1 * *", 31 * 86400 + 7200],
  ])("schedule %s: no successful backup for %d s fires", (schedule, seconds) => {
    expect(tooOld(scheduled(schedule))?.expr).toMatch(new RegExp(` > ${seconds}$`));
  });

  it("maxAgeSeconds and marginSeconds override the derivation; without a scheduled backup only maxAgeSeconds gives the age alert", () => {
    expect(tooOld(scheduled("0 2 * * *", { noRecentBackup: { marginSeconds: 0 } }))?.expr).toMatch(
      / > 86400$/,
    );
    expect(tooOld(scheduled("0 2,14 * * *", { noRecentBackup: { maxAgeSeconds: 50_400 } }))?.expr).toMatch(
      / > 50400$/,
    );
    const restoreOnly = { restore: { enabled: true, storage: { s3: { ...s3, latest: true } } } };
    expect(
      rules({ ...restoreOnly, metrics: { prometheusRule: { enabled: true } } }).map((r) => r.alert),
    ).toEqual(["InfrahubBackupFailed", "InfrahubBackupNeo4jOfflineTooLong"]);
    const elsewhere = rules({
      metrics: { prometheusRule: { enabled: true, noRecentBackup: { maxAgeSeconds: 90_000 } } },
    });
    expect(elsewhere.map((r) => r.alert)).toContain("InfrahubBackupTooOld");
    expect(elsewhere.map((r) => r.alert)).toContain("InfrahubBackupNoSuccessKnown");
  });

  it("each alert can be switched off, and carries its severity and additionalRuleLabels", () => {
    const only = rules(
      scheduled("0 2 * * *", {
        additionalRuleLabels: { team: "platform" },
        backupFailed: { for: "10m", severity: "page" },
        noRecentBackup: { enabled: false },
        neo4jOffline: { enabled: false },
      }),
    );
    expect(only).toHaveLength(1);
    expect(only[0]).toMatchObject({
      alert: "InfrahubBackupFailed",
      for: "10m",
      labels: { severity: "page", team: "platform" },
    });
  });

  it("the objects other than the PrometheusRule are valid Kubernetes 1.36 objects; helm lint --strict passes", () => {
    const validator = new KubeValidator("1.36.0");
    const objects = render({
      ...monitoring,
      ...scheduled("0 2 * * *"),
      networkPolicy: { enabled: true },
    }).filter((o) => o.kind !== "PrometheusRule");
    expect(objects.flatMap((o) => validator.validate(o))).toEqual([]);
    const lint = helm([
      "lint",
      "--strict",
      chartDir,
      "--set",
      "metrics.prometheusRule.enabled=true,backup.enabled=true,backup.mode=cronjob,backup.storage.s3.bucket=bk",
      "--set",
      "metrics.pushgateway.url=http://pgw:9091,notifications.webhook.secretName=hooks",
    ]);
    expect(lint.status, `${lint.stdout}\n${lint.stderr}`).toBe(0);
  });
});

describe("monitoring values are checked with readable messages", () => {
  it.each([
    [
      "auth Secret without keys",
      { metrics: { pushgateway: { url: "http://p:9091", auth: { secretName: "s" } } } },
      /auth\.secretName is set but names no key/,
    ],
    [
      "keys without a Secret",
      { metrics: { pushgateway: { url: "http://p:9091", auth: { bearerTokenKey: "t" } } } },
      /keys are set but secretName is empty/,
    ],
    [
      "half of basic auth",
      { metrics: { pushgateway: { url: "http://p:9091", auth: { secretName: "s", usernameKey: "u" } } } },
      /basic auth needs both usernameKey and passwordKey/,
    ],
    [
      "basic and bearer",
      {
        metrics: {
          pushgateway: {
            url: "http://p:9091",
            auth: { secretName: "s", usernameKey: "u", passwordKey: "p", bearerTokenKey: "t" },
          },
        },
      },
      /are both set: use one/,
    ],
    [
      "credentials without a URL",
      { metrics: { pushgateway: { auth: { secretName: "s", bearerTokenKey: "t" } } } },
      /metrics\.pushgateway\.url is empty: nothing would be pushed/,
    ],
    [
      "a schedule whose interval cannot be derived",
      {
        backup: { enabled: true, mode: "cronjob", schedule: "0 2,14 * * *", storage: { s3 } },
        metrics: { prometheusRule: { enabled: true } },
      },
      /the interval of backup\.schedule "0 2,14 \* \* \*" cannot be derived .*: set maxAgeSeconds/,
    ],
  ])("%s", (_name, values, message) => {
    const err = renderError(values);
    expect(err).toContain("infrahub-backup: the values cannot be rendered:");
    expect(err).toMatch(message);
  });

  it("the schema rejects a URL without scheme, a plain webhook URL value, an unknown notifyOn and a bad duration", () => {
    expect(renderError({ metrics: { pushgateway: { url: "pgw:9091" } } })).toMatch(
      /\/metrics\/pushgateway\/url/,
    );
    expect(renderError({ notifications: { webhook: { url: "https://hooks.example/x" } } })).toMatch(
      /\/notifications\/webhook.*additional properties 'url' not allowed/,
    );
    expect(renderError({ notifications: { notifyOn: "success" } })).toMatch(/\/notifications\/notifyOn/);
    expect(renderError({ metrics: { prometheusRule: { backupFailed: { for: "10 minutes" } } } })).toMatch(
      /\/metrics\/prometheusRule\/backupFailed\/for/,
    );
    expect(
      renderError({ metrics: { prometheusRule: { noRecentBackup: { maxAgeSeconds: "26h" } } } }),
    ).toMatch(/\/metrics\/prometheusRule\/noRecentBackup\/maxAgeSeconds/);
  });
});
