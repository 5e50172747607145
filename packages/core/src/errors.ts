/**
 * The one error type of the library. `code` is stable (scripts and the CLI's exit-code table depend on
 * it); `message` says what happened; `hint` says what to do about it. Messages never carry secrets.
 */
export class BackupError extends Error {
  /** Always `BackupError` (survives serialisation, unlike `instanceof`). */
  override readonly name = "BackupError";
  /** Stable code (ERROR_CODES); scripts and the CLI's exit codes depend on it. */
  readonly code: ErrorCode;
  /** What the user can do about it, when there is something. */
  readonly hint: string | undefined;
  /** Structured facts for JSON output (paths, keys, counts); never secrets. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** The code's category (ERROR_CATEGORY), which the CLI maps to an exit code. */
  get category(): ErrorCategory {
    return ERROR_CATEGORY[this.code];
  }
}

/** True when `value` is a BackupError (with `code`, when given). */
export function isBackupError(value: unknown, code?: ErrorCode): value is BackupError {
  return value instanceof BackupError && (code === undefined || value.code === code);
}

/**
 * Broad classes of failure; the CLI maps each to one exit code (append-only table in the CLI).
 */
export type ErrorCategory =
  | "usage"
  | "environment"
  | "storage-auth"
  | "storage"
  | "not-found"
  | "integrity"
  | "database"
  | "partial"
  | "cancelled"
  | "busy"
  | "declined"
  | "check-failed"
  | "internal";

/**
 * Every stable error code and its category. Append only: codes are part of the public contract (the API
 * report lists them, so a new code is a reviewed change).
 */
export const ERROR_CATEGORY = {
  // usage / configuration
  INVALID_ARGUMENT: "usage",
  INVALID_CONFIG: "usage",
  INVALID_S3_URI: "usage",
  INVALID_ENDPOINT: "usage",
  /** The CLI refuses a Node.js older than its `engines` field (reported before anything is loaded). */
  NODE_UNSUPPORTED: "usage",
  // environment discovery
  ENVIRONMENT_NOT_FOUND: "environment",
  ENVIRONMENT_AMBIGUOUS: "environment",
  SERVICE_NOT_FOUND: "environment",
  EXEC_FAILED: "environment",
  EXEC_PROTOCOL_UNSUPPORTED: "environment",
  UNSAFE_SCALE_DOWN: "environment",
  /** A workload held at zero for an operation was scaled up by someone else (a GitOps controller …). */
  SCALE_CONFLICT: "environment",
  /** Infrahub's pods did not become Running and Ready within --wait-ready. */
  DEPLOYMENT_NOT_READY: "environment",
  // storage
  STORAGE_CREDENTIALS: "storage-auth",
  STORAGE_ACCESS_DENIED: "storage-auth",
  STORAGE_NO_BUCKET: "storage",
  STORAGE_UNREACHABLE: "storage",
  STORAGE_TLS: "storage",
  STORAGE_TOO_LARGE: "storage",
  STORAGE_QUOTA: "storage",
  STORAGE_THROTTLED: "storage",
  STORAGE_NO_SPACE: "storage",
  STORAGE_CHANGED: "storage",
  STORAGE_FAILED: "storage",
  ARTIFACT_NOT_FOUND: "not-found",
  ARTIFACT_EXISTS: "storage",
  // archive integrity
  ARCHIVE_NOT_GZIP: "integrity",
  ARCHIVE_TRUNCATED: "integrity",
  ARCHIVE_CORRUPT: "integrity",
  ARCHIVE_UNSAFE_PATH: "integrity",
  ARCHIVE_DUPLICATE_ENTRY: "integrity",
  ARCHIVE_UNSUPPORTED_ENTRY: "integrity",
  ARCHIVE_UNEXPECTED_FILE: "integrity",
  ARCHIVE_MISSING_FILE: "integrity",
  ARCHIVE_CHECKSUM_MISMATCH: "integrity",
  ARCHIVE_CHECKSUM_MISSING: "integrity",
  METADATA_MISSING: "integrity",
  METADATA_INVALID: "integrity",
  METADATA_TOO_LARGE: "integrity",
  CAPTURE_INCOMPLETE: "integrity",
  ENCRYPTION_KEY_REQUIRED: "usage",
  ENCRYPTION_KEY_INVALID: "usage",
  ENCRYPTION_UNEXPECTED_KEY: "usage",
  DECRYPTION_FAILED: "integrity",
  INCOMPATIBLE_BACKUP: "integrity",
  // databases
  DATABASE_UNAVAILABLE: "database",
  DATABASE_AUTH: "database",
  DATABASE_COMMAND_FAILED: "database",
  EDITION_UNKNOWN: "database",
  TASKS_RUNNING: "environment",
  OPERATION_IN_PROGRESS: "busy",
  NO_ROOM_TO_ROLL_BACK: "environment",
  NO_ROOM_TO_STAGE: "environment",
  // restore state
  RESTORE_PARTIAL: "partial",
  SERVICES_NOT_RESTORED: "partial",
  // control
  CANCELLED: "cancelled",
  /** The user answered no at a confirmation prompt; nothing was changed. */
  DECLINED: "declined",
  TIMEOUT: "internal",
  INTERNAL: "internal",
  // drill (a restore into throwaway databases)
  /** The throwaway Neo4j or PostgreSQL of a drill could not be set up (installation, ports, disk). */
  DRILL_SETUP_FAILED: "environment",
  /** The archive's checksums are right, but a dump does not load into, or start as, a database. */
  DRILL_LOAD_FAILED: "integrity",
  /** The drilled databases load and serve, but a check of their data failed. */
  DRILL_CHECK_FAILED: "check-failed",
} as const satisfies Record<string, ErrorCategory>;

/** Every stable error code: the keys of ERROR_CATEGORY. */
export type ErrorCode = keyof typeof ERROR_CATEGORY;
/** Every stable error code, in catalogue order. */
export const ERROR_CODES = Object.freeze(Object.keys(ERROR_CATEGORY) as ErrorCode[]);
/** The category of an error code. */
export function errorCategory(code: ErrorCode): ErrorCategory {
  return ERROR_CATEGORY[code];
}
