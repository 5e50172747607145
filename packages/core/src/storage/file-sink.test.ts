import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import { FileSink } from "./file-sink.js";

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof BackupError) return error.code;
    throw error;
  }
}

describe("FileSink", () => {
  it("appends, patches placeholders (buffered or flushed), commits atomically under the final name", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "a.tar.gz");
    const sink = await FileSink.create(path, { bufferBytes: 16 });
    expect((await readdir(tmp.path))[0]).toMatch(/^\.a\.tar\.gz\.partial-[0-9a-f]{12}$/);
    await sink.write(Buffer.from("head-"));
    const p1 = await sink.writePlaceholder(Buffer.from("XXXX"));
    await sink.write(Buffer.alloc(40, 0x61)); // larger than the buffer: written directly
    const p2 = await sink.writePlaceholder(Buffer.from("YY"));
    await sink.write(Buffer.from("-tail"));
    expect(sink.position).toBe(5 + 4 + 40 + 2 + 5);
    await sink.patch(p2, Buffer.from("22"));
    await sink.patch(p1, Buffer.from("1111"));
    expect(await code(sink.patch(sink.position - 1, Buffer.from("zz")))).toBe("INTERNAL");
    // Not visible before commit.
    expect(await readdir(tmp.path)).not.toContain("a.tar.gz");
    const commit = await sink.commit();
    expect(commit).toEqual({ location: path, size: 56 });
    expect((await readFile(path)).toString()).toBe(`head-1111${"a".repeat(40)}22-tail`);
    expect(await readdir(tmp.path)).toEqual(["a.tar.gz"]);
    expect((await stat(path)).mode & 0o777).toBe(0o600); // the default: owner only
    await sink.abort(); // no-op after commit
    expect(await readdir(tmp.path)).toEqual(["a.tar.gz"]);
  });

  it("never overwrites an existing file, at create or at commit", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "b.tar.gz");
    await writeFile(path, "precious");
    expect(await code(FileSink.create(path))).toBe("ARTIFACT_EXISTS");

    const other = join(tmp.path, "c.tar.gz");
    const sink = await FileSink.create(other);
    await sink.write(Buffer.from("new"));
    await writeFile(other, "appeared meanwhile");
    expect(await code(sink.commit())).toBe("ARTIFACT_EXISTS");
    expect(await readFile(other, "utf8")).toBe("appeared meanwhile");
    expect((await readdir(tmp.path)).sort()).toEqual(["b.tar.gz", "c.tar.gz"]);
  });

  it("abort and dispose remove the temp file; abort is idempotent", async () => {
    await using tmp = await tempDir();
    const sink = await FileSink.create(join(tmp.path, "d.tar.gz"));
    await sink.write(Buffer.alloc(3_000_000));
    await sink.abort(new Error("cancelled"));
    await sink.abort();
    expect(await readdir(tmp.path)).toEqual([]);
    expect(await code(sink.write(Buffer.from("x")))).toBe("INTERNAL");
    {
      await using disposed = await FileSink.create(join(tmp.path, "e.tar.gz"));
      await disposed.write(Buffer.from("x"));
    }
    expect(await readdir(tmp.path)).toEqual([]);
  });

  it("maps a missing directory to a storage error", async () => {
    await using tmp = await tempDir();
    expect(await code(FileSink.create(join(tmp.path, "missing", "f.tar.gz")))).toBe("ARTIFACT_NOT_FOUND");
  });
});
