// ci-cost: 20 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { HeadObjectCommand, ListPartsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { repoRoot, startFaultProxy, tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { patternSource } from "../archive/__tests__/helpers.js";
import { verifyArchive } from "../archive/archive-reader.js";
import type { ArchiveSink } from "../archive/archive-sink.js";
import { ArchiveWriter } from "../archive/archive-writer.js";
import { useMinio } from "./__tests__/minio-fixture.js";
import { sha256Of, tapSink, writePattern } from "./__tests__/pattern.js";
import { activeUploads } from "./active-uploads.js";
import { formatArchiveName } from "./archive-name.js";
import { LocalStore } from "./local-store.js";
import { MiB } from "./part-plan.js";
import { applyRetention, planRetention } from "./retention.js";
import type { S3MultipartSink } from "./s3-multipart-sink.js";

const fixture = useMinio("b");
const { bucket, store } = fixture;

const NAME = "infrahub_backup_20261122_040000.tar.gz";

async function expectNothingLeft(bucketName: string, prefix = "infrahub/"): Promise<void> {
  expect(await fixture.minio.listObjectKeys(bucketName, prefix)).toEqual([]);
  expect(await fixture.minio.listMultipartUploads(bucketName)).toEqual([]);
}

describe("S3Store against MinIO", () => {
  it("multipart upload of 200 MiB in 5 MiB parts is byte-equal to the local FileSink, placeholders patched", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB, concurrency: 4 });
    await using dir = await tempDir();
    const local = new LocalStore({ directory: dir.path });
    const size = 200 * MiB + 12_345;

    const started = performance.now();
    const sink = await s3.put(NAME, { sizeHint: size });
    const viaS3 = await writePattern(sink, { size });
    expect(await fixture.minio.listObjectKeys(b, "infrahub/")).toEqual([]); // nothing visible before commit
    const commit = await sink.commit();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `S3 multipart 200 MiB (5 MiB parts, concurrency 4, with SHA-256 of the pattern): ${(size / MiB / seconds).toFixed(0)} MiB/s`,
    );
    expect(commit).toMatchObject({ location: `s3://${b}/infrahub/${NAME}`, size });
    expect(commit.etag).toMatch(/-41"$/); // 41 parts: really multipart
    expect(viaS3.placeholders).toBeGreaterThan(60);

    const localSink = await local.put(NAME, { sizeHint: size });
    const viaLocal = await writePattern(localSink, { size });
    await localSink.commit();
    expect(viaLocal.sha256).toBe(viaS3.sha256);

    const fromS3 = await sha256Of(await s3.get(NAME));
    const fromDisk = await sha256Of(await local.get(NAME));
    expect(fromS3).toEqual({ sha256: viaS3.sha256, size });
    expect(fromDisk).toEqual(fromS3);
    const start = 123 * MiB + 7; // reads from an offset agree too
    expect(await sha256Of(await s3.get(NAME, { start }))).toEqual(
      await sha256Of(await local.get(NAME, { start })),
    );
    expect(await fixture.minio.listMultipartUploads(b)).toEqual([]);
    expect(activeUploads()).toEqual([]);
  });

  it("a real archive (ArchiveWriter) through the S3 sink is byte-equal to FileSink's and verifies", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB });
    await using dir = await tempDir();
    const local = new LocalStore({ directory: dir.path });
    const seed = Buffer.from(Buffer.alloc(1024 * 1024).map((_, i) => (i * 31 + (i >> 9)) & 0xff));
    const write = async (sink: ArchiveSink) => {
      const writer = new ArchiveWriter(sink, { mtime: new Date("2026-11-22T04:00:00Z") });
      await writer.addFile(
        "database/neo4j.dump",
        patternSource(48 * MiB + 3, { prefix: Buffer.from("DZV1"), seed }),
      );
      await writer.addFile(
        "database/notes.txt",
        patternSource(2 * MiB, { seed: Buffer.from("text ".repeat(300_000)) }),
      );
      await writer.addFile("prefect.dump", patternSource(6 * MiB, { prefix: Buffer.from("PGDMP"), seed }));
      return writer.finish({
        backupId: "infrahub_backup_20261122_040000",
        createdAt: "2026-11-22T04:00:00Z",
        toolVersion: "v0.1.0",
        infrahubVersion: "1.5.3",
        components: ["database", "task-manager-db"],
        neo4jEdition: "community",
      });
    };
    const viaS3 = await write(await s3.put(NAME, { sizeHint: 60 * MiB }));
    const viaFile = await write(await local.put(NAME, { sizeHint: 60 * MiB }));
    expect(viaS3.commit.size).toBe(viaFile.commit.size);
    expect(viaS3.commit.etag).toMatch(/-\d+"$/);
    const fromS3 = await sha256Of(await s3.get(NAME));
    expect(fromS3).toEqual(await sha256Of(await local.get(NAME)));
    const report = await verifyArchive(await s3.get(NAME));
    expect(report.ok).toBe(true);
    expect(report.checksums.length).toBe(3);
  });

  it("holds exactly the parts a pending placeholder touches (also across a part boundary) until it is patched", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB, concurrency: 2 });
    const sink = (await s3.put(NAME, { sizeHint: 20 * MiB })) as S3MultipartSink;
    const header = Buffer.alloc(535, 0x41);
    await sink.write(Buffer.alloc(5 * MiB - 100, 1));
    const offset = await sink.writePlaceholder(Buffer.alloc(535)); // parts 1 and 2
    await sink.write(Buffer.alloc(10 * MiB, 2)); // parts 2, 3 and into 4
    const uploadId = await sink.uploadId();
    const uploadedParts = async () => {
      const out = await fixture.minio
        .client()
        .send(new ListPartsCommand({ Bucket: b, Key: `infrahub/${NAME}`, UploadId: uploadId }));
      return (out.Parts ?? []).map((p) => p.PartNumber).sort();
    };
    await waitFor(async () => (await uploadedParts()).includes(3));
    expect(await uploadedParts()).toEqual([3]); // 1 and 2 are held
    await sink.patch(offset, header);
    await sink.write(Buffer.alloc(1000, 3));
    await sink.commit();
    const chunks: Buffer[] = [];
    for await (const chunk of await s3.get(NAME)) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(15 * MiB + 435 + 1000);
    expect(bytes.subarray(offset, offset + 535).equals(header)).toBe(true);
    expect(bytes[offset - 1]).toBe(1);
    expect(bytes[offset + 535]).toBe(2);
  });

  it("with the SDK's default checksums (as for AWS) multipart parts carry CRC32 and the upload completes", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB, checksums: "when_supported" });
    const sink = await s3.put(NAME, { sizeHint: 12 * MiB });
    const written = await writePattern(sink, { size: 12 * MiB });
    await sink.commit();
    expect((await sha256Of(await s3.get(NAME))).sha256).toBe(written.sha256);
    const head = await fixture.minio
      .client()
      .send(new HeadObjectCommand({ Bucket: b, Key: `infrahub/${NAME}`, ChecksumMode: "ENABLED" }));
    expect(head.ChecksumCRC32).toMatch(/-3$/); // a composite of the 3 parts' CRC32
    expect(await fixture.minio.listMultipartUploads(b)).toEqual([]);
  });

  it("small objects use one PutObject; reads are pinned to the ETag; existing objects are never replaced", async () => {
    const b = await bucket();
    await using s3 = store(b);
    const sink = await s3.put(NAME);
    const written = await writePattern(sink, { size: 100_000 });
    const commit = await sink.commit();
    expect(commit.etag).not.toMatch(/-\d+"$/);
    const info = await s3.head(NAME);
    expect(info).toMatchObject({ name: NAME, size: 100_000, location: `s3://${b}/infrahub/${NAME}` });
    expect((await sha256Of(await s3.get(NAME, { pin: info }))).sha256).toBe(written.sha256);

    await expect(s3.put(NAME)).rejects.toMatchObject({ code: "ARTIFACT_EXISTS" });

    // Someone else writes the key between our put() and commit(): the conditional commit refuses.
    for (const size of [1000, 12 * MiB]) {
      const name = formatArchiveName(new Date(Date.UTC(2026, 10, 22, 4, 0, size % 60)));
      const racing = await s3.put(name, { sizeHint: size });
      await writePattern(racing, { size });
      await fixture.minio
        .client()
        .send(new PutObjectCommand({ Bucket: b, Key: `infrahub/${name}`, Body: "theirs" }));
      await expect(racing.commit()).rejects.toMatchObject({ code: "ARTIFACT_EXISTS" });
      expect((await s3.head(name)).size).toBe(6);
    }
    expect(await fixture.minio.listMultipartUploads(b)).toEqual([]);

    // Replaced after we pinned it: the pinned read refuses instead of mixing bytes.
    await fixture.minio
      .client()
      .send(new PutObjectCommand({ Bucket: b, Key: `infrahub/${NAME}`, Body: Buffer.alloc(100_000) }));
    const stale = await s3.get(NAME, { pin: info });
    await expect(sha256Of(stale)).rejects.toMatchObject({ code: "STORAGE_CHANGED" });
    await expect(s3.delete(NAME, { pin: info })).rejects.toMatchObject({ code: "STORAGE_CHANGED" });
  });

  it("abort during commit: before the final request it cancels; once sent, the commit completes whole", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB });
    const big = await s3.put(NAME, { sizeHint: 30 * MiB });
    await writePattern(big, { size: 30 * MiB, hash: false });
    const committing = big.commit(); // still waiting for part uploads: nothing final yet
    await big.abort();
    await expect(committing).rejects.toMatchObject({ code: "CANCELLED" });
    await expectNothingLeft(b);

    const small = await s3.put(NAME);
    const written = await writePattern(small, { size: 1000 });
    const committed = small.commit(); // the PutObject is already on its way
    await small.abort();
    await expect(committed).resolves.toMatchObject({ size: 1000 });
    expect((await sha256Of(await s3.get(NAME))).sha256).toBe(written.sha256);
  });

  it("on a versioned bucket a pinned read still returns the pinned version after an overwrite", async () => {
    const b = await bucket({ versioning: true });
    await using s3 = store(b, { conditionalWrite: false });
    const sink = await s3.put(NAME);
    const written = await writePattern(sink, { size: 7 * MiB });
    const commit = await sink.commit();
    expect(commit.versionId).toBeTruthy();
    const info = await s3.head(NAME);
    await fixture.minio
      .client()
      .send(new PutObjectCommand({ Bucket: b, Key: `infrahub/${NAME}`, Body: "new" }));
    expect((await sha256Of(await s3.get(NAME, { pin: info }))).sha256).toBe(written.sha256);
  });

  it("a read resumes after a dropped connection, pinned by If-Match, and returns the same bytes", async () => {
    const b = await bucket();
    await using direct = store(b, { partSize: 5 * MiB });
    const sink = await direct.put(NAME);
    const written = await writePattern(sink, { size: 64 * MiB });
    await sink.commit();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    const resumed: unknown[] = [];
    await using viaProxy = store(b, {
      endpoint: proxy.endpoint,
      logger: { warn: () => undefined, debug: (_message, fields) => resumed.push(fields?.position) },
    });
    const stream = await viaProxy.get(NAME);
    let seen = 0;
    let dropped = false;
    const hash = await sha256Of(
      (async function* () {
        for await (const chunk of stream) {
          seen += chunk.length;
          if (!dropped && seen > 20 * MiB) {
            dropped = true;
            proxy.setMode({ kind: "reset" });
            setTimeout(() => proxy.setMode({ kind: "pass" }), 300);
          }
          yield chunk as Buffer;
        }
      })(),
    );
    expect(dropped).toBe(true);
    expect(resumed.length).toBeGreaterThan(0);
    expect(hash).toEqual({ sha256: written.sha256, size: 64 * MiB });
  });

  // One attempt: the stall limit is one attempt, and the resume after the consumer's return must still get it.
  it.each([2, 1])(
    "a consumer that stops reading for longer than the stall limit still gets every byte (the read resumes; %i attempt(s))",
    async (maxAttempts) => {
      const b = await bucket();
      await using direct = store(b, { partSize: 5 * MiB });
      const sink = await direct.put(NAME);
      const written = await writePattern(sink, { size: 64 * MiB });
      await sink.commit();
      // Stall limit maxAttempts × 1 s: the consumer's 3 s away (a staged dump checked in its container) is longer.
      const resumed: unknown[] = [];
      await using short = store(b, {
        connectTimeoutMs: 1_000,
        idleTimeoutMs: 1_000,
        requestTimeoutMs: 1_000,
        maxAttempts,
        logger: { warn: () => undefined, debug: (_message, fields) => resumed.push(fields?.position) },
      });
      const stream = await short.get(NAME);
      let seen = 0;
      let paused = false;
      const hash = await sha256Of(
        (async function* () {
          for await (const chunk of stream) {
            seen += chunk.length;
            if (!paused && seen > 8 * MiB) {
              paused = true;
              await new Promise((resolve) => setTimeout(resolve, 3_000));
            }
            yield chunk as Buffer;
          }
        })(),
      );
      expect(paused).toBe(true);
      expect(hash).toEqual({ sha256: written.sha256, size: 64 * MiB });
      console.log(`read resumed ${resumed.length} time(s) after the consumer's pause`);
    },
  );

  it("a connection cut mid-upload fails the upload; nothing is left once the abort gets through", async () => {
    const b = await bucket();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    await using s3 = store(b, { endpoint: proxy.endpoint, partSize: 5 * MiB, maxAttempts: 2 });
    const sink = await s3.put(NAME, { sizeHint: 100 * MiB });
    proxy.setMode({ kind: "cutAfter", bytes: 30 * MiB });
    const error = await writePattern(sink, { size: 100 * MiB, hash: false }).catch((e: unknown) => e);
    expect(proxy.cut).toBe(true);
    expect(error).toMatchObject({ code: "STORAGE_UNREACHABLE" });
    expect((error as Error).message).toContain(proxy.endpoint);
    expect(await fixture.minio.listMultipartUploads(b)).toHaveLength(1); // the abort cannot get through yet
    proxy.setMode({ kind: "pass" }); // the network comes back while the sink retries its abort
    await sink.abort();
    await expectNothingLeft(b);
    await expect(sink.commit()).rejects.toMatchObject({ code: "STORAGE_UNREACHABLE" });
  });

  it("when the network never comes back, abort reports the stranded upload; removeStaleUploads cleans it", async () => {
    const b = await bucket();
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: fixture.minio.port });
    await using s3 = store(b, {
      endpoint: proxy.endpoint,
      partSize: 5 * MiB,
      maxAttempts: 1,
      abortTimeoutMs: 1500,
    });
    const sink = await s3.put(NAME, { sizeHint: 40 * MiB });
    proxy.setMode({ kind: "cutAfter", bytes: 12 * MiB });
    await expect(writePattern(sink, { size: 40 * MiB, hash: false })).rejects.toMatchObject({
      code: "STORAGE_UNREACHABLE",
    });
    const abortError = await sink.abort().catch((e: unknown) => e);
    expect(abortError).toMatchObject({
      code: "STORAGE_FAILED",
      details: { bucket: b, key: `infrahub/${NAME}` },
    });
    expect((abortError as { hint: string }).hint).toContain("abort-multipart-upload");
    expect(await fixture.minio.listMultipartUploads(b)).toHaveLength(1);
    await using direct = store(b);
    expect(await direct.removeStaleUploads({ olderThanMs: 0 })).toMatchObject({
      removed: [{ name: NAME, location: `s3://${b}/infrahub/${NAME}` }],
      failed: [],
    });
    await expectNothingLeft(b);
  });

  it("an AbortSignal mid-upload cancels it: no object, no multipart upload", async () => {
    const b = await bucket();
    await using s3 = store(b, { partSize: 5 * MiB });
    const controller = new AbortController();
    const sink = await s3.put(NAME, { sizeHint: 100 * MiB, signal: controller.signal });
    const error = await writePattern(
      tapSink(sink, (position) => {
        if (position > 30 * MiB) controller.abort(new Error("operator pressed ctrl-c"));
      }),
      { size: 100 * MiB, hash: false },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CANCELLED" });
    await sink.abort();
    await expectNothingLeft(b);
  });

  it("SIGINT to a process in the middle of an upload aborts it: no object, no multipart upload", async () => {
    const b = await bucket();
    const child = spawnChild("signal", b, 200 * MiB, { IHB_CHILD_PART_SIZE: String(5 * MiB) });
    const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    const lines = createInterface({ input: child.stdout! });
    let sent = false;
    const output: string[] = [];
    for await (const line of lines) {
      output.push(line);
      const m = /^written (\d+)$/.exec(line);
      if (m && Number(m[1]) > 40 * MiB && !sent) {
        sent = true;
        child.kill("SIGINT");
      }
    }
    const code = await exited;
    expect(sent).toBe(true);
    expect(output.at(-1)).toBe("aborted SIGINT");
    expect(code).toBe(130);
    await expectNothingLeft(b);
  });

  it("takes credentials from the SDK default chain: environment, or a shared-credentials profile", async () => {
    const b = await bucket();
    await using dir = await tempDir();
    const saved = { ...process.env };
    try {
      process.env.AWS_ACCESS_KEY_ID = fixture.minio.rootUser;
      process.env.AWS_SECRET_ACCESS_KEY = fixture.minio.rootPassword;
      await using fromEnv = store(b, { credentials: undefined });
      await fromEnv.check();
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      const file = join(dir.path, "credentials");
      await writeFile(
        file,
        `[ihb]\naws_access_key_id = ${fixture.minio.rootUser}\naws_secret_access_key = ${fixture.minio.rootPassword}\n`,
      );
      process.env.AWS_SHARED_CREDENTIALS_FILE = file;
      process.env.AWS_CONFIG_FILE = join(dir.path, "no-config");
      await using fromProfile = store(b, { credentials: undefined, profile: "ihb" });
      const sink = await fromProfile.put(NAME);
      await sink.write(Buffer.from("x"));
      await sink.commit();
      expect((await fromProfile.head(NAME)).size).toBe(1);
    } finally {
      for (const key of [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
      ]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it("maps wrong credentials, a missing bucket, a missing key and a read-only writer to their own codes", async () => {
    const b = await bucket();
    await using wrong = store(b, {
      credentials: { accessKeyId: "nobody", secretAccessKey: "wrong-secret-1234" },
    });
    const e1 = await wrong.check().catch((e: unknown) => e);
    expect(e1).toMatchObject({ code: "STORAGE_CREDENTIALS" });
    expect((e1 as Error).message).toBe(
      `S3 rejected the credentials (InvalidAccessKeyId) for ListObjectsV2 on bucket "${b}"`,
    );

    await using noBucket = store("no-such-bucket");
    const e2 = await noBucket.check().catch((e: unknown) => e);
    expect(e2).toMatchObject({ code: "STORAGE_NO_BUCKET" });
    expect((e2 as Error).message).toBe(
      `S3 bucket "no-such-bucket" does not exist at ${fixture.minio.endpoint}`,
    );
    const e2b = await noBucket.list().catch((e: unknown) => e);
    expect(e2b).toMatchObject({ code: "STORAGE_NO_BUCKET" });

    await using root = store(b);
    const e3 = await root.get(NAME).catch((e: unknown) => e);
    expect(e3).toMatchObject({ code: "ARTIFACT_NOT_FOUND" });
    expect((e3 as Error).message).toBe(`backup artifact not found: s3://${b}/infrahub/${NAME}`);

    const readonly = await fixture.minio.createUser("readonly");
    await using ro = store(b, { credentials: readonly });
    for (const size of [1000, 12 * MiB]) {
      const sink = await ro.put(NAME, { sizeHint: size });
      const e4 = await writePattern(sink, { size, hash: false })
        .then(() => sink.commit())
        .catch((e: unknown) => e);
      expect(e4).toMatchObject({ code: "STORAGE_ACCESS_DENIED" });
      expect((e4 as Error).message).toMatch(
        new RegExp(
          `^access denied: s3:PutObject on s3://${b}/infrahub/${NAME} \\((PutObject|CreateMultipartUpload)\\)$`,
        ),
      );
      expect((e4 as { hint: string }).hint).toContain(`bucket "${b}"`);
      await sink.abort();
    }
    await expectNothingLeft(b);
  });

  it("a bucket quota is STORAGE_QUOTA and leaves nothing behind", async () => {
    const b = await bucket();
    await fixture.minio.setBucketQuota(b, 8 * MiB);
    // MinIO checks a hard quota per request against its (scanner-updated) usage, so one PutObject above it.
    // The store refuses before reading the 10 MiB body: heard thanks to "Expect: 100-continue".
    await using s3 = store(b, { partSize: 16 * MiB });
    // Under load MinIO can take a moment to apply a new quota: then the write succeeds; remove it, retry.
    let error: unknown;
    for (let attempt = 0; attempt < 10 && error === undefined; attempt++) {
      const sink = await s3.put(NAME, { sizeHint: 10 * MiB });
      error = await writePattern(sink, { size: 10 * MiB, hash: false })
        .then(() => sink.commit())
        .then(
          async () => {
            await s3.delete(NAME);
            await new Promise((r) => setTimeout(r, 300));
            return undefined;
          },
          (e: unknown) => e,
        );
      await sink.abort();
    }
    expect(error).toMatchObject({ code: "STORAGE_QUOTA" });
    expect((error as Error).message).toBe(
      `S3 bucket "${b}" is over its quota (PutObject on s3://${b}/infrahub/${NAME})`,
    );
    await expectNothingLeft(b);
  });

  it("lists more than 1,000 objects across pages; latest and the prune plan are right", async () => {
    const b = await bucket();
    await using s3 = store(b);
    const client = fixture.minio.client();
    const base = Date.UTC(2026, 0, 1);
    const names = Array.from({ length: 1234 }, (_, i) => formatArchiveName(new Date(base + i * 3_600_000)));
    const others = [
      "infrahub/notes.txt",
      "infrahub/infrahub_backup_latest.tar.gz",
      `infrahub/sub/${names[0]}`,
      `elsewhere/${names[0]}`,
    ];
    const keys = [...names.map((n) => `infrahub/${n}`), ...others];
    for (let i = 0; i < keys.length; i += 64) {
      await Promise.all(
        keys.slice(i, i + 64).map((Key) => client.send(new PutObjectCommand({ Bucket: b, Key, Body: Key }))),
      );
    }
    const listed = await s3.list();
    expect(listed).toHaveLength(1236); // 1,234 archives + 2 other files directly under the prefix
    expect(listed.filter((o) => o.archive).length).toBe(1234);
    const newest = names.at(-1)!;
    expect((await s3.latest())?.name).toBe(newest);

    const now = new Date(base + 1233 * 3_600_000 + 60_000);
    const plan = planRetention(listed, { keepCount: 5, keepDays: 2, now });
    // The 48 hourly archives of the last 2 days ∪ the 5 newest.
    expect(plan.keep.map((k) => k.object.name)).toEqual(names.slice(-48).reverse());
    expect(plan.delete).toHaveLength(1234 - 48);
    expect(plan.ignored.sort()).toEqual(["infrahub_backup_latest.tar.gz", "notes.txt"]);

    const result = await applyRetention(s3, plan);
    expect(result.failed).toEqual([]);
    expect(result.deleted).toHaveLength(1234 - 48);
    const remaining = (await fixture.minio.listObjectKeys(b)).sort();
    expect(remaining).toEqual([...names.slice(-48).map((n) => `infrahub/${n}`), ...others].sort());
  });

  it("peak RSS of an upload does not grow with the object size (64 MiB vs 1 GiB)", async () => {
    const b = await bucket();
    const small = await runRss(b, 64 * MiB, "infrahub_backup_20261122_040001.tar.gz");
    const large = await runRss(b, 1024 * MiB, "infrahub_backup_20261122_040002.tar.gz");
    const line = (r: RssResult) =>
      `${(r.size / MiB).toFixed(0)} MiB: peak RSS ${(r.maxRssKiB / 1024).toFixed(1)} MiB, ${(r.size / MiB / r.seconds).toFixed(0)} MiB/s`;
    console.log(
      `upload peak RSS (child process, 5 MiB parts from the size hint, concurrency 2)\n  ${line(small)}\n  ${line(large)}`,
    );
    expect(large.size).toBe(1024 * MiB);
    // 16× the bytes; buffering that grew with the object would add hundreds of MiB. What remains is V8
    // settling its heap (the peak plateaus: 2 GiB measured at the same level as 1 GiB).
    expect(large.maxRssKiB).toBeLessThan(small.maxRssKiB + 64 * 1024);
    expect(await fixture.minio.listMultipartUploads(b)).toEqual([]);
  }, 600_000);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RssResult {
  size: number;
  seconds: number;
  maxRssKiB: number;
}

function spawnChild(mode: "rss" | "signal", b: string, size: number, extra: Record<string, string> = {}) {
  const script = fileURLToPath(new URL("./__tests__/upload-child.ts", import.meta.url));
  // tsx as an in-process loader (no wrapper process between the signal and our handler).
  return spawn(process.execPath, ["--import", "tsx", script], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      IHB_CHILD_MODE: mode,
      IHB_CHILD_SIZE: String(size),
      IHB_CHILD_ENDPOINT: fixture.minio.endpoint,
      IHB_CHILD_BUCKET: b,
      IHB_CHILD_PREFIX: "infrahub",
      IHB_CHILD_KEY: fixture.minio.rootUser,
      IHB_CHILD_SECRET: fixture.minio.rootPassword,
      IHB_CHILD_NAME: extra.IHB_CHILD_NAME ?? NAME,
      ...extra,
    },
  });
}

async function runRss(b: string, size: number, name: string): Promise<RssResult> {
  const child = spawnChild("rss", b, size, { IHB_CHILD_NAME: name });
  const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  expect(await exited).toBe(0);
  return JSON.parse(out.trim().split("\n").at(-1)!) as RssResult;
}
