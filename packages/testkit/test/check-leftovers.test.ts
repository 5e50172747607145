import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../src/toolchain.js";

const script = join(repoRoot, "tools/check-leftovers.sh");

describe("tools/check-leftovers.sh", () => {
  it("reports a testkit process of this run, and ignores one of another run", () => {
    const run = `test-${process.pid}-${Date.now()}`;
    // A stand-in for a service a test forgot to stop: marked as the testkit marks its processes.
    const forgotten = spawn("sleep", ["30"], {
      env: { ...process.env, IHB_TESTKIT_PROCESS: "forgotten", IHB_TEST_RUN: run },
      stdio: "ignore",
    });
    try {
      const ours = spawnSync("bash", [script], {
        env: { ...process.env, IHB_TEST_RUN: run },
        encoding: "utf8",
      });
      expect(ours.status).toBe(1);
      expect(ours.stderr).toContain(`pid ${forgotten.pid} (forgotten)`);
      const other = spawnSync("bash", [script], {
        env: { ...process.env, IHB_TEST_RUN: `${run}-other` },
        encoding: "utf8",
      });
      expect(other.stderr).not.toContain(`pid ${forgotten.pid} (forgotten)`);
    } finally {
      forgotten.kill("SIGKILL");
    }
  });
});
