import { BackupError } from "../../errors.js";
import { runCommand } from "../../exec/command.js";
import type { Executor } from "../../exec/executor.js";
import { shellQuote } from "../../exec/shell-quote.js";
import type { Neo4jCredentials } from "./credentials.js";
import { cypherShell, plainRows } from "./cypher-shell.js";

/** Where one database's store lives in the container (Neo4j 5: store files and transaction logs apart). */
export interface StoreLocation {
  database: string;
  /** `server.directories.data`: the volume the store lives on (staging goes there too). */
  dataDir: string;
  /** `<server.directories.data>/databases/<db>` */
  storeDir: string;
  /** `<server.directories.transaction.logs.root>/<db>` */
  transactionsDir: string;
}

/**
 * Asks the running server where a database's files are (settings as the server resolved them: neo4j.conf,
 * the image's NEO4J_* variables, defaults under NEO4J_HOME).
 */
export async function locateStore(
  executor: Executor,
  credentials: Neo4jCredentials,
  options: { signal?: AbortSignal } = {},
): Promise<StoreLocation> {
  const out = await cypherShell(executor, credentials, STORE_SETTINGS_QUERY, {
    database: "system",
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return parseStoreSettings(out, credentials);
}

/** The settings that say where a database's files are (asked of the system database). */
export const STORE_SETTINGS_QUERY =
  "SHOW SETTINGS YIELD name, value WHERE name IN ['server.directories.data', 'server.directories.transaction.logs.root'] RETURN name, value ORDER BY name";

/** The store's location out of the plain-format answer to STORE_SETTINGS_QUERY. */
export function parseStoreSettings(out: string, credentials: Neo4jCredentials): StoreLocation {
  const settings = new Map(
    plainRows(out).map((row) => {
      const [name = "", ...value] = row.split(", ");
      return [name.replace(/^"|"$/g, ""), value.join(", ").replace(/^"|"$/g, "")] as const;
    }),
  );
  const data = settings.get("server.directories.data");
  const transactions = settings.get("server.directories.transaction.logs.root");
  if (!data?.startsWith("/") || !transactions?.startsWith("/")) {
    throw new BackupError(
      "DATABASE_COMMAND_FAILED",
      `cannot tell where Neo4j keeps its store: ${out.trim() || "no settings returned"}`,
      {
        hint: "the server must report server.directories.data and server.directories.transaction.logs.root (SHOW SETTINGS)",
      },
    );
  }
  const database = credentials.database;
  return {
    database,
    dataDir: data.replace(/\/$/, ""),
    storeDir: `${data.replace(/\/$/, "")}/databases/${database}`,
    transactionsDir: `${transactions.replace(/\/$/, "")}/${database}`,
  };
}

/** Size of the current store and free space where a new one would be written, in bytes. */
export async function storeSpace(
  executor: Executor,
  location: StoreLocation,
  options: { user?: string; signal?: AbortSignal } = {},
): Promise<{ storeBytes: number; freeBytes: number }> {
  const out = await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'du -sk "$S" "$T" 2>/dev/null | awk \'{s+=$1} END {print s+0}\'; df -Pk "$(dirname "$S")" | awk \'NR==2 {print $4}\'',
      ],
      env: { S: location.storeDir, T: location.transactionsDir },
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: "measuring the Neo4j store and its free space" },
  );
  const [store = "", free = ""] = out.trim().split("\n");
  const storeKib = Number(store);
  const freeKib = Number(free);
  if (!Number.isFinite(storeKib) || !Number.isFinite(freeKib) || free.trim() === "") {
    throw new BackupError(
      "DATABASE_COMMAND_FAILED",
      `cannot read the Neo4j store's size and free space: ${out.trim()}`,
    );
  }
  return { storeBytes: storeKib * 1024, freeBytes: freeKib * 1024 };
}

/** Free space an atomic load needs: room for the new store while the previous one is kept aside. */
export function spaceForAtomicLoad(current: { storeBytes: number }, dumpBytes: number): number {
  // A Neo4j dump is zstd-compressed store files: the new store is several times the dump. The current
  // store is the better guess when it is larger; the margin covers new transaction logs.
  return Math.max(current.storeBytes, 3 * dumpBytes) + 256 * 1024 * 1024;
}

/**
 * The previous store of a database moved aside (a rename on the same file system: no copy, no extra
 * space) while a new one is loaded in its place; put back if anything fails before the new store
 * serves, removed once it does. Runs only while Neo4j is frozen (store unlocked). Previous stores are
 * kept under a stamped name beside the live one, so a kill of everything still leaves them on disk.
 */
export class StoreSwap {
  readonly location: StoreLocation;
  readonly #executor: Executor;
  readonly #user: { user?: string };
  readonly previousStoreDir: string;
  readonly previousTransactionsDir: string;
  #state: "untouched" | "aside" | "committed" | "rolled-back" = "untouched";

  constructor(executor: Executor, location: StoreLocation, options: { user?: string; stamp: string }) {
    this.#executor = executor;
    this.location = location;
    this.#user = options.user ? { user: options.user } : {};
    const aside = (dir: string) => dir.replace(/\/([^/]+)$/, `/.$1.previous-${options.stamp}`);
    this.previousStoreDir = aside(location.storeDir);
    this.previousTransactionsDir = aside(location.transactionsDir);
  }

  get state(): "untouched" | "aside" | "committed" | "rolled-back" {
    return this.#state;
  }

  /** A shell script that puts the previous store back: also what the freeze helper runs if we die. */
  rollbackScript(): string {
    const q = shellQuote;
    const { storeDir, transactionsDir } = this.location;
    return [
      "set -e",
      `if [ -e ${q(this.previousStoreDir)} ] || [ -e ${q(this.previousTransactionsDir)} ]; then`,
      `  rm -rf ${q(storeDir)} ${q(transactionsDir)}`,
      `  if [ -e ${q(this.previousStoreDir)} ]; then mv ${q(this.previousStoreDir)} ${q(storeDir)}; fi`,
      `  if [ -e ${q(this.previousTransactionsDir)} ]; then mv ${q(this.previousTransactionsDir)} ${q(transactionsDir)}; fi`,
      "fi",
      "",
    ].join("\n");
  }

  async #sh(script: string, what: string): Promise<void> {
    await runCommand(
      this.#executor,
      { argv: ["sh", "-c", script], ...this.#user },
      { what, failureCode: "DATABASE_COMMAND_FAILED" },
    );
  }

  /** Moves the current store (and its transaction logs) aside. */
  async setAside(): Promise<void> {
    const q = shellQuote;
    const { storeDir, transactionsDir } = this.location;
    await this.#sh(
      [
        "set -e",
        `if [ -e ${q(this.previousStoreDir)} ] || [ -e ${q(this.previousTransactionsDir)} ]; then echo "a previous store is already set aside here" >&2; exit 1; fi`,
        `if [ -e ${q(storeDir)} ]; then mv ${q(storeDir)} ${q(this.previousStoreDir)}; fi`,
        `if [ -e ${q(transactionsDir)} ]; then mv ${q(transactionsDir)} ${q(this.previousTransactionsDir)}; fi`,
      ].join("\n"),
      `setting the store of database ${this.location.database} aside`,
    );
    this.#state = "aside";
  }

  /** Removes whatever was loaded and puts the previous store back. */
  async rollBack(): Promise<void> {
    if (this.#state !== "aside") return;
    await this.#sh(
      this.rollbackScript(),
      `putting the previous store of database ${this.location.database} back`,
    );
    this.#state = "rolled-back";
  }

  /** The new store serves: the previous one goes. */
  async commit(): Promise<void> {
    if (this.#state !== "aside") return;
    this.#state = "committed";
    await this.#sh(
      `rm -rf ${shellQuote(this.previousStoreDir)} ${shellQuote(this.previousTransactionsDir)}`,
      `removing the previous store of database ${this.location.database}`,
    );
  }
}

/** Removes the store of a database outright (a non-atomic restore, when there is no room for both). */
export async function removeStore(
  executor: Executor,
  location: StoreLocation,
  options: { user?: string } = {},
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: ["rm", "-rf", location.storeDir, location.transactionsDir],
      ...(options.user ? { user: options.user } : {}),
    },
    { what: `removing the store of database ${location.database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}

/** Previous stores left beside the live one by restores that could not finish their clean-up. */
export async function leftoverPreviousStores(
  executor: Executor,
  location: StoreLocation,
  options: { user?: string } = {},
): Promise<string[]> {
  const result = await executor.exec({
    argv: ["sh", "-c", 'for d in "$P"/."$N".previous-*; do [ -e "$d" ] && echo "$d"; done; exit 0'],
    env: { P: location.storeDir.replace(/\/[^/]+$/, ""), N: location.database },
    ...(options.user ? { user: options.user } : {}),
  });
  return result.stdout
    .toString("utf8")
    .split("\n")
    .filter((line) => line.length > 0);
}
