// --wait-ready (create, restore) and --request-id (restore): parsed and checked up front like every flag;
// against an environment that cannot wait or record (a local config), the command refuses with exit 2
// before anything is touched. The waiting and the record themselves run against a real API server in
// packages/core/test/kubernetes-scale-watch.test.ts and the acceptance scenarios (fresh install).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ParsedCommand, parseCommandLine } from "../src/parse.js";
import { buildCli, cleanEnv, removeCli, runCli } from "./cli-process.js";

const ctx = { cwd: "/work", version: "9.9.9" };
const parse = (argv: string[], env: Record<string, string> = {}): ParsedCommand => {
  const r = parseCommandLine(argv, { env, ...ctx });
  if (r.kind !== "command") throw new Error(`expected a command, got output:\n${r.text}`);
  return r.command;
};
/** The error a refused command line throws. */
const refusal = (argv: string[], env: Record<string, string> = {}): unknown => {
  let thrown: unknown;
  expect(() => {
    try {
      parseCommandLine(argv, { env, ...ctx });
    } catch (error) {
      thrown = error;
      throw error;
    }
  }).toThrow();
  return thrown;
};

describe("parsing", () => {
  it("--wait-ready is a Go duration (flag or INFRAHUB_WAIT_READY), 0 by default", () => {
    const restore = parse(["restore", "s3://b/k.tar.gz", "--wait-ready", "10m"]);
    expect(restore.command === "restore" && restore.waitReadyMs).toBe(600_000);
    const create = parse(["create"], { INFRAHUB_WAIT_READY: "90s" });
    expect(create.command === "create" && create.waitReadyMs).toBe(90_000);
    const none = parse(["restore", "s3://b/k.tar.gz"]);
    expect(none.command === "restore" && none.waitReadyMs).toBe(0);
  });

  it("a bad --wait-ready or INFRAHUB_WAIT_READY is refused, naming where it came from", () => {
    expect(refusal(["restore", "s3://b/k", "--wait-ready", "ten minutes"])).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("--wait-ready"),
    });
    expect(refusal(["create"], { INFRAHUB_WAIT_READY: "-5m" })).toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringContaining("INFRAHUB_WAIT_READY"),
    });
  });

  it("--request-id (or INFRAHUB_RESTORE_REQUEST_ID) takes a short token; anything else is refused", () => {
    const r = parse(["restore", "s3://b/k"], { INFRAHUB_RESTORE_REQUEST_ID: "3f2a9c1b7e" });
    expect(r.command === "restore" && r.requestId).toBe("3f2a9c1b7e");
    expect(refusal(["restore", "s3://b/k", "--request-id", "a b"])).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: 'invalid --request-id "a b"',
      hint: "use up to 128 letters, digits, dots, underscores or dashes",
    });
  });
});

describe("an environment that cannot wait or record refuses the flags (exit 2, nothing touched)", () => {
  let dir: string;
  beforeAll(() => {
    buildCli();
    dir = mkdtempSync(join(tmpdir(), "ihb-wait-ready-"));
    writeFileSync(
      join(dir, "local.json"),
      JSON.stringify({ services: { database: {} }, neo4j: { pidFile: join(dir, "neo4j.pid") } }),
    );
    writeFileSync(join(dir, "archive.tar.gz"), "not read: refused before");
  });
  afterAll(() => {
    removeCli();
    rmSync(dir, { recursive: true, force: true });
  });

  it("create --wait-ready on a local environment", async () => {
    const res = await runCli(
      ["create", "--local-config", join(dir, "local.json"), "--backup-dir", dir, "--wait-ready", "1m"],
      { env: cleanEnv() },
    );
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain('--wait-ready is not supported for the local environment "local"');
  });
});
