export type { ArchiveSink, SinkCommit } from "./archive/archive-sink.js";
export type { ErrorCategory, ErrorCode } from "./errors.js";
export { BackupError, ERROR_CODES, errorCategory, isBackupError } from "./errors.js";
