// The storage seam's public surface: the BackupStore interface, its local and S3 implementations, and the
// S3 bounds and parsers the CLI validates flags with. Everything else in this folder is internal.
export { abortActiveUploads } from "./active-uploads.js";
export type { ArchiveName } from "./archive-name.js";
export type {
  BackupStore,
  GetOptions,
  ListedArchive,
  ListedObject,
  ObjectInfo,
  ObjectStream,
  PutOptions,
  StaleUpload,
  StaleUploadsOptions,
  StaleUploadsResult,
  StorageLogger,
} from "./backup-store.js";
export { formatBytes } from "./format-bytes.js";
export type { FileSinkFactory, LocalStoreOptions } from "./local-store.js";
export { LocalStore } from "./local-store.js";
export { S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE } from "./part-plan.js";
export type {
  KeepReason,
  RetentionDecision,
  RetentionPlan,
  RetentionResult,
  RetentionRules,
} from "./retention.js";
export type { S3Deadlines } from "./s3-deadlines.js";
export { S3_DEADLINE_DEFAULTS } from "./s3-deadlines.js";
export type { S3Location } from "./s3-location.js";
export { isValidBucketName, parseS3Uri, splitKey } from "./s3-location.js";
export type { S3Credentials, S3StoreOptions } from "./s3-store.js";
export { DEFAULT_UPLOAD_CONCURRENCY, parseEndpoint, S3Store } from "./s3-store.js";
