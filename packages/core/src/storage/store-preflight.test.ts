import { spawnSync } from "node:child_process";
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ListObjectVersionsCommand } from "@aws-sdk/client-s3";
import { repoRoot, tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { useMinio } from "./__tests__/minio-fixture.js";
import { LocalStore } from "./local-store.js";

const fixture = useMinio("pre");
const { bucket } = fixture;
const store = (bucketName: string, credentials?: { accessKeyId: string; secretAccessKey: string }) =>
  fixture.store(bucketName, credentials ? { credentials } : {});

/** A MinIO user whose policy allows exactly `actions` on the bucket and its objects. */
async function userWith(bucketName: string, actions: string[]) {
  return await fixture.minio.createUser({
    name: `p-${bucketName}-${actions.length}-${actions.join("").length}`,
    document: {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: actions,
          Resource: [`arn:aws:s3:::${bucketName}`, `arn:aws:s3:::${bucketName}/*`],
        },
      ],
    },
  });
}

async function expectNothingLeft(bucketName: string): Promise<void> {
  expect(await fixture.minio.listObjectKeys(bucketName)).toEqual([]);
  expect(await fixture.minio.listMultipartUploads(bucketName)).toEqual([]);
}

describe("S3 preflight: check() and check({ write: true }) against MinIO", () => {
  it("with full rights both pass, and nothing is left: no object, no upload, no version", async () => {
    const b = await bucket({ versioning: true });
    await using s3 = store(b);
    await s3.check();
    await s3.check({ write: true });
    await expectNothingLeft(b);
    const versions = await fixture.minio.client().send(new ListObjectVersionsCommand({ Bucket: b }));
    expect(versions.Versions ?? []).toEqual([]);
    expect(versions.DeleteMarkers ?? []).toEqual([]);
  });

  it("a list+get-only user passes the read check and fails the write check with STORAGE_ACCESS_DENIED naming s3:PutObject", async () => {
    const b = await bucket();
    const readOnly = await userWith(b, ["s3:ListBucket", "s3:GetObject"]);
    await using s3 = store(b, readOnly);
    await s3.check(); // read-only, as before
    const error = await s3.check({ write: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "STORAGE_ACCESS_DENIED",
      details: { permission: "s3:PutObject", operation: "CreateMultipartUpload", bucket: b },
    });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^cannot write backups to s3://${b}/infrahub/: access denied for s3:PutObject \\(the preflight's CreateMultipartUpload of s3://${b}/infrahub/\\.infrahub-backup-write-check-[0-9a-f]{16} was refused\\)$`,
      ),
    );
    expect((error as { hint: string }).hint).toContain(
      `grant s3:PutObject and s3:AbortMultipartUpload on arn:aws:s3:::${b}/infrahub/*`,
    );
    await expectNothingLeft(b);
  });

  it("a user that may write but not abort uploads fails naming s3:AbortMultipartUpload; the sweep removes the test upload", async () => {
    const b = await bucket();
    const noAbort = await userWith(b, ["s3:ListBucket", "s3:GetObject", "s3:PutObject"]);
    await using s3 = store(b, noAbort);
    const error = await s3.check({ write: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "STORAGE_ACCESS_DENIED",
      details: { permission: "s3:AbortMultipartUpload" },
    });
    expect((error as Error).message).toContain("access denied for s3:AbortMultipartUpload");
    const left = await fixture.minio.listMultipartUploads(b);
    expect(left).toHaveLength(1);
    expect((error as Error).message).toContain(left[0]!.uploadId);
    // Not swept while young (another preflight may be running), swept once old enough.
    await using root = store(b);
    expect(await root.removeStaleUploads({ olderThanMs: 3_600_000 })).toMatchObject({
      removed: [],
      recent: 1,
    });
    const swept = await root.removeStaleUploads({ olderThanMs: 0 });
    expect(swept.removed).toHaveLength(1);
    expect(swept.removed[0]!.name).toMatch(/^\.infrahub-backup-write-check-[0-9a-f]{16}$/);
    await expectNothingLeft(b);
  });

  it("an aborted signal cancels the preflight", async () => {
    const b = await bucket();
    await using s3 = store(b);
    const controller = new AbortController();
    controller.abort();
    await expect(s3.check({ write: true, signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELLED",
    });
    await expectNothingLeft(b);
  });
});

describe("S3 stale-upload sweep", () => {
  it("aborts only our archive names under the prefix older than the threshold; other keys and prefixes are left", async () => {
    const b = await bucket();
    await using s3 = store(b);
    const client = fixture.minio.client();
    const { CreateMultipartUploadCommand } = await import("@aws-sdk/client-s3");
    const start = (Key: string) => client.send(new CreateMultipartUploadCommand({ Bucket: b, Key }));
    const ours = "infrahub/infrahub_backup_20261101_010203.tar.gz";
    const oursEnc = "infrahub/infrahub_backup_20261101_010204.tar.gz.enc";
    const foreign = ["infrahub/other-tool.tar.gz", "elsewhere/infrahub_backup_20261101_010203.tar.gz"];
    for (const key of [ours, oursEnc, ...foreign]) await start(key);
    const dry = await s3.removeStaleUploads({ olderThanMs: 0, dryRun: true });
    expect(dry.removed.map((r) => r.location).sort()).toEqual([`s3://${b}/${ours}`, `s3://${b}/${oursEnc}`]);
    expect(await fixture.minio.listMultipartUploads(b)).toHaveLength(4);
    expect(await s3.removeStaleUploads({ olderThanMs: 3_600_000 })).toMatchObject({ removed: [], recent: 2 });
    const swept = await s3.removeStaleUploads({ olderThanMs: 0 });
    expect(swept).toMatchObject({ failed: [], recent: 0, dryRun: false });
    expect(swept.removed.map((r) => r.name).sort()).toEqual([
      "infrahub_backup_20261101_010203.tar.gz",
      "infrahub_backup_20261101_010204.tar.gz.enc",
    ]);
    expect((await fixture.minio.listMultipartUploads(b)).map((u) => u.key).sort()).toEqual(
      [...foreign].sort(),
    );
  });

  it("a user without s3:AbortMultipartUpload gets each upload reported as failed, not an exception", async () => {
    const b = await bucket();
    const { CreateMultipartUploadCommand } = await import("@aws-sdk/client-s3");
    await fixture.minio.client().send(
      new CreateMultipartUploadCommand({
        Bucket: b,
        Key: "infrahub/infrahub_backup_20261101_010203.tar.gz",
      }),
    );
    const lister = await userWith(b, ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetObject"]);
    await using s3 = store(b, lister);
    const result = await s3.removeStaleUploads({ olderThanMs: 0 });
    expect(result.removed).toEqual([]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.error).toMatchObject({ code: "STORAGE_ACCESS_DENIED" });
    expect(result.failed[0]!.error.message).toContain("s3:AbortMultipartUpload");
  });
});

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * Runs `LocalStore.check({ write: true })` in a child process that file permissions apply to: when the
 * tests run as root, the child drops the capabilities that let root ignore them (setpriv), else it runs
 * as ourselves. Prints the outcome as JSON.
 */
function checkAs(directory: string): { ok: boolean; code?: string; message?: string } {
  const root = process.getuid?.() === 0;
  const script = `import { LocalStore } from ${JSON.stringify(join(here, "local-store.ts"))};
new LocalStore({ directory: ${JSON.stringify(directory)} }).check({ write: true }).then(
  () => console.log(JSON.stringify({ ok: true })),
  (e) => console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })),
);`;
  const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", script];
  const argv = root ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", ...node] : node;
  const out = spawnSync(argv[0]!, argv.slice(1), { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  const last = out.stdout.trim().split("\n").at(-1);
  if (!last) throw new Error(`check child printed nothing: ${out.stderr}`);
  return JSON.parse(last) as { ok: boolean; code?: string; message?: string };
}

describe("LocalStore preflight", () => {
  it("check({ write: true }) creates a missing directory and leaves nothing in it", async () => {
    await using dir = await tempDir();
    const target = join(dir.path, "a", "b");
    const store = new LocalStore({ directory: target });
    await store.check(); // read-only: a missing directory is fine and is not created
    await expect(readdir(join(dir.path))).resolves.toEqual([]);
    await store.check({ write: true });
    expect(await readdir(target)).toEqual([]);
  });

  it("check({ write: true }) refuses a directory this process cannot write (STORAGE_ACCESS_DENIED); check() passes", async () => {
    await using dir = await tempDir();
    const target = join(dir.path, "backups");
    await mkdir(target);
    await writeFile(join(target, "infrahub_backup_20261101_010203.tar.gz"), "x");
    await chmod(dir.path, 0o755);
    await chmod(target, 0o555);
    const result = checkAs(target);
    expect(result).toMatchObject({ ok: false, code: "STORAGE_ACCESS_DENIED" });
    expect(result.message).toBe(`permission denied: cannot write in ${target}`);
    await chmod(target, 0o755);
    expect(checkAs(target)).toEqual({ ok: true });
    expect(await readdir(target)).toEqual(["infrahub_backup_20261101_010203.tar.gz"]);
  }, 120_000);

  it("a file where the directory should be is INVALID_CONFIG", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "not-a-dir");
    await writeFile(file, "x");
    await expect(new LocalStore({ directory: file }).check({ write: true })).rejects.toMatchObject({
      code: "INVALID_CONFIG",
    });
  });
});
