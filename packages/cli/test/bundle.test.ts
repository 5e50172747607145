// The single-file bundle for the image: built with esbuild, runs `version` and `--help` on its own.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliVersion } from "../src/index.js";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
let isolated: string;
let bundle: string;

describe("bundled CLI", () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(pkgDir, "scripts/bundle.mjs")], { cwd: pkgDir, stdio: "pipe" });
    // Copy it out of the repository: it must not need node_modules or package.json next to it.
    isolated = mkdtempSync(join(tmpdir(), "ihb-bundle-"));
    bundle = join(isolated, "infrahub-backup.mjs");
    cpSync(join(pkgDir, "dist/bundle/infrahub-backup.mjs"), bundle);
  });
  afterAll(() => rmSync(isolated, { recursive: true, force: true }));

  it("prints its version", () => {
    const out = execFileSync(process.execPath, [bundle, "version"], { encoding: "utf8", cwd: isolated });
    expect(out.trim()).toBe(cliVersion());
  });

  it("prints help with the exit-status table", () => {
    const out = execFileSync(process.execPath, [bundle, "--help"], { encoding: "utf8", cwd: isolated });
    expect(out).toContain("infrahub-backup <command>");
    expect(out).toContain("EXIT STATUS");
  });

  it("is Latin-1 only, so V8 holds its source at one byte per character", () => {
    const source = readFileSync(bundle, "utf8");
    const wide = [...source].findIndex((c) => (c.codePointAt(0) ?? 0) > 0xff);
    expect(wide === -1 ? "" : source.slice(Math.max(0, wide - 60), wide + 20)).toBe("");
  });

  it("runs as an executable (shebang)", () => {
    const out = execFileSync(bundle, ["version"], { encoding: "utf8", cwd: isolated });
    expect(out.trim()).toBe(cliVersion());
  });
});
