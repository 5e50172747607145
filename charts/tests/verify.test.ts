// The scheduled verify (issue 23 §1), rendered by the pinned Helm: nothing by default; enabled, a CronJob that
// runs `verify --latest --s3` with the backup's S3 settings and credentials, the monitoring env and the
// restore's private key, as its own ServiceAccount with no Role and no API token. verify-run.test.ts runs it
// on the local cluster.
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  chartDir,
  container,
  envMap,
  find,
  helm,
  type K8sObject,
  podSpec,
  render,
  renderError,
} from "./helm.ts";
import { KubeValidator } from "./kube-schema.ts";

const s3 = {
  bucket: "backups",
  prefix: "prod/",
  endpoint: "https://s3.example.com",
  secretName: "s3-creds",
  caBundle: { configMapName: "s3-ca" },
};
const monitoring = {
  metrics: {
    pushgateway: {
      url: "http://prometheus-pushgateway.monitoring:9091",
      auth: { secretName: "pushgateway-auth", usernameKey: "user", passwordKey: "password" },
    },
  },
  notifications: { webhook: { secretName: "backup-webhooks" }, notifyOn: "always" },
};
const scheduledBackup = { enabled: true, mode: "cronjob", storage: { s3 } };
const cronJob = (objects: K8sObject[], component: string) =>
  objects.find(
    (o) => o.kind === "CronJob" && o.metadata.labels["app.kubernetes.io/component"] === component,
  ) as K8sObject;

describe("verify CronJob (issue 23 §1)", () => {
  it("renders nothing by default", () => {
    for (const values of [{}, { backup: scheduledBackup }]) {
      const objects = render(values);
      expect(objects.filter((o) => o.metadata?.name?.endsWith("-verify"))).toEqual([]);
      expect(JSON.stringify(objects)).not.toContain('"verify"');
    }
  });

  it("enabled: verify --latest --s3 weekly, with the backup CronJob's S3 env, monitoring env and Job settings", () => {
    const objects = render({ backup: scheduledBackup, verify: { enabled: true }, ...monitoring });
    const verify = find(objects, "CronJob", "infrahub-backup-verify");
    const backup = cronJob(objects, "backup");
    expect(verify.spec.schedule).toBe("0 4 * * 0");
    expect(container(verify).name).toBe("verify");
    expect(container(verify).args).toEqual(["verify", "--latest", "--s3"]);

    // Exactly the backup's env, S3 and monitoring alike, less its backup dir (verify reads S3 only).
    const { INFRAHUB_BACKUP_DIR, ...backupEnv } = envMap(backup);
    expect(INFRAHUB_BACKUP_DIR).toBe("/infrahub_backups");
    expect(envMap(verify)).toEqual(backupEnv);
    expect(envMap(verify)).toMatchObject({
      INFRAHUB_S3_BUCKET: "backups",
      INFRAHUB_S3_PREFIX: "prod/",
      INFRAHUB_S3_ENDPOINT: "https://s3.example.com",
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: "s3-creds", key: "AWS_SECRET_ACCESS_KEY" } },
      INFRAHUB_S3_CA_BUNDLE: "/etc/infrahub-backup/s3-ca/ca.crt",
      INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD: { secretKeyRef: { name: "pushgateway-auth", key: "password" } },
      INFRAHUB_NOTIFY_WEBHOOK: { secretKeyRef: { name: "backup-webhooks", key: "urls" } },
      INFRAHUB_NOTIFY_ON: "always",
    });
    expect(podSpec(verify).volumes.map((v: K8sObject) => v.name)).toEqual(["tmp", "s3-ca"]);

    // Scheduling and run limits as the backup CronJob's: Forbid, history, a deadline, the failure policy.
    const specOf = (o: K8sObject) => {
      const { schedule: _s, jobTemplate, ...rest } = o.spec;
      return { ...rest, job: { ...jobTemplate.spec, template: undefined } };
    };
    expect(specOf(verify)).toEqual(
      JSON.parse(
        JSON.stringify(specOf(backup)).replaceAll('"containerName":"backup"', '"containerName":"verify"'),
      ),
    );
    expect(verify.spec).toMatchObject({
      concurrencyPolicy: "Forbid",
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
    });
    const job = verify.spec.jobTemplate.spec;
    expect(job.activeDeadlineSeconds).toBe(14400);
    expect(job.podFailurePolicy.rules[1].onExitCodes).toEqual({
      containerName: "verify",
      operator: "In",
      values: [2, 4, 5, 6, 8],
    });

    // Restricted pod security like every other Job.
    expect(podSpec(verify).securityContext).toEqual(podSpec(backup).securityContext);
    expect(container(verify).securityContext).toEqual(container(backup).securityContext);
  });

  it("runs as its own ServiceAccount without a token, which no Role binds", () => {
    const objects = render({
      backup: scheduledBackup,
      verify: { enabled: true },
      serviceAccount: { annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/backup" } },
    });
    const pod = podSpec(find(objects, "CronJob", "infrahub-backup-verify"));
    expect(pod.serviceAccountName).toBe("infrahub-backup-verify");
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBeUndefined();
    const sa = find(objects, "ServiceAccount", "infrahub-backup-verify");
    expect(sa.automountServiceAccountToken).toBe(false);
    // Workload identity: the backup's annotations unless the verify SA has its own.
    expect(sa.metadata.annotations).toEqual({ "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/backup" });
    const binding = find(objects, "RoleBinding");
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "infrahub-backup", namespace: "infrahub" },
    ]);

    const own = render({
      backup: scheduledBackup,
      verify: { enabled: true, serviceAccount: { create: false, name: "s3-reader" } },
    });
    expect(podSpec(find(own, "CronJob", "infrahub-backup-verify")).serviceAccountName).toBe("s3-reader");
    expect(own.some((o) => o.kind === "ServiceAccount" && o.metadata.name.endsWith("-verify"))).toBe(false);
  });

  it("encrypted archives: the restore's private key is mounted and passed; schedule, zone, limits are values", () => {
    const objects = render({
      backup: { ...scheduledBackup, encryption: { enabled: true } },
      restore: { decryption: { keySecret: { name: "backup-private-key" } } },
      verify: {
        enabled: true,
        schedule: "30 5 * * 6",
        timeZone: "Europe/Paris",
        job: { backoffLimit: 0, activeDeadlineSeconds: 3600, annotations: { team: "platform" } },
      },
    });
    const verify = find(objects, "CronJob", "infrahub-backup-verify");
    expect(container(verify).args).toEqual([
      "verify",
      "--latest",
      "--s3",
      "--decrypt-key=/etc/infrahub-backup/keys/private.pem",
    ]);
    expect(podSpec(verify).volumes).toContainEqual({
      name: "keys",
      secret: {
        secretName: "backup-private-key",
        defaultMode: 288,
        items: [{ key: "private.pem", path: "private.pem" }],
      },
    });
    expect(verify.spec).toMatchObject({ schedule: "30 5 * * 6", timeZone: "Europe/Paris" });
    expect(verify.metadata.annotations).toEqual({ team: "platform" });
    expect(verify.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
  });

  it("a verify-only release (no backup here) verifies the bucket given in backup.storage.s3", () => {
    const objects = render({ backup: { storage: { s3 } }, verify: { enabled: true } });
    expect(
      objects.filter((o) => o.kind === "CronJob" || o.kind === "Job").map((o) => o.metadata.name),
    ).toEqual(["infrahub-backup-verify"]);
  });

  it("valid Kubernetes 1.36 objects; helm lint --strict passes; NOTES name the CronJob and how to run it now", () => {
    const validator = new KubeValidator("1.36.0");
    const objects = render({
      backup: scheduledBackup,
      verify: { enabled: true },
      restore: { decryption: { keySecret: { name: "k" } } },
      ...monitoring,
    });
    expect(objects.flatMap((o) => validator.validate(o))).toEqual([]);
    const lint = helm([
      "lint",
      "--strict",
      chartDir,
      "--set",
      "verify.enabled=true,backup.enabled=true,backup.mode=cronjob,backup.storage.s3.bucket=bk",
    ]);
    expect(lint.status, `${lint.stdout}\n${lint.stderr}`).toBe(0);
    const res = helm(["install", "ihb", chartDir, "--dry-run=client", "-n", "infrahub", "-f", "-"], {
      input: stringify({
        backup: { storage: { s3: { bucket: "bk", prefix: "prod/" } } },
        verify: { enabled: true },
      }),
    });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain(
      'Scheduled verify: CronJob ihb-infrahub-backup-verify at "0 4 * * 0" reads the newest archive in s3://bk/prod/',
    );
    expect(res.stdout).toContain(
      "kubectl -n infrahub create job --from=cronjob/ihb-infrahub-backup-verify ihb-infrahub-backup-verify-manual",
    );
    expect(res.stdout).not.toContain("Nothing scheduled");
  });
});

describe("verify values are checked", () => {
  it.each([
    ["no bucket", { verify: { enabled: true } }, /verify\.enabled needs backup\.storage\.s3\.bucket/],
    [
      "local storage",
      { verify: { enabled: true }, backup: { storage: { type: "local" } } },
      /verify\.enabled reads the newest archive in S3 .* backup\.storage\.type is "local"/,
    ],
    [
      "encrypted backups without the private key",
      { verify: { enabled: true }, backup: { ...scheduledBackup, encryption: { enabled: true } } },
      /archives are encrypted, so verify needs their private key: set restore\.decryption\.keySecret\.name/,
    ],
    [
      "backups encrypted to a key Secret, without the private key",
      {
        verify: { enabled: true },
        backup: { ...scheduledBackup, encryption: { keySecret: { name: "pub" } } },
      },
      /set restore\.decryption\.keySecret\.name/,
    ],
  ])("%s", (_name, values, message) => {
    const err = renderError(values);
    expect(err).toContain("infrahub-backup: the values cannot be rendered:");
    expect(err).toMatch(message);
  });

  it.each([
    ["a non-boolean enabled", { enabled: "true" }, /\/verify\/enabled/],
    ["a six-field schedule", { schedule: "0 0 4 * * 0" }, /\/verify\/schedule/],
    ["an empty schedule", { schedule: "" }, /\/verify\/schedule/],
    ["a CRON_TZ zone", { timeZone: "CRON_TZ=UTC" }, /\/verify\/timeZone/],
    ["a negative backoffLimit", { job: { backoffLimit: -1 } }, /\/verify\/job\/backoffLimit/],
    ["a zero deadline", { job: { activeDeadlineSeconds: 0 } }, /\/verify\/job\/activeDeadlineSeconds/],
    [
      "a deadline as a duration",
      { job: { activeDeadlineSeconds: "4h" } },
      /\/verify\/job\/activeDeadlineSeconds/,
    ],
    [
      "a ServiceAccount name in capitals",
      { serviceAccount: { name: "Reader" } },
      /\/verify\/serviceAccount\/name/,
    ],
    ["an unknown key", { latest: true }, /\/verify.*additional properties 'latest' not allowed/],
    ["an unknown job key", { job: { ttl: 5 } }, /\/verify\/job.*additional properties 'ttl' not allowed/],
  ])("the schema refuses %s", (_name, verify, message) => {
    expect(renderError({ backup: { storage: { s3 } }, verify })).toMatch(message);
  });

  it("a null deadline (none) is accepted", () => {
    const objects = render({
      backup: { storage: { s3 } },
      verify: { enabled: true, job: { activeDeadlineSeconds: null } },
    });
    expect(find(objects, "CronJob").spec.jobTemplate.spec.activeDeadlineSeconds).toBeUndefined();
  });
});
