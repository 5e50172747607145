import { type MinioServer, startMinio } from "@infrahub-backup/testkit";
import { afterAll, beforeAll } from "vitest";
import { S3Store, type S3StoreOptions } from "../s3-store.js";

export interface MinioFixture {
  /** The server (available inside tests, once `beforeAll` ran). */
  readonly minio: MinioServer;
  /** A fresh bucket, named `<prefix><n>-<pid>`. */
  bucket(options?: { versioning?: boolean }): Promise<string>;
  /** An S3Store on `bucketName` under `infrahub/`, root credentials unless `options` say otherwise. */
  store(bucketName: string, options?: Partial<S3StoreOptions>): S3Store;
}

/** One real MinIO for a test file: started before its tests, stopped after them. */
export function useMinio(bucketPrefix: string): MinioFixture {
  let server: MinioServer | undefined;
  let buckets = 0;
  beforeAll(async () => {
    server = await startMinio();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const minio = (): MinioServer => {
    if (!server) throw new Error("MinIO is not started (use the fixture inside tests)");
    return server;
  };
  return {
    get minio() {
      return minio();
    },
    async bucket(options = {}) {
      const name = `${bucketPrefix}${++buckets}-${process.pid}`;
      await minio().createBucket(name, options);
      return name;
    },
    store(bucketName, options = {}) {
      return new S3Store({
        endpoint: minio().endpoint,
        bucket: bucketName,
        prefix: "infrahub/",
        credentials: { accessKeyId: minio().rootUser, secretAccessKey: minio().rootPassword },
        ...options,
      });
    },
  };
}
