import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBackupError } from "../errors.js";
import { LocalExecutor } from "../exec/local-executor.js";
import { Staging, type StagingDir } from "./staging.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let root: string;
let dir: StagingDir;
const staging = new Staging("container", { stamp: "20261207_000000", onEvent: () => undefined });
const body = randomBytes(3 * 1024 * 1024 + 17);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ihb-staging-"));
  dir = { executor: new LocalExecutor({ target: "local test" }), path: root, user: undefined };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("Staging.write + verify: the file is proven in its container without a second read", () => {
  it("writes exactly the byte count asked for and returns the container's SHA-256 of what it wrote", async () => {
    const file = join(root, "exact.dump");
    // More bytes than asked for: a stream whose end is never signalled (the Kubernetes exec case) still ends.
    const staged = await staging.write(
      dir,
      file,
      Readable.from([body, Buffer.from("trailing")]),
      body.length,
    );
    expect(staged).toEqual({ file, sha256: sha256(body), bytes: body.length });
    expect((await readFile(file)).equals(body)).toBe(true);
    staging.verify(dir, staged, { sha256: sha256(body), bytes: body.length });
  });

  it("a transfer that delivered other bytes: ARCHIVE_CHECKSUM_MISMATCH", async () => {
    const damaged = Buffer.from(body);
    damaged[1000] = (damaged[1000] ?? 0) ^ 1;
    const staged = await staging.write(
      dir,
      join(root, "damaged.dump"),
      Readable.from([damaged]),
      body.length,
    );
    const error = (() => {
      try {
        staging.verify(dir, staged, { sha256: sha256(body), bytes: body.length });
      } catch (e) {
        return e;
      }
    })();
    expect(isBackupError(error, "ARCHIVE_CHECKSUM_MISMATCH")).toBe(true);
    expect((error as Error).message).toContain("damaged.dump");
  });

  it("a transfer that ended early: the size shows it", async () => {
    const short = body.subarray(0, body.length - 1);
    const staged = await staging.write(dir, join(root, "short.dump"), Readable.from([short]), body.length);
    expect(staged.bytes).toBe(body.length - 1);
    expect(() => staging.verify(dir, staged, { sha256: sha256(body), bytes: body.length })).toThrow(
      /is not the archive's/,
    );
  });

  it("a file that cannot be written fails the write (no hash of bytes that never landed is trusted)", async () => {
    const error = await staging
      .write(dir, join(root, "no-such-dir", "x.dump"), Readable.from([body]), body.length)
      .catch((e: unknown) => e);
    expect(isBackupError(error)).toBe(true);
  });

  it.each([
    ["openssl alone", [], true],
    ["sha256sum where openssl is missing", ["sha256sum"], false],
    ["the byte count alone where the image has no hasher", [], false],
  ])("hashes with %s", async (_what, tools, withOpenssl) => {
    const bin = await mkdtemp(join(tmpdir(), "ihb-staging-bin-"));
    try {
      for (const tool of [
        "sh",
        "head",
        "tee",
        "wc",
        "cut",
        "printf",
        ...tools,
        ...(withOpenssl ? ["openssl"] : []),
      ]) {
        await symlink(`/usr/bin/${tool}`, join(bin, tool));
      }
      const image: StagingDir = {
        executor: new LocalExecutor({ target: "image", env: { PATH: bin } }),
        path: root,
        user: undefined,
      };
      const staged = await staging.write(image, join(root, "image.dump"), Readable.from([body]), body.length);
      expect(staged.sha256).toBe(tools.length > 0 || withOpenssl ? sha256(body) : undefined);
      expect(staged.bytes).toBe(body.length);
      staging.verify(image, staged, { sha256: sha256(body), bytes: body.length });
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});

describe("Staging.prepare: staged only where there is room, and says why not", () => {
  const local = new LocalExecutor({ target: "local test" });

  it("a directory with room: a fresh 0700 staging directory under it", async () => {
    const events: unknown[] = [];
    const auto = new Staging("auto", { stamp: "20261207_000001", onEvent: (e) => events.push(e) });
    const made = await auto.prepare(local, root, 1024, { what: "prefect.dump" });
    expect(made?.path).toBe(join(root, ".infrahub-backup-staging-20261207_000001"));
    expect(events).toEqual([]);
    await auto[Symbol.asyncDispose]();
  });

  it.each([
    ["more than the volume has", () => root, Number.MAX_SAFE_INTEGER, /^no room: .* MiB free/],
    [
      "a path that does not exist (free space unknown, never taken for 0 MiB)",
      () => join(root, "no-such-volume"),
      1024,
      /^cannot measure the free space of .*no-such-volume: .*No such file/,
    ],
  ])(
    "%s: auto streams and says why; container refuses with NO_ROOM_TO_STAGE",
    async (_what, base, need, reason) => {
      const events: Array<{ type: string; reason?: string }> = [];
      const auto = new Staging("auto", { stamp: "20261207_000002", onEvent: (e) => events.push(e as never) });
      expect(await auto.prepare(local, base(), need, { what: "prefect.dump" })).toBeUndefined();
      expect(events).toEqual([
        { type: "not-staged", what: "prefect.dump", reason: expect.stringMatching(reason) },
      ]);
      const strict = new Staging("container", { stamp: "20261207_000003", onEvent: () => undefined });
      const error = await strict
        .prepare(local, base(), need, { what: "prefect.dump" })
        .catch((e: unknown) => e);
      expect(isBackupError(error, "NO_ROOM_TO_STAGE")).toBe(true);
    },
  );
});
