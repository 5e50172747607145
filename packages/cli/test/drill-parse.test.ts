// `drill`'s command line, parsed without running anything.
import { describe, expect, it } from "vitest";
import { type ParsedCommand, parseCommandLine } from "../src/parse.js";

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseCommandLine(argv, { env, cwd: "/cwd", version: "0.0.0" });
  if (r.kind !== "command" || r.command.command !== "drill") throw new Error("not a drill command");
  return r.command as Extract<ParsedCommand, { command: "drill" }>;
};

describe("drill command line", () => {
  it("flags and INFRAHUB_DRILL_* variables, flag first; NEO4J_HOME as the last resort", () => {
    const cmd = parse(["drill", "--latest", "--s3", "--drill-neo4j-heap", "2g"], {
      NEO4J_HOME: "/var/lib/neo4j",
      INFRAHUB_DRILL_NEO4J_HEAP: "1g",
      INFRAHUB_DRILL_PG_BIN: "/usr/lib/postgresql/15/bin",
      INFRAHUB_DRILL_START_TIMEOUT: "5m",
    });
    expect(cmd).toMatchObject({
      source: { kind: "latest", s3: true },
      neo4jHome: "/var/lib/neo4j",
      neo4jHeap: "2g",
      pgBin: "/usr/lib/postgresql/15/bin",
      startTimeoutMs: 300_000,
      checks: [],
    });
    expect(
      parse(["drill", "a.tar.gz"], { INFRAHUB_DRILL_NEO4J_HOME: "/opt/neo4j", NEO4J_HOME: "/x" }).neo4jHome,
    ).toBe("/opt/neo4j");
  });

  it("--check-cypher / --check-sql split at the last ==; a check without one is refused", () => {
    const cmd = parse([
      "drill",
      "a.tar.gz",
      "--check-cypher",
      "MATCH (n) WHERE n.x = 1 RETURN count(n) == 3",
      "--check-sql",
      "SELECT 'a==b'==a==b",
    ]);
    expect(cmd.checks).toEqual([
      { name: "cypher-flag", cypher: "MATCH (n) WHERE n.x = 1 RETURN count(n)", expect: "3" },
      { name: "sql-flag", sql: "SELECT 'a==b'==a", expect: "b" },
    ]);
    expect(() => parse(["drill", "a.tar.gz", "--check-cypher", "RETURN 1"])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => parse(["drill", "a.tar.gz", "--latest"])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
