// The kind driver (GitHub Actions, .github/workflows/e2e-kind.yml): real images, the real upstream
// `infrahub` chart, MinIO in the cluster. The workflow creates the cluster, loads the image, installs
// MinIO (.github/e2e/minio.yaml) and Infrahub (release `infrahub`, namespace `infrahub`) and
// port-forwards MinIO to IHB_KIND_S3_ENDPOINT; this driver adds the credential Secrets and runs the
// same scenarios with `helm`/`kubectl` from PATH against the current kube context.
// It has no fault proxy (scenario 3's cut is skipped) and no audit log (scenario 19 is skipped).
import { execFile, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { Neo4jServer, PostgresCluster } from "@infrahub-backup/testkit";
import {
  digestInfrahubData,
  type KubeClient,
  repoRoot,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import type { AcceptanceDriver, Values } from "./driver.js";
import { type HelmCli, helmCli } from "./helm-cli.js";
import { HelmReleaseReader } from "./helm-release-reader.js";
import { KubeReader } from "./kube-reader.js";

const run = promisify(execFile);
const NAMESPACE = "infrahub";
// Its own bucket: the workflow's scripted scenarios use `backups`.
const BUCKET = "acceptance";
const MINIO_POD_EXEC = ["exec", "-n", "minio", "deploy/minio", "--"];
// Throwaway credentials of the in-cluster test MinIO (.github/e2e/minio.yaml), not secrets.
const ROOT = { accessKeyId: "e2e-access-key", secretAccessKey: "e2e-secret-key" };
const READONLY = { accessKeyId: "e2e-readonly", secretAccessKey: "e2e-readonly-secret" };

/** Why the kind driver cannot run here, or undefined when it can. */
export function kindUnavailable(): string | undefined {
  const kind = spawnSync("kind", ["version"], { encoding: "utf8" });
  if (kind.error || kind.status !== 0) return "`kind` is not installed";
  const docker = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
  if (docker.error || docker.status !== 0) return "no Docker engine (`docker info` failed)";
  if (!process.env.IHB_KIND_S3_ENDPOINT) {
    return "IHB_KIND_S3_ENDPOINT is not set (the e2e-kind workflow port-forwards MinIO and sets it)";
  }
  return undefined;
}

async function kubectl(args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await run("kubectl", args, { maxBuffer: 256 * 1024 * 1024 })).stdout;
  return await new Promise((resolve, reject) => {
    const child = execFile("kubectl", args, { maxBuffer: 256 * 1024 * 1024 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

function secret(name: string, keys: { accessKeyId: string; secretAccessKey: string }) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NAMESPACE },
    stringData: { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey },
  };
}

export class KindDriver extends HelmReleaseReader implements AcceptanceDriver, AsyncDisposable {
  readonly name = "kind";
  readonly namespace = NAMESPACE;
  readonly baseValues: Values = { image: { repository: "infrahub-backup", tag: "e2e", pullPolicy: "Never" } };
  readonly faults = undefined;
  /** Not modelled on kind (yet): the upstream infrahub chart from OpsMill's registry would be needed. */
  readonly fresh = undefined;
  readonly gitops = undefined;
  readonly #s3: S3Client;

  private constructor(
    helm: HelmCli,
    readonly work: TempDir,
    reader: KubeReader,
  ) {
    super(helm, reader);
    this.#s3 = new S3Client({
      endpoint: process.env.IHB_KIND_S3_ENDPOINT,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: ROOT,
    });
  }

  static async start(): Promise<KindDriver> {
    const work = await tempDir("ihb-acceptance-kind-");
    // Reads go through `kubectl get --raw` with the current context's credentials.
    const reader = new KubeReader(kubectlRawClient(), NAMESPACE);
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          secret("s3-readwrite", ROOT),
          secret("s3-readonly", READONLY),
          secret("s3-wrong", { accessKeyId: "not-a-key", secretAccessKey: "not-a-secret-value" }),
        ],
      }),
    );
    // MinIO's own client in its pod: a read-only user.
    await kubectl([
      ...MINIO_POD_EXEC,
      "mc",
      "alias",
      "set",
      "e2e",
      "http://127.0.0.1:9000",
      ROOT.accessKeyId,
      ROOT.secretAccessKey,
    ]);
    await kubectl([
      ...MINIO_POD_EXEC,
      "mc",
      "admin",
      "user",
      "add",
      "e2e",
      READONLY.accessKeyId,
      READONLY.secretAccessKey,
    ]);
    await kubectl([
      ...MINIO_POD_EXEC,
      "mc",
      "admin",
      "policy",
      "attach",
      "e2e",
      "readonly",
      "--user",
      READONLY.accessKeyId,
    ]);
    const s3 = new S3Client({
      endpoint: process.env.IHB_KIND_S3_ENDPOINT,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: ROOT,
    });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    } finally {
      s3.destroy();
    }
    const helm = helmCli({
      helm: "helm",
      chart: join(repoRoot, "charts/infrahub-backup"),
      namespace: NAMESPACE,
      workDir: work.path,
    });
    return new KindDriver(helm, work, reader);
  }

  get store(): AcceptanceDriver["store"] {
    const s3 = this.#s3;
    return {
      endpoint: "http://minio.minio.svc.cluster.local:9000",
      bucket: BUCKET,
      secrets: { readwrite: "s3-readwrite", readonly: "s3-readonly", wrong: "s3-wrong" },
      listKeys: async (prefix, bucket = BUCKET) => {
        const keys: string[] = [];
        let token: string | undefined;
        do {
          const page = await s3.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
          for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return keys;
      },
      pendingUploads: async (prefix, bucket = BUCKET) =>
        (
          (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []
        ).map((u) => u.Key ?? ""),
      get: async (key, bucket = BUCKET) => {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(
          await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        );
      },
      put: async (key, body, bucket = BUCKET) => {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      },
      delete: async (key, bucket = BUCKET) => {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      },
      createBucket: async (name) => {
        await s3.send(new CreateBucketCommand({ Bucket: name }));
      },
      setQuota: async (bucket, bytes) => {
        await kubectl([...MINIO_POD_EXEC, "mc", "quota", "set", `e2e/${bucket}`, "--size", `${bytes}B`]);
      },
    };
  }

  get data(): AcceptanceDriver["data"] {
    // The upstream chart's defaults (compat-reference §6.3): neo4j/admin, prefect/prefect-rocks/server.
    const neo4j = {
      cypher: (query: string) =>
        kubectl([
          "exec",
          "-n",
          NAMESPACE,
          "infrahub-database-0",
          "-c",
          "neo4j",
          "--",
          "cypher-shell",
          "-u",
          "neo4j",
          "-p",
          "admin",
          "--format",
          "plain",
          query,
        ]),
    } as unknown as Neo4jServer;
    const psqlIn = (database: string, sql: string) =>
      kubectl(
        [
          "exec",
          "-i",
          "-n",
          NAMESPACE,
          "infrahub-postgresql-0",
          "-c",
          "postgresql",
          "--",
          "env",
          "PGPASSWORD=prefect-rocks",
          "psql",
          "-h",
          "localhost",
          "-U",
          "prefect",
          "-d",
          database,
          "-v",
          "ON_ERROR_STOP=1",
          "-At",
        ],
        sql,
      );
    const postgres = { psql: (sql: string) => psqlIn("server", sql) } as unknown as PostgresCluster;
    // "Unreachable" while the pod stays Running (scaling it away would be "service not found"
    // instead): Prefect's database refuses every connection, set and undone from the `postgres` db.
    const connectionLimit = (limit: number) =>
      psqlIn("postgres", `ALTER DATABASE server CONNECTION LIMIT ${limit};`);
    return {
      digest: async () => {
        const d = await digestInfrahubData(neo4j, postgres);
        return `${d.neo4j}/${d.postgres}`;
      },
      change: async (label) => {
        const l = label.replace(/'/g, "");
        await neo4j.cypher(`CREATE (:AcceptanceMarker {label: '${l}'})`);
        await postgres.psql(
          `CREATE TABLE IF NOT EXISTS acceptance_marker (label text); INSERT INTO acceptance_marker VALUES ('${l}');`,
        );
      },
      takeDatabaseDown: async () => {
        await connectionLimit(0);
      },
      bringDatabaseUp: async () => {
        await connectionLimit(-1);
      },
      // A real Infrahub's graph: emptying it under the running server is not a fresh install.
      makeFresh: () => undefined,
      neo4jStarts: async () =>
        Number(
          await kubectl([
            "get",
            "pod",
            "-n",
            NAMESPACE,
            "infrahub-database-0",
            "-o",
            'jsonpath={.status.containerStatuses[?(@.name=="neo4j")].restartCount}',
          ]),
        ),
    };
  }

  /**
   * An emptyDir: read with the image's own `node` in the sleeping pod (the image has no tar for
   * `kubectl cp`). A claim: a reader pod of the same image mounts it read-only and prints the archives.
   */
  readLocalArchives(job: string, containerPath: string): Promise<string[]> {
    return (async () => {
      const pod = await this.reader.pod(job);
      if (!pod) return [];
      const script = `const fs=require("fs");for(const n of fs.readdirSync(${JSON.stringify(containerPath)}))if(n.endsWith(".tar.gz"))process.stdout.write(n+":"+fs.readFileSync(${JSON.stringify(containerPath)}+"/"+n).toString("base64")+"\\n")`;
      const mount = (pod.spec.containers[0].volumeMounts ?? []).find(
        (m: { mountPath: string }) => m.mountPath === containerPath,
      );
      const volume = (pod.spec.volumes ?? []).find((v: { name: string }) => v.name === mount?.name);
      let out: string;
      if (volume?.persistentVolumeClaim) {
        const reader = `${job}-reader`.slice(0, 63);
        await kubectl(
          ["apply", "-f", "-"],
          JSON.stringify({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: reader, namespace: NAMESPACE },
            spec: {
              restartPolicy: "Never",
              securityContext: pod.spec.securityContext,
              containers: [
                {
                  name: "read",
                  image: pod.spec.containers[0].image,
                  imagePullPolicy: "Never",
                  command: ["/usr/local/bin/node", "-e", script],
                  securityContext: pod.spec.containers[0].securityContext,
                  volumeMounts: [{ name: "claim", mountPath: containerPath, readOnly: true }],
                },
              ],
              volumes: [
                {
                  name: "claim",
                  persistentVolumeClaim: {
                    claimName: volume.persistentVolumeClaim.claimName,
                    readOnly: true,
                  },
                },
              ],
            },
          }),
        );
        await kubectl([
          "wait",
          "-n",
          NAMESPACE,
          `pod/${reader}`,
          "--for=jsonpath={.status.phase}=Succeeded",
          "--timeout=5m",
        ]);
        out = await kubectl(["logs", "-n", NAMESPACE, reader]);
        await kubectl(["delete", "pod", "-n", NAMESPACE, reader, "--wait=false"]);
      } else {
        if (pod.status?.phase !== "Running") return [];
        out = await kubectl([
          "exec",
          "-n",
          NAMESPACE,
          pod.metadata.name,
          "--",
          "/usr/local/bin/node",
          "-e",
          script,
        ]);
      }
      const dir = join(this.work.path, job);
      await mkdir(dir, { recursive: true });
      const files: string[] = [];
      for (const line of out.split("\n").filter(Boolean)) {
        const [name, data] = line.split(":") as [string, string];
        const file = join(dir, name);
        await writeFile(file, Buffer.from(data, "base64"));
        files.push(file);
      }
      return files;
    })();
  }

  clusterWrites(): undefined {
    return undefined;
  }
  startRecording(): void {}

  /** The kind cluster's API server has no audit log configured by the workflow. */
  backupIdentityRequests(): undefined {
    return undefined;
  }

  oomKill(): undefined {
    return undefined;
  }

  podExit(): undefined {
    return undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#s3.destroy();
    await this.work[Symbol.asyncDispose]();
  }
}

/** A KubeClient-shaped reader over `kubectl get --raw` (the current context's credentials, whatever they are). */
function kubectlRawClient(): KubeClient {
  const get = async (path: string) => {
    try {
      return JSON.parse(await kubectl(["get", "--raw", path]));
    } catch (error) {
      if (/NotFound|not found/i.test(String((error as { stderr?: string }).stderr ?? error)))
        return undefined;
      throw error;
    }
  };
  return {
    get,
    json: async (_method: string, path: string) => (await get(path)) ?? {},
    text: async (_method: string, path: string) => await kubectl(["get", "--raw", path]),
  } as unknown as KubeClient;
}
