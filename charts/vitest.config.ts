import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["source"] },
  test: { name: "charts", include: ["tests/**/*.test.ts"], testTimeout: 120_000 },
});
