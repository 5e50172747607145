import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../temp.js";
import { CriLogWriter } from "./cri-log.js";
import { expandVars } from "./pod-env.js";
import { MountTable } from "./pod-volumes.js";

describe("expandVars (kubelet $(VAR) rules)", () => {
  it("replaces defined variables, keeps undefined ones as written, unescapes $$", () => {
    const vars = { A: "x", NS: "infrahub" };
    expect(expandVars("--ns=$(NS)", vars)).toBe("--ns=infrahub");
    expect(expandVars("$(A)$(A)-$(MISSING)", vars)).toBe("xx-$(MISSING)");
    expect(expandVars("$$(A) costs $5", vars)).toBe("$(A) costs $5");
    expect(expandVars("unterminated $(A", vars)).toBe("unterminated $(A");
  });
});

describe("MountTable", () => {
  const table = new MountTable(
    [
      { mountPath: "/infrahub_backups", hostPath: "/h/backups", readOnly: false },
      { mountPath: "/tmp", hostPath: "/h/tmp", readOnly: false },
      { mountPath: "/tmp/deep", hostPath: "/h/deep", readOnly: false },
    ],
    "/h/root",
  );

  it("maps paths under the longest matching mount, others under the pod's root dir", () => {
    expect(table.resolve("/infrahub_backups")).toBe("/h/backups");
    expect(table.resolve("/infrahub_backups/a/b.tar.gz")).toBe("/h/backups/a/b.tar.gz");
    expect(table.resolve("/tmp/deep/x")).toBe("/h/deep/x");
    expect(table.resolve("/tmpfoo")).toBe("/h/root/tmpfoo");
    expect(table.resolve("/home/infrahub")).toBe("/h/root/home/infrahub");
  });

  it("rewrites absolute paths and --flag=/path values only", () => {
    expect(table.rewrite("--backup-dir=/infrahub_backups")).toBe("--backup-dir=/h/backups");
    expect(table.rewrite("/infrahub_backups/x.tar.gz")).toBe("/h/backups/x.tar.gz");
    expect(table.rewrite("s3://bucket/infrahub_backups/x")).toBe("s3://bucket/infrahub_backups/x");
    expect(table.rewrite("http://127.0.0.1:9000/tmp")).toBe("http://127.0.0.1:9000/tmp");
    expect(table.rewrite("--neo4jmetadata=all")).toBe("--neo4jmetadata=all");
    expect(table.rewrite("relative/tmp")).toBe("relative/tmp");
  });
});

describe("CriLogWriter", () => {
  it("writes complete lines per stream in the CRI format kwok reads, a trailing partial line on close", async () => {
    await using dir = await tempDir("ihb-cri-");
    const file = join(dir.path, "c.log");
    const log = new CriLogWriter(file);
    log.write("stdout", Buffer.from("hello\nwor"));
    log.write("stderr", Buffer.from("oops\n"));
    log.write("stdout", Buffer.from("ld\nlast"));
    await log.close();
    const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
    const parsed = lines.map((l) => /^(\S+) (stdout|stderr) F (.*)$/.exec(l)?.slice(1));
    expect(parsed.map((p) => p?.slice(1))).toEqual([
      ["stdout", "hello"],
      ["stderr", "oops"],
      ["stdout", "world"],
      ["stdout", "last"],
    ]);
    for (const p of parsed) expect(Number.isNaN(Date.parse(p?.[0] ?? ""))).toBe(false);
    expect(log.text).toBe("hello\noops\nworld\nlast\n");
  });
});
