// ci-cost: 180 s (117 s wall alone on a quiet machine, 225 s at load ~12; CPU: 25 s test process + 86 s containers, 76 s of it Neo4j: a Compose project up, two Neo4j freezes, ~56 MB seeded and a container killed mid-dump, the project stopped)
// The built CLI against a real Docker Compose project: docker/docker-compose.yml started by real `docker compose`
// on this machine's engine, with local images in place of the official ones (testkit startRealComposeProject:
// Neo4j 5.26 and PostgreSQL 15 with the official images' layout, MinIO, the Infrahub application services as a
// TEST DOUBLE). What the docker-shim tier (readme-quickstarts.test.ts' Compose cases) cannot prove is proved here: detection through
// the real `docker compose`, `exec -T` with users and `-e NAME` secrets, the Neo4j freeze inside a real
// container with the real restart policy, app services stopped and started, a container killed mid-dump.
import { spawnSync } from "node:child_process";
import {
  digestInfrahubData,
  type RealComposeProject,
  run,
  seedBulkData,
  seedInfrahubData,
  startRealComposeProject,
  waitUntil,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, removeCli, runCli, startCli, stderrIncludes } from "./cli-process.js";

const LONG = 600_000;
const dockerAnswers =
  spawnSync("docker", ["compose", "version"]).status === 0 && spawnSync("docker", ["version"]).status === 0;
// CI has an engine on every machine of this kind (tools/run-tests.sh starts it): there, no daemon is a failure.
const required = process.env.CI === "true" || process.env.IHB_REQUIRE_DOCKER === "1";

describe.skipIf(!dockerAnswers && !required)(
  `CLI on a real Docker Compose project (${dockerAnswers ? "Docker engine and Compose answer" : "SKIPPED: no Docker daemon or Compose plugin — tools/docker-daemon.sh start"})`,
  () => {
    let project: RealComposeProject;
    let env: NodeJS.ProcessEnv;
    let original: Awaited<ReturnType<typeof digestInfrahubData>>;

    /** Every long-running service has all its containers running; the one-shot bucket init exited. */
    async function everyServiceRunning(): Promise<boolean> {
      const states = await project.states();
      return Object.entries(states).every(([service, s]) =>
        service === "minio-init"
          ? s.every((x) => x === "exited")
          : s.length > 0 && s.every((x) => x === "running"),
      );
    }

    async function archives(): Promise<string[]> {
      const r = await runCli(["list", "--s3"], { env });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => l.split("\t")[0] ?? "");
    }

    beforeAll(async () => {
      if (!dockerAnswers)
        throw new Error(
          "no Docker daemon or Compose plugin answers: tools/bootstrap.sh and tools/docker-daemon.sh start (CI requires them)",
        );
      buildCli();
      project = await startRealComposeProject();
      await seedInfrahubData(project.neo4j, project.postgres, { nodes: 200, flowRuns: 300 });
      env = cleanEnv(
        {
          INFRAHUB_S3_ENDPOINT: project.s3.endpoint,
          INFRAHUB_S3_BUCKET: project.s3.bucket,
          INFRAHUB_S3_PREFIX: "compose-real",
          AWS_ACCESS_KEY_ID: project.s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: project.s3.secretAccessKey,
        },
        { docker: "machine" },
      );
    }, LONG);

    afterAll(async () => {
      removeCli();
      await project?.[Symbol.asyncDispose]();
    }, 180_000);

    it("environment detect finds the project through the real docker compose", async () => {
      const r = await runCli(["environment", "detect", "--project", project.name, "--log-format", "json"], {
        env,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ kind: "compose", name: project.name });
    });

    it(
      "create --project to S3 (MinIO container): Neo4j frozen and restarted inside its container, every service back, data unchanged",
      async () => {
        original = await digestInfrahubData(project.neo4j, project.postgres);
        const neo4jBefore = await project.containerId("database");
        const r = await runCli(["create", "--project", project.name, "--s3-upload", "--log-format", "json"], {
          env,
        });
        expect(r.stderr).not.toMatch(/"type":"error"/);
        expect(r.code, r.stderr).toBe(0);
        const result = JSON.parse(r.stdout) as { name: string; locations: string[] };
        expect(result.locations).toEqual([`s3://${project.s3.bucket}/compose-real/${result.name}`]);
        expect(await everyServiceRunning()).toBe(true);
        // The same container, restarted in place (Compose's restart policy), not replaced.
        expect(await project.containerId("database")).toBe(neo4jBefore);
        // Neither the freeze helper's work directory nor a staged dump is left in the restarted container.
        const leftovers = await run("docker", [
          "exec",
          neo4jBefore,
          "sh",
          "-c",
          "ls -d /tmp/infrahub-backup-* 2>/dev/null || true",
        ]);
        expect(leftovers.stdout.trim()).toBe("");
        expect(await digestInfrahubData(project.neo4j, project.postgres)).toEqual(original);
        expect(r.stderr).not.toContain(project.s3.secretAccessKey);
        const verify = await runCli(["verify", result.locations[0] as string], { env });
        expect(verify.code, verify.stderr).toBe(0);
      },
      LONG,
    );

    it(
      "restore --latest --s3 --project brings the backup's data back; every service running again",
      async () => {
        await project.neo4j.cypher("CREATE (:Node {uuid: 'created-after-compose-backup'})");
        await project.postgres.psql("UPDATE flow_run SET state_type = 'CRASHED';");
        expect(await digestInfrahubData(project.neo4j, project.postgres)).not.toEqual(original);
        const r = await runCli(["restore", "--latest", "--s3", "--project", project.name, "--yes"], { env });
        expect(r.stderr).not.toMatch(/level=error|"type":"error"/);
        expect(r.code, r.stderr).toBe(0);
        await waitUntil("every service running after the restore", everyServiceRunning, {
          timeoutMs: 120_000,
        });
        expect(await digestInfrahubData(project.neo4j, project.postgres)).toEqual(original);
      },
      LONG,
    );

    it(
      "the Neo4j container killed mid-dump: a clear failure, no archive stored, every service back, data intact",
      async () => {
        // Four transactions of 16k filler nodes (~56 MB of store): one would pass Neo4j's 256 MiB transaction
        // memory limit; together they make the dump last long enough to be killed in the middle. The last three
        // are statements of one cypher-shell run (each its own transaction): one JVM start in the container
        // instead of three.
        await seedBulkData(project.neo4j, project.postgres, { postgresMiB: 1, neo4jNodes: 16_000 });
        const filler =
          "UNWIND range(1, 16000) AS i CREATE (:Filler {i: i, v: reduce(s = '', x IN range(1, 24) | s + randomUUID())});";
        await project.neo4j.cypher([filler, filler, filler].join("\n"));
        const before = await digestInfrahubData(project.neo4j, project.postgres);
        const stored = await archives();
        const database = await project.containerId("database");
        const cli = startCli(["create", "--project", project.name, "--s3-upload"], { env });
        // The CLI announces the offline dump, which runs inside the database container: kill exactly that
        // container then. A CLI that ends first fails the test with its output instead of hanging it.
        let announced = false;
        await Promise.race([
          stderrIncludes(cli.child, "dumping Neo4j database").then(() => {
            announced = true;
          }),
          cli.result.then((r) => {
            if (!announced)
              throw new Error(`the CLI ended (exit ${r.code}) before the Neo4j dump started:\n${r.stderr}`);
          }),
        ]);
        await run("docker", ["kill", "--signal", "KILL", database]);
        const r = await cli.result;
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/neo4j|dump/i);
        expect(r.stderr).not.toContain(project.s3.secretAccessKey);
        // Compose does not restart a container stopped by `docker kill`: the tool starts it, says so, and
        // Neo4j serves when the CLI ends — not later, as a side effect of the app services' depends_on.
        expect(r.stderr).toMatch(/Neo4j's container stopped during the operation[^\n]*started it/);
        expect(r.stderr).not.toMatch(/does NOT serve/);
        await project.neo4j.cypher("RETURN 1");
        await waitUntil("every service running after the fault", everyServiceRunning, { timeoutMs: 180_000 });
        expect(await digestInfrahubData(project.neo4j, project.postgres)).toEqual(before);
        expect(await archives()).toEqual(stored);
      },
      LONG,
    );

    it(
      "the project stopped: create fails with exit 3 and says so; nothing is started behind the operator's back",
      async () => {
        // The last case of the file: afterAll takes the stopped project down, so it is not started again (a
        // `compose start` here cost every service's start, Neo4j's JVM included, for nothing).
        await project.compose(["stop", "--timeout", "10"], { timeoutMs: 180_000 });
        const r = await runCli(["create", "--project", project.name, "--s3-upload"], { env });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain(project.name);
        const states = await project.states();
        expect(
          Object.values(states)
            .flat()
            .every((s) => s === "exited"),
        ).toBe(true);
      },
      LONG,
    );
  },
);
