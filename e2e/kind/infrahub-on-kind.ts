// An Infrahub deployment on kind, from the images built here (test-images/): real pods run by the kubelet, in a
// namespace that enforces the `restricted` Pod Security Standard. Names, labels, containers and the
// credentials' Secrets are the official `infrahub` chart's (release `infrahub`, compat-reference §6), so the
// CLI's discovery finds them as it would there:
//   - Neo4j 5.26 Community: StatefulSet `infrahub-database`, container `neo4j`, uid 7474, NEO4J_AUTH from the
//     Secret `infrahub-auth`; the image's entrypoint execs the JVM under tini, so the JVM's exit ends the
//     container and the kubelet restarts it (what the freeze must never cause);
//   - PostgreSQL 15: StatefulSet `infrahub-postgresql`, container `postgresql`;
//   - the application services (server, task workers, Prefect server, cache, message queue) are TEST DOUBLES
//     (test-images/infrahub-test-double: idle containers, `infrahubctl task list` answering "none") with the
//     labels and environment the backup reads: Prefect's database URL on `prefect-server`.
// Plus MinIO in its own namespace, published on a NodePort that this machine reaches at the node's address.
import type { GraphQueries, SqlQueries } from "@infrahub-backup/testkit";
import type { KindCluster, KubeObject } from "./kind-cluster.js";

export const INFRAHUB_NAMESPACE = "infrahub";
export const MINIO_NAMESPACE = "minio";
export const LOCAL_IMAGES = {
  neo4j: "ihb-local/neo4j:5.26-community",
  postgres: "ihb-local/postgres:15",
  minio: "ihb-local/minio:local",
  testDouble: "ihb-local/infrahub-test-double:local",
} as const;

const RELEASE = "infrahub";
// Throwaway credentials of the test deployment, not secrets.
const NEO4J_PASSWORD = "kind-neo4j-password";
const PG = { user: "prefect", password: "kind-prefect-password", database: "prefect" };
export const MINIO_KEYS = { accessKeyId: "kind-minio-access", secretAccessKey: "kind-minio-secret-key" };
export const MINIO_NODE_PORT = 30900;

/** What `restricted` asks of every container. */
function restrictedContext(uid: number): KubeObject {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function env(values: Record<string, string>): KubeObject[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

function workload(options: {
  kind: "Deployment" | "StatefulSet";
  name: string;
  namespace: string;
  replicas: number;
  labels: Record<string, string>;
  container: KubeObject;
  volumes?: KubeObject[];
  uid: number;
}): KubeObject {
  const selector = { "app.kubernetes.io/instance": RELEASE, "ihb-kind/workload": options.name };
  return {
    apiVersion: "apps/v1",
    kind: options.kind,
    metadata: { name: options.name, namespace: options.namespace, labels: selector },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: selector },
      ...(options.kind === "StatefulSet" ? { serviceName: options.name } : {}),
      template: {
        metadata: { labels: { ...selector, ...options.labels } },
        spec: {
          securityContext: { fsGroup: options.uid, seccompProfile: { type: "RuntimeDefault" } },
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              imagePullPolicy: "Never",
              securityContext: restrictedContext(options.uid),
              ...options.container,
            },
          ],
          volumes: options.volumes ?? [],
        },
      },
    },
  };
}

function appStandIn(name: string, role: string, container: string, replicas = 1): KubeObject {
  return workload({
    kind: "Deployment",
    name,
    namespace: INFRAHUB_NAMESPACE,
    replicas,
    labels: { "infrahub/service": role },
    uid: 1000,
    container: {
      name: container,
      image: LOCAL_IMAGES.testDouble,
      ...(role === "task-manager"
        ? {
            env: [
              {
                name: "PREFECT_SERVER_DATABASE_CONNECTION_URL",
                valueFrom: {
                  secretKeyRef: { name: "prefect-server-postgresql-connection", key: "connection-string" },
                },
              },
            ],
          }
        : {}),
    },
  });
}

/** Every object of the Infrahub deployment, the namespace first. */
export function infrahubObjects(): KubeObject[] {
  const ns = INFRAHUB_NAMESPACE;
  return [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: ns,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${RELEASE}-auth`, namespace: ns },
      stringData: { NEO4J_AUTH: `neo4j/${NEO4J_PASSWORD}` },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${RELEASE}-postgresql`, namespace: ns },
      stringData: { password: PG.password },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "prefect-server-postgresql-connection", namespace: ns },
      stringData: {
        "connection-string": `postgresql+asyncpg://${PG.user}:${PG.password}@${RELEASE}-postgresql:5432/${PG.database}`,
      },
    },
    workload({
      kind: "StatefulSet",
      name: `${RELEASE}-database`,
      namespace: ns,
      replicas: 1,
      labels: { "infrahub/service": "database", "helm.neo4j.com/neo4j.name": RELEASE },
      uid: 7474,
      container: {
        name: "neo4j",
        image: LOCAL_IMAGES.neo4j,
        env: [
          { name: "NEO4J_AUTH", valueFrom: { secretKeyRef: { name: `${RELEASE}-auth`, key: "NEO4J_AUTH" } } },
        ],
        ports: [
          { name: "http", containerPort: 7474 },
          { name: "bolt", containerPort: 7687 },
        ],
        readinessProbe: { tcpSocket: { port: 7687 }, periodSeconds: 2, failureThreshold: 1 },
        // As the Neo4j chart's. A frozen Neo4j REFUSES Bolt connections (its connector closed during the clean
        // shutdown that precedes the freeze; measured 2026-12-07 on the host: ECONNREFUSED while SIGSTOPped), so
        // this probe fails for the whole frozen window: 40 failures (195 s) then the pod's grace period (30 s
        // here, 3600 s in the chart: the frozen JVM holds the SIGTERM) and the container is killed.
        // The tier's dumps last seconds; the test checks that nothing restarted the container during them.
        livenessProbe: {
          tcpSocket: { port: 7687 },
          initialDelaySeconds: 30,
          periodSeconds: 5,
          failureThreshold: 40,
        },
        volumeMounts: [{ name: "data", mountPath: "/data" }],
      },
      volumes: [{ name: "data", emptyDir: {} }],
    }),
    workload({
      kind: "StatefulSet",
      name: `${RELEASE}-postgresql`,
      namespace: ns,
      replicas: 1,
      labels: { "infrahub/service": "task-manager-db" },
      uid: 999,
      container: {
        name: "postgresql",
        image: LOCAL_IMAGES.postgres,
        args: ["postgres"],
        env: [
          ...env({
            POSTGRES_USER: PG.user,
            POSTGRES_DB: PG.database,
            PGDATA: "/var/lib/postgresql/data/pgdata",
          }),
          {
            name: "POSTGRES_PASSWORD",
            valueFrom: { secretKeyRef: { name: `${RELEASE}-postgresql`, key: "password" } },
          },
        ],
        ports: [{ name: "tcp-postgresql", containerPort: 5432 }],
        readinessProbe: { exec: { command: ["pg_isready", "-h", "127.0.0.1"] }, periodSeconds: 2 },
        volumeMounts: [
          { name: "data", mountPath: "/var/lib/postgresql/data" },
          { name: "run", mountPath: "/var/run/postgresql" },
        ],
      },
      volumes: [
        { name: "data", emptyDir: {} },
        { name: "run", emptyDir: {} },
      ],
    }),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `${RELEASE}-postgresql`, namespace: ns },
      spec: {
        selector: { "ihb-kind/workload": `${RELEASE}-postgresql` },
        ports: [{ name: "tcp-postgresql", port: 5432 }],
      },
    },
    appStandIn(`${RELEASE}-infrahub-server`, "server", "infrahub-server"),
    appStandIn(`${RELEASE}-infrahub-task-worker`, "task-worker", "infrahub-task-worker", 2),
    appStandIn("prefect-server", "task-manager", "prefect-server"),
    appStandIn(`${RELEASE}-cache-master`, "cache", "redis"),
    appStandIn(`${RELEASE}-message-queue`, "message-queue", "rabbitmq"),
  ];
}

/** MinIO in its own namespace (not restricted: it is storage, not part of Infrahub), on a NodePort. */
export function minioObjects(): KubeObject[] {
  const ns = MINIO_NAMESPACE;
  const labels = { "ihb-kind/workload": "minio" };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "minio-root", namespace: ns },
      stringData: {
        MINIO_ROOT_USER: MINIO_KEYS.accessKeyId,
        MINIO_ROOT_PASSWORD: MINIO_KEYS.secretAccessKey,
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "minio", namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: "minio",
                image: LOCAL_IMAGES.minio,
                imagePullPolicy: "Never",
                args: ["server", "/data", "--address", ":9000"],
                envFrom: [{ secretRef: { name: "minio-root" } }],
                env: env({ MINIO_BROWSER: "off" }),
                readinessProbe: { httpGet: { path: "/minio/health/ready", port: 9000 }, periodSeconds: 2 },
                volumeMounts: [{ name: "data", mountPath: "/data" }],
              },
            ],
            volumes: [{ name: "data", emptyDir: {} }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "minio", namespace: ns },
      spec: { type: "NodePort", selector: labels, ports: [{ port: 9000, nodePort: MINIO_NODE_PORT }] },
    },
  ];
}

/** The workloads whose rollout the deployment waits for, `kind/name`. */
export function infrahubWorkloads(): string[] {
  return infrahubObjects()
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
    .map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`);
}

/** Runs `argv` in a container of an Infrahub pod (stdin from `input`); rejects on a non-zero exit. */
export async function execIn(
  cluster: KindCluster,
  target: { pod: string; container: string },
  argv: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  return await cluster.kubectl(
    ["exec", "-i", "-n", INFRAHUB_NAMESPACE, target.pod, "-c", target.container, "--", ...argv],
    options,
  );
}

export const NEO4J_CONTAINER = { pod: `${RELEASE}-database-0`, container: "neo4j" } as const;
const POSTGRES_CONTAINER = { pod: `${RELEASE}-postgresql-0`, container: "postgresql" } as const;

/** cypher-shell inside the Neo4j container; the password comes from the container's own NEO4J_AUTH. */
export function graphQueries(cluster: KindCluster): GraphQueries {
  return {
    cypher: async (query) =>
      await execIn(
        cluster,
        NEO4J_CONTAINER,
        [
          "sh",
          "-c",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion in the container
          'NEO4J_PASSWORD="${NEO4J_AUTH#*/}" exec cypher-shell -u neo4j --format plain',
        ],
        { input: query },
      ),
  };
}

/** psql inside the PostgreSQL container, on the Prefect database, over its socket (trust for local users). */
export function sqlQueries(cluster: KindCluster): SqlQueries {
  return {
    psql: async (sql) =>
      await execIn(
        cluster,
        POSTGRES_CONTAINER,
        [
          "psql",
          "-X",
          "-q",
          "-A",
          "-t",
          "-U",
          PG.user,
          "-d",
          PG.database,
          "-v",
          "ON_ERROR_STOP=1",
          "-f",
          "-",
        ],
        { input: sql },
      ),
  };
}

/** Deploys MinIO and Infrahub and waits until every workload rolled out. */
export async function deployInfrahubOnKind(cluster: KindCluster): Promise<void> {
  await cluster.apply(minioObjects());
  await cluster.apply(infrahubObjects());
  for (const w of infrahubWorkloads())
    await cluster.kubectl(["rollout", "status", "-n", INFRAHUB_NAMESPACE, w, "--timeout=300s"], {
      timeoutMs: 320_000,
    });
  await cluster.kubectl(["rollout", "status", "-n", MINIO_NAMESPACE, "deployment/minio", "--timeout=300s"], {
    timeoutMs: 320_000,
  });
}
