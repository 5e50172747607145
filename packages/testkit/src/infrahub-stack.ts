import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type MinioServer, startMinio } from "./minio.js";
import { type Neo4jServer, startNeo4j } from "./neo4j.js";
import { type PostgresCluster, startPostgres } from "./postgres.js";
import { ManagedProcess } from "./process.js";
import { type Supervisor, supervise } from "./supervisor.js";
import { type TempDir, tempDir } from "./temp.js";

/** Start/stop control of one local service, shaped like core's LocalServiceControl. */
export interface StandInControl {
  isRunning(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * TEST DOUBLE (a boundary we do not own): the Infrahub application services (API server, task worker,
 * Prefect server) as idle processes. They hold no data; they exist so that a backup or restore has real
 * processes to stop in order and start again, and tests can check that it did.
 */
export class AppServiceStandIn implements StandInControl {
  #process: ManagedProcess | undefined;
  starts = 0;
  stops = 0;

  constructor(
    readonly name: string,
    readonly logDir: string,
  ) {}

  isRunning(): boolean {
    return this.#process?.running ?? false;
  }

  async start(): Promise<void> {
    if (this.isRunning()) return;
    this.starts += 1;
    this.#process = ManagedProcess.start({
      name: `stand-in ${this.name}`,
      command: "sleep",
      args: ["infinity"],
      logFile: join(this.logDir, `${this.name}.log`),
    });
  }

  async stop(): Promise<void> {
    this.stops += 1;
    await this.#process?.stop(5_000);
  }
}

/** Everything a local Infrahub deployment needs, on loopback, disposable as one. */
export interface InfrahubLocalStack extends AsyncDisposable {
  readonly neo4j: Neo4jServer;
  readonly neo4jSupervisor: Supervisor;
  readonly postgres: PostgresCluster;
  readonly minio: MinioServer;
  readonly apps: Record<"infrahub-server" | "task-worker" | "task-manager", AppServiceStandIn>;
  /**
   * Configuration for core's `LocalEnvironment` (`new LocalEnvironment(stack.environmentOptions)`):
   * each service's "container" environment as the official images have it.
   */
  /**
   * Writes `environmentOptions` as the JSON file the CLI's `--local-config` reads, to `path`. The start/stop
   * controls are in-process objects: a config file describes the services only.
   */
  writeLocalConfig(path: string): Promise<void>;
  readonly environmentOptions: {
    services: Record<
      string,
      { env?: Record<string, string>; pathPrepend?: string[]; control?: StandInControl }
    >;
    neo4j: { pidFile: string };
  };
}

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Starts real Neo4j Community (restarted by a supervisor when it exits, as a container restart policy
 * would), a real PostgreSQL cluster with Prefect's role and database, and a real MinIO; plus idle
 * stand-ins for the application services. Credentials are wired the way the Infrahub chart does it:
 * INFRAHUB_DB_* on infrahub-server, the Prefect URL on task-manager.
 */
export async function startInfrahubLocalStack(
  options: {
    prefectUrlVariable?: "PREFECT_SERVER_DATABASE_CONNECTION_URL" | "PREFECT_API_DATABASE_CONNECTION_URL";
  } = {},
): Promise<InfrahubLocalStack> {
  const disposables: AsyncDisposable[] = [];
  const dispose = async () => {
    for (const d of disposables.reverse()) await d[Symbol.asyncDispose]();
  };
  try {
    const logs: TempDir = await tempDir("ihb-stack-");
    disposables.push(logs);
    const [postgres, minio, neo4j] = await Promise.all([startPostgres(), startMinio(), startNeo4j()]);
    disposables.push(postgres, minio, neo4j);
    const neo4jSupervisor = supervise(neo4j);
    disposables.push(neo4jSupervisor);
    const apps = {
      "infrahub-server": new AppServiceStandIn("infrahub-server", logs.path),
      "task-worker": new AppServiceStandIn("task-worker", logs.path),
      "task-manager": new AppServiceStandIn("task-manager", logs.path),
    };
    for (const app of Object.values(apps)) {
      await app.start();
      disposables.push({ [Symbol.asyncDispose]: () => app.stop() });
    }
    const urlVariable = options.prefectUrlVariable ?? "PREFECT_SERVER_DATABASE_CONNECTION_URL";
    const stack: InfrahubLocalStack = {
      neo4j,
      neo4jSupervisor,
      postgres,
      minio,
      apps,
      environmentOptions: {
        services: {
          database: { env: definedEnv(neo4j.env()) },
          "task-manager-db": {
            // PGDATA as the official image sets it: where the tool stages a PostgreSQL dump.
            env: { PGPORT: String(postgres.port), PGDATA: postgres.dataDir },
            pathPrepend: [dirname(postgres.bin("pg_dump"))],
          },
          "infrahub-server": {
            env: {
              INFRAHUB_DB_USERNAME: neo4j.user,
              INFRAHUB_DB_PASSWORD: neo4j.password,
              INFRAHUB_DB_DATABASE: neo4j.database,
            },
            control: apps["infrahub-server"],
          },
          "task-worker": { control: apps["task-worker"] },
          "task-manager": { env: { [urlVariable]: postgres.connectionUrl() }, control: apps["task-manager"] },
        },
        neo4j: { pidFile: neo4j.pidFile },
      },
      writeLocalConfig: (path: string) =>
        writeFile(
          path,
          JSON.stringify(stack.environmentOptions, (k, v) => (k === "control" ? undefined : v)),
        ),
      [Symbol.asyncDispose]: dispose,
    };
    return stack;
  } catch (error) {
    await dispose();
    throw error;
  }
}
