// The seam between the acceptance scenarios and a cluster. The scenarios configure backups and restores
// with Helm values only; everything else a driver offers is for arranging the world around Infrahub
// (its data, the object store, faults) and for reading results.

/** Helm values (a plain object, rendered to YAML by the driver). */
export type Values = Record<string, unknown>;

export interface HelmOutcome {
  ok: boolean;
  output: string;
}

export interface JobOutcome {
  name: string;
  /** Terminal condition of the Job. */
  condition: "Complete" | "Failed";
  /** When the Job controller recorded the condition. */
  finishedAt: Date;
  /** The exit code of the (last) pod's container, from the pod's status. */
  exitCode: number | undefined;
  /** The condition's reason: BackoffLimitExceeded, PodFailurePolicy, DeadlineExceeded, … */
  reason: string | undefined;
  /** Pods of the Job that failed (status.failed): 1 + the retries that ran. */
  failedPods: number;
}

/** One request of the API server's audit log. */
export interface AuditedRequest {
  user: string;
  verb: string;
  /** `resource` or `resource/subresource`, with the API group: `leases.coordination.k8s.io`. */
  resource: string;
  name: string | undefined;
  code: number;
}

/** The process a Job's pod ran, as the container runtime saw it end. */
export interface PodExit {
  exitedAt: Date;
  exitCode: number | undefined;
  logs: string;
}

/**
 * A second namespace with Infrahub's data and exec bindings but none of its Kubernetes objects: `install`
 * is one `helm install` of charts/infrahub (the umbrella; OpsMill's infrahub chart replaced by the TEST
 * DOUBLE that renders the fixture's workloads) in which Infrahub and infrahub-backup come up together.
 */
export interface FreshInstall {
  readonly namespace: string;
  /** Secrets with S3 key pairs in this namespace (chart default key names). */
  readonly secrets: { readwrite: string };
  /**
   * `helm install <release> charts/infrahub` with these umbrella values (the workloads are added).
   * `databaseMinReadySeconds` keeps the graph database unavailable that long after it is Ready (a
   * database still starting), so the restore demonstrably waits.
   */
  install(
    release: string,
    values: Values,
    options?: { databaseMinReadySeconds?: number },
  ): Promise<HelmOutcome>;
  uninstall(release: string): Promise<HelmOutcome>;
  jobs(release: string): Promise<{ name: string; uid: string; active: number; created: Date }[]>;
  waitForJob(release: string, timeoutMs: number): Promise<string>;
  waitForJobEnd(job: string, timeoutMs: number): Promise<JobOutcome>;
  logs(job: string): Promise<string>;
  workloads(): Promise<Workload[]>;
  /**
   * As `AcceptanceDriver.oomKill`, for a Job in this namespace; with `once`, as soon as the pod's output
   * matches it (a window of a second). Undefined when the driver cannot.
   */
  oomKill(job: string, once?: RegExp): Promise<void> | undefined;
}

export interface ClusterEvent {
  reason: string;
  message: string;
  involvedObject: string;
}

export interface Workload {
  kind: "Deployment" | "StatefulSet";
  name: string;
  replicas: number;
  readyReplicas: number;
  /** metadata.generation: changes when the spec (e.g. replicas through the scale subresource) changes. */
  generation: number;
}

export interface ObjectStore {
  /** The S3 endpoint as the backup pods reach it. */
  readonly endpoint: string;
  /** The bucket the scenarios use (exists, empty at the start). */
  readonly bucket: string;
  /** Names of Secrets (in the driver's namespace, chart default key names) holding S3 key pairs. */
  readonly secrets: { readwrite: string; readonly: string; wrong: string };
  listKeys(prefix: string, bucket?: string): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted, under `prefix`. */
  pendingUploads(prefix: string, bucket?: string): Promise<string[]>;
  get(key: string, bucket?: string): Promise<Buffer>;
  put(key: string, body: Buffer, bucket?: string): Promise<void>;
  delete(key: string, bucket?: string): Promise<void>;
  createBucket(name: string): Promise<void>;
  /** A hard quota in bytes on a bucket. */
  setQuota(bucket: string, bytes: number): Promise<void>;
}

/** A TCP fault proxy between the pods and the object store. */
export interface S3Faults {
  /** The endpoint that goes through the proxy, as pods reach it. */
  readonly endpoint: string;
  /** Forward `bytes` more bytes of uploads, then cut every connection and refuse new ones. */
  cutUploadsAfter(bytes: number): void;
  /** True once a cut happened since the last `cutUploadsAfter`. */
  wasCut(): boolean;
  /** Resets every connection, open and new: the object store is unreachable until `pass`. */
  refuse(): void;
  pass(): void;
}

/** Infrahub's data, seen from outside the cluster (the test's own view, not the CLI's). */
export interface InfrahubData {
  /** A digest of all Neo4j and PostgreSQL data; equal digests mean equal data. */
  digest(): Promise<string>;
  /** Changes data in both databases (so a restore has something to undo). */
  change(label: string): Promise<void>;
  /** Makes the task-manager database unreachable / reachable again. */
  takeDatabaseDown(): Promise<void>;
  bringDatabaseUp(): Promise<void>;
  /** How many times Neo4j was (re)started since the driver started: a backup that fails fast leaves it alone. */
  neo4jStarts(): Promise<number>;
  /**
   * Empties both databases and writes what Infrahub's first start writes (a model of it where no Infrahub
   * runs): the deployment a `helm install` into a rebuilt cluster sees. Undefined when the driver cannot.
   */
  makeFresh(): Promise<void> | undefined;
}

export interface AcceptanceDriver {
  readonly name: string;
  /** The namespace Infrahub runs in; every release of the chart is installed there. */
  readonly namespace: string;
  /** Values every release gets (image, pull policy …). */
  readonly baseValues: Values;
  readonly store: ObjectStore;
  /** Undefined when the driver has no fault proxy (the scenarios that need one are skipped, saying so). */
  readonly faults: S3Faults | undefined;
  readonly data: InfrahubData;

  /** `helm install <release> charts/infrahub-backup -n <namespace> -f <values>` (no --wait: hooks are still waited for by Helm). */
  install(release: string, values: Values): Promise<HelmOutcome>;
  /** `helm upgrade` with the full values (not --reuse-values). */
  upgrade(release: string, values: Values): Promise<HelmOutcome>;
  uninstall(release: string): Promise<HelmOutcome>;

  /** Jobs of a release (label app.kubernetes.io/instance), oldest first. */
  jobs(release: string): Promise<{ name: string; uid: string; active: number; created: Date }[]>;
  /** Waits until the release has a Job (returns the newest one's name). */
  waitForJob(release: string, timeoutMs: number): Promise<string>;
  /** Waits until the Job is Complete or Failed. */
  waitForJobEnd(job: string, timeoutMs: number): Promise<JobOutcome>;
  /** The Job's pod log, as `kubectl logs job/<job>` shows it. */
  logs(job: string): Promise<string>;
  events(objectName: string): Promise<ClusterEvent[]>;
  /** The Deployments and StatefulSets of Infrahub. */
  workloads(): Promise<Workload[]>;
  /** Waits until every Infrahub workload has its desired replicas ready. */
  waitForInfrahubReady(timeoutMs: number): Promise<void>;
  /**
   * Reads back the archives a local-storage backup wrote under `containerPath` of the Job's pod — from
   * the pod's emptyDir while it sleeps, or from the PersistentVolume behind a claim — as local files
   * (the equivalent of `kubectl cp`). Undefined when the driver cannot.
   */
  readLocalArchives(job: string, containerPath: string): Promise<string[]> | undefined;

  /**
   * Writes to the cluster since `startRecording()` that did not come through Helm, the controllers or the
   * CLI itself (e.g. a `kubectl apply`), as "verb URI (user agent)" lines, and how many writes Helm made
   * (so an empty list is shown to come from a log that saw the scenarios). Scenario 19 asserts there is
   * no other write. Undefined when the driver cannot see the API server's audit log.
   */
  clusterWrites(): Promise<{ byHelm: number; others: string[] }> | undefined;
  startRecording(): void;

  /** Every request made by ServiceAccounts whose name ends with `-infrahub-backup` since startRecording. */
  backupIdentityRequests(): Promise<AuditedRequest[]> | undefined;
  /** Undefined when the driver cannot deploy a second Infrahub with the umbrella chart. */
  readonly fresh: FreshInstall | undefined;
  /**
   * Sets spec.replicas of one of Infrahub's Deployments as a GitOps controller would (a patch of the
   * Deployment itself, field manager `argocd-controller`, its own identity). Undefined when the driver
   * cannot.
   */
  readonly gitops:
    | { manager: string; scale(deployment: string, replicas: number): Promise<void> }
    | undefined;
  /** Resolves when the process of the Job's current pod ends. Undefined when the driver cannot see it. */
  podExit(job: string): Promise<PodExit> | undefined;
  /**
   * Kills the processes of the Job's current pod with SIGKILL, as the kernel's OOM killer would (nothing
   * of the CLI runs afterwards). Undefined when the driver cannot.
   */
  oomKill(job: string): Promise<void> | undefined;
}
