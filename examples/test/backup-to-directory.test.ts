// ci-cost: 50 s (measured: one local stack start, one create and one restore)
// The example runs as written against a real local deployment (Neo4j and PostgreSQL; the application
// services are the testkit's stand-ins): the restore undoes a change made after the backup.
import { readFile } from "node:fs/promises";
import type { LocalEnvironmentOptions } from "@infrahub-backup/core/environment";
import {
  digestInfrahubData,
  freezeHelperPath,
  type InfrahubLocalStack,
  seedInfrahubData,
  startInfrahubLocalStack,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { backupToDirectory } from "../backup-to-directory.js";

let stack: InfrahubLocalStack;
let directory: TempDir;

beforeAll(async () => {
  [stack, directory] = await Promise.all([startInfrahubLocalStack(), tempDir("ihb-example-")]);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 50, flowRuns: 20 });
});

afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

it("backs up to a directory, lists, verifies and restores through the published entry points", async () => {
  const before = await digestInfrahubData(stack.neo4j, stack.postgres);
  const lines: string[] = [];
  const eventTypes = new Set<string>();
  const result = await backupToDirectory({
    environment: stack.environmentOptions as LocalEnvironmentOptions,
    directory: directory.path,
    freezeHelper: freezeHelperPath,
    log: (line) => lines.push(line),
    onEvent: (event) => eventTypes.add(event.type),
    confirmRestore: async () => {
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-backup'})");
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'CHANGED-AFTER-BACKUP';");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(before);
      return true;
    },
  });
  expect(result).toMatchObject({ verified: true, restored: true, listed: [result.name] });
  expect(lines.map((line) => line.split(" ")[0])).toEqual(["created", "the", "verified", "restored"]);
  expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
  expect(Object.values(stack.apps).every((app) => app.isRunning())).toBe(true);
  expect(eventTypes).toContain("phase-started");
});

it("imports the library through its published entry points only", async () => {
  const source = await readFile(new URL("../backup-to-directory.ts", import.meta.url), "utf8");
  const { exports } = JSON.parse(
    await readFile(new URL("../../packages/core/package.json", import.meta.url), "utf8"),
  ) as { exports: Record<string, unknown> };
  const published = Object.keys(exports).map((subpath) => `@infrahub-backup/core${subpath.slice(1)}`);
  const specifiers = [...source.matchAll(/from "([^"]+)"/g)].map((match) => match[1] as string);
  const library = specifiers.filter((specifier) => !specifier.startsWith("node:"));
  expect(library.length).toBeGreaterThan(0);
  for (const specifier of library) expect(published).toContain(specifier);
});
