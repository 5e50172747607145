// ci-cost: 20 s (measured alone; tools/vitest/cost-first-sequencer.ts runs costly files first)
// What only the library shows cheaply: a load failure cleans up after itself, and the agent transport's
// setup timeout. The happy paths are proved end to end where users meet them (no throwaway databases
// started here): the local drill with its check values, typed lines and metrics by packages/cli/test/
// drill.test.ts (Community archive with the task manager; a failing user check); the agents' path, the
// key Secret decrypting an archive without the task manager (PostgreSQL skipped and said so) and a dump
// that is not a store failing through the agent's neo4j-admin by charts/tests/drill-run.test.ts.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findProcesses, postgresBin, type TempDir, tempDir, toolDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackupFromFiles } from "../operations/create-from-files.js";
import type { OperationEvent } from "../operations/events.js";
import { LocalStore } from "../storage/local-store.js";
import { type DrillBackupOptions, drillBackup } from "./drill-backup.js";
import { DRILL_PROCESS_VARIABLE } from "./server-process.js";

let dir: TempDir;
let store: LocalStore;
/** A Neo4j dump with the right magic that passes its checksum in the archive but is not a store. */
let garbageDump: string;

beforeAll(async () => {
  dir = await tempDir("ihb-drill-");
  await mkdir(join(dir.path, "garbage"));
  garbageDump = join(dir.path, "garbage", "neo4j.dump");
  await writeFile(garbageDump, Buffer.concat([Buffer.from("DZV1"), randomBytes(200_000)]));
  store = new LocalStore({ directory: join(dir.path, "store") });
});

afterAll(async () => {
  await dir?.[Symbol.asyncDispose]();
});

async function drill(name: string, extra: Partial<DrillBackupOptions> = {}) {
  const events: OperationEvent[] = [];
  await using work = await tempDir("ihb-drill-work-");
  // PostgreSQL runs unprivileged when the tests run as root: it must traverse the work directory.
  await chmod(work.path, 0o711);
  const outcome = await drillBackup({
    store,
    name,
    neo4j: { home: toolDir("neo4j", "NEO4J_VERSION") },
    postgres: { binDir: postgresBin("postgres").replace(/\/postgres$/, "") },
    workDir: work.path,
    onEvent: (event) => events.push(event),
    ...extra,
  }).then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error as Error & { code?: string } }),
  );
  // Nothing left behind: no process of this drill, an empty work directory.
  const leftovers = findProcesses(
    (p) => p.env[DRILL_PROCESS_VARIABLE] !== undefined && p.argv.join(" ").includes(work.path),
  );
  const leftoverNeo4j = findProcesses((p) => (p.env.NEO4J_CONF ?? "").startsWith(work.path));
  expect([...leftovers, ...leftoverNeo4j]).toEqual([]);
  expect(await readdir(work.path)).toEqual([]);
  return { ...outcome, events };
}

// Each drill starts a Neo4j JVM and runs cypher-shell JVMs: minutes on a busy 2-core machine.
describe("drillBackup (throwaway Neo4j + PostgreSQL)", { timeout: 400_000 }, () => {
  it("a dump that passes its checksum but is not a store: DRILL_LOAD_FAILED, and nothing is left behind", async () => {
    const { name } = await createBackupFromFiles({ store, toolVersion: "t", neo4jPath: garbageDump });
    const { error } = await drill(name);
    expect(error?.code).toBe("DRILL_LOAD_FAILED");
    expect(error?.message).toMatch(/database\/neo4j\.dump does not load/);
  });
});

// The Kubernetes drill's transport, without Kubernetes (the agents themselves run in drill-run.test.ts).
describe("drillBackup through the drill agents (--drill-exchange-dir)", () => {
  it("no agent: DRILL_SETUP_FAILED once the agent timeout has passed, naming the container", async () => {
    await using work = await tempDir("ihb-drill-exchange-");
    const { name } = await createBackupFromFiles({
      store,
      toolVersion: "t",
      neo4jPath: garbageDump,
      now: () => new Date("2021-01-01T00:00:03Z"),
    });
    const started = Date.now();
    const error = await drillBackup({
      store,
      name,
      neo4j: {},
      exchange: { dir: work.path, agentTimeoutMs: 2_000 },
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.code).toBe("DRILL_SETUP_FAILED");
    expect(error?.message).toMatch(/drill's neo4j agent did not show up/);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The agents that come late are told to stop at once.
    expect((await stat(join(work.path, "done"))).isFile()).toBe(true);
  });
});
