// Golden --help output per command. Regenerate: UPDATE_GOLDEN=1 pnpm exec vitest run test/help-golden.test.ts
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../src/parse.js";

const dir = fileURLToPath(new URL("./golden/", import.meta.url));
const commands: [string, string[]][] = [
  ["root", ["--help"]],
  ["create", ["create", "--help"]],
  ["create-from-files", ["create", "from-files", "--help"]],
  ["restore", ["restore", "--help"]],
  ["verify", ["verify", "--help"]],
  ["drill", ["drill", "--help"]],
  ["list", ["list", "--help"]],
  ["prune", ["prune", "--help"]],
  ["keygen", ["keygen", "--help"]],
  ["environment", ["environment", "--help"]],
  ["environment-detect", ["environment", "detect", "--help"]],
  ["environment-list", ["environment", "list", "--help"]],
  ["version", ["version", "--help"]],
];

describe("golden --help", () => {
  it.each(commands)("%s", (name, argv) => {
    // A clean environment: help text must not depend on the caller's env.
    const r = parseCommandLine(argv, { env: {}, cwd: "/cwd", version: "0.0.0" });
    expect(r.kind).toBe("output");
    const text = r.kind === "output" ? `${r.text}\n` : "";
    expect(text).toContain("EXIT STATUS");
    const file = `${dir}${name}.txt`;
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, text);
    }
    expect(text).toBe(readFileSync(file, "utf8"));
  });
});

describe("each command's help shows the flags it uses", () => {
  const help = (argv: string[]) => {
    const r = parseCommandLine([...argv, "--help"], { env: {}, cwd: "/cwd", version: "0.0.0" });
    return r.kind === "output" ? r.text : "";
  };
  const parse = (argv: string[]) => parseCommandLine(argv, { env: {}, cwd: "/cwd", version: "0.0.0" });

  it("create from-files: its own flags, not create's, and no environment or S3 flags", () => {
    const text = help(["create", "from-files"]);
    expect(text).toContain("--neo4j-path");
    for (const flag of ["--s3-upload", "--redact", "--retention-days", "--retention-count", "--force"]) {
      expect(text).not.toContain(flag);
    }
    expect(text).not.toMatch(/--s3-|--project|--k8s-namespace|--local-config/);
    // And it refuses them instead of silently ignoring them.
    expect(() => parse(["create", "from-files", "--neo4j-path", "x.dump", "--s3-upload"])).toThrow(
      /Unknown argument: s3-upload/,
    );
  });

  it("storage commands show the S3 flags but not the environment ones; keygen and version neither", () => {
    for (const command of ["list", "verify", "prune"]) {
      const text = help([command]);
      expect(text).toContain("--s3-bucket");
      expect(text).not.toMatch(/--project|--k8s-namespace|--local-config/);
    }
    for (const command of ["keygen", "version"]) expect(help([command])).not.toMatch(/--s3-|--project/);
    expect(help(["environment", "detect"])).toContain("--k8s-namespace");
    expect(help(["environment", "detect"])).not.toContain("--s3-");
    expect(help(["create"])).toMatch(/--s3-bucket[\s\S]*--local-config|--local-config[\s\S]*--s3-bucket/);
  });

  it("global flags a command does not read are still accepted (upstream's persistent flags)", () => {
    const r = parse(["keygen", "--s3-bucket", "backups", "--project", "infrahub"]);
    expect(r).toMatchObject({ kind: "command", command: { command: "keygen" } });
  });
});
