// ci-cost: 25 s (36 s wall / 16 s CPU measured alone at load ~12: a local stack and the docker shim, detection only)
// The built CLI as a child process against a Docker Compose deployment: `docker` on its PATH is the docker
// TEST DOUBLE (testkit docker-shim) whose containers are sandboxes bound to a real local stack (Neo4j
// Community, PostgreSQL, MinIO). Detection by project (flag, env var, auto) and the detection errors. The
// create → restore cycle through Compose is proved elsewhere, once per tier: with real `docker compose` in
// compose-real.test.ts, and through this test double by the README's Compose quickstart (readme-quickstarts.test.ts:
// environment list, create --s3-upload, restore --latest --s3 --project, with docker's argv checked: upstream's
// stop/start order, exec users, no credential).
import {
  createInfrahubComposeProject,
  type DockerShim,
  type InfrahubComposeProject,
  type InfrahubLocalStack,
  startDockerShim,
  startInfrahubLocalStack,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, removeCli, runCli } from "./cli-process.js";

const BUCKET = "backups";
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
  it("environment list / detect find the Compose project", async () => {
    const list = await runCli(["environment", "list"], { env });
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe("infrahub");
    const detect = await runCli(["environment", "detect", "--log-format", "json"], { env });
    expect(detect.code).toBe(0);
    expect(JSON.parse(detect.stdout)).toMatchObject({ kind: "compose", name: "infrahub" });
  });

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
      // INFRAHUB_PROJECT is --project for every command (create and restore detect the same way).
      const fromEnv = await runCli(["environment", "detect", "--log-format", "json"], {
        env: { ...env, INFRAHUB_PROJECT: "infrahub-staging" },
      });
      expect(fromEnv.code, fromEnv.stderr).toBe(0);
      expect(JSON.parse(fromEnv.stdout)).toMatchObject({ kind: "compose", name: "infrahub-staging" });
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
