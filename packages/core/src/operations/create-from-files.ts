import type { KeyObject } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { ArchiveWriter, checkEntryPath, type WrittenEntry } from "../archive/archive-writer.js";
import { type BackupMetadata, formatCreatedAt } from "../archive/backup-metadata.js";
import { EncryptingSink } from "../archive/encryption.js";
import type { Neo4jEdition } from "../engines/neo4j/edition.js";
import { NEO4J_DUMP_MAGICS } from "../engines/neo4j/offline.js";
import { PG_DUMP_MAGIC } from "../engines/postgres/postgres-engine.js";
import { BackupError } from "../errors.js";
import { formatArchiveName } from "../storage/archive-name.js";
import type { BackupStore } from "../storage/backup-store.js";

/**
 * Options of createBackupFromFiles: an archive from dump files that exist already (no deployment is touched).
 */
export interface CreateFromFilesOptions {
  /** Where the archive is written. */
  store: BackupStore;
  /** Written as `tool_version`. */
  toolVersion: string;
  /** A Community `.dump` file, or a directory of Enterprise backup artefacts. */
  neo4jPath: string;
  /** A `pg_dump -Fc` file of the Prefect database. */
  postgresPath?: string;
  /** Default: one `.dump` file means community, anything else enterprise (upstream's rule). */
  neo4jEdition?: Neo4jEdition;
  /** Written as given (upstream: may be empty). */
  infrahubVersion?: string;
  /** Encrypt to this recipient public key (upstream ECIES v2); the name gets `.enc`. */
  encryptTo?: KeyObject;
  /** Clock for the archive name and `created_at`. Default: now. */
  now?: () => Date;
  /** Aborts the write; nothing is left in the store. */
  signal?: AbortSignal;
}

interface Artefact {
  path: string;
  /** An empty directory (a directory holding files gets its entry with its first file). */
  directory: boolean;
}

/**
 * Every file under `root` and every empty directory, depth first in byte order of names at each
 * level — the order of upstream's recursive copy and of Go's `filepath.Walk`, whose relative paths are
 * its checksum keys. A symbolic link to a file counts as that file (upstream copies its content);
 * anything else that is not a file or a directory is refused before anything is written.
 */
async function walkArtefacts(root: string): Promise<Artefact[]> {
  const found: Artefact[] = [];
  const visit = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)),
    );
    if (entries.length === 0 && dir !== root) found.push({ path: dir, directory: true });
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await visit(path);
        continue;
      }
      // A dangling link has no target to stat: it is refused just below like any other non-file.
      const target = entry.isSymbolicLink() ? await stat(path).catch(() => undefined) : undefined;
      if (entry.isFile() || target?.isFile()) {
        found.push({ path, directory: false });
        continue;
      }
      throw new BackupError(
        "INVALID_ARGUMENT",
        `--neo4j-path holds ${path}, which is not a regular file or a directory`,
        {
          hint: "links to directories, dangling links, FIFOs, sockets and devices cannot be archived",
        },
      );
    }
  };
  await visit(root);
  return found;
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
  // Whatever stat says (ENOENT, EACCES, ENOTDIR…), the path cannot be archived: reported as missing.
  const neo4jStat = await stat(options.neo4jPath).catch(() => undefined);
  if (!neo4jStat) {
    throw new BackupError("ARTIFACT_NOT_FOUND", `--neo4j-path ${options.neo4jPath} does not exist`);
  }
  const artefacts: Artefact[] = neo4jStat.isDirectory()
    ? await walkArtefacts(options.neo4jPath)
    : [{ path: options.neo4jPath, directory: false }];
  const neo4jFiles = artefacts.filter((a) => !a.directory).map((a) => a.path);
  if (neo4jFiles.length === 0) {
    throw new BackupError("INVALID_ARGUMENT", `--neo4j-path ${options.neo4jPath} holds no file`);
  }
  // Keys as upstream's checksums: the path relative to backup/, here always with "/".
  const entryPath = (path: string) =>
    `database/${neo4jStat.isDirectory() ? relative(options.neo4jPath, path).split(sep).join("/") : basename(path)}`;
  for (const artefact of artefacts) checkEntryPath(entryPath(artefact.path));
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
    for (const { path, directory } of artefacts) {
      if (directory) await writer.addDirectory(entryPath(path));
      else await writer.addFile(entryPath(path), createReadStream(path));
    }
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
    // The write's error is the one to report; an abort that fails too cannot be helped here.
    await writer.abort(error).catch(() => undefined);
    throw error;
  }
}
