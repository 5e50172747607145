import type { ArchiveWriter } from "../archive/archive-writer.js";
import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import { cypherShell, plainRows } from "../engines/neo4j/cypher-shell.js";
import {
  enterpriseBackupSteps,
  enterpriseRestoreSteps,
  parseArtefactList,
} from "../engines/neo4j/enterprise.js";
import { BackupError } from "../errors.js";
import { runCommand, streamCommand } from "../exec/command.js";
import type { Executor } from "../exec/executor.js";
import { containerWorkDir, removeContainerDir } from "../exec/work-dir.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

const FAILED = { failureCode: "DATABASE_COMMAND_FAILED" } as const;

/**
 * Enterprise online backup (no service is stopped): `neo4j-admin database backup` into a fresh directory
 * in the container, then each artefact streamed into the archive as `database/<name>`, its byte count
 * checked against the size the container reported (transport truncation cannot pass).
 */
export async function captureEnterprise(
  executor: Executor,
  credentials: Neo4jCredentials,
  writer: ArchiveWriter,
  options: { includeMetadata: string; adminUser?: string; onEvent: EventSink; signal?: AbortSignal },
): Promise<void> {
  const workDir = containerWorkDir();
  const sig = options.signal ? { signal: options.signal } : {};
  const steps = enterpriseBackupSteps({
    database: credentials.database,
    includeMetadata: options.includeMetadata,
    workDir,
    ...(options.adminUser ? { adminUser: options.adminUser } : {}),
  });
  try {
    let listing = "";
    for (const step of steps) {
      options.onEvent({ type: "command-started", what: step.what });
      listing = await runCommand(executor, { ...step.request, ...sig }, { what: step.what, ...FAILED });
    }
    const artefacts = parseArtefactList(listing);
    if (artefacts.length === 0) {
      throw new BackupError(
        "DATABASE_COMMAND_FAILED",
        "neo4j-admin database backup left no artefact to archive",
      );
    }
    for (const artefact of artefacts) {
      const path = `database/${artefact.name}`;
      const cat = streamCommand(
        executor,
        { argv: ["cat", `${workDir}/${artefact.name}`], ...sig },
        { what: `reading ${artefact.name}`, ...FAILED },
      );
      const written = await writer.addFile(path, cat.stdout);
      await cat.done;
      if (written.size !== artefact.size) {
        throw new BackupError(
          "DATABASE_COMMAND_FAILED",
          `${artefact.name}: received ${written.size} bytes, the container has ${artefact.size}`,
        );
      }
    }
  } finally {
    await removeBackupWorkDir(executor, workDir, options.onEvent);
  }
}

/**
 * The work directory holds a full copy of the database: one left behind costs the container that much disk,
 * so it is warned about (never thrown: the archive's outcome is what the caller needs).
 */
async function removeBackupWorkDir(executor: Executor, workDir: string, onEvent: EventSink): Promise<void> {
  const problem = await removeContainerDir(executor, workDir);
  if (problem !== undefined) {
    onEvent(
      warning(
        "BACKUP_WORK_DIR_LEFT",
        `could not remove the backup's work directory ${workDir} on ${executor.target} (${problem}): remove it by hand`,
        { workDir },
      ),
    );
  }
}

/** Refuses a Neo4j cluster: its restore procedure (seeding the other members) is not supported yet. */
export async function assertSingleInstance(executor: Executor, credentials: Neo4jCredentials): Promise<void> {
  const rows = plainRows(
    await cypherShell(executor, credentials, "SHOW SERVERS YIELD name RETURN count(*) AS servers", {
      database: "system",
    }),
  );
  const servers = Number(rows.at(-1));
  if (servers > 1) {
    throw new BackupError("INCOMPATIBLE_BACKUP", `Neo4j runs as a cluster of ${servers} servers`, {
      hint: "restoring an Enterprise cluster is not supported by this version; nothing was changed",
    });
  }
}

/** Writes one artefact of exactly `bytes` bytes into the work directory (byte-counted input). */
export async function stageArtefact(
  executor: Executor,
  workDir: string,
  name: string,
  input: NodeJS.ReadableStream & AsyncIterable<unknown>,
  bytes: number,
  signal?: AbortSignal,
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: ["sh", "-c", 'mkdir -p -m 0700 "$D" && head -c "$N" > "$D/$F"'],
      env: { D: workDir, N: String(bytes), F: name },
      stdin: input as AsyncIterable<Uint8Array>,
      ...(signal ? { signal } : {}),
    },
    { what: `staging ${name} in the database container`, ...FAILED },
  );
}

/** Runs the Enterprise restore sequence over staged artefacts. */
export async function applyEnterpriseRestore(
  executor: Executor,
  credentials: Neo4jCredentials,
  workDir: string,
  options: { migrateFormat?: boolean; adminUser?: string; onEvent: EventSink; signal?: AbortSignal },
): Promise<void> {
  const steps = enterpriseRestoreSteps({
    credentials,
    workDir,
    ...(options.migrateFormat ? { migrateFormat: true } : {}),
    ...(options.adminUser ? { adminUser: options.adminUser } : {}),
  });
  for (const step of steps) {
    options.onEvent({ type: "command-started", what: step.what });
    await runCommand(
      executor,
      { ...step.request, ...(options.signal ? { signal: options.signal } : {}) },
      { what: step.what, ...FAILED },
    );
  }
}
