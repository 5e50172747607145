// The local-cluster driver: a real kube-apiserver + controller-manager + scheduler + kwok (testkit's
// startLocalCluster), the Infrahub-shaped fixture whose pods exec into the real local Neo4j/PostgreSQL,
// MinIO and a fault proxy from testkit, the chart installed with the pinned Helm 4, and the chart's Job
// pods run by the job pod runner (TEST DOUBLE of the kubelet) executing the CLI bundle the image ships.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  deployInfrahubFixture,
  digestInfrahubData,
  type FaultProxy,
  type InfrahubLocalStack,
  type JobPodRunner,
  KubeClient,
  type KubeObject,
  type LocalCluster,
  RUNNER_USER_AGENT,
  repoRoot,
  seedFreshInfrahub,
  seedInfrahubData,
  startFaultProxy,
  startInfrahubLocalStack,
  startLocalCluster,
  type TempDir,
  tempDir,
  toolDir,
  waitUntil,
} from "@infrahub-backup/testkit";
import { startCliPodRunner } from "../../charts/tests/cli-pod-runner.js";
import { assembleUmbrella } from "../../charts/tests/umbrella.js";
import { buildCli, removeCli } from "../../packages/cli/test/cli-process.js";
import { adminWrites } from "./audit-writes.js";
import type { AcceptanceDriver, AuditedRequest, FreshInstall, PodExit, Values } from "./driver.js";
import { type HelmCli, helmCli } from "./helm-cli.js";
import { HelmReleaseReader } from "./helm-release-reader.js";
import { KubeReader } from "./kube-reader.js";

export const NAMESPACE = "infrahub";
/** The second Infrahub, installed by the umbrella chart in the fresh-install scenario. */
export const FRESH_NAMESPACE = "fresh";
const BUCKET = "infrahub-backups";
/** The identity and field manager of the GitOps controller that scales Infrahub back up. */
const GITOPS = {
  namespace: "argocd",
  serviceAccount: "argocd-application-controller",
  manager: "argocd-controller",
};

function secret(
  name: string,
  keys: { accessKeyId: string; secretAccessKey: string },
  namespace = NAMESPACE,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    stringData: { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey },
  };
}

export class LocalClusterDriver extends HelmReleaseReader implements AcceptanceDriver, AsyncDisposable {
  readonly name = "local-cluster";
  readonly namespace = NAMESPACE;
  readonly baseValues: Values = {
    // The runner runs the CLI bundle whatever the image says; the name only has to be valid.
    image: { repository: "infrahub-backup", tag: "acceptance", pullPolicy: "Never" },
  };
  readonly #disposables: AsyncDisposable[];
  #recordFrom = Number.POSITIVE_INFINITY;

  private constructor(
    readonly cluster: LocalCluster,
    readonly stack: InfrahubLocalStack,
    readonly runner: JobPodRunner,
    readonly proxy: FaultProxy,
    reader: KubeReader,
    helm: HelmCli,
    readonly work: TempDir,
    readonly secretNames: { readwrite: string; readonly: string; wrong: string },
    readonly auditLog: string,
    disposables: AsyncDisposable[],
    readonly fresh: FreshInstall,
    readonly gitopsKubeconfig: string,
  ) {
    super(helm, reader);
    this.#disposables = disposables;
  }

  /** Starts everything (≈ one cluster, one stack); on failure, stops what was started. */
  static async start(): Promise<LocalClusterDriver> {
    const disposables: AsyncDisposable[] = [];
    const dispose = async () => {
      // Best effort after a failed start: the start's own error is what the caller must see, and each
      // part stops its own processes; the leftovers check after the run names anything that survived.
      for (const d of disposables.reverse())
        await Promise.resolve(d[Symbol.asyncDispose]()).catch(() => undefined);
    };
    try {
      buildCli();
      disposables.push({ [Symbol.asyncDispose]: async () => removeCli() });
      const work = await tempDir("ihb-acceptance-");
      disposables.push(work);
      // The API server's audit log of every write: scenario 19 reads who changed what.
      const auditLog = join(work.path, "audit.log");
      const auditPolicy = join(work.path, "audit-policy.json");
      await writeFile(
        auditPolicy,
        JSON.stringify({
          apiVersion: "audit.k8s.io/v1",
          kind: "Policy",
          omitStages: ["RequestReceived", "ResponseStarted"],
          // Everything the backup pods' ServiceAccounts do (the least-privilege scenario reads it); of
          // everyone else, the writes only.
          rules: [
            {
              level: "Metadata",
              userGroups: [
                `system:serviceaccounts:${NAMESPACE}`,
                `system:serviceaccounts:${FRESH_NAMESPACE}`,
              ],
            },
            { level: "None", verbs: ["get", "list", "watch"] },
            { level: "Metadata" },
          ],
        }),
      );
      const [stack, cluster] = await Promise.all([
        startInfrahubLocalStack(),
        startLocalCluster({
          apiserverArgs: [`--audit-policy-file=${auditPolicy}`, `--audit-log-path=${auditLog}`],
        }),
      ]);
      disposables.push(stack, cluster);
      await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 300, flowRuns: 1500 });
      disposables.push(await deployInfrahubFixture(cluster, stack, { namespace: NAMESPACE }));
      await stack.minio.createBucket(BUCKET);
      const [readwrite, readonly] = await Promise.all([
        stack.minio.createUser("readwrite"),
        stack.minio.createUser("readonly"),
      ]);
      const secretNames = { readwrite: "s3-readwrite", readonly: "s3-readonly", wrong: "s3-wrong" };
      const pvDir = join(work.path, "persistent-volume");
      await cluster.apply([
        secret(secretNames.readwrite, readwrite),
        secret(secretNames.readonly, readonly),
        secret(secretNames.wrong, { accessKeyId: "not-a-key", secretAccessKey: "not-a-secret-value" }),
        // The cluster's storage for scenario 14: a volume pre-bound to the claim the chart creates for
        // release local-pvc (what a storage provisioner would create on a real cluster).
        {
          apiVersion: "v1",
          kind: "PersistentVolume",
          metadata: { name: "acceptance-local-backups" },
          spec: {
            capacity: { storage: "50Gi" },
            accessModes: ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: "Retain",
            hostPath: { path: pvDir, type: "DirectoryOrCreate" },
            claimRef: { namespace: NAMESPACE, name: "local-pvc-infrahub-backup-backups" },
          },
        },
      ]);
      // The fresh-install scenario's second Infrahub: its data and exec bindings (the fixture), then none of
      // its objects but the claim — `helm install` of the umbrella creates them (recorded before the
      // scenarios start, so scenario 19 sees only Helm's writes).
      const freshFixture = await deployInfrahubFixture(cluster, stack, { namespace: FRESH_NAMESPACE });
      disposables.push(freshFixture);
      const freshObjects = freshFixture.objects.filter((o) =>
        ["Secret", "Service", "Deployment", "StatefulSet"].includes(o.kind as string),
      );
      for (const o of freshObjects) {
        await cluster.kubectl(
          ["-n", FRESH_NAMESPACE, "delete", String(o.kind).toLowerCase(), o.metadata.name, "--wait=true"],
          { timeoutMs: 120_000 },
        );
      }
      await cluster.kubectl(
        ["-n", FRESH_NAMESPACE, "wait", "--for=delete", "pod", "--all", "--timeout=120s"],
        { allowFailure: true },
      );
      await cluster.apply(secret(secretNames.readwrite, readwrite, FRESH_NAMESPACE));
      const umbrella = assembleUmbrella();
      disposables.push({ [Symbol.asyncDispose]: async () => umbrella[Symbol.dispose]() });
      // The GitOps controller double: its own identity, allowed to patch Infrahub's Deployments.
      await cluster.createNamespace(GITOPS.namespace);
      await cluster.apply([
        {
          apiVersion: "v1",
          kind: "ServiceAccount",
          metadata: { name: GITOPS.serviceAccount, namespace: GITOPS.namespace },
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "gitops-controller", namespace: NAMESPACE },
          rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "patch"] }],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "gitops-controller", namespace: NAMESPACE },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "gitops-controller" },
          subjects: [{ kind: "ServiceAccount", name: GITOPS.serviceAccount, namespace: GITOPS.namespace }],
        },
      ]);
      const gitopsKubeconfig = await cluster.serviceAccountKubeconfig(
        GITOPS.namespace,
        GITOPS.serviceAccount,
      );
      const client = new KubeClient({
        server: cluster.server,
        caFile: cluster.caFile,
        token: cluster.adminToken,
        userAgent: "ihb-acceptance-reader",
      });
      const runner = await startCliPodRunner(cluster);
      disposables.push(runner);
      const proxy = await startFaultProxy({ host: "127.0.0.1", port: stack.minio.port });
      disposables.push(proxy);
      /** The pinned Helm 4 against this cluster, for one chart in one namespace. */
      const helmFor = (chart: string, namespace: string) =>
        helmCli({
          helm: join(toolDir("helm", "HELM4_VERSION"), "bin/helm"),
          chart,
          namespace,
          workDir: work.path,
          globalArgs: ["--kubeconfig", cluster.adminKubeconfig],
          env: {
            HELM_CACHE_HOME: join(work.path, "helm-cache"),
            HELM_CONFIG_HOME: join(work.path, "helm-config"),
            HELM_DATA_HOME: join(work.path, "helm-data"),
          },
        });
      const helm = helmFor(join(repoRoot, "charts/infrahub-backup"), NAMESPACE);
      const reader = new KubeReader(client, NAMESPACE);
      await reader.waitForReady(120_000);
      const freshHelm = helmFor(umbrella.dir, FRESH_NAMESPACE);
      const fresh = new FreshUmbrella(
        freshHelm,
        new KubeReader(client, FRESH_NAMESPACE),
        runner,
        freshObjects,
        {
          readwrite: secretNames.readwrite,
        },
      );
      return new LocalClusterDriver(
        cluster,
        stack,
        runner,
        proxy,
        reader,
        helm,
        work,
        secretNames,
        auditLog,
        disposables,
        fresh,
        gitopsKubeconfig,
      );
    } catch (error) {
      await dispose();
      throw error;
    }
  }

  get store(): AcceptanceDriver["store"] {
    const minio = this.stack.minio;
    const client = minio.client();
    return {
      endpoint: minio.endpoint,
      bucket: BUCKET,
      secrets: this.secretNames,
      listKeys: (prefix, bucket = BUCKET) => minio.listObjectKeys(bucket, prefix),
      pendingUploads: async (prefix, bucket = BUCKET) =>
        (await minio.listMultipartUploads(bucket)).filter((u) => u.key.startsWith(prefix)).map((u) => u.key),
      get: async (key, bucket = BUCKET) => {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(
          await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        );
      },
      put: async (key, body, bucket = BUCKET) => {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      },
      delete: async (key, bucket = BUCKET) => {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      },
      createBucket: (name) => minio.createBucket(name),
      setQuota: (bucket, bytes) => minio.setBucketQuota(bucket, bytes),
    };
  }

  get faults(): AcceptanceDriver["faults"] {
    const proxy = this.proxy;
    return {
      endpoint: proxy.endpoint,
      cutUploadsAfter: (bytes) => proxy.setMode({ kind: "cutAfter", bytes, direction: "up" }),
      wasCut: () => proxy.cut,
      refuse: () => proxy.setMode({ kind: "reset" }),
      pass: () => proxy.setMode({ kind: "pass" }),
    };
  }

  get data(): AcceptanceDriver["data"] {
    const { neo4j, postgres, neo4jSupervisor } = this.stack;
    return {
      digest: async () => {
        const d = await digestInfrahubData(neo4j, postgres);
        return `${d.neo4j}/${d.postgres}`;
      },
      change: async (label) => {
        await neo4j.cypher(`CREATE (:AcceptanceMarker {label: '${label.replace(/'/g, "")}'})`);
        await postgres.psql(
          `INSERT INTO flow_run (name, state_type) VALUES ('${label.replace(/'/g, "")}', 'RUNNING');`,
        );
      },
      takeDatabaseDown: () => postgres.stop(),
      bringDatabaseUp: () => postgres.start(),
      neo4jStarts: async () => neo4jSupervisor.restarts,
      makeFresh: async () => {
        await neo4j.cypher("MATCH (n) DETACH DELETE n");
        await postgres.psql(
          `DO $$ DECLARE t record; BEGIN
             FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
               EXECUTE format('DROP TABLE %I CASCADE', t.tablename);
             END LOOP;
           END $$;`,
          { as: "superuser", database: postgres.app.database },
        );
        await seedFreshInfrahub(neo4j);
      },
    };
  }

  /**
   * A claim: the directory of the PersistentVolume it is bound to (read through the API, as mounting
   * the claim in another pod would). An emptyDir: the pod's volume directory while the pod exists (as
   * `kubectl cp` from the sleeping pod).
   */
  readLocalArchives(job: string, containerPath: string): Promise<string[]> {
    return (async () => {
      const pod = await this.reader.pod(job);
      if (!pod) return [];
      const container = pod.spec.containers[0] as KubeObject;
      const mount = ((container.volumeMounts ?? []) as KubeObject[]).find(
        (m) => m.mountPath === containerPath,
      );
      const volume = ((pod.spec.volumes ?? []) as KubeObject[]).find((v) => v.name === mount?.name);
      let dir: string | undefined;
      if (volume?.persistentVolumeClaim) {
        const claim = await this.reader.client.get(
          `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/${volume.persistentVolumeClaim.claimName}`,
        );
        const pv = claim?.spec?.volumeName
          ? await this.reader.client.get(`/api/v1/persistentvolumes/${claim.spec.volumeName}`)
          : undefined;
        dir = pv?.spec?.hostPath?.path;
      } else if (volume?.emptyDir && !pod.metadata.deletionTimestamp) {
        const run = this.runner.runs.find((r) => r.uid === pod.metadata.uid);
        dir = run?.mounts.resolve(containerPath);
      }
      if (!dir) return [];
      const names = await readdir(dir).catch(() => [] as string[]);
      return names.filter((n) => n.endsWith(".tar.gz")).map((n) => join(dir as string, n));
    })();
  }

  startRecording(): void {
    this.#recordFrom = Date.now();
  }

  get gitops(): AcceptanceDriver["gitops"] {
    return {
      manager: GITOPS.manager,
      scale: async (deployment, replicas) => {
        await this.cluster.kubectl(
          [
            "-n",
            NAMESPACE,
            "patch",
            "deployment",
            deployment,
            "--type=merge",
            "-p",
            JSON.stringify({ spec: { replicas } }),
            `--field-manager=${GITOPS.manager}`,
          ],
          { kubeconfig: this.gitopsKubeconfig },
        );
      },
    };
  }

  /** The job pod runner's record of the Job's current pod: it ends when the process ends. */
  podExit(job: string): Promise<PodExit> {
    return (async () => {
      const pod = await this.reader.pod(job);
      if (!pod) throw new Error(`Job ${job} has no pod`);
      const run = await this.runner.waitForRun((r) => r.uid === pod.metadata.uid, 120_000);
      const done = await run.done;
      return { exitedAt: done.finishedAt ?? new Date(), exitCode: done.exitCode, logs: done.logs() };
    })();
  }

  /** SIGKILL to the process group the job pod runner started for the Job's current pod. */
  oomKill(job: string, once?: RegExp): Promise<void> {
    return killJobPod(this.runner, this.reader, job, once);
  }

  /** Requests of the backup pods' ServiceAccounts (`<release>-infrahub-backup`) since startRecording. */
  async backupIdentityRequests(): Promise<AuditedRequest[]> {
    const out: AuditedRequest[] = [];
    for (const line of (await readFile(this.auditLog, "utf8")).split("\n")) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as KubeObject;
      if (e.stage !== "ResponseComplete" || Date.parse(e.requestReceivedTimestamp) < this.#recordFrom)
        continue;
      const user = String(e.user?.username ?? "");
      if (!/^system:serviceaccount:[^:]+:.+-infrahub-backup$/.test(user)) continue;
      const ref = (e.objectRef ?? {}) as KubeObject;
      if (!ref.resource) continue;
      out.push({
        user,
        verb: e.verb,
        resource: `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ""}${ref.apiGroup ? `.${ref.apiGroup}` : ""}`,
        name: ref.name,
        code: e.responseStatus?.code ?? 0,
      });
    }
    return out;
  }

  /** Admin writes since startRecording other than Helm's and the test bed's (see adminWrites). */
  async clusterWrites(): Promise<{ byHelm: number; others: string[] }> {
    return adminWrites(await readFile(this.auditLog, "utf8"), this.#recordFrom, RUNNER_USER_AGENT);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // One part failing to stop must not keep the others running; the leftovers check after the run
    // names any process that survived.
    for (const d of this.#disposables.reverse())
      await Promise.resolve(d[Symbol.asyncDispose]()).catch(() => undefined);
  }
}

/**
 * SIGKILL to the process group the job pod runner started for the Job's current pod — with `once`, as soon
 * as its output matches (read from the runner every 20 ms, not through the API server, so that a window of
 * a second is hit); resolves when the process ended.
 */
async function killJobPod(
  runner: JobPodRunner,
  reader: KubeReader,
  job: string,
  once?: RegExp,
): Promise<void> {
  // The newest pod still running: one of an earlier Job of the same name may not be collected yet.
  const pod = await waitForLivePod(reader, job, 120_000);
  const run = await runner.waitForRun((r) => r.uid === pod.metadata.uid, 120_000);
  let ended = false;
  void run.done.then(() => {
    ended = true;
  });
  while (once && !once.test(run.logs())) {
    if (ended) throw new Error(`Job ${job}'s pod ended before its output matched ${once}:\n${run.logs()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  run.kill("SIGKILL");
  await run.done;
}

async function waitForLivePod(reader: KubeReader, job: string, timeoutMs: number): Promise<KubeObject> {
  let live: KubeObject | undefined;
  await waitUntil(
    `a running pod of Job ${job}`,
    async () => {
      const pod = await reader.pod(job);
      live = pod && !["Succeeded", "Failed"].includes(String(pod.status?.phase)) ? pod : undefined;
      return live !== undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
  return live as KubeObject;
}

/** The fresh-install namespace: releases of the umbrella chart, read through the API server. */
class FreshUmbrella extends HelmReleaseReader implements FreshInstall {
  readonly namespace = FRESH_NAMESPACE;
  constructor(
    helm: HelmCli,
    reader: KubeReader,
    private readonly runner: JobPodRunner,
    readonly infrahubObjects: KubeObject[],
    readonly secrets: { readwrite: string },
  ) {
    super(helm, reader);
  }

  oomKill(job: string, once?: RegExp): Promise<void> {
    return killJobPod(this.runner, this.reader, job, once);
  }

  override install(release: string, values: Values, options: { databaseMinReadySeconds?: number } = {}) {
    const objects = this.infrahubObjects.map((o) =>
      o.kind === "StatefulSet" && o.metadata.name === "infrahub-database" && options.databaseMinReadySeconds
        ? { ...o, spec: { ...o.spec, minReadySeconds: options.databaseMinReadySeconds } }
        : o,
    );
    return super.install(release, { ...values, infrahub: { objects } });
  }
}
