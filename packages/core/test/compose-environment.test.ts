// ComposeEnvironment and ComposeDetector against the docker test double (TEST DOUBLE: no Docker engine
// here). The "containers" are plain local processes with their own environment; the databases are not
// involved (the CLI's readme-quickstarts.test.ts runs create/restore through the same shim on a real stack).
import {
  AppServiceStandIn,
  type DockerShim,
  type ShimContainer,
  type ShimService,
  startDockerShim,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ComposeDetector } from "../src/environment/compose-detector.js";
import { ComposeEnvironment } from "../src/environment/compose-environment.js";
import { APP_START_ORDER, APP_STOP_ORDER, type ServiceName } from "../src/environment/services.js";
import { runCommand } from "../src/exec/command.js";
import { containerNotRunning } from "../src/exec/executor.js";

/** A container whose commands see only its own environment; `whoami` answers `user` or `root`. */
const container = (env: Record<string, string>): ShimContainer => ({
  spawnSpec: (argv, options) => {
    const user = options.user ?? "root";
    const [command, ...args] =
      argv[0] === "whoami" ? ["sh", "-c", `echo ${user}`] : (argv as [string, ...string[]]);
    return { command, args, env: { PATH: process.env.PATH ?? "", ...env, ...options.env } };
  },
});

const APPS = ["infrahub-server", "task-worker", "task-manager", "cache", "message-queue"] as const;
let logs: TempDir;
let apps: Record<(typeof APPS)[number], AppServiceStandIn>;
let shim: DockerShim;
let savedPath: string | undefined;

function infrahubProject(): Record<string, ShimService> {
  return {
    database: { image: "neo4j:2025.10.1-community", container: container({ NEO4J_AUTH: "neo4j/admin" }) },
    "task-manager-db": { image: "postgres:18-alpine", container: container({ POSTGRES_USER: "postgres" }) },
    ...Object.fromEntries(
      APPS.map((name) => [
        name,
        {
          image:
            name.startsWith("task") || name === "infrahub-server"
              ? "registry.opsmill.io/opsmill/infrahub:1.9.3"
              : `${name}:1`,
          container: container(
            name === "infrahub-server"
              ? { INFRAHUB_DB_PASSWORD: "multi\nline", INFRAHUB_DB_USERNAME: "neo4j" }
              : {},
          ),
          control: apps[name],
        },
      ]),
    ),
  };
}

beforeAll(async () => {
  logs = await tempDir("ihb-compose-env-");
  apps = Object.fromEntries(APPS.map((n) => [n, new AppServiceStandIn(n, logs.path)])) as typeof apps;
  for (const app of Object.values(apps)) await app.start();
  shim = await startDockerShim({ projects: { infrahub: infrahubProject() } });
  // The environment runs `docker` from PATH, as it would on a user's machine.
  savedPath = process.env.PATH;
  process.env.PATH = shim.env().PATH;
});

afterAll(async () => {
  process.env.PATH = savedPath;
  await shim?.[Symbol.asyncDispose]();
  for (const app of Object.values(apps ?? {})) await app.stop();
  await logs?.[Symbol.asyncDispose]();
});

afterEach(() => {
  shim.removeProject("second");
  shim.removeProject("web");
});

const argvLog = () => shim.invocations().map((i) => i.argv.join(" "));

describe("Compose project detection (upstream rules)", () => {
  it("uses the single running project that contains Infrahub", async () => {
    shim.setProject("web", { web: { image: "nginx:1", container: container({}) } });
    const environment = await new ComposeDetector().detect({});
    expect(environment.kind).toBe("compose");
    expect(environment.name).toBe("infrahub");
    expect(await new ComposeDetector().list()).toEqual(["infrahub"]);
  });

  it("lists every Infrahub project when there are several, and asks for --project", async () => {
    shim.setProject("second", infrahubProject());
    await expect(new ComposeDetector().detect({})).rejects.toMatchObject({
      code: "ENVIRONMENT_AMBIGUOUS",
      message: expect.stringContaining("infrahub, second"),
      hint: expect.stringContaining("--project"),
    });
    expect((await new ComposeDetector().detect({ project: "second" })).name).toBe("second");
  });

  it("reports ENVIRONMENT_NOT_FOUND without an Infrahub project, for an unknown --project, and without docker", async () => {
    shim.removeProject("infrahub");
    try {
      shim.setProject("web", { web: { image: "nginx:1", container: container({}) } });
      await expect(new ComposeDetector().detect({})).rejects.toMatchObject({ code: "ENVIRONMENT_NOT_FOUND" });
    } finally {
      shim.setProject("infrahub", infrahubProject());
    }
    await expect(new ComposeDetector().detect({ project: "nope" })).rejects.toMatchObject({
      code: "ENVIRONMENT_NOT_FOUND",
      message: expect.stringContaining("nope"),
    });
    const noDocker = new ComposeDetector({ docker: "/nonexistent/docker" });
    await expect(noDocker.detect({})).rejects.toMatchObject({ code: "ENVIRONMENT_NOT_FOUND" });
    expect(await noDocker.list()).toEqual([]);
    // A named project makes a missing docker a hard error, as upstream.
    await expect(noDocker.detect({ project: "infrahub" })).rejects.toMatchObject({ code: "EXEC_FAILED" });
  });
});

describe("ComposeEnvironment through docker compose", () => {
  const environment = () => new ComposeEnvironment({ project: "infrahub" });

  it("knows the project's services and refuses others", async () => {
    const env = environment();
    expect(await env.has("database")).toBe(true);
    expect(await env.has("task-manager-background-svc")).toBe(false);
    await expect(env.executor("task-manager-background-svc")).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });
  });

  it("reads a container's environment with exec env (multi-line values kept)", async () => {
    const env = await environment().serviceEnv("infrahub-server");
    expect(env.INFRAHUB_DB_USERNAME).toBe("neo4j");
    expect(env.INFRAHUB_DB_PASSWORD).toBe("multi\nline");
    expect(argvLog().at(-1)).toBe("compose -p infrahub exec -T infrahub-server env");
  });

  it("passes secrets as -e NAME (value in docker's environment), the user as -u", async () => {
    const executor = await environment().executor("database");
    const out = await runCommand(
      executor,
      {
        argv: ["sh", "-c", 'printf %s "$NEO4J_PASSWORD"'],
        env: { NEO4J_PASSWORD: "pa ss=word" },
        user: "neo4j",
      },
      { what: "echo" },
    );
    expect(out).toBe("pa ss=word");
    const last = shim.invocations().at(-1);
    expect(last?.argv).toEqual([
      "compose",
      "-p",
      "infrahub",
      "exec",
      "-T",
      "-u",
      "neo4j",
      "-e",
      "NEO4J_PASSWORD",
      "database",
      "sh",
      "-c",
      'printf %s "$NEO4J_PASSWORD"',
    ]);
    expect(JSON.stringify(shim.invocations())).not.toContain("pa ss=word");
    // Values travel in the docker client's own environment: names that steer the client are refused.
    for (const name of ["PATH", "DOCKER_HOST", "COMPOSE_PROJECT_NAME"]) {
      await expect(executor.exec({ argv: ["true"], env: { [name]: "x" } })).rejects.toMatchObject({
        code: "INTERNAL",
      });
    }
  });

  it("stops the running app services one by one in the given order and starts exactly those again", async () => {
    await apps.cache.stop(); // not running: must be neither stopped nor started
    const env = environment();
    const from = shim.invocations().length;
    const stopped = await env.stop(APP_STOP_ORDER);
    expect(stopped.services).toEqual(["infrahub-server", "task-worker", "task-manager", "message-queue"]);
    expect(Object.values(apps).some((a) => a.isRunning())).toBe(false);
    expect(await env.running(APP_STOP_ORDER)).toEqual([]);
    await env.start(stopped, APP_START_ORDER);
    const lifecycle = shim
      .invocations()
      .slice(from)
      .filter((i) => i.argv[3] === "stop" || i.argv[3] === "start")
      .map((i) => `${i.argv[3]} ${i.argv.slice(4).join(" ")}`);
    expect(lifecycle).toEqual([
      "stop infrahub-server",
      "stop task-worker",
      "stop task-manager",
      "stop message-queue",
      "start message-queue",
      "start task-manager",
      "start infrahub-server",
      "start task-worker",
    ]);
    expect(apps.cache.isRunning()).toBe(false);
    expect(await env.running(APP_START_ORDER)).toEqual([
      "message-queue",
      "task-manager",
      "infrahub-server",
      "task-worker",
    ] as ServiceName[]);
    await apps.cache.start();
  });

  it("an exec into a stopped service fails as 'container not running'; startIfStopped starts only a stopped one", async () => {
    const env = environment();
    const executor = await env.executor("cache");
    await apps.cache.stop();
    const refused = await executor.exec({ argv: ["true"] }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(containerNotRunning(refused)).toBe(true);
    expect(String(refused)).toContain('service "cache" is not running');
    expect(await env.startIfStopped("cache")).toBe(true);
    expect(apps.cache.isRunning()).toBe(true);
    expect(await env.startIfStopped("cache")).toBe(false);
    // A command's own failure stays an exit status.
    const failed = await executor.exec({ argv: ["sh", "-c", "echo 'it failed' >&2; exit 1"] });
    expect(failed).toMatchObject({ exitCode: 1, stderrTail: "it failed\n" });
  });

  it("runs neo4j-admin as neo4j because Compose execs as root; pid file under the image's NEO4J_HOME", async () => {
    const runtime = await environment().neo4jRuntime();
    expect(runtime).toEqual({ pidFile: "/var/lib/neo4j/run/neo4j.pid", adminUser: "neo4j" });
    shim.setProject("second", {
      ...infrahubProject(),
      database: { image: "neo4j:5", container: container({ NEO4J_HOME: "/opt/neo4j/" }) },
    });
    const custom = await new ComposeEnvironment({ project: "second" }).neo4jRuntime();
    expect(custom.pidFile).toBe("/opt/neo4j/run/neo4j.pid");
  });
});
