import {
  type Neo4jCredentials,
  neo4jCredentialsFromEnv,
  neo4jCredentialsIncomplete as neo4jIncomplete,
  parseNeo4jAuth,
  resolveNeo4jCredentials,
} from "../engines/neo4j/credentials.js";
import {
  credentialsFromEnv,
  postgresCredentialsIncomplete as incomplete,
  type PostgresCredentials,
  resolvePostgresCredentials,
} from "../engines/postgres/credentials.js";
import type { Environment } from "../environment/environment.js";
import type { ServiceName } from "../environment/services.js";
import type { EventSink } from "./events.js";
import { warning } from "./warning.js";

/** Variables of the host (INFRAHUB_DB_*, PREFECT_*) that take precedence over the containers'. */
export type HostEnv = Readonly<Record<string, string | undefined>>;

async function envOf(
  environment: Environment,
  service: ServiceName,
  onEvent: EventSink,
): Promise<Record<string, string>> {
  if (!(await environment.has(service))) return {};
  try {
    return await environment.serviceEnv(service);
  } catch (error) {
    onEvent(
      warning("SERVICE_ENV_UNREADABLE", `could not read the environment of ${service}; using defaults`, {
        error: error instanceof Error ? error.message : String(error),
      }),
    );
    return {};
  }
}

/**
 * Neo4j credentials as upstream finds them: host env first, then infrahub-server's env while anything is
 * missing; then the database container's NEO4J_AUTH; then Infrahub's defaults.
 */
export async function findNeo4jCredentials(
  environment: Environment,
  hostEnv: HostEnv,
  onEvent: EventSink,
): Promise<Neo4jCredentials> {
  const fromHost = neo4jCredentialsFromEnv(hostEnv);
  const sources = [fromHost];
  if (neo4jIncomplete(fromHost)) {
    sources.push(neo4jCredentialsFromEnv(await envOf(environment, "infrahub-server", onEvent)));
    const databaseEnv = await envOf(environment, "database", onEvent);
    sources.push(parseNeo4jAuth(databaseEnv.NEO4J_AUTH));
  }
  return resolveNeo4jCredentials(...sources);
}

/** PostgreSQL credentials: host env, then task-manager's env, then upstream's defaults. */
export async function findPostgresCredentials(
  environment: Environment,
  hostEnv: HostEnv,
  onEvent: EventSink,
): Promise<PostgresCredentials> {
  const fromHost = credentialsFromEnv(hostEnv);
  const sources = [fromHost];
  if (incomplete(fromHost))
    sources.push(credentialsFromEnv(await envOf(environment, "task-manager", onEvent)));
  return resolvePostgresCredentials(...sources);
}

/** The installed Infrahub version, asked of infrahub-server as upstream does; "unknown" when it can't say. */
export async function probeInfrahubVersion(environment: Environment): Promise<string> {
  if (!(await environment.has("infrahub-server"))) return "unknown";
  try {
    const executor = await environment.executor("infrahub-server");
    const result = await executor.exec({
      argv: ["python", "-c", "import infrahub; print(infrahub.__version__)"],
      timeoutMs: 30_000,
    });
    const version = result.stdout.toString().trim();
    return result.exitCode === 0 && version ? version : "unknown";
  } catch {
    return "unknown";
  }
}
