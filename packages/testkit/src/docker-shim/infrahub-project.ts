import { AppServiceStandIn, type InfrahubLocalStack } from "../infrahub-stack.js";
import { type ContainerSandbox, createContainerSandbox } from "../sandbox/container-sandbox.js";
import { createNeo4jSandbox, createPostgresSandbox } from "../sandbox/service-sandboxes.js";
import { type TempDir, tempDir } from "../temp.js";
import type { ShimService } from "./docker-shim.js";

const INFRAHUB_IMAGE = "registry.opsmill.io/opsmill/infrahub:1.9.3";

/** An Infrahub Compose project for the docker shim, bound to a local stack; dispose to remove it. */
export interface InfrahubComposeProject extends AsyncDisposable {
  /** Services by Compose name, for `startDockerShim({ projects: { <name>: project.services } })`. */
  readonly services: Record<string, ShimService>;
  /** Stand-ins of the services the local stack has none for (`cache`, `message-queue`). */
  readonly extraApps: Record<"cache" | "message-queue", AppServiceStandIn>;
  readonly sandboxes: Record<string, ContainerSandbox>;
}

/**
 * TEST DOUBLE side of a Compose deployment: the services of Infrahub's docker-compose.yml (compat-reference
 * §7) as container sandboxes in their Compose flavour (root by default, `-u neo4j` / `-u postgres`), bound to
 * the stack's real Neo4j and PostgreSQL, with the stack's AppServiceStandIns (plus stand-ins for cache and
 * message-queue) as the processes `docker compose stop/start` acts on. Credentials are where Compose puts
 * them: INFRAHUB_DB_* on infrahub-server, PREFECT_API_DATABASE_CONNECTION_URL on task-manager, NEO4J_AUTH on
 * database. One deviation: upstream's file gives Prefect the `postgres` superuser; here the URL names the
 * stack's Prefect role, which owns the seeded tables (a restore runs as the URL's role and `--no-owner`
 * makes it the owner, so a different role would change who may read the data afterwards).
 */
export async function createInfrahubComposeProject(
  stack: InfrahubLocalStack,
): Promise<InfrahubComposeProject> {
  const owned: AsyncDisposable[] = [];
  try {
    const logs: TempDir = await tempDir("ihb-compose-apps-");
    owned.push(logs);
    const extraApps = {
      cache: new AppServiceStandIn("cache", logs.path),
      "message-queue": new AppServiceStandIn("message-queue", logs.path),
    };
    for (const app of Object.values(extraApps)) {
      await app.start();
      owned.push({ [Symbol.asyncDispose]: () => app.stop() });
    }
    const pg = stack.postgres;
    const appEnv = {
      INFRAHUB_BROKER_ADDRESS: "message-queue",
      INFRAHUB_CACHE_ADDRESS: "cache",
      INFRAHUB_DB_ADDRESS: "database",
      INFRAHUB_WORKFLOW_ADDRESS: "task-manager",
      INFRAHUB_DB_USERNAME: stack.neo4j.user,
      INFRAHUB_DB_PASSWORD: stack.neo4j.password,
    };
    const sandboxes: Record<string, ContainerSandbox> = {
      database: await createNeo4jSandbox(stack.neo4j, { flavour: "compose" }),
      "task-manager-db": await createPostgresSandbox(pg, { flavour: "compose" }),
      "infrahub-server": await createContainerSandbox({ name: "infrahub-server", env: appEnv }),
      "task-worker": await createContainerSandbox({
        name: "task-worker",
        env: { ...appEnv, INFRAHUB_INTERNAL_ADDRESS: "http://infrahub-server:8000" },
      }),
      "task-manager": await createContainerSandbox({
        name: "task-manager",
        env: {
          PREFECT_API_DATABASE_CONNECTION_URL: `postgresql+asyncpg://${pg.app.user}:${pg.app.password}@task-manager-db:5432/${pg.app.database}`,
        },
      }),
      cache: await createContainerSandbox({ name: "cache", env: {} }),
      "message-queue": await createContainerSandbox({ name: "message-queue", env: {} }),
    };
    owned.push(...Object.values(sandboxes));
    const services: Record<string, ShimService> = {
      database: { image: "neo4j:2025.10.1-community", container: sandboxes.database as ContainerSandbox },
      "task-manager-db": {
        image: "postgres:18-alpine",
        container: sandboxes["task-manager-db"] as ContainerSandbox,
      },
      "infrahub-server": {
        image: INFRAHUB_IMAGE,
        container: sandboxes["infrahub-server"] as ContainerSandbox,
        control: stack.apps["infrahub-server"],
      },
      "task-worker": {
        image: INFRAHUB_IMAGE,
        container: sandboxes["task-worker"] as ContainerSandbox,
        control: stack.apps["task-worker"],
      },
      "task-manager": {
        image: INFRAHUB_IMAGE,
        container: sandboxes["task-manager"] as ContainerSandbox,
        control: stack.apps["task-manager"],
      },
      cache: {
        image: "redis:8.4.0",
        container: sandboxes.cache as ContainerSandbox,
        control: extraApps.cache,
      },
      "message-queue": {
        image: "rabbitmq:4.2.1-management",
        container: sandboxes["message-queue"] as ContainerSandbox,
        control: extraApps["message-queue"],
      },
    };
    return {
      services,
      extraApps,
      sandboxes,
      async [Symbol.asyncDispose]() {
        for (const d of owned.reverse()) await d[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    // The start's error is the one to report; each disposal is still tried (check-leftovers catches a survivor).
    for (const d of owned.reverse()) await Promise.resolve(d[Symbol.asyncDispose]()).catch(() => undefined);
    throw error;
  }
}
