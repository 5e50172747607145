/** Credentials Infrahub uses for its Neo4j database. */
export interface Neo4jCredentials {
  /** The Neo4j user (INFRAHUB_DB_USERNAME). */
  user: string;
  /** Its password (INFRAHUB_DB_PASSWORD); never logged. */
  password: string;
  /** Infrahub's user database (INFRAHUB_DB_DATABASE). */
  database: string;
}

/** Infrahub's own defaults (neither the chart nor Compose override them unless the user does). */
export const NEO4J_DEFAULTS: Neo4jCredentials = { user: "neo4j", password: "admin", database: "neo4j" };

/** INFRAHUB_DB_USERNAME / _PASSWORD / _DATABASE from an environment (host first, then infrahub-server). */
export function neo4jCredentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Partial<Neo4jCredentials> {
  const out: Partial<Neo4jCredentials> = {};
  if (env.INFRAHUB_DB_USERNAME) out.user = env.INFRAHUB_DB_USERNAME;
  if (env.INFRAHUB_DB_PASSWORD) out.password = env.INFRAHUB_DB_PASSWORD;
  if (env.INFRAHUB_DB_DATABASE) out.database = env.INFRAHUB_DB_DATABASE;
  return out;
}

/** `NEO4J_AUTH=user/password` as the Neo4j image and chart set it (env, or the file behind NEO4J_AUTH_PATH). */
export function parseNeo4jAuth(value: string | undefined): Partial<Neo4jCredentials> {
  if (!value || value.trim() === "none") return {};
  const text = value.trim();
  const slash = text.indexOf("/");
  if (slash <= 0) return {};
  return { user: text.slice(0, slash), password: text.slice(slash + 1) };
}

export function resolveNeo4jCredentials(...sources: Partial<Neo4jCredentials>[]): Neo4jCredentials {
  const pick = (field: keyof Neo4jCredentials) =>
    sources.map((s) => s[field]).find((v) => v !== undefined && v !== "") ?? NEO4J_DEFAULTS[field];
  return { user: pick("user"), password: pick("password"), database: pick("database") };
}

/** True while user or password is unknown (upstream then asks infrahub-server's container). */
export function neo4jCredentialsIncomplete(credentials: Partial<Neo4jCredentials>): boolean {
  return !credentials.user || !credentials.password;
}
