import { execFileSync, spawnSync } from "node:child_process";
import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { isBackupError } from "../errors.js";
import { STORED_BLOCK_OVERHEAD, storedBlock } from "./gzip-stream.js";
import { decodeTarHeader, encodeTarHeader, MAX_OCTAL_SIZE, TAR_BLOCK, writeChecksum } from "./tar-header.js";

const TEN_GIB = 10 * 1024 ** 3 + 3;

describe("tar header", () => {
  it("encodes sizes above 8 GiB as GNU base-256 in one block", () => {
    const header = encodeTarHeader({
      name: "backup/database/neo4j.dump",
      type: "file",
      size: TEN_GIB,
      mtime: 1,
    });
    expect(header.length).toBe(TAR_BLOCK);
    expect(header[124]).toBe(0x80);
    expect(Buffer.from(header.subarray(257, 265)).toString("latin1")).toBe("ustar  \0");
    expect(decodeTarHeader(header).size).toBe(TEN_GIB);
    const small = encodeTarHeader({ name: "a", type: "file", size: MAX_OCTAL_SIZE, mtime: 1 });
    expect(Buffer.from(small.subarray(124, 136)).toString("latin1")).toBe("77777777777\0");
    expect(decodeTarHeader(small).size).toBe(MAX_OCTAL_SIZE);
    // The header's stored block keeps its fixed length whatever the size, so it can be patched in place.
    expect(storedBlock(header).length).toBe(TAR_BLOCK + STORED_BLOCK_OVERHEAD);
    expect(storedBlock(small).length).toBe(517);
  });

  it("uses the USTAR prefix for long names and refuses names that do not fit", () => {
    const long = `backup/database/${"d".repeat(90)}/${"f".repeat(90)}`;
    expect(decodeTarHeader(encodeTarHeader({ name: long, type: "file", size: 1, mtime: 1 })).name).toBe(long);
    let error: unknown;
    try {
      encodeTarHeader({ name: `backup/${"x".repeat(300)}`, type: "file", size: 1, mtime: 1 });
    } catch (e) {
      error = e;
    }
    expect(isBackupError(error, "INVALID_ARGUMENT")).toBe(true);
  });

  it("refuses values no header field holds with INVALID_ARGUMENT, not a plain Error (exit 2, not 1)", () => {
    const entry = { name: "backup/a", type: "file", size: 1, mtime: 1 } as const;
    for (const bad of [
      { ...entry, mtime: 8 ** 11 },
      { ...entry, mode: 8 ** 7 },
      { ...entry, size: -1 },
      { ...entry, size: Number.MAX_SAFE_INTEGER + 2 },
    ]) {
      let error: unknown;
      try {
        encodeTarHeader(bad);
      } catch (e) {
        error = e;
      }
      expect(isBackupError(error, "INVALID_ARGUMENT"), `${JSON.stringify(bad)}: ${error}`).toBe(true);
    }
  });

  it("detects a flipped byte through the header checksum", () => {
    const header = encodeTarHeader({ name: "backup/prefect.dump", type: "file", size: 5, mtime: 1 });
    header[3] = (header[3] as number) ^ 0x01;
    expect(() => decodeTarHeader(header)).toThrow(/checksum/);
  });

  it("refuses a header whose unused numeric fields are malformed, as Python's tarfile does", async () => {
    await using tmp = await tempDir();
    for (const [field, offset] of [
      ["uid", 108],
      ["gid", 116],
      ["mtime", 136],
      ["devmajor", 329],
      ["devminor", 337],
    ] as const) {
      const header = encodeTarHeader({ name: "backup/prefect.dump", type: "file", size: 0, mtime: 1 });
      header.set(Buffer.from("9x"), offset);
      writeChecksum(header);
      expect(() => decodeTarHeader(header), field).toThrow(/malformed tar header/);
      const path = join(tmp.path, `${field}.tar`);
      await writeFile(path, Buffer.concat([header, Buffer.alloc(1024)]));
      const py = spawnSync(
        "python3",
        ["-c", "import sys,tarfile\ntarfile.open(sys.argv[1]).getmembers()", path],
        {
          encoding: "utf8",
        },
      );
      expect(py.status, field).not.toBe(0);
    }
  });

  it("a 10 GiB base-256 entry (sparse file) is listed with its size by GNU tar and Python", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "big.tar");
    const file = await open(path, "w");
    await file.write(
      encodeTarHeader({ name: "backup/database/neo4j.dump", type: "file", size: TEN_GIB, mtime: 1769764831 }),
      0,
      TAR_BLOCK,
      0,
    );
    const dataEnd = TAR_BLOCK + Math.ceil(TEN_GIB / TAR_BLOCK) * TAR_BLOCK;
    await file.write(Buffer.alloc(2 * TAR_BLOCK), 0, 2 * TAR_BLOCK, dataEnd);
    await file.close();
    const gnu = execFileSync("tar", ["-tvf", path], { encoding: "utf8" });
    expect(gnu).toContain(` ${TEN_GIB} `);
    const py = execFileSync(
      "python3",
      [
        "-c",
        "import sys,tarfile\nwith tarfile.open(sys.argv[1]) as t:\n  print([(m.name, m.size) for m in t])",
        path,
      ],
      { encoding: "utf8" },
    );
    expect(py.trim()).toBe(`[('backup/database/neo4j.dump', ${TEN_GIB})]`);
  });
});
