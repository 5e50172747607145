import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { startPostgres, tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { LocalEnvironment } from "../src/environment/local-environment.js";
import { createBackup } from "../src/operations/create-backup.js";
import { restoreBackup } from "../src/operations/restore-backup.js";
import { LocalStore } from "../src/storage/local-store.js";

/**
 * TEST DOUBLE (a boundary we do not own and cannot install here): Neo4j Enterprise's `cypher-shell` and
 * `neo4j-admin`, as shell scripts over a "store" file. They answer the edition/databases/servers queries
 * like Enterprise does, write a backup artefact, restore it into the store, and log every call, so the
 * operations' Enterprise sequencing runs for real end to end; the real server runs in the kind tier.
 */
async function enterpriseDouble(root: string): Promise<{ bin: string; state: string }> {
  const bin = join(root, "bin");
  const state = join(root, "state");
  await mkdir(bin, { recursive: true });
  await mkdir(state, { recursive: true });
  await writeFile(
    join(bin, "cypher-shell"),
    `#!/bin/sh
for last; do :; done
echo "cypher-shell $*" | sed "s/$NEO4J_PASSWORD/***/g" >> "$STATE/calls.log"
case "$last" in
  *dbms.components*) printf 'name, versions, edition\\n"Neo4j Kernel", ["5.26.30"], "enterprise"\\n' ;;
  *"SHOW DATABASES"*) printf 'name\\n"neo4j"\\n"system"\\n' ;;
  *"SHOW SERVERS"*) printf 'servers\\n1\\n' ;;
  *) printf 'result\\n' ;;
esac
`,
  );
  await writeFile(
    join(bin, "neo4j-admin"),
    `#!/bin/sh
echo "neo4j-admin $*" >> "$STATE/calls.log"
for arg; do case "$arg" in --to-path=*) to="\${arg#--to-path=}";; --from-path=*) from="\${arg#--from-path=}";; esac; done
case "$2" in
  backup) cp "$STATE/store.bin" "$to/neo4j-2026-11-22T04-40-00.backup" ;;
  restore) cat "$from"/*.backup > "$STATE/store.bin" ;;
  migrate) echo migrated >> "$STATE/calls.log" ;;
esac
`,
  );
  await chmod(join(bin, "cypher-shell"), 0o755);
  await chmod(join(bin, "neo4j-admin"), 0o755);
  return { bin, state };
}

describe("Neo4j Enterprise procedures through the operations (Enterprise test double, real PostgreSQL)", () => {
  it("backs up online without stopping anything, and restores with stop, restore, migrate, metadata replay, start", async () => {
    await using work = await tempDir("ihb-enterprise-");
    await using pg = await startPostgres();
    const { bin, state } = await enterpriseDouble(work.path);
    const store = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(state, "store.bin"), store);
    await pg.psql(
      "CREATE TABLE flow_run (id int PRIMARY KEY, state text); INSERT INTO flow_run SELECT g, 'ok' FROM generate_series(1, 100) g;",
    );
    const environment = new LocalEnvironment({
      services: {
        database: { pathPrepend: [bin], env: { STATE: state } },
        "task-manager-db": { env: { PGPORT: String(pg.port) }, pathPrepend: [dirname(pg.bin("pg_dump"))] },
        "task-manager": { env: { PREFECT_SERVER_DATABASE_CONNECTION_URL: pg.connectionUrl() } },
        "infrahub-server": { env: { INFRAHUB_DB_PASSWORD: "enterprise-pw" } },
      },
      neo4j: { pidFile: "/nonexistent" },
    });
    const backups = new LocalStore({ directory: join(work.path, "backups") });
    const freezeHelper = () => {
      throw new Error("an Enterprise backup must not freeze Neo4j");
    };

    const result = await createBackup({
      environment,
      store: backups,
      toolVersion: "t",
      freezeHelper,
      neo4jMetadata: "users",
    });
    expect(result.metadata.neo4jEdition).toBe("enterprise");
    expect(result.entries.map((e) => [e.path, e.size])).toEqual([
      ["prefect.dump", expect.any(Number)],
      ["database/neo4j-2026-11-22T04-40-00.backup", store.length],
    ]);
    const backupCalls = await readFile(join(state, "calls.log"), "utf8");
    expect(backupCalls).toMatch(
      /neo4j-admin database backup --expand-commands --include-metadata=users --to-path=\/tmp\/infrahub-backup-[0-9a-f]{12} neo4j/,
    );
    expect(backupCalls).not.toContain("enterprise-pw");

    await writeFile(join(state, "store.bin"), randomBytes(1000));
    await writeFile(join(state, "calls.log"), "");
    await pg.psql("UPDATE flow_run SET state = 'changed';");
    const restore = await restoreBackup({
      environment,
      store: backups,
      name: result.name,
      freezeHelper,
      migrateFormat: true,
    });
    expect(restore.plan.neo4j.method).toBe("enterprise-restore");
    expect((await readFile(join(state, "store.bin"))).equals(store)).toBe(true);
    expect((await pg.psql("SELECT DISTINCT state FROM flow_run;")).trim()).toBe("ok");
    const order = (await readFile(join(state, "calls.log"), "utf8"))
      .split("\n")
      .map(
        (line) =>
          /STOP DATABASE|database restore|database migrate|restore_metadata\.cypher|START DATABASE/.exec(
            line,
          )?.[0],
      )
      .filter(Boolean);
    expect(order).toEqual([
      "STOP DATABASE",
      "database restore",
      "database migrate",
      "restore_metadata.cypher",
      "START DATABASE",
    ]);
  });

  it("refuses to put an Enterprise backup on Community, before changing anything", async () => {
    await using work = await tempDir("ihb-enterprise-");
    await using pg = await startPostgres();
    const { bin, state } = await enterpriseDouble(work.path);
    await writeFile(join(state, "store.bin"), randomBytes(4096));
    const environment = new LocalEnvironment({
      services: {
        database: { pathPrepend: [bin], env: { STATE: state } },
        "task-manager-db": { env: { PGPORT: String(pg.port) }, pathPrepend: [dirname(pg.bin("pg_dump"))] },
        "task-manager": { env: { PREFECT_SERVER_DATABASE_CONNECTION_URL: pg.connectionUrl() } },
      },
      neo4j: { pidFile: "/nonexistent" },
    });
    const backups = new LocalStore({ directory: join(work.path, "backups") });
    const result = await createBackup({
      environment,
      store: backups,
      toolVersion: "t",
      freezeHelper: () => "",
    });
    // The same deployment now reports Community.
    const shell = join(bin, "cypher-shell");
    await writeFile(shell, (await readFile(shell, "utf8")).replace('"enterprise"', '"community"'));
    const before = await readFile(join(state, "store.bin"));
    await expect(
      restoreBackup({ environment, store: backups, name: result.name, freezeHelper: () => "" }),
    ).rejects.toMatchObject({
      code: "INCOMPATIBLE_BACKUP",
      message: "cannot restore Enterprise backup on Community edition Neo4j",
    });
    expect((await readFile(join(state, "store.bin"))).equals(before)).toBe(true);
  });
});
