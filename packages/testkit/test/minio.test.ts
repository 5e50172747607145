import { existsSync } from "node:fs";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { type MinioServer, startMinio } from "../src/index.js";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function s3ErrorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  }
  throw new Error("expected the S3 request to fail");
}

describe("startMinio", () => {
  it("stores, reads, lists and deletes objects", async () => {
    await using minio = await startMinio();
    expect(minio.endpoint).toBe(`http://127.0.0.1:${minio.port}`);
    await minio.createBucket("backups", { versioning: true });
    const s3 = minio.client();
    await s3.send(new PutObjectCommand({ Bucket: "backups", Key: "a/one.tar.gz", Body: "first" }));
    await s3.send(new PutObjectCommand({ Bucket: "backups", Key: "b/two.tar.gz", Body: "second" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "backups", Key: "a/one.tar.gz" }));
    expect(await got.Body?.transformToString()).toBe("first");
    expect(await minio.listObjectKeys("backups")).toEqual(["a/one.tar.gz", "b/two.tar.gz"]);
    expect(await minio.listObjectKeys("backups", "b/")).toEqual(["b/two.tar.gz"]);
    await s3.send(new DeleteObjectCommand({ Bucket: "backups", Key: "a/one.tar.gz" }));
    expect(await minio.listObjectKeys("backups")).toEqual(["b/two.tar.gz"]);
  });

  it("lists every page of keys", async () => {
    await using minio = await startMinio();
    await minio.createBucket("many");
    const s3 = minio.client();
    const keys = Array.from({ length: 1005 }, (_, i) => `k/${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket: "many", Key, Body: Key }))),
      );
    }
    expect(await minio.listObjectKeys("many")).toEqual(keys);
  });

  it("lists multipart uploads until they are aborted", async () => {
    await using minio = await startMinio();
    await minio.createBucket("parts");
    const s3 = minio.client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "parts", Key: "big" }));
    expect(await minio.listMultipartUploads("parts")).toEqual([{ key: "big", uploadId: UploadId }]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "parts", Key: "big", UploadId }));
    expect(await minio.listMultipartUploads("parts")).toEqual([]);
  });

  it("gives a readonly user reads but not writes", async () => {
    await using minio = await startMinio();
    await minio.createBucket("shared");
    await minio.client().send(new PutObjectCommand({ Bucket: "shared", Key: "x", Body: "data" }));
    const reader = minio.client(await minio.createUser("readonly"));
    const got = await reader.send(new GetObjectCommand({ Bucket: "shared", Key: "x" }));
    expect(await got.Body?.transformToString()).toBe("data");
    expect(
      await s3ErrorName(reader.send(new PutObjectCommand({ Bucket: "shared", Key: "y", Body: "no" }))),
    ).toBe("AccessDenied");
  });

  it("applies a custom policy", async () => {
    await using minio = await startMinio();
    await minio.createBucket("scoped");
    const writer = minio.client(
      await minio.createUser({
        name: "put-only-under-prefix",
        document: {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::scoped/in/*"] }],
        },
      }),
    );
    await writer.send(new PutObjectCommand({ Bucket: "scoped", Key: "in/ok", Body: "1" }));
    expect(
      await s3ErrorName(writer.send(new PutObjectCommand({ Bucket: "scoped", Key: "out", Body: "1" }))),
    ).toBe("AccessDenied");
    expect(await s3ErrorName(writer.send(new GetObjectCommand({ Bucket: "scoped", Key: "in/ok" })))).toBe(
      "AccessDenied",
    );
  });

  it("refuses a put above the bucket's hard quota", async () => {
    await using minio = await startMinio();
    await minio.createBucket("small");
    await minio.setBucketQuota("small", 64 * 1024);
    const s3 = minio.client();
    await s3.send(new PutObjectCommand({ Bucket: "small", Key: "fits", Body: Buffer.alloc(1024) }));
    expect(
      await s3ErrorName(
        s3.send(new PutObjectCommand({ Bucket: "small", Key: "too-big", Body: Buffer.alloc(128 * 1024) })),
      ),
    ).toBe("XMinioAdminBucketQuotaExceeded");
    expect(await minio.listObjectKeys("small")).toEqual(["fits"]);
  });

  it("leaves no process and no data dir after dispose", async () => {
    let server: MinioServer | undefined;
    {
      await using minio = await startMinio();
      server = minio;
      expect(minio.running).toBe(true);
      expect(existsSync(minio.dataDir)).toBe(true);
    }
    expect(server.running).toBe(false);
    expect(server.pid !== undefined && pidAlive(server.pid)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
  });
});
