// ci-cost: 115 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// Keeps the harness from rotting: the whole `pnpm bench` path at a tiny size, one run, one kind; every
// scenario runs, but with --lazy-neo4j-start the data import and both offline baselines share one Neo4j
// stop (four Neo4j starts in all instead of seven: the figures are not what this test checks).
import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type TempDir, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const benchDir = fileURLToPath(new URL("..", import.meta.url));
let out: TempDir;
let result: ReturnType<typeof spawnSync>;

beforeAll(async () => {
  out = await tempDir("ihb-bench-smoke-");
  result = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=source",
      "src/main.ts",
      "--sizes",
      "1MiB",
      "--runs",
      "1",
      "--kinds",
      "random",
      "--lazy-neo4j-start",
      "--out",
      out.path,
    ],
    { cwd: benchDir, encoding: "utf8", timeout: 560_000, killSignal: "SIGINT" },
  );
}, 600_000);

afterAll(async () => {
  await out?.[Symbol.asyncDispose]();
});

interface BenchJson {
  loadAverage: { before: number[]; after: number[] };
  rows: Array<{
    scenario: string;
    wallMs: number;
    peakRssBytes: number;
    diskWriteBytes?: number;
    downtimeMs?: number;
  }>;
  ratios: Array<{ createVsRaw: number; restoreVsReadLoad: number }>;
}

describe("pnpm bench --sizes 1MiB --runs 1 --kinds random --lazy-neo4j-start", () => {
  it("exits 0 and prints the tables", () => {
    expect(result.stderr).not.toMatch(/Error:/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\| random \| 1MiB \| ours-create /);
    expect(result.stdout).toMatch(/create\/raw/);
  });

  it("writes JSON with every scenario measured and a PNG", async () => {
    const files = await readdir(out.path);
    const json = files.find((f) => f.endsWith(".json"));
    const png = files.find((f) => f.endsWith(".png"));
    expect(json && png).toBeTruthy();
    const data = JSON.parse(await readFile(join(out.path, json ?? ""), "utf8")) as BenchJson;
    expect(data.rows.map((r) => r.scenario).sort()).toEqual(
      ["naive-create", "ours-create", "ours-restore", "raw-dump", "raw-load"].sort(),
    );
    for (const row of data.rows) expect(row.wallMs).toBeGreaterThan(0);
    const ours = data.rows.find((r) => r.scenario === "ours-create");
    expect(ours?.peakRssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(ours?.diskWriteBytes).toBeTypeOf("number");
    expect(ours?.downtimeMs).toBeGreaterThan(0);
    expect(data.ratios[0]?.createVsRaw).toBeGreaterThan(0);
    expect(data.loadAverage.before).toHaveLength(3);
    const header = (await readFile(join(out.path, png ?? ""))).subarray(0, 8);
    expect(header).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });
});
