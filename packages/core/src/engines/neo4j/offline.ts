import type { Readable } from "node:stream";
import { runCommand, type StreamingCommand, streamCommand } from "../../exec/command.js";
import type { Executor } from "../../exec/executor.js";

/** Magic bytes of a Neo4j 5 dump: zstd (default) or gzip framed. */
export const NEO4J_DUMP_MAGICS = [Buffer.from("DZV1"), Buffer.from("DGV1")] as const;

export interface AdminOptions {
  /** OS user to run neo4j-admin as (upstream: `neo4j` when the exec user is someone else). */
  user?: string;
  /** Extra environment, e.g. `ownedBy(frozen)` so the command is ended with its freeze. */
  env?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/** `neo4j-admin database dump --to-stdout <db>` as a stream: no temp file in the container. */
export function dumpNeo4j(
  executor: Executor,
  database: string,
  options: AdminOptions = {},
): StreamingCommand {
  return streamCommand(
    executor,
    {
      argv: ["neo4j-admin", "database", "dump", "--to-stdout", database],
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: `neo4j-admin database dump of ${database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}

/**
 * `neo4j-admin database load --from-stdin --overwrite-destination=true` fed exactly `bytes` bytes
 * (byte-counted: no dependence on stdin EOF).
 */
export async function loadNeo4j(
  executor: Executor,
  database: string,
  input: Readable,
  bytes: number,
  options: AdminOptions = {},
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'head -c "$IHB_INPUT_BYTES" | neo4j-admin database load --from-stdin --overwrite-destination=true "$IHB_DATABASE"',
      ],
      env: { ...options.env, IHB_INPUT_BYTES: String(bytes), IHB_DATABASE: database },
      stdin: input,
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: `neo4j-admin database load of ${database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}

/** `neo4j-admin database dump --to-path=<dir> <db>`: writes `<dir>/<db>.dump` (staging: Neo4j offline only for this). */
export async function dumpNeo4jToDirectory(
  executor: Executor,
  database: string,
  directory: string,
  options: AdminOptions = {},
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: ["neo4j-admin", "database", "dump", `--to-path=${directory}`, database],
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: `neo4j-admin database dump of ${database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}

/** `neo4j-admin database load --from-path=<dir>` of `<dir>/<db>.dump` (a staged dump). */
export async function loadNeo4jFromDirectory(
  executor: Executor,
  database: string,
  directory: string,
  options: AdminOptions = {},
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: [
        "neo4j-admin",
        "database",
        "load",
        `--from-path=${directory}`,
        "--overwrite-destination=true",
        database,
      ],
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: `neo4j-admin database load of ${database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}

/** `neo4j-admin database migrate --to-format=block <db>` (restore's --migrate-format). */
export async function migrateNeo4jFormat(
  executor: Executor,
  database: string,
  options: AdminOptions = {},
): Promise<void> {
  await runCommand(
    executor,
    {
      argv: ["neo4j-admin", "database", "migrate", "--expand-commands", "--to-format=block", database],
      ...(options.user ? { user: options.user } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    { what: `neo4j-admin database migrate of ${database}`, failureCode: "DATABASE_COMMAND_FAILED" },
  );
}
