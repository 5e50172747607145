import type { KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import {
  BackupError,
  type BackupStore,
  LocalStore,
  OPSMILL_PUBLIC_KEY,
  parsePrivateKey,
  parsePublicKey,
  parseS3Uri,
  S3Store,
  splitKey,
} from "@infrahub-backup/core";
import type { Output } from "./output.js";
import type { ArchiveSource, GlobalOptions } from "./parse.js";
import { ReadReportingStore } from "./read-progress.js";

/** The S3 store of `--s3-*` (bucket/prefix overridable for `s3://` arguments). Credentials: the SDK chain. */
export function s3Store(
  global: GlobalOptions,
  output: Output,
  at?: { bucket: string; prefix: string },
): S3Store {
  const s3 = global.s3;
  return new S3Store({
    bucket: at?.bucket ?? s3.bucket ?? "",
    prefix: at ? at.prefix : s3.prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    caBundle: s3.caBundle,
    insecureTls: s3.insecureTls,
    sse: s3.sse,
    storageClass: s3.storageClass,
    maxParts: s3.maxParts,
    partSize: s3.partSize,
    checksums: s3.checksums,
    connectTimeoutMs: s3.connectTimeoutMs,
    requestTimeoutMs: s3.requestTimeoutMs,
    idleTimeoutMs: s3.idleTimeoutMs,
    maxAttempts: s3.maxAttempts,
    logger: { warn: (m, f) => output.warn(m, f), debug: (m, f) => output.debug(m, f) },
  });
}

/** The store of a local directory; `fileMode` applies to archives written there (default 0600). */
export function localStore(directory: string, fileMode?: number): LocalStore {
  return new LocalStore({ directory: resolve(directory), fileMode });
}

/**
 * Resolves an archive source to a store and a name; `--latest` picks the newest archive by stamp. Reads of
 * the store report their progress to `output`.
 */
export async function resolveSource(
  source: ArchiveSource,
  global: GlobalOptions,
  output: Output,
  pinned?: { name: string; startedAt: string },
): Promise<{ store: BackupStore; name: string }> {
  const { store, name } = await findSource(source, global, output, pinned);
  return { store: reportingReads(store, output), name };
}

/** `store` with each read's bytes shown as progress (the archive's size is the total). */
export function reportingReads(store: BackupStore, output: Output): BackupStore {
  return new ReadReportingStore(store, (read) => output.transfer(read));
}

async function findSource(
  source: ArchiveSource,
  global: GlobalOptions,
  output: Output,
  pinned?: { name: string; startedAt: string },
): Promise<{ store: BackupStore; name: string }> {
  if (source.kind === "path") {
    const path = resolve(source.path);
    return { store: localStore(dirname(path)), name: basename(path) };
  }
  if (source.kind === "s3") {
    const { bucket, key } = parseS3Uri(source.uri);
    const { prefix, name } = splitKey(key);
    if (!name) throw new BackupError("INVALID_S3_URI", `no object key in ${source.uri}`);
    return { store: s3Store(global, output, { bucket, prefix }), name };
  }
  const store = source.s3 ? s3Store(global, output) : localStore(global.backupDir);
  if (pinned) {
    output.info(
      `Selected ${pinned.name}: the latest backup when this restore request was started (${pinned.startedAt}); that run did not end, and this one restores the same archive`,
      { filename: pinned.name, started_at: pinned.startedAt },
    );
    return { store, name: pinned.name };
  }
  const latest = await store.latest();
  if (!latest) {
    throw new BackupError("ARTIFACT_NOT_FOUND", `no backup archive found in ${store.root}`, {
      hint: "archives are named infrahub_backup_<YYYYMMDD>_<HHMMSS>.tar.gz[.enc]",
    });
  }
  output.info("Selected latest backup", { filename: latest.name, location: latest.location });
  return { store, name: latest.name };
}

async function readKeyFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new BackupError(
      "ENCRYPTION_KEY_INVALID",
      `cannot read ${flag} ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

export async function loadDecryptKey(path: string | undefined): Promise<KeyObject | undefined> {
  return path === undefined ? undefined : parsePrivateKey(await readKeyFile(path, "--decrypt-key"));
}

export async function loadEncryptKey(
  encrypt: boolean,
  path: string | undefined,
): Promise<KeyObject | undefined> {
  if (path !== undefined) return parsePublicKey(await readKeyFile(path, "--encrypt-key"));
  return encrypt ? parsePublicKey(OPSMILL_PUBLIC_KEY) : undefined;
}

/** Copies one archive between stores (create --s3-upload --s3-keep-local). */
export async function copyArchive(
  from: BackupStore,
  to: BackupStore,
  name: string,
  signal: AbortSignal,
): Promise<{ location: string; size: number }> {
  const info = await from.head(name);
  const sink = await to.put(name, { sizeHint: info.size, signal });
  try {
    const stream = await from.get(name, { pin: info, signal });
    for await (const chunk of stream) await sink.write(chunk as Uint8Array);
    const commit = await sink.commit();
    return { location: commit.location, size: commit.size };
  } catch (error) {
    await sink.abort(error);
    throw error;
  }
}
