import { BackupError } from "../../errors.js";

/** Credentials of the Prefect task-manager database. */
export interface PostgresCredentials {
  /** Role to connect as (upstream default `postgres`). */
  user: string;
  /** Its password; passed to commands in their environment, never on argv. */
  password: string;
  /** The Prefect database (upstream default `prefect`). */
  database: string;
}

/** Prefect 3 name first (infrahub chart ≥ 4.28.0), then the Prefect 2 name. */
export const PREFECT_DATABASE_URL_VARIABLES = [
  "PREFECT_SERVER_DATABASE_CONNECTION_URL",
  "PREFECT_API_DATABASE_CONNECTION_URL",
] as const;

/** Upstream's fallbacks when nothing says otherwise (the Compose deployment's values). */
export const POSTGRES_DEFAULTS: PostgresCredentials = {
  user: "postgres",
  password: "prefect",
  database: "prefect",
};

const URL_HINT =
  "expected postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters); fix or unset the variable";

/**
 * Reads user, password and database from a Prefect connection URL such as
 * `postgresql+asyncpg://prefect:pw@infrahub-postgresql.ns:5432/server`. Host and port are ignored:
 * commands run next to the database and connect to localhost. A value that is not a PostgreSQL URL is
 * refused (INVALID_CONFIG) instead of silently falling back to the defaults; the message never repeats the
 * value, which carries a password.
 */
export function parsePrefectDatabaseUrl(
  url: string,
  where: { variable?: string; source?: string } = {},
): Partial<PostgresCredentials> {
  const name = `${where.variable ?? "the Prefect database URL"}${where.source ? ` in ${where.source}` : ""}`;
  const refuse = (why: string, cause?: unknown) =>
    new BackupError("INVALID_CONFIG", `${name} is not a valid PostgreSQL connection URL: ${why}`, {
      hint: URL_HINT,
      ...(cause === undefined ? {} : { cause }),
      details: { variable: where.variable, source: where.source },
    });
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1];
  if (scheme === undefined) throw refuse("it does not start with a scheme such as postgresql+asyncpg://");
  if (!/^postgres(ql)?(\+[a-z0-9_]+)?$/i.test(scheme)) {
    throw refuse(
      `its scheme is ${JSON.stringify(scheme)}, not postgresql (the task manager database must be PostgreSQL)`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url.trim().replace(/^[^:]*:\/\//, "postgres://"));
  } catch (error) {
    throw refuse("it does not parse as a URL", error);
  }
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch (error) {
      throw refuse(`its ${what} has an invalid percent-encoding`, error);
    }
  };
  const out: Partial<PostgresCredentials> = {};
  if (parsed.username) out.user = decode(parsed.username, "user name");
  if (parsed.password) out.password = decode(parsed.password, "password");
  const database = decode(parsed.pathname.replace(/^\//, ""), "database name");
  if (database.includes("/")) throw refuse("its database name contains a slash");
  if (database) out.database = database;
  return out;
}

/**
 * The first Prefect URL variable present in an environment, parsed. `source` names the environment in
 * messages ("the host environment", "the task-manager container's environment").
 */
export function credentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  source?: string,
): Partial<PostgresCredentials> {
  for (const variable of PREFECT_DATABASE_URL_VARIABLES) {
    const value = env[variable];
    if (value) return parsePrefectDatabaseUrl(value, { variable, ...(source ? { source } : {}) });
  }
  return {};
}

/** True while one of user, password, database is still unknown (upstream then asks the container). */
export function postgresCredentialsIncomplete(credentials: Partial<PostgresCredentials>): boolean {
  return !credentials.user || !credentials.password || !credentials.database;
}

/** Merges sources in precedence order (first wins per field), then fills in upstream's defaults. */
export function resolvePostgresCredentials(...sources: Partial<PostgresCredentials>[]): PostgresCredentials {
  const pick = (field: keyof PostgresCredentials) =>
    sources.map((source) => source[field]).find((value) => value !== undefined && value !== "") ??
    POSTGRES_DEFAULTS[field];
  return { user: pick("user"), password: pick("password"), database: pick("database") };
}
