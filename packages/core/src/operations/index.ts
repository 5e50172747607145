// The operations seam's public surface: create, restore, verify, list and prune, and the progress events
// they emit (the events module is public as a whole).

export type { DrillBackupOptions, DrillBackupResult } from "../drill/drill-backup.js";
export { drillBackup } from "../drill/drill-backup.js";
export type { DrillCheckResult, DrillCheckStatus, DrillUserCheck } from "../drill/drill-checks.js";
export { validateUserCheck } from "../drill/drill-checks.js";
export type { DrillExchangeOptions } from "../drill/exchange-agent.js";
export { releaseDrillAgents } from "../drill/exchange-agent.js";
export type { DrillNeo4jOptions } from "../drill/throwaway-neo4j.js";
export type { DrillPostgresOptions } from "../drill/throwaway-postgres.js";
export type { Neo4jServerInfo } from "../engines/neo4j/edition.js";
export type { CreateBackupOptions, CreateBackupResult } from "./create-backup.js";
export { createBackup } from "./create-backup.js";
export type { CreateFromFilesOptions } from "./create-from-files.js";
export { createBackupFromFiles } from "./create-from-files.js";
export type { HostEnv } from "./deployment.js";
export * from "./events.js";
export type { FreshnessCredentials, FreshnessReport, ProbeFreshnessOptions } from "./freshness.js";
export { FRESH_INFRAHUB, findFreshnessCredentials, probeFreshness } from "./freshness.js";
export type { RecoverLeftoversOptions } from "./recover-leftovers.js";
export { recoverLeftovers } from "./recover-leftovers.js";
export type { RestoreBackupOptions, RestoreBackupResult, RestorePlan } from "./restore-backup.js";
export { restoreBackup } from "./restore-backup.js";
export type { StagingMode } from "./staging.js";
export { listBackups, pruneBackups, verifyBackup } from "./verify-backup.js";
