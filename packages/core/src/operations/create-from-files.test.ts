import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
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
});
