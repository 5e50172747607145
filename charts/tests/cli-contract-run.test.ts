// ci-cost: 22 s (30 s with two unencrypted runs more, measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// The chart ↔ CLI contract, run for real: the CLI (the bundle the image ships) is executed with exactly
// the args and env of each rendered pod — Secret refs resolved from a "Secret" we create here with the
// credentials of a real MinIO user, the namespace fieldRef resolved — against a real local Infrahub
// stack (Neo4j Community, PostgreSQL, MinIO). The one addition to the pod's env is INFRAHUB_LOCAL_CONFIG,
// which points the CLI at the local stack in place of a Kubernetes namespace (issue 6 brings that one).
// Secret volumes (the encryption keys) are written where a kubelet would mount them, under a temporary
// directory that the args and env naming their mountPath are pointed at.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
import { buildCli, cleanEnv, removeCli, runCli } from "../../packages/cli/test/cli-process.ts";
import { container, type K8sObject, podSpec, render } from "./helm.ts";

const NAMESPACE = "infrahub";
const BUCKET = "infrahub-backups";
const LONG = 300_000;
let stack: InfrahubLocalStack;
let work: TempDir;
let localConfig: string;
const secrets: Record<string, Record<string, string>> = {};

/** The pod's env as the kubelet would give it: values, the namespace fieldRef, Secret keys. */
function podEnv(obj: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container(obj).env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = NAMESPACE;
    else if (e.valueFrom?.secretKeyRef) {
      const value = secrets[e.valueFrom.secretKeyRef.name]?.[e.valueFrom.secretKeyRef.key];
      if (value === undefined) throw new Error(`pod refers to a Secret key that does not exist: ${e.name}`);
      env[e.name] = value;
    } else throw new Error(`unresolvable env ${e.name}`);
  }
  return env;
}

/** The pod's Secret volumes as the kubelet mounts them (items, modes), each in a directory of its own. */
function mountSecretVolumes(obj: K8sObject): Map<string, string> {
  const mounts = new Map<string, string>();
  const root = mkdtempSync(join(work.path, "mounts-"));
  for (const volume of podSpec(obj).volumes ?? []) {
    if (!volume.secret) continue;
    const mount = (container(obj).volumeMounts ?? []).find((m: K8sObject) => m.name === volume.name);
    if (!mount) continue;
    const data = secrets[volume.secret.secretName];
    if (!data) throw new Error(`pod mounts a Secret that does not exist: ${volume.secret.secretName}`);
    const dir = join(root, volume.name);
    mkdirSync(dir);
    const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items as { key: string; path: string; mode?: number }[]) {
      const value = data[item.key];
      if (value === undefined) throw new Error(`pod mounts a Secret key that does not exist: ${item.key}`);
      writeFileSync(join(dir, item.path), value, { mode: item.mode ?? volume.secret.defaultMode ?? 0o644 });
    }
    mounts.set(mount.mountPath, dir);
  }
  return mounts;
}

async function runPod(obj: K8sObject) {
  const mounts = mountSecretVolumes(obj);
  const mounted = (value: string) =>
    [...mounts].reduce((v, [mountPath, dir]) => v.replaceAll(`${mountPath}/`, `${dir}/`), value);
  const env = cleanEnv({
    ...Object.fromEntries(Object.entries(podEnv(obj)).map(([k, v]) => [k, mounted(v)])),
    INFRAHUB_LOCAL_CONFIG: localConfig,
  });
  // The image has no entrypoint args of its own: the container's args are the whole command line — but
  // the local config stands in for Kubernetes, and waiting for its pods (--wait-ready) and recording the
  // restore request (--request-id, a Lease) exist only there; the acceptance scenarios run those for real.
  const args = (container(obj).args as string[])
    .filter((a) => !/^--(wait-ready|request-id)=/.test(a))
    .map(mounted);
  return await runCli(args, { env, cwd: work.path });
}

function workload(values: unknown, kind: "CronJob" | "Job", component: string): K8sObject {
  const found = render(values).find(
    (o) => o.kind === kind && o.metadata.labels["app.kubernetes.io/component"] === component,
  );
  if (!found) throw new Error(`no ${kind} for ${component}`);
  return found;
}

beforeAll(async () => {
  buildCli();
  [stack, work] = await Promise.all([startInfrahubLocalStack(), tempDir("ihb-chart-contract-")]);
  await stack.minio.createBucket(BUCKET);
  // The Secret the values name, holding a real MinIO user's keys under the chart's default key names.
  const user = await stack.minio.createUser("readwrite");
  secrets["infrahub-backup-s3"] = {
    AWS_ACCESS_KEY_ID: user.accessKeyId,
    AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
  };
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 100, flowRuns: 300 });
  localConfig = join(work.path, "local.json");
  await stack.writeLocalConfig(localConfig);
}, LONG);

afterAll(async () => {
  removeCli();
  await stack?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
}, 120_000);

describe("chart ↔ CLI contract, run against a real local stack", () => {
  const s3 = () => ({
    bucket: BUCKET,
    prefix: "nightly",
    endpoint: stack.minio.endpoint,
    secretName: "infrahub-backup-s3",
  });
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it(
    "an encrypted archive through values alone (issue 20 §6): the scheduled backup's pod encrypts to the public key in its Secret and writes a timestamped archive where the values say; the one-shot restore Job (seed plan's restore.s3 shape, latest) decrypts with the private key from another and brings the data back",
    async () => {
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      const key = join(work.path, "backup.key");
      const kg = await runCli(["keygen", "-o", key], { env: cleanEnv({}), cwd: work.path });
      expect(kg.code, kg.stderr).toBe(0);
      secrets["backup-public-key"] = { "public.pem": readFileSync(`${key}.pub`, "utf8") };
      secrets["restore-private-key"] = { "private.pem": readFileSync(key, "utf8") };
      const storage = { type: "s3", s3: { ...s3(), prefix: "encrypted" } };
      const backup = workload(
        {
          backup: {
            enabled: true,
            mode: "cronjob",
            storage,
            encryption: { keySecret: { name: "backup-public-key" } },
          },
        },
        "CronJob",
        "backup",
      );
      const b = await runPod(backup);
      expect(b.stderr).not.toMatch(/level=error/);
      expect(b.code, b.stderr).toBe(0);
      const keys = await stack.minio.listObjectKeys(BUCKET, "encrypted/");
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(/^encrypted\/infrahub_backup_\d{8}_\d{6}\.tar\.gz\.enc$/);
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'CRASHED';");
      await stack.neo4j.cypher("MATCH (n:InfraDevice) WHERE n.uuid ENDS WITH '3' DETACH DELETE n");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(original);
      // The seed plan's shape (restore.s3); the chart's own (restore.storage.s3) runs in the acceptance module.
      const restore = workload(
        {
          restore: {
            enabled: true,
            s3: { ...storage.s3, latest: true },
            decryption: { keySecret: { name: "restore-private-key" } },
          },
        },
        "Job",
        "restore",
      );
      expect(restore.metadata.name).toMatch(/-restore-[0-9a-f]{10}$/);
      const r = await runPod(restore);
      expect(r.stderr).not.toMatch(/level=error/);
      expect(r.code, r.stderr).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
      // Key material travels in files only: neither key appears in either pod's arguments or output.
      for (const text of [
        JSON.stringify(container(backup)),
        JSON.stringify(container(restore)),
        b.stderr,
        r.stderr,
      ])
        expect(text).not.toContain("PRIVATE KEY");
    },
    LONG,
  );

  it(
    "a backup pod whose Secret holds wrong keys fails with the storage-credentials exit code and says why",
    async () => {
      secrets["bad-keys"] = { AWS_ACCESS_KEY_ID: "nobody", AWS_SECRET_ACCESS_KEY: "wrong-secret-value" };
      const job = workload(
        {
          backup: {
            enabled: true,
            mode: "job",
            storage: { type: "s3", s3: { ...s3(), prefix: "bad", secretName: "bad-keys" } },
          },
        },
        "Job",
        "backup",
      );
      const r = await runPod(job);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/credentials/i);
      expect(r.stderr).not.toContain("wrong-secret-value");
      expect(await stack.minio.listObjectKeys(BUCKET, "bad/")).toEqual([]);
    },
    LONG,
  );
});
