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
    expect(parsePrefectDatabaseUrl("not a url")).toEqual({});
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
