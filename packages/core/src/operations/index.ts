export type { CreateBackupOptions, CreateBackupResult } from "./create-backup.js";
export { createBackup } from "./create-backup.js";
export type { CreateFromFilesOptions } from "./create-from-files.js";
export { createBackupFromFiles } from "./create-from-files.js";
export type { HostEnv } from "./deployment.js";
export type { EventSink, OperationEvent } from "./events.js";
export type { RestoreBackupOptions, RestoreBackupResult, RestorePlan } from "./restore-backup.js";
export { restoreBackup } from "./restore-backup.js";
export { listBackups, pruneBackups, verifyBackup } from "./verify-backup.js";
