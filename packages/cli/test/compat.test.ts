// Table-driven compatibility suite: every upstream invocation form of compat-reference §2 (flags, env
// vars, precedence flag > env > default) parses to the expected options. Tests the parser directly.
import { describe, expect, it } from "vitest";
import { type ParsedCommand, parseCommandLine } from "../src/parse.js";

const CWD = "/work/dir";
const parse = (argv: string[], env: Record<string, string> = {}): ParsedCommand => {
  const r = parseCommandLine(argv, { env, cwd: CWD, version: "9.9.9" });
  if (r.kind !== "command") throw new Error(`expected a command, got output:\n${r.text}`);
  return r.command;
};
const parseError = (argv: string[], env: Record<string, string> = {}) => {
  try {
    parseCommandLine(argv, { env, cwd: CWD, version: "9.9.9" });
  } catch (error) {
    return error as { code: string; message: string; category: string };
  }
  throw new Error(`expected ${argv.join(" ")} to be rejected`);
};

type Case = { name: string; argv: string[]; env?: Record<string, string>; expect: Record<string, unknown> };

const cases: Case[] = [
  // §2.3 create
  {
    name: "create with defaults",
    argv: ["create"],
    expect: {
      command: "create",
      force: false,
      redact: false,
      neo4jMetadata: "all",
      excludeTaskManager: false,
      s3Upload: false,
      s3KeepLocal: false,
      sleepMs: 0,
      encrypt: false,
      encryptKey: undefined,
      retentionDays: undefined,
      retentionCount: undefined,
      "global.backupDir": `${CWD}/infrahub_backups`,
      "global.logFormat": "text",
      "global.logLevel": "info",
      "global.s3.region": "us-east-1",
    },
  },
  {
    name: "create, every flag",
    argv: [
      "create",
      "--force",
      "--neo4jmetadata",
      "users",
      "--exclude-taskmanager",
      "--s3-upload",
      "--s3-keep-local",
      "--sleep",
      "5m",
      "--encrypt-key",
      "pub.key",
      "--retention-days",
      "7",
      "--retention-count",
      "3",
    ],
    expect: {
      force: true,
      neo4jMetadata: "users",
      excludeTaskManager: true,
      s3Upload: true,
      s3KeepLocal: true,
      sleepMs: 300_000,
      encrypt: true,
      encryptKey: "pub.key",
      retentionDays: 7,
      retentionCount: 3,
    },
  },
  {
    name: "create flags from INFRAHUB_* env",
    argv: ["create"],
    env: {
      INFRAHUB_FORCE: "true",
      INFRAHUB_NEO4JMETADATA: "none",
      INFRAHUB_EXCLUDE_TASKMANAGER: "1",
      INFRAHUB_S3_UPLOAD: "TRUE",
      INFRAHUB_S3_KEEP_LOCAL: "t",
      INFRAHUB_SLEEP: "300s",
      INFRAHUB_ENCRYPT: "true",
      INFRAHUB_RETENTION_DAYS: "14",
      INFRAHUB_RETENTION_COUNT: "5",
    },
    expect: {
      force: true,
      neo4jMetadata: "none",
      excludeTaskManager: true,
      s3Upload: true,
      s3KeepLocal: true,
      sleepMs: 300_000,
      encrypt: true,
      encryptKey: undefined,
      retentionDays: 14,
      retentionCount: 5,
    },
  },
  {
    name: "INFRAHUB_ENCRYPT_KEY implies --encrypt",
    argv: ["create"],
    env: { INFRAHUB_ENCRYPT_KEY: "/keys/backup.pub" },
    expect: { encrypt: true, encryptKey: "/keys/backup.pub" },
  },
  {
    name: "flag beats env (boolean false, string, duration)",
    argv: ["create", "--s3-upload=false", "--neo4jmetadata=roles", "--sleep", "1h30m"],
    env: { INFRAHUB_S3_UPLOAD: "true", INFRAHUB_NEO4JMETADATA: "none", INFRAHUB_SLEEP: "5m" },
    expect: { s3Upload: false, neo4jMetadata: "roles", sleepMs: 5_400_000 },
  },
  { name: "--sleep 0", argv: ["create", "--sleep", "0"], expect: { sleepMs: 0 } },
  { name: "--sleep=2.5s", argv: ["create", "--sleep=2.5s"], expect: { sleepMs: 2500 } },
  // §2.2 globals, flags and env
  {
    name: "global S3 flags (endpoint/bucket/prefix/region)",
    argv: [
      "create",
      "--s3-upload",
      "--s3-bucket",
      "backups",
      "--s3-prefix",
      "infrahub/",
      "--s3-endpoint",
      "http://minio:9000",
      "--s3-region",
      "auto",
    ],
    expect: {
      "global.s3.bucket": "backups",
      "global.s3.prefix": "infrahub/",
      "global.s3.endpoint": "http://minio:9000",
      "global.s3.region": "auto",
    },
  },
  {
    name: "global S3 env vars",
    argv: ["create", "--s3-upload"],
    env: {
      INFRAHUB_S3_BUCKET: "bkt",
      INFRAHUB_S3_PREFIX: "p",
      INFRAHUB_S3_ENDPOINT: "https://s3.example.com",
      INFRAHUB_S3_REGION: "eu-west-1",
    },
    expect: {
      "global.s3.bucket": "bkt",
      "global.s3.prefix": "p",
      "global.s3.endpoint": "https://s3.example.com",
      "global.s3.region": "eu-west-1",
    },
  },
  {
    name: "global flags before the command",
    argv: ["--s3-bucket", "bkt", "--log-format", "json", "create"],
    expect: { command: "create", "global.s3.bucket": "bkt", "global.logFormat": "json" },
  },
  {
    name: "--project / --k8s-namespace flags",
    argv: ["create", "--project", "infrahub", "--k8s-namespace", "prod"],
    expect: { "global.project": "infrahub", "global.k8sNamespace": "prod" },
  },
  {
    name: "INFRAHUB_PROJECT / INFRAHUB_K8S_NAMESPACE",
    argv: ["environment", "detect"],
    env: { INFRAHUB_PROJECT: "proj", INFRAHUB_K8S_NAMESPACE: "ns" },
    expect: { command: "environment-detect", "global.project": "proj", "global.k8sNamespace": "ns" },
  },
  {
    name: "BACKUP_DIR is the default of --backup-dir",
    argv: ["create"],
    env: { BACKUP_DIR: "/backups" },
    expect: { "global.backupDir": "/backups" },
  },
  {
    name: "INFRAHUB_BACKUP_DIR beats BACKUP_DIR",
    argv: ["create"],
    env: { BACKUP_DIR: "/backups", INFRAHUB_BACKUP_DIR: "/data" },
    expect: { "global.backupDir": "/data" },
  },
  {
    name: "--backup-dir beats both",
    argv: ["create", "--backup-dir", "/flag"],
    env: { BACKUP_DIR: "/backups", INFRAHUB_BACKUP_DIR: "/data" },
    expect: { "global.backupDir": "/flag" },
  },
  {
    name: "INFRAHUB_LOG_FORMAT=json",
    argv: ["list"],
    env: { INFRAHUB_LOG_FORMAT: "json" },
    expect: { "global.logFormat": "json" },
  },
  {
    name: "--backend tarball",
    argv: ["create", "--backend", "tarball"],
    expect: { "global.backend": "tarball" },
  },
  // §2.4 restore
  {
    name: "restore <path>",
    argv: ["restore", "/backups/infrahub_backup_20260130_102030.tar.gz"],
    expect: {
      command: "restore",
      source: { kind: "path", path: "/backups/infrahub_backup_20260130_102030.tar.gz" },
      excludeTaskManager: false,
      migrateFormat: false,
      sleepMs: 0,
      decryptKey: undefined,
      force: false,
      resetDeploymentId: false,
      dryRun: false,
      yes: false,
    },
  },
  {
    name: "restore s3://bucket/key with endpoint and region",
    argv: [
      "restore",
      "s3://backups/infrahub/infrahub_backup_20260130_102030.tar.gz",
      "--s3-endpoint",
      "http://minio:9000",
      "--s3-region",
      "us-east-1",
    ],
    expect: {
      source: { kind: "s3", uri: "s3://backups/infrahub/infrahub_backup_20260130_102030.tar.gz" },
      "global.s3.endpoint": "http://minio:9000",
    },
  },
  {
    name: "restore, every upstream flag",
    argv: [
      "restore",
      "x.tar.gz.enc",
      "--exclude-taskmanager",
      "--migrate-format",
      "--sleep",
      "10s",
      "--decrypt-key",
      "backup.key",
      "--force",
      "--reset-deployment-id",
    ],
    expect: {
      excludeTaskManager: true,
      migrateFormat: true,
      sleepMs: 10_000,
      decryptKey: "backup.key",
      force: true,
      resetDeploymentId: true,
    },
  },
  {
    name: "restore reads INFRAHUB_DECRYPT_KEY and INFRAHUB_RESET_DEPLOYMENT_ID (upstream #159 fixed)",
    argv: ["restore", "x.tar.gz.enc"],
    env: { INFRAHUB_DECRYPT_KEY: "/keys/backup.key", INFRAHUB_RESET_DEPLOYMENT_ID: "true" },
    expect: { decryptKey: "/keys/backup.key", resetDeploymentId: true },
  },
  {
    name: "restore does not bind INFRAHUB_SLEEP / INFRAHUB_EXCLUDE_TASKMANAGER / INFRAHUB_FORCE (create-only)",
    argv: ["restore", "x.tar.gz"],
    env: { INFRAHUB_SLEEP: "5m", INFRAHUB_EXCLUDE_TASKMANAGER: "true", INFRAHUB_FORCE: "true" },
    expect: { sleepMs: 0, excludeTaskManager: false, force: false },
  },
  {
    name: "restore --latest",
    argv: ["restore", "--latest"],
    expect: { source: { kind: "latest", s3: false } },
  },
  {
    name: "restore --latest --s3 --yes --dry-run",
    argv: ["restore", "--latest", "--s3", "--yes", "--dry-run"],
    expect: { source: { kind: "latest", s3: true }, yes: true, dryRun: true },
  },
  { name: "restore -y", argv: ["restore", "--latest", "-y"], expect: { yes: true } },
  // §2.5 keygen, from-files
  { name: "keygen default", argv: ["keygen"], expect: { command: "keygen", output: "backup.key" } },
  { name: "keygen -o", argv: ["keygen", "-o", "/k/my.key"], expect: { output: "/k/my.key" } },
  { name: "keygen --output", argv: ["keygen", "--output", "k"], expect: { output: "k" } },
  {
    name: "create from-files",
    argv: [
      "create",
      "from-files",
      "--neo4j-path",
      "/dumps/neo4j.dump",
      "--postgres-path",
      "/dumps/prefect.dump",
      "--neo4j-edition",
      "community",
      "--infrahub-version",
      "1.5.0",
      "--encrypt",
    ],
    expect: {
      command: "create-from-files",
      neo4jPath: "/dumps/neo4j.dump",
      postgresPath: "/dumps/prefect.dump",
      neo4jEdition: "community",
      infrahubVersion: "1.5.0",
      encrypt: true,
    },
  },
  // §2.1 other commands, §2.11 prune
  { name: "version", argv: ["version"], expect: { command: "version" } },
  { name: "environment detect", argv: ["environment", "detect"], expect: { command: "environment-detect" } },
  { name: "environment list", argv: ["environment", "list"], expect: { command: "environment-list" } },
  {
    name: "prune flags",
    argv: ["prune", "--retention-days", "30", "--retention-count", "10", "--s3", "--dry-run"],
    expect: { command: "prune", retentionDays: 30, retentionCount: 10, s3: true, dryRun: true, yes: false },
  },
  {
    name: "prune from env, --force as --yes",
    argv: ["prune", "--force"],
    env: { INFRAHUB_RETENTION_COUNT: "2" },
    expect: { retentionCount: 2, retentionDays: undefined, yes: true },
  },
  { name: "list", argv: ["list"], expect: { command: "list", s3: false } },
  {
    name: "list --s3",
    argv: ["list", "--s3", "--s3-bucket", "bkt"],
    expect: { s3: true, "global.s3.bucket": "bkt" },
  },
  {
    name: "verify <path>",
    argv: ["verify", "a.tar.gz"],
    expect: { command: "verify", source: { kind: "path", path: "a.tar.gz" } },
  },
  {
    name: "a repeated flag: the last one wins (Cobra)",
    argv: ["create", "--s3-bucket", "first", "--s3-bucket", "second"],
    expect: { "global.s3.bucket": "second" },
  },
  {
    name: "--flag=value and --bool=true forms",
    argv: ["create", "--s3-bucket=bkt", "--force=true", "--exclude-taskmanager=false"],
    env: { INFRAHUB_EXCLUDE_TASKMANAGER: "true" },
    expect: { "global.s3.bucket": "bkt", force: true, excludeTaskManager: false },
  },
  // additive: local environment, log level, storage options
  {
    name: "--local-config and INFRAHUB_LOCAL_CONFIG",
    argv: ["create"],
    env: { INFRAHUB_LOCAL_CONFIG: "/etc/ihb/local.json" },
    expect: { "global.localConfig": "/etc/ihb/local.json" },
  },
  {
    name: "--log-level",
    argv: ["list", "--log-level", "debug"],
    env: { INFRAHUB_LOG_LEVEL: "error" },
    expect: { "global.logLevel": "debug" },
  },
  {
    name: "S3 storage options as flags",
    argv: [
      "create",
      "--s3-upload",
      "--s3-ca-bundle",
      "/ca.pem",
      "--s3-insecure-tls",
      "--s3-sse",
      "aws:kms",
      "--s3-sse-kms-key-id",
      "k1",
      "--s3-storage-class",
      "STANDARD_IA",
      "--s3-max-parts",
      "1000",
      "--s3-part-size",
      "16MiB",
      "--s3-checksums",
      "when_supported",
    ],
    expect: {
      "global.s3.caBundle": "/ca.pem",
      "global.s3.insecureTls": true,
      "global.s3.sse": { type: "aws:kms", kmsKeyId: "k1" },
      "global.s3.storageClass": "STANDARD_IA",
      "global.s3.maxParts": 1000,
      "global.s3.partSize": 16 * 1024 * 1024,
      "global.s3.checksums": "when_supported",
    },
  },
  {
    name: "S3 storage options from env",
    argv: ["create", "--s3-upload"],
    env: {
      INFRAHUB_S3_CA_BUNDLE: "/ca.pem",
      INFRAHUB_S3_INSECURE_TLS: "true",
      INFRAHUB_S3_SSE: "AES256",
      INFRAHUB_S3_STORAGE_CLASS: "GLACIER_IR",
      INFRAHUB_S3_MAX_PARTS: "500",
      INFRAHUB_S3_PART_SIZE: "8388608",
      INFRAHUB_S3_CHECKSUMS: "when_required",
    },
    expect: {
      "global.s3.caBundle": "/ca.pem",
      "global.s3.insecureTls": true,
      "global.s3.sse": { type: "AES256" },
      "global.s3.storageClass": "GLACIER_IR",
      "global.s3.maxParts": 500,
      "global.s3.partSize": 8388608,
      "global.s3.checksums": "when_required",
    },
  },
];

function pick(obj: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

describe("upstream invocation forms parse to the expected options", () => {
  it.each(cases)("$name", ({ argv, env, expect: expected }) => {
    const cmd = parse(argv, env);
    for (const [path, value] of Object.entries(expected)) {
      expect(pick(cmd, path), path).toEqual(value);
    }
  });
});

const rejected: { name: string; argv: string[]; env?: Record<string, string>; message: RegExp }[] = [
  { name: "unknown flag", argv: ["create", "--nope"], message: /Unknown argument/ },
  { name: "unknown command", argv: ["frobnicate"], message: /Unknown argument/ },
  { name: "camelCase spelling is not a flag", argv: ["create", "--s3Upload"], message: /Unknown argument/ },
  { name: "restore without argument", argv: ["restore"], message: /requires exactly 1 arg/ },
  {
    name: "restore --latest with an argument",
    argv: ["restore", "x.tar.gz", "--latest"],
    message: /not both/,
  },
  {
    name: "restore --s3 without --latest",
    argv: ["restore", "x.tar.gz", "--s3"],
    message: /only valid with --latest/,
  },
  { name: "restore two arguments", argv: ["restore", "a", "b"], message: /Unknown argument/ },
  {
    name: "unknown backend",
    argv: ["create", "--backend", "rsync"],
    message: /unknown backend: rsync, expected 'tarball' or 'plakar'/,
  },
  {
    name: "plakar backend",
    argv: ["create", "--backend", "plakar"],
    message: /plakar backend is not supported/,
  },
  { name: "plakar via env", argv: ["list"], env: { INFRAHUB_BACKEND: "plakar" }, message: /plakar/ },
  { name: "bad duration", argv: ["create", "--sleep", "5"], message: /invalid duration/ },
  {
    name: "bad env duration",
    argv: ["create"],
    env: { INFRAHUB_SLEEP: "soon" },
    message: /INFRAHUB_SLEEP|--sleep/,
  },
  { name: "bad env boolean", argv: ["create"], env: { INFRAHUB_FORCE: "maybe" }, message: /INFRAHUB_FORCE/ },
  { name: "retention 0", argv: ["prune", "--retention-days", "0"], message: /≥ 1/ },
  { name: "prune without rules", argv: ["prune"], message: /retention-days and\/or --retention-count/ },
  { name: "from-files without --neo4j-path", argv: ["create", "from-files"], message: /neo4j-path/ },
  { name: "bad --s3-sse", argv: ["list", "--s3-sse", "rot13"], message: /--s3-sse/ },
  { name: "bad log level", argv: ["list", "--log-level", "loud"], message: /log level/ },
  { name: "environment without subcommand", argv: ["environment"], message: /detect or list/ },
];

describe("invalid command lines are usage errors", () => {
  it.each(rejected)("$name", ({ argv, env, message }) => {
    const error = parseError(argv, env);
    expect(error.category).toBe("usage");
    expect(error.message).toMatch(message);
  });
});

describe("help and version output", () => {
  it("no arguments prints the help (upstream)", () => {
    const r = parseCommandLine([], { env: {}, cwd: CWD, version: "9.9.9" });
    expect(r.kind).toBe("output");
    expect(r.kind === "output" && r.text).toContain("EXIT STATUS");
  });
  it("--version prints the version", () => {
    expect(parseCommandLine(["--version"], { env: {}, cwd: CWD, version: "9.9.9" })).toEqual({
      kind: "output",
      text: "9.9.9",
    });
  });
});
