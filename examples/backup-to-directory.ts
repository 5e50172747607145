// Backs up an Infrahub deployment that runs on this host to a directory, lists and verifies the
// directory's backups, then restores the new one — through @infrahub-backup/core's published entry
// points only. Run it (from the repository):
//   pnpm --filter @infrahub-backup/examples backup-to-directory <local-config.json> <directory> <freeze-helper-dir>
// where local-config.json is what the CLI's --local-config reads (services, their environments and the
// Neo4j runtime) and the freeze helper is the image's neo4j-freeze-linux-<arch> (Neo4j Community).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { LocalEnvironment, type LocalEnvironmentOptions } from "@infrahub-backup/core/environment";
import { isBackupError } from "@infrahub-backup/core/errors";
import {
  createBackup,
  listBackups,
  type OperationEvent,
  restoreBackup,
  verifyBackup,
} from "@infrahub-backup/core/operations";
import { formatBytes, LocalStore } from "@infrahub-backup/core/storage";

export interface BackupToDirectoryOptions {
  /** Where Infrahub's services run and how to stop and start them. */
  environment: LocalEnvironmentOptions;
  /** The backups' directory (created when missing). */
  directory: string;
  /** Path of the Neo4j freeze helper for an architecture. */
  freezeHelper: (arch: "amd64" | "arm64") => string;
  /** One line per step; default: none. */
  log?: (line: string) => void;
  /** Every progress event of the operations. */
  onEvent?: (event: OperationEvent) => void;
  /** Asked before the restore replaces the deployment's data; default: yes. */
  confirmRestore?: (name: string) => Promise<boolean>;
}

export interface BackupToDirectoryResult {
  /** The new archive's name in the directory. */
  name: string;
  /** Every archive in the directory, newest first. */
  listed: string[];
  /** Whether the new archive read back complete with matching checksums. */
  verified: boolean;
  /** Whether the deployment now runs on the backup's data. */
  restored: boolean;
}

export async function backupToDirectory(options: BackupToDirectoryOptions): Promise<BackupToDirectoryResult> {
  const log = options.log ?? (() => undefined);
  const environment = new LocalEnvironment(options.environment);
  const store = new LocalStore({ directory: options.directory });
  const common = { environment, store, freezeHelper: options.freezeHelper, ...eventsOf(options) };

  const created = await createBackup({ ...common, toolVersion: "example" });
  log(`created ${created.name} (${formatBytes(created.size)})`);

  const listed = (await listBackups(store)).map((archive) => archive.name);
  log(`the directory has ${listed.length} backup(s), newest first: ${listed.join(", ")}`);

  const report = await verifyBackup({ store, name: created.name });
  log(`verified ${created.name}: ${report.ok ? "ok" : report.problems.map((p) => p.message).join("; ")}`);
  if (!report.ok) return { name: created.name, listed, verified: false, restored: false };

  if (options.confirmRestore && !(await options.confirmRestore(created.name))) {
    return { name: created.name, listed, verified: true, restored: false };
  }
  const restored = await restoreBackup({ ...common, name: created.name });
  const { neo4j, postgres } = restored.plan;
  log(
    `restored ${created.name}: Neo4j (${neo4j.method})${postgres ? `, PostgreSQL ${postgres.database}` : ""}`,
  );
  return { name: created.name, listed, verified: true, restored: true };
}

function eventsOf(options: BackupToDirectoryOptions): { onEvent?: (event: OperationEvent) => void } {
  return options.onEvent ? { onEvent: options.onEvent } : {};
}

async function main(argv: string[]): Promise<number> {
  const [configPath, directory, helperDir] = argv;
  if (!configPath || !directory || !helperDir) {
    process.stderr.write("usage: backup-to-directory <local-config.json> <directory> <freeze-helper-dir>\n");
    return 2;
  }
  const environment = JSON.parse(await readFile(configPath, "utf8")) as LocalEnvironmentOptions;
  try {
    await backupToDirectory({
      environment,
      directory,
      freezeHelper: (arch) => join(helperDir, `neo4j-freeze-linux-${arch}`),
      log: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } catch (error) {
    // Library errors carry a stable code and a hint for the operator.
    if (!isBackupError(error)) throw error;
    process.stderr.write(`${error.code}: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ""}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
