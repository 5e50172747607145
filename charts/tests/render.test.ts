import { describe, expect, it } from "vitest";
import {
  container,
  envMap,
  find,
  type K8sObject,
  parseObjects,
  podSpec,
  render,
  renderError,
  renderRaw,
} from "./helm.ts";

const s3Backup = (extra: Record<string, unknown> = {}) => ({
  backup: { enabled: true, storage: { type: "s3", s3: { bucket: "bk", ...extra } } },
});
const ns = { fieldRef: { fieldPath: "metadata.namespace" } };
/** Any pod, and any address but the link-local cloud metadata and credential endpoints. */
const anyButMetadata = [
  { namespaceSelector: {} },
  { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.0.0/16", "100.100.100.200/32"] } },
  { ipBlock: { cidr: "::/0", except: ["fd00:ec2::/64", "fe80::/10"] } },
];
/** What this chart adds to a plain one-shot restore's upstream arguments by default (before --yes). */
const additions = (job: K8sObject) => [
  "--wait-ready=15m",
  `--request-id=${job.metadata.annotations["infrahub-backup/request-hash"]}`,
];

describe("default render", () => {
  it("renders only the ServiceAccount, Role and RoleBinding, and matches the snapshot", async () => {
    const res = renderRaw({});
    expect(res.status, res.stderr).toBe(0);
    await expect(res.stdout).toMatchFileSnapshot("__snapshots__/default-render.yaml");
    const objs = render({});
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ServiceAccount/infrahub-backup",
      "Role/infrahub-backup",
      "RoleBinding/infrahub-backup",
    ]);
  });

  it("snapshots a scheduled S3 backup with everything optional switched on", async () => {
    const res = renderRaw({
      ...s3Backup({
        prefix: "p/",
        endpoint: "https://s3.local:9000",
        secretName: "creds",
        caBundle: { secretName: "ca" },
      }),
      backup: {
        enabled: true,
        mode: "cronjob",
        timeZone: "Europe/Paris",
        storage: {
          type: "s3",
          s3: {
            bucket: "bk",
            prefix: "p/",
            endpoint: "https://s3.local:9000",
            secretName: "creds",
            caBundle: { secretName: "ca" },
          },
        },
      },
      networkPolicy: { enabled: true },
      logFormat: "json",
    });
    expect(res.status, res.stderr).toBe(0);
    await expect(res.stdout).toMatchFileSnapshot("__snapshots__/s3-cronjob-render.yaml");
  });

  it("grants exactly what the CLI uses (the acceptance scenarios check it against the audit log), nothing cluster-wide", () => {
    const role = find(render({}), "Role");
    expect(role.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
      { apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] },
      { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get", "list"] },
      {
        apiGroups: ["apps"],
        resources: ["deployments/scale", "statefulsets/scale"],
        verbs: ["get", "patch"],
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["infrahub-backup", "infrahub-backup-last-restore"],
        verbs: ["get", "update", "delete"],
      },
    ]);
    // No pods/log and no pods get: nothing the CLI does reads a log or one pod by name (2.1.0 granted both).
    expect(JSON.stringify(role.rules)).not.toContain("pods/log");
    const objs = render({ rbac: { create: false }, serviceAccount: { create: false } });
    expect(objs).toEqual([]);
  });
});

describe("backup", () => {
  it("one-shot S3 backup: a Helm hook Job named <fullname>, upstream args and env", () => {
    const job = find(
      render(s3Backup({ prefix: "pre/", endpoint: "http://minio:9000", secretName: "creds" })),
      "Job",
    );
    expect(job.metadata.name).toBe("infrahub-backup");
    expect(job.metadata.annotations).toEqual({
      "helm.sh/hook": "post-install,post-upgrade",
      "helm.sh/hook-delete-policy": "before-hook-creation",
    });
    expect(job.spec.backoffLimit).toBe(2);
    expect(job.spec.ttlSecondsAfterFinished).toBeUndefined();
    expect(job.spec.activeDeadlineSeconds).toBe(14400);
    expect(container(job).name).toBe("backup");
    expect(container(job).command).toBeUndefined();
    expect(container(job).args).toEqual(["create", "--neo4jmetadata=all", "--s3-upload"]);
    expect(container(job).env).toEqual([
      { name: "INFRAHUB_K8S_NAMESPACE", valueFrom: ns },
      { name: "INFRAHUB_S3_BUCKET", value: "bk" },
      { name: "INFRAHUB_S3_PREFIX", value: "pre/" },
      { name: "INFRAHUB_S3_ENDPOINT", value: "http://minio:9000" },
      { name: "INFRAHUB_S3_REGION", value: "us-east-1" },
      { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "creds", key: "AWS_ACCESS_KEY_ID" } } },
      {
        name: "AWS_SECRET_ACCESS_KEY",
        valueFrom: { secretKeyRef: { name: "creds", key: "AWS_SECRET_ACCESS_KEY" } },
      },
      { name: "INFRAHUB_BACKUP_DIR", value: "/infrahub_backups" },
    ]);
  });

  it("options map to flags in upstream order; extraArgs are appended verbatim", () => {
    const job = find(
      render({
        backup: {
          enabled: true,
          storage: { s3: { bucket: "bk" } },
          options: {
            force: true,
            excludeTaskmanager: true,
            neo4jMetadata: "none",
            keepLocal: true,
            extraArgs: ["--retention-count=7", 'x "quoted" y'],
          },
        },
      }),
      "Job",
    );
    expect(container(job).args).toEqual([
      "create",
      "--force",
      "--exclude-taskmanager",
      "--neo4jmetadata=none",
      "--s3-upload",
      "--s3-keep-local",
      "--retention-count=7",
      'x "quoted" y',
    ]);
  });

  it("credential key names are configurable; no Secret means workload identity (no AWS_* env)", () => {
    const job = find(
      render(s3Backup({ secretName: "s", accessKeyIdKey: "id", secretAccessKeyKey: "secret" })),
      "Job",
    );
    expect(envMap(job).AWS_ACCESS_KEY_ID).toEqual({ secretKeyRef: { name: "s", key: "id" } });
    expect(envMap(job).AWS_SECRET_ACCESS_KEY).toEqual({ secretKeyRef: { name: "s", key: "secret" } });
    const irsa = render({
      ...s3Backup(),
      serviceAccount: { annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r" } },
    });
    expect(Object.keys(envMap(find(irsa, "Job")))).not.toContain("AWS_ACCESS_KEY_ID");
    expect(find(irsa, "ServiceAccount", "infrahub-backup").metadata.annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r",
      "helm.sh/resource-policy": "keep",
    });
    // The helm test's own ServiceAccount gets the same identity annotations (its role must trust it too).
    expect(find(irsa, "ServiceAccount", "infrahub-backup-test").metadata.annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r",
    });
    expect(podSpec(find(irsa, "Job")).securityContext.fsGroup).toBe(1000);
  });

  it("CA bundle from a Secret or ConfigMap is mounted read-only and named by INFRAHUB_S3_CA_BUNDLE; insecureTLS is explicit", () => {
    const job = find(
      render(s3Backup({ caBundle: { secretName: "ca", key: "bundle.pem" }, insecureTLS: true })),
      "Job",
    );
    expect(envMap(job).INFRAHUB_S3_CA_BUNDLE).toBe("/etc/infrahub-backup/s3-ca/bundle.pem");
    expect(envMap(job).INFRAHUB_S3_INSECURE_TLS).toBe("true");
    expect(container(job).volumeMounts).toContainEqual({
      name: "s3-ca",
      mountPath: "/etc/infrahub-backup/s3-ca",
      readOnly: true,
    });
    expect(podSpec(job).volumes).toContainEqual({
      name: "s3-ca",
      secret: { secretName: "ca", items: [{ key: "bundle.pem", path: "bundle.pem" }] },
    });
    const cm = find(render(s3Backup({ caBundle: { configMapName: "ca-cm" } })), "Job");
    expect(podSpec(cm).volumes).toContainEqual({
      name: "s3-ca",
      configMap: { name: "ca-cm", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
  });

  it("CronJob: Forbid, history limits, startingDeadlineSeconds 3600, suspend, timeZone, backoffLimit always", () => {
    const cj = find(
      render({
        backup: {
          enabled: true,
          mode: "cronjob",
          timeZone: "Europe/Paris",
          storage: { s3: { bucket: "bk" } },
        },
      }),
      "CronJob",
    );
    expect(cj.metadata.name).toBe("infrahub-backup");
    expect(cj.spec).toMatchObject({
      schedule: "0 2 * * *",
      timeZone: "Europe/Paris",
      concurrencyPolicy: "Forbid",
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      startingDeadlineSeconds: 3600,
      suspend: false,
    });
    expect(cj.spec.jobTemplate.spec.backoffLimit).toBe(2);
    const tuned = find(
      render({
        backup: { enabled: true, mode: "cronjob", schedule: "15 3 * * 0", storage: { s3: { bucket: "bk" } } },
        cronJob: { suspend: true, startingDeadlineSeconds: null, successfulJobsHistoryLimit: 1 },
        job: { backoffLimit: 5, ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 3600 },
      }),
      "CronJob",
    );
    expect(tuned.spec.schedule).toBe("15 3 * * 0");
    expect(tuned.spec.suspend).toBe(true);
    expect(tuned.spec.startingDeadlineSeconds).toBeUndefined();
    expect(tuned.spec.timeZone).toBeUndefined();
    expect(tuned.spec.successfulJobsHistoryLimit).toBe(1);
    expect(tuned.spec.jobTemplate.spec).toMatchObject({
      backoffLimit: 5,
      ttlSecondsAfterFinished: 600,
      activeDeadlineSeconds: 3600,
    });
  });

  it("local on an emptyDir: --backup-dir and --sleep (upstream); on a claim: no sleep, PVC created and kept", () => {
    const empty = find(render({ backup: { enabled: true, storage: { type: "local" } } }), "Job");
    expect(container(empty).args).toEqual([
      "create",
      "--neo4jmetadata=all",
      "--backup-dir=/infrahub_backups",
      "--sleep=3m",
    ]);
    expect(Object.keys(envMap(empty))).toEqual(["INFRAHUB_K8S_NAMESPACE", "INFRAHUB_BACKUP_DIR"]);
    expect(podSpec(empty).volumes).toContainEqual({ name: "backup-storage", emptyDir: {} });

    const objs = render({
      backup: {
        enabled: true,
        mode: "cronjob",
        storage: { type: "local", path: "/backups", local: { persistence: { enabled: true, size: "5Gi" } } },
      },
    });
    const cj = find(objs, "CronJob");
    expect(container(cj).args).toEqual(["create", "--neo4jmetadata=all", "--backup-dir=/backups"]);
    expect(podSpec(cj).volumes).toContainEqual({
      name: "backup-storage",
      persistentVolumeClaim: { claimName: "infrahub-backup-backups" },
    });
    const pvc = find(objs, "PersistentVolumeClaim");
    expect(pvc.metadata.annotations).toEqual({ "helm.sh/resource-policy": "keep" });
    expect(pvc.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } });

    const existing = render({
      backup: {
        enabled: true,
        storage: { type: "local", local: { persistence: { enabled: true, existingClaim: "nfs" } } },
      },
    });
    expect(existing.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    expect(podSpec(find(existing, "Job")).volumes).toContainEqual({
      name: "backup-storage",
      persistentVolumeClaim: { claimName: "nfs" },
    });
  });

  it("backup.job.helmHook false: a plain Job named after the request hash (requestId re-runs it)", () => {
    const a = find(
      render({ ...s3Backup(), backup: { ...s3Backup().backup, job: { helmHook: false } } }),
      "Job",
    );
    expect(a.metadata.name).toMatch(/^infrahub-backup-backup-[0-9a-f]{10}$/);
    expect(a.metadata.annotations["helm.sh/hook"]).toBeUndefined();
    const b = find(
      render({
        ...s3Backup(),
        backup: { ...s3Backup().backup, job: { helmHook: false }, requestId: "again" },
      }),
      "Job",
    );
    expect(b.metadata.name).not.toBe(a.metadata.name);
    const pre = find(
      render({ ...s3Backup(), backup: { ...s3Backup().backup, job: { hookEvents: "pre-upgrade" } } }),
      "Job",
    );
    expect(pre.metadata.annotations["helm.sh/hook"]).toBe("pre-upgrade");
  });
});

describe("restore", () => {
  const restoreKey = (extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
    restore: {
      enabled: true,
      storage: {
        type: "s3",
        s3: { bucket: "bk", key: "p/infrahub_backup_20261121_020000.tar.gz", ...extra },
      },
      ...top,
    },
  });

  it("key: s3:// URI, --s3-endpoint flag, region env only (upstream), --yes; a plain Job named by request hash", () => {
    const job = find(
      render(restoreKey({ endpoint: "http://minio:9000", secretName: "creds", prefix: "ignored/" })),
      "Job",
    );
    expect(job.metadata.name).toMatch(/^infrahub-backup-restore-[0-9a-f]{10}$/);
    const requestHash = job.metadata.annotations["infrahub-backup/request-hash"];
    expect(job.metadata.annotations).toEqual({
      "infrahub-backup/request-hash": expect.stringMatching(/^[0-9a-f]{10}$/),
    });
    expect(container(job).name).toBe("restore");
    expect(container(job).args).toEqual([
      "restore",
      "--s3-endpoint=http://minio:9000",
      "s3://bk/p/infrahub_backup_20261121_020000.tar.gz",
      "--wait-ready=15m",
      `--request-id=${requestHash}`,
      "--yes",
    ]);
    expect(Object.keys(envMap(job))).toEqual([
      "INFRAHUB_K8S_NAMESPACE",
      "INFRAHUB_S3_REGION",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "INFRAHUB_BACKUP_DIR",
    ]);
  });

  it("latest: --latest --s3 with bucket/prefix/endpoint env; options in upstream order", () => {
    const job = find(
      render({
        restore: {
          enabled: true,
          storage: {
            s3: {
              bucket: "bk",
              prefix: "prod/",
              latest: true,
              endpoint: "http://m:9000",
              region: "eu-west-1",
            },
          },
          options: { excludeTaskmanager: true, migrateFormat: true, extraArgs: ["--dry-run"] },
        },
      }),
      "Job",
    );
    expect(container(job).args).toEqual([
      "restore",
      "--exclude-taskmanager",
      "--migrate-format",
      "--latest",
      "--s3",
      "--wait-ready=15m",
      `--request-id=${job.metadata.annotations["infrahub-backup/request-hash"]}`,
      "--dry-run",
      "--yes",
    ]);
    expect(envMap(job)).toMatchObject({
      INFRAHUB_S3_BUCKET: "bk",
      INFRAHUB_S3_PREFIX: "prod/",
      INFRAHUB_S3_ENDPOINT: "http://m:9000",
      INFRAHUB_S3_REGION: "eu-west-1",
    });
  });

  it("the Job name is a hash of its whole pod template (image included); the request hash only of what is restored", () => {
    const job = (v: Record<string, unknown>) => find(render(v), "Job");
    const name = (v: Record<string, unknown>) => job(v).metadata.name as string;
    const request = (v: Record<string, unknown>) =>
      job(v).metadata.annotations["infrahub-backup/request-hash"];
    const base = name(restoreKey());
    const baseRequest = request(restoreKey());
    expect(name(restoreKey())).toBe(base);
    // A new request: a new Job and a new request id.
    for (const v of [
      restoreKey({ key: "other.tar.gz" }),
      restoreKey({}, { options: { migrateFormat: true } }),
      restoreKey({}, { requestId: "run-2" }),
    ]) {
      expect(name(v)).not.toBe(base);
      expect(request(v)).not.toBe(baseRequest);
    }
    // Another release restoring the same archive is another request (the record is per namespace).
    expect(
      find(render(restoreKey(), { release: "second-restore" }), "Job").metadata.annotations[
        "infrahub-backup/request-hash"
      ],
    ).not.toBe(baseRequest);
    // The same request run by another pod (image, resources, pod annotations, how long to wait): a new
    // Job (its pod template is immutable), the same request id, so it restores nothing twice.
    for (const v of [
      { ...restoreKey(), image: { tag: "9.9.9" } },
      { ...restoreKey(), resources: { limits: { memory: "2Gi" } } },
      { ...restoreKey(), podAnnotations: { "a/b": "c" } },
      restoreKey({}, { options: { waitReady: "30m" } }),
    ]) {
      expect(name(v)).not.toBe(base);
      expect(request(v)).toBe(baseRequest);
    }
    // Unrelated changes: other values leave the Job byte-identical.
    const unrelated = {
      ...restoreKey(),
      cronJob: { suspend: true },
      networkPolicy: { enabled: true },
      tests: { enabled: false },
    };
    expect(name(unrelated)).toBe(base);
    expect(job(unrelated).spec).toEqual(job(restoreKey()).spec);
    // The pod template carries no chart version: a chart upgrade with the same image changes nothing.
    expect(job(restoreKey()).spec.template.metadata.labels).toEqual({
      "app.kubernetes.io/name": "infrahub-backup",
      "app.kubernetes.io/instance": "infrahub-backup",
      "app.kubernetes.io/component": "restore",
    });
  });

  it("a plain one-shot backup Job is named after its pod template and requestId too", () => {
    const plain = (v: Record<string, unknown>) => ({
      ...v,
      backup: {
        enabled: true,
        job: { helmHook: false },
        storage: { s3: { bucket: "bk" } },
        ...(v.backup as object),
      },
    });
    const name = (v: Record<string, unknown>) => find(render(plain(v)), "Job").metadata.name as string;
    const base = name({});
    expect(name({ image: { tag: "9.9.9" } })).not.toBe(base);
    expect(name({ backup: { requestId: "again" } })).not.toBe(base);
    expect(name({ cronJob: { suspend: true } })).toBe(base);
  });

  it("restore.job.helmHook true renders the upstream hook Job <fullname>-restore", () => {
    const job = find(render(restoreKey({}, { job: { helmHook: true } })), "Job");
    expect(job.metadata.name).toBe("infrahub-backup-restore");
    expect(job.metadata.annotations["helm.sh/hook"]).toBe("post-install,post-upgrade");
  });

  it("scheduled restore from S3 latest: CronJob <fullname>-restore", () => {
    const cj = find(
      render({
        restore: { enabled: true, mode: "cronjob", storage: { s3: { bucket: "bk", latest: true } } },
      }),
      "CronJob",
    );
    expect(cj.metadata.name).toBe("infrahub-backup-restore");
    expect(cj.spec.schedule).toBe("0 4 * * *");
    expect(cj.spec.jobTemplate.spec.backoffLimit).toBe(1);
    // Scheduled: every run restores, so no request id.
    expect(container(cj).args).toEqual(["restore", "--latest", "--s3", "--wait-ready=15m", "--yes"]);
  });

  it("local: --sleep then <path>/<filename> on an emptyDir (upstream); latest from a claim, read-only", () => {
    const job = find(render({ restore: { enabled: true, storage: { type: "local" } } }), "Job");
    expect(container(job).args).toEqual([
      "restore",
      "--sleep=3m",
      "/infrahub_backups/infrahub_backup_latest.tar.gz",
      ...additions(job),
      "--yes",
    ]);
    const pvc = find(
      render({
        restore: {
          enabled: true,
          storage: {
            type: "local",
            local: { latest: true, persistence: { enabled: true, existingClaim: "ihb-backups" } },
          },
        },
      }),
      "Job",
    );
    expect(container(pvc).args).toEqual([
      "restore",
      "--latest",
      "--backup-dir=/infrahub_backups",
      ...additions(pvc),
      "--yes",
    ]);
    expect(podSpec(pvc).volumes).toContainEqual({
      name: "backup-storage",
      persistentVolumeClaim: { claimName: "ihb-backups", readOnly: true },
    });
  });

  it("the seed plan's restore.s3.* shape maps onto restore.storage.s3.*", () => {
    const seed = find(
      render({
        restore: {
          enabled: true,
          s3: {
            bucket: "bk",
            key: "a/b.tar.gz",
            endpoint: "http://minio:9000",
            region: "us-east-1",
            secretName: "c",
          },
        },
      }),
      "Job",
    );
    const native = find(
      render({
        restore: {
          enabled: true,
          storage: {
            s3: { bucket: "bk", key: "a/b.tar.gz", endpoint: "http://minio:9000", secretName: "c" },
          },
        },
      }),
      "Job",
    );
    expect(seed.spec).toEqual(native.spec);
    expect(seed.metadata.name).toBe(native.metadata.name);
    // Empty parent-chart keys are ignored; set in both places with the same value is fine.
    const mixed = find(
      render({
        restore: {
          enabled: true,
          s3: { bucket: "bk", key: "", region: "us-east-1" },
          storage: { s3: { bucket: "bk", key: "a/b.tar.gz", region: "eu-west-1" } },
        },
      }),
      "Job",
    );
    expect(container(mixed).args).toEqual(["restore", "s3://bk/a/b.tar.gz", ...additions(mixed), "--yes"]);
    expect(envMap(mixed).INFRAHUB_S3_REGION).toBe("eu-west-1");
  });
});

describe("validation errors are readable", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "backup and restore together",
      {
        backup: { enabled: true, storage: { s3: { bucket: "bk" } } },
        restore: { enabled: true, storage: { s3: { bucket: "bk", latest: true } } },
      },
      /backup\.enabled and restore\.enabled are both true: a release either produces backups or restores one/,
    ],
    [
      "key and latest both",
      { restore: { enabled: true, storage: { s3: { bucket: "bk", key: "k", latest: true } } } },
      /restore\.storage\.s3\.key and restore\.storage\.s3\.latest are both set/,
    ],
    [
      "neither key nor latest",
      { restore: { enabled: true, storage: { s3: { bucket: "bk" } } } },
      /restore\.storage\.s3: set either key \(the object to restore\) or latest: true/,
    ],
    [
      "seed shape with only restore.s3.key sets the key (no upstream failure), but a missing bucket is named",
      { restore: { enabled: true, s3: { key: "k" } } },
      /restore\.storage\.s3\.bucket is empty/,
    ],
    [
      "scheduled restore not from S3",
      { restore: { enabled: true, mode: "cronjob", storage: { type: "local" } } },
      /restore\.mode is cronjob but restore\.storage\.type is "local": a scheduled restore reads from S3 only/,
    ],
    [
      "backup without a bucket",
      { backup: { enabled: true } },
      /backup\.storage\.s3\.bucket is empty: set the bucket the backups are uploaded to/,
    ],
    [
      "conflicting restore.s3 and restore.storage.s3",
      { restore: { enabled: true, s3: { bucket: "aa" }, storage: { s3: { bucket: "bk", latest: true } } } },
      /restore\.s3\.bucket \(aa\) and restore\.storage\.s3\.bucket \(bk\) disagree: set it in one place/,
    ],
    [
      "TTL on a one-shot restore Job",
      {
        restore: { enabled: true, storage: { s3: { bucket: "bk", latest: true } } },
        job: { ttlSecondsAfterFinished: 60 },
      },
      /job\.ttlSecondsAfterFinished with a one-shot restore Job: once the TTL deletes it, every upgrade or sync creates it again \(it then finds its request recorded as done and restores nothing, but the churn never ends\)/,
    ],
    [
      "local latest without a claim",
      { restore: { enabled: true, storage: { type: "local", local: { latest: true } } } },
      /restore\.storage\.local\.latest needs restore\.storage\.local\.persistence/,
    ],
    [
      "restore claim without its name",
      { restore: { enabled: true, storage: { type: "local", local: { persistence: { enabled: true } } } } },
      /restore\.storage\.local\.persistence\.enabled needs existingClaim/,
    ],
    [
      "renamed and removed values, listed together",
      {
        backup: {
          enabled: true,
          timezone: "UTC",
          storage: { s3: { bucket: "bk", accessKey: "AKIA" } },
          options: { neo4jmetadata: "all" },
        },
        cronJob: { timeZone: "UTC" },
      },
      /backup\.timezone: renamed to backup\.timeZone\n {2}- cronJob\.timeZone: set backup\.timeZone or restore\.timeZone\n {2}- backup\.options\.neo4jmetadata: renamed to backup\.options\.neo4jMetadata\n {2}- backup\.storage\.s3\.accessKey: removed: credentials come only from an existing Secret/,
    ],
  ];
  it.each(cases)("%s", (_name, values, message) => {
    const err = renderError(values);
    expect(err).toContain("infrahub-backup: the values cannot be rendered:");
    expect(err).toMatch(message);
  });

  it("the schema rejects unknown keys and wrong types with the path", () => {
    expect(renderError({ backup: { storage: { s3: { bukcet: "x" } } } })).toMatch(
      /\/backup\/storage\/s3.*additional properties 'bukcet' not allowed/,
    );
    expect(renderError({ backup: { mode: "daily" } })).toMatch(/\/backup\/mode/);
    expect(renderError({ backup: { schedule: "0 0 2 * * *" } })).toMatch(/\/backup\/schedule/);
    expect(renderError({ backup: { timeZone: "CRON_TZ=UTC" } })).toMatch(/\/backup\/timeZone/);
    expect(renderError({ backup: { storage: { s3: { endpoint: "minio:9000" } } } })).toMatch(
      /\/backup\/storage\/s3\/endpoint/,
    );
  });
});

describe("pods", () => {
  it("restricted Pod Security by default: non-root 1000, fsGroup, seccomp, read-only root with /tmp emptyDir, drop ALL", () => {
    const job = find(render(s3Backup()), "Job");
    expect(podSpec(job).securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container(job).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container(job).volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(podSpec(job).volumes).toContainEqual({ name: "tmp", emptyDir: {} });
    expect(podSpec(job).restartPolicy).toBe("Never");
    expect(podSpec(job).serviceAccountName).toBe("infrahub-backup");
    const limited = find(render({ ...s3Backup(), tmp: { sizeLimit: "2Gi" } }), "Job");
    expect(podSpec(limited).volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "2Gi" } });
  });

  it("placement, resources, priority, pull secrets (global first, deduplicated), extra env, pod labels/annotations, image", () => {
    const job = find(
      render({
        ...s3Backup(),
        global: { imagePullSecrets: ["g1", { name: "shared" }] },
        imagePullSecrets: [{ name: "shared" }, "own"],
        nodeSelector: { "kubernetes.io/os": "linux" },
        tolerations: [{ key: "backup", operator: "Exists", effect: "NoSchedule" }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: "a", operator: "Exists" }] }],
            },
          },
        },
        priorityClassName: "low",
        resources: { limits: { memory: "1Gi" } },
        extraEnv: [{ name: "AWS_REQUEST_CHECKSUM_CALCULATION", value: "when_required" }],
        podLabels: { team: "infra" },
        podAnnotations: { "a/b": "c" },
        image: { repository: "registry.example/ihb", tag: "9.9.9", pullPolicy: "Always" },
        logFormat: "json",
      }),
      "Job",
    );
    const spec = podSpec(job);
    expect(spec.imagePullSecrets).toEqual([{ name: "g1" }, { name: "shared" }, { name: "own" }]);
    expect(spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(spec.tolerations).toHaveLength(1);
    expect(spec.affinity.nodeAffinity).toBeDefined();
    expect(spec.priorityClassName).toBe("low");
    // Helm merges maps with the defaults: the default requests stay unless set to null.
    expect(container(job).resources).toEqual({
      limits: { memory: "1Gi" },
      requests: { cpu: "100m", memory: "256Mi" },
    });
    expect(container(job).image).toBe("registry.example/ihb:9.9.9");
    expect(container(job).imagePullPolicy).toBe("Always");
    expect(envMap(job)).toMatchObject({
      INFRAHUB_LOG_FORMAT: "json",
      AWS_REQUEST_CHECKSUM_CALCULATION: "when_required",
    });
    expect(job.spec.template.metadata.labels.team).toBe("infra");
    expect(job.spec.template.metadata.annotations).toEqual({ "a/b": "c" });
    const digest = find(render({ ...s3Backup(), image: { digest: `sha256:${"a".repeat(64)}` } }), "Job");
    expect(container(digest).image).toBe(`ghcr.io/opsmill/infrahub-backup@sha256:${"a".repeat(64)}`);
  });

  it("NetworkPolicy: no ingress; egress to DNS, the API server and object storage only, never the metadata endpoints", () => {
    const np = find(
      render({
        networkPolicy: {
          enabled: true,
          kubeAPIServer: { cidrs: ["10.0.0.1/32"] },
          objectStorage: { ports: [9000] },
        },
      }),
      "NetworkPolicy",
    );
    expect(np.spec).toEqual({
      podSelector: {
        matchLabels: {
          "app.kubernetes.io/name": "infrahub-backup",
          "app.kubernetes.io/instance": "infrahub-backup",
        },
      },
      policyTypes: ["Ingress", "Egress"],
      egress: [
        {
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
        {
          ports: [
            { protocol: "TCP", port: 443 },
            { protocol: "TCP", port: 6443 },
          ],
          to: [{ ipBlock: { cidr: "10.0.0.1/32" } }],
        },
        { ports: [{ protocol: "TCP", port: 9000 }], to: anyButMetadata },
      ],
    });
    // 2.1.0 rendered `{ ports }` alone there: any destination, the cloud metadata address included.
    const allowed = find(
      render({
        networkPolicy: { enabled: true, allowMetadataEndpoints: true, objectStorage: { ports: [9000] } },
      }),
      "NetworkPolicy",
    );
    expect(allowed.spec.egress.at(-1)).toEqual({ ports: [{ protocol: "TCP", port: 9000 }] });
  });

  it("helm test Pod lists the configured bucket with the pods' own S3 settings; absent without S3", () => {
    const pod = find(
      render(s3Backup({ endpoint: "http://minio:9000", secretName: "c", prefix: "p/" })),
      "Pod",
    );
    expect(pod.metadata.name).toBe("infrahub-backup-test-s3");
    expect(pod.metadata.annotations["helm.sh/hook"]).toBe("test");
    expect(container(pod).args).toEqual(["list", "--s3"]);
    expect(envMap(pod)).toMatchObject({
      INFRAHUB_S3_BUCKET: "bk",
      INFRAHUB_S3_PREFIX: "p/",
      INFRAHUB_S3_ENDPOINT: "http://minio:9000",
    });
    expect(podSpec(pod).securityContext.runAsNonRoot).toBe(true);
    const restorePod = find(render({ restore: { enabled: true, s3: { bucket: "rb", key: "k" } } }), "Pod");
    expect(envMap(restorePod).INFRAHUB_S3_BUCKET).toBe("rb");
    expect(
      render({ backup: { enabled: true, storage: { type: "local" } } }).some((o) => o.kind === "Pod"),
    ).toBe(false);
    expect(render({ ...s3Backup(), tests: { enabled: false } }).some((o) => o.kind === "Pod")).toBe(false);
  });

  it("fullname rules: <release>-infrahub-backup, the release when it contains the chart name, overrides", () => {
    expect(find(render(s3Backup(), { release: "ihb-backup" }), "Job").metadata.name).toBe(
      "ihb-backup-infrahub-backup",
    );
    expect(find(render(s3Backup(), { release: "infrahub" }), "Job").metadata.name).toBe(
      "infrahub-infrahub-backup",
    );
    expect(find(render({ ...s3Backup(), fullnameOverride: "bk" }), "Job").metadata.name).toBe("bk");
    const long = find(
      render({
        fullnameOverride: "x".repeat(63),
        restore: { enabled: true, mode: "cronjob", storage: { s3: { bucket: "bk", latest: true } } },
      }),
      "CronJob",
    );
    expect(long.metadata.name).toBe(`${"x".repeat(44)}-restore`);
    const longJob = find(
      render({
        fullnameOverride: "y".repeat(63),
        restore: { enabled: true, s3: { bucket: "bk", key: "k" } },
      }),
      "Job",
    );
    expect(longJob.metadata.name).toMatch(new RegExp(`^${"y".repeat(44)}-restore-[0-9a-f]{10}$`));
  });
});

// Issue 20: every point has a case here that fails on chart 2.1.0.
describe("defaults that cannot wedge (issue 20 §1, §5)", () => {
  const every = (objs: ReturnType<typeof render>) =>
    objs.filter((o) => o.kind === "Job" || o.kind === "CronJob");
  const jobSpec = (o: K8sObject) => (o.kind === "CronJob" ? o.spec.jobTemplate.spec : o.spec);
  const s3 = { bucket: "bk" };
  const workloads = [
    ...every(render({ backup: { enabled: true, storage: { s3 } } })),
    ...every(render({ backup: { enabled: true, job: { helmHook: false }, storage: { s3 } } })),
    ...every(render({ backup: { enabled: true, mode: "cronjob", storage: { s3 } } })),
    ...every(render({ restore: { enabled: true, storage: { s3: { ...s3, key: "k.tar.gz" } } } })),
    ...every(
      render({ restore: { enabled: true, mode: "cronjob", storage: { s3: { ...s3, latest: true } } } }),
    ),
  ];

  it("every Job and CronJob run has a deadline, a pod failure policy and a SIGTERM grace period", () => {
    expect(workloads).toHaveLength(5);
    for (const w of workloads) {
      const spec = jobSpec(w);
      const component = w.metadata.labels["app.kubernetes.io/component"];
      expect(spec.activeDeadlineSeconds, `${w.kind}/${w.metadata.name}`).toBe(14400);
      expect(spec.backoffLimit).toBe(component === "backup" ? 2 : 1);
      expect(spec.podFailurePolicy).toEqual({
        rules: [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          {
            action: "FailJob",
            // A restore is retried only when killed outright (137): it left Infrahub scaled down.
            onExitCodes:
              component === "restore"
                ? { containerName: component, operator: "NotIn", values: [137] }
                : { containerName: component, operator: "In", values: [2, 4, 5, 6, 8] },
          },
        ],
      });
      expect(podSpec(w).terminationGracePeriodSeconds).toBe(600);
      expect(podSpec(w).restartPolicy).toBe("Never");
    }
  });

  it("the upstream job.* keys, when set, override both kinds (a 1.3.0 file keeps its backoffLimit 0)", () => {
    const v = {
      backup: { enabled: true, mode: "cronjob", storage: { s3 } },
      job: { backoffLimit: 0, activeDeadlineSeconds: 600 },
      terminationGracePeriodSeconds: 900,
    };
    const cj = find(render(v), "CronJob");
    expect(jobSpec(cj)).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 600 });
    expect(podSpec(cj).terminationGracePeriodSeconds).toBe(900);
    const own = find(
      render({
        backup: {
          enabled: true,
          mode: "cronjob",
          storage: { s3 },
          job: { backoffLimit: 4, activeDeadlineSeconds: 7200 },
        },
      }),
      "CronJob",
    );
    expect(jobSpec(own)).toMatchObject({ backoffLimit: 4, activeDeadlineSeconds: 7200 });
  });

  it("the exit codes the policy fails at once are the CLI's usage, storage-auth, not-found, integrity and partial codes", async () => {
    const { EXIT_CODES } = await import("../../packages/cli/src/exit-codes.ts");
    const byCategory = Object.fromEntries(EXIT_CODES.map((e) => [e.category, e.code]));
    const failJob = jobSpec(workloads[0] as never).podFailurePolicy.rules[1].onExitCodes.values;
    expect(failJob).toEqual(
      ["usage", "storage-auth", "not-found", "integrity", "partial"].map((c) => byCategory[c]),
    );
    // Retried (counted against backoffLimit): environment, database, storage, busy, internal.
    for (const c of ["environment", "database", "storage", "busy", "internal"])
      expect(failJob).not.toContain(byCategory[c]);
  });
});

describe("wait instead of failing (issue 20 §2)", () => {
  it("restore Jobs wait 15m for Infrahub to be Ready by default; backups only when asked", () => {
    const restore = find(
      render({ restore: { enabled: true, s3: { bucket: "bk", key: "k.tar.gz" } } }),
      "Job",
    );
    expect(container(restore).args).toContain("--wait-ready=15m");
    const noWait = find(
      render({
        restore: { enabled: true, s3: { bucket: "bk", key: "k.tar.gz" }, options: { waitReady: "" } },
      }),
      "Job",
    );
    expect(container(noWait).args.some((a: string) => a.startsWith("--wait-ready"))).toBe(false);
    const backup = find(render(s3Backup()), "Job");
    expect(container(backup).args.some((a: string) => a.startsWith("--wait-ready"))).toBe(false);
    const waiting = find(
      render({ backup: { enabled: true, storage: { s3: { bucket: "bk" } }, options: { waitReady: "5m" } } }),
      "Job",
    );
    expect(container(waiting).args).toEqual([
      "create",
      "--neo4jmetadata=all",
      "--s3-upload",
      "--wait-ready=5m",
    ]);
  });
});

describe("key Secrets and extra volumes (issue 20 §6)", () => {
  it("backup.encryption: --encrypt to the built-in key, or --encrypt-key from a Secret mounted read-only", () => {
    const builtIn = find(
      render({ ...s3Backup(), backup: { ...s3Backup().backup, encryption: { enabled: true } } }),
      "Job",
    );
    expect(container(builtIn).args).toEqual(["create", "--neo4jmetadata=all", "--s3-upload", "--encrypt"]);
    const job = find(
      render({
        ...s3Backup(),
        backup: { ...s3Backup().backup, encryption: { keySecret: { name: "backup-pub" } } },
      }),
      "Job",
    );
    expect(container(job).args).toEqual([
      "create",
      "--neo4jmetadata=all",
      "--s3-upload",
      "--encrypt-key=/etc/infrahub-backup/keys/public.pem",
    ]);
    expect(container(job).volumeMounts).toContainEqual({
      name: "keys",
      mountPath: "/etc/infrahub-backup/keys",
      readOnly: true,
    });
    expect(podSpec(job).volumes).toContainEqual({
      name: "keys",
      secret: {
        secretName: "backup-pub",
        defaultMode: 0o440,
        items: [{ key: "public.pem", path: "public.pem" }],
      },
    });
  });

  it("restore.decryption: --decrypt-key from a Secret; an .enc archive without it is refused at render time", () => {
    const job = find(
      render({
        restore: {
          enabled: true,
          s3: { bucket: "bk", key: "p/x.tar.gz.enc" },
          decryption: { keySecret: { name: "restore-key", key: "key.pem" } },
        },
      }),
      "Job",
    );
    expect(container(job).args).toContain("--decrypt-key=/etc/infrahub-backup/keys/key.pem");
    expect(podSpec(job).volumes).toContainEqual({
      name: "keys",
      secret: { secretName: "restore-key", defaultMode: 0o440, items: [{ key: "key.pem", path: "key.pem" }] },
    });
    expect(
      renderError({ restore: { enabled: true, s3: { bucket: "bk", key: "p/x.tar.gz.enc" } } }),
    ).toContain(
      "p/x.tar.gz.enc is an encrypted archive: set restore.decryption.keySecret.name to the Secret holding its private key",
    );
  });

  it("extraVolumes and extraVolumeMounts reach every backup and restore pod", () => {
    const extra = {
      extraVolumes: [{ name: "ca-extra", configMap: { name: "corp-ca" } }],
      extraVolumeMounts: [{ name: "ca-extra", mountPath: "/etc/ssl/corp", readOnly: true }],
    };
    for (const v of [
      { ...s3Backup(), ...extra },
      { restore: { enabled: true, s3: { bucket: "bk", key: "k.tar.gz" } }, ...extra },
    ]) {
      const job = find(render(v), "Job");
      expect(podSpec(job).volumes).toContainEqual(extra.extraVolumes[0]);
      expect(container(job).volumeMounts).toContainEqual(extra.extraVolumeMounts[0]);
    }
  });
});

describe("schema holes are closed, each with a readable message (issue 20 §7)", () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    [
      "neo4jMetadata outside all/none/users/roles",
      { backup: { options: { neo4jMetadata: "everything" } } },
      /\/backup\/options\/neo4jMetadata.*value must be one of 'all', 'none', 'users', 'roles'/,
    ],
    [
      "a bucket given as an s3:// URL",
      { backup: { storage: { s3: { bucket: "s3://bk" } } } },
      /\/backup\/storage\/s3\/bucket.*'s3:\/\/bk' does not match pattern/,
    ],
    [
      "a restore key given as an s3:// URL (rendered s3://b/s3://b/k)",
      { restore: { enabled: true, storage: { s3: { bucket: "bk", key: "s3://bk/k.tar.gz" } } } },
      /restore\.storage\.s3\.key is "s3:\/\/bk\/k\.tar\.gz", a URL: give the part inside the bucket/,
    ],
    [
      "the seed-plan key given as an s3:// URL",
      { restore: { enabled: true, s3: { bucket: "bk", key: "s3://bk/k.tar.gz" } } },
      /restore\.storage\.s3\.key is "s3:\/\/bk\/k\.tar\.gz", a URL/,
    ],
    [
      "a backup prefix given as an s3:// URL",
      { backup: { enabled: true, storage: { s3: { bucket: "bk", prefix: "s3://bk/prod" } } } },
      /backup\.storage\.s3\.prefix is "s3:\/\/bk\/prod", a URL/,
    ],
    [
      "resources with a typo",
      { resources: { limts: { cpu: 1 } } },
      /\/resources.*additional properties 'limts' not allowed/,
    ],
    [
      "resources.limits not a map of quantities",
      { resources: { limits: { cpu: { x: 1 } } } },
      /\/resources\/limits\/cpu/,
    ],
    [
      "waitReady not a duration",
      { restore: { options: { waitReady: "ten minutes" } } },
      /\/restore\/options\/waitReady/,
    ],
    ["a negative grace period", { terminationGracePeriodSeconds: -1 }, /\/terminationGracePeriodSeconds/],
    [
      "a zero deadline",
      { backup: { job: { activeDeadlineSeconds: 0 } } },
      /\/backup\/job\/activeDeadlineSeconds/,
    ],
    [
      "a key Secret key with a slash",
      { backup: { encryption: { keySecret: { name: "s", key: "a/b" } } } },
      /\/backup\/encryption\/keySecret\/key/,
    ],
    [
      "an extra mount without a path",
      { extraVolumeMounts: [{ name: "x" }] },
      /\/extraVolumeMounts\/0.*mountPath/,
    ],
  ];
  it.each(bad)("%s", (_name, values, message) => {
    expect(renderError(values)).toMatch(message);
  });
});

describe("least privilege (issue 20 §8)", () => {
  it("the backup pods' identity outlives helm uninstall, so a run cut short by it can still put Infrahub back (§5)", () => {
    const objs = render(s3Backup());
    for (const kind of ["ServiceAccount", "Role", "RoleBinding"])
      expect(find(objs, kind, "infrahub-backup").metadata.annotations).toEqual({
        "helm.sh/resource-policy": "keep",
      });
    // The Job itself is not kept, and the test identity holds no rights worth keeping.
    expect(find(objs, "Job").metadata.annotations["helm.sh/resource-policy"]).toBeUndefined();
    expect(find(objs, "ServiceAccount", "infrahub-backup-test").metadata.annotations).toBeUndefined();
    const off = render({ ...s3Backup(), rbac: { keepOnUninstall: false } });
    for (const kind of ["ServiceAccount", "Role", "RoleBinding"])
      expect(find(off, kind, "infrahub-backup").metadata.annotations).toBeUndefined();
  });

  it("the helm test Pod runs as its own ServiceAccount with no Role and no API token", () => {
    const objs = render(s3Backup());
    const pod = find(objs, "Pod");
    expect(podSpec(pod).serviceAccountName).toBe("infrahub-backup-test");
    expect(podSpec(pod).automountServiceAccountToken).toBe(false);
    const sa = find(objs, "ServiceAccount", "infrahub-backup-test");
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(find(objs, "RoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "infrahub-backup", namespace: "infrahub" },
    ]);
    // Without the separate account: the main one, still without a token.
    const shared = render({ ...s3Backup(), tests: { serviceAccount: { create: false } } });
    expect(
      shared.some((o) => o.metadata.name === "infrahub-backup-test" && o.kind === "ServiceAccount"),
    ).toBe(false);
    expect(podSpec(find(shared, "Pod"))).toMatchObject({
      serviceAccountName: "infrahub-backup",
      automountServiceAccountToken: false,
    });
  });
});

describe("restore on a fresh install (issue 23)", () => {
  const backupCron = {
    backup: {
      enabled: true,
      mode: "cronjob",
      storage: { s3: { bucket: "bk", prefix: "prod", endpoint: "http://m:9000", secretName: "s3" } },
    },
  };

  it("a post-install hook only (never on upgrade), kept when it ends; restores the newest archive from where the backups go, only into a fresh deployment", async () => {
    const res = renderRaw({ ...backupCron, restoreOnInstall: { enabled: true } });
    expect(res.status, res.stderr).toBe(0);
    const job = find(parseObjects(res.stdout), "Job");
    await expect(
      res.stdout
        .split(/^---$/m)
        .find((doc) => doc.includes("job-restore-on-install.yaml"))
        ?.trim(),
    ).toMatchFileSnapshot("__snapshots__/restore-on-install.yaml");
    expect(job.metadata.name).toBe("infrahub-backup-restore-on-install");
    expect(job.metadata.annotations).toMatchObject({
      "helm.sh/hook": "post-install",
      "helm.sh/hook-delete-policy": "before-hook-creation",
    });
    expect(container(job).name).toBe("restore-on-install");
    expect(container(job).args).toEqual([
      "restore",
      "--latest",
      "--s3",
      "--only-if-fresh",
      "--wait-ready=15m",
      "--yes",
    ]);
    expect(envMap(job)).toMatchObject({
      INFRAHUB_S3_BUCKET: "bk",
      INFRAHUB_S3_PREFIX: "prod",
      INFRAHUB_S3_ENDPOINT: "http://m:9000",
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: "s3", key: "AWS_ACCESS_KEY_ID" } },
      // The Job's own uid: one request per install, the same for a retry of a run killed outright.
      INFRAHUB_RESTORE_REQUEST_ID: {
        fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" },
      },
    });
    // The exec Role's identity; a deadline and the pod failure policy as every restore: only a pod killed
    // outright (137) is retried, once.
    expect(podSpec(job).serviceAccountName).toBe("infrahub-backup");
    expect([job.spec.backoffLimit, job.spec.activeDeadlineSeconds]).toEqual([1, 14400]);
    expect(job.spec.podFailurePolicy.rules[1]).toEqual({
      action: "FailJob",
      onExitCodes: { containerName: "restore-on-install", operator: "NotIn", values: [137] },
    });
    // The scheduled backup is still there; nothing else restores.
    expect(parseObjects(res.stdout).map((o) => o.kind)).toEqual(
      expect.arrayContaining(["CronJob", "Job", "Role"]),
    );
  });

  it("restore.storage.s3 wins when its bucket is set (key and latest are not used); decryption, task manager and extra args", () => {
    const job = find(
      render({
        restore: {
          storage: { s3: { bucket: "other", prefix: "dr/", key: "ignored.tar.gz", region: "eu-west-1" } },
          decryption: { keySecret: { name: "dr-key" } },
        },
        restoreOnInstall: {
          enabled: true,
          waitReady: "30m",
          excludeTaskmanager: true,
          extraArgs: ["--staging=none"],
          activeDeadlineSeconds: 3600,
        },
      }),
      "Job",
    );
    expect(container(job).args).toEqual([
      "restore",
      "--latest",
      "--s3",
      "--only-if-fresh",
      "--exclude-taskmanager",
      "--wait-ready=30m",
      "--decrypt-key=/etc/infrahub-backup/keys/private.pem",
      "--staging=none",
      "--yes",
    ]);
    expect(envMap(job)).toMatchObject({
      INFRAHUB_S3_BUCKET: "other",
      INFRAHUB_S3_PREFIX: "dr/",
      INFRAHUB_S3_REGION: "eu-west-1",
    });
    expect(podSpec(job).volumes).toContainEqual(
      expect.objectContaining({ name: "keys", secret: expect.objectContaining({ secretName: "dr-key" }) }),
    );
    expect(job.spec.activeDeadlineSeconds).toBe(3600);
  });

  it.each([
    [
      "with restore.enabled",
      {
        restore: { enabled: true, storage: { s3: { bucket: "bk", latest: true } } },
        restoreOnInstall: { enabled: true },
      },
      /restoreOnInstall\.enabled and restore\.enabled are both true/,
    ],
    [
      "with a one-shot backup",
      { backup: { enabled: true, storage: { s3: { bucket: "bk" } } }, restoreOnInstall: { enabled: true } },
      /restoreOnInstall\.enabled with a one-shot backup \(backup\.mode: job\)/,
    ],
    [
      "without a bucket",
      { restoreOnInstall: { enabled: true } },
      /restoreOnInstall\.enabled: no bucket to restore from/,
    ],
  ])("refused %s, saying why", (_name, values, message) => {
    expect(renderError(values)).toMatch(message);
  });
});
