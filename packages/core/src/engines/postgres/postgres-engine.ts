import { BackupError } from "../../errors.js";
import { type CommandOptions, runCommand, type StreamingCommand, streamCommand } from "../../exec/command.js";
import type { ExecRequest, Executor } from "../../exec/executor.js";
import type { PostgresCredentials } from "./credentials.js";

/** Magic bytes at the start of a `pg_dump -Fc` (custom format) archive. */
export const PG_DUMP_MAGIC = Buffer.from("PGDMP");

export const CONNECTION_HINT =
  "check that the task-manager database is running and that the Prefect connection URL " +
  "(PREFECT_SERVER_DATABASE_CONNECTION_URL / PREFECT_API_DATABASE_CONNECTION_URL) holds the right credentials";

/** Environment that carries the credentials: the password never goes on argv. */
export function libpqEnv(credentials: PostgresCredentials): Record<string, string> {
  return { PGPASSWORD: credentials.password, PGUSER: credentials.user, PGDATABASE: credentials.database };
}

/**
 * `pg_dump -Fc` over TCP to localhost (as upstream since v1.1.3: operator-managed clusters often refuse
 * the Unix socket for password users), streamed to stdout: no temp file in the container.
 */
export function pgDumpRequest(credentials: PostgresCredentials, compress?: string): ExecRequest {
  return {
    argv: [
      "pg_dump",
      "-Fc",
      ...(compress ? [compress] : []),
      "-h",
      "localhost",
      "-U",
      credentials.user,
      "-d",
      credentials.database,
    ],
    env: libpqEnv(credentials),
  };
}

export function dumpPostgres(
  executor: Executor,
  credentials: PostgresCredentials,
  options: {
    signal?: AbortSignal /** pg_dump's `--compress=…` (see choosePgDumpCompression). */;
    compress?: string;
  } = {},
): StreamingCommand {
  return streamCommand(
    executor,
    {
      ...pgDumpRequest(credentials, options.compress),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    {
      what: `pg_dump of database ${credentials.database}`,
      failureCode: "DATABASE_COMMAND_FAILED",
      hint: CONNECTION_HINT,
    },
  );
}

/** Runs SQL with psql over TCP to localhost; returns the unaligned, tuples-only output, trimmed. */
export async function psqlQuery(
  executor: Executor,
  credentials: PostgresCredentials,
  sql: string,
  database: string,
  options: CommandOptions,
): Promise<string> {
  const out = await runCommand(
    executor,
    {
      argv: ["psql", "-X", "-A", "-t", "-h", "localhost", "-U", credentials.user, "-d", database, "-c", sql],
      env: libpqEnv(credentials),
      timeoutMs: 30_000,
    },
    options,
  );
  return out.trim();
}

/** Runs a trivial query: proves the database is reachable with these credentials. */
export async function probePostgres(executor: Executor, credentials: PostgresCredentials): Promise<string> {
  return await psqlQuery(executor, credentials, "SHOW server_version", credentials.database, {
    what: `connecting to PostgreSQL database ${credentials.database}`,
    failureCode: "DATABASE_UNAVAILABLE",
    hint: CONNECTION_HINT,
  });
}

/**
 * `pg_database_size` of the credentials' database in bytes: what its dump weighs at most (pg_dump
 * leaves indexes out and compresses), the size estimate of a backup.
 */
export async function postgresDatabaseSize(
  executor: Executor,
  credentials: PostgresCredentials,
): Promise<number> {
  const out = await psqlQuery(
    executor,
    credentials,
    "SELECT pg_database_size(current_database())",
    credentials.database,
    {
      what: "measuring the PostgreSQL database",
      failureCode: "DATABASE_COMMAND_FAILED",
      hint: CONNECTION_HINT,
    },
  );
  if (!/^\d+$/.test(out)) {
    throw new BackupError("DATABASE_COMMAND_FAILED", `pg_database_size printed ${JSON.stringify(out)}`);
  }
  return Number(out);
}

/** Whether the role may drop and recreate its database (owner with CREATEDB, or superuser). */
export async function canRecreateDatabase(
  executor: Executor,
  credentials: PostgresCredentials,
): Promise<boolean> {
  const sql =
    "SELECT r.rolsuper OR (r.rolcreatedb AND d.datdba = r.oid) FROM pg_roles r, pg_database d " +
    "WHERE r.rolname = current_user AND d.datname = current_database()";
  const out = await psqlQuery(executor, credentials, sql, credentials.database, {
    what: "checking PostgreSQL privileges",
    failureCode: "DATABASE_UNAVAILABLE",
    hint: CONNECTION_HINT,
  });
  return out === "t";
}

/**
 * How a restore can proceed: `recreate` when the role may drop and create the database — also when the
 * database is missing (e.g. an earlier restore failed after dropping it) and the role may create it;
 * `in-place` when the database exists but the role may not recreate it.
 */
export async function postgresRestoreMode(
  executor: Executor,
  credentials: PostgresCredentials,
): Promise<"recreate" | "in-place"> {
  try {
    return (await canRecreateDatabase(executor, credentials)) ? "recreate" : "in-place";
  } catch (error) {
    if (!(error instanceof Error) || !/database ".*" does not exist/.test(error.message)) throw error;
  }
  const sql = "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user";
  const out = await psqlQuery(executor, credentials, sql, "postgres", {
    what: "checking PostgreSQL privileges",
    failureCode: "DATABASE_UNAVAILABLE",
    hint: CONNECTION_HINT,
  });
  if (out === "t") return "recreate";
  throw new BackupError(
    "DATABASE_UNAVAILABLE",
    `PostgreSQL database ${credentials.database} does not exist and role ${credentials.user} may not create it`,
    { hint: `create the database (owner ${credentials.user}) and run the restore again` },
  );
}
