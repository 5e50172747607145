import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { S3Store } from "./s3-store.js";

// Test double for a store under load: a minimal HTTP responder that answers 503 SlowDown a given number
// of times, then an empty ListObjectsV2 result. MinIO cannot be made to throttle on demand.
let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => server?.close(r));
});

async function throttlingEndpoint(failures: number): Promise<{ endpoint: string; requests: () => number[] }> {
  const times: number[] = [];
  server = createServer((req, res) => {
    req.resume();
    times.push(Date.now());
    if (times.length <= failures) {
      res.writeHead(503, { "content-type": "application/xml" });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>backups</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>',
    );
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, requests: () => times };
}

const credentials = { accessKeyId: "k", secretAccessKey: "s" };

describe("S3 throttling", () => {
  it("retries SlowDown with backoff and succeeds within the attempt budget", async () => {
    const { endpoint, requests } = await throttlingEndpoint(3);
    await using store = new S3Store({ endpoint, bucket: "backups", credentials, maxAttempts: 5 });
    await store.check();
    const t = requests();
    expect(t).toHaveLength(4);
    expect(t.at(-1)! - t[0]!).toBeGreaterThan(0); // backed off, not a tight loop
  });

  it("gives up after the bounded attempts with STORAGE_THROTTLED", async () => {
    const { endpoint, requests } = await throttlingEndpoint(1000);
    await using store = new S3Store({ endpoint, bucket: "backups", credentials, maxAttempts: 3 });
    const error = await store.check().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_THROTTLED" });
    expect((error as Error).message).toBe(
      'S3 kept throttling ListObjectsV2 on bucket "backups" after retries',
    );
    expect(requests()).toHaveLength(3);
  });
});
