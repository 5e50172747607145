// ci-cost: 170 s (three drill pods took 198-273 s beside a full CI; two now: the encrypted one is the failing one)
// The restore drill as a Kubernetes Job (issue 23 §2) on the local cluster, chart values only: the drill
// CronJob installed with Helm 4 against a MinIO bucket; a Job made from it loads a good archive (from a real
// seeded Neo4j and PostgreSQL) into the pod's own neo4j and postgres containers and passes its checks; once
// the release gets the private key (a values change), an encrypted archive without the task manager whose
// Neo4j dump passes its checksum but is not a store fails the Job at once with exit 6. Real:
// kube-apiserver with PodSecurity `restricted` enforced, the Job controller, Helm 4, MinIO, the CLI bundle the
// image ships, the chart's agent script in both database containers. The containers are run by testkit's job
// pod runner (a TEST DOUBLE of the kubelet): the neo4j image stands for the toolchain's Neo4j (NEO4J_HOME,
// bin on PATH), the postgres image for the toolchain's PostgreSQL bin dir, run as the `postgres` OS user when
// the tests run as root (the image's user is never root).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type JobPodRunner,
  type LocalCluster,
  type MinioServer,
  type Neo4jServer,
  type PostgresCluster,
  postgresBin,
  run,
  seedInfrahubData,
  serviceUser,
  startLocalCluster,
  startMinio,
  startNeo4j,
  startPostgres,
  type TempDir,
  tempDir,
  toolDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { buildCli, removeCli, runCli } from "../../packages/cli/test/cli-process.ts";
import { startCliPodRunner } from "./cli-pod-runner.ts";
import { chartDir, helm, type K8sObject } from "./helm.ts";
import { jobCondition, jobFinished, waitForJob } from "./jobs.ts";
import { readOnlyS3Secret } from "./s3-reader.ts";

const NS = "drill";
const BUCKET = "backups";
const PREFIX = "prod/";
const CRONJOB = "monthly-infrahub-backup-drill";
const LONG = 600_000;
let cluster: LocalCluster;
let runner: JobPodRunner;
let minio: MinioServer;
let work: TempDir;
let readerSecret: string;
let publicKey: string;

/** An archive made by the CLI from dump files, uploaded under the prefix as `name`. */
async function upload(name: string, neo4jDump: string, pgDump?: string, extra: string[] = []): Promise<void> {
  const out = join(work.path, `out-${name}`);
  const made = await runCli([
    "create",
    "from-files",
    "--neo4j-path",
    neo4jDump,
    ...(pgDump ? ["--postgres-path", pgDump] : []),
    ...extra,
    "--infrahub-version",
    "1.5.3",
    "--backup-dir",
    out,
  ]);
  expect(made.code, made.stderr).toBe(0);
  await minio.putObject(BUCKET, `${PREFIX}${name}`, readFileSync(made.stdout.trim()));
}

beforeAll(async () => {
  buildCli();
  [cluster, minio, work] = await Promise.all([startLocalCluster(), startMinio(), tempDir("ihb-drill-run-")]);
  const neo4jHome = toolDir("neo4j", "NEO4J_VERSION");
  const pgUser = serviceUser(["postgres", "nobody"]);
  runner = await startCliPodRunner(cluster, {
    neo4j: { env: { NEO4J_HOME: neo4jHome, PATH: `${join(neo4jHome, "bin")}:${process.env.PATH}` } },
    "docker.io/bitnamilegacy/postgresql": {
      env: { PATH: `${postgresBin("postgres").replace(/\/postgres$/, "")}:${process.env.PATH}` },
      ...(pgUser ? { user: { uid: pgUser.uid, gid: pgUser.gid } } : {}),
    },
  });
  // A drill only reads: list the prefix (the newest archive) and get it.
  readerSecret = await readOnlyS3Secret(cluster, minio, {
    namespace: NS,
    bucket: BUCKET,
    user: "drill-reader",
  });

  // The good archive: dumps of a seeded Neo4j and Prefect database.
  const dumps = join(work.path, "dumps");
  await mkdir(dumps, { recursive: true });
  {
    await using neo4j: Neo4jServer = await startNeo4j();
    await using postgres: PostgresCluster = await startPostgres();
    await seedInfrahubData(neo4j, postgres, { nodes: 20, flowRuns: 10 });
    await neo4j.stop();
    await run(join(neo4j.binDir, "neo4j-admin"), ["database", "dump", `--to-path=${dumps}`, "neo4j"], {
      env: neo4j.env(),
    });
    await run(postgres.bin("pg_dump"), ["-Fc", "-f", join(dumps, "prefect.dump")], {
      env: postgres.env("app"),
    });
  }
  await upload(
    "infrahub_backup_20260101_000000.tar.gz",
    join(dumps, "neo4j.dump"),
    join(dumps, "prefect.dump"),
  );
  // The key pair of encrypted backups: the private key in the Secret the chart's values name.
  const key = join(work.path, "backup.key");
  const keygen = await runCli(["keygen", "-o", key]);
  expect(keygen.code, keygen.stderr).toBe(0);
  await cluster.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "backup-private-key", namespace: NS },
    stringData: { "private.pem": readFileSync(key, "utf8") },
  });
  publicKey = `${key}.pub`;
}, LONG);

afterAll(async () => {
  await runner?.stop();
  await cluster?.[Symbol.asyncDispose]();
  await minio?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
  removeCli();
}, 120_000);

/** What an operator writes to drill the backups: nothing but chart values (the default monthly schedule). */
const values = (encrypted = false) => ({
  image: { repository: "registry.example/infrahub-backup", tag: "test" },
  backup: {
    storage: { s3: { bucket: BUCKET, prefix: PREFIX, endpoint: minio.endpoint, secretName: "s3-creds" } },
  },
  // The private key, once the backups are encrypted (the CLI refuses a key for a plain archive).
  ...(encrypted ? { restore: { decryption: { keySecret: { name: "backup-private-key" } } } } : {}),
  // Small: the machine runs the whole suite beside this test.
  drill: { enabled: true, neo4j: { heap: "512m", pageCache: "64m" } },
});

/** A run of the CronJob now: a Job made from it, as an operator does with kubectl. */
async function drillNow(
  name: string,
): Promise<{ job: K8sObject; logs: Record<string, string>; exits: Record<string, number | undefined> }> {
  await cluster.kubectl(["-n", NS, "create", "job", `--from=cronjob/${CRONJOB}`, name]);
  const job = await waitForJob(cluster.client, NS, {
    match: (j) => j.metadata.name === name && jobFinished(j),
    deadline: Date.now() + 420_000,
    what: `finished drill Job ${name}`,
  });
  const runs = runner.runs.filter((r) => r.pod.startsWith(name));
  // Every container has ended (the agents after the CLI's `done`).
  await Promise.all(runs.map((r) => r.done));
  return {
    job,
    logs: Object.fromEntries(runs.map((r) => [r.container, r.logs()])),
    exits: Object.fromEntries(runs.map((r) => [r.container, r.exitCode])),
  };
}

describe("the drill CronJob on the local cluster, chart values only (issue 23 §2)", () => {
  it(
    "a good archive loads in the pod's own databases and every check passes (Job Complete); with the key Secret added, an encrypted archive whose dump is not a store fails the Job at once with exit 6",
    async () => {
      const install = helm(
        ["install", "monthly", chartDir, "-n", NS, "-f", "-", "--kubeconfig", cluster.adminKubeconfig],
        { input: stringify(values()) },
      );
      expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);

      const good = await drillNow("drill-good");
      const goodLog = good.logs.drill ?? "";
      expect(jobCondition(good.job, "Complete"), JSON.stringify(good.logs)).toBeDefined();
      expect(good.exits).toEqual({ drill: 0, neo4j: 0, postgres: 0 });
      expect(goodLog).toContain("infrahub_backup_20260101_000000.tar.gz: drill passed");
      expect(goodLog).toMatch(/passed\s+neo4j-nodes/);
      expect(goodLog).toMatch(/passed\s+prefect-flow-run-rows/);
      expect(good.logs.neo4j).toContain("the drill is done");
      const pod = (
        (await cluster.client.json(
          "GET",
          `/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Ddrill-good`,
        )) as {
          items: K8sObject[];
        }
      ).items[0] as K8sObject;
      // Its own identity, no API token: the live deployment is out of its reach.
      expect(pod.spec.serviceAccountName).toBe(CRONJOB);
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(pod.spec.containers.map((c: K8sObject) => c.name)).toEqual(["drill", "neo4j", "postgres"]);
      console.info(`good archive: drill exit 0\n${goodLog.trim().split("\n").slice(-12).join("\n")}`);

      // The backups become encrypted (and leave the task manager out): the release gets the private key by
      // a values change. The newest archive's Neo4j dump has the right magic and checksum but is not a store:
      // decrypted with the key, it fails the Job at once with exit 6 (a drill with a good encrypted archive
      // differs from the good one above only in the decryption that this one proves).
      const upgrade = helm(
        ["upgrade", "monthly", chartDir, "-n", NS, "-f", "-", "--kubeconfig", cluster.adminKubeconfig],
        { input: stringify(values(true)) },
      );
      expect(upgrade.status, `${upgrade.stdout}\n${upgrade.stderr}`).toBe(0);
      const garbage = join(work.path, "garbage");
      await mkdir(garbage, { recursive: true });
      await writeFile(
        join(garbage, "neo4j.dump"),
        Buffer.concat([Buffer.from("DZV1"), randomBytes(100_000)]),
      );
      await upload("infrahub_backup_20260201_000000.tar.gz.enc", join(garbage, "neo4j.dump"), undefined, [
        "--encrypt-key",
        publicKey,
      ]);
      const bad = await drillNow("drill-garbage");
      const badLog = bad.logs.drill ?? "";
      expect(bad.exits.drill, badLog).toBe(6);
      // The podFailurePolicy fails the Job on exit 6 without a retry.
      expect(jobCondition(bad.job, "Failed")?.reason).toBe("PodFailurePolicy");
      expect(badLog).toContain("database/neo4j.dump does not load");
      // Both database containers end cleanly, the unused PostgreSQL one too.
      expect([bad.exits.neo4j, bad.exits.postgres]).toEqual([0, 0]);
      console.info(`garbage dump: drill exit 6\n${badLog.trim().split("\n").slice(-3).join("\n")}`);
      for (const log of [goodLog, badLog]) {
        expect(log).not.toContain(readerSecret);
        expect(log).not.toContain("PRIVATE KEY");
      }
    },
    LONG,
  );
});
