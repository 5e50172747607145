import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type PostgresCluster, startPostgres } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { collect } from "../../../test/support/collect.js";
import { LocalExecutor } from "../../exec/local-executor.js";
import { choosePgDumpCompression } from "./pg-dump-compression.js";
import { canRecreateDatabase, dumpPostgres, PG_DUMP_MAGIC, probePostgres } from "./postgres-engine.js";
import { PostgresRestore } from "./postgres-restore.js";

/** The task-manager database's container, as a local process sandbox: libpq finds the server on PGPORT. */
function containerOf(pg: PostgresCluster): LocalExecutor {
  return new LocalExecutor({
    target: "local task-manager-db",
    env: { PGPORT: String(pg.port) },
    pathPrepend: [pg.bin("pg_dump").replace(/\/pg_dump$/, "")],
  });
}

async function seed(pg: PostgresCluster): Promise<void> {
  await pg.psql(`
    CREATE TABLE flow_run (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, state text, created timestamptz DEFAULT now());
    INSERT INTO flow_run (name, state) SELECT 'flow-' || g, CASE WHEN g % 3 = 0 THEN 'FAILED' ELSE 'COMPLETED' END FROM generate_series(1, 2000) g;
    CREATE TABLE log (id bigserial PRIMARY KEY, flow text, message text);
    INSERT INTO log (flow, message) SELECT 'flow-' || (g % 50), repeat(md5(g::text), 4) FROM generate_series(1, 5000) g;
  `);
}

/** The seeded database's `pg_dump -Fc` bytes, taken through the container executor as restores do. */
async function seededDump(pg: PostgresCluster) {
  const exec = containerOf(pg);
  const creds = { user: pg.app.user, password: pg.app.password, database: pg.app.database };
  await seed(pg);
  const dump = dumpPostgres(exec, creds);
  const bytes = await collect(dump.stdout);
  await dump.done;
  return { exec, creds, bytes };
}

/** The non-template databases other than `postgres`: leftovers of a restore would show here. */
async function databases(pg: PostgresCluster): Promise<string[]> {
  const out = await pg.psql(
    "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'",
    { as: "superuser", database: "postgres" },
  );
  return out.trim().split(",");
}

/** A digest of every table's rows, ordered, so equality means the same data. */
async function digest(pg: PostgresCluster): Promise<string> {
  return (
    await pg.psql(`
      SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
        SELECT 'flow_run:' || md5(string_agg(f::text, ',' ORDER BY f.name)) AS t FROM flow_run f
        UNION ALL SELECT 'log:' || md5(string_agg(l::text, ',' ORDER BY l.id)) FROM log l
        UNION ALL SELECT 'tables:' || string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'
      ) x;`)
  ).trim();
}

describe("postgres engine (real PostgreSQL)", () => {
  it("dumps as a stream and restores by dropping and recreating the database", async () => {
    await using pg = await startPostgres();
    const exec = containerOf(pg);
    const creds = { user: pg.app.user, password: pg.app.password, database: pg.app.database };
    await seed(pg);
    const before = await digest(pg);
    expect(await probePostgres(exec, creds)).toMatch(/^15\./);

    const dump = dumpPostgres(exec, creds);
    const bytes = await collect(dump.stdout);
    await dump.done;
    expect(bytes.subarray(0, 5).equals(PG_DUMP_MAGIC)).toBe(true);
    console.log(
      `pg_dump -Fc: ${bytes.length} bytes, sha256 ${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}…`,
    );

    await pg.psql("DELETE FROM log WHERE id % 2 = 0; CREATE TABLE added_after_backup (x int);");
    expect(await digest(pg)).not.toBe(before);
    expect(await canRecreateDatabase(exec, creds)).toBe(true);
    // A stream that never ends: the byte count alone must finish the restore.
    const endless = new Readable({ read() {} });
    endless.push(bytes);
    const restore = new PostgresRestore(exec, creds, "recreate", { stamp: "t1" });
    await restore.load({ stream: endless, bytes: bytes.length });
    endless.destroy();
    // Loaded into a new database: the live one is untouched until the switch.
    expect(await digest(pg)).not.toBe(before);
    await restore.switchOver();
    expect(await digest(pg)).toBe(before);
    await restore.finish();
    expect(restore.state).toBe("restored");
    expect(await databases(pg)).toEqual([pg.app.database]);
  });

  it("recreate: a cut stream, a failed load or an undo after the switch leave the live database as it was", async () => {
    await using pg = await startPostgres();
    const { exec, creds, bytes } = await seededDump(pg);
    await pg.psql("DELETE FROM log WHERE id % 2 = 0;");
    const live = await digest(pg);

    // The stream breaks half-way (a storage cut during pass 2).
    const cut = new PostgresRestore(exec, creds, "recreate", { stamp: "cut" });
    const broken = Readable.from(
      (async function* () {
        yield bytes.subarray(0, bytes.length >> 1);
        throw new Error("connection reset by the store");
      })(),
    );
    await expect(cut.load({ stream: broken, bytes: bytes.length })).rejects.toThrow();
    await cut.undo();
    expect(cut.state).toBe("undone");
    expect(await digest(pg)).toBe(live);
    expect(await databases(pg)).toEqual([pg.app.database]);

    // Switched, then the other half of the restore failed: switching back restores the live data.
    const back = new PostgresRestore(exec, creds, "recreate", { stamp: "back" });
    await back.load({ stream: Readable.from([bytes]), bytes: bytes.length });
    await back.switchOver();
    expect(await digest(pg)).not.toBe(live);
    await back.undo();
    expect(await digest(pg)).toBe(live);
    expect(await databases(pg)).toEqual([pg.app.database]);
  });

  it("a superuser's session on the live database: the switch refuses, naming it, instead of failing in pg_terminate_backend; the app role's own sessions are ended", async () => {
    await using pg = await startPostgres();
    const { exec, creds, bytes } = await seededDump(pg);
    const live = await digest(pg);
    const restore = new PostgresRestore(exec, creds, "recreate", { stamp: "su" });
    await restore.load({ stream: Readable.from([bytes]), bytes: bytes.length });

    // A superuser's session (an operator's psql) and one of the app role (a Prefect straggler) on the live database.
    const superuserSession = pg
      .psql("SET application_name = 'operator-psql'; SELECT pg_sleep(120);", {
        as: "superuser",
        database: pg.app.database,
      })
      .catch((error: unknown) => error);
    const appSession = pg.psql("SELECT pg_sleep(120);").catch((error: unknown) => error);
    const sessions = () =>
      pg.psql(
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${pg.app.database}' AND query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()`,
        { as: "superuser", database: "postgres" },
      );
    for (let i = 0; (await sessions()).trim() !== "2"; i++) {
      if (i > 100) throw new Error("the two sessions did not show in pg_stat_activity");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Was: "must be a superuser to terminate superuser process" (also for autovacuum workers after a big load).
    await expect(restore.switchOver()).rejects.toThrow(
      /sessions that \w+ may not end keep .* open: pid \d+ \(user \w+, application operator-psql\)/,
    );
    // The app role's session was ended; the operator's is left to the operator.
    expect(await appSession).toBeInstanceOf(Error);
    await pg.psql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'operator-psql'",
      { as: "superuser", database: "postgres" },
    );
    await superuserSession;
    await restore.undo();
    expect(await digest(pg)).toBe(live);
    expect(await databases(pg)).toEqual([pg.app.database]);
  });

  it("restores in place for a role that may not create databases", async () => {
    await using pg = await startPostgres();
    await pg.psql(`ALTER ROLE "${pg.app.user}" NOCREATEDB;`, { as: "superuser", database: "postgres" });
    const exec = containerOf(pg);
    const creds = { user: pg.app.user, password: pg.app.password, database: pg.app.database };
    await seed(pg);
    const before = await digest(pg);
    const dump = dumpPostgres(exec, creds);
    const bytes = await collect(dump.stdout);
    await dump.done;
    await pg.psql("UPDATE flow_run SET state = 'CRASHED'; DELETE FROM log;");
    expect(await canRecreateDatabase(exec, creds)).toBe(false);
    const changed = await digest(pg);
    // In one transaction: a stream cut half-way changes nothing.
    const cut = new PostgresRestore(exec, creds, "in-place", { stamp: "cut" });
    const broken = Readable.from(
      (async function* () {
        yield bytes.subarray(0, bytes.length - 100);
        throw new Error("connection reset by the store");
      })(),
    );
    await expect(cut.load({ stream: broken, bytes: bytes.length })).rejects.toThrow();
    await cut.undo();
    expect(await digest(pg)).toBe(changed);
    const restore = new PostgresRestore(exec, creds, "in-place", { stamp: "ok" });
    await restore.load({ stream: Readable.from([bytes]), bytes: bytes.length });
    expect(restore.state).toBe("restored");
    expect(await digest(pg)).toBe(before);
  });

  it("chooses pg_dump's compression from a sample: none for data that does not shrink, zlib level 1 (PG 15) otherwise; both restore", async () => {
    await using pg = await startPostgres();
    const exec = containerOf(pg);
    const creds = { user: pg.app.user, password: pg.app.password, database: pg.app.database };
    await seed(pg);
    expect(await choosePgDumpCompression(exec, creds)).toMatchObject({ flag: "--compress=1" });
    const before = await digest(pg);
    const text = dumpPostgres(exec, creds, { compress: "--compress=1" });
    const textBytes = await collect(text.stdout);
    await text.done;
    await pg.psql(
      `CREATE TABLE blob AS SELECT g AS id, (SELECT decode(string_agg(md5(random()::text || g || i), ''), 'hex') FROM generate_series(1, 64) i) AS payload FROM generate_series(1, 4000) g;`,
    );
    const random = await choosePgDumpCompression(exec, creds);
    expect(random.flag).toBe("--compress=0");
    expect(random.reason).toMatch(
      /^none: a sample of the largest table does not shrink \((0\.9\d|1\.\d\d)\)$/,
    );
    const raw = dumpPostgres(exec, creds, { compress: random.flag });
    const rawBytes = await collect(raw.stdout);
    await raw.done;
    // Uncompressed: at least the 4000 × 1 KiB of random payload.
    expect(rawBytes.length).toBeGreaterThan(4000 * 1024);
    const withBlob = await digest(pg);
    // Each restores: custom format either way.
    await pg.psql("DELETE FROM log; DROP TABLE blob;");
    const rawRestore = new PostgresRestore(exec, creds, "recreate", { stamp: "raw2" });
    await rawRestore.load({ stream: Readable.from([rawBytes]), bytes: rawBytes.length });
    await rawRestore.switchOver();
    await rawRestore.finish();
    expect(await digest(pg)).toBe(withBlob);
    const textRestore = new PostgresRestore(exec, creds, "recreate", { stamp: "text" });
    await textRestore.load({ stream: Readable.from([textBytes]), bytes: textBytes.length });
    await textRestore.switchOver();
    await textRestore.finish();
    expect(await digest(pg)).toBe(before);
  });

  it("fails clearly on a wrong password, without leaking it", async () => {
    await using pg = await startPostgres();
    const exec = containerOf(pg);
    const creds = { user: pg.app.user, password: "definitely-wrong-pw", database: pg.app.database };
    const error = await probePostgres(exec, creds).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    expect(String((error as Error).message)).toMatch(/password authentication failed for user "prefect"/);
    expect(String((error as Error).message)).not.toContain("definitely-wrong-pw");
    const dump = dumpPostgres(exec, creds);
    await expect(collect(dump.stdout)).rejects.toMatchObject({ code: "DATABASE_COMMAND_FAILED" });
    await expect(dump.done).rejects.toThrow(/pg_dump of database server failed/);
  });

  it("a server killed mid-dump fails the stream instead of ending it", async () => {
    await using pg = await startPostgres();
    const exec = containerOf(pg);
    const creds = { user: pg.app.user, password: pg.app.password, database: pg.app.database };
    await pg.psql(
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 20) AS payload FROM generate_series(1, 400000) g;",
    );
    const dump = dumpPostgres(exec, creds);
    let received = 0;
    let stopping: Promise<void> | undefined;
    const consumed = pipeline(
      dump.stdout,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          received += chunk.length;
          // The server dies once the dump flows (a fixed delay may come before the first byte on a busy machine).
          stopping ??= pg.stop();
          // Slow consumer: the dump is still flowing when the server is gone.
          setTimeout(cb, 2);
        },
      }),
    );
    await expect(consumed).rejects.toMatchObject({ code: "DATABASE_COMMAND_FAILED" });
    await expect(dump.done).rejects.toThrow(/pg_dump/);
    await stopping;
    expect(received).toBeGreaterThan(0);
  });
});
