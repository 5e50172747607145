// ci-cost: 50 s (three stalls of up to 45 s each, run concurrently; measured alone on an idle 2-core machine)
import { type FaultProxy, startFaultProxy } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { useMinio } from "./__tests__/minio-fixture.js";
import { sha256Of, writePattern } from "./__tests__/pattern.js";
import { MiB } from "./part-plan.js";
import { S3_DEADLINE_DEFAULTS, stallLimitMs } from "./s3-deadlines.js";

// Every store here uses the DEFAULT deadlines: the point is what a user gets without tuning anything.
// The bar: a stalled endpoint fails within 60 s, naming the endpoint and what was being done.
const BAR_MS = 60_000;

const fixture = useMinio("stall");
const { bucket, store } = fixture;

const NAME = "infrahub_backup_20261122_040000.tar.gz";

/** Resolves with the time the proxy started stalling (polled), so times-to-fail count from the stall. */
function stallStart(proxy: FaultProxy): Promise<number> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (proxy.stalled) {
        clearInterval(timer);
        resolve(performance.now());
      }
    }, 10);
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

describe.concurrent("a stalled S3 endpoint fails in bounded time with the default deadlines", () => {
  it("stall at connect: accepted, never answered — the preflight fails", async () => {
    const b = await bucket();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    await using s3 = store(b, { endpoint: proxy.endpoint });
    proxy.setMode({ kind: "stall" });
    const started = performance.now();
    const error = await s3.check({ write: true }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    console.log(
      `S3 stall at connect (preflight): failed after ${seconds(elapsed)}: ${(error as Error).message}`,
    );
    expect(error).toMatchObject({
      code: "STORAGE_UNREACHABLE",
      details: { timeout: "first-byte", endpoint: proxy.endpoint },
    });
    expect((error as Error).message).toBe(
      `S3 at ${proxy.endpoint} stopped answering while checking access to s3://${b}/infrahub/ (ListObjectsV2): no answer within 10 s (${S3_DEADLINE_DEFAULTS.maxAttempts} attempts)`,
    );
    expect(proxy.stalledConnections).toBe(S3_DEADLINE_DEFAULTS.maxAttempts);
    expect(elapsed).toBeLessThan(BAR_MS);
    expect(elapsed).toBeGreaterThanOrEqual(
      S3_DEADLINE_DEFAULTS.maxAttempts * S3_DEADLINE_DEFAULTS.requestTimeoutMs - 50,
    );
  }, 120_000);

  it("stall mid-upload: the multipart upload's socket goes silent — the upload fails, then nothing is left", async () => {
    const b = await bucket();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    await using s3 = store(b, { endpoint: proxy.endpoint, partSize: 5 * MiB });
    const sink = await s3.put(NAME, { sizeHint: 100 * MiB });
    proxy.setMode({ kind: "stallAfter", bytes: 22 * MiB });
    const stalled = stallStart(proxy);
    const error = await writePattern(sink, { size: 100 * MiB, hash: false })
      .then(() => sink.commit())
      .catch((e: unknown) => e);
    const failedAt = performance.now();
    const elapsed = failedAt - (await stalled);
    console.log(
      `S3 stall mid-upload: failed ${seconds(elapsed)} after the stall began: ${(error as Error).message}`,
    );
    expect(error).toMatchObject({ code: "STORAGE_UNREACHABLE", details: { endpoint: proxy.endpoint } });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^S3 at ${proxy.endpoint} stopped answering while uploading part \\d+ \\(bytes \\d+-\\d+\\) of s3://${b}/infrahub/${NAME} \\(UploadPart\\): the connection was silent for 15 s \\(\\d attempts?\\)$`,
      ),
    );
    expect(elapsed).toBeLessThan(BAR_MS);
    // Clean-up once the network is back: the abort gets through, no upload or object remains.
    proxy.setMode({ kind: "pass" });
    await sink.abort();
    console.log(`  clean-up done ${seconds(performance.now() - failedAt)} after the failure`);
    expect(await fixture.minio.listObjectKeys(b)).toEqual([]);
    expect(await fixture.minio.listMultipartUploads(b)).toEqual([]);
  }, 180_000);

  it("stall mid-read: the GET's body stops — the read fails, resumes included", async () => {
    const b = await bucket();
    await using direct = store(b, { partSize: 8 * MiB });
    const sink = await direct.put(NAME);
    await writePattern(sink, { size: 48 * MiB, hash: false });
    await sink.commit();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    await using s3 = store(b, { endpoint: proxy.endpoint });
    const stream = await s3.get(NAME);
    proxy.setMode({ kind: "stallAfter", bytes: 20 * MiB, direction: "down" });
    const stalled = stallStart(proxy);
    const error = await sha256Of(stream).catch((e: unknown) => e);
    const elapsed = performance.now() - (await stalled);
    console.log(
      `S3 stall mid-read: failed ${seconds(elapsed)} after the stall began: ${(error as Error).message}`,
    );
    expect(error).toMatchObject({ code: "STORAGE_UNREACHABLE", details: { endpoint: proxy.endpoint } });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^S3 at ${proxy.endpoint} stopped answering while reading s3://${b}/infrahub/${NAME} at byte \\d+ of ${48 * MiB} \\(GetObject\\): .+$`,
      ),
    );
    expect(elapsed).toBeLessThan(BAR_MS);
    expect(elapsed).toBeLessThan(stallLimitMs(S3_DEADLINE_DEFAULTS) + 5_000);
  }, 180_000);
});
