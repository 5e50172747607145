import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cliVersion } from "./index.js";

describe("infrahub-backup bin", () => {
  it("prints the package version through the built bin shim", () => {
    const bin = fileURLToPath(new URL("../bin/infrahub-backup.js", import.meta.url));
    const out = execFileSync(process.execPath, [bin, "version"], { encoding: "utf8" });
    expect(out.trim()).toBe(cliVersion());
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
