// The docker test double itself: what it accepts, what it refuses, how exec streams. Its containers here
// are plain local processes; the Compose environment tests use container sandboxes bound to the stack.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppServiceStandIn } from "../infrahub-stack.js";
import { type TempDir, tempDir } from "../temp.js";
import { type DockerShim, type ShimContainer, startDockerShim } from "./docker-shim.js";

const plainContainer = (containerEnv: Record<string, string>): ShimContainer => ({
  spawnSpec: (argv, { env, user }) => ({
    command: argv[0] as string,
    args: argv.slice(1),
    env: { PATH: process.env.PATH ?? "", ...containerEnv, ...env, ...(user ? { SHIM_USER: user } : {}) },
  }),
});

let shim: DockerShim;
let logs: TempDir;
let worker: AppServiceStandIn;

function docker(
  args: string[],
  options: { stdin?: Buffer; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", args, { env: shim.env({ ...process.env, ...options.env }) });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(options.stdin);
  });
}

beforeAll(async () => {
  logs = await tempDir("ihb-shim-test-");
  worker = new AppServiceStandIn("task-worker", logs.path);
  await worker.start();
  shim = await startDockerShim({
    projects: {
      infrahub: {
        database: {
          image: "neo4j:2025.10.1-community",
          container: plainContainer({ NEO4J_AUTH: "neo4j/x" }),
        },
        "task-worker": {
          image: "registry.opsmill.io/opsmill/infrahub:1.5.0",
          container: plainContainer({}),
          control: worker,
        },
      },
      other: { web: { image: "nginx:1", container: plainContainer({}) } },
    },
  });
});

afterAll(async () => {
  await shim?.[Symbol.asyncDispose]();
  await worker?.stop();
  await logs?.[Symbol.asyncDispose]();
});

describe("docker CLI test double", () => {
  it("lists running projects and their containers as Compose's JSON", async () => {
    const ls = await docker(["compose", "ls", "--format", "json"]);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout.toString()).map((p: { Name: string }) => p.Name)).toEqual([
      "infrahub",
      "other",
    ]);
    const ps = await docker(["compose", "-p", "infrahub", "ps", "-a", "--format", "json"]);
    const rows = ps.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.Name, r.Service, r.State])).toEqual([
      ["infrahub-database-1", "database", "running"],
      ["infrahub-task-worker-1", "task-worker", "running"],
    ]);
  });

  it("streams stdin to an exec'd command and its stdout back, byte for byte", async () => {
    const input = randomBytes(8 * 1024 * 1024);
    const r = await docker(["compose", "-p", "infrahub", "exec", "-T", "database", "sha256sum"], {
      stdin: input,
    });
    expect(r.code).toBe(0);
    expect(r.stdout.toString().split(" ")[0]).toBe(createHash("sha256").update(input).digest("hex"));
    const cat = await docker(["compose", "-p", "infrahub", "exec", "-T", "database", "cat"], {
      stdin: input,
    });
    expect(cat.stdout.equals(input)).toBe(true);
  });

  it("passes -e NAME from the client's environment without recording the value", async () => {
    const r = await docker(
      ["compose", "-p", "infrahub", "exec", "-T", "-u", "neo4j", "-e", "SECRET_X", "database", "env"],
      { env: { SECRET_X: "s3cr3t-value" } },
    );
    expect(r.code).toBe(0);
    const env = r.stdout.toString();
    expect(env).toContain("SECRET_X=s3cr3t-value");
    expect(env).toContain("NEO4J_AUTH=neo4j/x");
    expect(env).toContain("SHIM_USER=neo4j");
    expect(JSON.stringify(shim.invocations())).not.toContain("s3cr3t-value");
  });

  it("passes the command's exit status through", async () => {
    const r = await docker(["compose", "-p", "infrahub", "exec", "-T", "database", "sh", "-c", "exit 7"]);
    expect(r.code).toBe(7);
    expect(shim.invocations().at(-1)?.exitCode).toBe(7);
    const missing = await docker(["compose", "-p", "infrahub", "exec", "-T", "database", "no-such-command"]);
    expect(missing.code).toBe(127);
  });

  it("refuses what it does not model with exit 125 and says why", async () => {
    for (const args of [
      ["compose", "-p", "infrahub", "exec", "database", "env"], // no -T
      ["compose", "-p", "infrahub", "exec", "-T", "--privileged", "database", "env"],
      ["compose", "--profile", "x", "ls"],
      ["compose", "ps"], // no -p
      ["compose", "-p", "infrahub", "down"],
      ["run", "alpine"],
      ["compose", "-p", "infrahub", "stop", "database"], // no control: never silently "stopped"
    ]) {
      const r = await docker(args);
      expect(r.code, args.join(" ")).toBe(125);
      expect(r.stderr).toMatch(/test double/);
    }
    expect(shim.invocations().filter((i) => i.refused).length).toBe(6);
  });

  it("stops and starts a service through its control; exec into a stopped one fails", async () => {
    const stops = worker.stops;
    expect((await docker(["compose", "-p", "infrahub", "stop", "task-worker"])).code).toBe(0);
    expect(worker.isRunning()).toBe(false);
    expect(worker.stops).toBe(stops + 1);
    const ls = await docker(["compose", "-p", "infrahub", "ps", "--format", "json"]);
    expect(ls.stdout.toString()).not.toContain("task-worker");
    const exec = await docker(["compose", "-p", "infrahub", "exec", "-T", "task-worker", "true"]);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain('service "task-worker" is not running');
    expect((await docker(["compose", "-p", "infrahub", "start", "task-worker"])).code).toBe(0);
    expect(worker.isRunning()).toBe(true);
  });
});
