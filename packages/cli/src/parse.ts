import { join } from "node:path";
import {
  BackupError,
  credentialsFromEnv,
  isValidBucketName,
  parseEndpoint,
  S3_MAX_PART_SIZE,
  S3_MAX_PARTS,
  S3_MIN_PART_SIZE,
  type StagingMode,
} from "@infrahub-backup/core";
import yargs, { type Argv } from "yargs";
import { DRILL_FLAGS, type DrillCommand, parseDrill } from "./drill-options.js";
import { exitStatusHelp } from "./exit-codes.js";
import { type MonitoringOptions, monitoringOptions } from "./monitoring/monitoring-options.js";
import {
  bool,
  CREATE_FLAGS,
  DEFAULT_STALE_UPLOAD_AGE_MS,
  describeFlag,
  duration,
  type FlagSpec,
  FROM_FILES_FLAGS,
  fileMode,
  GLOBAL_FLAGS,
  GLOBAL_FLAGS_USED,
  type HostEnvironment,
  KEYGEN_FLAGS,
  LIST_FLAGS,
  MONITORING_FLAGS,
  PRUNE_FLAGS,
  RESTORE_FLAGS,
  resolveFlags,
  retention,
  size,
  sourceOf,
  str,
  VERIFY_FLAGS,
} from "./options.js";
import { invalidValue, parseBoundedDuration } from "./values.js";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface S3Options {
  bucket: string | undefined;
  prefix: string | undefined;
  endpoint: string | undefined;
  region: string;
  caBundle: string | undefined;
  insecureTls: boolean;
  sse: { type: "AES256" } | { type: "aws:kms"; kmsKeyId?: string | undefined } | undefined;
  storageClass: string | undefined;
  maxParts: number | undefined;
  partSize: number | undefined;
  checksums: "when_required" | "when_supported" | undefined;
  /** Per-attempt deadlines and attempts; `undefined` → the library's defaults. */
  connectTimeoutMs: number | undefined;
  requestTimeoutMs: number | undefined;
  idleTimeoutMs: number | undefined;
  maxAttempts: number | undefined;
}

export interface GlobalOptions {
  project: string | undefined;
  k8sNamespace: string | undefined;
  localConfig: string | undefined;
  backupDir: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  backend: "tarball";
  s3: S3Options;
}

/** Where an archive comes from: a path, an `s3://bucket/key` URI, or the newest one. */
export type ArchiveSource =
  | { kind: "path"; path: string }
  | { kind: "s3"; uri: string }
  | { kind: "latest"; s3: boolean };

export type ParsedCommand =
  | {
      command: "create";
      global: GlobalOptions;
      force: boolean;
      redact: boolean;
      neo4jMetadata: string;
      excludeTaskManager: boolean;
      s3Upload: boolean;
      s3KeepLocal: boolean;
      sleepMs: number;
      encrypt: boolean;
      encryptKey: string | undefined;
      retentionDays: number | undefined;
      retentionCount: number | undefined;
      /** Unfinished uploads older than this are aborted after a successful backup; 0: never. */
      staleUploadAgeMs: number;
      /** Wait this long for Infrahub to be Ready before stopping anything; 0: do not wait. */
      waitReadyMs: number;
      staging: StagingMode;
      /** Mode of archives written to --backup-dir (before the umask). */
      archiveMode: number;
      monitoring: MonitoringOptions;
    }
  | {
      command: "create-from-files";
      global: GlobalOptions;
      neo4jPath: string;
      postgresPath: string | undefined;
      neo4jEdition: "enterprise" | "community" | undefined;
      infrahubVersion: string | undefined;
      encrypt: boolean;
      encryptKey: string | undefined;
      archiveMode: number;
    }
  | {
      command: "restore";
      global: GlobalOptions;
      source: ArchiveSource;
      excludeTaskManager: boolean;
      migrateFormat: boolean;
      sleepMs: number;
      decryptKey: string | undefined;
      force: boolean;
      resetDeploymentId: boolean;
      allowNonAtomic: boolean;
      staging: StagingMode;
      dryRun: boolean;
      yes: boolean;
      /** Wait this long for Infrahub to be Ready before restoring; 0: do not wait. */
      waitReadyMs: number;
      /** Skip the restore when the deployment records this request as done; record it when done. */
      requestId: string | undefined;
      /** Restore only when the deployment holds nothing beyond a fresh Infrahub; nothing to restore is no error. */
      onlyIfFresh: boolean;
      monitoring: MonitoringOptions;
    }
  | {
      command: "verify";
      global: GlobalOptions;
      source: ArchiveSource;
      decryptKey: string | undefined;
      excludeTaskManager: boolean;
      monitoring: MonitoringOptions;
    }
  | DrillCommand
  | { command: "list"; global: GlobalOptions; s3: boolean }
  | {
      command: "prune";
      global: GlobalOptions;
      retentionDays: number | undefined;
      retentionCount: number | undefined;
      s3: boolean;
      dryRun: boolean;
      yes: boolean;
      /** Unfinished uploads older than this are aborted; 0: never. */
      staleUploadAgeMs: number;
      monitoring: MonitoringOptions;
    }
  | { command: "keygen"; global: GlobalOptions; output: string }
  | { command: "environment-detect"; global: GlobalOptions }
  | { command: "environment-list"; global: GlobalOptions }
  | { command: "version"; global: GlobalOptions };

/** The parser's answer: a command to run, or text yargs produced (help, --version) to print. */
export type ParseResult = { kind: "command"; command: ParsedCommand } | { kind: "output"; text: string };

export interface ParseContext {
  env: HostEnvironment;
  cwd: string;
  version: string;
}

type Raw = Record<string, unknown>;

function addFlags(y: Argv, specs: Record<string, FlagSpec>, global = false): Argv {
  for (const [flag, spec] of Object.entries(specs)) {
    y.option(flag, {
      type: spec.type,
      describe: describeFlag(flag, spec),
      // A string flag always takes the next word, so `--sleep -5m` is a (refused) value, not two flags.
      ...(spec.type === "string" ? { nargs: 1 } : {}),
      ...(spec.alias ? { alias: spec.alias } : {}),
      ...(spec.hidden ? { hidden: true } : {}),
      // A command's own flags are not inherited by its subcommands (create's by create from-files).
      ...(global ? { global: true } : { global: false, group: "Command options:" }),
    });
  }
  return y;
}

function usage(message: string, hint?: string): BackupError {
  return new BackupError("INVALID_ARGUMENT", message, hint ? { hint } : {});
}

/** Timeouts: at least 100 ms (a typo of "15" for "15s" would be 15 ns), at most a day. */
const timeout = (
  raw: Raw,
  g: Record<string, unknown>,
  flag: keyof typeof GLOBAL_FLAGS,
): number | undefined => {
  const v = str(g[flag]);
  return v === undefined
    ? undefined
    : parseBoundedDuration(v, sourceOf(raw, flag, GLOBAL_FLAGS[flag]), 100, 86_400_000);
};

/** The S3 part size and part limit, refused outside S3's real limits before anything runs. */
function partOptions(raw: Raw, g: Record<string, unknown>): { partSize?: number; maxParts?: number } {
  const sizeFrom = sourceOf(raw, "s3-part-size", GLOBAL_FLAGS["s3-part-size"]);
  const partSize = size(g["s3-part-size"], sizeFrom);
  if (partSize !== undefined && (partSize < S3_MIN_PART_SIZE || partSize > S3_MAX_PART_SIZE)) {
    throw invalidValue(
      sizeFrom,
      `${sizeFrom} must be between 5MiB and 5GiB (S3's part limits), got ${JSON.stringify(String(g["s3-part-size"]))}`,
      "e.g. 16MiB; leave it unset to size parts from the backup's estimate",
    );
  }
  const maxParts = retention(
    g["s3-max-parts"],
    sourceOf(raw, "s3-max-parts", GLOBAL_FLAGS["s3-max-parts"]),
    S3_MAX_PARTS,
  );
  return {
    ...(partSize === undefined ? {} : { partSize }),
    ...(maxParts === undefined ? {} : { maxParts }),
  };
}

/**
 * The Prefect connection URLs of the host environment: a malformed one is refused here, before any
 * environment is touched (otherwise the backup would silently use the defaults and fail later).
 */
function checkPrefectUrls(ctx: ParseContext, excludeTaskManager: boolean): void {
  if (!excludeTaskManager) credentialsFromEnv(ctx.env, "the host environment");
}

/** `--request-id` of restore: a short token, stored in a Lease annotation and compared as is. */
function requestId(value: unknown, source: string): string | undefined {
  const id = str(value);
  if (id === undefined || /^[A-Za-z0-9._-]{1,128}$/.test(id)) return id;
  throw invalidValue(
    source,
    `invalid ${source} ${JSON.stringify(id)}`,
    "use up to 128 letters, digits, dots, underscores or dashes",
  );
}

/** `--stale-upload-age` (create, prune): 0 disables the sweep. */
function staleUploadAge(raw: Raw, value: unknown, specs: Record<string, FlagSpec>): number {
  const spec = specs["stale-upload-age"] as FlagSpec;
  return duration(value, sourceOf(raw, "stale-upload-age", spec), DEFAULT_STALE_UPLOAD_AGE_MS);
}

function globalOptions(raw: Raw, ctx: ParseContext): GlobalOptions {
  const g = resolveFlags(raw, GLOBAL_FLAGS, ctx.env);
  const backend = str(g.backend) ?? "tarball";
  if (backend !== "tarball" && backend !== "plakar") {
    throw usage(`unknown backend: ${backend}, expected 'tarball' or 'plakar'`);
  }
  if (backend === "plakar") {
    throw usage(
      "the plakar backend is not supported by this version of infrahub-backup",
      "use --backend tarball",
    );
  }
  for (const plakar of ["repo", "backup-id", "snapshot"] as const) {
    if (str(g[plakar])) throw usage(`--${plakar} belongs to the plakar backend, which is not supported`);
  }
  const logLevel = (str(g["log-level"]) ?? "info").toLowerCase();
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw usage(`invalid log level ${JSON.stringify(logLevel)}`, "use debug, info, warn or error");
  }
  const sseType = str(g["s3-sse"]);
  const kmsKeyId = str(g["s3-sse-kms-key-id"]);
  let sse: S3Options["sse"];
  if (sseType === undefined) {
    if (kmsKeyId) sse = { type: "aws:kms", kmsKeyId };
  } else if (sseType === "AES256") {
    sse = { type: "AES256" };
  } else if (sseType === "aws:kms") {
    sse = { type: "aws:kms", ...(kmsKeyId ? { kmsKeyId } : {}) };
  } else {
    throw usage(`invalid --s3-sse ${JSON.stringify(sseType)}`, "use AES256 or aws:kms");
  }
  const checksums = str(g["s3-checksums"]);
  if (checksums !== undefined && checksums !== "when_required" && checksums !== "when_supported") {
    throw usage(`invalid --s3-checksums ${JSON.stringify(checksums)}`, "use when_required or when_supported");
  }
  const endpoint = str(g["s3-endpoint"]);
  if (endpoint !== undefined) parseEndpoint(endpoint);
  const bucket = str(g["s3-bucket"]);
  if (bucket !== undefined && !isValidBucketName(bucket)) {
    const from = sourceOf(raw, "s3-bucket", GLOBAL_FLAGS["s3-bucket"]);
    throw invalidValue(
      from,
      `invalid S3 bucket name in ${from}: ${JSON.stringify(bucket)}`,
      "bucket names are 3-63 characters: letters, digits, dots, hyphens and underscores",
    );
  }
  const interval = ctx.env.INFRAHUB_PROGRESS_INTERVAL;
  if (interval !== undefined && interval.trim() !== "" && !(Number(interval) > 0)) {
    throw invalidValue(
      "INFRAHUB_PROGRESS_INTERVAL",
      `invalid INFRAHUB_PROGRESS_INTERVAL ${JSON.stringify(interval)}`,
      "give the interval between progress lines in seconds, e.g. 10",
    );
  }
  const attemptsFrom = sourceOf(raw, "s3-max-attempts", GLOBAL_FLAGS["s3-max-attempts"]);
  return {
    project: str(g.project),
    k8sNamespace: str(g["k8s-namespace"]),
    localConfig: str(g["local-config"]),
    backupDir: str(g["backup-dir"]) ?? str(ctx.env.BACKUP_DIR) ?? join(ctx.cwd, "infrahub_backups"),
    logFormat: (str(g["log-format"]) ?? "text") as LogFormat,
    logLevel: logLevel as LogLevel,
    backend: "tarball",
    s3: {
      bucket: str(g["s3-bucket"]),
      prefix: str(g["s3-prefix"]),
      endpoint: str(g["s3-endpoint"]),
      region: str(g["s3-region"]) ?? "us-east-1",
      caBundle: str(g["s3-ca-bundle"]),
      insecureTls: bool(g["s3-insecure-tls"]),
      sse,
      storageClass: str(g["s3-storage-class"]),
      maxParts: undefined,
      partSize: undefined,
      ...partOptions(raw, g),
      checksums,
      connectTimeoutMs: timeout(raw, g, "s3-connect-timeout"),
      requestTimeoutMs: timeout(raw, g, "s3-request-timeout"),
      idleTimeoutMs: timeout(raw, g, "s3-idle-timeout"),
      maxAttempts: retention(g["s3-max-attempts"], attemptsFrom, 20),
    },
  };
}

function archiveSource(raw: Raw, latest: boolean, s3: boolean, command: string): ArchiveSource {
  const positional = str(raw.archive);
  if (latest && positional !== undefined) {
    throw usage(`${command}: give an archive or --latest, not both`);
  }
  if (s3 && !latest) throw usage(`${command}: --s3 is only valid with --latest`);
  if (latest) return { kind: "latest", s3 };
  if (positional === undefined) {
    throw usage(
      `${command} requires exactly 1 arg(s), only received 0`,
      `give a path, an s3://bucket/key URI or --latest`,
    );
  }
  return positional.startsWith("s3://")
    ? { kind: "s3", uri: positional }
    : { kind: "path", path: positional };
}

/**
 * Parses a command line into a typed command without side effects (no I/O, no printing): the
 * compatibility suite tests this directly; `main` runs what it returns.
 */
export function parseCommandLine(argv: readonly string[], ctx: ParseContext): ParseResult {
  let parsed: ParsedCommand | undefined;
  const epilogue = exitStatusHelp();
  const capture = (build: (raw: Raw) => ParsedCommand) => (raw: Raw) => {
    parsed = build(raw);
  };
  /** A command's flags and help: its own flags, and only the global flags it reads. */
  const cmd = (
    y: Argv,
    specs: Record<string, FlagSpec>,
    globals: readonly string[] = GLOBAL_FLAGS_USED.all,
  ) => {
    for (const flag of Object.keys(GLOBAL_FLAGS)) if (!globals.includes(flag)) y.hide(flag);
    return addFlags(y, specs).epilogue(epilogue);
  };

  const parser = addFlags(yargs(), GLOBAL_FLAGS, true)
    .scriptName("infrahub-backup")
    .usage(
      "$0 <command> [options]\n\nBack up and restore an Infrahub deployment (Neo4j + Prefect PostgreSQL).",
    )
    .parserConfiguration({
      "duplicate-arguments-array": false,
      "camel-case-expansion": false,
      "strip-aliased": true,
    })
    .command(
      "create",
      "Create a backup (local directory, or S3 with --s3-upload)",
      (y) =>
        cmd(y, { ...CREATE_FLAGS, ...MONITORING_FLAGS }).command(
          "from-files",
          false as unknown as string,
          (yy) => cmd(yy, FROM_FILES_FLAGS, GLOBAL_FLAGS_USED["create from-files"]),
          capture((raw) => {
            const f = resolveFlags(raw, FROM_FILES_FLAGS, ctx.env);
            const neo4jPath = str(f["neo4j-path"]);
            if (!neo4jPath) throw usage('required flag(s) "neo4j-path" not set');
            const edition = str(f["neo4j-edition"]);
            if (edition !== undefined && edition !== "enterprise" && edition !== "community") {
              throw usage(
                `invalid --neo4j-edition ${JSON.stringify(edition)}`,
                "use enterprise or community",
              );
            }
            return {
              command: "create-from-files",
              global: globalOptions(raw, ctx),
              neo4jPath,
              postgresPath: str(f["postgres-path"]),
              neo4jEdition: edition as "enterprise" | "community" | undefined,
              infrahubVersion: str(f["infrahub-version"]),
              encrypt: bool(f.encrypt) || str(f["encrypt-key"]) !== undefined,
              encryptKey: str(f["encrypt-key"]),
              archiveMode: fileMode(
                f["archive-mode"],
                sourceOf(raw, "archive-mode", FROM_FILES_FLAGS["archive-mode"]),
              ),
            };
          }),
        ),
      capture((raw) => {
        const f = resolveFlags(raw, CREATE_FLAGS, ctx.env);
        const global = globalOptions(raw, ctx);
        checkPrefectUrls(ctx, bool(f["exclude-taskmanager"]));
        const encryptKey = str(f["encrypt-key"]);
        const from = (flag: keyof typeof CREATE_FLAGS) => sourceOf(raw, flag, CREATE_FLAGS[flag]);
        return {
          command: "create",
          global,
          force: bool(f.force),
          redact: bool(f.redact),
          neo4jMetadata: str(f.neo4jmetadata) ?? "all",
          excludeTaskManager: bool(f["exclude-taskmanager"]),
          s3Upload: bool(f["s3-upload"]),
          s3KeepLocal: bool(f["s3-keep-local"]),
          sleepMs: duration(f.sleep, from("sleep")),
          encrypt: bool(f.encrypt) || encryptKey !== undefined,
          encryptKey,
          retentionDays: retention(f["retention-days"], from("retention-days")),
          retentionCount: retention(f["retention-count"], from("retention-count")),
          staleUploadAgeMs: staleUploadAge(raw, f["stale-upload-age"], CREATE_FLAGS),
          waitReadyMs: duration(f["wait-ready"], from("wait-ready")),
          staging: (str(f.staging) ?? "auto") as StagingMode,
          archiveMode: fileMode(f["archive-mode"], from("archive-mode")),
          monitoring: monitoringOptions(raw, argv, ctx.env),
        };
      }),
    )
    .command(
      "restore [archive]",
      "Restore a backup from a path, s3://bucket/key, or --latest [--s3]",
      (y) =>
        cmd(y, { ...RESTORE_FLAGS, ...MONITORING_FLAGS }).positional("archive", {
          type: "string",
          describe: "Archive path or s3://bucket/key",
        }),
      capture((raw) => {
        const f = resolveFlags(raw, RESTORE_FLAGS, ctx.env);
        const global = globalOptions(raw, ctx);
        checkPrefectUrls(ctx, bool(f["exclude-taskmanager"]));
        return {
          command: "restore",
          global,
          source: archiveSource(raw, bool(f.latest), bool(f.s3), "restore"),
          excludeTaskManager: bool(f["exclude-taskmanager"]),
          migrateFormat: bool(f["migrate-format"]),
          sleepMs: duration(f.sleep, "--sleep"),
          decryptKey: str(f["decrypt-key"]),
          force: bool(f.force),
          resetDeploymentId: bool(f["reset-deployment-id"]),
          allowNonAtomic: bool(f["allow-non-atomic"]),
          staging: (str(f.staging) ?? "auto") as StagingMode,
          dryRun: bool(f["dry-run"]),
          yes: bool(f.yes),
          waitReadyMs: duration(f["wait-ready"], sourceOf(raw, "wait-ready", RESTORE_FLAGS["wait-ready"])),
          requestId: requestId(f["request-id"], sourceOf(raw, "request-id", RESTORE_FLAGS["request-id"])),
          onlyIfFresh: bool(f["only-if-fresh"]),
          monitoring: monitoringOptions(raw, argv, ctx.env),
        };
      }),
    )
    .command(
      "verify [archive]",
      "Read an archive end to end and check every checksum; changes nothing",
      (y) =>
        cmd(y, { ...VERIFY_FLAGS, ...MONITORING_FLAGS }, GLOBAL_FLAGS_USED.storage).positional("archive", {
          type: "string",
          describe: "Archive path or s3://bucket/key",
        }),
      capture((raw) => {
        const f = resolveFlags(raw, VERIFY_FLAGS, ctx.env);
        return {
          command: "verify",
          global: globalOptions(raw, ctx),
          source: archiveSource(raw, bool(f.latest), bool(f.s3), "verify"),
          decryptKey: str(f["decrypt-key"]),
          excludeTaskManager: bool(f["exclude-taskmanager"]),
          monitoring: monitoringOptions(raw, argv, ctx.env),
        };
      }),
    )
    .command(
      "drill [archive]",
      "Restore an archive into throwaway Neo4j and PostgreSQL started for it, check the data, remove them",
      (y) =>
        cmd(y, { ...DRILL_FLAGS, ...MONITORING_FLAGS }, GLOBAL_FLAGS_USED.storage).positional("archive", {
          type: "string",
          describe: "Archive path or s3://bucket/key",
        }),
      capture((raw) =>
        parseDrill(raw, ctx.env, {
          global: globalOptions(raw, ctx),
          source: (latest, s3) => archiveSource(raw, latest, s3, "drill"),
          monitoring: monitoringOptions(raw, argv, ctx.env),
        }),
      ),
    )
    .command(
      "list",
      "List archives in --backup-dir, or in S3 with --s3 (newest first)",
      (y) => cmd(y, LIST_FLAGS, GLOBAL_FLAGS_USED.storage),
      capture((raw) => {
        const f = resolveFlags(raw, LIST_FLAGS, ctx.env);
        return { command: "list", global: globalOptions(raw, ctx), s3: bool(f.s3) };
      }),
    )
    .command(
      "prune",
      "Delete old archives by --retention-days and/or --retention-count (newest always kept)",
      (y) => cmd(y, { ...PRUNE_FLAGS, ...MONITORING_FLAGS }, GLOBAL_FLAGS_USED.storage),
      capture((raw) => {
        const f = resolveFlags(raw, PRUNE_FLAGS, ctx.env);
        const from = (flag: keyof typeof PRUNE_FLAGS) => sourceOf(raw, flag, PRUNE_FLAGS[flag]);
        const retentionDays = retention(f["retention-days"], from("retention-days"));
        const retentionCount = retention(f["retention-count"], from("retention-count"));
        if (retentionDays === undefined && retentionCount === undefined) {
          throw usage("prune needs --retention-days and/or --retention-count");
        }
        return {
          command: "prune",
          global: globalOptions(raw, ctx),
          retentionDays,
          retentionCount,
          s3: bool(f.s3),
          dryRun: bool(f["dry-run"]),
          yes: bool(f.yes) || bool(f.force),
          staleUploadAgeMs: staleUploadAge(raw, f["stale-upload-age"], PRUNE_FLAGS),
          monitoring: monitoringOptions(raw, argv, ctx.env),
        };
      }),
    )
    .command(
      "keygen",
      "Generate a P-256 key pair for --encrypt-key / --decrypt-key",
      (y) => cmd(y, KEYGEN_FLAGS, GLOBAL_FLAGS_USED.output),
      capture((raw) => {
        const f = resolveFlags(raw, KEYGEN_FLAGS, ctx.env);
        return { command: "keygen", global: globalOptions(raw, ctx), output: str(f.output) ?? "backup.key" };
      }),
    )
    .command("environment", "Find Infrahub deployments", (y) =>
      cmd(y, {}, GLOBAL_FLAGS_USED.environment)
        .command(
          "detect",
          "Select the Infrahub environment and log it",
          (yy) => cmd(yy, {}, GLOBAL_FLAGS_USED.environment),
          capture((raw) => ({ command: "environment-detect", global: globalOptions(raw, ctx) })),
        )
        .command(
          "list",
          "Print the Compose projects / namespaces running Infrahub",
          (yy) => cmd(yy, {}, GLOBAL_FLAGS_USED.environment),
          capture((raw) => ({ command: "environment-list", global: globalOptions(raw, ctx) })),
        )
        .demandCommand(1, "environment needs a subcommand: detect or list"),
    )
    .command(
      "version",
      "Print the version",
      (y) => cmd(y, {}, GLOBAL_FLAGS_USED.output),
      capture((raw) => ({ command: "version", global: globalOptions(raw, ctx) })),
    )
    .epilogue(epilogue)
    .strict()
    .demandCommand(1, "a command is required")
    .version(ctx.version)
    .help()
    .alias("help", "h")
    .updateStrings({ "Options:": "Global options:" })
    .wrap(100)
    .exitProcess(false)
    .fail((message, error) => {
      if (error instanceof BackupError) throw error;
      throw usage(message ?? error?.message ?? "invalid command line", "see infrahub-backup --help");
    });

  let output = "";
  let failure: unknown;
  // No command at all: upstream prints the help.
  parser.parse(argv.length === 0 ? ["--help"] : [...argv], {}, (error, _args, text) => {
    if (error) failure = error;
    output = text ?? "";
  });
  if (failure) throw failure instanceof BackupError ? failure : usage(String((failure as Error).message));
  if (parsed) return { kind: "command", command: parsed };
  if (output) return { kind: "output", text: output };
  throw usage("a command is required", "see infrahub-backup --help");
}
