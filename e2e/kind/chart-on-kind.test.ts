// ci-cost: 360 s (333 s wall alone, 418 s before the kind node capped the kubelet's restart back-off at 1 s;
// 500 s at load ~15; ~13 s CPU in the test process + the kind node's: cluster up ~30 s, ~1.8 GB of images loaded ~50 s)
// The chart on real pods with a real kubelet (issue 27): a kind cluster on the node image built here, the Infrahub
// deployment from locally built images in a namespace enforcing the `restricted` Pod Security Standard
// (e2e/kind/infrahub-on-kind.ts), MinIO in the cluster, the product image `kind load`ed and charts/infrahub-backup
// installed with values only. A Job made from the CronJob backs up to MinIO; a restore Job restores it. What the
// kwok tier cannot show is checked here: pod exec through the kubelet's streaming server, securityContext and Pod
// Security enforced by a real runtime, and the Neo4j freeze inside a container the kubelet restarts when its JVM
// exits — not during the dump (the container that ran the dump is the one that exits after it), once after it.
import { join } from "node:path";
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  digestInfrahubData,
  type InfrahubDataDigest,
  repoRoot,
  run,
  seedInfrahubData,
  waitUntil,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chartDir, helmBin } from "../../charts/tests/helm.js";
import { jobCondition, jobFinished } from "../../charts/tests/jobs.js";
import { helmCli } from "../acceptance/helm-cli.js";
import {
  deployInfrahubOnKind,
  execIn,
  graphQueries,
  LOCAL_IMAGES,
  MINIO_KEYS,
  MINIO_NODE_PORT,
  NEO4J_CONTAINER,
  INFRAHUB_NAMESPACE as NS,
  sqlQueries,
} from "./infrahub-on-kind.js";
import { KindCluster, type KubeObject, kindClusterName, kindUnavailableHere } from "./kind-cluster.js";

const unavailable = kindUnavailableHere();
// CI has an engine on every machine of this kind (tools/run-tests.sh starts it): there, none is a failure.
const required = process.env.CI === "true" || process.env.IHB_REQUIRE_DOCKER === "1";
const BUCKET = "infrahub-backups";
const PREFIX = "kind";
const S3_SECRET = "backup-s3";
const IN_CLUSTER_S3 = "http://minio.minio.svc.cluster.local:9000";
/** The application Deployments and their replicas: each must be back at its count after a backup and a restore. */
const APP_REPLICAS: Record<string, number> = {
  "infrahub-infrahub-server": 1,
  "infrahub-infrahub-task-worker": 2,
  "prefect-server": 1,
  "infrahub-cache-master": 1,
  "infrahub-message-queue": 1,
};

describe.skipIf(unavailable !== undefined && !required)(
  `the chart on kind (${unavailable ? `SKIPPED: ${unavailable}` : "real kubelet, restricted namespace, local images"})`,
  () => {
    let cluster: KindCluster;
    let image: string;
    let s3: S3Client;
    let original: InfrahubDataDigest;

    const helmEnv = () => ({
      HELM_CACHE_HOME: join(cluster.work.path, "helm-cache"),
      HELM_CONFIG_HOME: join(cluster.work.path, "helm-config"),
    });
    const helm = async (args: string[]) =>
      (
        await run(helmBin(), [...args, "--kubeconfig", cluster.kubeconfig], {
          env: { ...process.env, ...helmEnv() },
          timeoutMs: 300_000,
        })
      ).stdout;

    /** Installs charts/infrahub-backup with values only, the local image never pulled. */
    const installChart = async (release: string, values: KubeObject) => {
      const outcome = await helmCli({
        helm: helmBin(),
        chart: chartDir,
        namespace: NS,
        workDir: cluster.work.path,
        globalArgs: ["--kubeconfig", cluster.kubeconfig],
        env: helmEnv(),
      }).install(release, {
        image: { repository: image.split(":")[0], tag: image.split(":")[1], pullPolicy: "Never" },
        logFormat: "text",
        ...values,
      });
      if (!outcome.ok) throw new Error(`helm install ${release} failed:\n${outcome.output}`);
    };

    const s3Values = (extra: KubeObject = {}) => ({
      type: "s3",
      s3: { bucket: BUCKET, prefix: PREFIX, endpoint: IN_CLUSTER_S3, secretName: S3_SECRET, ...extra },
    });

    /** Waits until the Job is Complete; a Failed one fails the test with its log. */
    async function jobCompletes(name: string, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await cluster.json(["get", "job", "-n", NS, name]);
        if (jobFinished(job) || Date.now() > deadline) {
          const log = await cluster.kubectl(["logs", "-n", NS, `job/${name}`, "--all-containers"]);
          if (!jobCondition(job, "Complete"))
            throw new Error(`Job ${name} did not complete: ${JSON.stringify(job.status)}\n${log}`);
          return log;
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    }

    async function neo4jContainer(): Promise<KubeObject> {
      const pod = await cluster.json(["get", "pod", "-n", NS, NEO4J_CONTAINER.pod]);
      const status = (pod.status?.containerStatuses ?? []).find((c: KubeObject) => c.name === "neo4j");
      if (!status) throw new Error(`${NEO4J_CONTAINER.pod} has no neo4j container status`);
      return status;
    }

    /** The kubelet's readiness probe (Bolt accepting connections) passes again. */
    const neo4jReady = () =>
      waitUntil("the Neo4j container Ready", async () => (await neo4jContainer()).ready === true, {
        timeoutMs: 60_000,
        intervalMs: 1000,
      });

    /** Every application Deployment has its replicas back, all ready. */
    async function appsBack(): Promise<Record<string, [number, number]>> {
      const seen: Record<string, [number, number]> = {};
      for (const name of Object.keys(APP_REPLICAS)) {
        const d = await cluster.json(["get", "deployment", "-n", NS, name]);
        seen[name] = [d.spec?.replicas ?? 0, d.status?.readyReplicas ?? 0];
      }
      return seen;
    }
    const expectedApps = Object.fromEntries(Object.entries(APP_REPLICAS).map(([n, r]) => [n, [r, r]]));

    /** `kubectl logs -f` of the Job's pod from the moment it runs until the pod is gone: the whole log. */
    async function followLogs(job: string): Promise<string> {
      await waitUntil(
        `a running pod of Job ${job}`,
        async () =>
          (
            await cluster.kubectl([
              "get",
              "pods",
              "-n",
              NS,
              "-l",
              `job-name=${job}`,
              "-o",
              "jsonpath={.items[*].status.phase}",
            ])
          ).includes("Running"),
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      return await cluster.kubectl(["logs", "-f", "-n", NS, `job/${job}`], { timeoutMs: 600_000 });
    }

    /**
     * Holds the offline window open: pauses (SIGSTOP, inside the Neo4j container) every process of the dump as
     * soon as it starts, and returns once it did. A freeze whose JVM exits before the helper can pause it ends
     * the container, and this script with it (exit 137, or the container not found while the kubelet starts
     * it again): the CLI tries the freeze again once Neo4j serves (3 attempts), so this looks again too.
     */
    async function pauseTheDump(): Promise<void> {
      const deadline = Date.now() + 240_000;
      for (let attempt = 1; ; attempt++) {
        try {
          const paused = await execIn(
            cluster,
            NEO4J_CONTAINER,
            [
              "sh",
              "-c",
              // Every process of the dump (neo4j-admin's bootloader JVM and the one it starts); the pattern's
              // brackets keep this script's own command line from matching.
              `for _ in $(seq 1 2400); do
           found=""
           for p in /proc/[0-9]*; do
             if tr '\\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q 'database[ ]dump'; then
               kill -STOP "\${p#/proc/}" && found="$found \${p#/proc/}"
             fi
           done
           [ -z "$found" ] || { echo $found; exit 0; }
           sleep 0.05
         done
         exit 1`,
            ],
            { timeoutMs: 180_000 },
          );
          expect(paused.trim()).toMatch(/^\d+( \d+)*$/);
          return;
        } catch (error) {
          const containerEnded = /exited with 137|container not found|not running|unexpected EOF/.test(
            String((error as Error).message),
          );
          if (!containerEnded || attempt >= 4 || Date.now() > deadline) throw error;
          console.log(`pauseTheDump: the Neo4j container ended under it (attempt ${attempt}); looking again`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }

    /**
     * After a backup that failed or was cancelled: Neo4j Ready, the apps at their replicas, the data unchanged,
     * the dump's staging directory gone, and in storage only the first test's archive — no unfinished upload.
     */
    async function everythingPutBack(): Promise<void> {
      await neo4jReady();
      expect(await appsBack()).toEqual(expectedApps);
      expect(await digest()).toEqual(original);
      const staged = await execIn(cluster, NEO4J_CONTAINER, [
        "sh",
        "-c",
        "ls -a /data /var/lib/neo4j/data 2>/dev/null | grep -F .infrahub-backup-staging || true",
      ]);
      expect(staged.trim()).toBe("");
      const all = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }));
      expect((all.Contents ?? []).map((o) => o.Key)).toHaveLength(1);
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? []).toEqual([]);
    }

    /** The time of the first text-format log line containing `text` (`time="…"`), in epoch ms. */
    function logTime(log: string, text: string): number {
      const line = log.split("\n").find((l) => l.includes(text));
      const time = line && /time="([^"]+)"/.exec(line)?.[1];
      if (!time) throw new Error(`no log line with ${JSON.stringify(text)}:\n${log}`);
      return Date.parse(time);
    }

    const digest = () => digestInfrahubData(graphQueries(cluster), sqlQueries(cluster));

    beforeAll(async () => {
      if (unavailable) throw new Error(`${unavailable} (CI requires a Docker engine for the kind tier)`);
      const [built, , started] = await Promise.all([
        run(join(repoRoot, "packages/image/build-local.sh"), [], { timeoutMs: 1_200_000 }),
        run(join(repoRoot, "test-images/build.sh"), ["neo4j", "postgres", "minio", "infrahub-test-double"], {
          timeoutMs: 1_200_000,
        }),
        KindCluster.start(kindClusterName("chart")),
      ]);
      cluster = started;
      image = built.stdout.trim().split("\n").at(-1) ?? "";
      expect(image).toMatch(/^[^:]+:[^:]+$/);
      await cluster.loadImages([image, ...Object.values(LOCAL_IMAGES)]);
      await deployInfrahubOnKind(cluster);
      s3 = new S3Client({
        endpoint: `http://${await cluster.nodeAddress()}:${MINIO_NODE_PORT}`,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: MINIO_KEYS,
      });
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await cluster.apply([
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: S3_SECRET, namespace: NS },
          stringData: {
            AWS_ACCESS_KEY_ID: MINIO_KEYS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: MINIO_KEYS.secretAccessKey,
          },
        },
      ]);
      await seedInfrahubData(graphQueries(cluster), sqlQueries(cluster), { nodes: 200, flowRuns: 300 });
      original = await digest();
    }, 1_500_000);

    afterAll(async () => {
      s3?.destroy();
      await cluster?.[Symbol.asyncDispose]();
    }, 180_000);

    it("a Job made from the CronJob backs up to MinIO; Neo4j is frozen, not restarted, during the dump", async () => {
      await installChart("ihb-backup", {
        backup: {
          enabled: true,
          mode: "cronjob",
          // Never due while the test runs: the Job is made from the CronJob, as an operator would.
          schedule: "0 0 1 1 *",
          // A failed run is the test's failure, not retried in another pod.
          job: { backoffLimit: 0 },
          storage: s3Values(),
          options: { sleep: "" },
        },
      });
      // The chart's own check of S3 access, a hook pod in the restricted namespace.
      expect(await helm(["test", "ihb-backup", "-n", NS, "--logs"])).toMatch(/Phase:\s+Succeeded/);
      const cronJob = (await cluster.kubectl(["get", "cronjob", "-n", NS, "-o", "name"])).trim();
      expect(cronJob).toBe("cronjob.batch/ihb-backup-infrahub-backup");

      const before = await neo4jContainer();
      await cluster.kubectl(["create", "job", "-n", NS, `--from=${cronJob}`, "backup-now"]);
      const log = await jobCompletes("backup-now", 600_000);

      const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }));
      const keys = (list.Contents ?? []).map((o) => o.Key);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(/^kind\/infrahub_backup_\d{8}_\d{6}\.tar\.gz$/);
      expect(log).toContain(`backup committed at s3://${BUCKET}/${keys[0]}`);

      // The container that ran the dump's whole offline window is the one that exited after it — cleanly (the
      // resumed JVM finishes its shutdown; the kubelet starts it again). A freeze that lost its race with the
      // exiting JVM (FREEZE_RETRY, under load) costs one more restart before the dump, none during it.
      const dumpStarted = logTime(log, "dumping Neo4j database neo4j (offline)");
      const dumped = logTime(log, "Neo4j dump staged in");
      const retries = log.split("exited before it could be paused").length - 1;
      const after = await neo4jContainer();
      const ran = after.lastState?.terminated;
      expect(after.restartCount).toBe(before.restartCount + 1 + retries);
      if (retries === 0) expect(ran?.containerID).toBe(before.containerID);
      expect(ran?.exitCode).toBe(0);
      // The runtime's times have whole seconds.
      expect(Date.parse(ran?.startedAt)).toBeLessThanOrEqual(dumpStarted);
      expect(Date.parse(ran?.finishedAt)).toBeGreaterThanOrEqual(Math.floor(dumped / 1000) * 1000);
      await neo4jReady();
      expect(log).toMatch(/Neo4j serving database neo4j again after \d+ ms offline/);
      expect(await appsBack()).toEqual(expectedApps);
      expect(await digest()).toEqual(original);
    });

    it("a backup Job deleted while Neo4j is frozen puts everything back and stores nothing", async () => {
      // The operator's way to cancel: delete the Job. The kubelet sends the CLI SIGTERM (the chart gives it
      // 600 s to wind up). The window is held open: the dump is paused (SIGSTOP, inside the Neo4j container)
      // as soon as it starts, so the deletion lands while Neo4j is frozen and the dump holds its store.
      const job = "backup-cancelled";
      await cluster.kubectl(["create", "job", "-n", NS, "--from=cronjob/ihb-backup-infrahub-backup", job]);
      const logs = followLogs(job);
      // Awaited below; if the test fails before that, its rejection is not what the failure is about.
      logs.catch(() => undefined);
      await pauseTheDump();
      await cluster.kubectl(["delete", "job", "-n", NS, job, "--cascade=foreground", "--timeout=300s"], {
        timeoutMs: 320_000,
      });
      const log = await logs;
      expect(log).toContain("dumping Neo4j database neo4j (offline)");
      expect(log).toMatch(
        /backup cancelled: .*Nothing was stored\. Neo4j serves again; the application services were started again\./,
      );
      expect(log).toMatch(/Neo4j serving database neo4j again after \d+ ms offline/);
      expect(log).not.toContain("backup committed");

      await everythingPutBack();
    });

    it("the Neo4j JVM killed while frozen mid-dump: the Job fails clearly, the kubelet brings Neo4j back, nothing stored", async () => {
      // The frozen JVM is the container's main process (under tini): its death ends the container and the dump
      // in it, and the kubelet starts a new container on the same data volume.
      const restarts = (await neo4jContainer()).restartCount;
      const job = "backup-jvm-killed";
      await cluster.kubectl(["create", "job", "-n", NS, "--from=cronjob/ihb-backup-infrahub-backup", job]);
      const logs = followLogs(job);
      // Awaited below; if the test fails before that, its rejection is not what the failure is about.
      logs.catch(() => undefined);
      await pauseTheDump();
      await execIn(cluster, NEO4J_CONTAINER, ["sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)"]);
      const log = await logs;
      expect(log).toContain("dumping Neo4j database neo4j (offline)");
      expect(log).toMatch(
        /backup failed: .*Nothing was stored\. Neo4j serves again; the application services were started again\./,
      );
      expect(log).toContain("NEO4J_RESTARTED");
      expect(log).not.toContain("SERVICES_NOT_RESTORED");
      // The Job controller records the failed pod a moment after its log ends.
      await waitUntil(
        `Job ${job} failed`,
        async () => (await cluster.json(["get", "job", "-n", NS, job])).status?.failed === 1,
        { timeoutMs: 60_000, intervalMs: 1000 },
      );

      await everythingPutBack();
      expect((await neo4jContainer()).restartCount).toBeGreaterThan(restarts);
    });

    it("a restore Job brings the backup's data back and every service with it", async () => {
      await seedInfrahubData(graphQueries(cluster), sqlQueries(cluster), { nodes: 20, flowRuns: 30 });
      expect(await digest()).not.toEqual(original);

      await installChart("ihb-restore", {
        restore: { enabled: true, mode: "job", storage: s3Values({ latest: true }) },
      });
      const job = (
        await cluster.kubectl([
          "get",
          "job",
          "-n",
          NS,
          "-l",
          "app.kubernetes.io/instance=ihb-restore",
          "-o",
          "jsonpath={.items[*].metadata.name}",
        ])
      ).trim();
      expect(job).toMatch(/^ihb-restore-infrahub-backup-restore-[0-9a-f]+$/);
      const log = await jobCompletes(job, 900_000);
      expect(log).toContain("Restore completed successfully");
      expect(log).toMatch(/Neo4j serving database neo4j again after \d+ ms offline/);

      expect(await digest()).toEqual(original);
      expect(await appsBack()).toEqual(expectedApps);
      await neo4jReady();
    });
  },
);
