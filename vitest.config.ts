import { defineConfig } from "vitest/config";
import CostFirstSequencer from "./tools/vitest/cost-first-sequencer.js";

export default defineConfig({
  test: {
    projects: ["packages/*", "e2e", "charts", "bench", "examples"],
    sequence: { sequencer: CostFirstSequencer },
  },
});
