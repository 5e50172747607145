import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerSandbox,
  createContainerSandbox,
  createNeo4jSandbox,
  createPostgresSandbox,
  type Neo4jServer,
  type PostgresCluster,
  startNeo4j,
  startPostgres,
  TESTKIT_MARKER,
} from "../src/index.js";

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

describe("container sandbox (plain)", () => {
  let sandbox: ContainerSandbox;
  beforeAll(async () => {
    sandbox = await createContainerSandbox({
      name: "web",
      env: { APP_MODE: "prod", PATH: "/ignored" },
      user: { name: null, uid: 1001 },
      users: [{ name: "app", uid: 1000 }],
    });
  });
  afterAll(async () => {
    await sandbox?.[Symbol.asyncDispose]();
  });

  it("env shows the container environment only, as argv and through sh -c", async () => {
    for (const argv of [["env"], ["sh", "-c", "env"]]) {
      const result = await sandbox.exec(argv);
      expect(result.exitCode).toBe(0);
      const env = parseEnv(result.stdout);
      expect(Object.keys(env).sort()).toEqual(
        ["APP_MODE", "PATH", TESTKIT_MARKER, ...(argv[0] === "sh" ? ["PWD"] : [])].sort(),
      );
      expect(env.APP_MODE).toBe("prod");
      expect(env.PATH).toBe(sandbox.binDir);
    }
  });

  it("offers the usual commands and only those: a missing one is exit 127 both ways", async () => {
    for (const name of [
      "sh",
      "cat",
      "head",
      "kill",
      "env",
      "whoami",
      "mkdir",
      "rm",
      "chmod",
      "uname",
      "sha256sum",
    ])
      expect(sandbox.commands).toContain(name);
    expect((await sandbox.exec(["pg_dump", "--version"])).exitCode).toBe(127);
    expect((await sandbox.exec(["sh", "-c", "pg_dump --version"])).exitCode).toBe(127);
    const piped = await sandbox.exec(["sh", "-c", "head -c 5 | sha256sum"], { input: "hello world" });
    expect(piped.stdout).toMatch(/^2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 /);
  });

  it("whoami fails for a uid without a name, answers for a named user; -e adds, unknown user throws", async () => {
    const anon = await sandbox.exec(["whoami"]);
    expect(anon.exitCode).toBe(1);
    expect(anon.stderr).toContain("cannot find name for user ID 1001");
    expect((await sandbox.exec(["id", "-u"])).stdout).toBe("1001\n");
    expect((await sandbox.exec(["id"])).stdout).toBe("uid=1001 gid=1001 groups=1001\n");
    expect((await sandbox.exec(["id", "-un"])).exitCode).toBe(1);
    expect((await sandbox.exec(["id", "-un"], { user: "app" })).stdout).toBe("app\n");
    const app = await sandbox.exec(["sh", "-c", 'whoami; echo "$EXTRA"'], {
      user: "app",
      env: { EXTRA: "x1" },
    });
    expect(app.stdout).toBe("app\nx1\n");
    expect(() => sandbox.spawnSpec(["env"], { user: "nobody-here" })).toThrow(/unable to find user/);
  });
});

describe("service sandboxes bound to real servers", () => {
  let neo4j: Neo4jServer;
  let postgres: PostgresCluster;
  beforeAll(async () => {
    [neo4j, postgres] = await Promise.all([startNeo4j(), startPostgres()]);
  });
  afterAll(async () => {
    await Promise.all([neo4j?.[Symbol.asyncDispose](), postgres?.[Symbol.asyncDispose]()]);
  });

  it("Neo4j (Helm): password from NEO4J_AUTH_PATH, cypher-shell through sh -c, whoami neo4j", async () => {
    await using db = await createNeo4jSandbox(neo4j);
    const env = parseEnv((await db.exec(["env"])).stdout);
    expect(env.NEO4J_AUTH).toBeUndefined();
    expect(await readFile(env.NEO4J_AUTH_PATH ?? "", "utf8")).toBe(`neo4j/${neo4j.password}`);
    expect((await db.exec(["whoami"])).stdout).toBe("neo4j\n");
    const pid = await db.exec(["sh", "-c", 'cat "$NEO4J_HOME/run/neo4j.pid"']);
    expect(pid.stdout.trim()).toBe((await readFile(neo4j.pidFile, "utf8")).trim());
    const query = await db.exec([
      "sh",
      "-c",
      'cypher-shell -u neo4j -p"$(cut -d/ -f2 "$NEO4J_AUTH_PATH")" -d neo4j --format plain "RETURN 40 + 2 AS x"',
    ]);
    expect(query.stderr).toBe("");
    expect(query.stdout).toBe("x\n42\n");
  });

  it("Neo4j (Compose): NEO4J_AUTH in env, root by default, -u neo4j; neo4j-admin dumps the server's store", async () => {
    await using db = await createNeo4jSandbox(neo4j, { flavour: "compose" });
    const env = parseEnv((await db.exec(["env"])).stdout);
    expect(env.NEO4J_AUTH).toBe(`neo4j/${neo4j.password}`);
    expect((await db.exec(["whoami"])).stdout).toBe("root\n");
    expect((await db.exec(["whoami"], { user: "neo4j" })).stdout).toBe("neo4j\n");
    // Kubernetes-style switch (kubectl exec -- su - neo4j -s /bin/sh -c …): a login env, the target's PATH.
    const su = await db.exec([
      "su",
      "-",
      "neo4j",
      "-s",
      "/bin/sh",
      "-c",
      'whoami; test -n "$NEO4J_AUTH" || echo auth=none',
    ]);
    expect(su.stdout).toBe("neo4j\nauth=none\n");
    const denied = await db.exec(["su", "-", "root", "-c", "true"], { user: "neo4j" });
    expect([denied.exitCode, denied.stderr]).toEqual([1, "su: Authentication failure\n"]);
    await neo4j.stop();
    try {
      const dump = await db.exec(["sh", "-c", "neo4j-admin database dump neo4j --to-stdout | head -c 4"], {
        user: "neo4j",
      });
      expect(dump.stdout).toMatch(/^D[ZG]V1$/);
    } finally {
      await neo4j.start();
    }
  });

  it("PostgreSQL (Helm): nameless uid 1001, pg_dump -h localhost with the container's credentials", async () => {
    await using pg = await createPostgresSandbox(postgres);
    const env = parseEnv((await pg.exec(["env"])).stdout);
    expect([env.POSTGRES_USER, env.POSTGRES_DATABASE]).toEqual(["prefect", "server"]);
    expect(env.PGHOST).toBeUndefined();
    expect((await pg.exec(["whoami"])).exitCode).toBe(1);
    const dump = await pg.exec([
      "sh",
      "-c",
      'PGPASSWORD="$POSTGRES_PASSWORD" pg_dump -Fc -h localhost -U "$POSTGRES_USER" -d "$POSTGRES_DATABASE" | head -c 5',
    ]);
    expect(dump.stdout).toBe("PGDMP");
    const denied = await pg.exec(
      ["psql", "-h", "localhost", "-U", "prefect", "-d", "server", "-c", "SELECT 1"],
      {
        env: { PGPASSWORD: "wrong" },
      },
    );
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toContain("password authentication failed");
  });

  it("PostgreSQL (Compose): root with whoami, socket mode as postgres", async () => {
    await using pg = await createPostgresSandbox(postgres, { flavour: "compose" });
    expect((await pg.exec(["whoami"])).stdout).toBe("root\n");
    const result = await pg.exec(
      [
        "sh",
        "-c",
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -A -t -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT current_database()"',
      ],
      { user: "postgres" },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("server");
  });
});
