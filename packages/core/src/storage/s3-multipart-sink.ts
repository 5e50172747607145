import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
  type StorageClass,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { ArchiveSink, SinkCommit } from "../archive/archive-sink.js";
import { BackupError, isBackupError } from "../errors.js";
import { trackUpload } from "./active-uploads.js";
import type { StorageLogger } from "./backup-store.js";
import { type PartPlan, partSizeFor } from "./part-plan.js";
import { isTransientS3Error, mapS3Error } from "./s3-errors.js";

/** Object parameters applied to the upload (PutObject / CreateMultipartUpload). */
export interface S3ObjectParams {
  ServerSideEncryption?: "AES256" | "aws:kms" | undefined;
  SSEKMSKeyId?: string | undefined;
  StorageClass?: StorageClass | undefined;
  ContentType?: string | undefined;
}

/** @internal built by S3Store.put. */
export interface S3MultipartSinkConfig {
  client: S3Client;
  bucket: string;
  key: string;
  location: string;
  endpoint: string | undefined;
  plan: PartPlan;
  /** Parts uploaded at the same time (≥ 1). */
  concurrency: number;
  objectParams: S3ObjectParams;
  /** Send Content-MD5 with every part / single put, so the store verifies each body. */
  contentMd5: boolean;
  /**
   * Declare CRC32 on the multipart upload and list each part's CRC32 on completion. Needed when the SDK
   * adds checksums by itself ("when supported", i.e. AWS): S3 rejects the completion of an upload whose
   * parts carry checksums the upload was not created with.
   */
  checksumAlgorithm?: "CRC32" | undefined;
  /** Send `If-None-Match: *` on the final request, so an existing object is never replaced. */
  conditionalWrite: boolean;
  /** Budget for aborting the multipart upload after a failure (network may be flaky). Default 60 s. */
  abortTimeoutMs?: number | undefined;
  /** First-byte timeout of requests without a body (create, abort, list, head), per attempt. */
  requestTimeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  logger?: StorageLogger | undefined;
}

type PartState = "filling" | "held" | "queued" | "uploading";

interface Part {
  number: number;
  start: number;
  size: number;
  buf: Buffer;
  length: number;
  /** Unpatched placeholders overlapping this part. */
  pending: number;
  state: PartState;
}

type SinkState = "open" | "committing" | "committed" | "failed" | "aborted";

/**
 * An ArchiveSink that uploads to S3 with a multipart upload it drives itself.
 *
 * Memory: at most one part being filled, one queued, `concurrency` uploading, plus the parts that hold an
 * unpatched placeholder: ≤ part size × (held + concurrency + 2). An object that ends within its first part
 * is sent with one PutObject (no multipart upload is ever created). Any failure, `abort`, or the signal
 * cancels the requests in flight and aborts the multipart upload: no object and no parts are left.
 */
export class S3MultipartSink implements ArchiveSink {
  readonly #cfg: S3MultipartSinkConfig;
  readonly #requests = new AbortController();
  readonly #parts = new Map<number, Part>();
  readonly #placeholders = new Map<number, number>();
  readonly #queue: Part[] = [];
  readonly #uploads = new Set<Promise<void>>();
  readonly #etags = new Map<number, { ETag: string; ChecksumCRC32?: string }>();
  readonly #pool: Buffer[] = [];
  #waiters: Array<() => void> = [];
  #current: Part | undefined;
  #nextPart = 1;
  #position = 0;
  #state: SinkState = "open";
  #error: BackupError | undefined;
  #uploadId: Promise<string> | undefined;
  /** The store answered CreateMultipartUpload with an error: no upload exists, nothing to abort. */
  #createRefused = false;
  /** The request the commit is waiting for, to name it (and what it was for) in errors. */
  #operation = "CompleteMultipartUpload";
  #phase: string | undefined;
  #committing: Promise<SinkCommit> | undefined;
  /** Set once the final request (PutObject / CompleteMultipartUpload) was sent. */
  #publishing = false;
  #abortDone: Promise<void> | undefined;
  readonly #untrack: () => void;
  readonly #onSignal: () => void;

  constructor(config: S3MultipartSinkConfig) {
    this.#cfg = { ...config, concurrency: Math.max(1, Math.floor(config.concurrency)) };
    this.#untrack = trackUpload(this);
    this.#onSignal = () => {
      void this.abort(config.signal?.reason);
    };
    config.signal?.addEventListener("abort", this.#onSignal, { once: true });
  }

  get location(): string {
    return this.#cfg.location;
  }

  get position(): number {
    return this.#position;
  }

  /** The multipart upload id, once one was created (for diagnostics and tests). */
  async uploadId(): Promise<string | undefined> {
    // A failed creation is the sink's own error, reported by write/commit; here it just means "no id".
    return this.#uploadId?.catch(() => undefined);
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#guard(() => this.#append(chunk, false));
  }

  writePlaceholder(chunk: Uint8Array): Promise<number> {
    return this.#guard(async () => {
      const offset = this.#position;
      if (chunk.length > 0) this.#placeholders.set(offset, chunk.length);
      await this.#append(chunk, true);
      return offset;
    });
  }

  patch(offset: number, bytes: Uint8Array): Promise<void> {
    return this.#guard(() => this.#patch(offset, bytes));
  }

  /** Runs a write-side operation; any error it raises fails the sink (and so aborts the upload). */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await operation();
    } catch (error) {
      const mapped = this.#toError(error, "UploadPart");
      this.#fail(mapped);
      throw mapped;
    }
  }

  async #patch(offset: number, bytes: Uint8Array): Promise<void> {
    const length = this.#placeholders.get(offset);
    if (length === undefined || length !== bytes.length) {
      throw new BackupError(
        "INTERNAL",
        `patch at ${offset} (${bytes.length} bytes) does not match an unpatched placeholder of ${this.#cfg.location}`,
      );
    }
    this.#placeholders.delete(offset);
    const end = offset + length;
    for (const part of [...this.#parts.values()]) {
      const from = Math.max(offset, part.start);
      const to = Math.min(end, part.start + part.length);
      if (from >= to) continue;
      part.buf.set(bytes.subarray(from - offset, to - offset), from - part.start);
      part.pending--;
      if (part.pending === 0 && part.state === "held") this.#enqueue(part);
    }
    await this.#waitForRoom();
  }

  commit(): Promise<SinkCommit> {
    if (this.#committing) {
      return Promise.reject(
        this.#error ?? new BackupError("INTERNAL", `commit of ${this.#cfg.location} was already called`),
      );
    }
    this.#committing = this.#commit();
    return this.#committing;
  }

  async #commit(): Promise<SinkCommit> {
    this.#assertOpen();
    this.#state = "committing";
    try {
      if (this.#placeholders.size > 0) {
        throw new BackupError(
          "INTERNAL",
          `${this.#placeholders.size} placeholder(s) were never patched in ${this.#cfg.location}`,
        );
      }
      const single = this.#uploadId === undefined && this.#nextPart <= 2 && this.#queue.length === 0;
      const result = single ? await this.#putSingle() : await this.#completeMultipart();
      this.#state = "committed";
      this.#finish();
      return result;
    } catch (error) {
      const mapped = this.#toError(error, this.#operation, this.#phase);
      this.#fail(mapped);
      // The commit reports its own failure; a failed clean-up was logged by #abortMultipart already.
      await this.#abortDone?.catch(() => undefined);
      throw mapped;
    }
  }

  abort(reason?: unknown): Promise<void> {
    if (this.#state === "committed") return Promise.resolve();
    if (this.#abortDone) return this.#abortDone;
    if (this.#state === "committing" && this.#publishing && this.#committing) {
      // The final request is out: cancelling it could leave the outcome unknown. Let the commit finish
      // (a complete object is not a partial one) or fail (then its cleanup runs), and report that.
      return this.#committing.then(
        () => undefined,
        () => this.abort(reason),
      );
    }
    this.#state = this.#state === "failed" ? "failed" : "aborted";
    if (this.#error === undefined) {
      this.#error = isBackupError(reason)
        ? reason
        : new BackupError("CANCELLED", `upload of ${this.#cfg.location} was aborted`, {
            ...(reason === undefined ? {} : { cause: reason }),
          });
    }
    this.#abortDone = this.#cleanUp();
    // The caller gets #abortDone itself; this only keeps an un-awaited copy from being "unhandled".
    this.#abortDone.catch(() => undefined);
    this.#wake();
    return this.#abortDone;
  }

  // ---- appending and part bookkeeping ----

  async #append(chunk: Uint8Array, placeholder: boolean): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const part = this.#current ?? this.#newPart();
      const n = Math.min(part.size - part.length, chunk.length - off);
      part.buf.set(chunk.subarray(off, off + n), part.length);
      part.length += n;
      off += n;
      this.#position += n;
      if (placeholder) part.pending++;
      if (part.length === part.size) {
        this.#current = undefined;
        this.#seal(part);
        await this.#waitForRoom();
      }
    }
  }

  #newPart(): Part {
    const size = partSizeFor(this.#cfg.plan, this.#nextPart);
    const pooled = this.#pool.findIndex((b) => b.length === size);
    const buf = pooled >= 0 ? this.#pool.splice(pooled, 1)[0]! : Buffer.allocUnsafeSlow(size);
    const part: Part = {
      number: this.#nextPart++,
      start: this.#position,
      size,
      buf,
      length: 0,
      pending: 0,
      state: "filling",
    };
    this.#parts.set(part.number, part);
    this.#current = part;
    return part;
  }

  #seal(part: Part): void {
    if (part.pending > 0) part.state = "held";
    else this.#enqueue(part);
  }

  #enqueue(part: Part): void {
    part.state = "queued";
    this.#queue.push(part);
    this.#pump();
  }

  #pump(): void {
    while (this.#state !== "failed" && this.#state !== "aborted" && this.#queue.length > 0) {
      const inFlight = [...this.#parts.values()].filter((p) => p.state === "uploading").length;
      if (inFlight >= this.#cfg.concurrency) return;
      const part = this.#queue.shift()!;
      part.state = "uploading";
      const upload = this.#uploadPart(part).catch((error) =>
        this.#fail(
          this.#toError(
            error,
            "UploadPart",
            `uploading part ${part.number} (bytes ${part.start}-${part.start + part.length - 1}) of ${this.#cfg.location}`,
          ),
        ),
      );
      this.#uploads.add(upload);
      void upload.finally(() => {
        this.#uploads.delete(upload);
        this.#pump();
        this.#wake();
      });
    }
  }

  async #uploadPart(part: Part): Promise<void> {
    const uploadId = await this.#ensureMultipart();
    const body = part.buf.subarray(0, part.length);
    const output = await this.#cfg.client.send(
      new UploadPartCommand({
        Bucket: this.#cfg.bucket,
        Key: this.#cfg.key,
        UploadId: uploadId,
        PartNumber: part.number,
        Body: body,
        ContentLength: part.length,
        ...(this.#cfg.contentMd5 ? { ContentMD5: md5(body) } : {}),
        ...(this.#cfg.checksumAlgorithm ? { ChecksumAlgorithm: this.#cfg.checksumAlgorithm } : {}),
      }),
      { abortSignal: this.#requests.signal },
    );
    if (!output.ETag) throw new BackupError("STORAGE_FAILED", `UploadPart ${part.number} returned no ETag`);
    this.#etags.set(part.number, {
      ETag: output.ETag,
      ...(this.#cfg.checksumAlgorithm && output.ChecksumCRC32 ? { ChecksumCRC32: output.ChecksumCRC32 } : {}),
    });
    this.#release(part);
  }

  #release(part: Part): void {
    this.#parts.delete(part.number);
    if (this.#pool.length < this.#cfg.concurrency + 1) this.#pool.push(part.buf);
  }

  /** Options of a request without a body: cancelled with the sink, and the first-byte timeout. */
  #bodyless(signal: AbortSignal = this.#requests.signal): {
    abortSignal: AbortSignal;
    requestTimeout?: number;
  } {
    return {
      abortSignal: signal,
      ...(this.#cfg.requestTimeoutMs ? { requestTimeout: this.#cfg.requestTimeoutMs } : {}),
    };
  }

  #ensureMultipart(): Promise<string> {
    this.#uploadId ??= this.#cfg.client
      .send(
        new CreateMultipartUploadCommand({
          Bucket: this.#cfg.bucket,
          Key: this.#cfg.key,
          ...this.#cfg.objectParams,
          ...(this.#cfg.checksumAlgorithm ? { ChecksumAlgorithm: this.#cfg.checksumAlgorithm } : {}),
        }),
        this.#bodyless(),
      )
      .then((out) => {
        if (!out.UploadId)
          throw new BackupError("STORAGE_FAILED", "CreateMultipartUpload returned no UploadId");
        return out.UploadId;
      })
      .catch((error) => {
        const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
        this.#createRefused = status !== undefined && status >= 400 && status < 500;
        throw this.#toError(
          error,
          "CreateMultipartUpload",
          `starting the multipart upload of ${this.#cfg.location}`,
        );
      });
    return this.#uploadId;
  }

  /** Resolves when no part waits for an upload slot; rejects once the sink failed or was aborted. */
  async #waitForRoom(): Promise<void> {
    while (this.#queue.length > 0) {
      this.#throwIfStopped();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#throwIfStopped();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  // ---- commit ----

  async #putSingle(): Promise<SinkCommit> {
    this.#operation = "PutObject";
    this.#phase = `uploading ${this.#cfg.location} in one request`;
    this.#publishing = true;
    const part = this.#current;
    const body = part ? part.buf.subarray(0, part.length) : Buffer.alloc(0);
    const output = await this.#cfg.client.send(
      new PutObjectCommand({
        Bucket: this.#cfg.bucket,
        Key: this.#cfg.key,
        Body: body,
        ContentLength: body.length,
        ...(this.#cfg.contentMd5 ? { ContentMD5: md5(body) } : {}),
        ...(this.#cfg.conditionalWrite ? { IfNoneMatch: "*" } : {}),
        ...this.#cfg.objectParams,
      }),
    );
    if (part) {
      this.#current = undefined;
      this.#release(part);
    }
    return this.#verify(output.ETag, output.VersionId);
  }

  async #completeMultipart(): Promise<SinkCommit> {
    const last = this.#current;
    if (last && last.length > 0) {
      this.#current = undefined;
      this.#seal(last);
    }
    while (this.#uploads.size > 0 || this.#queue.length > 0) {
      this.#throwIfStopped();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#throwIfStopped();
    const uploadId = await this.#ensureMultipart();
    this.#operation = "CompleteMultipartUpload";
    this.#phase = `completing the multipart upload of ${this.#cfg.location} (${this.#nextPart - 1} parts)`;
    const parts = [...this.#etags.entries()]
      .sort(([a], [b]) => a - b)
      .map(([PartNumber, part]) => ({ PartNumber, ...part }));
    if (parts.length !== this.#nextPart - 1 || this.#parts.size > 0) {
      throw new BackupError(
        "INTERNAL",
        `multipart bookkeeping: ${parts.length} of ${this.#nextPart - 1} parts uploaded`,
      );
    }
    this.#publishing = true;
    const output = await this.#cfg.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.#cfg.bucket,
        Key: this.#cfg.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...(this.#cfg.conditionalWrite ? { IfNoneMatch: "*" } : {}),
      }),
    );
    return this.#verify(output.ETag, output.VersionId);
  }

  /** The store must report exactly the bytes we sent; a silent short object is the worst outcome. */
  async #verify(etag: string | undefined, versionId: string | undefined): Promise<SinkCommit> {
    this.#operation = "HeadObject";
    this.#phase = `checking the size of the uploaded ${this.#cfg.location}`;
    const head = await this.#cfg.client.send(
      new HeadObjectCommand({
        Bucket: this.#cfg.bucket,
        Key: this.#cfg.key,
        ...(versionId ? { VersionId: versionId } : {}),
      }),
      this.#bodyless(),
    );
    if (
      head.ContentLength !== this.#position ||
      (etag !== undefined && head.ETag !== undefined && head.ETag !== etag)
    ) {
      const removed = await this.#cfg.client
        .send(
          new DeleteObjectCommand({
            Bucket: this.#cfg.bucket,
            Key: this.#cfg.key,
            ...(versionId ? { VersionId: versionId } : {}),
          }),
          this.#bodyless(),
        )
        .then(
          () => "removed it",
          // Reported in the message below: the wrong-size object is what the user must know about.
          (error: unknown) => `could NOT remove it (${(error as Error)?.name ?? "error"}): delete it by hand`,
        );
      throw new BackupError(
        "STORAGE_FAILED",
        `${this.#cfg.location} has ${head.ContentLength} bytes after upload, expected ${this.#position}; ${removed}`,
      );
    }
    return {
      location: this.#cfg.location,
      size: this.#position,
      etag: head.ETag ?? etag,
      ...(versionId ? { versionId } : {}),
    };
  }

  // ---- failure and cleanup ----

  #assertOpen(): void {
    if (this.#state === "open") return;
    if (this.#state === "committed" || this.#state === "committing") {
      throw new BackupError("INTERNAL", `sink for ${this.#cfg.location} is already ${this.#state}`);
    }
    this.#throwIfStopped();
  }

  #throwIfStopped(): void {
    if (this.#state === "failed" || this.#state === "aborted") {
      throw this.#error ?? new BackupError("CANCELLED", `upload of ${this.#cfg.location} was aborted`);
    }
  }

  #toError(error: unknown, operation: string, phase?: string): BackupError {
    if (this.#error && (this.#state === "failed" || this.#state === "aborted")) return this.#error;
    if (isBackupError(error)) return error;
    const name = (error as { name?: string } | undefined)?.name;
    if (
      (name === "PreconditionFailed" ||
        (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 412) &&
      (operation === "CompleteMultipartUpload" || operation === "PutObject")
    ) {
      return new BackupError("ARTIFACT_EXISTS", `${this.#cfg.location} already exists; not replacing it`, {
        cause: error,
      });
    }
    return mapS3Error(error, {
      operation,
      bucket: this.#cfg.bucket,
      key: this.#cfg.key,
      endpoint: this.#cfg.endpoint,
      phase,
    });
  }

  #fail(error: BackupError): void {
    if (this.#state === "failed" || this.#state === "aborted" || this.#state === "committed") return;
    this.#state = "failed";
    this.#error = error;
    this.#cfg.logger?.debug?.("upload failed; aborting", { location: this.#cfg.location, code: error.code });
    this.#abortDone = this.#cleanUp();
    // Callers of abort() see a failure to clean up; here the primary error is what matters.
    this.#abortDone.catch(() => undefined);
    this.#wake();
  }

  async #cleanUp(): Promise<void> {
    this.#requests.abort();
    this.#cfg.signal?.removeEventListener("abort", this.#onSignal);
    await Promise.allSettled([...this.#uploads]);
    this.#parts.clear();
    this.#queue.length = 0;
    this.#pool.length = 0;
    this.#current = undefined;
    try {
      if (this.#uploadId !== undefined) {
        // Whether creation failed is what #createRefused records; the error itself was reported already.
        await this.#uploadId.catch(() => undefined);
        if (!this.#createRefused) await this.#abortMultipart();
      }
    } finally {
      this.#untrack();
      this.#wake();
    }
  }

  /**
   * Aborts our multipart upload, retrying while the network recovers, and confirms it is gone. When the
   * id is unknown (creation failed after the store may have created it), aborts every upload of our key:
   * the key carries a timestamp, so no other writer owns it.
   */
  async #abortMultipart(): Promise<void> {
    const { client, bucket, key } = this.#cfg;
    // No id (creation failed after the store may have created it): every upload of our key is aborted.
    const known = await this.#uploadId?.catch(() => undefined);
    const deadline = Date.now() + (this.#cfg.abortTimeoutMs ?? 60_000);
    let lastError: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      // Every request ends by the deadline, even against an endpoint that accepts and never answers.
      const budget = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      try {
        const ids = known !== undefined ? [known] : await this.#uploadsOfKey(budget);
        for (const UploadId of ids) {
          await client
            .send(
              new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }),
              this.#bodyless(budget),
            )
            .catch((error: { name?: string }) => {
              // Already gone (aborted by a retry whose answer was lost, or by a lifecycle rule): the goal.
              if (error?.name !== "NoSuchUpload") throw error;
            });
        }
        const left = (await this.#uploadsOfKey(budget)).filter((id) => known === undefined || id === known);
        if (left.length === 0) return;
      } catch (error) {
        lastError = error;
        if (budget.aborted) break; // the deadline ran out in the middle of a request
        if (!isTransientS3Error(error)) break; // e.g. not allowed to abort: retrying cannot help
      }
      await sleep(Math.min(5_000, 200 * 2 ** attempt, Math.max(0, deadline - Date.now())));
    }
    const stranded = new BackupError(
      "STORAGE_FAILED",
      `could not abort the multipart upload of ${this.#cfg.location}; its parts may remain in the bucket`,
      {
        cause: lastError,
        hint: `abort it with \`aws s3api abort-multipart-upload --bucket ${bucket} --key ${key} --upload-id ${known ?? "<id>"}\` or add a lifecycle rule that aborts incomplete uploads`,
        details: { bucket, key, uploadId: known },
      },
    );
    this.#cfg.logger?.warn(stranded.message, { bucket, key, uploadId: known });
    throw stranded;
  }

  async #uploadsOfKey(signal: AbortSignal): Promise<string[]> {
    const out = await this.#cfg.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.#cfg.bucket, Prefix: this.#cfg.key }),
      this.#bodyless(signal),
    );
    return (out.Uploads ?? []).filter((u) => u.Key === this.#cfg.key && u.UploadId).map((u) => u.UploadId!);
  }

  #finish(): void {
    this.#cfg.signal?.removeEventListener("abort", this.#onSignal);
    this.#pool.length = 0;
    this.#untrack();
  }
}

function md5(body: Uint8Array): string {
  return createHash("md5").update(body).digest("base64");
}
