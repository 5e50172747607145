import type { Readable } from "node:stream";
import { BackupError } from "../../errors.js";
import { runCommand } from "../../exec/command.js";
import type { Executor } from "../../exec/executor.js";
import type { PostgresCredentials } from "./credentials.js";
import { CONNECTION_HINT, libpqEnv, psqlQuery } from "./postgres-engine.js";

export type PostgresRestoreMode = "recreate" | "in-place";

export type PostgresRestoreState =
  /** Nothing done yet. */
  | "untouched"
  /** The dump is being restored (recreate: into a new database; in-place: one transaction). */
  | "loading"
  /** Recreate: the new database is complete; the live one is untouched. */
  | "prepared"
  /** Recreate: the new database has the live name; the previous one is kept under another name. */
  | "switched"
  /** Restored for good (in-place committed, or recreate finished). */
  | "restored"
  /** Undone: the live database is the one from before the restore. */
  | "undone";

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;
/** The first part of every database name a restore of `database` creates (names are at most 63 bytes). */
const restorePrefix = (database: string) => `${database.slice(0, 30)}__ihb_`;

/** Databases that restores killed outright left behind: nothing of theirs ran an undo or a finish. */
export interface LeftoverDatabases {
  /** `<db>__ihb_new_*`: a load that never went live; the next recreate restore drops it. */
  partial: string[];
  /** `<db>__ihb_prev_*`: the data from before a restore that had switched; kept for a person to drop. */
  previous: string[];
}

/** The leftovers of earlier restores of the credentials' database (a role that may create databases). */
export async function leftoverDatabases(
  executor: Executor,
  credentials: PostgresCredentials,
): Promise<LeftoverDatabases> {
  const prefix = restorePrefix(credentials.database);
  // Not LIKE: `_` is its wildcard.
  const out = await psqlQuery(
    executor,
    credentials,
    `SELECT datname FROM pg_database WHERE left(datname, ${prefix.length}) = ${literal(prefix)} ORDER BY datname`,
    "postgres",
    {
      what: "listing databases left by interrupted restores",
      failureCode: "DATABASE_COMMAND_FAILED",
      hint: CONNECTION_HINT,
    },
  );
  const names = out.split("\n").filter((name) => name !== "");
  return {
    partial: names.filter((name) => name.startsWith(`${prefix}new_`)),
    previous: names.filter((name) => name.startsWith(`${prefix}prev_`)),
  };
}

/**
 * A restore of the task-manager database that leaves it as it was, or complete.
 *
 * - `recreate` (the role may create databases): the dump goes into a new database `<db>__ihb_new_<stamp>`
 *   while the live one serves on; `switchOver()` then swaps the two by renaming, in one transaction, and
 *   keeps the previous database as `<db>__ihb_prev_<stamp>` until `finish()` drops it; `undo()` swaps
 *   back. So a cut stream, a failed pg_restore, or a failure of the Neo4j half of the restore leaves the
 *   live database as it was. Needs room for both databases.
 * - `in-place` (the role may not create databases): `pg_restore --clean --if-exists --single-transaction`,
 *   all or nothing — but committed at once, so it cannot be undone afterwards.
 *
 * Database-level settings (`ALTER DATABASE … SET`) are not carried over by `recreate`; Prefect sets none.
 */
export class PostgresRestore {
  readonly mode: PostgresRestoreMode;
  readonly #executor: Executor;
  readonly #credentials: PostgresCredentials;
  readonly newName: string;
  readonly previousName: string;
  readonly #partialLeftovers: readonly string[];
  #state: PostgresRestoreState = "untouched";
  #hadLiveDatabase = true;

  /** `partialLeftovers`: `leftoverDatabases().partial`, dropped before the load (recreate). */
  constructor(
    executor: Executor,
    credentials: PostgresCredentials,
    mode: PostgresRestoreMode,
    options: { stamp: string; partialLeftovers?: readonly string[] },
  ) {
    this.#executor = executor;
    this.#credentials = credentials;
    this.mode = mode;
    const prefix = restorePrefix(credentials.database);
    this.newName = `${prefix}new_${options.stamp}`;
    this.previousName = `${prefix}prev_${options.stamp}`;
    this.#partialLeftovers = options.partialLeftovers ?? [];
  }

  get state(): PostgresRestoreState {
    return this.#state;
  }

  get database(): string {
    return this.#credentials.database;
  }

  #sql(sql: string, what: string, database = "postgres"): Promise<string> {
    return psqlQuery(this.#executor, this.#credentials, sql, database, {
      what,
      failureCode: "DATABASE_COMMAND_FAILED",
      hint: CONNECTION_HINT,
    });
  }

  /**
   * Closes every session on these databases (Prefect is stopped; this ends stragglers and stuck restores)
   * that this role may end: pg_terminate_backend fails the whole statement on a session it may not signal
   * (a superuser's, another role's, or a roleless one such as an autovacuum worker, common right after a
   * large load). DROP/ALTER DATABASE end autovacuum workers themselves; a session of a role we may not
   * signal is named in a clear error instead. Without pg_read_all_stats, other roles' sessions show no
   * backend_type: roles are told apart by usesysid (NULL for autovacuum and other background workers).
   */
  async #terminate(names: string[]): Promise<void> {
    const sessions = `FROM pg_stat_activity a WHERE a.datname IN (${names.map(literal).join(", ")}) AND a.pid <> pg_backend_pid() AND a.usesysid IS NOT NULL`;
    const mayEnd = `((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
      OR (NOT COALESCE((SELECT rolsuper FROM pg_roles r WHERE r.oid = a.usesysid), true)
          AND (pg_has_role(current_user, a.usesysid, 'MEMBER') OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'))))`;
    const out = await this.#sql(
      `SELECT count(pg_terminate_backend(a.pid)) ${sessions} AND ${mayEnd};
       SELECT 'blocking:' || coalesce(string_agg(format('pid %s (user %s, application %s)', a.pid, a.usename, coalesce(nullif(a.application_name, ''), '-')), ', '), '') ${sessions} AND NOT ${mayEnd};`,
      "closing sessions on the task-manager databases",
    );
    // psql before 15 prints only the last result, 15 and later both: the second is recognised by its prefix.
    const blocking = (out.split("\n").find((line) => line.startsWith("blocking:")) ?? "blocking:")
      .slice("blocking:".length)
      .trim();
    if (blocking !== "") {
      throw new BackupError(
        "DATABASE_COMMAND_FAILED",
        `sessions that ${this.#credentials.user} may not end keep ${names.join(", ")} open: ${blocking}`,
        { hint: "close those sessions (a superuser can run pg_terminate_backend) and run the command again" },
      );
    }
  }

  async #drop(name: string): Promise<void> {
    await this.#terminate([name]);
    await this.#sql(`DROP DATABASE IF EXISTS ${ident(name)}`, `dropping database ${name}`);
  }

  /**
   * Restores `pg_dump -Fc` output: exactly `bytes` bytes read from `input` (byte-counted: no stdin EOF
   * needed), or a dump file already in the container (staged).
   */
  async load(
    source: { stream: Readable; bytes: number } | { file: string },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    this.#state = "loading";
    let target = this.#credentials.database;
    let flags = "--clean --if-exists --single-transaction";
    if (this.mode === "recreate") {
      target = this.newName;
      flags = "";
      await this.#createNewDatabase();
    }
    const restore = `pg_restore -h localhost -U "$PGUSER" -d "$IHB_TARGET_DB" ${flags} --no-owner --no-privileges --exit-on-error`;
    await runCommand(
      this.#executor,
      {
        ...("file" in source
          ? {
              argv: ["sh", "-c", `${restore} "$IHB_FILE"`],
              env: { ...libpqEnv(this.#credentials), IHB_TARGET_DB: target, IHB_FILE: source.file },
            }
          : {
              argv: ["sh", "-c", `head -c "$IHB_INPUT_BYTES" | ${restore}`],
              env: {
                ...libpqEnv(this.#credentials),
                IHB_INPUT_BYTES: String(source.bytes),
                IHB_TARGET_DB: target,
              },
              stdin: source.stream,
            }),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      {
        what: `pg_restore of database ${this.#credentials.database}`,
        failureCode: "DATABASE_COMMAND_FAILED",
        hint: CONNECTION_HINT,
      },
    );
    this.#state = this.mode === "recreate" ? "prepared" : "restored";
  }

  /** The new database, with the live one's encoding and locale when there is a live one. */
  async #createNewDatabase(): Promise<void> {
    // Only a restore creates these names, and this one holds the operation lock: no other restore uses them.
    for (const name of new Set([...this.#partialLeftovers, this.newName])) await this.#drop(name);
    const live = await this.#sql(
      `SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = ${literal(this.#credentials.database)}`,
      "reading the task-manager database's encoding",
    );
    this.#hadLiveDatabase = live !== "";
    const [encoding, collate, ctype] = live.split("|");
    const locale =
      encoding && collate && ctype
        ? ` ENCODING ${literal(encoding)} LC_COLLATE ${literal(collate)} LC_CTYPE ${literal(ctype)}`
        : "";
    try {
      await this.#sql(
        `CREATE DATABASE ${ident(this.newName)} TEMPLATE template0${locale}`,
        `creating database ${this.newName}`,
      );
    } catch (error) {
      if (!locale) throw error;
      // A locale the server cannot use as given (e.g. an ICU-provider database): the server's defaults.
      await this.#sql(
        `CREATE DATABASE ${ident(this.newName)} TEMPLATE template0`,
        `creating database ${this.newName}`,
      );
    }
  }

  /** Recreate: the restored database takes the live name, in one transaction; the previous one is kept. */
  async switchOver(): Promise<void> {
    if (this.mode !== "recreate" || this.#state !== "prepared") return;
    const live = this.#credentials.database;
    await this.#terminate([live, this.newName]);
    await this.#sql(
      this.#hadLiveDatabase
        ? `BEGIN; ALTER DATABASE ${ident(live)} RENAME TO ${ident(this.previousName)}; ALTER DATABASE ${ident(this.newName)} RENAME TO ${ident(live)}; COMMIT;`
        : `ALTER DATABASE ${ident(this.newName)} RENAME TO ${ident(live)}`,
      `switching database ${live} to the restored one`,
    );
    this.#state = "switched";
  }

  /**
   * Puts the database from before the restore back, whatever the step reached; `restored` in-place
   * restores cannot be undone (their transaction committed) and are left as they are.
   */
  async undo(): Promise<void> {
    const live = this.#credentials.database;
    switch (this.#state) {
      case "loading":
        if (this.mode === "in-place") {
          // A pg_restore whose exec session was cut may still hold its transaction open: end it (rolled back).
          await this.#sql(
            `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ${literal(live)} AND application_name = 'pg_restore' AND pid <> pg_backend_pid()`,
            "ending a pg_restore still running",
          );
          this.#state = "undone";
          return;
        }
        await this.#drop(this.newName);
        this.#state = "undone";
        return;
      case "prepared":
        await this.#drop(this.newName);
        this.#state = "undone";
        return;
      case "switched":
        await this.#terminate([live, this.previousName]);
        await this.#sql(
          this.#hadLiveDatabase
            ? `BEGIN; ALTER DATABASE ${ident(live)} RENAME TO ${ident(this.newName)}; ALTER DATABASE ${ident(this.previousName)} RENAME TO ${ident(live)}; COMMIT;`
            : `ALTER DATABASE ${ident(live)} RENAME TO ${ident(this.newName)}`,
          `switching database ${live} back to the one from before the restore`,
        );
        this.#state = "undone";
        await this.#drop(this.newName);
        return;
      default:
        return;
    }
  }

  /** The restore stands: the previous database goes. */
  async finish(): Promise<void> {
    if (this.#state !== "switched") return;
    this.#state = "restored";
    if (this.#hadLiveDatabase) await this.#drop(this.previousName);
  }
}
