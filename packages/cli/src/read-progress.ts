import { pipeline, Transform } from "node:stream";
import type {
  ArchiveSink,
  BackupStore,
  GetOptions,
  ListedArchive,
  ListedObject,
  ObjectInfo,
  ObjectStream,
  PutOptions,
  StaleUploadsOptions,
  StaleUploadsResult,
} from "@infrahub-backup/core";

/** One read's progress: bytes of the object read so far (from offset 0), its size, when the read began. */
export interface ReadProgress {
  entry: string;
  bytes: number;
  total: number;
  startedAt: number;
}

/** Reports at most this often by size; the end of a read is always reported. */
const REPORT_EVERY_BYTES = 1024 * 1024;

/**
 * A store whose reads report their bytes: the library reports no progress while it reads an archive
 * (restore's two passes, verify, a copy), so the CLI counts what flows out of `get`. Everything else is
 * the wrapped store's.
 */
export class ReadReportingStore implements BackupStore {
  readonly #inner: BackupStore;
  readonly #report: (progress: ReadProgress) => void;

  constructor(inner: BackupStore, report: (progress: ReadProgress) => void) {
    this.#inner = inner;
    this.#report = report;
  }

  get kind(): "local" | "s3" {
    return this.#inner.kind;
  }
  get root(): string {
    return this.#inner.root;
  }
  location(name: string): string {
    return this.#inner.location(name);
  }
  put(name: string, options?: PutOptions): Promise<ArchiveSink> {
    return this.#inner.put(name, options);
  }
  head(name: string): Promise<ObjectInfo> {
    return this.#inner.head(name);
  }
  list(): Promise<ListedObject[]> {
    return this.#inner.list();
  }
  latest(): Promise<ListedArchive | undefined> {
    return this.#inner.latest();
  }
  delete(name: string, options?: { pin?: ObjectInfo | undefined }): Promise<void> {
    return this.#inner.delete(name, options);
  }
  check(options?: { write?: boolean; signal?: AbortSignal }): Promise<void> {
    return this.#inner.check(options);
  }
  removeStaleUploads(options: StaleUploadsOptions): Promise<StaleUploadsResult> {
    return this.#inner.removeStaleUploads(options);
  }

  async get(name: string, options?: GetOptions): Promise<ObjectStream> {
    const startedAt = Date.now();
    const source = await this.#inner.get(name, options);
    const report = this.#report;
    const total = source.info.size;
    let bytes = options?.start ?? 0;
    let reported = bytes;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes - reported >= REPORT_EVERY_BYTES) {
          reported = bytes;
          report({ entry: name, bytes, total, startedAt });
        }
        callback(null, chunk);
      },
      flush(callback) {
        report({ entry: name, bytes, total, startedAt });
        callback();
      },
    });
    // Errors of either side reach the reader through `counted`; the callback has nothing to add.
    pipeline(source, counted, () => undefined);
    Object.defineProperty(counted, "info", { value: source.info, enumerable: true });
    return counted as unknown as ObjectStream;
  }
}
