// A run stopped by SIGTERM still reports its failure, but tries each receiver once: a pod's grace period
// (30 s by default) is shorter than three attempts at a receiver that hangs.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildCli, jsonLines, removeCli, startCli, stderrIncludes } from "./cli-process.js";
import { startWebhookReceiverDouble } from "./webhook-receiver-double.js";

beforeAll(() => buildCli(), 120_000);
afterAll(() => removeCli());

it("SIGTERM while restore sleeps: exit 143, one attempt at the hanging webhook, a warning", async () => {
  await using dir = await tempDir("ihb-cli-monitoring-signal-");
  await using hanging = await startWebhookReceiverDouble("hang");
  const archive = join(dir.path, "infrahub_backup_20260101_000000.tar.gz");
  await writeFile(archive, "not read before the sleep");
  const config = join(dir.path, "local.json");
  await writeFile(config, JSON.stringify({ services: {}, neo4j: { pidFile: join(dir.path, "x.pid") } }));
  const { child, result } = startCli([
    "restore",
    archive,
    "--local-config",
    config,
    "--sleep",
    "60s",
    "--notify-webhook",
    hanging.url,
    "--monitoring-timeout",
    "2s",
    "--log-format",
    "json",
  ]);
  await stderrIncludes(child, "Sleeping before restore");
  const signalled = Date.now();
  child.kill("SIGTERM");
  const r = await result;
  expect(r.code).toBe(143);
  expect(Date.now() - signalled).toBeLessThan(8_000);
  expect(hanging.requests).toHaveLength(1);
  expect(jsonLines(r.stderr).find((l) => l.code === "NOTIFICATION_NOT_SENT")?.msg).toBe(
    "webhook 1 of 1 not notified: no answer within 2 s (1 attempt)",
  );
  expect(r.stderr).not.toContain(hanging.url);
}, 60_000);
