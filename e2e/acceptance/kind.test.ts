// Acceptance scenarios (issue 11) on kind with real images: run by .github/workflows/e2e-kind.yml after
// it created the cluster, loaded the image and installed MinIO and the upstream infrahub chart. Skipped,
// saying why, where there is no kind/Docker (every machine but the workflow's runner).
import { afterAll, beforeAll, describe, it } from "vitest";
import { KindDriver, kindUnavailable } from "./kind-driver.js";
import { defineAcceptanceScenarios } from "./scenarios.js";

const unavailable = kindUnavailable();

if (unavailable) {
  describe("acceptance scenarios on kind", () => {
    it.skip(`skipped: ${unavailable}; runs in .github/workflows/e2e-kind.yml`, () => undefined);
  });
} else {
  let driver: KindDriver | undefined;
  beforeAll(async () => {
    driver = await KindDriver.start();
  }, 600_000);
  afterAll(async () => {
    await driver?.[Symbol.asyncDispose]();
  }, 120_000);
  defineAcceptanceScenarios(() => {
    if (!driver) throw new Error("the kind driver did not start");
    return driver;
  });
}
