import type { Readable } from "node:stream";
import { BackupError } from "../errors.js";
import { runCommand } from "../exec/command.js";
import type { Executor } from "../exec/executor.js";
import { SHA256_FILTER } from "../exec/sha256-shell.js";
import { formatBytes } from "../storage/format-bytes.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

/**
 * Where dumps go between storage and their database:
 * - `auto` (default): staged in the database's container when it has room for the dump (and, for a Neo4j
 *   restore, for the new store beside the previous one), streamed otherwise;
 * - `container`: always staged; refused up front (NO_ROOM_TO_STAGE) when there is no room;
 * - `none`: always streamed (the dump travels while the database is offline).
 */
export type StagingMode = "auto" | "container" | "none";

/** Every StagingMode, for flag validation. */
export const STAGING_MODES: readonly StagingMode[] = ["auto", "container", "none"];

/** Kept free beyond what staging needs, so a staged dump never fills a database's volume. */
export const STAGING_MARGIN_BYTES = 256 * 1024 * 1024;

/** A directory prepared for staging in one container. */
export interface StagingDir {
  readonly executor: Executor;
  readonly path: string;
  readonly user: string | undefined;
}

/** A file written by `Staging.write`, as its container saw it. */
export interface StagedFile {
  readonly file: string;
  /** The SHA-256 of the bytes written, computed in the container; undefined where it has no hasher. */
  readonly sha256: string | undefined;
  /** The file's size once written. */
  readonly bytes: number;
}

/** Prefix of every staging directory: leftovers of killed runs are recognised by it. */
export const STAGING_PREFIX = ".infrahub-backup-staging-";

/**
 * The staging directories of one operation, removed on every exit path (dispose). Each is created fresh
 * (mode 0700) under a base directory of the database's own volume; files written there are verified
 * against the archive's SHA-256 inside the container before they are used.
 */
export class Staging implements AsyncDisposable {
  readonly mode: StagingMode;
  readonly #stamp: string;
  readonly #onEvent: EventSink;
  readonly #dirs: StagingDir[] = [];

  constructor(mode: StagingMode, options: { stamp: string; onEvent: EventSink }) {
    this.mode = mode;
    this.#stamp = options.stamp;
    this.#onEvent = options.onEvent;
  }

  /**
   * A fresh staging directory under `base` (a shell word: `$PGDATA` expands in the container) when the
   * mode allows and `base`'s file system has `needBytes` free beyond the margin; otherwise undefined
   * (`auto`: the dump is streamed, and the step says why) or NO_ROOM_TO_STAGE (`container`). Staging
   * directories of killed runs older than a day are removed first (no run lasts that long; a younger one
   * may belong to a run of another deployment sharing the directory).
   */
  async prepare(
    executor: Executor,
    base: string,
    needBytes: number,
    options: { what: string; user?: string | undefined; signal?: AbortSignal | undefined },
  ): Promise<StagingDir | undefined> {
    if (this.mode === "none") return undefined;
    const user = options.user ? { user: options.user } : {};
    const script = `B=${base}
find "$B" -maxdepth 1 -name '${STAGING_PREFIX}*' -mmin +1440 -exec rm -rf {} + 2>/dev/null
d=$(df -Pk "$B" 2>&1) || { echo "cannot measure the free space of $B: $(echo "$d" | tail -n 1)"; exit 0; }
free=$(echo "$d" | awk 'NR==2 {print $4}')
case $free in '' | *[!0-9]*) echo "cannot measure the free space of $B: df printed no size"; exit 0 ;; esac
[ "$((free * 1024))" -ge "$NEED" ] || { echo "no room: $B has $((free / 1024)) MiB free"; exit 0; }
D="$B/${STAGING_PREFIX}${this.#stamp}"
mkdir -m 0700 "$D" && echo "dir $D"`;
    let out: string;
    try {
      out = (
        await runCommand(
          executor,
          {
            argv: ["sh", "-c", script],
            env: { NEED: String(needBytes + STAGING_MARGIN_BYTES) },
            ...user,
            ...(options.signal ? { signal: options.signal } : {}),
          },
          { what: `preparing to stage ${options.what}` },
        )
      ).trim();
    } catch (error) {
      if (this.mode === "container") throw error;
      options.signal?.throwIfAborted();
      out = `cannot stage there: ${(error as Error).message}`;
    }
    const path = /^dir (.+)$/m.exec(out)?.[1];
    if (path === undefined) {
      const reason = `${out} (needs ${formatBytes(needBytes + STAGING_MARGIN_BYTES)})`;
      if (this.mode === "container") {
        throw new BackupError(
          "NO_ROOM_TO_STAGE",
          `cannot stage ${options.what} on ${executor.target}: ${reason}`,
          {
            hint: "free space there, or use --staging auto (streams what does not fit) or none; nothing was changed",
          },
        );
      }
      this.#onEvent({ type: "not-staged", what: options.what, reason });
      return undefined;
    }
    const dir = { executor, path, user: options.user };
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * Writes exactly `bytes` bytes of `body` to `file` in `dir` (byte-counted: no stdin EOF needed), hashing
   * them in the container on their way to the file (`tee` into `openssl dgst` or `sha256sum`), so that
   * proving the file is the archive's costs no second read of it. Returns what the container saw: that
   * SHA-256 (undefined where the image has neither) and the file's size once written (a failed write of
   * `tee` shows there).
   */
  async write(
    dir: StagingDir,
    file: string,
    body: Readable,
    bytes: number,
    signal?: AbortSignal,
  ): Promise<StagedFile> {
    const out = await runCommand(
      dir.executor,
      {
        argv: [
          "sh",
          "-c",
          `${SHA256_FILTER}
head -c "$N" | tee "$F" | h
wc -c < "$F"`,
        ],
        env: { N: String(bytes), F: file },
        stdin: body,
        ...(dir.user ? { user: dir.user } : {}),
        ...(signal ? { signal } : {}),
      },
      { what: `staging ${file} on ${dir.executor.target}` },
    );
    // The filter's first word: the SHA-256, or (no hasher in the image) the count of bytes it saw.
    const [seen, size] = out.trim().split("\n");
    const hash = seen?.trim().split(/\s+/)[0] ?? "";
    if (!/^([0-9a-f]{64}|\d+)$/.test(hash) || !/^\d+$/.test(size?.trim() ?? "")) {
      throw new BackupError(
        "DATABASE_COMMAND_FAILED",
        `staging ${file} on ${dir.executor.target} printed ${JSON.stringify(out.slice(0, 200))}`,
      );
    }
    return { file, sha256: hash.length === 64 ? hash : undefined, bytes: Number(size) };
  }

  /** The byte count of a staged file (`wc -c` in its container). */
  async size(dir: StagingDir, file: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    const out = (
      await runCommand(
        dir.executor,
        {
          argv: ["sh", "-c", 'wc -c < "$F"'],
          env: { F: file },
          ...(dir.user ? { user: dir.user } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        { what: `measuring the staged ${file}` },
      )
    ).trim();
    if (!/^\d+$/.test(out)) {
      throw new BackupError(
        "DATABASE_COMMAND_FAILED",
        `wc -c of the staged ${file} printed ${JSON.stringify(out)}`,
      );
    }
    return Number(out);
  }

  /**
   * Proves a staged file is exactly what the archive holds: the SHA-256 its container computed of the bytes
   * it wrote (where the image has no hasher, its byte count only) against the archive's.
   */
  verify(dir: StagingDir, staged: StagedFile, expected: { sha256: string; bytes: number }): void {
    const ok =
      staged.bytes === expected.bytes && (staged.sha256 === undefined || staged.sha256 === expected.sha256);
    if (!ok) {
      const seen =
        staged.sha256 === undefined ? `${staged.bytes} bytes` : `${staged.sha256}, ${staged.bytes} bytes`;
      throw new BackupError(
        "ARCHIVE_CHECKSUM_MISMATCH",
        `the dump staged at ${staged.file} on ${dir.executor.target} is not the archive's (${seen} ≠ ${expected.sha256}, ${expected.bytes} bytes)`,
        { hint: "the transfer into the container was damaged, or its volume is full; nothing was changed" },
      );
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const dir of this.#dirs.splice(0)) {
      try {
        const result = await dir.executor.exec({
          argv: ["rm", "-rf", dir.path],
          ...(dir.user ? { user: dir.user } : {}),
        });
        if (result.exitCode !== 0) throw new Error(result.stderrTail.trim());
      } catch (error) {
        // Reported, not thrown: the operation's own outcome is what matters; the next run removes it.
        this.#onEvent(
          warning(
            "STAGING_NOT_REMOVED",
            `could not remove the staging directory ${dir.path} on ${dir.executor.target} (${(error as Error).message}); the next operation removes it`,
          ),
        );
      }
    }
  }
}
