import { randomBytes } from "node:crypto";
import { type FileHandle, link, lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { ArchiveSink, SinkCommit } from "../archive/archive-sink.js";
import { BackupError } from "../errors.js";

export interface FileSinkOptions {
  /**
   * Mode of the file, from its creation as a temp file (before the umask). Default 0o600: an archive holds
   * the whole graph and Neo4j's users and roles.
   */
  mode?: number;
  /**
   * Appended bytes are coalesced up to this size before a write; two such buffers alternate so one is
   * written while the other fills. Default 1 MiB (memory: 2 × this).
   */
  bufferBytes?: number;
}

function storageError(error: unknown, action: string, path: string): BackupError {
  if (error instanceof BackupError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const message = `${action} ${path}: ${(error as Error).message}`;
  if (code === "ENOSPC" || code === "EDQUOT")
    return new BackupError("STORAGE_NO_SPACE", message, { cause: error });
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new BackupError("STORAGE_ACCESS_DENIED", message, { cause: error });
  }
  if (code === "ENOENT") return new BackupError("ARTIFACT_NOT_FOUND", message, { cause: error });
  return new BackupError("STORAGE_FAILED", message, { cause: error });
}

/**
 * Local-file {@link ArchiveSink}: bytes go to `.<name>.partial-<random>` in the target directory;
 * `patch` is a positional write; `commit` fsyncs, hard-links the temp file to the final name (never
 * replacing an existing file: `ARTIFACT_EXISTS`), removes the temp name and fsyncs the directory.
 * `abort` removes the temp file.
 */
export class FileSink implements ArchiveSink, AsyncDisposable {
  readonly path: string;
  readonly tempPath: string;
  readonly #handle: FileHandle;
  readonly #bufferBytes: number;
  #buffer: Buffer;
  #spare: Buffer;
  #buffered = 0;
  /** The write of the previous buffer, still in flight. */
  #inflight: Promise<void> | undefined;
  #flushed = 0;
  #state: "open" | "committed" | "aborted" = "open";

  private constructor(path: string, tempPath: string, handle: FileHandle, options: FileSinkOptions) {
    this.path = path;
    this.tempPath = tempPath;
    this.#handle = handle;
    this.#bufferBytes = options.bufferBytes ?? 1024 * 1024;
    this.#buffer = Buffer.allocUnsafe(this.#bufferBytes);
    this.#spare = Buffer.allocUnsafe(this.#bufferBytes);
  }

  /** Creates the temp file next to `path` (the directory must exist). Fails early if `path` exists. */
  static async create(path: string, options: FileSinkOptions = {}): Promise<FileSink> {
    if (await exists(path)) {
      throw new BackupError("ARTIFACT_EXISTS", `refusing to overwrite existing file ${path}`);
    }
    const tempPath = join(dirname(path), `.${basename(path)}.partial-${randomBytes(6).toString("hex")}`);
    try {
      const handle = await open(tempPath, "wx", options.mode ?? 0o600);
      return new FileSink(path, tempPath, handle, options);
    } catch (error) {
      throw storageError(error, "cannot create", tempPath);
    }
  }

  get position(): number {
    return this.#flushed + this.#buffered;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#assertOpen();
    if (this.#buffered + chunk.length > this.#bufferBytes) await this.#startFlush();
    if (chunk.length >= this.#bufferBytes) {
      await this.#settle();
      await this.#pwrite(chunk, this.#flushed);
      this.#flushed += chunk.length;
      return;
    }
    this.#buffer.set(chunk, this.#buffered);
    this.#buffered += chunk.length;
  }

  async writePlaceholder(chunk: Uint8Array): Promise<number> {
    const offset = this.position;
    await this.write(chunk);
    return offset;
  }

  async patch(offset: number, bytes: Uint8Array): Promise<void> {
    this.#assertOpen();
    if (offset < 0 || offset + bytes.length > this.position) {
      throw new BackupError("INTERNAL", `patch outside the written range at ${offset}`);
    }
    await this.#flush();
    await this.#pwrite(bytes, offset);
  }

  async commit(): Promise<SinkCommit> {
    this.#assertOpen();
    try {
      await this.#flush();
      await this.#handle.sync();
      await this.#handle.close();
    } catch (error) {
      await this.abort(error);
      throw storageError(error, "cannot write", this.tempPath);
    }
    try {
      await publish(this.tempPath, this.path);
    } catch (error) {
      await this.abort(error);
      throw error instanceof BackupError ? error : storageError(error, "cannot publish", this.path);
    }
    this.#state = "committed";
    await fsyncDir(dirname(this.path));
    return { location: this.path, size: this.#flushed };
  }

  async abort(_reason?: unknown): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    // Aborting discards the temp file whatever happened to it: a failed write was already reported to the
    // writer (or is superseded by the abort's reason), and a close or unlink error leaves only a
    // `.partial` temp file, which is never taken for a backup (names are committed by rename only).
    await this.#inflight?.catch(() => undefined);
    await this.#handle.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  #assertOpen(): void {
    if (this.#state !== "open") throw new BackupError("INTERNAL", `file sink is ${this.#state}`);
  }

  /** Waits for the in-flight write (rethrowing its error). */
  async #settle(): Promise<void> {
    const inflight = this.#inflight;
    this.#inflight = undefined;
    await inflight;
  }

  /** Starts writing the current buffer and swaps to the spare one; waits only for the previous write. */
  async #startFlush(): Promise<void> {
    await this.#settle();
    if (this.#buffered === 0) return;
    const full = this.#buffer.subarray(0, this.#buffered);
    const write = this.#pwrite(full, this.#flushed);
    // Observed by #settle (the next flush or the commit awaits #inflight and throws its error); this only
    // keeps the promise from counting as unhandled before then.
    write.catch(() => undefined);
    this.#inflight = write;
    this.#flushed += this.#buffered;
    this.#buffered = 0;
    [this.#buffer, this.#spare] = [this.#spare, this.#buffer];
  }

  /** Everything appended so far is written. */
  async #flush(): Promise<void> {
    await this.#startFlush();
    await this.#settle();
  }

  async #pwrite(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < bytes.length) {
        const { bytesWritten } = await this.#handle.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
    } catch (error) {
      throw storageError(error, "cannot write", this.tempPath);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw storageError(error, "cannot inspect", path);
  }
}

/** link() fails with EEXIST instead of replacing; filesystems without hard links fall back to a checked rename. */
async function publish(tempPath: string, path: string): Promise<void> {
  try {
    await link(tempPath, path);
    await unlink(tempPath);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new BackupError("ARTIFACT_EXISTS", `refusing to overwrite existing file ${path}`);
    }
    if (
      code !== "EPERM" &&
      code !== "ENOTSUP" &&
      code !== "EOPNOTSUPP" &&
      code !== "ENOSYS" &&
      code !== "EXDEV"
    ) {
      throw error;
    }
  }
  if (await exists(path))
    throw new BackupError("ARTIFACT_EXISTS", `refusing to overwrite existing file ${path}`);
  await rename(tempPath, path);
}

async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is already synced.
  } finally {
    // A read-only descriptor used only for fsync: closing it cannot lose data.
    await handle?.close().catch(() => undefined);
  }
}
