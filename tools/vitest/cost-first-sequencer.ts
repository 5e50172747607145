import { open } from "node:fs/promises";
import type { TestSpecification } from "vitest/node";
import { BaseSequencer } from "vitest/node";

/**
 * A test file may declare what it costs with a line `// ci-cost: <seconds> s` near its top (measured on
 * the 2-core CI machine). Declared files run first, most expensive first, so the long ones (a local
 * Kubernetes cluster, many Neo4j restarts) start while the short ones fill the other worker, instead of
 * a 900-byte acceptance module being scheduled last by vitest's file-size fallback (CI always starts
 * from a fresh clone, so there are no cached durations). Files without the line keep vitest's order.
 */
export default class CostFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const costs = new Map(
      await Promise.all(ordered.map(async (f) => [f, await declaredCost(f.moduleId)] as const)),
    );
    return ordered
      .map((file, index) => ({ file, index, cost: costs.get(file) ?? 0 }))
      .sort((a, b) => b.cost - a.cost || a.index - b.index)
      .map(({ file }) => file);
  }
}

const COST_LINE = /^\/\/ ci-cost: (\d+) s\b/m;

async function declaredCost(path: string): Promise<number> {
  // A file that cannot be read has no declared cost: it is ordered last, and vitest reports the real error.
  const handle = await open(path, "r").catch(() => undefined);
  if (!handle) return 0;
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const match = COST_LINE.exec(head.subarray(0, bytesRead).toString("utf8"));
    return match ? Number(match[1]) : 0;
  } finally {
    await handle.close();
  }
}
