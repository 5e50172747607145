import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, chown } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { PostgresCredentials } from "../engines/postgres/credentials.js";
import { psqlQuery } from "../engines/postgres/postgres-engine.js";
import { PostgresRestore } from "../engines/postgres/postgres-restore.js";
import { BackupError } from "../errors.js";
import { runCommand } from "../exec/command.js";
import type { Executor } from "../exec/executor.js";
import { type DrillHost, type DrillServer, localDrillHost } from "./drill-host.js";
import { freeLoopbackPort, pollUntil } from "./server-process.js";

/** A PostgreSQL installation to run throwaway clusters of. */
export interface DrillPostgresOptions {
  /** Directory of PostgreSQL's server and client programs (initdb, postgres, pg_restore, psql, pg_isready). */
  binDir: string;
  /**
   * OS user the server runs as when this process runs as root (PostgreSQL refuses root). Default: `postgres`
   * when it exists, else `nobody`.
   */
  osUser?: string;
}

const SETUP_HINT =
  "give PostgreSQL's bin directory (initdb, postgres, pg_restore, psql) with --drill-pg-bin (INFRAHUB_DRILL_PG_BIN); run as root, PostgreSQL runs as --drill-pg-user, which must be able to enter every directory above --drill-work-dir";
const STOP_GRACE_MS = 15_000;

/** A PostgreSQL cluster of its own under `dir` (initdb), on a free loopback port, removed with `dir`. */
export class ThrowawayPostgres {
  readonly credentials: PostgresCredentials;
  readonly executor: Executor;
  readonly #server: DrillServer;

  private constructor(server: DrillServer, executor: Executor, credentials: PostgresCredentials) {
    this.#server = server;
    this.executor = executor;
    this.credentials = credentials;
  }

  /** initdb, start, and an empty database to restore into. DRILL_SETUP_FAILED when any of it fails. */
  static async start(
    dir: string,
    options: DrillPostgresOptions,
    drillId: string,
    signal?: AbortSignal,
    host: DrillHost = localDrillHost,
  ): Promise<ThrowawayPostgres> {
    // An agent never runs as root (its pod's securityContext); this process may, locally.
    const owner = host.local && process.getuid?.() === 0 ? serviceUser(options.osUser) : undefined;
    const dataDir = join(dir, "data");
    const socketDir = join(dir, "socket");
    await host.mkdir(socketDir);
    const credentials = { user: "postgres", password: randomBytes(16).toString("hex"), database: "drill" };
    const pwFile = join(dir, "superuser.pw");
    await host.writeFile(pwFile, `${credentials.password}\n`);
    if (owner) {
      for (const path of [dir, socketDir, pwFile]) await chown(path, owner.uid, owner.gid);
      await chmod(dir, 0o700);
    }
    const port = await freeLoopbackPort();
    const executor = host.executor({
      target: "drill postgres",
      env: { PGPORT: String(port), PGSSLMODE: "disable" },
      pathPrepend: [options.binDir],
    });
    const setupFailed = (what: string, cause: unknown) =>
      new BackupError("DRILL_SETUP_FAILED", `${what}: ${(cause as Error).message}`, {
        cause,
        hint: SETUP_HINT,
      });
    try {
      await runCommand(
        executor,
        {
          argv: [
            "initdb",
            "-D",
            dataDir,
            "-U",
            credentials.user,
            "--pwfile",
            pwFile,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-instructions",
          ],
          ...(owner ? { user: owner.name } : {}),
          ...(signal ? { signal } : {}),
        },
        {
          what: "initdb of the drill's PostgreSQL cluster",
          failureCode: "DRILL_SETUP_FAILED",
          hint: SETUP_HINT,
        },
      );
    } catch (error) {
      if ((error as BackupError).code === "EXEC_FAILED") throw setupFailed("cannot run initdb", error);
      throw error;
    }
    const server = await host.server({
      name: "postgres",
      command: join(options.binDir, "postgres"),
      args: [
        "-D",
        dataDir,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        `unix_socket_directories=${socketDir}`,
        // Throwaway: durability is not what a drill checks.
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
      ],
      env: {},
      logFile: join(dir, "postgres.log"),
      drillId,
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    const cluster = new ThrowawayPostgres(server, executor, credentials);
    try {
      await pollUntil(
        async () =>
          (await executor.exec({ argv: ["pg_isready", "-q", "-h", "127.0.0.1"] })).exitCode === 0
            ? true
            : undefined,
        {
          timeoutMs: 60_000,
          intervalMs: 200,
          server,
          onTimeout: () =>
            new BackupError(
              "DRILL_SETUP_FAILED",
              `PostgreSQL did not accept connections within 60 s: ${server.logTail()}`,
              { hint: SETUP_HINT },
            ),
          onExit: () =>
            new BackupError("DRILL_SETUP_FAILED", `PostgreSQL exited at start: ${server.logTail()}`, {
              hint: SETUP_HINT,
            }),
          ...(signal ? { signal } : {}),
        },
      );
      await cluster.#sql(`CREATE DATABASE ${credentials.database}`, "postgres");
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  #sql(sql: string, database = this.credentials.database): Promise<string> {
    return psqlQuery(this.executor, this.credentials, sql, database, {
      what: "a query on the drill's PostgreSQL",
      failureCode: "DATABASE_COMMAND_FAILED",
    });
  }

  /** pg_restore of exactly `bytes` bytes of a `pg_dump -Fc` archive, in one transaction. */
  async restore(input: Readable, bytes: number, signal?: AbortSignal): Promise<void> {
    const restore = new PostgresRestore(this.executor, this.credentials, "in-place", { stamp: "drill" });
    await restore.load({ stream: input, bytes }, signal ? { signal } : {});
  }

  /** Runs SQL on the restored database; its unaligned, tuples-only output, one line per row. */
  async query(sql: string): Promise<string[]> {
    const out = await this.#sql(sql);
    return out === "" ? [] : out.split("\n");
  }

  /** Fast shutdown (SIGINT), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    await this.#server.stop("SIGINT", STOP_GRACE_MS);
  }
}

/** The unprivileged user to run the server as; DRILL_SETUP_FAILED when none exists. */
function serviceUser(name: string | undefined): { name: string; uid: number; gid: number } {
  const users = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((line) => line.split(":"));
  for (const candidate of name ? [name] : ["postgres", "nobody"]) {
    const entry = users.find(([user]) => user === candidate);
    if (entry?.[2] !== undefined && entry[3] !== undefined) {
      return { name: candidate, uid: Number(entry[2]), gid: Number(entry[3]) };
    }
  }
  throw new BackupError(
    "DRILL_SETUP_FAILED",
    `no OS user ${name ?? "postgres or nobody"} to run PostgreSQL as (it refuses root)`,
    {
      hint: "name an existing unprivileged user with --drill-pg-user (INFRAHUB_DRILL_PG_USER)",
    },
  );
}
