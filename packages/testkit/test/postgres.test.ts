import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { run, startPostgres } from "../src/index.js";

describe("testkit PostgreSQL", () => {
  it("is a real server: create, insert, select as the app user over TCP with a password", async () => {
    await using pg = await startPostgres();
    await pg.psql("CREATE TABLE flow_run (id serial PRIMARY KEY, name text NOT NULL);");
    await pg.psql("INSERT INTO flow_run (name) VALUES ('a'), ('b'), ('c');");
    expect((await pg.psql("SELECT string_agg(name, ',' ORDER BY id) FROM flow_run;")).trim()).toBe("a,b,c");
    expect(pg.connectionUrl()).toMatch(
      /^postgresql\+asyncpg:\/\/prefect:[0-9a-f]+@127\.0\.0\.1:\d+\/server$/,
    );
    expect((await pg.psql("SELECT current_user, current_database();")).trim()).toBe("prefect|server");
  });

  it("rejects a wrong password", async () => {
    await using pg = await startPostgres();
    const env = { ...pg.env(), PGPASSWORD: "wrong" };
    await expect(run(pg.bin("psql"), ["-X", "-c", "SELECT 1"], { env })).rejects.toThrow(
      /password authentication failed for user "prefect"/,
    );
  });

  it("pg_dump -Fc and pg_restore --clean --create round-trip the app database", async () => {
    await using pg = await startPostgres();
    await pg.psql(
      "CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g;",
    );
    const digest = async () =>
      (await pg.psql("SELECT md5(string_agg(k || ':' || v, ',' ORDER BY k)) FROM t;")).trim();
    const before = await digest();
    const dumpFile = `${pg.dataDir}/../app.dump`;
    await run(pg.bin("pg_dump"), ["-Fc", "-f", dumpFile], { env: pg.env() });
    await pg.psql("UPDATE t SET v = 'changed';");
    expect(await digest()).not.toBe(before);
    await run(pg.bin("pg_restore"), ["-d", "postgres", "--clean", "--create", dumpFile], { env: pg.env() });
    expect(await digest()).toBe(before);
  });

  it("stops and starts again with its data, and leaves nothing behind on dispose", async () => {
    let dataDir: string;
    {
      await using pg = await startPostgres();
      dataDir = pg.dataDir;
      await pg.psql("CREATE TABLE keep (x int); INSERT INTO keep VALUES (42);");
      await pg.stop();
      expect(pg.running).toBe(false);
      await pg.start();
      expect((await pg.psql("SELECT x FROM keep;")).trim()).toBe("42");
    }
    expect(existsSync(dataDir)).toBe(false);
  });
});
