/** Credentials of the Prefect task-manager database. */
export interface PostgresCredentials {
  user: string;
  password: string;
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

/**
 * Reads user, password and database from a Prefect connection URL such as
 * `postgresql+asyncpg://prefect:pw@infrahub-postgresql.ns:5432/server`. Host and port are ignored:
 * commands run next to the database and connect to localhost.
 */
export function parsePrefectDatabaseUrl(url: string): Partial<PostgresCredentials> {
  const normalized = url.trim().replace(/^postgres[^:]*:\/\//i, "postgres://");
  let parsed: URL;
  try {
    parsed = new URL(normalized);
  } catch {
    return {};
  }
  const out: Partial<PostgresCredentials> = {};
  if (parsed.username) out.user = decodeURIComponent(parsed.username);
  if (parsed.password) out.password = decodeURIComponent(parsed.password);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database) out.database = database;
  return out;
}

/** The first Prefect URL variable present in an environment, parsed. */
export function credentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Partial<PostgresCredentials> {
  for (const name of PREFECT_DATABASE_URL_VARIABLES) {
    const value = env[name];
    if (value) return parsePrefectDatabaseUrl(value);
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
