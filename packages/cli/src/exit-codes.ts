import { type ErrorCategory, isBackupError } from "@infrahub-backup/core";

/**
 * The CLI's one exit-code table. Append only: scripts and CronJob alerting depend on these numbers.
 * Upstream exits 1 on every failure; every failure here is still non-zero.
 */
export const EXIT_CODES = [
  { code: 0, category: "success", meaning: "success" },
  { code: 1, category: "internal", meaning: "internal or unexpected error" },
  { code: 2, category: "usage", meaning: "usage error: invalid command line, flag, env value or key" },
  { code: 3, category: "environment", meaning: "Infrahub environment or one of its services not found" },
  { code: 4, category: "storage-auth", meaning: "storage credentials rejected or permission denied" },
  { code: 5, category: "not-found", meaning: "backup archive not found" },
  { code: 6, category: "integrity", meaning: "archive corrupt, checksum mismatch or incompatible" },
  { code: 7, category: "database", meaning: "database unavailable or a database command failed" },
  { code: 8, category: "partial", meaning: "restore incomplete or services not returned to their scale" },
  { code: 9, category: "storage", meaning: "other storage failure (unreachable, quota, no space, …)" },
  { code: 10, category: "busy", meaning: "another backup or restore of this deployment is running" },
  { code: 11, category: "declined", meaning: "declined at the confirmation prompt; nothing was changed" },
  { code: 12, category: "check-failed", meaning: "drill: the archive loads, but a check of its data failed" },
  { code: 130, category: "cancelled", meaning: "cancelled (SIGINT; 143 for SIGTERM)" },
] as const satisfies readonly { code: number; category: ErrorCategory | "success"; meaning: string }[];

const BY_CATEGORY = new Map<string, number>(EXIT_CODES.map((e) => [e.category, e.code]));

export function exitCodeForCategory(category: ErrorCategory): number {
  return BY_CATEGORY.get(category) ?? 1;
}

export function exitCodeFor(error: unknown): number {
  return isBackupError(error) ? exitCodeForCategory(error.category) : 1;
}

/** The EXIT STATUS section every command's help ends with. */
export function exitStatusHelp(): string {
  const lines = EXIT_CODES.map((e) => `  ${String(e.code).padStart(3)}  ${e.meaning}`);
  return ["EXIT STATUS", ...lines].join("\n");
}
