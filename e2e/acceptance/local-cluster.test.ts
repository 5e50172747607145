// ci-cost: 450 s (380 s measured alone on an idle 2-core machine, plus issue 23's F1-F3: ~100 s at load 13-15; tools/vitest/cost-first-sequencer.ts runs costly files first)
// Acceptance scenarios (issue 11) on the local cluster: one cluster, one Infrahub stack, one fixture for
// the whole file; scenarios in sequence.
import { afterAll, beforeAll } from "vitest";
import { LocalClusterDriver } from "./local-cluster-driver.js";
import { defineAcceptanceScenarios } from "./scenarios.js";

let driver: LocalClusterDriver | undefined;
const started = Date.now();

beforeAll(async () => {
  driver = await LocalClusterDriver.start();
  console.log(
    `acceptance: local cluster, stack and fixture ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}, 600_000);

afterAll(async () => {
  await driver?.[Symbol.asyncDispose]();
  console.log(`acceptance: whole file ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 180_000);

defineAcceptanceScenarios(() => {
  if (!driver) throw new Error("the local cluster driver did not start");
  return driver;
});
