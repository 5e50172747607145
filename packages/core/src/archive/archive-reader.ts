import { createHash, type KeyObject } from "node:crypto";
import { Readable } from "node:stream";
import { BackupError, type ErrorCode } from "../errors.js";
import { ARCHIVE_ROOT, METADATA_FILE } from "./archive-writer.js";
import {
  type BackupMetadata,
  includesTaskManager,
  MAX_METADATA_BYTES,
  parseBackupMetadata,
} from "./backup-metadata.js";
import { ByteReader, truncated } from "./byte-reader.js";
import { asBuffers } from "./bytes.js";
import { decryptStream, detectArchiveFormat, parsePrivateKey } from "./encryption.js";
import { gunzip, zlibError } from "./gzip-reader.js";
import { decodeTarHeader, isZeroBlock, parsePaxRecords, TAR_BLOCK } from "./tar-header.js";

/**
 * Options of verifyArchive (and the internal reader). Memory: one tar block and one gzip window, plus the
 * metadata (at most `maxMetadataBytes`).
 */
export interface ReadArchiveOptions {
  /** Private key (PKCS#8 PEM text or a KeyObject) for `.tar.gz.enc`; refused for a plain archive. */
  decryptKey?: string | KeyObject;
  /** Skip the `prefect.dump` checks (upstream `--exclude-taskmanager`). */
  excludeTaskManager?: boolean;
  /** Called once, as soon as the metadata entry has been read (first or last in the archive). */
  onMetadata?: (metadata: BackupMetadata) => void | Promise<void>;
  /**
   * Called for each regular file except the metadata, one at a time. Read `entry.body` (fully, or
   * destroy it to stop early) before the returned promise settles; whatever is left is read and hashed
   * by the reader. Awaiting `entry.digest` is safe once the body was read to its end or destroyed.
   * A rejection stops the read with that error.
   */
  onEntry?: (entry: ArchiveFileEntry) => void | Promise<void>;
  /** Default 1 MiB. */
  maxMetadataBytes?: number;
  /** Aborts the read; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * An entry's checksum verdict while it is read: `pending` until the metadata was read, `unverified` for an
 * archive without checksums.
 */
export type ChecksumStatus = "ok" | "mismatch" | "unlisted" | "pending" | "unverified";

/** What an entry's bytes hashed to, and the verdict when the metadata was already known. */
export interface EntryDigest {
  /** Lower-case hex SHA-256 of the entry's bytes. */
  sha256: string;
  /** Bytes read. */
  size: number;
  /** From the metadata, when it was read before the entry ended. */
  expected?: string;
  /** `pending`: the metadata comes later; the final verdict is in the read result. */
  status: ChecksumStatus;
}

/** A regular file of the archive as the reader streams it to `onEntry`. */
export interface ArchiveFileEntry {
  /** Tar name, normalised (`backup/database/neo4j.dump`). */
  name: string;
  /** Relative to `backup/`, the checksum key (`database/neo4j.dump`, `prefect.dump`). */
  path: string;
  /** Bytes in the tar header. */
  size: number;
  /** Modification time in the tar header. */
  mtime: Date;
  /** The entry's bytes, exactly `size` of them. */
  body: Readable;
  /**
   * Resolves when the last byte of the entry was read, with its SHA-256 and, when the metadata came
   * first, its verdict (`pending` otherwise: the verdict is in the read result). Rejects if the archive
   * breaks inside the entry.
   */
  digest: Promise<EntryDigest>;
}

/** One tar entry as verifyArchive lists it. */
export interface ArchiveEntryReport {
  /** Tar name, normalised. */
  name: string;
  /** Relative to `backup/`: the checksum key. */
  path: string;
  /** Entry kind; other kinds are refused (ARCHIVE_UNSUPPORTED_ENTRY). */
  type: "file" | "directory";
  /** Bytes of the entry's data. */
  size: number;
  /** SHA-256 of a file's bytes (files only). */
  sha256?: string;
}

/** The verdict for one checksum key: listed in the metadata, present in the archive, or both. */
export interface ChecksumResult {
  /** The checksum key (`database/neo4j.dump`, `prefect.dump`). */
  key: string;
  /** SHA-256 the metadata lists; absent for an unlisted entry. */
  expected?: string;
  /** SHA-256 of the archive's entry; absent when the entry is missing. */
  actual?: string;
  /**
   * `missing`: listed but absent; `unlisted`: present, not listed; `skipped`: excluded (task manager);
   * `unverified`: no checksums in the metadata.
   */
  status: "ok" | "mismatch" | "missing" | "unlisted" | "unverified" | "skipped";
}

/** One reason an archive is not ok, with the error code a restore would fail with. */
export interface ArchiveProblem {
  /** Stable code (ARCHIVE_CHECKSUM_MISMATCH, ARCHIVE_MISSING_FILE, …). */
  code: ErrorCode;
  /** What is wrong, for people. */
  message: string;
}

/** What verifyArchive found: entries, checksums, metadata, and whether the archive is restorable (`ok`). */
export interface ArchiveReport {
  /** The archive's parsed `backup_information.json`. */
  metadata: BackupMetadata;
  /** Where the metadata entry was: `last` for archives of this tool, `first` for upstream's. */
  metadataPosition: "first" | "middle" | "last";
  /** True for an ECIES-encrypted archive (`.tar.gz.enc`). */
  encrypted: boolean;
  /** Every tar entry, in archive order. */
  entries: ArchiveEntryReport[];
  /** One verdict per checksum key of the metadata or the archive. */
  checksums: ChecksumResult[];
  /** True when the metadata has no checksums at all (metadata_version 1): nothing could be verified. */
  checksumsAbsent: boolean;
  /** Bytes of the gzip stream (after decryption). */
  compressedBytes: number;
  /** Bytes of the tar stream. */
  tarBytes: number;
  /** True when every check passed and `problems` is empty. */
  ok: boolean;
  /** Why the archive is not ok; empty when it is. */
  problems: ArchiveProblem[];
}

/** The first `metadata_version` that always wrote checksums (v0.0.1). */
const FIRST_CHECKSUMMED_VERSION = 2025092500;

/**
 * Bytes an entry's `body` reads ahead of its consumer (views of the decoded input, no copy). Small on
 * purpose: the views keep the source's chunks alive, and chunks held across two scavenges are promoted
 * and then freed only by a mark-compact; 1 MiB here (plus a 1 MiB gzip batch) left 25–40 MiB of dead
 * S3 body chunks at a restore's peak (packages/core README, "Memory").
 */
const ENTRY_BODY_BUFFER_BYTES = 256 * 1024;

const PROBLEM_ORDER: ErrorCode[] = [
  "ARCHIVE_CHECKSUM_MISMATCH",
  "ARCHIVE_MISSING_FILE",
  "ARCHIVE_CHECKSUM_MISSING",
  "ARCHIVE_UNEXPECTED_FILE",
];

/**
 * Reads an archive as a stream (plain `.tar.gz`, or `.tar.gz.enc` with `decryptKey`): multi-member gzip,
 * USTAR/GNU/PAX headers, metadata anywhere; only directories and regular files under `backup/`. Applies
 * upstream's checksum rules (compat-reference §1.6) and resolves with the report, or throws the first
 * `BackupError`. Writes nothing anywhere. When the metadata comes first, a checksum mismatch fails at
 * the end of that entry; otherwise at the end of the archive.
 */
export async function readArchive(
  source: AsyncIterable<unknown>,
  options: ReadArchiveOptions = {},
): Promise<ArchiveReport> {
  const report = await scanArchive(source, options, true);
  if (!report.ok) throw problemError(report);
  return report;
}

/**
 * Hashes every entry and reports entries, sizes, checksum results and metadata without writing
 * anything. Checksum problems are reported (`ok: false`, `problems`); a structurally broken archive
 * (corrupt/truncated gzip, unsafe or unsupported entries, bad metadata) throws.
 */
export async function verifyArchive(
  source: AsyncIterable<unknown>,
  options: Omit<ReadArchiveOptions, "onEntry"> = {},
): Promise<ArchiveReport> {
  return scanArchive(source, options, false);
}

function problemError(report: ArchiveReport): BackupError {
  const sorted = [...report.problems].sort(
    (a, b) => PROBLEM_ORDER.indexOf(a.code) - PROBLEM_ORDER.indexOf(b.code),
  );
  const first = sorted[0] as ArchiveProblem;
  return new BackupError(first.code, first.message, {
    details: { problems: report.problems, backupId: report.metadata.backupId },
    hint: "the archive does not match its metadata; do not restore it",
  });
}

/** Normalises a tar name; rejects anything that could escape the destination. */
export function normalizeEntryName(raw: string): string {
  if (raw.includes("\0") || raw.includes("\\")) {
    throw new BackupError("ARCHIVE_UNSAFE_PATH", `unsafe path in archive: ${JSON.stringify(raw)}`);
  }
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) {
    throw new BackupError("ARCHIVE_UNSAFE_PATH", `absolute path in archive: ${JSON.stringify(raw)}`);
  }
  const segments = raw.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    throw new BackupError("ARCHIVE_UNSAFE_PATH", `path escapes the destination: ${JSON.stringify(raw)}`);
  }
  return segments.join("/");
}

const TYPE_NAMES: Record<string, string> = {
  "1": "hard link",
  "2": "symbolic link",
  "3": "character device",
  "4": "block device",
  "6": "FIFO",
  S: "sparse file",
};

/** Peeks the first byte to choose plain or encrypted, then yields the gzip bytes. */
async function* plainGzip(
  source: AsyncIterable<unknown>,
  options: ReadArchiveOptions,
  state: { encrypted: boolean },
): AsyncGenerator<Buffer> {
  const iterator = asBuffers(source, "archive sources");
  let first: Buffer | undefined;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    if (next.value.length > 0) {
      first = next.value;
      break;
    }
  }
  const format = detectArchiveFormat(first?.[0]);
  const rest = (async function* () {
    if (first) yield first;
    yield* iterator;
  })();
  if (format === "gzip") {
    if (options.decryptKey !== undefined) {
      await iterator.return(undefined);
      throw new BackupError(
        "ENCRYPTION_UNEXPECTED_KEY",
        "a decryption key was given but the archive is not encrypted",
        {
          hint: "omit --decrypt-key for a plain .tar.gz",
        },
      );
    }
    yield* rest;
    return;
  }
  state.encrypted = true;
  if (options.decryptKey === undefined) {
    await iterator.return(undefined);
    throw new BackupError(
      "ENCRYPTION_KEY_REQUIRED",
      "the archive is encrypted and no decryption key was given",
      {
        hint: "pass --decrypt-key <private key file>",
      },
    );
  }
  const key =
    typeof options.decryptKey === "string" ? parsePrivateKey(options.decryptKey) : options.decryptKey;
  yield* decryptStream(rest, key, options.signal);
}

interface FileRecord {
  name: string;
  size: number;
  sha256: string;
}

async function scanArchive(
  source: AsyncIterable<unknown>,
  options: ReadArchiveOptions,
  failFast: boolean,
): Promise<ArchiveReport> {
  const maxMetadata = options.maxMetadataBytes ?? MAX_METADATA_BYTES;
  const state = { encrypted: false };
  const counter = { bytes: 0 };
  const reader = new ByteReader(gunzip(plainGzip(source, options, state), counter), options.signal);
  const seen = new Set<string>();
  const entries: ArchiveEntryReport[] = [];
  const files = new Map<string, FileRecord>();
  let metadata: BackupMetadata | undefined;
  let filesBeforeMetadata = 0;
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  const excludeTm = options.excludeTaskManager === true;

  try {
    for (;;) {
      const block = await reader.readExact(TAR_BLOCK, "a tar header");
      if (block === undefined) {
        throw new BackupError("ARCHIVE_TRUNCATED", "archive ends without the tar end-of-archive marker", {
          hint: "the file is incomplete: check that the upload or download finished",
        });
      }
      if (isZeroBlock(block)) {
        const second = await reader.readExact(TAR_BLOCK, "the end-of-archive marker");
        if (second !== undefined && !isZeroBlock(second)) {
          throw new BackupError("ARCHIVE_CORRUPT", "zero block in the middle of the archive");
        }
        // Anything after the marker (record padding) is ignored, but read so gzip trailers are checked.
        await reader.drain();
        break;
      }
      const header = decodeTarHeader(block);
      const padded = (size: number) => size + ((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
      if (header.typeflag === "x" || header.typeflag === "g" || header.typeflag === "L") {
        const cap = header.typeflag === "L" ? 64 * 1024 : 1024 * 1024;
        if (header.size > cap)
          throw new BackupError("ARCHIVE_CORRUPT", `oversized ${header.typeflag} header`);
        const data = (await reader.readExact(padded(header.size), "an extended header")) ?? Buffer.alloc(0);
        if (data.length < header.size) throw truncated("an extended header");
        if (header.typeflag === "x") pax = parsePaxRecords(data.subarray(0, header.size));
        if (header.typeflag === "L") {
          const raw = data.subarray(0, header.size);
          const end = raw.indexOf(0);
          longName = raw.subarray(0, end === -1 ? raw.length : end).toString("utf8");
        }
        continue;
      }
      const rawName = longName ?? pax?.get("path") ?? header.name;
      let size = header.size;
      const paxSize = pax?.get("size");
      if (paxSize !== undefined) {
        size = /^\d+$/.test(paxSize) ? Number(paxSize) : Number.NaN;
        if (!Number.isSafeInteger(size)) throw new BackupError("ARCHIVE_CORRUPT", "malformed PAX size");
      }
      pax = undefined;
      longName = undefined;

      let type: "file" | "directory";
      if (header.typeflag === "0" || header.typeflag === "7") type = "file";
      else if (header.typeflag === "5") type = "directory";
      else {
        const what = TYPE_NAMES[header.typeflag] ?? `entry of type ${JSON.stringify(header.typeflag)}`;
        throw new BackupError(
          "ARCHIVE_UNSUPPORTED_ENTRY",
          `unsupported ${what} in archive: ${JSON.stringify(rawName)}`,
          { hint: "backup archives contain only directories and regular files" },
        );
      }
      const name = normalizeEntryName(rawName);
      if (name === "" && type === "directory") continue;
      if (seen.has(name)) {
        throw new BackupError("ARCHIVE_DUPLICATE_ENTRY", `duplicate entry in archive: ${name}`);
      }
      seen.add(name);
      if (name !== ARCHIVE_ROOT && !name.startsWith(`${ARCHIVE_ROOT}/`)) {
        throw new BackupError("ARCHIVE_UNEXPECTED_FILE", `entry outside backup/: ${name}`);
      }
      const path = name === ARCHIVE_ROOT ? "" : name.slice(ARCHIVE_ROOT.length + 1);
      if (type === "directory") {
        if (path !== "" && path !== "database" && !path.startsWith("database/")) {
          throw new BackupError("ARCHIVE_UNEXPECTED_FILE", `unexpected directory in archive: ${name}`);
        }
        entries.push({ name, path, type, size: 0 });
        if (size > 0) await reader.skip(padded(size), name);
        continue;
      }
      if (path === METADATA_FILE) {
        if (size > maxMetadata) {
          throw new BackupError(
            "METADATA_TOO_LARGE",
            `backup metadata is ${size} bytes (limit ${maxMetadata})`,
          );
        }
        const data = size === 0 ? Buffer.alloc(0) : await reader.readExact(padded(size), name);
        if (data === undefined) throw truncated(name);
        metadata = parseBackupMetadata(data.subarray(0, size));
        filesBeforeMetadata = files.size;
        entries.push({ name, path, type, size });
        await options.onMetadata?.(metadata);
        continue;
      }
      if (path !== "prefect.dump" && !path.startsWith("database/")) {
        throw new BackupError("ARCHIVE_UNEXPECTED_FILE", `unexpected file in archive: ${name}`);
      }
      const record = await readFileEntry(reader, name, path, size, header.mtime, metadata, options);
      files.set(path, record);
      entries.push({ name, path, type, size, sha256: record.sha256 });
      if (failFast && metadata !== undefined) {
        const problem = checkEarly(metadata, path, record.sha256, excludeTm);
        if (problem) throw new BackupError(problem.code, problem.message);
      }
    }
  } catch (error) {
    throw zlibError(error);
  } finally {
    // Every byte was read and checked by now, or the read's own error is being thrown: a close error adds nothing.
    await reader.close().catch(() => undefined);
  }

  if (metadata === undefined) {
    throw new BackupError(
      "METADATA_MISSING",
      `backup metadata ${ARCHIVE_ROOT}/${METADATA_FILE} not found in the archive`,
      {
        hint: "this is not an infrahub backup archive, or it is damaged",
      },
    );
  }
  const metadataPosition: ArchiveReport["metadataPosition"] =
    filesBeforeMetadata === files.size ? "last" : filesBeforeMetadata === 0 ? "first" : "middle";
  const { results, problems } = evaluateChecksums(metadata, files, excludeTm);
  return {
    metadata,
    metadataPosition,
    encrypted: state.encrypted,
    entries,
    checksums: results,
    checksumsAbsent: Object.keys(metadata.checksums).length === 0,
    compressedBytes: counter.bytes,
    tarBytes: reader.position,
    ok: problems.length === 0,
    problems,
  };
}

async function readFileEntry(
  reader: ByteReader,
  name: string,
  path: string,
  size: number,
  mtime: number,
  metadata: BackupMetadata | undefined,
  options: ReadArchiveOptions,
): Promise<FileRecord> {
  const hash = createHash("sha256");
  let left = size;
  // The block padding after the data is read with the last chunk: an entry whose padding is cut off (the
  // archive ends inside it) is not handed out as complete — as GNU tar, which reads whole blocks.
  let padding = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
  let settle: { resolve: (d: EntryDigest) => void; reject: (e: unknown) => void } | undefined;
  const digest = new Promise<EntryDigest>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // The entry's consumer awaits `digest`; a consumer that never does must not turn its rejection (the read's
  // error, also thrown to the consumer of the body) into an unhandled rejection.
  digest.catch(() => undefined);
  let sha256: string | undefined;
  const complete = (): void => {
    sha256 = hash.digest("hex");
    const expected = metadata?.checksums[path];
    let status: ChecksumStatus = "pending";
    if (metadata !== undefined) {
      if (Object.keys(metadata.checksums).length === 0) status = "unverified";
      else if (expected === undefined) status = "unlisted";
      else status = expected === sha256 ? "ok" : "mismatch";
    }
    settle?.resolve({ sha256, size, status, ...(expected === undefined ? {} : { expected }) });
  };
  if (size === 0) complete();
  let chain: Promise<unknown> = Promise.resolve();
  const next = (): Promise<Buffer | undefined> => {
    const result = chain.then(async () => {
      if (left === 0) return undefined;
      try {
        const chunk = await reader.readSome(Math.min(left, 1 << 20));
        if (chunk === undefined) throw truncated(name);
        hash.update(chunk);
        left -= chunk.length;
        if (left === 0) {
          if (padding > 0) await reader.skip(padding, name);
          padding = 0;
          complete();
        }
        return chunk;
      } catch (error) {
        settle?.reject(error);
        throw error;
      }
    });
    // Serialises reads only: `result` itself (returned) carries the error to the caller.
    chain = result.catch(() => undefined);
    return result;
  };

  const drainRest = async (): Promise<void> => {
    while ((await next()) !== undefined) {
      // hash what the consumer did not read
    }
  };
  let backgroundDrain: Promise<void> | undefined;
  let consumerDone = false;
  try {
    if (options.onEntry) {
      const body = new Readable({
        highWaterMark: ENTRY_BODY_BUFFER_BYTES,
        read() {
          next().then(
            (chunk) => this.push(chunk === undefined ? null : chunk),
            (error: unknown) => this.destroy(error as Error),
          );
        },
      });
      // A consumer that stops reading early (destroys the body) may still await `digest`: hash the rest now.
      body.once("close", () => {
        if (left > 0 && backgroundDrain === undefined && !consumerDone) {
          backgroundDrain = drainRest();
          // Its failure rejects `digest` (drainRest goes through next()), which is where it is reported.
          backgroundDrain.catch(() => undefined);
        }
      });
      try {
        await options.onEntry({ name, path, size, mtime: new Date(mtime * 1000), body, digest });
      } finally {
        consumerDone = true;
      }
      if (!body.destroyed) body.destroy();
    }
    await backgroundDrain;
    await drainRest();
  } catch (error) {
    settle?.reject(error);
    throw error;
  }
  return { name, size, sha256: sha256 as string };
}

function checkEarly(
  metadata: BackupMetadata,
  path: string,
  sha256: string,
  excludeTm: boolean,
): ArchiveProblem | undefined {
  const files = new Map([[path, { name: path, size: 0, sha256 }]]);
  const { problems } = evaluateChecksums(metadata, files, excludeTm, true);
  return problems[0];
}

/**
 * Upstream's rules (§1.6) plus one stricter rule: when the metadata lists checksums, a file under
 * `database/` that is not listed is unexpected (upstream always lists every such file).
 */
export function evaluateChecksums(
  metadata: BackupMetadata,
  files: ReadonlyMap<string, { sha256: string }>,
  excludeTaskManager: boolean,
  partial = false,
): { results: ChecksumResult[]; problems: ArchiveProblem[] } {
  const results: ChecksumResult[] = [];
  const problems: ArchiveProblem[] = [];
  const checksums = metadata.checksums;
  // Only metadata_version 1 (never released) lacks checksums; for later versions an empty list means
  // the metadata was damaged or edited, so nothing would be verified.
  const absent = Object.keys(checksums).length === 0;
  if (absent && !partial && files.size > 0 && metadata.metadataVersion >= FIRST_CHECKSUMMED_VERSION) {
    problems.push({
      code: "ARCHIVE_CHECKSUM_MISSING",
      message: `metadata_version ${metadata.metadataVersion} archive lists no checksums`,
    });
  }
  for (const key of Object.keys(checksums).sort()) {
    if (key === "prefect.dump") continue;
    const expected = checksums[key] as string;
    const file = files.get(key);
    if (file === undefined) {
      if (partial) continue;
      results.push({ key, expected, status: "missing" });
      problems.push({ code: "ARCHIVE_MISSING_FILE", message: `missing backup file: ${key}` });
    } else if (file.sha256 !== expected) {
      results.push({ key, expected, actual: file.sha256, status: "mismatch" });
      problems.push({
        code: "ARCHIVE_CHECKSUM_MISMATCH",
        message: `checksum mismatch for ${key}: expected ${expected}, got ${file.sha256}`,
      });
    } else {
      results.push({ key, expected, actual: file.sha256, status: "ok" });
    }
  }
  const prefect = files.get("prefect.dump");
  const prefectExpected = checksums["prefect.dump"];
  if (excludeTaskManager) {
    if (prefect || prefectExpected) {
      results.push({
        key: "prefect.dump",
        ...(prefectExpected ? { expected: prefectExpected } : {}),
        ...(prefect ? { actual: prefect.sha256 } : {}),
        status: "skipped",
      });
    }
  } else if (prefect) {
    if (prefectExpected === undefined) {
      if (absent) {
        results.push({ key: "prefect.dump", actual: prefect.sha256, status: "unverified" });
      } else {
        results.push({ key: "prefect.dump", actual: prefect.sha256, status: "unlisted" });
        problems.push({
          code: "ARCHIVE_CHECKSUM_MISSING",
          message: "missing checksum for prefect.dump in metadata",
        });
      }
    } else if (prefectExpected !== prefect.sha256) {
      results.push({
        key: "prefect.dump",
        expected: prefectExpected,
        actual: prefect.sha256,
        status: "mismatch",
      });
      problems.push({
        code: "ARCHIVE_CHECKSUM_MISMATCH",
        message: `checksum mismatch for prefect.dump: expected ${prefectExpected}, got ${prefect.sha256}`,
      });
    } else {
      results.push({ key: "prefect.dump", expected: prefectExpected, actual: prefect.sha256, status: "ok" });
    }
  } else if (!partial && includesTaskManager(metadata)) {
    problems.push({
      code: "ARCHIVE_MISSING_FILE",
      message: "backup metadata includes task manager database but prefect.dump is missing",
    });
  }
  for (const [key, file] of files) {
    if (key === "prefect.dump" || key in checksums) continue;
    if (absent) {
      results.push({ key, actual: file.sha256, status: "unverified" });
    } else {
      results.push({ key, actual: file.sha256, status: "unlisted" });
      problems.push({
        code: "ARCHIVE_UNEXPECTED_FILE",
        message: `file not covered by the metadata checksums: ${key}`,
      });
    }
  }
  return { results, problems };
}
