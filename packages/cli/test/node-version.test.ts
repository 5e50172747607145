// The Node.js version guard: the CLI run by an older Node.js (the machine's own, outside tools/env.sh)
// says which version it needs and exits 2, through both entry points — the npm package's bin (which
// imports the compiled dist/, built before the tests) and the single-file bundle of the image.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "@infrahub-backup/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSupportedNode, MIN_NODE_VERSION, unsupportedNodeError } from "../src/node-version.js";
import { buildCli, bin as bundle, cleanEnv, pkgDir, removeCli } from "./cli-process.js";

const packageBin = join(pkgDir, "bin", "infrahub-backup.js");

/**
 * A Node.js older than the CLI needs: `$IHB_OLD_NODE`, else the first `node` on the PATH outside the
 * toolchain (Debian's /usr/bin/node is 20.x on the machines this is built on) that is too old.
 */
function findOldNode(): { path: string; version: string } | undefined {
  const candidates = [process.env.IHB_OLD_NODE, "/usr/bin/node", "/usr/local/bin/node", "/bin/node"];
  for (const path of candidates) {
    if (!path || !existsSync(path)) continue;
    const version = execFileSync(path, ["--version"], { encoding: "utf8" }).trim();
    if (!isSupportedNode(version)) return { path, version };
  }
  return undefined;
}

const oldNode = findOldNode();

describe("Node.js version guard", () => {
  it("requires what package.json's engines field says", () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE_VERSION.replace(/\.0$/, "")}`);
    expect(ERROR_CODES).toContain(unsupportedNodeError("20.0.0", "node").code);
  });

  it("compares versions numerically", () => {
    expect(isSupportedNode("v24.21.0")).toBe(true);
    expect(isSupportedNode("22.19.0")).toBe(true);
    expect(isSupportedNode("22.100.1")).toBe(true);
    expect(isSupportedNode("23.0.0")).toBe(true);
    expect(isSupportedNode("22.18.9")).toBe(false);
    expect(isSupportedNode("v20.20.2")).toBe(false);
    expect(isSupportedNode("9.99.99")).toBe(false);
  });

  describe.skipIf(oldNode === undefined)(`run by ${oldNode?.path} ${oldNode?.version}`, () => {
    beforeAll(() => buildCli());
    afterAll(() => removeCli());
    const old = oldNode as { path: string; version: string };

    it.each([
      ["the npm package's bin", packageBin],
      ["the bundle", bundle],
    ])("%s says which Node.js it needs and exits 2", (_what, entry) => {
      const r = spawnSync(old.path, [entry, "create", "--s3-upload"], { env: cleanEnv(), encoding: "utf8" });
      expect(r.stderr).toBe(
        `Error: Node.js ≥ 22.19 is required; this is Node.js ${old.version} (${old.path})\n` +
          "Hint: install Node.js 22.19 or later (24 LTS recommended) and run infrahub-backup with it, or use the container image\n",
      );
      expect(r.stdout).toBe("");
      expect(r.status).toBe(2);
    });

    it("with --log-format json the refusal is one JSON error line", () => {
      const r = spawnSync(old.path, [packageBin, "list", "--log-format", "json"], {
        env: cleanEnv(),
        encoding: "utf8",
      });
      expect(r.status).toBe(2);
      expect(JSON.parse(r.stderr)).toMatchObject({
        type: "error",
        code: "NODE_UNSUPPORTED",
        category: "usage",
        exit_code: 2,
        message: expect.stringContaining("Node.js ≥ 22.19 is required"),
      });
    });

    it("the same entry points run under the toolchain's Node.js", () => {
      for (const entry of [packageBin, bundle]) {
        const r = spawnSync(process.execPath, [entry, "version"], { env: cleanEnv(), encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
        expect(r.status).toBe(0);
      }
    });
  });
});
