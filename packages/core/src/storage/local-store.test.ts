import { createHash } from "node:crypto";
import { appendFile, readdir, readFile, rename, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { sha256Of, writePattern } from "./__tests__/pattern.js";
import { abortActiveUploads, activeUploads } from "./active-uploads.js";
import { LocalStore } from "./local-store.js";
import { applyRetention, planRetention } from "./retention.js";

const NAME = "infrahub_backup_20261122_031500.tar.gz";

describe("LocalStore", () => {
  it("writes through a temp name; the archive appears only on commit, byte-exact with patches applied", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: join(dir.path, "backups") });
    const sink = await store.put(NAME, { sizeHint: 20 * 1024 * 1024 });
    const written = await writePattern(sink, { size: 20 * 1024 * 1024 + 17 });
    expect(written.placeholders).toBeGreaterThan(3);
    expect(await readdir(store.directory)).not.toContain(NAME);
    const commit = await sink.commit();
    expect(commit).toMatchObject({ location: join(store.directory, NAME), size: written.size });
    expect(await readdir(store.directory)).toEqual([NAME]);
    const bytes = await readFile(join(store.directory, NAME));
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(written.sha256);
    expect(activeUploads()).toEqual([]);
  });

  it("never overwrites: refuses an existing name, and a commit that races with a new file", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    await writeFile(join(dir.path, NAME), "precious");
    await expect(store.put(NAME)).rejects.toMatchObject({ code: "ARTIFACT_EXISTS" });

    const other = "infrahub_backup_20261122_031501.tar.gz";
    const sink = await store.put(other);
    await sink.write(Buffer.from("new bytes"));
    await writeFile(join(dir.path, other), "also precious");
    await expect(sink.commit()).rejects.toMatchObject({ code: "ARTIFACT_EXISTS" });
    expect(await readFile(join(dir.path, other), "utf8")).toBe("also precious");
    expect((await readdir(dir.path)).sort()).toEqual([NAME, other]);
  });

  it("abort, an AbortSignal, and abortActiveUploads leave nothing behind", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    const a = await store.put(NAME);
    await a.write(Buffer.alloc(1000));
    await a.abort();
    await a.abort();
    expect(await readdir(dir.path)).toEqual([]);

    const controller = new AbortController();
    const b = await store.put(NAME, { signal: controller.signal });
    await b.writePlaceholder(Buffer.alloc(535));
    controller.abort();
    await expect(b.write(Buffer.alloc(10))).rejects.toMatchObject({ code: "CANCELLED" });
    await b.abort();
    expect(await readdir(dir.path)).toEqual([]);

    const c = await store.put(NAME);
    await c.write(Buffer.alloc(10));
    expect(activeUploads()).toEqual([join(dir.path, NAME)]);
    await abortActiveUploads(new Error("SIGTERM"));
    await expect(c.commit()).rejects.toMatchObject({ code: "CANCELLED" });
    expect(await readdir(dir.path)).toEqual([]);
    expect(activeUploads()).toEqual([]);
  });

  it("refuses before writing when the size hint exceeds the free space", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    const error = await store.put(NAME, { sizeHint: 2 ** 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_NO_SPACE" });
    expect((error as Error).message).toMatch(/not enough free space in .* free, about .* needed/);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it("reads are pinned to the file identity: a replaced or modified file is STORAGE_CHANGED", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    const sink = await store.put(NAME);
    const written = await writePattern(sink, { size: 3 * 1024 * 1024 });
    await sink.commit();

    const first = await store.get(NAME);
    expect(await sha256Of(first)).toEqual({ sha256: written.sha256, size: written.size });
    const again = await store.get(NAME, { pin: first.info });
    expect((await sha256Of(again)).sha256).toBe(written.sha256);

    // Same name, same size, different file (what a download or decryption to the same name would do).
    await writeFile(join(dir.path, "replacement"), await readFile(join(dir.path, NAME)));
    await rename(join(dir.path, "replacement"), join(dir.path, NAME));
    await expect(store.get(NAME, { pin: first.info })).rejects.toMatchObject({ code: "STORAGE_CHANGED" });

    // Appended to while being read.
    const reading = await store.get(NAME);
    const iterator = reading[Symbol.asyncIterator]();
    await iterator.next();
    await appendFile(join(dir.path, NAME), "tail");
    await expect(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
    ).rejects.toMatchObject({ code: "STORAGE_CHANGED" });
  });

  it("reports a missing artifact with its path", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    await expect(store.head(NAME)).rejects.toMatchObject({
      code: "ARTIFACT_NOT_FOUND",
      message: `backup artifact not found: ${join(dir.path, NAME)}`,
    });
    await expect(store.get(NAME)).rejects.toMatchObject({ code: "ARTIFACT_NOT_FOUND" });
    await expect(store.put("../escape.tar.gz")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("hides temp files of unfinished writes from listings; removeStaleUploads removes old ones only", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    const open = await store.put(NAME);
    await open.write(Buffer.alloc(10));
    const stale = `.${NAME.replace("031500", "011500")}.partial-0123456789ab`;
    await writeFile(join(dir.path, stale), "left by a killed process");
    const old = new Date(Date.now() - 48 * 3600_000);
    await utimes(join(dir.path, stale), old, old);
    await writeFile(join(dir.path, ".not-ours.partial-0123456789ab"), "x");
    await utimes(join(dir.path, ".not-ours.partial-0123456789ab"), old, old);
    const oldCheck = ".infrahub-backup-write-check-0123456789abcdef";
    await writeFile(join(dir.path, oldCheck), "x");
    await utimes(join(dir.path, oldCheck), old, old);
    await writeFile(join(dir.path, "infrahub_backup_20261101_010203.tar.gz"), "a finished archive");
    await utimes(join(dir.path, "infrahub_backup_20261101_010203.tar.gz"), old, old);
    // temp names are never listed (nor pruned, nor "latest")
    expect((await store.list()).map((o) => o.name).sort()).toEqual([
      oldCheck,
      "infrahub_backup_20261101_010203.tar.gz",
    ]);
    const dry = await store.removeStaleUploads({ olderThanMs: 24 * 3600_000, dryRun: true });
    expect(dry.removed.map((r) => r.location).sort()).toEqual(
      [join(dir.path, stale), join(dir.path, oldCheck)].sort(),
    );
    expect(dry.removed.find((r) => r.location.endsWith(stale))).toMatchObject({
      name: NAME.replace("031500", "011500"),
      startedAt: old,
    });
    expect(dry.recent).toBe(1); // the write in progress
    expect(await readdir(dir.path)).toContain(stale);
    const swept = await store.removeStaleUploads({ olderThanMs: 24 * 3600_000 });
    expect(swept).toMatchObject({ failed: [], recent: 1, dryRun: false });
    expect(swept.removed).toHaveLength(2);
    await open.commit(); // the fresh temp file of the write in progress was left alone
    expect((await readdir(dir.path)).sort()).toEqual(
      [".not-ours.partial-0123456789ab", "infrahub_backup_20261101_010203.tar.gz", NAME].sort(),
    );
  });

  it("lists, finds the latest and prunes only archive-named files", async () => {
    await using dir = await tempDir();
    const store = new LocalStore({ directory: dir.path });
    const names: string[] = [];
    for (let d = 1; d <= 30; d++) {
      const name = `infrahub_backup_202611${String(d).padStart(2, "0")}_010203.tar.gz`;
      names.push(name);
      await writeFile(join(dir.path, name), name);
    }
    await writeFile(join(dir.path, "infrahub_backup_latest.tar.gz"), "chart default name");
    await writeFile(join(dir.path, "notes.txt"), "x");
    const listed = await store.list();
    expect(listed).toHaveLength(32);
    expect((await store.latest())?.name).toBe(names[29]);

    const plan = planRetention(listed, {
      keepCount: 3,
      keepDays: 5,
      now: new Date(Date.UTC(2026, 10, 30, 12)),
    });
    expect(plan.keep.map((k) => k.object.name)).toEqual(names.slice(25).reverse());
    const dry = await applyRetention(store, plan, { dryRun: true });
    expect(dry.deleted).toEqual([]);
    expect(await readdir(dir.path)).toHaveLength(32);
    const result = await applyRetention(store, plan);
    expect(result.failed).toEqual([]);
    expect(result.deleted).toHaveLength(25);
    expect((await readdir(dir.path)).sort()).toEqual(
      ["infrahub_backup_latest.tar.gz", "notes.txt", ...names.slice(25)].sort(),
    );
  });
});
