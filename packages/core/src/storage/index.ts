export type { AbortableUpload, AbortOnSignalsOptions } from "./active-uploads.js";
export { abortActiveUploads, abortUploadsOnSignals, activeUploads } from "./active-uploads.js";
export type { ArchiveName, StampTimeZone } from "./archive-name.js";
export {
  ARCHIVE_NAME_PATTERN,
  compareArchivesNewestFirst,
  formatArchiveName,
  parseArchiveName,
  stampToDate,
} from "./archive-name.js";
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
export { assertName, isStaleUploadName, newestArchive, WRITE_CHECK_PREFIX } from "./backup-store.js";
export type { FileSinkOptions } from "./file-sink.js";
export { FileSink } from "./file-sink.js";
export type { FileSinkFactory, LocalStoreOptions } from "./local-store.js";
export { LocalStore } from "./local-store.js";
export type { PartPlan, PartPlanOptions } from "./part-plan.js";
export { partSizeFor, planParts, S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE } from "./part-plan.js";
export type {
  KeepReason,
  RetentionDecision,
  RetentionOptions,
  RetentionPlan,
  RetentionResult,
  RetentionRules,
} from "./retention.js";
export { applyRetention, planRetention, validateRetentionRules } from "./retention.js";
export type { S3Deadlines, S3TimeoutKind } from "./s3-deadlines.js";
export { S3_DEADLINE_DEFAULTS, S3RetryStrategy, stallLimitMs, timeoutKind } from "./s3-deadlines.js";
export type { S3ErrorContext } from "./s3-errors.js";
export { iamAction, isTransientS3Error, mapS3Error, s3StallError } from "./s3-errors.js";
export type { S3Location } from "./s3-location.js";
export {
  formatS3Uri,
  isValidBucketName,
  normalizePrefix,
  objectKey,
  parseS3Uri,
  splitKey,
} from "./s3-location.js";
export type { S3ObjectParams } from "./s3-multipart-sink.js";
export { S3MultipartSink } from "./s3-multipart-sink.js";
export type { S3Credentials, S3StoreOptions } from "./s3-store.js";
export { DEFAULT_UPLOAD_CONCURRENCY, parseEndpoint, S3Store } from "./s3-store.js";
