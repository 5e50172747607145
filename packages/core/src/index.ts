export * from "./archive/index.js";
export * from "./engines/index.js";
export * from "./environment/index.js";
export type { ErrorCategory, ErrorCode } from "./errors.js";
export { BackupError, ERROR_CODES, errorCategory, isBackupError } from "./errors.js";
export * from "./exec/index.js";
export * from "./operations/index.js";
export * from "./storage/index.js";
