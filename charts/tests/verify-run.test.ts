// ci-cost: 25 s (measured at load 9-14)
// The scheduled verify (issue 23 §1) on the local cluster, chart values only: a verify CronJob installed with
// Helm 4 against a MinIO bucket succeeds on a good archive, and fails the Job at once with the integrity exit
// code (6) when the newest archive is corrupt. Real: kube-apiserver with PodSecurity `restricted` enforced on
// the namespace, the CronJob and Job controllers, Helm 4, MinIO with a read-only user, the CLI bundle the image
// ships (run by testkit's job pod runner, a TEST DOUBLE of the kubelet). The good archive is made by the CLI
// (`create from-files`), the corrupt one is that archive with bytes changed in the middle.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  type JobPodRunner,
  type LocalCluster,
  type MinioServer,
  startLocalCluster,
  startMinio,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { buildCli, removeCli, runCli } from "../../packages/cli/test/cli-process.ts";
import { startCliPodRunner } from "./cli-pod-runner.ts";
import { runMissedSchedule } from "./cron.ts";
import { chartDir, helm, type K8sObject } from "./helm.ts";
import { jobCondition, jobFinished, waitForJob } from "./jobs.ts";
import { readOnlyS3Secret } from "./s3-reader.ts";

const NS = "verify";
const BUCKET = "backups";
const PREFIX = "prod/";
const CRONJOB = "weekly-infrahub-backup-verify";
const LONG = 300_000;
let cluster: LocalCluster;
let runner: JobPodRunner;
let minio: MinioServer;
let work: TempDir;
let archive: Buffer;
let readerSecret: string;

beforeAll(async () => {
  buildCli();
  [cluster, minio, work] = await Promise.all([startLocalCluster(), startMinio(), tempDir("ihb-verify-run-")]);
  runner = await startCliPodRunner(cluster);
  // verify only reads: list the prefix (to find the newest archive) and get objects (seen without
  // s3:ListBucket: exit 4, "access denied: s3:ListBucket").
  readerSecret = await readOnlyS3Secret(cluster, minio, {
    namespace: NS,
    bucket: BUCKET,
    user: "verify-reader",
  });

  // A good archive, made by the CLI from dump files (no database needed), uploaded under the prefix.
  const src = join(work.path, "dumps");
  await mkdir(src, { recursive: true });
  await writeFile(join(src, "neo4j.dump"), Buffer.concat([Buffer.from("DZV1"), Buffer.alloc(50_000, 7)]));
  await writeFile(join(src, "prefect.dump"), Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(50_000, 9)]));
  const made = await runCli([
    "create",
    "from-files",
    "--neo4j-path",
    join(src, "neo4j.dump"),
    "--postgres-path",
    join(src, "prefect.dump"),
    "--infrahub-version",
    "1.5.3",
    "--backup-dir",
    join(work.path, "out"),
  ]);
  expect(made.code, made.stderr).toBe(0);
  const path = made.stdout.trim();
  archive = readFileSync(path);
  await minio.putObject(BUCKET, `${PREFIX}${basename(path)}`, archive);
}, LONG);

afterAll(async () => {
  await runner?.stop();
  await cluster?.[Symbol.asyncDispose]();
  await minio?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
  removeCli();
}, 120_000);

/** The values a platform operator would write for a verify-only release: nothing but chart values. */
const values = () => ({
  image: { repository: "registry.example/infrahub-backup", tag: "test" },
  backup: {
    storage: { s3: { bucket: BUCKET, prefix: PREFIX, endpoint: minio.endpoint, secretName: "s3-creds" } },
  },
  // Every minute, so that the test sees a scheduled run.
  verify: { enabled: true, schedule: "* * * * *" },
});

const VERIFY_JOBS = "app.kubernetes.io/component=verify";

describe("the verify CronJob on the local cluster, chart values only (issue 23 §1)", () => {
  it(
    "a scheduled run verifies the newest archive (exit 0); a corrupt newest archive fails the Job at once with exit 6",
    async () => {
      const install = helm(
        ["install", "weekly", chartDir, "-n", NS, "-f", "-", "--kubeconfig", cluster.adminKubeconfig],
        {
          input: stringify(values()),
        },
      );
      expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
      // The scheduled run now, not at the next minute boundary.
      await runMissedSchedule(cluster, NS, "weekly");

      // The first scheduled run: the good archive.
      const good = await waitForJob(cluster.client, NS, {
        selector: VERIFY_JOBS,
        match: jobFinished,
        deadline: Date.now() + 180_000,
        what: "finished verify Job",
      });
      expect(good.metadata.ownerReferences?.[0]).toMatchObject({ kind: "CronJob", name: CRONJOB });
      const goodRun = runner.runs.find(
        (r) => r.pod.startsWith(good.metadata.name) && r.exitCode !== undefined,
      );
      expect(goodRun, "the runner ran the verify pod").toBeDefined();
      expect(jobCondition(good, "Complete"), goodRun?.logs()).toBeDefined();
      expect(goodRun?.exitCode).toBe(0);
      expect(goodRun?.args).toEqual(["verify", "--latest", "--s3"]);
      // No API token: the runner gives a pod with a token volume a KUBECONFIG, this one has none.
      expect(goodRun?.envNames).not.toContain("KUBECONFIG");
      expect(goodRun?.envNames).toEqual(expect.arrayContaining(["AWS_ACCESS_KEY_ID", "INFRAHUB_S3_BUCKET"]));
      const pod = (
        (await cluster.client.json(
          "GET",
          `/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3D${good.metadata.name}`,
        )) as { items: K8sObject[] }
      ).items[0] as K8sObject;
      expect(pod.spec.serviceAccountName).toBe(CRONJOB);
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(pod.spec.volumes.map((v: K8sObject) => v.name)).toEqual(["tmp"]);
      const goodLog = goodRun?.logs() ?? "";
      expect(goodLog).toContain("infrahub_backup_");
      console.info(`good archive: verify exit 0\n${goodLog.trim().split("\n").slice(-3).join("\n")}`);

      // A newer archive, corrupt: the same bytes with a stretch in the middle changed.
      const corrupt = Buffer.from(archive);
      const middle = Math.floor(corrupt.length / 2);
      for (let i = middle; i < middle + 64 && i < corrupt.length; i++)
        corrupt[i] = (corrupt[i] as number) ^ 0xff;
      await minio.putObject(BUCKET, `${PREFIX}infrahub_backup_20990101_000000.tar.gz`, corrupt);
      const manual = "verify-corrupt";
      await cluster.kubectl(["-n", NS, "create", "job", `--from=cronjob/${CRONJOB}`, manual]);
      const bad = await waitForJob(cluster.client, NS, {
        selector: VERIFY_JOBS,
        match: (j) => j.metadata.name === manual && jobFinished(j),
        deadline: Date.now() + 120_000,
        what: `finished verify Job ${manual}`,
      });
      const badRun = runner.runs.find((r) => r.pod.startsWith(manual) && r.exitCode !== undefined);
      const badLog = badRun?.logs() ?? "";
      expect(badRun?.exitCode, badLog).toBe(6);
      // The podFailurePolicy fails the Job on exit 6 without a retry (backoffLimit is 2).
      expect(jobCondition(bad, "Failed")?.reason).toBe("PodFailurePolicy");
      expect(runner.runs.filter((r) => r.pod.startsWith(manual))).toHaveLength(1);
      expect(badLog).toContain("infrahub_backup_20990101_000000.tar.gz");
      console.info(`corrupt archive: verify exit 6\n${badLog.trim().split("\n").slice(-2).join("\n")}`);
      for (const log of [goodLog, badLog]) expect(log).not.toContain(readerSecret);
    },
    LONG,
  );
});
