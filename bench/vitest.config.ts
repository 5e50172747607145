import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["source"] },
  test: { name: "bench", include: ["test/**/*.test.ts"], testTimeout: 600_000, hookTimeout: 600_000 },
});
