import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { chartDir, container, find, type K8sObject, render } from "./helm.ts";

// The argument and env rules of OpsMill's chart 1.3.0 (docs/compat-reference.md §8.3), written out as
// an oracle: a values file for 1.3.0 must give the same CLI invocation here.
// biome-ignore lint/suspicious/noExplicitAny: free-form values
type V = any;
function upstreamBackupArgs(v: V): string[] {
  const o = v.backup.options;
  const a = ["create"];
  if (o.force) a.push("--force");
  if (o.excludeTaskmanager) a.push("--exclude-taskmanager");
  a.push(`--neo4jmetadata=${o.neo4jMetadata}`);
  if (v.backup.storage.type === "s3") {
    a.push("--s3-upload");
    if (o.keepLocal) a.push("--s3-keep-local");
  } else {
    a.push(`--backup-dir=${v.backup.storage.path}`);
    if (o.sleep) a.push(`--sleep=${o.sleep}`);
  }
  return [...a, ...(o.extraArgs ?? [])];
}
function upstreamRestoreArgs(v: V): string[] {
  const o = v.restore.options;
  const st = v.restore.storage;
  const a = ["restore"];
  if (o.excludeTaskmanager) a.push("--exclude-taskmanager");
  if (o.migrateFormat) a.push("--migrate-format");
  if (st.type === "local") {
    if (o.sleep) a.push(`--sleep=${o.sleep}`);
    a.push(`${st.path}/${st.local.filename}`);
  } else if (st.s3.latest) {
    a.push("--latest", "--s3");
  } else {
    if (st.s3.endpoint) a.push(`--s3-endpoint=${st.s3.endpoint}`);
    a.push(`s3://${st.s3.bucket}/${st.s3.key}`);
  }
  return [...a, ...(o.extraArgs ?? [])];
}
function upstreamEnv(s3: V, full: boolean): Record<string, unknown> {
  const e: Record<string, unknown> = {
    INFRAHUB_K8S_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
  };
  if (full) {
    e.INFRAHUB_S3_BUCKET = s3.bucket;
    if (s3.prefix) e.INFRAHUB_S3_PREFIX = s3.prefix;
    if (s3.endpoint) e.INFRAHUB_S3_ENDPOINT = s3.endpoint;
  }
  e.INFRAHUB_S3_REGION = s3.region;
  if (s3.secretName) {
    e.AWS_ACCESS_KEY_ID = { secretKeyRef: { name: s3.secretName, key: "AWS_ACCESS_KEY_ID" } };
    e.AWS_SECRET_ACCESS_KEY = { secretKeyRef: { name: s3.secretName, key: "AWS_SECRET_ACCESS_KEY" } };
  }
  return e;
}
/** Our env minus the additive INFRAHUB_BACKUP_DIR. */
function ourEnv(obj: K8sObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of container(obj).env)
    if (e.name !== "INFRAHUB_BACKUP_DIR") out[e.name] = e.value ?? e.valueFrom;
  return out;
}

const upstreamFile = parse(readFileSync(join(chartDir, "ci/upstream-1.3.0-values.yaml"), "utf8"));
const withBackup = (patch: V): V => ({ ...upstreamFile, backup: { ...upstreamFile.backup, ...patch } });
const restoreOnly = (storage: V, options: V = {}): V => ({
  ...upstreamFile,
  backup: { ...upstreamFile.backup, enabled: false },
  restore: {
    ...upstreamFile.restore,
    enabled: true,
    storage: {
      ...upstreamFile.restore.storage,
      ...storage,
      s3: { ...upstreamFile.restore.storage.s3, ...storage.s3 },
    },
    options: { ...upstreamFile.restore.options, ...options },
  },
});

describe("a values file written for the upstream chart 1.3.0", () => {
  const backupCases: [string, V][] = [
    ["scheduled S3 backup (the file as is)", upstreamFile],
    [
      "one-shot S3 backup with every option",
      withBackup({
        mode: "job",
        options: {
          ...upstreamFile.backup.options,
          force: true,
          excludeTaskmanager: true,
          keepLocal: true,
          neo4jMetadata: "users",
          extraArgs: ["--retention-days=30"],
        },
      }),
    ],
    [
      "local backup on an emptyDir",
      withBackup({ mode: "job", storage: { ...upstreamFile.backup.storage, type: "local" } }),
    ],
  ];
  it.each(backupCases)("%s: same args and env as 1.3.0", (_n, values) => {
    const objs = render(values);
    const w = find(objs, values.backup.mode === "cronjob" ? "CronJob" : "Job");
    expect(container(w).args).toEqual(upstreamBackupArgs(values));
    expect(ourEnv(w)).toEqual(
      values.backup.storage.type === "s3"
        ? upstreamEnv(values.backup.storage.s3, true)
        : { INFRAHUB_K8S_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } } },
    );
    // The quirk is fixed: a scheduled backup is not retried 6 times.
    if (w.kind === "CronJob") expect(w.spec.jobTemplate.spec.backoffLimit).toBe(0);
    // Values the file sets win over the new restricted defaults; the rest is added (fsGroup, seccomp).
    expect(container(w).securityContext.readOnlyRootFilesystem).toBe(false);
    expect(
      w.kind === "CronJob"
        ? w.spec.jobTemplate.spec.template.spec.securityContext
        : w.spec.template.spec.securityContext,
    ).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(container(w).image).toBe("registry.opsmill.io/opsmill/infrahub-backup:0.1.0");
  });

  const restoreCases: [string, V][] = [
    [
      "restore of one S3 key with an endpoint",
      restoreOnly(
        {
          s3: {
            bucket: "bk",
            key: "infrahub/infrahub_backup_20261121_020000.tar.gz",
            endpoint: "http://minio:9000",
            secretName: "s3",
          },
        },
        { migrateFormat: true },
      ),
    ],
    [
      "restore of the latest S3 archive",
      restoreOnly(
        { s3: { bucket: "bk", prefix: "infrahub/", latest: true, endpoint: "http://minio:9000" } },
        { excludeTaskmanager: true },
      ),
    ],
    ["local restore from an emptyDir", restoreOnly({ type: "local" })],
  ];
  it.each(restoreCases)(
    "%s: same args (plus this chart's additions and --yes) and env as 1.3.0",
    (_n, values) => {
      const job = find(render(values), "Job");
      // Additions (issue 20): wait for Infrahub to be Ready, and restore this request only once.
      const additions = [
        "--wait-ready=15m",
        `--request-id=${job.metadata.annotations["infrahub-backup/request-hash"]}`,
      ];
      expect(container(job).args).toEqual([...upstreamRestoreArgs(values), ...additions, "--yes"]);
      const st = values.restore.storage;
      if (st.type === "s3") expect(ourEnv(job)).toEqual(upstreamEnv(st.s3, Boolean(st.s3.latest)));
      else
        expect(ourEnv(job)).toEqual({
          INFRAHUB_K8S_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
        });
    },
  );
});
