import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { formatArchiveName, parseArchiveName, stampToDate } from "./archive-name.js";
import { GiB, MiB, partSizeFor, planParts } from "./part-plan.js";
import { S3RetryStrategy, stallLimitMs } from "./s3-deadlines.js";
import { iamAction, mapS3Error } from "./s3-errors.js";
import { formatS3Uri, objectKey, parseS3Uri, splitKey } from "./s3-location.js";
import { parseEndpoint } from "./s3-store.js";

describe("archive names", () => {
  it("parses upstream names, plain and encrypted", () => {
    expect(parseArchiveName("infrahub_backup_20260130_102030.tar.gz")).toEqual({
      name: "infrahub_backup_20260130_102030.tar.gz",
      stamp: "20260130_102030",
      encrypted: false,
    });
    expect(parseArchiveName("infrahub_backup_20260130_102030.tar.gz.enc")?.encrypted).toBe(true);
  });
  it("rejects everything else", () => {
    for (const name of [
      "infrahub_backup_latest.tar.gz",
      "infrahub_backup_20260130_102030.tar",
      "infrahub_backup_20261330_102030.tar.gz",
      "infrahub_backup_20260130_246030.tar.gz",
      "x/infrahub_backup_20260130_102030.tar.gz",
      "infrahub_backup_20260130_102030.tar.gz.download",
      "restore-latest-1.download",
    ]) {
      expect(parseArchiveName(name), name).toBeUndefined();
    }
  });
  it("formats in UTC and round-trips", () => {
    const d = new Date(Date.UTC(2026, 0, 30, 10, 20, 30));
    expect(formatArchiveName(d)).toBe("infrahub_backup_20260130_102030.tar.gz");
    expect(formatArchiveName(d, { encrypted: true })).toBe("infrahub_backup_20260130_102030.tar.gz.enc");
    expect(stampToDate("20260130_102030").getTime()).toBe(d.getTime());
  });
});

describe("s3 locations", () => {
  it("parses s3:// URIs", () => {
    expect(parseS3Uri("s3://backups/infrahub/x.tar.gz")).toEqual({
      bucket: "backups",
      key: "infrahub/x.tar.gz",
    });
    expect(parseS3Uri("s3://backups")).toEqual({ bucket: "backups", key: "" });
    expect(parseS3Uri("s3://backups/")).toEqual({ bucket: "backups", key: "" });
  });
  it("refuses what is not one", () => {
    for (const uri of [
      "backups/x",
      "s3:/backups/x",
      "s3:///x",
      "https://backups/x",
      "s3://a/x",
      "s3://bad bucket/x",
    ]) {
      expect(() => parseS3Uri(uri), uri).toThrow(expect.objectContaining({ code: "INVALID_S3_URI" }));
    }
  });
  it("builds keys as upstream: prefix with trailing slash trimmed", () => {
    expect(objectKey("infrahub/", "x.tar.gz")).toBe("infrahub/x.tar.gz");
    expect(objectKey("a/b//", "x.tar.gz")).toBe("a/b/x.tar.gz");
    expect(objectKey("", "x.tar.gz")).toBe("x.tar.gz");
    expect(objectKey(undefined, "x.tar.gz")).toBe("x.tar.gz");
    expect(splitKey("a/b/x.tar.gz")).toEqual({ prefix: "a/b", name: "x.tar.gz" });
    expect(splitKey("x.tar.gz")).toEqual({ prefix: "", name: "x.tar.gz" });
    expect(formatS3Uri("b", "a/x")).toBe("s3://b/a/x");
  });
  it("normalises endpoints", () => {
    expect(parseEndpoint("minio:9000").href).toBe("https://minio:9000/");
    expect(parseEndpoint("http://127.0.0.1:9000").origin).toBe("http://127.0.0.1:9000");
    expect(() => parseEndpoint("ftp://x")).toThrow(expect.objectContaining({ code: "INVALID_ENDPOINT" }));
    expect(() => parseEndpoint("http://")).toThrow(expect.objectContaining({ code: "INVALID_ENDPOINT" }));
  });
});

describe("part plan", () => {
  it("uses 5 MiB parts for small hints and without a hint", () => {
    expect(planParts({ sizeHint: 1 * GiB }).basePartSize).toBe(5 * MiB);
    expect(planParts().basePartSize).toBe(5 * MiB);
  });
  it("grows the part size so the hinted object fits 90% of the part limit", () => {
    for (const [hint, maxParts] of [
      [100 * GiB, 10_000],
      [500 * GiB, 10_000],
      [15 * GiB, 1_000],
      [200 * GiB, 1_000],
    ] as const) {
      const plan = planParts({ sizeHint: hint, maxParts });
      expect(plan.basePartSize * plan.growthStart, `${hint}/${maxParts}`).toBeGreaterThanOrEqual(hint);
      expect(plan.basePartSize % MiB).toBe(0);
      expect(plan.capacity).toBeGreaterThan(hint * 1.5);
    }
  });
  it("handles a 1,000-part store that default sizes would break at ~15 GB (Scaleway)", () => {
    const plan = planParts({ sizeHint: 20 * GiB, maxParts: 1000 });
    let total = 0;
    let n = 1;
    while (total < 20 * GiB) total += partSizeFor(plan, n++);
    expect(n - 1).toBeLessThanOrEqual(900);
  });
  it("without a hint, still fits objects far larger than base × parts by growing the last parts", () => {
    const plan = planParts({ maxParts: 1000 });
    expect(plan.capacity).toBeGreaterThan(50 * GiB);
    expect(partSizeFor(plan, 900)).toBe(5 * MiB);
    expect(partSizeFor(plan, 901)).toBe(10 * MiB);
    expect(partSizeFor(plan, 990)).toBe(5 * MiB * 512);
    expect(partSizeFor(plan, 1000)).toBe(5 * GiB);
    expect(() => partSizeFor(plan, 1001)).toThrow(expect.objectContaining({ code: "STORAGE_TOO_LARGE" }));
  });
  it("refuses before starting when the hint cannot fit", () => {
    expect(() => planParts({ sizeHint: 6000 * GiB, maxParts: 1000 })).toThrow(
      expect.objectContaining({ code: "STORAGE_TOO_LARGE" }),
    );
    expect(() => planParts({ partSize: 1 * MiB })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => planParts({ maxParts: 10_001 })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });
  it("never goes below 5 MiB or above 5 GiB", () => {
    const plan = planParts({ sizeHint: 45 * 1024 * GiB });
    for (const n of [1, 9000, 9001, 9500, 10_000]) {
      const size = partSizeFor(plan, n);
      expect(size).toBeGreaterThanOrEqual(5 * MiB);
      expect(size).toBeLessThanOrEqual(5 * GiB);
    }
  });
});

describe("S3 error mapping", () => {
  const ctx = {
    operation: "UploadPart",
    bucket: "backups",
    key: "infrahub/x.tar.gz",
    endpoint: "http://s3:9000",
  };
  const sdk = (name: string, status: number, message = name) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  it.each([
    ["InvalidAccessKeyId", 403, "STORAGE_CREDENTIALS"],
    ["SignatureDoesNotMatch", 403, "STORAGE_CREDENTIALS"],
    ["AccessDenied", 403, "STORAGE_ACCESS_DENIED"],
    ["NoSuchBucket", 404, "STORAGE_NO_BUCKET"],
    ["NoSuchKey", 404, "ARTIFACT_NOT_FOUND"],
    ["EntityTooLarge", 400, "STORAGE_TOO_LARGE"],
    ["SlowDown", 503, "STORAGE_THROTTLED"],
    ["XMinioAdminBucketQuotaExceeded", 400, "STORAGE_QUOTA"],
    ["PreconditionFailed", 412, "STORAGE_CHANGED"],
    ["InternalError", 500, "STORAGE_FAILED"],
  ])("%s → %s", (name, status, code) => {
    const mapped = mapS3Error(sdk(name, status), ctx);
    expect(mapped).toBeInstanceOf(BackupError);
    expect(mapped.code).toBe(code);
  });
  it("names the action and the bucket when access is denied", () => {
    const mapped = mapS3Error(sdk("AccessDenied", 403), ctx);
    expect(mapped.message).toBe("access denied: s3:PutObject on s3://backups/infrahub/x.tar.gz (UploadPart)");
    expect(mapped.hint).toContain('bucket "backups"');
    expect(iamAction("ListObjectsV2")).toBe("s3:ListBucket");
  });
  it("says which artifact is missing", () => {
    const mapped = mapS3Error(sdk("NotFound", 404), { ...ctx, operation: "HeadObject" });
    expect(mapped.message).toBe("backup artifact not found: s3://backups/infrahub/x.tar.gz");
  });
  it("maps network and TLS failures", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(mapS3Error(refused, ctx).code).toBe("STORAGE_UNREACHABLE");
    expect(mapS3Error(refused, ctx).message).toContain("http://s3:9000");
    const tls = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect(mapS3Error(tls, ctx).code).toBe("STORAGE_TLS");
    const creds = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
    });
    expect(mapS3Error(creds, ctx).code).toBe("STORAGE_CREDENTIALS");
  });
  it("says a connection was cut when it was reset, though the SDK's handler names that TimeoutError", () => {
    // The shape @smithy/node-http-handler rejects with when a store (or a proxy) resets the connection.
    const reset = Object.assign(new Error("connect ECONNRESET 127.0.0.1:9000"), {
      name: "TimeoutError",
      code: "ECONNRESET",
      $metadata: { attempts: 3 },
    });
    const mapped = mapS3Error(reset, ctx);
    expect(mapped.code).toBe("STORAGE_UNREACHABLE");
    expect(mapped.message).toBe(
      "the connection to S3 at http://s3:9000 was cut (ECONNRESET) during UploadPart on s3://backups/infrahub/x.tar.gz",
    );
    expect(mapped.hint).toMatch(/resets the connection/);
    // A socket that timed out is still a timeout.
    const timedOut = Object.assign(new Error("connect ETIMEDOUT 10.0.0.1:9000"), {
      name: "TimeoutError",
      code: "ETIMEDOUT",
    });
    expect(mapS3Error(timedOut, ctx).message).toMatch(/stopped answering .*: the request timed out$/);
  });
  it("names the endpoint, the phase and the deadline that ran out when a request times out", () => {
    const idle = Object.assign(
      new Error(
        "@smithy/node-http-handler - the request socket timed out after 15000 ms of inactivity (configured by client requestHandler).",
      ),
      { name: "TimeoutError", $metadata: { attempts: 2 } },
    );
    const mapped = mapS3Error(idle, {
      ...ctx,
      phase: "uploading part 3 (bytes 10-19) of s3://backups/infrahub/x.tar.gz",
    });
    expect(mapped).toMatchObject({ code: "STORAGE_UNREACHABLE", details: { timeout: "idle" } });
    expect(mapped.message).toBe(
      "S3 at http://s3:9000 stopped answering while uploading part 3 (bytes 10-19) of s3://backups/infrahub/x.tar.gz (UploadPart): the connection was silent for 15 s (2 attempts)",
    );
    expect(mapped.hint).toContain("--s3-idle-timeout");
    const firstByte = Object.assign(
      new Error(
        "@smithy/node-http-handler - [ERROR] a request has exceeded the configured 10000 ms requestTimeout.",
      ),
      { name: "TimeoutError" },
    );
    expect(mapS3Error(firstByte, { ...ctx, operation: "ListObjectsV2", key: undefined }).message).toBe(
      'S3 at http://s3:9000 stopped answering during ListObjectsV2 on bucket "backups": no answer within 10 s',
    );
    const connect = Object.assign(
      new Error(
        "@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 5000 ms.",
      ),
      { name: "TimeoutError" },
    );
    expect(mapS3Error(connect, { ...ctx, endpoint: undefined }).message).toBe(
      "AWS S3 stopped answering during UploadPart on s3://backups/infrahub/x.tar.gz: no connection within 5 s",
    );
  });
});

describe("S3 retry strategy", () => {
  const deadlines = {
    connectTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
    idleTimeoutMs: 15_000,
    maxAttempts: 3,
  };
  const timeout = Object.assign(new Error("the request socket timed out after 15000 ms of inactivity"), {
    name: "TimeoutError",
  });
  it("retries throttling and transient errors up to maxAttempts, never client errors", async () => {
    const strategy = new S3RetryStrategy(deadlines, { random: () => 0 });
    const first = await strategy.acquireInitialRetryToken("");
    const second = await strategy.refreshRetryTokenForRetry(first, { errorType: "THROTTLING" });
    expect(second.getRetryCount()).toBe(1);
    const third = await strategy.refreshRetryTokenForRetry(second, { errorType: "TRANSIENT" });
    expect(third.getRetryCount()).toBe(2);
    await expect(strategy.refreshRetryTokenForRetry(third, { errorType: "TRANSIENT" })).rejects.toThrow();
    await expect(strategy.refreshRetryTokenForRetry(first, { errorType: "CLIENT_ERROR" })).rejects.toThrow();
  });
  it("backs off exponentially with full jitter (100 ms base, 500 ms when throttled)", async () => {
    const strategy = new S3RetryStrategy({ ...deadlines, maxAttempts: 10 }, { random: () => 0.999 });
    let token = await strategy.acquireInitialRetryToken("");
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      token = await strategy.refreshRetryTokenForRetry(token, { errorType: "TRANSIENT" });
      delays.push(token.getRetryDelay());
    }
    expect(delays).toEqual([99, 199, 399, 799]);
    const throttled = await strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(""), {
      errorType: "THROTTLING",
    });
    expect(throttled.getRetryDelay()).toBe(499);
  });
  it("after a timeout, retries only while another attempt can end within the stall limit", async () => {
    expect(stallLimitMs(deadlines)).toBe(45_000);
    let now = 1_000_000;
    const strategy = new S3RetryStrategy(deadlines, { random: () => 0, now: () => now });
    const old = await strategy.acquireInitialRetryToken("");
    now += 15_000; // the first attempt timed out: a second one can end by 30 s
    await expect(
      strategy.refreshRetryTokenForRetry(old, { errorType: "TRANSIENT", error: timeout }),
    ).resolves.toBeDefined();
    now += 16_000; // 31 s in: one more 15 s attempt would end past 45 s
    await expect(
      strategy.refreshRetryTokenForRetry(old, { errorType: "TRANSIENT", error: timeout }),
    ).rejects.toThrow("stall limit");
    // The same age without a timeout (e.g. throttling) still gets its attempts.
    await expect(strategy.refreshRetryTokenForRetry(old, { errorType: "THROTTLING" })).resolves.toBeDefined();
  });
});
