import { BackupError, S3_DEADLINE_DEFAULTS } from "@infrahub-backup/core";
import {
  formatDuration,
  invalidValue,
  parseBool,
  parseFileMode,
  parseGoDuration,
  parsePositiveInt,
  parseSize,
} from "./values.js";

export type HostEnvironment = Readonly<Record<string, string | undefined>>;

/** One flag: its type, help, and the env var bound to it (upstream: `INFRAHUB_` + NAME, `-` → `_`). */
export interface FlagSpec {
  type: "string" | "boolean" | "number";
  describe: string;
  /** `false`: not bound to an env var (as upstream for most restore flags). Default: `INFRAHUB_<NAME>`. */
  env?: string | false;
  /** Shown in help as "(default: …)". */
  defaultText?: string;
  alias?: string;
  hidden?: boolean;
  choices?: readonly string[];
}

export function envName(flag: string, spec: FlagSpec): string | undefined {
  if (spec.env === false) return undefined;
  return spec.env ?? `INFRAHUB_${flag.toUpperCase().replaceAll("-", "_")}`;
}

export function describeFlag(flag: string, spec: FlagSpec): string {
  const env = envName(flag, spec);
  const parts = [spec.describe];
  if (spec.defaultText !== undefined) parts.push(`(default: ${spec.defaultText})`);
  if (env) parts.push(`[env: ${env}]`);
  return parts.join(" ");
}

/** Global flags (every command), upstream `cli.go` plus the additive ones. */
export const GLOBAL_FLAGS = {
  project: { type: "string", describe: "Docker Compose project of the Infrahub deployment (auto-detected)" },
  "k8s-namespace": {
    type: "string",
    describe: "Kubernetes namespace of the Infrahub deployment (auto-detected)",
  },
  "local-config": {
    type: "string",
    describe: "JSON file describing Infrahub services run as processes on this host (local environment)",
  },
  "backup-dir": {
    type: "string",
    describe: "Directory for local backups",
    defaultText: "$BACKUP_DIR, else <cwd>/infrahub_backups",
  },
  "log-format": {
    type: "string",
    describe: "Log format: text or json",
    defaultText: "text",
    choices: ["text", "json"],
  },
  "log-level": {
    type: "string",
    describe: "Log level: debug, info, warn or error",
    defaultText: "info",
  },
  backend: {
    type: "string",
    describe: "Backup backend: tarball (plakar is not supported)",
    defaultText: "tarball",
  },
  repo: { type: "string", describe: "Plakar repository (plakar backend; not supported)", hidden: true },
  "backup-id": {
    type: "string",
    describe: "Plakar backup group (plakar backend; not supported)",
    hidden: true,
  },
  snapshot: { type: "string", describe: "Plakar snapshot (plakar backend; not supported)", hidden: true },
  "s3-bucket": { type: "string", describe: "S3 bucket" },
  "s3-prefix": { type: "string", describe: "S3 key prefix" },
  "s3-endpoint": {
    type: "string",
    describe: "S3 endpoint URL with scheme, e.g. http://minio:9000 (default: AWS)",
  },
  "s3-region": { type: "string", describe: "S3 region", defaultText: "us-east-1" },
  "s3-ca-bundle": { type: "string", describe: "PEM file of CA certificates to trust for the S3 endpoint" },
  "s3-insecure-tls": { type: "boolean", describe: "Do not verify the S3 endpoint's TLS certificate" },
  "s3-sse": { type: "string", describe: "Server-side encryption: AES256 or aws:kms" },
  "s3-sse-kms-key-id": { type: "string", describe: "KMS key id for --s3-sse aws:kms" },
  "s3-storage-class": { type: "string", describe: "S3 storage class of uploaded archives" },
  "s3-max-parts": { type: "number", describe: "Multipart part limit of the store", defaultText: "10000" },
  "s3-part-size": {
    type: "string",
    describe: "Multipart part size, e.g. 16MiB (default: from the size estimate)",
  },
  "s3-checksums": {
    type: "string",
    describe:
      "When to send request checksums: when_required or when_supported (default: when_required off AWS)",
  },
  "s3-connect-timeout": {
    type: "string",
    describe: "S3: time to open a connection, per attempt (Go duration)",
    defaultText: formatDuration(S3_DEADLINE_DEFAULTS.connectTimeoutMs),
  },
  "s3-request-timeout": {
    type: "string",
    describe: "S3: time to the first byte of an answer to a request without a body, per attempt",
    defaultText: formatDuration(S3_DEADLINE_DEFAULTS.requestTimeoutMs),
  },
  "s3-idle-timeout": {
    type: "string",
    describe: "S3: time a connection may stay silent during a transfer, per attempt",
    defaultText: formatDuration(S3_DEADLINE_DEFAULTS.idleTimeoutMs),
  },
  "s3-max-attempts": {
    type: "number",
    describe:
      "S3: attempts per request, retried with backoff; a stalled store fails after attempts × the largest timeout",
    defaultText: String(S3_DEADLINE_DEFAULTS.maxAttempts),
  },
} as const satisfies Record<string, FlagSpec>;

type GlobalFlag = keyof typeof GLOBAL_FLAGS;
const ENVIRONMENT_FLAGS: readonly GlobalFlag[] = ["project", "k8s-namespace", "local-config"];
const LOGGING_FLAGS: readonly GlobalFlag[] = ["log-format", "log-level", "backend"];
const S3_FLAGS = Object.keys(GLOBAL_FLAGS).filter((f) => f.startsWith("s3-")) as GlobalFlag[];

/**
 * The global flags each command reads; its help shows only these. The others are still accepted (upstream's
 * global flags are persistent, and `INFRAHUB_*` variables are set for every command of a job).
 */
export const GLOBAL_FLAGS_USED = {
  all: Object.keys(GLOBAL_FLAGS) as GlobalFlag[],
  "create from-files": ["backup-dir", ...LOGGING_FLAGS],
  storage: ["backup-dir", ...S3_FLAGS, ...LOGGING_FLAGS],
  environment: [...ENVIRONMENT_FLAGS, ...LOGGING_FLAGS],
  output: LOGGING_FLAGS,
} as const satisfies Record<string, readonly GlobalFlag[]>;

/** `--stale-upload-age` of create and prune. */
const STALE_UPLOAD_AGE = {
  type: "string",
  describe:
    "Abort unfinished uploads (S3 multipart uploads, local temp files) of archive names started longer ago than this (Go duration; 0: never)",
  defaultText: "24h",
} as const satisfies FlagSpec;

/** Default of `--stale-upload-age`: long enough that no backup still running is touched. */
export const DEFAULT_STALE_UPLOAD_AGE_MS = 24 * 3_600_000;

/** `--archive-mode` of create and create from-files (both write to --backup-dir). */
const ARCHIVE_MODE = {
  type: "string",
  env: "INFRAHUB_ARCHIVE_MODE",
  describe:
    "Mode of archives written to --backup-dir (temp files included), octal; 0640 lets the directory's group read them; the umask still applies",
  defaultText: "0600",
} as const satisfies FlagSpec;

/** `--wait-ready` of create and restore. */
const WAIT_READY = {
  type: "string",
  describe:
    "Before anything is stopped, wait up to this long (Go duration) until Infrahub's pods are Running and Ready, printing what is not (Kubernetes; 0: do not wait)",
  defaultText: "0",
} as const satisfies FlagSpec;

/** `--staging` of create and restore (core's StagingMode). */
const STAGING = {
  type: "string",
  describe:
    "Where dumps go while a database is offline: auto stages them in the database's container when its volume has room (shorter outage), container insists, none streams them",
  defaultText: "auto",
  choices: ["auto", "container", "none"],
} as const satisfies FlagSpec;

/** `--neo4jmetadata` values (upstream documents these; neo4j-admin refuses anything else after the stop). */
export const NEO4J_METADATA_VALUES = ["all", "none", "users", "roles"] as const;

export const CREATE_FLAGS = {
  force: { type: "boolean", describe: "Do not wait for running Infrahub tasks" },
  redact: {
    type: "boolean",
    describe:
      "Replace every attribute value of the LIVE graph with a random UUID before the backup (destructive; needs --force)",
  },
  neo4jmetadata: {
    type: "string",
    describe: "Neo4j backup metadata (Enterprise): all, none, users or roles",
    defaultText: "all",
    choices: NEO4J_METADATA_VALUES,
  },
  "exclude-taskmanager": { type: "boolean", describe: "Do not back up the task manager (Prefect) database" },
  "s3-upload": { type: "boolean", describe: "Write the backup to S3 (streamed, no local file)" },
  "s3-keep-local": {
    type: "boolean",
    describe: "With --s3-upload: write a local file first, upload it, and keep it",
  },
  sleep: {
    type: "string",
    describe: "Sleep after the backup, Go duration (e.g. 5m, 300s)",
    defaultText: "0",
  },
  encrypt: {
    type: "boolean",
    describe: "Encrypt the archive (.tar.gz.enc) to the built-in OpsMill public key",
  },
  "encrypt-key": { type: "string", describe: "Encrypt to this public key file instead (implies --encrypt)" },
  "retention-days": {
    type: "number",
    describe: "After a successful backup, prune archives older than N days",
  },
  "retention-count": {
    type: "number",
    describe: "After a successful backup, keep only the newest N archives",
  },
  "stale-upload-age": STALE_UPLOAD_AGE,
  "wait-ready": WAIT_READY,
  staging: STAGING,
  "archive-mode": ARCHIVE_MODE,
} as const satisfies Record<string, FlagSpec>;

export const FROM_FILES_FLAGS = {
  "neo4j-path": {
    type: "string",
    env: false,
    describe: "Directory of Enterprise backup files, or a .dump file",
  },
  "postgres-path": { type: "string", env: false, describe: "Custom-format pg_dump of the Prefect database" },
  "neo4j-edition": {
    type: "string",
    env: false,
    describe: "enterprise or community (default: from the files)",
  },
  "infrahub-version": { type: "string", env: false, describe: "Infrahub version written to the metadata" },
  encrypt: { type: "boolean", env: false, describe: "Encrypt to the built-in OpsMill public key" },
  "encrypt-key": { type: "string", env: false, describe: "Encrypt to this public key file" },
  "archive-mode": ARCHIVE_MODE,
} as const satisfies Record<string, FlagSpec>;

export const RESTORE_FLAGS = {
  "exclude-taskmanager": {
    type: "boolean",
    env: false,
    describe: "Do not restore the task manager (Prefect) database",
  },
  "migrate-format": { type: "boolean", env: false, describe: "Convert the Neo4j store to the block format" },
  sleep: {
    type: "string",
    env: false,
    describe: "Sleep before restoring, Go duration (e.g. 5m)",
    defaultText: "0",
  },
  "decrypt-key": { type: "string", describe: "Private key (PKCS#8 PEM) for .tar.gz.enc archives" },
  force: { type: "boolean", env: false, describe: "Plakar only (accepted, no effect)" },
  "reset-deployment-id": { type: "boolean", describe: "Give the restored deployment a new deployment id" },
  "allow-non-atomic": {
    type: "boolean",
    describe:
      "When the Neo4j volume has no room to keep the current graph until the restored one serves, remove it first instead of refusing (a failure then leaves the graph empty)",
  },
  latest: {
    type: "boolean",
    env: false,
    describe: "Restore the newest archive (local directory, or S3 with --s3)",
  },
  s3: { type: "boolean", env: false, describe: "With --latest: look in --s3-bucket/--s3-prefix" },
  "dry-run": {
    type: "boolean",
    env: false,
    describe: "Validate the archive and print the plan; change nothing",
  },
  yes: { type: "boolean", alias: "y", describe: "Do not ask for confirmation on a terminal" },
  "wait-ready": WAIT_READY,
  staging: STAGING,
  "only-if-fresh": {
    type: "boolean",
    describe:
      "Restore only into a deployment that holds nothing beyond what Infrahub's first start creates; otherwise do nothing and exit 0 (and with --latest, exit 0 when there is no archive). Checked read-only, after --wait-ready",
  },
  "request-id": {
    type: "string",
    env: "INFRAHUB_RESTORE_REQUEST_ID",
    describe:
      "Identifier of this restore request (letters, digits, . _ -): if the deployment records that it was already restored, do nothing and exit 0; recorded when the restore completes (Kubernetes). The chart passes a hash of its restore values",
  },
} as const satisfies Record<string, FlagSpec>;

export const VERIFY_FLAGS = {
  "decrypt-key": { type: "string", describe: "Private key (PKCS#8 PEM) for .tar.gz.enc archives" },
  "exclude-taskmanager": { type: "boolean", env: false, describe: "Do not require the Prefect dump" },
  latest: {
    type: "boolean",
    env: false,
    describe: "Verify the newest archive (local directory, or S3 with --s3)",
  },
  s3: { type: "boolean", env: false, describe: "With --latest: look in --s3-bucket/--s3-prefix" },
} as const satisfies Record<string, FlagSpec>;

export const LIST_FLAGS = {
  s3: { type: "boolean", env: false, describe: "List --s3-bucket/--s3-prefix instead of --backup-dir" },
} as const satisfies Record<string, FlagSpec>;

export const PRUNE_FLAGS = {
  "retention-days": { type: "number", describe: "Delete archives older than N days (newest always kept)" },
  "retention-count": { type: "number", describe: "Keep only the newest N archives" },
  s3: { type: "boolean", env: false, describe: "Prune --s3-bucket/--s3-prefix instead of --backup-dir" },
  "dry-run": { type: "boolean", env: false, describe: "Print what would be deleted; delete nothing" },
  yes: { type: "boolean", alias: "y", describe: "Do not ask for confirmation on a terminal" },
  force: { type: "boolean", env: false, describe: "Same as --yes (upstream 2.x)" },
  "stale-upload-age": STALE_UPLOAD_AGE,
} as const satisfies Record<string, FlagSpec>;

/** Monitoring of create, restore, verify, drill and prune: metrics and notifications after the run (issue 24). */
export const MONITORING_FLAGS = {
  "metrics-pushgateway": {
    type: "string",
    describe:
      "After the run, push its metrics to this Prometheus Pushgateway (grouping key job=infrahub-backup, deployment, operation); basic auth from INFRAHUB_METRICS_PUSHGATEWAY_USERNAME and _PASSWORD, or a bearer token from INFRAHUB_METRICS_PUSHGATEWAY_BEARER_TOKEN",
  },
  "metrics-file": {
    type: "string",
    describe:
      "After the run, write its metrics into this node-exporter textfile (*.prom), atomically, keeping the series of earlier runs",
  },
  "notify-webhook": {
    type: "string",
    describe:
      "POST a JSON notification (with a Slack-compatible text field) to this URL; repeatable; the env var takes several URLs separated by spaces or commas. URLs are secrets: never printed",
  },
  "notify-on": {
    type: "string",
    describe: "When to call the webhooks: failure or always",
    defaultText: "failure",
    choices: ["failure", "always"],
  },
  "monitoring-timeout": {
    type: "string",
    describe:
      "Deadline of each attempt to push metrics or call a webhook (3 attempts); a failure only warns, the exit code stays",
    defaultText: "10s",
  },
} as const satisfies Record<string, FlagSpec>;

export const KEYGEN_FLAGS = {
  output: {
    type: "string",
    alias: "o",
    env: false,
    describe: "Private key file; the public key goes to <file>.pub",
    defaultText: "backup.key",
  },
} as const satisfies Record<string, FlagSpec>;

type Raw = Record<string, unknown>;

/** Where a flag's value comes from, for messages: `--flag` when given on the command line, else its env var. */
export function sourceOf(raw: Raw, flag: string, spec: FlagSpec): string {
  if (raw[flag] !== undefined) return `--${flag}`;
  return envName(flag, spec) ?? `--${flag}`;
}

/**
 * A flag's value: the flag if given on the command line, else its env var, else `undefined`
 * (the caller applies the default). This is upstream's precedence: flag > env > default.
 */
export function flagValue(raw: Raw, flag: string, spec: FlagSpec, env: HostEnvironment): unknown {
  const given = raw[flag];
  if (given !== undefined) {
    if (Array.isArray(given)) {
      throw new BackupError("INVALID_ARGUMENT", `--${flag} was given more than once`, {
        hint: `give --${flag} once`,
      });
    }
    if (spec.type === "number" && typeof given === "number" && Number.isNaN(given)) {
      throw new BackupError("INVALID_ARGUMENT", `--${flag} needs a number`, { hint: "give a whole number" });
    }
    checkChoice(`--${flag}`, given, spec);
    return given;
  }
  const name = envName(flag, spec);
  const fromEnv = name === undefined ? undefined : env[name];
  if (fromEnv === undefined) return undefined;
  switch (spec.type) {
    case "boolean":
      return parseBool(fromEnv, name as string);
    case "number": {
      if (fromEnv.trim() === "") return undefined;
      const n = Number(fromEnv.trim());
      if (Number.isNaN(n)) {
        throw invalidValue(
          name as string,
          `${name} needs a number, got ${JSON.stringify(fromEnv)}`,
          "give a whole number",
        );
      }
      return n;
    }
    default:
      if (fromEnv === "") return undefined;
      checkChoice(name as string, fromEnv, spec);
      return fromEnv;
  }
}

function checkChoice(source: string, value: unknown, spec: FlagSpec): void {
  if (spec.choices === undefined || typeof value !== "string" || spec.choices.includes(value)) return;
  throw invalidValue(
    source,
    `invalid ${source} ${JSON.stringify(value)}`,
    `use ${spec.choices.slice(0, -1).join(", ")} or ${spec.choices.at(-1)}`,
  );
}

/** Reads every flag of `specs` into a plain object of resolved (flag > env) values. */
export function resolveFlags<T extends Record<string, FlagSpec>>(
  raw: Raw,
  specs: T,
  env: HostEnvironment,
): { [K in keyof T]: unknown } {
  const out: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(specs)) out[flag] = flagValue(raw, flag, spec, env);
  return out as { [K in keyof T]: unknown };
}

export const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
export const bool = (v: unknown): boolean => v === true;
export const retention = (v: unknown, source: string, max?: number): number | undefined =>
  v === undefined ? undefined : parsePositiveInt(v as number, source, max);
export const duration = (v: unknown, source: string, fallback = 0): number =>
  v === undefined ? fallback : parseGoDuration(String(v), source);
export const fileMode = (v: unknown, source: string): number =>
  v === undefined ? 0o600 : parseFileMode(String(v), source);
export const size = (v: unknown, source: string): number | undefined =>
  v === undefined ? undefined : parseSize(String(v), source);
