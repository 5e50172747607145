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
