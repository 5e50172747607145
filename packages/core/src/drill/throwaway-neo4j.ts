import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import { cypherShell, plainRows } from "../engines/neo4j/cypher-shell.js";
import { loadNeo4j } from "../engines/neo4j/offline.js";
import { BackupError } from "../errors.js";
import { runCommand } from "../exec/command.js";
import type { Executor } from "../exec/executor.js";
import { type DrillHost, type DrillServer, localDrillHost } from "./drill-host.js";
import { freeLoopbackPort, pollUntil } from "./server-process.js";

/** A Neo4j 5 installation to run throwaway instances of. */
export interface DrillNeo4jOptions {
  /** NEO4J_HOME of a Neo4j 5.26 installation (bin/neo4j, bin/neo4j-admin, bin/cypher-shell, conf/). */
  home: string;
  /** JVM heap of the server (initial = max), in Neo4j's syntax. Default `512m`. */
  heap?: string;
  /** Page cache size. Default `256m`. */
  pageCache?: string;
  /** How long the server may take to serve the loaded database. Default 180 s. */
  startTimeoutMs?: number;
}

const STOP_GRACE_MS = 30_000;

/**
 * A Neo4j instance of its own under `dir` (configuration, store, logs), on a free loopback port, with a
 * random password: loaded while offline, then started. Never shares anything with another instance but
 * the installation, which it only reads.
 */
export class ThrowawayNeo4j {
  readonly credentials: Neo4jCredentials;
  readonly executor: Executor;
  /** What its commands run with: NEO4J_HOME, NEO4J_CONF and the bolt address for cypher-shell. */
  readonly env: Readonly<Record<string, string>>;
  readonly boltPort: number;
  readonly #dir: string;
  readonly #options: DrillNeo4jOptions;
  readonly #drillId: string;
  readonly #host: DrillHost;
  #server: DrillServer | undefined;

  private constructor(
    dir: string,
    boltPort: number,
    database: string,
    options: DrillNeo4jOptions,
    drillId: string,
    host: DrillHost,
  ) {
    this.#dir = dir;
    this.#host = host;
    this.#options = options;
    this.#drillId = drillId;
    this.boltPort = boltPort;
    this.credentials = { user: "neo4j", password: randomBytes(16).toString("hex"), database };
    this.env = {
      NEO4J_HOME: options.home,
      NEO4J_CONF: join(dir, "conf"),
      NEO4J_ADDRESS: `bolt://127.0.0.1:${boltPort}`,
      NEO4J_CYPHER_SHELL_HISTORY: "in-memory",
    };
    this.executor = host.executor({
      target: "drill neo4j",
      env: this.env,
      pathPrepend: [join(options.home, "bin")],
      cwd: dir,
    });
  }

  /**
   * Writes the instance's configuration under `dir` and sets its password (before the first start, as
   * Neo4j requires). DRILL_SETUP_FAILED when the installation cannot do that.
   */
  static async prepare(
    dir: string,
    database: string,
    options: DrillNeo4jOptions,
    drillId: string,
    signal?: AbortSignal,
    host: DrillHost = localDrillHost,
  ): Promise<ThrowawayNeo4j> {
    let base: string;
    try {
      base = await host.readFile(join(options.home, "conf", "neo4j.conf"));
    } catch (error) {
      throw new BackupError(
        "DRILL_SETUP_FAILED",
        `${options.home} is not a Neo4j installation (no conf/neo4j.conf)`,
        {
          cause: error,
          hint: "give the NEO4J_HOME of a Neo4j 5.26 installation with --drill-neo4j-home (INFRAHUB_DRILL_NEO4J_HOME)",
        },
      );
    }
    const port = await freeLoopbackPort();
    const instance = new ThrowawayNeo4j(dir, port, database, options, drillId, host);
    for (const sub of ["conf", "data", "logs", "run", "import"]) await host.mkdir(join(dir, sub));
    await host.writeFile(join(dir, "conf", "neo4j.conf"), instance.#conf(base));
    await instance.#setInitialPassword(signal);
    return instance;
  }

  #conf(base: string): string {
    const settings: Record<string, string> = {
      "server.directories.data": join(this.#dir, "data"),
      "server.directories.logs": join(this.#dir, "logs"),
      "server.directories.run": join(this.#dir, "run"),
      "server.directories.import": join(this.#dir, "import"),
      "server.default_listen_address": "127.0.0.1",
      "server.default_advertised_address": "127.0.0.1",
      "server.bolt.listen_address": `127.0.0.1:${this.boltPort}`,
      "server.bolt.advertised_address": `127.0.0.1:${this.boltPort}`,
      "server.http.enabled": "false",
      "server.https.enabled": "false",
      "dbms.security.auth_enabled": "true",
      "initial.dbms.default_database": this.credentials.database,
      "server.memory.heap.initial_size": this.#options.heap ?? "512m",
      "server.memory.heap.max_size": this.#options.heap ?? "512m",
      "server.memory.pagecache.size": this.#options.pageCache ?? "256m",
      "dbms.usage_report.enabled": "false",
      "db.tx_log.preallocate": "false",
    };
    // Neo4j refuses a setting given twice: the installation's own values of these keys are dropped.
    const kept = base
      .split("\n")
      .filter((line) => !((/^\s*([A-Za-z0-9_.]+)\s*=/.exec(line)?.[1] ?? "") in settings));
    return [...kept, ...Object.entries(settings).map(([key, value]) => `${key}=${value}`), ""].join("\n");
  }

  async #setInitialPassword(signal?: AbortSignal): Promise<void> {
    // picocli's @file: the password stays off argv.
    const argFile = join(this.#dir, "initial-password.args");
    await this.#host.writeFile(argFile, `"${this.credentials.password}"\n`);
    try {
      await runCommand(
        this.executor,
        {
          argv: ["neo4j-admin", "dbms", "set-initial-password", `@${argFile}`],
          ...(signal ? { signal } : {}),
        },
        {
          what: "neo4j-admin dbms set-initial-password",
          failureCode: "DRILL_SETUP_FAILED",
          hint: "check the Neo4j installation given with --drill-neo4j-home and that Java 17 or 21 is on PATH",
        },
      );
    } finally {
      await this.#host.remove(argFile);
    }
  }

  /** `neo4j-admin database load` of exactly `bytes` bytes of a dump, while the instance is offline. */
  async load(input: Readable, bytes: number, signal?: AbortSignal): Promise<void> {
    await loadNeo4j(this.executor, this.credentials.database, input, bytes, signal ? { signal } : {});
  }

  /**
   * Starts the server and waits until the loaded database is online. DRILL_LOAD_FAILED when the server
   * exits, reports the database failed, or does not serve it in time.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const server = await this.#host.server({
      name: "neo4j",
      command: join(this.#options.home, "bin", "neo4j"),
      args: ["console"],
      env: this.env,
      logFile: join(this.#dir, "logs", "console.log"),
      drillId: this.#drillId,
    });
    this.#server = server;
    const database = this.credentials.database;
    const failed = (why: string) =>
      new BackupError("DRILL_LOAD_FAILED", `the loaded Neo4j database ${database} does not serve: ${why}`, {
        hint: "the archive's checksums are right, but its Neo4j dump does not make a store that starts: this backup cannot be restored; take a new one",
        details: { log: server.logTail() },
      });
    const query = `SHOW DATABASE \`${database.replaceAll("`", "``")}\` YIELD currentStatus, statusMessage RETURN currentStatus + '|' + statusMessage`;
    await pollUntil(
      async () => {
        const status = await cypherShell(this.executor, this.credentials, query, {
          database: "system",
          timeoutMs: 30_000,
          ...(signal ? { signal } : {}),
        }).then(
          (out) => plainRows(out)[0],
          () => undefined,
        );
        if (status === undefined) return undefined;
        const [current = "", message = ""] = status.split("|");
        if (current === "online") return true;
        if (current !== "starting" && message.trim() !== "") throw failed(`${current}: ${message}`);
        return undefined;
      },
      {
        timeoutMs: this.#options.startTimeoutMs ?? 180_000,
        intervalMs: 1_000,
        server,
        onTimeout: () => failed(`not online within ${(this.#options.startTimeoutMs ?? 180_000) / 1000} s`),
        onExit: () => failed("the server exited"),
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** Runs a read query on the loaded database; the rows of its plain output (header dropped). */
  async query(cypher: string, signal?: AbortSignal): Promise<string[]> {
    return plainRows(
      await cypherShell(this.executor, this.credentials, cypher, {
        timeoutMs: 120_000,
        ...(signal ? { signal } : {}),
      }),
    );
  }

  /** Stops the server (SIGTERM, SIGKILL after 30 s) and makes sure its JVM is gone. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    const killLeftover = await this.#host.pidKiller(join(this.#dir, "run", "neo4j.pid"));
    await server.stop("SIGTERM", STOP_GRACE_MS);
    await killLeftover();
  }
}
