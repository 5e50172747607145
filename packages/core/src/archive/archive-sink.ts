/**
 * Where the archive writer sends its bytes. Implemented by the local file sink and the S3 multipart
 * sink (storage/). Offsets are absolute byte positions in the finished object.
 *
 * Contract:
 * - `write` appends; it resolves when the sink can take more (backpressure), not necessarily when the
 *   bytes are durable.
 * - `writePlaceholder` appends bytes that will later be replaced by `patch` with bytes of the same
 *   length. A sink that uploads (S3) must not send the region until it is patched, so it holds the part
 *   containing it; memory stays bounded because the writer patches each placeholder when its entry ends.
 * - `commit` makes the object visible atomically (rename / CompleteMultipartUpload) and only then.
 *   Before commit nothing is visible under the final name; after `abort` nothing is left anywhere.
 */
export interface ArchiveSink {
  /** Bytes appended so far (placeholders included). */
  readonly position: number;
  /** Appends `chunk`; resolves when the sink can take more. */
  write(chunk: Uint8Array): Promise<void>;
  /** Appends `chunk` as a region to be patched later; returns its offset. */
  writePlaceholder(chunk: Uint8Array): Promise<number>;
  /** Replaces a placeholder region written earlier; `bytes.length` must equal the placeholder's length. */
  patch(offset: number, bytes: Uint8Array): Promise<void>;
  /** Makes the object visible under its final name, atomically; nothing is visible before. */
  commit(): Promise<SinkCommit>;
  /** Discards everything written; safe to call more than once and after a failed commit. */
  abort(reason?: unknown): Promise<void>;
}

/** Where a committed archive is and what the store reported for it. */
export interface SinkCommit {
  /** Human-readable location: a file path or `s3://bucket/key`. */
  location: string;
  /** Bytes committed. */
  size: number;
  /** The object's ETag (S3). */
  etag?: string;
  /** The object's version id (S3, versioned bucket). */
  versionId?: string;
}
