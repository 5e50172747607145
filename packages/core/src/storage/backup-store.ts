import type { Readable } from "node:stream";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { BackupError } from "../errors.js";
import { type ArchiveName, compareArchivesNewestFirst, parseArchiveName } from "./archive-name.js";

/** Facts about one stored object; enough to pin later reads to exactly these bytes. */
export interface ObjectInfo {
  /** Basename under the store's directory or prefix. */
  name: string;
  /** `s3://bucket/key` or an absolute file path. */
  location: string;
  /** Bytes. */
  size: number;
  /** When the object was last written. */
  lastModified: Date;
  /** S3 only. */
  etag?: string | undefined;
  /** S3 only, on versioned buckets. */
  versionId?: string | undefined;
  /** Local only: file identity. */
  file?: { dev: number; ino: number; mtimeMs: number } | undefined;
}

/** A listed object; `archive` is set when its name is an archive name (§1.1). */
export interface ListedObject extends ObjectInfo {
  /** The parsed archive name; undefined for other objects. */
  archive: ArchiveName | undefined;
}

/** A listed archive (`archive` set), as returned by `latest` and used by retention. */
export interface ListedArchive extends ObjectInfo {
  /** The parsed archive name. */
  archive: ArchiveName;
}

/** Options of BackupStore.put. */
export interface PutOptions {
  /** Expected size in bytes: sizes S3 parts, and drives the local free-space preflight. */
  sizeHint?: number | undefined;
  /**
   * `sizeHint` is an estimate (an upper bound, e.g. the databases' sizes before compression): it sizes S3
   * parts, but the local store does not refuse a write for want of that much free space.
   */
  estimated?: boolean | undefined;
  /** Aborts the upload (nothing left behind); later sink calls reject with CANCELLED. */
  signal?: AbortSignal | undefined;
}

/** Options of BackupStore.get. */
export interface GetOptions {
  /** Read exactly these bytes (from an earlier `head`/`get`); anything else → STORAGE_CHANGED. */
  pin?: ObjectInfo | undefined;
  /** First byte to read. Default 0. */
  start?: number | undefined;
  /** Aborts the read; the stream errors with CANCELLED. */
  signal?: AbortSignal | undefined;
}

/** Options of BackupStore.removeStaleUploads. */
export interface StaleUploadsOptions {
  /** Only leftovers started (S3) or last written (local) more than this long ago. Default in callers: 24 h. */
  olderThanMs: number;
  /** Report what would be removed; remove nothing. */
  dryRun?: boolean | undefined;
  /** Aborts the sweep between removals. */
  signal?: AbortSignal | undefined;
}

/** One unfinished write: an S3 multipart upload, or a local temp file. */
export interface StaleUpload {
  /** The archive (or preflight test) name it was writing. */
  name: string;
  /** `s3://bucket/key` of the upload, or the temp file's path. */
  location: string;
  /** When the write started (S3) or last wrote (local). */
  startedAt: Date;
}

/** What BackupStore.removeStaleUploads removed, failed to remove, and left alone. */
export interface StaleUploadsResult {
  /** Removed (or, with `dryRun`, would be). */
  removed: StaleUpload[];
  /** Could not be removed; each with its error. */
  failed: (StaleUpload & { error: BackupError })[];
  /** Unfinished writes of our names that are newer than the threshold: left alone. */
  recent: number;
  /** True when nothing was removed (`dryRun`). */
  dryRun: boolean;
}

/** Key names of the S3 write preflight's test uploads (never archive names, never completed). */
export const WRITE_CHECK_PREFIX = ".infrahub-backup-write-check-";

/** Names whose unfinished writes the stale-upload sweep may remove: archive names and preflight test keys. */
export function isStaleUploadName(name: string): boolean {
  if (parseArchiveName(name) !== undefined) return true;
  return name.startsWith(WRITE_CHECK_PREFIX) && /^[0-9a-f]{16}$/.test(name.slice(WRITE_CHECK_PREFIX.length));
}

/** A stream of a stored object's bytes, pinned to `info`. */
export interface ObjectStream extends Readable {
  /** The object these bytes are from. */
  readonly info: ObjectInfo;
}

/** Where archives live: a local directory or an S3 bucket + prefix. */
export interface BackupStore {
  /** `"local"` or `"s3"`. */
  readonly kind: "local" | "s3";
  /** The store's root as shown to users: a directory path or `s3://bucket/prefix/`. */
  readonly root: string;
  /** The location `name` has (or would have) in this store. */
  location(name: string): string;
  /**
   * A sink for a new object `name`. Nothing is visible until `commit`; `abort` (or any failure, or the
   * signal) leaves nothing behind. Refuses (ARTIFACT_EXISTS) when `name` exists: never overwrites.
   */
  put(name: string, options?: PutOptions): Promise<ArchiveSink>;
  /** The object's bytes, pinned (ETag/VersionId, or file identity) so two reads see the same bytes. */
  get(name: string, options?: GetOptions): Promise<ObjectStream>;
  /** Throws ARTIFACT_NOT_FOUND when absent. */
  head(name: string): Promise<ObjectInfo>;
  /** Every object directly under the root (all pages), archive names parsed. */
  list(): Promise<ListedObject[]>;
  /** The newest archive-named object (by stamp, then name), or `undefined`. */
  latest(): Promise<ListedArchive | undefined>;
  /** Deletes `name`; with `pin`, only if it is still that object (else STORAGE_CHANGED). */
  delete(name: string, options?: { pin?: ObjectInfo | undefined }): Promise<void>;
  /**
   * Preflight: the root is reachable and listable with these credentials. With `write`, also proves that a
   * backup can be written there (S3: a multipart upload created and aborted under the prefix; local: a temp
   * file created and removed in the directory); nothing is left behind. Without options: read-only.
   */
  check(options?: { write?: boolean; signal?: AbortSignal }): Promise<void>;
  /**
   * Removes leftovers of writes that never finished (a process killed outright): S3 multipart uploads or
   * local temp files of archive names, older than `olderThanMs`. Never touches newer ones (another backup
   * may be writing) nor any other name.
   */
  removeStaleUploads(options: StaleUploadsOptions): Promise<StaleUploadsResult>;
}

/** Where the library reports things worth a human's attention; the CLI formats them. */
export interface StorageLogger {
  /** Something a human should see (printed by the CLI as a warning). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Detail for `--log-level debug`. */
  debug?(message: string, fields?: Record<string, unknown>): void;
}

/** Refuses anything but a plain file name (no separators, no `..`). */
export function assertName(name: string): void {
  if (
    name === "" ||
    name === "." ||
    name === ".." ||
    name.includes("/") ||
    name.includes("\\") ||
    name.includes("\0")
  ) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `invalid backup name ${JSON.stringify(name)}: a plain file name is required`,
    );
  }
}

/** The newest archive-named object (by stamp, then name). */
export function newestArchive(objects: readonly ListedObject[]): ListedArchive | undefined {
  const archives = objects.filter((o): o is ListedArchive => o.archive !== undefined);
  archives.sort((a, b) => compareArchivesNewestFirst(a.archive, b.archive));
  return archives[0];
}
