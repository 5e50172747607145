import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { InfrahubLocalStack } from "../infrahub-stack.js";
import type { KubeObject } from "../job-pod-runner/kube-client.js";
import { type ContainerSandbox, createContainerSandbox, hostCommand } from "../sandbox/container-sandbox.js";
import { createNeo4jSandbox, createPostgresSandbox } from "../sandbox/service-sandboxes.js";
import type { SandboxBinding } from "./exec-bindings.js";
import type { LocalCluster } from "./local-cluster.js";

/** The logical services of an Infrahub deployment, as the `infrahub/service` label names them. */
export type InfrahubRole =
  | "server"
  | "task-worker"
  | "task-manager"
  | "database"
  | "task-manager-db"
  | "cache"
  | "message-queue";

export interface InfrahubFixtureOptions {
  /** Default `infrahub`. One Infrahub release per namespace (the chart's fixed names). */
  namespace?: string;
  /** Neo4j `/data`: the chart default `emptyDir`, or `pvc` (volumeClaimTemplate `data`, bound to a local PV). */
  neo4jDataVolume?: "emptyDir" | "pvc";
  /** `/opt/infrahub/storage` of the server: the chart's PVC `infrahub-infrahub-server-storage-data` (default) or an emptyDir. */
  serverStorage?: "pvc" | "emptyDir";
  /** Password of Neo4j inside the database container: `file` (NEO4J_AUTH_PATH, default) or `env` (NEO4J_AUTH, older charts). */
  neo4jAuth?: "file" | "env";
  /** Prefect URL variable on prefect-server: chart ≥ 4.28.0 `PREFECT_SERVER_DATABASE_CONNECTION_URL` (default) or the older `PREFECT_API_DATABASE_CONNECTION_URL`. */
  prefectUrlVariable?: "PREFECT_SERVER_DATABASE_CONNECTION_URL" | "PREFECT_API_DATABASE_CONNECTION_URL";
  /** What `python -c "import infrahub; print(infrahub.__version__)"` prints in the server container. Default `1.9.3`. */
  infrahubVersion?: string;
  /** Replicas of the task-worker Deployment. Default 2 (chart default). */
  taskWorkerReplicas?: number;
  /**
   * Also create the infrahub-backup chart's ServiceAccount `infrahub-infrahub-backup` with its namespaced Role
   * (compat-reference §6.5: `pods/exec` verb `create` only). `{ podExecVerbs }` overrides the pods/exec verbs
   * (a WebSocket exec against kube-apiserver ≥ 1.35 is also authorized as `get`). Default false.
   */
  backupRbac?: boolean | { podExecVerbs: string[] };
  /**
   * Neo4j's liveness probe and its pod's termination grace period. Default the neo4j chart's: tcpSocket 7687
   * every 5 s, 40 failures (timeout 10 s), grace 3600 s. Nothing runs probes here (kwok): they are read only.
   */
  neo4jLiveness?: { probe: Record<string, unknown>; terminationGracePeriodSeconds: number };
  /** Wait for everything to be Ready (default true). */
  wait?: boolean;
}

/** Dispose: deletes the namespace and the PVs (not waiting) and removes the sandboxes. */
export interface InfrahubFixture extends AsyncDisposable {
  readonly namespace: string;
  /** Container sandboxes by role (the task workers share one; so do all replicas of a workload). */
  readonly sandboxes: Readonly<Record<InfrahubRole, ContainerSandbox>>;
  /** Every object applied, in order (Secrets included), for tests that want to render variants. */
  readonly objects: readonly KubeObject[];
  /** Name of the backup ServiceAccount when `backupRbac` was set. */
  readonly backupServiceAccount?: string;
  /**
   * Unbinds the sandboxes, deletes the namespace and the PVs, removes the sandboxes. `wait: true` waits until
   * the namespace is gone (to deploy the same namespace again; ≈ 10 s: the namespace controller starts 5 s after
   * the delete and re-checks remaining content later); dispose does not wait.
   */
  remove(options?: { wait?: boolean }): Promise<void>;
  /**
   * What `infrahubctl task list --json …` prints in the server and task-worker containers (a TEST DOUBLE of
   * the image's infrahubctl): the running/pending tasks the backup's gate waits for. Initially `[]`.
   */
  setRunningTasks(tasks: readonly unknown[]): Promise<void>;
}

const RELEASE = "infrahub";
const SELECTOR = { "app.kubernetes.io/name": "infrahub", "app.kubernetes.io/instance": RELEASE };

function env(values: Record<string, string>): KubeObject[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

function secretEnv(name: string, secret: string, key: string): KubeObject {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

function service(
  name: string,
  ns: string,
  selector: Record<string, string>,
  ports: [string, number][],
  headless = false,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: {
      ...(headless ? { clusterIP: "None" } : {}),
      selector,
      ports: ports.map(([portName, port]) => ({ name: portName, port, targetPort: port })),
    },
  };
}

interface WorkloadSpec {
  kind: "Deployment" | "StatefulSet";
  name: string;
  ns: string;
  replicas: number;
  selector: Record<string, string>;
  podLabels: Record<string, string>;
  container: KubeObject;
  podSpec?: KubeObject;
  serviceName?: string;
  volumeClaimTemplates?: KubeObject[];
}

function workload(w: WorkloadSpec): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: w.kind,
    metadata: {
      name: w.name,
      namespace: w.ns,
      labels: { ...w.selector, "app.kubernetes.io/managed-by": "Helm" },
    },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: w.selector },
      ...(w.kind === "StatefulSet"
        ? { serviceName: w.serviceName ?? w.name, podManagementPolicy: "Parallel" }
        : {}),
      ...(w.volumeClaimTemplates ? { volumeClaimTemplates: w.volumeClaimTemplates } : {}),
      template: {
        metadata: { labels: { ...w.selector, ...w.podLabels } },
        spec: { containers: [w.container], ...(w.podSpec ?? {}) },
      },
    },
  };
}

function localPv(
  name: string,
  path: string,
  claim: { namespace: string; name: string },
  size = "1Gi",
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name, labels: { "testkit.infrahub-backup/fixture": "infrahub" } },
    spec: {
      capacity: { storage: size },
      accessModes: ["ReadWriteOnce"],
      // Retain: nothing here may delete a host directory (the Neo4j PV is the stack's own data dir).
      persistentVolumeReclaimPolicy: "Retain",
      // Pre-bound to its claim, so the PV controller binds exactly this pair.
      claimRef: { namespace: claim.namespace, name: claim.name },
      hostPath: { path, type: "DirectoryOrCreate" },
    },
  };
}

/**
 * TEST DOUBLE (the Infrahub application image, which we do not own): `python`/`python3` in the server
 * container are the host's python3 with a stand-in `infrahub` package that only carries `__version__`,
 * so the version probe (`python -c "import infrahub; print(infrahub.__version__)"`) answers.
 */
async function infrahubPython(sandbox: ContainerSandbox, version: string): Promise<void> {
  const python = hostCommand("python3");
  if (!python) return;
  const site = join(sandbox.dir, "site-packages");
  await mkdir(join(site, "infrahub"), { recursive: true });
  await writeFile(join(site, "infrahub", "__init__.py"), `__version__ = ${JSON.stringify(version)}\n`);
  const wrapper = join(sandbox.dir, "python-wrapper");
  await writeFile(wrapper, `#!/bin/sh\nPYTHONPATH='${site}' exec '${python}' "$@"\n`, { mode: 0o755 });
  await sandbox.addCommand("python", wrapper);
  await sandbox.addCommand("python3", wrapper);
}

/**
 * TEST DOUBLE (the Infrahub SDK CLI in the application image, which we do not own): `infrahubctl task list
 * --json [--state S]…` prints the JSON array kept in `tasksFile` (set by `fixture.setRunningTasks`); any other
 * command is Typer's "No such command" (exit 2), as an older infrahubctl without `task` answers.
 */
async function infrahubctl(sandbox: ContainerSandbox, tasksFile: string): Promise<void> {
  await writeFile(tasksFile, "[]\n");
  const script = join(sandbox.dir, "infrahubctl");
  await writeFile(
    script,
    `#!/bin/sh
if [ "$1" = task ] && [ "$2" = list ]; then
  shift 2
  json=0
  while [ $# -gt 0 ]; do
    case "$1" in
    --json) json=1 ;;
    --state) shift ;;
    *) echo "Error: No such option: $1" >&2; exit 2 ;;
    esac
    shift
  done
  [ "$json" = 1 ] || { echo "infrahubctl (test double): only --json output is modelled" >&2; exit 2; }
  exec cat '${tasksFile}'
fi
echo "Usage: infrahubctl [OPTIONS] COMMAND [ARGS]..." >&2
echo "Error: No such command '$1'." >&2
exit 2
`,
    { mode: 0o755 },
  );
  await sandbox.addCommand("infrahubctl", script);
}

/**
 * Deploys the workloads of the official `infrahub` chart (release `infrahub`, default values; compat-reference
 * §6) into `namespace` of a local cluster, each container bound to a sandbox on the given local stack:
 * `kubectl exec infrahub-database-0 -c neo4j -- cypher-shell …` talks to the stack's real Neo4j,
 * `… infrahub-postgresql-0 -- pg_dump …` to its real PostgreSQL. Pods are kwok's: they run no process.
 */
export async function deployInfrahubFixture(
  cluster: LocalCluster,
  stack: InfrahubLocalStack,
  options: InfrahubFixtureOptions = {},
): Promise<InfrahubFixture> {
  const ns = options.namespace ?? "infrahub";
  const neo4j = stack.neo4j;
  const postgres = stack.postgres;
  const serverAddress = `http://${RELEASE}-infrahub-server:8000`;
  const prefectUrlVariable = options.prefectUrlVariable ?? "PREFECT_SERVER_DATABASE_CONNECTION_URL";
  const prefectUrl = postgres.connectionUrl();
  const apiToken = "06438eb2-8019-4776-878c-0941b1f1d1ec";
  const rabbitPassword = "infrahub";
  const k8sEnv = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };
  // _env.tpl of the infrahub chart (server and workers).
  const infrahubEnv: Record<string, string> = {
    INFRAHUB_ADDRESS: serverAddress,
    INFRAHUB_INTERNAL_ADDRESS: serverAddress,
    INFRAHUB_DB_ADDRESS: `${RELEASE}-database`,
    INFRAHUB_DB_PORT: "7687",
    INFRAHUB_BROKER_ADDRESS: `${RELEASE}-message-queue`,
    INFRAHUB_CACHE_ADDRESS: `${RELEASE}-cache-master`,
    INFRAHUB_WORKFLOW_ADDRESS: "prefect-server",
    INFRAHUB_WORKFLOW_PORT: "4200",
    PREFECT_API_URL: "http://prefect-server:4200/api",
  };
  // The stack's Neo4j password is not the chart default (admin), so it reaches Infrahub through
  // envFromExistingSecrets, as the chart documents for a changed password.
  const dbCredentials = {
    INFRAHUB_DB_USERNAME: neo4j.user,
    INFRAHUB_DB_PASSWORD: neo4j.password,
    INFRAHUB_DB_DATABASE: neo4j.database,
  };
  const sandboxes: Partial<Record<InfrahubRole, ContainerSandbox>> = {};
  const objects: KubeObject[] = [];
  const pvNames: string[] = [];
  try {
    sandboxes.database = await createNeo4jSandbox(neo4j, {
      flavour: "helm",
      auth: options.neo4jAuth ?? "file",
      env: k8sEnv,
    });
    sandboxes["task-manager-db"] = await createPostgresSandbox(postgres, { flavour: "helm", env: k8sEnv });
    sandboxes.server = await createContainerSandbox({
      name: "infrahub-server",
      env: {
        ...infrahubEnv,
        ...dbCredentials,
        INFRAHUB_PRODUCTION: "false",
        INFRAHUB_LOG_LEVEL: "INFO",
        HOME: "/root",
        ...k8sEnv,
      },
    });
    await infrahubPython(sandboxes.server, options.infrahubVersion ?? "1.9.3");
    const tasksFile = join(sandboxes.server.dir, "running-tasks.json");
    await infrahubctl(sandboxes.server, tasksFile);
    sandboxes["task-worker"] = await createContainerSandbox({
      name: "infrahub-task-worker",
      env: {
        ...infrahubEnv,
        ...dbCredentials,
        INFRAHUB_API_TOKEN: apiToken,
        INFRAHUB_WORKFLOW_WORKER_TYPE: "infrahubasync",
        HOME: "/root",
        ...k8sEnv,
      },
    });
    await infrahubctl(sandboxes["task-worker"], tasksFile);
    sandboxes["task-manager"] = await createContainerSandbox({
      name: "prefect-server",
      env: {
        [prefectUrlVariable]: prefectUrl,
        PREFECT_HOME: "/opt/prefect",
        PREFECT_SERVER_API_HOST: "0.0.0.0",
        HOME: "/root",
        ...k8sEnv,
      },
    });
    sandboxes.cache = await createContainerSandbox({
      name: "infrahub-cache-master-0.redis",
      env: {
        ALLOW_EMPTY_PASSWORD: "yes",
        REDIS_REPLICATION_MODE: "master",
        REDIS_PORT: "6379",
        HOME: "/",
        ...k8sEnv,
      },
      user: { name: null, uid: 1001 },
    });
    sandboxes["message-queue"] = await createContainerSandbox({
      name: "infrahub-message-queue-0.rabbitmq",
      env: {
        RABBITMQ_USERNAME: "infrahub",
        RABBITMQ_PASSWORD: rabbitPassword,
        RABBITMQ_NODE_PORT_NUMBER: "5672",
        HOME: "/opt/bitnami/rabbitmq/.rabbitmq",
        ...k8sEnv,
      },
      user: { name: null, uid: 1001 },
    });
    const sb = sandboxes as Record<InfrahubRole, ContainerSandbox>;

    await cluster.createNamespace(ns);

    // --- Secrets as the chart and its subcharts create them ---
    const secret = (name: string, data: Record<string, string>): KubeObject => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: ns },
      type: "Opaque",
      stringData: data,
    });
    objects.push(
      secret(`${RELEASE}-auth`, { NEO4J_AUTH: `${neo4j.user}/${neo4j.password}` }),
      secret("prefect-server-postgresql-connection", { "connection-string": prefectUrl }),
      secret(`${RELEASE}-postgresql`, { password: postgres.app.password }),
      secret(`${RELEASE}-message-queue`, {
        "rabbitmq-password": rabbitPassword,
        "rabbitmq-erlang-cookie": "infrahub-cookie",
      }),
      secret(`${RELEASE}-db-credentials`, dbCredentials),
    );

    // --- Infrahub server and task workers (infrahub chart) ---
    const storageVolume =
      (options.serverStorage ?? "pvc") === "pvc"
        ? {
            name: "storage-data",
            persistentVolumeClaim: { claimName: `${RELEASE}-infrahub-server-storage-data` },
          }
        : { name: "storage-data", emptyDir: {} };
    if ((options.serverStorage ?? "pvc") === "pvc") {
      const claim = `${RELEASE}-infrahub-server-storage-data`;
      const pv = `${ns}-${claim}`;
      pvNames.push(pv);
      objects.push(localPv(pv, join(sb.server.dir, "opt-infrahub-storage"), { namespace: ns, name: claim }), {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: claim, namespace: ns, labels: SELECTOR },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } },
          storageClassName: "",
        },
      });
    }
    objects.push(
      workload({
        kind: "Deployment",
        name: `${RELEASE}-infrahub-server`,
        ns,
        replicas: 1,
        selector: { ...SELECTOR, service: "infrahub-server" },
        podLabels: { "infrahub/service": "server" },
        container: {
          name: "infrahub-server",
          image: "registry.opsmill.io/opsmill/infrahub:1.9.3",
          args: ["gunicorn", "--config", "backend/infrahub/serve/gunicorn_config.py", "infrahub.server:app"],
          env: env({ ...infrahubEnv, INFRAHUB_PRODUCTION: "false", INFRAHUB_LOG_LEVEL: "INFO" }),
          envFrom: [{ secretRef: { name: `${RELEASE}-db-credentials` } }],
          ports: [{ name: "interface", containerPort: 8000 }],
          volumeMounts: [{ name: "storage-data", mountPath: "/opt/infrahub/storage" }],
        },
        podSpec: { volumes: [storageVolume] },
      }),
      service(`${RELEASE}-infrahub-server`, ns, { ...SELECTOR, service: "infrahub-server" }, [
        ["interface", 8000],
      ]),
      workload({
        kind: "Deployment",
        name: `${RELEASE}-infrahub-task-worker`,
        ns,
        replicas: options.taskWorkerReplicas ?? 2,
        selector: { ...SELECTOR, service: "infrahub-task-worker" },
        podLabels: { "infrahub/service": "task-worker" },
        container: {
          name: "infrahub-task-worker",
          image: "registry.opsmill.io/opsmill/infrahub:1.9.3",
          args: ["prefect", "worker", "start", "--type", "infrahubasync", "--pool", "infrahub-worker"],
          env: env({
            ...infrahubEnv,
            INFRAHUB_API_TOKEN: apiToken,
            INFRAHUB_WORKFLOW_WORKER_TYPE: "infrahubasync",
          }),
          envFrom: [{ secretRef: { name: `${RELEASE}-db-credentials` } }],
        },
      }),
    );

    // --- Prefect server (prefect-helm, fullnameOverride prefect-server) ---
    const prefectSelector = {
      "app.kubernetes.io/name": "prefect-server",
      "app.kubernetes.io/instance": RELEASE,
      "app.kubernetes.io/component": "server",
    };
    objects.push(
      workload({
        kind: "Deployment",
        name: "prefect-server",
        ns,
        replicas: 1,
        selector: prefectSelector,
        podLabels: { "prefect-version": "1.9.3", "infrahub/service": "task-manager" },
        container: {
          name: "prefect-server",
          image: "registry.opsmill.io/opsmill/infrahub:1.9.3",
          command: ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"],
          args: ["prefect", "server", "start", "--port", "4200", "--host", "0.0.0.0"],
          env: [
            ...env({ PREFECT_HOME: "/opt/prefect", PREFECT_SERVER_API_HOST: "0.0.0.0" }),
            secretEnv(prefectUrlVariable, "prefect-server-postgresql-connection", "connection-string"),
          ],
          ports: [{ name: "tcp", containerPort: 4200 }],
        },
      }),
      service("prefect-server", ns, prefectSelector, [["server-svc-port", 4200]]),
    );

    // --- Neo4j (neo4j/helm-charts, nameOverride database, neo4j.name infrahub) ---
    const neo4jSelector = { app: RELEASE, "helm.neo4j.com/instance": `${RELEASE}-database` };
    const neo4jPvc = options.neo4jDataVolume === "pvc";
    if (neo4jPvc) {
      const claim = `data-${RELEASE}-database-0`;
      const pv = `${ns}-${claim}`;
      pvNames.push(pv);
      objects.push(localPv(pv, neo4j.dataDir, { namespace: ns, name: claim }, "10Gi"));
    }
    const neo4jLiveness = options.neo4jLiveness ?? {
      probe: { tcpSocket: { port: 7687 }, failureThreshold: 40, timeoutSeconds: 10, periodSeconds: 5 },
      terminationGracePeriodSeconds: 3600,
    };
    const neo4jAuthEnv =
      (options.neo4jAuth ?? "file") === "file"
        ? env({ NEO4J_AUTH_PATH: "/config/neo4j-auth/NEO4J_AUTH" })
        : [secretEnv("NEO4J_AUTH", `${RELEASE}-auth`, "NEO4J_AUTH")];
    objects.push(
      workload({
        kind: "StatefulSet",
        name: `${RELEASE}-database`,
        ns,
        replicas: 1,
        selector: neo4jSelector,
        podLabels: {
          "helm.neo4j.com/neo4j.name": RELEASE,
          "helm.neo4j.com/clustering": "false",
          "helm.neo4j.com/pod_category": "neo4j-instance",
          "helm.neo4j.com/neo4j.loadbalancer": "include",
          "infrahub/service": "database",
        },
        container: {
          name: "neo4j",
          image: "neo4j:5.26.0-community",
          env: [
            ...env({
              NEO4J_EDITION: "COMMUNITY_K8S",
              NEO4J_CONF: "/config/",
              K8S_NEO4J_NAME: RELEASE,
              HELM_NEO4J_VERSION: "5.26.0",
            }),
            ...neo4jAuthEnv,
          ],
          ports: [
            { name: "http", containerPort: 7474 },
            { name: "bolt", containerPort: 7687 },
          ],
          securityContext: { runAsUser: 7474, runAsGroup: 7474, runAsNonRoot: true },
          livenessProbe: neo4jLiveness.probe,
          volumeMounts: [
            { name: "data", mountPath: "/data" },
            { name: "neo4j-auth", mountPath: "/config/neo4j-auth" },
          ],
        },
        podSpec: {
          terminationGracePeriodSeconds: neo4jLiveness.terminationGracePeriodSeconds,
          securityContext: { fsGroup: 7474, runAsUser: 7474, runAsGroup: 7474 },
          volumes: [
            ...(neo4jPvc ? [] : [{ name: "data", emptyDir: {} }]),
            { name: "neo4j-auth", secret: { secretName: `${RELEASE}-auth` } },
          ],
        },
        ...(neo4jPvc
          ? {
              volumeClaimTemplates: [
                {
                  metadata: { name: "data" },
                  spec: {
                    accessModes: ["ReadWriteOnce"],
                    resources: { requests: { storage: "10Gi" } },
                    storageClassName: "",
                  },
                },
              ],
            }
          : {}),
      }),
      service(`${RELEASE}-database`, ns, { ...neo4jSelector }, [
        ["http", 7474],
        ["tcp-bolt", 7687],
      ]),
      service(
        `${RELEASE}-database-admin`,
        ns,
        { ...neo4jSelector },
        [
          ["tcp-bolt", 7687],
          ["tcp-http", 7474],
        ],
        true,
      ),
    );

    // --- PostgreSQL (bitnami, sub-subchart of prefect-server), persistence off ---
    const pgSelector = {
      "app.kubernetes.io/name": "postgresql",
      "app.kubernetes.io/instance": RELEASE,
      "app.kubernetes.io/component": "primary",
    };
    objects.push(
      workload({
        kind: "StatefulSet",
        name: `${RELEASE}-postgresql`,
        ns,
        replicas: 1,
        selector: pgSelector,
        serviceName: `${RELEASE}-postgresql-hl`,
        podLabels: { "infrahub/service": "task-manager-db" },
        container: {
          name: "postgresql",
          image: "docker.io/bitnamilegacy/postgresql:16.4.0-debian-12-r2",
          env: [
            ...env({
              BITNAMI_DEBUG: "false",
              POSTGRESQL_PORT_NUMBER: "5432",
              POSTGRESQL_VOLUME_DIR: "/bitnami/postgresql",
              PGDATA: "/bitnami/postgresql/data",
              POSTGRES_USER: postgres.app.user,
            }),
            secretEnv("POSTGRES_PASSWORD", `${RELEASE}-postgresql`, "password"),
            ...env({
              POSTGRES_DATABASE: postgres.app.database,
              POSTGRESQL_ENABLE_LDAP: "no",
              POSTGRESQL_ENABLE_TLS: "no",
            }),
          ],
          ports: [{ name: "tcp-postgresql", containerPort: 5432 }],
          securityContext: { runAsUser: 1001, runAsGroup: 1001, runAsNonRoot: true },
          volumeMounts: [{ name: "data", mountPath: "/bitnami/postgresql" }],
        },
        podSpec: { securityContext: { fsGroup: 1001 }, volumes: [{ name: "data", emptyDir: {} }] },
      }),
      service(`${RELEASE}-postgresql`, ns, pgSelector, [["tcp-postgresql", 5432]]),
      service(`${RELEASE}-postgresql-hl`, ns, pgSelector, [["tcp-postgresql", 5432]], true),
    );

    // --- Redis (bitnami, nameOverride cache) and RabbitMQ (bitnami, nameOverride message-queue) ---
    const cacheSelector = {
      "app.kubernetes.io/name": "cache",
      "app.kubernetes.io/instance": RELEASE,
      "app.kubernetes.io/component": "master",
    };
    const mqSelector = { "app.kubernetes.io/name": "message-queue", "app.kubernetes.io/instance": RELEASE };
    objects.push(
      workload({
        kind: "StatefulSet",
        name: `${RELEASE}-cache-master`,
        ns,
        replicas: 1,
        selector: cacheSelector,
        serviceName: `${RELEASE}-cache-headless`,
        podLabels: { "infrahub/service": "cache" },
        container: {
          name: "redis",
          image: "docker.io/bitnamilegacy/redis:7.2.5-debian-12-r0",
          env: env({ ALLOW_EMPTY_PASSWORD: "yes", REDIS_REPLICATION_MODE: "master", REDIS_PORT: "6379" }),
          securityContext: { runAsUser: 1001, runAsNonRoot: true },
          volumeMounts: [{ name: "redis-data", mountPath: "/data" }],
        },
        podSpec: { volumes: [{ name: "redis-data", emptyDir: {} }] },
      }),
      service(`${RELEASE}-cache-master`, ns, cacheSelector, [["tcp-redis", 6379]]),
      service(`${RELEASE}-cache-headless`, ns, cacheSelector, [["tcp-redis", 6379]], true),
      workload({
        kind: "StatefulSet",
        name: `${RELEASE}-message-queue`,
        ns,
        replicas: 1,
        selector: mqSelector,
        serviceName: `${RELEASE}-message-queue-headless`,
        podLabels: { "infrahub/service": "message-queue" },
        container: {
          name: "rabbitmq",
          image: "docker.io/bitnamilegacy/rabbitmq:3.13.4-debian-12-r0",
          env: [
            ...env({ RABBITMQ_USERNAME: "infrahub", RABBITMQ_NODE_PORT_NUMBER: "5672" }),
            secretEnv("RABBITMQ_PASSWORD", `${RELEASE}-message-queue`, "rabbitmq-password"),
          ],
          securityContext: { runAsUser: 1001, runAsNonRoot: true },
          volumeMounts: [{ name: "data", mountPath: "/bitnami/rabbitmq/mnesia" }],
        },
        podSpec: { volumes: [{ name: "data", emptyDir: {} }] },
      }),
      service(`${RELEASE}-message-queue`, ns, mqSelector, [
        ["amqp", 5672],
        ["http-stats", 15672],
      ]),
      service(`${RELEASE}-message-queue-headless`, ns, mqSelector, [["amqp", 5672]], true),
    );

    let backupServiceAccount: string | undefined;
    if (options.backupRbac) {
      backupServiceAccount = `${RELEASE}-infrahub-backup`;
      objects.push(
        ...backupRbacObjects(ns, backupServiceAccount, options.backupRbac === true ? {} : options.backupRbac),
      );
    }

    // Bind before the pods exist, so each pod's exec is in place when it turns Ready.
    const bindings: [Record<string, string>, string, ContainerSandbox][] = [
      [{ ...SELECTOR, service: "infrahub-server" }, "infrahub-server", sb.server],
      [{ ...SELECTOR, service: "infrahub-task-worker" }, "infrahub-task-worker", sb["task-worker"]],
      [prefectSelector, "prefect-server", sb["task-manager"]],
      [neo4jSelector, "neo4j", sb.database],
      [pgSelector, "postgresql", sb["task-manager-db"]],
      [cacheSelector, "redis", sb.cache],
      [mqSelector, "rabbitmq", sb["message-queue"]],
    ];
    const bound: SandboxBinding[] = [];
    for (const [selector, container, sandbox] of bindings) {
      const binding = { namespace: ns, selector, containers: { [container]: sandbox } };
      await cluster.bindSandboxes(binding);
      bound.push(binding);
    }
    await cluster.apply(objects);
    if (options.wait ?? true) await cluster.waitForReady(ns);

    let removed = false;
    const remove = async (removeOptions: { wait?: boolean } = {}) => {
      if (removed) return;
      removed = true;
      for (const binding of bound) cluster.unbindSandboxes(binding);
      const wait = `--wait=${removeOptions.wait ? "true" : "false"}`;
      await cluster.kubectl(["delete", "namespace", ns, wait, "--timeout=120s"], { allowFailure: true });
      for (const pv of pvNames) await cluster.kubectl(["delete", "pv", pv, wait], { allowFailure: true });
      for (const sandbox of Object.values(sb)) await sandbox[Symbol.asyncDispose]();
    };
    return {
      namespace: ns,
      sandboxes: sb,
      objects,
      ...(backupServiceAccount ? { backupServiceAccount } : {}),
      remove,
      async setRunningTasks(tasks: readonly unknown[]) {
        await writeFile(tasksFile, `${JSON.stringify(tasks)}\n`);
      },
      [Symbol.asyncDispose]: () => remove(),
    };
  } catch (error) {
    for (const sandbox of Object.values(sandboxes)) await sandbox[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * The infrahub-backup chart's ServiceAccount with its namespaced Role and RoleBinding (compat-reference §6.5):
 * pods get/list, pods/exec create, pods/log get, deployments/statefulsets get/list, their scale get/patch,
 * and the operation Lease.
 */
export function backupRbacObjects(
  namespace: string,
  name: string,
  options: { podExecVerbs?: string[] } = {},
): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace },
      rules: [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
        { apiGroups: [""], resources: ["pods/exec"], verbs: options.podExecVerbs ?? ["create"] },
        { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
        { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get", "list"] },
        {
          apiGroups: ["apps"],
          resources: ["deployments/scale", "statefulsets/scale"],
          verbs: ["get", "patch"],
        },
        {
          apiGroups: ["coordination.k8s.io"],
          resources: ["leases"],
          verbs: ["get", "create", "update", "delete"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  ];
}
