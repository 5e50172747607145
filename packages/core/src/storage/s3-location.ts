import { BackupError } from "../errors.js";

/** A bucket and a key (or prefix) in it. */
export interface S3Location {
  /** The bucket name. */
  bucket: string;
  /** The object key, or a prefix; `""` for the bucket root. */
  key: string;
}

/** `s3://bucket/key` → `{ bucket, key }`. The key may be empty (`s3://bucket`, `s3://bucket/`). */
export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/s.exec(uri);
  const bucket = match?.[1];
  if (!match || bucket === undefined) {
    throw new BackupError("INVALID_S3_URI", `not an S3 URI: ${JSON.stringify(uri)}`, {
      hint: "use s3://<bucket>/<key>, e.g. s3://backups/infrahub/infrahub_backup_20260130_102030.tar.gz",
    });
  }
  if (!isValidBucketName(bucket)) {
    throw new BackupError(
      "INVALID_S3_URI",
      `invalid bucket name in ${JSON.stringify(uri)}: ${JSON.stringify(bucket)}`,
      {
        hint: "bucket names are 3-63 characters: letters, digits, dots, hyphens and underscores",
      },
    );
  }
  return { bucket, key: match[2] ?? "" };
}

/**
 * Lenient on purpose: S3-compatible stores accept more than AWS (uppercase, underscores); only what can
 * never be a bucket (empty, slashes, spaces, out-of-range lengths) is refused here.
 */
export function isValidBucketName(bucket: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/.test(bucket);
}

/** Normalises a key prefix as upstream does: trailing slashes trimmed; `undefined`/`""` → `""`. */
export function normalizePrefix(prefix: string | undefined): string {
  return (prefix ?? "").replace(/\/+$/, "");
}

/** The object key of `name` under `prefix`: `<prefix>/<name>`, or `<name>` without a prefix. */
export function objectKey(prefix: string | undefined, name: string): string {
  const p = normalizePrefix(prefix);
  return p === "" ? name : `${p}/${name}`;
}

/** Splits a full key into the prefix and the archive's basename: `a/b/x.tar.gz` → `{prefix: "a/b", name: "x.tar.gz"}`. */
export function splitKey(key: string): { prefix: string; name: string } {
  const slash = key.lastIndexOf("/");
  return slash < 0 ? { prefix: "", name: key } : { prefix: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function formatS3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
