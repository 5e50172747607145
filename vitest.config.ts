import { defineConfig } from "vitest/config";
import CostFirstSequencer from "./tools/vitest/cost-first-sequencer.js";

export default defineConfig({
  test: {
    projects: ["packages/*", "e2e", "charts"],
    // Vitest's run-mode default is one worker fewer than the cores: on the 2-core CI machine that is one,
    // and the suite's heavy files mostly wait on JVM starts and the network, so both cores are used.
    maxWorkers: "100%",
    sequence: { sequencer: CostFirstSequencer },
  },
});
