import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, stat, statfs, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import type { ArchiveSink, SinkCommit } from "../archive/archive-sink.js";
import { BackupError, type ErrorCode, isBackupError } from "../errors.js";
import { trackUpload } from "./active-uploads.js";
import { parseArchiveName } from "./archive-name.js";
import type {
  BackupStore,
  GetOptions,
  ListedArchive,
  ListedObject,
  ObjectInfo,
  ObjectStream,
  PutOptions,
  StaleUploadsOptions,
  StaleUploadsResult,
} from "./backup-store.js";
import { assertName, isStaleUploadName, newestArchive, WRITE_CHECK_PREFIX } from "./backup-store.js";
import { FileSink } from "./file-sink.js";
import { formatBytes } from "./format-bytes.js";

/** Creates the file sink that writes `path` (temp name, fsync, no-overwrite commit). */
export type FileSinkFactory = (path: string) => Promise<ArchiveSink>;

/** Options of LocalStore. */
export interface LocalStoreOptions {
  /** The backup directory; created on the first `put` when missing (mode: see `fileMode`). */
  directory: string;
  /**
   * Mode of the archives written, temp files included, before the umask. Default 0o600 (an archive holds
   * the whole graph and Neo4j's users and roles); 0o640 lets the directory's group read them. A directory
   * this store creates gets the same bits plus search (x) where reading is allowed: 0o700, 0o750, …
   */
  fileMode?: number | undefined;
  /** Free space required beyond the size hint, as a fraction of it. Default 0.05. */
  freeSpaceMargin?: number | undefined;
  /** The file sink to write with. Default: `FileSink.create(path)`. */
  createSink?: FileSinkFactory | undefined;
}

const READ_CHUNK = 1024 * 1024;
/** FileSink's temp names: `.<name>.partial-<12 hex>`. */
const TEMP_NAME = /^\.(.+)\.partial-[0-9a-f]{12}$/;

/** A BackupStore in a local directory. Never overwrites or deletes an existing archive as a side effect. */
export class LocalStore implements BackupStore {
  /** {@inheritDoc BackupStore.kind} */
  readonly kind = "local" as const;
  /** The backup directory, absolute. */
  readonly directory: string;
  readonly #options: LocalStoreOptions;

  constructor(options: LocalStoreOptions) {
    this.directory = resolve(options.directory);
    this.#options = options;
  }

  /** {@inheritDoc BackupStore.root} */
  get root(): string {
    return this.directory;
  }

  get #fileMode(): number {
    return this.#options.fileMode ?? 0o600;
  }

  /** The file mode plus search permission wherever reading is allowed. */
  get #directoryMode(): number {
    return this.#fileMode | ((this.#fileMode & 0o444) >> 2);
  }

  /** {@inheritDoc BackupStore.location} */
  location(name: string): string {
    return join(this.directory, name);
  }

  /** {@inheritDoc BackupStore.put} */
  async put(name: string, options: PutOptions = {}): Promise<ArchiveSink> {
    assertName(name);
    const path = this.location(name);
    if (options.signal?.aborted)
      throw new BackupError("CANCELLED", `writing ${path} was cancelled before it started`);
    try {
      await mkdir(this.directory, { recursive: true, mode: this.#directoryMode });
    } catch (error) {
      throw fsError(error, "create the backup directory", this.directory);
    }
    if (await exists(path)) {
      throw new BackupError("ARTIFACT_EXISTS", `${path} already exists; not replacing it`, {
        hint: "backups are never overwritten; choose another name or move the old one first",
      });
    }
    if (options.sizeHint !== undefined && options.sizeHint > 0 && !options.estimated)
      await this.#preflightSpace(options.sizeHint);
    let sink: ArchiveSink;
    try {
      sink = await (
        this.#options.createSink ?? ((p: string) => FileSink.create(p, { mode: this.#fileMode }))
      )(path);
    } catch (error) {
      throw fsError(error, "write", path);
    }
    return new TrackedSink(sink, path, options.signal);
  }

  async #preflightSpace(sizeHint: number): Promise<void> {
    let free: number;
    try {
      const fs = await statfs(this.directory);
      free = Number(fs.bavail) * Number(fs.bsize);
    } catch {
      return; // statfs unsupported here: the write itself will report ENOSPC
    }
    const needed = Math.ceil(sizeHint * (1 + (this.#options.freeSpaceMargin ?? 0.05)));
    if (free < needed) {
      throw new BackupError(
        "STORAGE_NO_SPACE",
        `not enough free space in ${this.directory}: ${formatBytes(free)} free, about ${formatBytes(needed)} needed`,
        {
          hint: "free space, prune old backups, or write to S3",
          details: { free, needed, directory: this.directory },
        },
      );
    }
  }

  /** {@inheritDoc BackupStore.head} */
  async head(name: string): Promise<ObjectInfo> {
    assertName(name);
    const path = this.location(name);
    let st: Stats;
    try {
      st = await stat(path);
    } catch (error) {
      throw fsError(error, "read", path);
    }
    if (!st.isFile())
      throw new BackupError("ARTIFACT_NOT_FOUND", `backup artifact not found: ${path} (not a file)`);
    return infoOf(name, path, st);
  }

  /** {@inheritDoc BackupStore.get} */
  async get(name: string, options: GetOptions = {}): Promise<ObjectStream> {
    assertName(name);
    const path = this.location(name);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY);
    } catch (error) {
      if (options.pin && (error as NodeJS.ErrnoException).code === "ENOENT")
        throw changed(path, "it was deleted");
      throw fsError(error, "read", path);
    }
    try {
      const st = await handle.stat();
      const info = infoOf(name, path, st);
      if (options.pin && !sameFile(options.pin, info))
        throw changed(path, "it is not the same file any more");
      const stream = Readable.from(readPinned(handle, info, options.start ?? 0, options.signal), {
        objectMode: false,
      }) as ObjectStream;
      Object.defineProperty(stream, "info", { value: info, enumerable: true });
      return stream;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** {@inheritDoc BackupStore.list} */
  async list(): Promise<ListedObject[]> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(this.directory, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw fsError(error, "list", this.directory);
    }
    const objects: ListedObject[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || TEMP_NAME.test(entry.name)) continue;
      const path = this.location(entry.name);
      try {
        const st = await stat(path);
        objects.push({ ...infoOf(entry.name, path, st), archive: parseArchiveName(entry.name) });
      } catch {
        // removed between readdir and stat
      }
    }
    return objects;
  }

  /**
   * Removes temp files of unfinished writes (`.<archive name>.partial-<random>` and the write preflight's
   * test files, left by a process that was killed outright) last written more than `olderThanMs` ago.
   */
  async removeStaleUploads(options: StaleUploadsOptions): Promise<StaleUploadsResult> {
    const cutoff = Date.now() - options.olderThanMs;
    const result: StaleUploadsResult = {
      removed: [],
      failed: [],
      recent: 0,
      dryRun: options.dryRun ?? false,
    };
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return result;
      throw fsError(error, "list", this.directory);
    }
    for (const name of names) {
      options.signal?.throwIfAborted();
      const writing = TEMP_NAME.exec(name)?.[1] ?? name;
      if (!isStaleUploadName(writing) || (writing === name && !name.startsWith(WRITE_CHECK_PREFIX))) continue;
      const path = this.location(name);
      let st: Stats;
      try {
        st = await lstat(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // finished or removed meanwhile
        throw fsError(error, "read", path);
      }
      if (!st.isFile()) continue;
      if (st.mtimeMs > cutoff) {
        result.recent++;
        continue;
      }
      const stale = { name: writing, location: path, startedAt: st.mtime };
      if (result.dryRun) {
        result.removed.push(stale);
        continue;
      }
      try {
        await unlink(path);
        result.removed.push(stale);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        result.failed.push({ ...stale, error: fsError(error, "delete", path) });
      }
    }
    return result;
  }

  /** {@inheritDoc BackupStore.latest} */
  async latest(): Promise<ListedArchive | undefined> {
    return newestArchive(await this.list());
  }

  /** {@inheritDoc BackupStore.delete} */
  async delete(name: string, options: { pin?: ObjectInfo | undefined } = {}): Promise<void> {
    const info = await this.head(name);
    if (options.pin && !sameFile(options.pin, info)) throw changed(info.location, "it was replaced");
    try {
      await unlink(info.location);
    } catch (error) {
      throw fsError(error, "delete", info.location);
    }
  }

  /**
   * Preflight: the directory is readable (a missing one is created by the first `put`). With `write`, the
   * directory is created if needed and a temp file is created and removed in it.
   */
  async check(options: { write?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    try {
      const st = await stat(this.directory);
      if (!st.isDirectory()) {
        throw new BackupError("INVALID_CONFIG", `backup directory ${this.directory} is not a directory`);
      }
      const dir = await open(this.directory, constants.O_RDONLY | constants.O_DIRECTORY);
      await dir.close();
    } catch (error) {
      if (isBackupError(error)) throw error;
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(error, "read", this.directory);
      if (!options.write) return; // created on the first put
    }
    if (options.write) await this.#proveWrite(options.signal);
  }

  async #proveWrite(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    try {
      await mkdir(this.directory, { recursive: true, mode: this.#directoryMode });
    } catch (error) {
      throw fsError(error, "create the backup directory", this.directory);
    }
    const path = this.location(`${WRITE_CHECK_PREFIX}${randomBytes(8).toString("hex")}`);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (error) {
      throw fsError(error, "write in", this.directory);
    }
    let failure: BackupError | undefined;
    try {
      await handle.write(Buffer.of(0));
      await handle.sync();
    } catch (error) {
      failure = fsError(error, "write in", this.directory);
    }
    await handle.close();
    try {
      await unlink(path);
    } catch (error) {
      // A test file left behind is a failure of its own, reported unless the write failed first.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") failure ??= fsError(error, "delete", path);
    }
    if (failure) throw failure;
  }
}

async function* readPinned(
  handle: FileHandle,
  info: ObjectInfo,
  start: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  try {
    let position = start;
    while (position < info.size) {
      if (signal?.aborted) throw new BackupError("CANCELLED", `read of ${info.location} was cancelled`);
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, info.size - position));
      const { bytesRead } = await handle.read(buf, 0, buf.length, position);
      if (bytesRead === 0) throw changed(info.location, "it became shorter while being read");
      position += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
    const after = await handle.stat();
    if (after.size !== info.size || after.mtimeMs !== info.file?.mtimeMs) {
      throw changed(info.location, "it was modified while being read");
    }
  } finally {
    await handle.close();
  }
}

function infoOf(name: string, path: string, st: Stats): ObjectInfo {
  return {
    name,
    location: path,
    size: st.size,
    lastModified: st.mtime,
    file: { dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs },
  };
}

function sameFile(pin: ObjectInfo, now: ObjectInfo): boolean {
  return (
    pin.size === now.size &&
    pin.file !== undefined &&
    now.file !== undefined &&
    pin.file.dev === now.file.dev &&
    pin.file.ino === now.file.ino &&
    pin.file.mtimeMs === now.file.mtimeMs
  );
}

function changed(path: string, why: string): BackupError {
  return new BackupError("STORAGE_CHANGED", `${path} changed while it was being used: ${why}`, {
    hint: "another process replaced or modified the backup; retry with the current file",
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fsError(error, "read", path);
  }
}

/** Maps a filesystem error to a BackupError naming what we tried to do and where. */
export function fsError(error: unknown, action: string, path: string): BackupError {
  if (isBackupError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const table: Record<string, [ErrorCode, string, string?]> = {
    ENOENT: [
      "ARTIFACT_NOT_FOUND",
      `backup artifact not found: ${path}`,
      "list the available backups with `infrahub-backup list`",
    ],
    EEXIST: ["ARTIFACT_EXISTS", `${path} already exists; not replacing it`],
    EACCES: [
      "STORAGE_ACCESS_DENIED",
      `permission denied: cannot ${action} ${path}`,
      "check the directory's owner and mode (and the pod's fsGroup)",
    ],
    EPERM: ["STORAGE_ACCESS_DENIED", `operation not permitted: cannot ${action} ${path}`],
    EROFS: ["STORAGE_ACCESS_DENIED", `read-only file system: cannot ${action} ${path}`],
    ENOSPC: [
      "STORAGE_NO_SPACE",
      `no space left on the device while trying to ${action} ${path}`,
      "free space or prune old backups",
    ],
    EDQUOT: [
      "STORAGE_QUOTA",
      `disk quota exceeded while trying to ${action} ${path}`,
      "free space or raise the quota",
    ],
    EFBIG: ["STORAGE_TOO_LARGE", `file too large: cannot ${action} ${path}`],
    ENOTDIR: ["INVALID_CONFIG", `not a directory in the path ${path}`],
  };
  const entry = code === undefined ? undefined : table[code];
  if (entry) {
    const [c, message, hint] = entry;
    return new BackupError(c, message, { cause: error, ...(hint ? { hint } : {}) });
  }
  return new BackupError(
    "STORAGE_FAILED",
    `cannot ${action} ${path}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
    },
  );
}

/**
 * Wraps a file sink: registers it for abort-on-signal, honours the AbortSignal, and maps filesystem
 * errors to BackupErrors. After a failure the sink is aborted (the temp file removed).
 */
class TrackedSink implements ArchiveSink {
  readonly #inner: ArchiveSink;
  readonly location: string;
  readonly #untrack: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    void this.abort(this.#signal?.reason);
  };
  #stopped: BackupError | undefined;
  #aborting: Promise<void> | undefined;

  constructor(inner: ArchiveSink, location: string, signal: AbortSignal | undefined) {
    this.#inner = inner;
    this.location = location;
    this.#signal = signal;
    this.#untrack = trackUpload(this);
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get position(): number {
    return this.#inner.position;
  }

  async #run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.#stopped) throw this.#stopped;
    try {
      return await fn();
    } catch (error) {
      const mapped = this.#stopped ?? fsError(error, action, this.location);
      // The write's own error is what the caller needs; a failed temp-file removal is secondary.
      await this.abort(mapped).catch(() => undefined);
      throw mapped;
    }
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#run("write", () => this.#inner.write(chunk));
  }

  writePlaceholder(chunk: Uint8Array): Promise<number> {
    return this.#run("write", () => this.#inner.writePlaceholder(chunk));
  }

  patch(offset: number, bytes: Uint8Array): Promise<void> {
    return this.#run("write", () => this.#inner.patch(offset, bytes));
  }

  async commit(): Promise<SinkCommit> {
    const result = await this.#run("commit", () => this.#inner.commit());
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#untrack();
    return result;
  }

  abort(reason?: unknown): Promise<void> {
    if (this.#aborting) return this.#aborting;
    this.#stopped ??= isBackupError(reason)
      ? reason
      : new BackupError("CANCELLED", `writing ${this.location} was aborted`, {
          ...(reason === undefined ? {} : { cause: reason }),
        });
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#aborting = this.#inner.abort(reason).finally(() => this.#untrack());
    return this.#aborting;
  }
}
