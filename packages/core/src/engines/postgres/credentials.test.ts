import { describe, expect, it } from "vitest";
import { credentialsFromEnv, parsePrefectDatabaseUrl, resolvePostgresCredentials } from "./credentials.js";

describe("Prefect database credentials", () => {
  it("parses the Helm (Prefect 3) and Compose (Prefect 2) URL forms", () => {
    expect(
      parsePrefectDatabaseUrl(
        "postgresql+asyncpg://prefect:prefect-rocks@infrahub-postgresql.ns:5432/server",
      ),
    ).toEqual({
      user: "prefect",
      password: "prefect-rocks",
      database: "server",
    });
    expect(
      parsePrefectDatabaseUrl("postgresql+asyncpg://postgres:postgres@task-manager-db:5432/prefect"),
    ).toEqual({
      user: "postgres",
      password: "postgres",
      database: "prefect",
    });
    expect(parsePrefectDatabaseUrl("postgres://u:p%40ss@h/db").password).toBe("p@ss");
    expect(parsePrefectDatabaseUrl("postgresql://h:5432")).toEqual({});
  });

  it("refuses a malformed URL with INVALID_CONFIG naming the variable, never the value", () => {
    const secret = "s3cr3t-Pa55";
    for (const [url, why] of [
      [`not a url ${secret}`, "it does not start with a scheme such as postgresql+asyncpg://"],
      [`mysql://u:${secret}@h/db`, 'its scheme is "mysql", not postgresql'],
      [`postgresql+asyncpg://u:${secret}@h:notaport/db`, "it does not parse as a URL"],
      [`postgresql://u:%E0%A4%A${secret}@h/db`, "its password has an invalid percent-encoding"],
      [`postgresql://u:${secret}@h/a/b`, "its database name contains a slash"],
    ] as const) {
      let error: unknown;
      try {
        credentialsFromEnv({ PREFECT_SERVER_DATABASE_CONNECTION_URL: url }, "the host environment");
      } catch (e) {
        error = e;
      }
      expect(error, url).toMatchObject({ code: "INVALID_CONFIG" });
      const message = (error as Error).message;
      expect(message).toContain(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL in the host environment is not a valid PostgreSQL connection URL: ",
      );
      expect(message).toContain(why);
      expect(message).not.toContain(secret);
      expect(JSON.stringify((error as { details?: unknown }).details)).not.toContain(secret);
      expect((error as { hint: string }).hint).toContain(
        "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE",
      );
    }
    expect(() => credentialsFromEnv({ PREFECT_API_DATABASE_CONNECTION_URL: "garbage" })).toThrow(
      /^PREFECT_API_DATABASE_CONNECTION_URL is not a valid PostgreSQL connection URL/,
    );
  });

  it("prefers PREFECT_SERVER_* over PREFECT_API_* and fills upstream defaults", () => {
    const env = {
      PREFECT_API_DATABASE_CONNECTION_URL: "postgresql+asyncpg://old:old@h/olddb",
      PREFECT_SERVER_DATABASE_CONNECTION_URL: "postgresql+asyncpg://new:new@h/newdb",
    };
    expect(credentialsFromEnv(env)).toEqual({ user: "new", password: "new", database: "newdb" });
    expect(resolvePostgresCredentials({}, {})).toEqual({
      user: "postgres",
      password: "prefect",
      database: "prefect",
    });
    expect(resolvePostgresCredentials({ user: "a" }, { user: "b", database: "d" })).toEqual({
      user: "a",
      password: "prefect",
      database: "d",
    });
  });
});
