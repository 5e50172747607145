import { isBackupError } from "../../errors.js";
import type { Executor } from "../../exec/executor.js";
import type { Neo4jCredentials } from "./credentials.js";
import { cypherShell, plainRows } from "./cypher-shell.js";
import {
  assertNeo4jDatabaseExists,
  COMPONENTS_QUERY,
  DATABASES_QUERY,
  detectNeo4j,
  type Neo4jServerInfo,
  parseComponents,
} from "./edition.js";
import { locateStore, parseStoreSettings, STORE_SETTINGS_QUERY, type StoreLocation } from "./store-swap.js";

/** What an operation asks the running server before it starts: three questions to the system database. */
export interface Neo4jServerFacts {
  /** Edition and version (`dbms.components()`); EDITION_UNKNOWN when the server does not answer. */
  server(): Promise<Neo4jServerInfo>;
  /** Fails unless the credentials' database exists (DATABASE_UNAVAILABLE naming the ones that do). */
  databaseExists(): Promise<void>;
  /** Where the store's files are (SHOW SETTINGS). */
  location(): Promise<StoreLocation>;
}

/*
 * The separate probes' own statements: their headers differ ("name, versions, edition", "name", "name, value")
 * and every value row is quoted, so a section is known by its header line. It must be, not by its position:
 * cypher-shell prints nothing at all, not even the header, for an empty result.
 */
const COMBINED = [COMPONENTS_QUERY, DATABASES_QUERY, STORE_SETTINGS_QUERY].join("; ");
const HEADERS = {
  components: "name, versions, edition",
  databases: "name",
  settings: "name, value",
};

/**
 * The three answers from ONE cypher-shell run (a JVM start: about a second of CPU, several on a busy node,
 * instead of three). Asked once, on first use. When that run fails for any reason but a refused login or a
 * cancellation, or an answer's section is missing from its output, that question is asked on its own as
 * before, so every failure keeps its own code and message (and a settings query the user may not run costs
 * only the location, not the backup).
 */
export function neo4jServerFacts(
  executor: Executor,
  credentials: Neo4jCredentials,
  options: { signal?: AbortSignal } = {},
): Neo4jServerFacts {
  const sig = options.signal ? { signal: options.signal } : {};
  let combined: Promise<Map<string, string> | undefined> | undefined;
  const sections = () => {
    combined ??= cypherShell(executor, credentials, COMBINED, { database: "system", ...sig }).then(
      splitSections,
      (error: unknown) => {
        // These end the operation whichever question asked: asking again would only repeat them (and a
        // refused login counts towards Neo4j's lock-out).
        if (isBackupError(error, "DATABASE_AUTH") || isBackupError(error, "CANCELLED")) throw error;
        options.signal?.throwIfAborted();
        // Any other failure: each question is asked on its own below, which reports it precisely.
        return undefined;
      },
    );
    return combined;
  };
  return {
    async server() {
      const output = (await sections())?.get(HEADERS.components);
      return output ? parseComponents(output) : detectNeo4j(executor, credentials);
    },
    async databaseExists() {
      // A server always has its system database: no section at all means an answer not understood, not
      // "no databases", so the question is asked on its own.
      const output = (await sections())?.get(HEADERS.databases);
      return assertNeo4jDatabaseExists(executor, credentials, output ? plainRows(output) : undefined);
    },
    async location() {
      const output = (await sections())?.get(HEADERS.settings);
      return output ? parseStoreSettings(output, credentials) : locateStore(executor, credentials, sig);
    },
  };
}

/**
 * Plain-format output of several statements, cut at each known header line: header -> that statement's
 * own plain-format output (header included), for the separate probes' parsers.
 */
function splitSections(output: string): Map<string, string> {
  const known = new Set(Object.values(HEADERS));
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line.length === 0) continue;
    if (known.has(line)) {
      current = [line];
      sections.set(line, current);
    } else {
      current?.push(line);
    }
  }
  return new Map([...sections].map(([header, lines]) => [header, lines.join("\n")]));
}
