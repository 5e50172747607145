import type { Readable } from "node:stream";
import { runCommand, type StreamingCommand, streamCommand } from "../../exec/command.js";
import type { ExecRequest, Executor } from "../../exec/executor.js";

/** Magic bytes of a Neo4j 5 dump: zstd (default) or gzip framed. */
export const NEO4J_DUMP_MAGICS = [Buffer.from("DZV1"), Buffer.from("DGV1")] as const;

export interface AdminOptions {
  /** OS user to run neo4j-admin as (upstream: `neo4j` when the exec user is someone else). */
  user?: string;
  /** Extra environment, e.g. `ownedBy(frozen)` so the command is ended with its freeze. */
  env?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/** An `ExecRequest` for neo4j-admin with the options' user, environment and signal. */
function adminRequest(argv: string[], options: AdminOptions, extra: Partial<ExecRequest> = {}): ExecRequest {
  return {
    argv,
    ...(options.env || extra.env ? { env: { ...options.env, ...extra.env } } : {}),
    ...(extra.stdin ? { stdin: extra.stdin } : {}),
    ...(options.user ? { user: options.user } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

const failed = (what: string, database: string) => ({
  what: `neo4j-admin database ${what} of ${database}`,
  failureCode: "DATABASE_COMMAND_FAILED" as const,
});

/** `neo4j-admin database dump --to-stdout <db>` as a stream: no temp file in the container. */
export function dumpNeo4j(
  executor: Executor,
  database: string,
  options: AdminOptions = {},
): StreamingCommand {
  return streamCommand(
    executor,
    adminRequest(["neo4j-admin", "database", "dump", "--to-stdout", database], options),
    failed("dump", database),
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
    adminRequest(
      [
        "sh",
        "-c",
        'head -c "$IHB_INPUT_BYTES" | neo4j-admin database load --from-stdin --overwrite-destination=true "$IHB_DATABASE"',
      ],
      options,
      { env: { IHB_INPUT_BYTES: String(bytes), IHB_DATABASE: database }, stdin: input },
    ),
    failed("load", database),
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
    adminRequest(["neo4j-admin", "database", "dump", `--to-path=${directory}`, database], options),
    failed("dump", database),
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
    adminRequest(
      [
        "neo4j-admin",
        "database",
        "load",
        `--from-path=${directory}`,
        "--overwrite-destination=true",
        database,
      ],
      options,
    ),
    failed("load", database),
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
    adminRequest(
      ["neo4j-admin", "database", "migrate", "--expand-commands", "--to-format=block", database],
      options,
    ),
    failed("migrate", database),
  );
}
