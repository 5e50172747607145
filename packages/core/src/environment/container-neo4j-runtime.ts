import type { Environment, Neo4jRuntime } from "./environment.js";

/** NEO4J_HOME of the official Neo4j image, used by the chart and by Compose when the container does not say. */
export const IMAGE_NEO4J_HOME = "/var/lib/neo4j";
const NEO4J_OS_USER = "neo4j";

/**
 * Upstream's rule, for deployments that run Neo4j in a container: the pid file lives under the
 * container's NEO4J_HOME, and neo4j-admin runs as `neo4j` unless exec already is `neo4j` (the chart
 * runs uid 7474 = neo4j; Compose execs as root unless the project sets `user:`).
 */
export async function detectContainerNeo4jRuntime(
  environment: Pick<Environment, "serviceEnv" | "executor">,
): Promise<Neo4jRuntime> {
  const env = await environment.serviceEnv("database");
  const executor = await environment.executor("database");
  const result = await executor.exec({ argv: ["whoami"], timeoutMs: 60_000 });
  const user = result.exitCode === 0 ? result.stdout.toString("utf8").trim() : "";
  const home = (env.NEO4J_HOME || IMAGE_NEO4J_HOME).replace(/\/$/, "");
  return {
    pidFile: `${home}/run/neo4j.pid`,
    ...(user === NEO4J_OS_USER ? {} : { adminUser: NEO4J_OS_USER }),
  };
}

/** Memoises a runtime detection; a failed one is forgotten so the next call tries again. */
export function memoisedRuntime(detect: () => Promise<Neo4jRuntime>): () => Promise<Neo4jRuntime> {
  let runtime: Promise<Neo4jRuntime> | undefined;
  return () => {
    runtime ??= detect();
    runtime.catch(() => {
      runtime = undefined;
    });
    return runtime;
  };
}
