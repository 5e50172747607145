import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { rootCertificates } from "node:tls";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { BackupError, isBackupError } from "../errors.js";
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
  StorageLogger,
} from "./backup-store.js";
import { assertName, isStaleUploadName, newestArchive, WRITE_CHECK_PREFIX } from "./backup-store.js";
import { planParts } from "./part-plan.js";
import { S3_DEADLINE_DEFAULTS, type S3Deadlines, S3RetryStrategy, stallLimitMs } from "./s3-deadlines.js";
import { isTransientS3Error, mapS3Error, s3StallError } from "./s3-errors.js";
import { formatS3Uri, isValidBucketName, normalizePrefix, objectKey } from "./s3-location.js";
import { S3MultipartSink, type S3ObjectParams } from "./s3-multipart-sink.js";

/** Static S3 credentials; without them the AWS SDK's default chain is used. Never logged. */
export interface S3Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string | undefined;
}

/**
 * Options of S3Store; only `bucket` is required. Upload memory is bounded by the part size (see
 * `concurrency`).
 */
export interface S3StoreOptions {
  /** The bucket (must exist: STORAGE_NO_BUCKET otherwise). */
  bucket: string;
  /** Key prefix; objects are `<prefix>/<name>` (trailing slashes trimmed), or `<name>` without one. */
  prefix?: string | undefined;
  /** Any S3-compatible endpoint, e.g. `https://minio.example:9000`; `host:port` means https. Default: AWS. */
  endpoint?: string | undefined;
  /** Default `us-east-1`. */
  region?: string | undefined;
  /** Path-style addressing. Default: `true` when an endpoint is given (as upstream), else `false`. */
  forcePathStyle?: boolean | undefined;
  /**
   * When the SDK adds request checksums / validates response checksums. Default `"when_required"` for
   * non-AWS endpoints (several stores reject the SDK's newer default headers), `"when_supported"` for AWS.
   */
  checksums?: "when_required" | "when_supported" | undefined;
  /** Explicit keys; default: the SDK chain (env, shared files/profile, web identity/IRSA, pod identity, IMDS). */
  credentials?: S3Credentials | undefined;
  /** Shared-config profile for the default chain. */
  profile?: string | undefined;
  /** PEM file with the CA certificate(s) to trust for the endpoint (in addition to the system CAs). */
  caBundle?: string | undefined;
  /** Disable TLS certificate verification. Only explicitly; a warning is logged. */
  insecureTls?: boolean | undefined;
  /** Server-side encryption. */
  sse?: { type: "AES256" } | { type: "aws:kms"; kmsKeyId?: string | undefined } | undefined;
  /** Storage class of the archives (`STANDARD_IA`, …). Default: the bucket's. */
  storageClass?: string | undefined;
  /** The store's multipart part limit. Default 10,000; e.g. 1,000 for Scaleway. */
  maxParts?: number | undefined;
  /** Fixed base part size in bytes (≥ 5 MiB). Default: from the size hint (≥ 5 MiB), 5 MiB without one. */
  partSize?: number | undefined;
  /**
   * Parts uploaded at once. Default {@link DEFAULT_UPLOAD_CONCURRENCY} (2). Upload memory ≤ part size ×
   * (held parts + concurrency + 2), held ≤ 2 for an archive (the open entry's header, and an encrypted
   * archive's container header): 30 MiB with the defaults and 5 MiB parts.
   */
  concurrency?: number | undefined;
  /**
   * Attempts per request, the first included (retried with exponential backoff and jitter: throttling, 5xx,
   * dropped connections, timeouts). Default 3. A request whose every attempt times out fails after at most
   * `maxAttempts` × the largest of the three timeouts below (45 s by default).
   */
  maxAttempts?: number | undefined;
  /** Send `If-None-Match: *` when committing so an existing object is never replaced. Default `true`. */
  conditionalWrite?: boolean | undefined;
  /** Send Content-MD5 with every part. Default: `true` when checksums are "when_required". */
  contentMd5?: boolean | undefined;
  /** TCP (and TLS) connection set-up, per attempt. Default 5 s. */
  connectTimeoutMs?: number | undefined;
  /**
   * From sending a request without a body (list, head, get, create/abort multipart, delete) to the first
   * byte of its answer, per attempt. Default 10 s.
   */
  requestTimeoutMs?: number | undefined;
  /** Silence on the connection in both directions while a request is in flight, per attempt. Default 15 s. */
  idleTimeoutMs?: number | undefined;
  /** Budget to abort a multipart upload after a failure. Default 60 s. */
  abortTimeoutMs?: number | undefined;
  /**
   * Times a read resumes (ranged GET, pinned) after a dropped connection. Default 5. A read that receives
   * nothing for the stall limit (see `maxAttempts`) fails whatever this says, except that a resume less than
   * one attempt after the last byte or the consumer's return always gets one full attempt.
   */
  readResumes?: number | undefined;
  /** Where retries and other warnings go. Default: nowhere. */
  logger?: StorageLogger | undefined;
  /** Use this client instead of building one (its configuration then wins). */
  client?: S3Client | undefined;
}

const AWS_HOST = /(^|\.)amazonaws\.com(\.cn)?$/i;

/**
 * Parts in flight by default. Two keep a local MinIO as busy as four did (512 MiB archive: 85–97 MB/s
 * against 77–83 MB/s, the store's CPU being the limit), and each part in flight is a part buffer held.
 */
export const DEFAULT_UPLOAD_CONCURRENCY = 2;

/** Normalises an endpoint (`host:port` → `https://host:port`) and validates it. */
export function parseEndpoint(endpoint: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (error) {
    throw new BackupError("INVALID_ENDPOINT", `invalid S3 endpoint: ${JSON.stringify(endpoint)}`, {
      cause: error,
      hint: "use a URL such as https://s3.example.com or http://minio:9000",
    });
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new BackupError(
      "INVALID_ENDPOINT",
      `invalid S3 endpoint: ${JSON.stringify(endpoint)} (http or https only)`,
      {
        hint: "use a URL such as https://s3.example.com or http://minio:9000",
      },
    );
  }
  return url;
}

/** A BackupStore in an S3 bucket (AWS or any S3-compatible store). */
export class S3Store implements BackupStore, AsyncDisposable {
  /** {@inheritDoc BackupStore.kind} */
  readonly kind = "s3" as const;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix, without trailing slash; `""` for the bucket root. */
  readonly prefix: string;
  /** The AWS SDK client used. */
  readonly client: S3Client;
  readonly #options: S3StoreOptions;
  readonly #endpoint: string | undefined;
  readonly #checksums: "when_required" | "when_supported";
  readonly #ownsClient: boolean;
  readonly #deadlines: S3Deadlines;

  constructor(options: S3StoreOptions) {
    if (!options.bucket) {
      throw new BackupError("INVALID_CONFIG", "S3 bucket is required when S3 upload/download is enabled", {
        hint: "use --s3-bucket or INFRAHUB_S3_BUCKET",
      });
    }
    if (!isValidBucketName(options.bucket)) {
      throw new BackupError("INVALID_CONFIG", `invalid S3 bucket name: ${JSON.stringify(options.bucket)}`);
    }
    this.#options = options;
    this.#deadlines = resolveDeadlines(options);
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix);
    const url =
      options.endpoint === undefined || options.endpoint === "" ? undefined : parseEndpoint(options.endpoint);
    this.#endpoint = url?.origin;
    const isAws = url === undefined || AWS_HOST.test(url.hostname);
    this.#checksums = options.checksums ?? (isAws ? "when_supported" : "when_required");
    this.#ownsClient = options.client === undefined;
    this.client = options.client ?? this.#buildClient(url, isAws);
  }

  #buildClient(url: URL | undefined, isAws: boolean): S3Client {
    const o = this.#options;
    let ca: Buffer | undefined;
    if (o.caBundle !== undefined) {
      try {
        ca = readFileSync(o.caBundle);
      } catch (error) {
        throw new BackupError("INVALID_CONFIG", `cannot read the S3 CA bundle ${o.caBundle}`, {
          cause: error,
        });
      }
    }
    if (o.insecureTls) {
      o.logger?.warn(
        `TLS certificate verification is DISABLED for ${url?.origin ?? "S3"}: traffic can be intercepted; prefer a CA bundle`,
        { endpoint: url?.origin },
      );
    }
    const sockets = Math.max(1, o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY) * 2 + 4;
    const customTls = ca !== undefined || o.insecureTls === true;
    const tlsOptions = {
      keepAlive: true,
      maxSockets: sockets,
      // A CA bundle adds to the built-in trust; Node's `ca` option alone would replace it.
      ...(ca === undefined ? {} : { ca: [...rootCertificates, ca.toString("utf8")] }),
      ...(o.insecureTls ? { rejectUnauthorized: false } : {}),
    };
    const config: S3ClientConfig = {
      region: o.region || "us-east-1",
      forcePathStyle: o.forcePathStyle ?? url !== undefined,
      requestChecksumCalculation: this.#checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
      responseChecksumValidation: this.#checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
      maxAttempts: this.#deadlines.maxAttempts,
      retryStrategy: new S3RetryStrategy(this.#deadlines),
      followRegionRedirects: isAws,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: this.#deadlines.connectTimeoutMs,
        socketTimeout: this.#deadlines.idleTimeoutMs,
        // The first-byte timeout is given per request (`#opts`), only to requests without a body.
        throwOnRequestTimeout: true,
        // Agent *options* let the SDK wait for "100 Continue" before sending a part, so a store that refuses
        // an upload (quota, permissions) is heard instead of resetting the connection mid-body. The SDK
        // makes plain agents for those requests, though, so custom TLS settings need our own instances.
        ...(customTls
          ? {
              httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
              httpsAgent: new HttpsAgent(tlsOptions),
            }
          : {
              httpAgent: { keepAlive: true, maxSockets: sockets },
              httpsAgent: { keepAlive: true, maxSockets: sockets },
            }),
      }),
      ...(url === undefined ? {} : { endpoint: url.origin + (url.pathname === "/" ? "" : url.pathname) }),
      ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
      ...(o.profile === undefined ? {} : { profile: o.profile }),
    };
    return new S3Client(config);
  }

  /** {@inheritDoc BackupStore.root} */
  get root(): string {
    return formatS3Uri(this.bucket, this.prefix === "" ? "" : `${this.prefix}/`);
  }

  /** The endpoint given; undefined for AWS. */
  get endpoint(): string | undefined {
    return this.#endpoint;
  }

  /** The object key of `name`. */
  key(name: string): string {
    return objectKey(this.prefix, name);
  }

  /** {@inheritDoc BackupStore.location} */
  location(name: string): string {
    return formatS3Uri(this.bucket, this.key(name));
  }

  /** The deadlines in force (defaults filled in). */
  get deadlines(): Readonly<S3Deadlines> {
    return this.#deadlines;
  }

  #map(error: unknown, operation: string, key?: string, phase?: string): BackupError {
    return mapS3Error(error, { operation, bucket: this.bucket, key, endpoint: this.#endpoint, phase });
  }

  /** Per-request options: the caller's signal, and the first-byte timeout for a request without a body. */
  #opts(signal?: AbortSignal): { abortSignal?: AbortSignal; requestTimeout: number } {
    return { ...(signal ? { abortSignal: signal } : {}), requestTimeout: this.#deadlines.requestTimeoutMs };
  }

  #objectParams(): S3ObjectParams {
    const o = this.#options;
    const params: S3ObjectParams = { ContentType: "application/gzip" };
    if (o.sse?.type === "AES256") params.ServerSideEncryption = "AES256";
    if (o.sse?.type === "aws:kms") {
      params.ServerSideEncryption = "aws:kms";
      if (o.sse.kmsKeyId) params.SSEKMSKeyId = o.sse.kmsKeyId;
    }
    if (o.storageClass) params.StorageClass = o.storageClass as StorageClass;
    return params;
  }

  /** {@inheritDoc BackupStore.put} */
  async put(name: string, options: PutOptions = {}): Promise<ArchiveSink> {
    assertName(name);
    const o = this.#options;
    if (options.signal?.aborted) {
      throw new BackupError("CANCELLED", `upload of ${this.location(name)} was cancelled before it started`);
    }
    const plan = planParts({ sizeHint: options.sizeHint, maxParts: o.maxParts, partSize: o.partSize });
    const key = this.key(name);
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        this.#opts(options.signal),
      );
      throw new BackupError("ARTIFACT_EXISTS", `${this.location(name)} already exists; not replacing it`, {
        hint: "backups are never overwritten; choose another name or delete the old one first",
      });
    } catch (error) {
      if (isBackupError(error)) throw error;
      const mapped = this.#map(
        error,
        "HeadObject",
        key,
        `checking that ${this.location(name)} does not exist yet`,
      );
      // A write-only user may not read: then the conditional commit is the only guard.
      if (mapped.code !== "ARTIFACT_NOT_FOUND" && mapped.code !== "STORAGE_ACCESS_DENIED") throw mapped;
    }
    return new S3MultipartSink({
      client: this.client,
      bucket: this.bucket,
      key,
      location: this.location(name),
      endpoint: this.#endpoint,
      plan,
      concurrency: o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      objectParams: this.#objectParams(),
      contentMd5: o.contentMd5 ?? this.#checksums === "when_required",
      checksumAlgorithm: this.#checksums === "when_supported" ? "CRC32" : undefined,
      conditionalWrite: o.conditionalWrite ?? true,
      abortTimeoutMs: o.abortTimeoutMs,
      requestTimeoutMs: this.#deadlines.requestTimeoutMs,
      signal: options.signal,
      logger: o.logger,
    });
  }

  /** {@inheritDoc BackupStore.head} */
  async head(name: string): Promise<ObjectInfo> {
    assertName(name);
    const key = this.key(name);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        this.#opts(),
      );
      return {
        name,
        location: this.location(name),
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
        etag: out.ETag,
        versionId: out.VersionId,
      };
    } catch (error) {
      throw this.#map(error, "HeadObject", key, `reading the size and ETag of ${this.location(name)}`);
    }
  }

  /** {@inheritDoc BackupStore.get} */
  async get(name: string, options: GetOptions = {}): Promise<ObjectStream> {
    const info = options.pin ?? (await this.head(name));
    if (options.pin !== undefined && options.pin.name !== name) {
      throw new BackupError("INTERNAL", `pin for ${options.pin.name} used to read ${name}`);
    }
    const start = options.start ?? 0;
    const stream = Readable.from(this.#read(info, start, options.signal), {
      objectMode: false,
    }) as ObjectStream;
    Object.defineProperty(stream, "info", { value: info, enumerable: true });
    return stream;
  }

  /**
   * Ranged GETs pinned by If-Match (and VersionId); resumes where a dropped connection stopped. A read that
   * receives no byte for the stall limit fails, however many resumes are left.
   */
  async *#read(info: ObjectInfo, start: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    const key = this.key(info.name);
    const maxResumes = this.#options.readResumes ?? 5;
    const limit = stallLimitMs(this.#deadlines);
    const perAttempt = Math.max(this.#deadlines.requestTimeoutMs, this.#deadlines.idleTimeoutMs);
    let position = start;
    let resumes = 0;
    let lastProgress = Date.now();
    // At least this long for the next GET: a resume granted a full attempt (below) gets one.
    let attemptFloor = 1;
    while (position < info.size) {
      // Bounds the wait for an answer (all the SDK's attempts); once bytes flow, the idle timeout applies.
      const stall = new AbortController();
      const timer = setTimeout(
        () => stall.abort(),
        Math.max(attemptFloor, limit - (Date.now() - lastProgress)),
      );
      try {
        let out: GetObjectCommandOutput;
        try {
          out = await this.client.send(
            new GetObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Range: `bytes=${position}-`,
              ...(info.etag ? { IfMatch: info.etag } : {}),
              ...(info.versionId ? { VersionId: info.versionId } : {}),
            }),
            this.#opts(signal ? AbortSignal.any([signal, stall.signal]) : stall.signal),
          );
        } finally {
          clearTimeout(timer);
        }
        const total = /\/(\d+)$/.exec(out.ContentRange ?? "")?.[1];
        if (total !== undefined && Number(total) !== info.size) throw changed(info, `size is now ${total}`);
        if (info.etag && out.ETag && out.ETag !== info.etag) throw changed(info, "ETag differs");
        for await (const chunk of out.Body as Readable) {
          const buf = chunk as Buffer;
          if (position + buf.length > info.size) throw changed(info, "more bytes than expected");
          position += buf.length;
          lastProgress = Date.now();
          yield buf;
          // The consumer is back: the time it spent elsewhere (a staged dump checked in its container) was not
          // the store's silence. If the socket timed out meanwhile, the read resumes from `position`.
          lastProgress = Date.now();
        }
        if (position < info.size) {
          throw Object.assign(new Error("connection closed before the end of the object"), {
            code: "ECONNRESET",
          });
        }
      } catch (error) {
        if (isBackupError(error)) throw error;
        if (signal?.aborted)
          throw new BackupError("CANCELLED", `read of ${info.location} was cancelled`, { cause: error });
        // Where the read was when it failed, not where this GET began.
        const phase = `reading ${info.location} at byte ${position} of ${info.size}`;
        const ctx = { operation: "GetObject", bucket: this.bucket, key, endpoint: this.#endpoint, phase };
        if (stall.signal.aborted)
          throw s3StallError(ctx, { cause: error, silentForMs: Date.now() - lastProgress });
        const mapped = this.#map(error, "GetObject", key, phase);
        if (mapped.code === "ARTIFACT_NOT_FOUND" && (info.etag || info.versionId)) {
          throw changed(info, "it was deleted", error);
        }
        if (!isTransientS3Error(error) || resumes >= maxResumes) throw mapped;
        const silence = Date.now() - lastProgress;
        // A failure less than one attempt after the last byte or the consumer's return (a connection dropped at
        // once, or a socket that timed out while the consumer was away) is not the store's silence: the resume
        // gets a full attempt, even when the stall limit is one attempt (maxAttempts 1). Otherwise another
        // attempt that could not end within the stall limit is not made: report what timed out.
        if (silence >= perAttempt && silence + perAttempt > limit) throw mapped;
        attemptFloor = silence < perAttempt ? perAttempt : 1;
        resumes++;
        this.#options.logger?.debug?.("resuming read after a dropped connection", {
          location: info.location,
          position,
          attempt: resumes,
        });
        await sleep(Math.min(5_000, 200 * 2 ** resumes));
      }
    }
  }

  /** {@inheritDoc BackupStore.list} */
  async list(): Promise<ListedObject[]> {
    const prefix = this.prefix === "" ? "" : `${this.prefix}/`;
    const objects: ListedObject[] = [];
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: "/",
            ContinuationToken: token,
          }),
          this.#opts(),
        );
      } catch (error) {
        throw this.#map(error, "ListObjectsV2", undefined, `listing ${this.root}`);
      }
      for (const c of out.Contents ?? []) {
        if (!c.Key || c.Key.length <= prefix.length) continue;
        const name = c.Key.slice(prefix.length);
        objects.push({
          name,
          location: formatS3Uri(this.bucket, c.Key),
          size: c.Size ?? 0,
          lastModified: c.LastModified ?? new Date(0),
          etag: c.ETag,
          archive: parseArchiveName(name),
        });
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** {@inheritDoc BackupStore.latest} */
  async latest(): Promise<ListedArchive | undefined> {
    return newestArchive(await this.list());
  }

  /** {@inheritDoc BackupStore.delete} */
  async delete(name: string, options: { pin?: ObjectInfo | undefined } = {}): Promise<void> {
    assertName(name);
    const key = this.key(name);
    if (options.pin) {
      const now = await this.head(name);
      if (now.etag !== options.pin.etag || now.size !== options.pin.size) {
        throw changed(options.pin, "it was replaced");
      }
    }
    try {
      // DeleteObject, not DeleteObjects: the latter sends CRC32 even under WHEN_REQUIRED (aws-sdk-js-v3#6819).
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), this.#opts());
    } catch (error) {
      throw this.#map(error, "DeleteObject", key, `deleting ${this.location(name)}`);
    }
  }

  /**
   * Preflight. Always: the prefix can be listed (s3:ListBucket). With `write`: a multipart upload can be
   * created under the prefix and aborted again (s3:PutObject, s3:AbortMultipartUpload, and the KMS key
   * with --s3-sse aws:kms) — exactly what a backup needs, without s3:DeleteObject, and nothing becomes
   * visible: no object, no version, no delete marker, nothing held by Object Lock.
   */
  async check(options: { write?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix === "" ? "" : `${this.prefix}/`,
          MaxKeys: 1,
        }),
        this.#opts(options.signal),
      );
    } catch (error) {
      throw this.#map(error, "ListObjectsV2", undefined, `checking access to ${this.root}`);
    }
    if (options.write) await this.#proveWrite(options.signal);
  }

  async #proveWrite(signal: AbortSignal | undefined): Promise<void> {
    const key = this.key(`${WRITE_CHECK_PREFIX}${randomBytes(8).toString("hex")}`);
    const test = formatS3Uri(this.bucket, key);
    const grant = `arn:aws:s3:::${this.bucket}/${this.prefix === "" ? "" : `${this.prefix}/`}*`;
    let uploadId: string | undefined;
    try {
      const out = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ...this.#objectParams(),
          ...(this.#checksums === "when_supported" ? { ChecksumAlgorithm: "CRC32" } : {}),
        }),
        this.#opts(signal),
      );
      uploadId = out.UploadId;
    } catch (error) {
      const mapped = this.#map(error, "CreateMultipartUpload", key, `proving write access to ${this.root}`);
      if (mapped.code !== "STORAGE_ACCESS_DENIED") throw mapped;
      throw new BackupError(
        "STORAGE_ACCESS_DENIED",
        `cannot write backups to ${this.root}: access denied for s3:PutObject (the preflight's CreateMultipartUpload of ${test} was refused)`,
        {
          cause: error,
          hint: `grant s3:PutObject and s3:AbortMultipartUpload on ${grant} to these credentials${this.#options.sse?.type === "aws:kms" ? " (and kms:GenerateDataKey on the KMS key)" : ""}`,
          details: { ...mapped.details, permission: "s3:PutObject" },
        },
      );
    }
    if (!uploadId) {
      throw new BackupError("STORAGE_FAILED", `CreateMultipartUpload of ${test} returned no upload id`);
    }
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
        this.#opts(signal),
      );
    } catch (error) {
      const mapped = this.#map(
        error,
        "AbortMultipartUpload",
        key,
        `removing the preflight's test upload ${test}`,
      );
      const denied = mapped.code === "STORAGE_ACCESS_DENIED";
      throw new BackupError(
        mapped.code,
        denied
          ? `cannot clean up failed uploads under ${this.root}: access denied for s3:AbortMultipartUpload; the preflight's empty test upload ${test} (upload id ${uploadId}) remains`
          : `${mapped.message}; the preflight's empty test upload (upload id ${uploadId}) may remain`,
        {
          cause: error,
          hint: denied
            ? `grant s3:AbortMultipartUpload on ${grant} (a failed backup must be able to remove its parts); \`prune\` removes the test upload after 24 h, or a lifecycle rule with AbortIncompleteMultipartUpload does`
            : (mapped.hint ?? "`prune` removes leftover uploads after 24 h"),
          details: {
            ...mapped.details,
            uploadId,
            ...(denied ? { permission: "s3:AbortMultipartUpload" } : {}),
          },
        },
      );
    }
  }

  /**
   * Aborts multipart uploads left by writes that never finished (a process killed outright): only those of
   * archive names (and of the preflight's test keys) directly under the prefix, started more than
   * `olderThanMs` ago. Uploads that are newer — another backup may be writing them — and any other key are
   * never touched. Continues past a failed abort and reports it.
   */
  async removeStaleUploads(options: StaleUploadsOptions): Promise<StaleUploadsResult> {
    const cutoff = Date.now() - options.olderThanMs;
    const prefix = this.prefix === "" ? "" : `${this.prefix}/`;
    const result: StaleUploadsResult = {
      removed: [],
      failed: [],
      recent: 0,
      dryRun: options.dryRun ?? false,
    };
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let out: ListMultipartUploadsCommandOutput;
      try {
        // No server-side Prefix: MinIO treats it as an exact object name. Filtered below instead.
        out = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
          this.#opts(options.signal),
        );
      } catch (error) {
        throw this.#map(
          error,
          "ListMultipartUploads",
          undefined,
          `listing unfinished uploads in ${this.root}`,
        );
      }
      for (const u of out.Uploads ?? []) {
        if (!u.Key?.startsWith(prefix) || !u.UploadId) continue;
        const name = u.Key.slice(prefix.length);
        if (!isStaleUploadName(name)) continue;
        // An upload without a start time cannot be proven old: left alone.
        if (!u.Initiated || u.Initiated.getTime() > cutoff) {
          result.recent++;
          continue;
        }
        const upload = { name, location: formatS3Uri(this.bucket, u.Key), startedAt: u.Initiated };
        if (result.dryRun) {
          result.removed.push(upload);
          continue;
        }
        try {
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
            this.#opts(options.signal),
          );
          result.removed.push(upload);
        } catch (error) {
          if ((error as { name?: string })?.name === "NoSuchUpload") continue; // finished or aborted meanwhile
          result.failed.push({
            ...upload,
            error: this.#map(
              error,
              "AbortMultipartUpload",
              u.Key,
              `aborting the unfinished upload of ${upload.location}`,
            ),
          });
        }
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      uploadIdMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return result;
  }

  /** Releases the client's connections (unless the client was given). */
  async close(): Promise<void> {
    if (this.#ownsClient) this.client.destroy();
  }

  /** close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The deadlines of `options` with the defaults filled in; refuses values that are not positive integers. */
function resolveDeadlines(options: S3StoreOptions): S3Deadlines {
  const d: S3Deadlines = {
    connectTimeoutMs: options.connectTimeoutMs ?? S3_DEADLINE_DEFAULTS.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? S3_DEADLINE_DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? S3_DEADLINE_DEFAULTS.idleTimeoutMs,
    maxAttempts: options.maxAttempts ?? S3_DEADLINE_DEFAULTS.maxAttempts,
  };
  for (const [name, value] of Object.entries(d)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new BackupError("INVALID_CONFIG", `S3 ${name} must be a positive integer, got ${value}`);
    }
  }
  return d;
}

function changed(info: ObjectInfo, why: string, cause?: unknown): BackupError {
  return new BackupError("STORAGE_CHANGED", `${info.location} changed while it was being read: ${why}`, {
    hint: "another process replaced or deleted the backup; retry with the current object",
    ...(cause === undefined ? {} : { cause }),
  });
}
