// Every flag and env value is checked while the command line is parsed — before any environment, database
// or store is touched — and a refusal says what was wrong, where it came from, and what to use instead.
// The parser is pure, so these run it directly; exit-codes.test.ts runs the built CLI for the exit status.
import { describe, expect, it } from "vitest";
import { type ParsedCommand, parseCommandLine } from "../src/parse.js";

const parse = (argv: string[], env: Record<string, string> = {}): ParsedCommand => {
  const r = parseCommandLine(argv, { env, cwd: "/work", version: "9.9.9" });
  if (r.kind !== "command") throw new Error(`expected a command, got output:\n${r.text}`);
  return r.command;
};

const refusal = (argv: string[], env: Record<string, string> = {}) => {
  try {
    parseCommandLine(argv, { env, cwd: "/work", version: "9.9.9" });
  } catch (error) {
    return error as { code: string; message: string; hint?: string; category: string };
  }
  throw new Error(`expected ${argv.join(" ")} to be refused`);
};

const SECRET = "Pa55-w0rd-secret";

const refused: {
  name: string;
  argv: string[];
  env?: Record<string, string>;
  code: string;
  message: string | RegExp;
  hint?: string | RegExp;
}[] = [
  {
    name: "INFRAHUB_LOG_FORMAT=xml (was silently text)",
    argv: ["list"],
    env: { INFRAHUB_LOG_FORMAT: "xml" },
    code: "INVALID_CONFIG",
    message: 'invalid INFRAHUB_LOG_FORMAT "xml"',
    hint: "use text or json",
  },
  {
    name: "--log-format xml",
    argv: ["list", "--log-format", "xml"],
    code: "INVALID_ARGUMENT",
    message: 'invalid --log-format "xml"',
    hint: "use text or json",
  },
  {
    name: "--sleep -5m (was 'Unknown arguments: 5, m')",
    argv: ["create", "--sleep", "-5m"],
    code: "INVALID_ARGUMENT",
    message: '--sleep must not be negative, got "-5m"',
    hint: /Go duration/,
  },
  {
    name: "INFRAHUB_SLEEP=-5m",
    argv: ["create"],
    env: { INFRAHUB_SLEEP: "-5m" },
    code: "INVALID_CONFIG",
    message: 'INFRAHUB_SLEEP must not be negative, got "-5m"',
  },
  {
    name: "restore --sleep -1s",
    argv: ["restore", "a.tar.gz", "--sleep", "-1s"],
    code: "INVALID_ARGUMENT",
    message: /--sleep must not be negative/,
  },
  {
    name: "--s3-part-size 1KB (was refused only after the preflight)",
    argv: ["create", "--s3-upload", "--s3-part-size", "1KB"],
    code: "INVALID_ARGUMENT",
    message: `--s3-part-size must be between 5MiB and 5GiB (S3's part limits), got "1KB"`,
    hint: /16MiB/,
  },
  {
    name: "--s3-part-size 6GiB",
    argv: ["create", "--s3-upload", "--s3-part-size", "6GiB"],
    code: "INVALID_ARGUMENT",
    message: /--s3-part-size must be between 5MiB and 5GiB/,
  },
  {
    name: "INFRAHUB_S3_PART_SIZE=4MiB",
    argv: ["create", "--s3-upload"],
    env: { INFRAHUB_S3_PART_SIZE: "4MiB" },
    code: "INVALID_CONFIG",
    message: /^INFRAHUB_S3_PART_SIZE must be between 5MiB and 5GiB/,
  },
  {
    name: "--s3-max-parts 20000 (was refused only after the preflight)",
    argv: ["create", "--s3-upload", "--s3-max-parts", "20000"],
    code: "INVALID_ARGUMENT",
    message: "--s3-max-parts must be an integer from 1 to 10000, got 20000",
  },
  {
    name: "--s3-max-parts 0",
    argv: ["list", "--s3-max-parts", "0"],
    code: "INVALID_ARGUMENT",
    message: /--s3-max-parts must be an integer from 1 to 10000/,
  },
  {
    name: "--neo4jmetadata garbage (was accepted)",
    argv: ["create", "--neo4jmetadata", "garbage"],
    code: "INVALID_ARGUMENT",
    message: 'invalid --neo4jmetadata "garbage"',
    hint: "use all, none, users or roles",
  },
  {
    name: "--staging anywhere",
    argv: ["restore", "--latest", "--staging", "anywhere"],
    code: "INVALID_ARGUMENT",
    message: 'invalid --staging "anywhere"',
    hint: "use auto, container or none",
  },
  {
    name: "INFRAHUB_NEO4JMETADATA=everything",
    argv: ["create"],
    env: { INFRAHUB_NEO4JMETADATA: "everything" },
    code: "INVALID_CONFIG",
    message: 'invalid INFRAHUB_NEO4JMETADATA "everything"',
  },
  {
    name: "a malformed PREFECT_SERVER_DATABASE_CONNECTION_URL on the host (was silently ignored)",
    argv: ["create"],
    env: { PREFECT_SERVER_DATABASE_CONNECTION_URL: `postgresql+asyncpg://prefect:${SECRET}@db:port/server` },
    code: "INVALID_CONFIG",
    message:
      "PREFECT_SERVER_DATABASE_CONNECTION_URL in the host environment is not a valid PostgreSQL connection URL: it does not parse as a URL",
    hint: /postgresql\+asyncpg:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/,
  },
  {
    name: "a non-PostgreSQL PREFECT_API_DATABASE_CONNECTION_URL on restore",
    argv: ["restore", "a.tar.gz"],
    env: { PREFECT_API_DATABASE_CONNECTION_URL: `sqlite+aiosqlite:///${SECRET}.db` },
    code: "INVALID_CONFIG",
    message:
      /^PREFECT_API_DATABASE_CONNECTION_URL in the host environment is not a valid PostgreSQL connection URL: its scheme is "sqlite\+aiosqlite"/,
  },
  {
    name: "--s3-connect-timeout without a unit",
    argv: ["list", "--s3-connect-timeout", "15"],
    code: "INVALID_ARGUMENT",
    message: 'invalid duration "15" for --s3-connect-timeout',
  },
  {
    name: "--s3-idle-timeout 0",
    argv: ["list", "--s3-idle-timeout", "0"],
    code: "INVALID_ARGUMENT",
    message: '--s3-idle-timeout must be between 100ms and 24h, got "0"',
  },
  {
    name: "INFRAHUB_S3_REQUEST_TIMEOUT=50ms",
    argv: ["list"],
    env: { INFRAHUB_S3_REQUEST_TIMEOUT: "50ms" },
    code: "INVALID_CONFIG",
    message: 'INFRAHUB_S3_REQUEST_TIMEOUT must be between 100ms and 24h, got "50ms"',
  },
  {
    name: "--s3-max-attempts 0",
    argv: ["list", "--s3-max-attempts", "0"],
    code: "INVALID_ARGUMENT",
    message: "--s3-max-attempts must be an integer from 1 to 20, got 0",
  },
  {
    name: "INFRAHUB_S3_MAX_ATTEMPTS=many",
    argv: ["list"],
    env: { INFRAHUB_S3_MAX_ATTEMPTS: "many" },
    code: "INVALID_CONFIG",
    message: 'INFRAHUB_S3_MAX_ATTEMPTS needs a number, got "many"',
  },
  {
    name: "--s3-endpoint without http(s)",
    argv: ["list", "--s3", "--s3-endpoint", "ftp://minio:9000"],
    code: "INVALID_ENDPOINT",
    message: /invalid S3 endpoint: "ftp:\/\/minio:9000"/,
  },
  {
    name: "an impossible bucket name",
    argv: ["list", "--s3"],
    env: { INFRAHUB_S3_BUCKET: "a" },
    code: "INVALID_CONFIG",
    message: 'invalid S3 bucket name in INFRAHUB_S3_BUCKET: "a"',
  },
  {
    name: "INFRAHUB_PROGRESS_INTERVAL=fast",
    argv: ["list"],
    env: { INFRAHUB_PROGRESS_INTERVAL: "fast" },
    code: "INVALID_CONFIG",
    message: 'invalid INFRAHUB_PROGRESS_INTERVAL "fast"',
  },
  {
    name: "--stale-upload-age -1h",
    argv: ["prune", "--retention-count", "3", "--stale-upload-age", "-1h"],
    code: "INVALID_ARGUMENT",
    message: '--stale-upload-age must not be negative, got "-1h"',
  },
  {
    name: "INFRAHUB_RETENTION_COUNT=0",
    argv: ["create"],
    env: { INFRAHUB_RETENTION_COUNT: "0" },
    code: "INVALID_CONFIG",
    message: "INFRAHUB_RETENTION_COUNT must be an integer ≥ 1, got 0",
  },
];

describe("bad flag and env values are refused at parse time, with a stable code and a hint", () => {
  it.each(refused)("$name", ({ argv, env, code, message, hint }) => {
    const error = refusal(argv, env);
    expect(error.category).toBe("usage");
    expect(error.code).toBe(code);
    if (typeof message === "string") expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(error.hint, "every refusal says what to do").toBeTruthy();
    if (hint !== undefined) expect(error.hint).toMatch(hint);
    expect(error.message).not.toContain(SECRET);
    expect(String(error.hint)).not.toContain(SECRET);
  });
});

describe("the values that are accepted", () => {
  it("S3 deadlines from flags and env; unset means the library's defaults", () => {
    const flags = parse([
      "list",
      "--s3-connect-timeout",
      "2s",
      "--s3-request-timeout",
      "30s",
      "--s3-idle-timeout",
      "1m30s",
      "--s3-max-attempts",
      "5",
    ]);
    expect(flags.global.s3).toMatchObject({
      connectTimeoutMs: 2_000,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 90_000,
      maxAttempts: 5,
    });
    const fromEnv = parse(["list"], {
      INFRAHUB_S3_CONNECT_TIMEOUT: "500ms",
      INFRAHUB_S3_REQUEST_TIMEOUT: "20s",
      INFRAHUB_S3_IDLE_TIMEOUT: "45s",
      INFRAHUB_S3_MAX_ATTEMPTS: "1",
    });
    expect(fromEnv.global.s3).toMatchObject({
      connectTimeoutMs: 500,
      requestTimeoutMs: 20_000,
      idleTimeoutMs: 45_000,
      maxAttempts: 1,
    });
    expect(parse(["list"]).global.s3).toMatchObject({
      connectTimeoutMs: undefined,
      requestTimeoutMs: undefined,
      idleTimeoutMs: undefined,
      maxAttempts: undefined,
    });
  });

  it("--stale-upload-age: 24h by default, 0 disables, env or flag", () => {
    const create = parse(["create"]);
    expect(create.command === "create" && create.staleUploadAgeMs).toBe(86_400_000);
    const off = parse(["prune", "--retention-count", "2", "--stale-upload-age", "0"]);
    expect(off.command === "prune" && off.staleUploadAgeMs).toBe(0);
    const env = parse(["prune", "--retention-count", "2"], { INFRAHUB_STALE_UPLOAD_AGE: "72h" });
    expect(env.command === "prune" && env.staleUploadAgeMs).toBe(259_200_000);
  });

  it("each documented --neo4jmetadata value; the log formats text and json", () => {
    for (const value of ["all", "none", "users", "roles"]) {
      const cmd = parse(["create", "--neo4jmetadata", value]);
      expect(cmd.command === "create" && cmd.neo4jMetadata).toBe(value);
    }
    for (const value of ["auto", "container", "none"]) {
      const cmd = parse(["restore", "--latest", "--staging", value]);
      expect(cmd.command === "restore" && cmd.staging).toBe(value);
    }
    const fromEnv = parse(["create"], { INFRAHUB_STAGING: "none" });
    expect(fromEnv.command === "create" && fromEnv.staging).toBe("none");
    expect(parse(["list"], { INFRAHUB_LOG_FORMAT: "json" }).global.logFormat).toBe("json");
    expect(parse(["list", "--log-format", "text"]).global.logFormat).toBe("text");
  });

  it("a positive --sleep; a valid Prefect URL, or a malformed one with --exclude-taskmanager", () => {
    const cmd = parse(["create", "--sleep", "90s"]);
    expect(cmd.command === "create" && cmd.sleepMs).toBe(90_000);
    const url = "postgresql+asyncpg://prefect:pw@db:5432/server";
    expect(parse(["create"], { PREFECT_SERVER_DATABASE_CONNECTION_URL: url }).command).toBe("create");
    expect(
      parse(["create", "--exclude-taskmanager"], { PREFECT_SERVER_DATABASE_CONNECTION_URL: "garbage" })
        .command,
    ).toBe("create");
  });
});
