// ci-cost: 40 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// The built CLI as a child process against a Docker Compose deployment: `docker` on its PATH is the docker
// TEST DOUBLE (testkit docker-shim) whose containers are sandboxes bound to a real local stack (Neo4j
// Community, PostgreSQL, MinIO). Detection by project (flag, env var, auto), create → restore, and the
// detection errors.
import {
  createInfrahubComposeProject,
  type DockerShim,
  digestInfrahubData,
  type InfrahubComposeProject,
  type InfrahubLocalStack,
  seedInfrahubData,
  startDockerShim,
  startInfrahubLocalStack,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, removeCli, runCli } from "./cli-process.js";

const BUCKET = "backups";
/** A create or restore includes a Neo4j stop and restart: minutes on a loaded 2-core machine. */
const HEAVY_TIMEOUT = 300_000;
const LONG = 300_000;
let stack: InfrahubLocalStack;
let project: InfrahubComposeProject;
let shim: DockerShim;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  buildCli();
  stack = await startInfrahubLocalStack();
  project = await createInfrahubComposeProject(stack);
  shim = await startDockerShim({ projects: { infrahub: project.services } });
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  env = cleanEnv({
    PATH: shim.env().PATH,
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "compose",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
  });
}, LONG);

afterAll(async () => {
  removeCli();
  await shim?.[Symbol.asyncDispose]();
  await project?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

describe("CLI on a Docker Compose deployment (docker test double, real databases)", () => {
  let location: string;
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it("environment list / detect find the Compose project", async () => {
    const list = await runCli(["environment", "list"], { env });
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe("infrahub");
    const detect = await runCli(["environment", "detect", "--log-format", "json"], { env });
    expect(detect.code).toBe(0);
    expect(JSON.parse(detect.stdout)).toMatchObject({ kind: "compose", name: "infrahub" });
  });

  it(
    "create --project streams a backup of the project to S3 and brings every service back",
    async () => {
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      const r = await runCli(["create", "--project", "infrahub", "--s3-upload", "--log-format", "json"], {
        env,
      });
      expect(r.stderr).not.toMatch(/"type":"error"/);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as { name: string; locations: string[] };
      location = result.locations[0] as string;
      expect(location).toBe(`s3://${BUCKET}/compose/${result.name}`);
      expect(Object.values({ ...stack.apps, ...project.extraApps }).every((a) => a.isRunning())).toBe(true);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    },
    HEAVY_TIMEOUT,
  );

  it(
    "restore (project from INFRAHUB_PROJECT) brings the data of the backup back",
    async () => {
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-backup'})");
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'CRASHED';");
      const r = await runCli(["restore", location], { env: { ...env, INFRAHUB_PROJECT: "infrahub" } });
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
      const argv = JSON.stringify(shim.invocations().map((i) => i.argv));
      expect(argv).not.toContain(stack.neo4j.password);
      expect(argv).not.toContain(stack.postgres.app.password);
      expect(shim.invocations().filter((i) => i.refused)).toEqual([]);
    },
    HEAVY_TIMEOUT,
  );

  it("several Infrahub projects: exit 3 with the list; --project picks one", async () => {
    shim.setProject("infrahub-staging", project.services);
    try {
      const r = await runCli(["environment", "detect"], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("infrahub, infrahub-staging");
      expect(r.stderr).toContain("--project");
      const picked = await runCli(
        ["environment", "detect", "--project", "infrahub-staging", "--log-format", "json"],
        { env },
      );
      expect(picked.code).toBe(0);
      expect(JSON.parse(picked.stdout)).toMatchObject({ kind: "compose", name: "infrahub-staging" });
    } finally {
      shim.removeProject("infrahub-staging");
    }
  });

  it("no Compose project running Infrahub: exit 3, environment not found, nothing stopped", async () => {
    shim.removeProject("infrahub");
    try {
      const r = await runCli(["create", "--s3-upload"], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/no Infrahub environment detected|no running Docker Compose project/);
      const named = await runCli(["create", "--s3-upload", "--project", "infrahub"], { env });
      expect(named.code).toBe(3);
      expect(named.stderr).toContain("infrahub");
      expect(stack.apps["infrahub-server"].isRunning()).toBe(true);
    } finally {
      shim.setProject("infrahub", project.services);
    }
  });
});
