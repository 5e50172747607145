import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { pythonStream } from "../archive/__tests__/interop.js";
import { LocalStore } from "../storage/local-store.js";
import { createBackupFromFiles } from "./create-from-files.js";
import { verifyBackup } from "./verify-backup.js";

describe("createBackupFromFiles (upstream's hidden create from-files)", () => {
  it("archives a Community dump and a pg_dump file in the upstream layout, edition by upstream's rule", async () => {
    await using dir = await tempDir("ihb-from-files-");
    const dump = join(dir.path, "neo4j.dump");
    const pg = join(dir.path, "prefect.dump");
    await writeFile(dump, Buffer.concat([Buffer.from("DZV1"), randomBytes(100_000)]));
    await writeFile(pg, Buffer.concat([Buffer.from("PGDMP"), randomBytes(50_000)]));
    const store = new LocalStore({ directory: join(dir.path, "out") });
    const result = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: dump,
      postgresPath: pg,
      infrahubVersion: "1.5.3",
    });
    expect(result.metadata).toMatchObject({
      neo4jEdition: "community",
      components: ["database", "task-manager-db"],
      infrahubVersion: "1.5.3",
    });
    const report = await verifyBackup({ store, name: result.name });
    expect(report.ok).toBe(true);
    expect(report.checksums.map((c) => c.key).sort()).toEqual(["database/neo4j.dump", "prefect.dump"]);
  });

  it("a directory of artefacts is Enterprise; files that are not dumps are refused before writing", async () => {
    await using dir = await tempDir("ihb-from-files-");
    const artefacts = join(dir.path, "artefacts");
    await mkdir(artefacts);
    await writeFile(join(artefacts, "neo4j-2025-03-24T19-57-18.backup"), randomBytes(10_000));
    const store = new LocalStore({ directory: join(dir.path, "out") });
    const result = await createBackupFromFiles({ store, toolVersion: "t", neo4jPath: artefacts });
    expect(result.metadata.neo4jEdition).toBe("enterprise");
    expect(result.metadata.components).toEqual(["database"]);

    const notADump = join(dir.path, "neo4j.dump");
    await writeFile(notADump, "hello");
    await expect(
      createBackupFromFiles({ store, toolVersion: "t", neo4jPath: notADump }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect((await store.list()).length).toBe(1);
  });

  it("a directory tree is archived whole: subdirectories, empty ones, links to files; checksums keyed as upstream's walk", async () => {
    await using dir = await tempDir("ihb-from-files-");
    const artefacts = join(dir.path, "artefacts");
    await mkdir(join(artefacts, "neo4j/store/schema/index"), { recursive: true });
    await mkdir(join(artefacts, "neo4j/b-empty"), { recursive: true });
    await writeFile(join(artefacts, "neo4j-2025-03-24T19-57-18.backup"), randomBytes(10_000));
    await writeFile(join(artefacts, "neo4j/store/neostore.db"), randomBytes(70_000));
    await writeFile(join(artefacts, "neo4j/store/schema/index/1.idx"), Buffer.from("index ".repeat(5000)));
    await writeFile(join(artefacts, "neo4j/z.txt"), "");
    await writeFile(join(dir.path, "outside.bin"), randomBytes(3000));
    await symlink(join(dir.path, "outside.bin"), join(artefacts, "neo4j/link.bin"));
    const store = new LocalStore({ directory: join(dir.path, "out") });
    const result = await createBackupFromFiles({ store, toolVersion: "t", neo4jPath: artefacts });

    // Upstream keys: filepath.Rel(backup/, file) for every file its walk of the copied tree finds
    // (the copy follows links to files), here computed by find + sha256sum.
    const sums = execFileSync("bash", ["-c", "find -L . -type f -print0 | xargs -0 sha256sum"], {
      cwd: artefacts,
      encoding: "utf8",
    });
    const upstreamKeys = Object.fromEntries(
      sums
        .trim()
        .split("\n")
        .map((line) => {
          const [sum, file] = line.split(/\s+/) as [string, string];
          return [`database/${file.replace(/^\.\//, "")}`, sum];
        }),
    );
    expect(Object.keys(upstreamKeys)).toHaveLength(5);
    expect(result.metadata.checksums).toEqual(upstreamKeys);
    expect(result.metadata.neo4jEdition).toBe("enterprise");
    // Depth first, names in byte order at each level ("neo4j" before "neo4j-…"), as upstream's walk.
    expect(result.entries.map((e) => e.path)).toEqual([
      "database/neo4j/link.bin",
      "database/neo4j/store/neostore.db",
      "database/neo4j/store/schema/index/1.idx",
      "database/neo4j/z.txt",
      "database/neo4j-2025-03-24T19-57-18.backup",
    ]);

    const report = await verifyBackup({ store, name: result.name });
    expect(report.ok).toBe(true);
    expect(report.checksums.map((c) => [c.key, c.status])).toEqual(
      Object.keys(upstreamKeys)
        .sort()
        .map((key) => [key, "ok"]),
    );
    // Every reader sees the directories too, the empty one included.
    const path = join(dir.path, "out", result.name);
    const listed = await pythonStream(path);
    expect(listed.filter((e) => e.type === "dir").map((e) => e.name)).toEqual([
      "backup",
      "backup/database",
      "backup/database/neo4j",
      "backup/database/neo4j/b-empty",
      "backup/database/neo4j/store",
      "backup/database/neo4j/store/schema",
      "backup/database/neo4j/store/schema/index",
    ]);
    expect(execFileSync("tar", ["-tzf", path], { encoding: "utf8" })).toContain(
      "backup/database/neo4j/b-empty\n",
    );
  });

  it("refuses a FIFO or a dangling link in the tree before writing anything", async () => {
    await using dir = await tempDir("ihb-from-files-");
    const store = new LocalStore({ directory: join(dir.path, "out") });
    const fifoTree = join(dir.path, "fifo");
    await mkdir(join(fifoTree, "sub"), { recursive: true });
    await writeFile(join(fifoTree, "a.backup"), "x");
    execFileSync("mkfifo", [join(fifoTree, "sub/pipe")]);
    const danglingTree = join(dir.path, "dangling");
    await mkdir(danglingTree);
    await writeFile(join(danglingTree, "a.backup"), "x");
    await symlink(join(dir.path, "nowhere"), join(danglingTree, "gone.backup"));
    for (const neo4jPath of [fifoTree, danglingTree]) {
      await expect(createBackupFromFiles({ store, toolVersion: "t", neo4jPath })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/not a regular file or a directory/),
      });
    }
    expect(await store.list()).toEqual([]);
  });
});
