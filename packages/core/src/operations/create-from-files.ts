import type { KeyObject } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { ArchiveWriter, type WrittenEntry } from "../archive/archive-writer.js";
import { type BackupMetadata, formatCreatedAt } from "../archive/backup-metadata.js";
import { EncryptingSink } from "../archive/encryption.js";
import type { Neo4jEdition } from "../engines/neo4j/edition.js";
import { NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { PG_DUMP_MAGIC } from "../engines/postgres/postgres-engine.js";
import { BackupError } from "../errors.js";
import { formatArchiveName } from "../storage/archive-name.js";
import type { BackupStore } from "../storage/backup-store.js";

export interface CreateFromFilesOptions {
  store: BackupStore;
  toolVersion: string;
  /** A Community `.dump` file, or a directory of Enterprise backup artefacts. */
  neo4jPath: string;
  /** A `pg_dump -Fc` file of the Prefect database. */
  postgresPath?: string;
  /** Default: one `.dump` file means community, anything else enterprise (upstream's rule). */
  neo4jEdition?: Neo4jEdition;
  /** Written as given (upstream: may be empty). */
  infrahubVersion?: string;
  encryptTo?: KeyObject;
  now?: () => Date;
  signal?: AbortSignal;
}

async function startsWith(path: string, magics: readonly Buffer[]): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return magics.some((m) => bytesRead >= m.length && head.subarray(0, m.length).equals(m));
  } finally {
    await handle.close();
  }
}

/**
 * Upstream's hidden `create from-files`: archives dump files made elsewhere, in the same layout and with
 * the same metadata as a regular backup, without touching any deployment. Each file is checked to be
 * what it claims (Neo4j dump / pg_dump custom format) before anything is written.
 */
export async function createBackupFromFiles(options: CreateFromFilesOptions): Promise<{
  name: string;
  location: string;
  size: number;
  metadata: BackupMetadata;
  entries: WrittenEntry[];
}> {
  const neo4jStat = await stat(options.neo4jPath).catch(() => undefined);
  if (!neo4jStat) {
    throw new BackupError("ARTIFACT_NOT_FOUND", `--neo4j-path ${options.neo4jPath} does not exist`);
  }
  let neo4jFiles: string[];
  if (neo4jStat.isDirectory()) {
    const names = (await readdir(options.neo4jPath, { withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => d.name)
      .sort();
    neo4jFiles = names.map((n) => join(options.neo4jPath, n));
  } else {
    neo4jFiles = [options.neo4jPath];
  }
  if (neo4jFiles.length === 0) {
    throw new BackupError("INVALID_ARGUMENT", `--neo4j-path ${options.neo4jPath} holds no file`);
  }
  const isSingleDump = neo4jFiles.length === 1 && neo4jFiles[0]!.endsWith(".dump");
  const edition: Neo4jEdition = options.neo4jEdition ?? (isSingleDump ? "community" : "enterprise");
  if (edition === "community") {
    if (!isSingleDump) {
      throw new BackupError("INVALID_ARGUMENT", "a Community backup is one <database>.dump file", {
        hint: "point --neo4j-path at the .dump file, or use --neo4j-edition enterprise for backup artefacts",
      });
    }
    if (!(await startsWith(neo4jFiles[0]!, NEO4J_DUMP_MAGICS))) {
      throw new BackupError("INVALID_ARGUMENT", `${neo4jFiles[0]} is not a Neo4j dump (no DZV1/DGV1 magic)`);
    }
  }
  if (options.postgresPath !== undefined && !(await startsWith(options.postgresPath, [PG_DUMP_MAGIC]))) {
    throw new BackupError("INVALID_ARGUMENT", `${options.postgresPath} is not a pg_dump custom-format file`, {
      hint: "create it with pg_dump -Fc",
    });
  }

  const now = (options.now ?? (() => new Date()))();
  const encrypted = options.encryptTo !== undefined;
  const name = formatArchiveName(now, { encrypted });
  const target = await options.store.put(name, { signal: options.signal });
  const sink: ArchiveSink = options.encryptTo ? new EncryptingSink(target, options.encryptTo) : target;
  const writer = new ArchiveWriter(sink, { mtime: now });
  try {
    for (const file of neo4jFiles) await writer.addFile(`database/${basename(file)}`, createReadStream(file));
    if (options.postgresPath !== undefined)
      await writer.addFile("prefect.dump", createReadStream(options.postgresPath));
    const result = await writer.finish({
      backupId: name.replace(/\.tar\.gz(\.enc)?$/, ""),
      createdAt: formatCreatedAt(now),
      toolVersion: options.toolVersion,
      infrahubVersion: options.infrahubVersion ?? "",
      components: options.postgresPath !== undefined ? ["database", "task-manager-db"] : ["database"],
      neo4jEdition: edition,
      ...(encrypted ? { encrypted: true } : {}),
    });
    return {
      name,
      location: result.commit.location,
      size: result.commit.size,
      metadata: result.metadata,
      entries: result.entries,
    };
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    throw error;
  }
}
