// ci-cost: 40 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// createBackup / restoreBackup end to end on a Compose deployment: the environment is found by
// ComposeDetector and every command goes through `docker compose …`, answered by the docker TEST DOUBLE
// (testkit docker-shim) whose containers are sandboxes bound to real Neo4j Community / PostgreSQL, with
// real MinIO as the store.
import {
  createInfrahubComposeProject,
  type DockerShim,
  digestInfrahubData,
  freezeHelperPath,
  type InfrahubComposeProject,
  type InfrahubLocalStack,
  type ShimInvocation,
  seedInfrahubData,
  startDockerShim,
  startInfrahubLocalStack,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComposeDetector } from "../src/environment/compose-detector.js";
import type { ComposeEnvironment } from "../src/environment/compose-environment.js";
import { createBackup } from "../src/operations/create-backup.js";
import { restoreBackup } from "../src/operations/restore-backup.js";
import { S3Store } from "../src/storage/s3-store.js";

const BUCKET = "backups";
/** A create or restore includes a Neo4j stop and restart: minutes on a loaded 2-core machine. */
const HEAVY_TIMEOUT = 300_000;
let stack: InfrahubLocalStack;
let project: InfrahubComposeProject;
let shim: DockerShim;
let environment: ComposeEnvironment;
let savedPath: string | undefined;

const store = () =>
  new S3Store({
    bucket: BUCKET,
    prefix: "compose",
    endpoint: stack.minio.endpoint,
    credentials: { accessKeyId: stack.minio.rootUser, secretAccessKey: stack.minio.rootPassword },
  });
const freezeHelper = (arch: "amd64" | "arm64") => freezeHelperPath(arch);
const apps = () => ({ ...stack.apps, ...project.extraApps });
const allRunning = () => Object.values(apps()).every((app) => app.isRunning());

/** `stop X` / `start X` in the order docker was asked, from the shim's log. */
const lifecycle = (log: ShimInvocation[]) =>
  log
    .filter((i) => i.argv[3] === "stop" || i.argv[3] === "start")
    .map((i) => `${i.argv[3]} ${i.argv.slice(4).join(" ")}`);

beforeAll(async () => {
  stack = await startInfrahubLocalStack();
  project = await createInfrahubComposeProject(stack);
  shim = await startDockerShim({ projects: { infrahub: project.services } });
  savedPath = process.env.PATH;
  process.env.PATH = shim.env().PATH;
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  environment = await new ComposeDetector().detect({});
}, 300_000);

afterAll(async () => {
  process.env.PATH = savedPath;
  await shim?.[Symbol.asyncDispose]();
  await project?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

describe("create and restore on a Docker Compose deployment (docker test double, real databases)", () => {
  let archiveName: string;
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it(
    "finds the project and backs it up: services stopped and started in upstream's order",
    async () => {
      expect(environment.name).toBe("infrahub");
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      const from = shim.invocations().length;
      const result = await createBackup({ environment, store: store(), toolVersion: "test", freezeHelper });
      const log = shim.invocations().slice(from);
      archiveName = result.name;
      expect(await stack.minio.listObjectKeys(BUCKET)).toEqual([`compose/${result.name}`]);
      expect(result.metadata.components).toEqual(["database", "task-manager-db"]);
      expect(result.metadata.neo4jEdition).toBe("community");
      expect(lifecycle(log)).toEqual([
        "stop infrahub-server",
        "stop task-worker",
        "stop task-manager",
        "stop cache",
        "stop message-queue",
        "start cache",
        "start message-queue",
        "start task-manager",
        "start infrahub-server",
        "start task-worker",
      ]);
      expect(allRunning()).toBe(true);
      // Upstream's exec-user rule: the dump runs as neo4j, since Compose execs as root.
      const dump = log.find((i) => i.argv.includes("dump"));
      // The dump carries the freeze's owner marker (-e IHB_OWNER), so the freeze helper can end it.
      expect(dump?.argv.slice(0, 10)).toEqual([
        "compose",
        "-p",
        "infrahub",
        "exec",
        "-T",
        "-u",
        "neo4j",
        "-e",
        "IHB_OWNER",
        "database",
      ]);
      expect(dump?.exitCode).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
      console.log(
        `compose create: ${result.size} bytes in ${result.durations.totalMs} ms; Neo4j offline ${result.durations.neo4jDowntimeMs} ms; ${log.length} docker invocations`,
      );
    },
    HEAVY_TIMEOUT,
  );

  it(
    "restores both databases to the backup's state",
    async () => {
      await stack.neo4j.cypher("MATCH (v:AttributeValue) WHERE v.value = 'core' SET v.value = 'changed'");
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-backup'})");
      await stack.postgres.psql("DELETE FROM log; UPDATE flow_run SET state_type = 'CRASHED';");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(original);
      const from = shim.invocations().length;
      const result = await restoreBackup({ environment, store: store(), name: archiveName, freezeHelper });
      const log = shim.invocations().slice(from);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
      expect(allRunning()).toBe(true);
      const steps = lifecycle(log);
      expect(steps.slice(0, 5)).toEqual([
        "stop infrahub-server",
        "stop task-worker",
        "stop task-manager",
        "stop cache",
        "stop message-queue",
      ]);
      expect(steps.at(-1)).toBe("start task-worker");
      // Staged in the container by pass 1, so the load reads a local file (as the neo4j user).
      const load = log.find((i) => i.argv.includes("neo4j-admin") && i.argv.includes("load"));
      expect(load?.argv).toEqual(expect.arrayContaining(["-u", "neo4j", "neo4j"]));
      expect(load?.argv.some((a) => a.startsWith("--from-path="))).toBe(true);
      console.log(`compose restore: ${result.durations.totalMs} ms; lifecycle: ${steps.join(", ")}`);
    },
    HEAVY_TIMEOUT,
  );

  it("never put a credential on docker's argv", () => {
    const argv = JSON.stringify(shim.invocations().map((i) => i.argv));
    for (const secret of [
      stack.neo4j.password,
      stack.postgres.superuser.password,
      stack.postgres.app.password,
    ]) {
      expect(argv).not.toContain(secret);
    }
    // The secrets did travel, by name.
    expect(argv).toMatch(/"-e","(NEO4J_PASSWORD|PGPASSWORD)"/);
    // And nothing was refused by the shim along the way.
    expect(shim.invocations().filter((i) => i.refused)).toEqual([]);
  });
});
