import { appendFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type TempDir, tempDir } from "../temp.js";
import { type DockerCommand, parseDockerArgs, ShimUsageError } from "./parse-docker-args.js";

/** How to run one command inside a "container" as a local process (what the shim's client spawns). */
export interface ShimSpawnSpec {
  command: string;
  args: string[];
  /** The complete environment of the process (the container's, plus `-e` values). */
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** A container the shim can exec into: maps argv + user + env onto a local process. */
export interface ShimContainer {
  spawnSpec(
    argv: readonly string[],
    options: { user?: string; env: Record<string, string>; workdir?: string },
  ): ShimSpawnSpec | Promise<ShimSpawnSpec>;
}

/** Start/stop of the process behind a service (e.g. an AppServiceStandIn). */
export interface ShimServiceControl {
  isRunning(): boolean | Promise<boolean>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface ShimService {
  /** Image shown by `ps` (detection looks for "infrahub" in it). */
  image: string;
  container: ShimContainer;
  /** Without it the service is always running and `stop`/`start` of it fail loudly (exit 125). */
  control?: ShimServiceControl;
}

/** One recorded `docker` invocation. */
export interface ShimInvocation {
  id: number;
  argv: string[];
  /** Exit status: for `exec`, the command's (reported by the client when it ended). */
  exitCode?: number;
  /** Why the shim refused it (exit 125). */
  refused?: string;
}

export interface DockerShimOptions {
  /** Compose projects by name, each a map of service name → service. */
  projects: Record<string, Record<string, ShimService>>;
}

/**
 * TEST DOUBLE (a boundary we do not own: the Docker engine and its CLI). A `docker` executable, first on
 * PATH via `env()`, that maps `docker compose -p P ls/ps/exec/start/stop` and `docker version` onto
 * local "containers" (container sandboxes bound to the real local Neo4j/PostgreSQL, stand-in processes
 * for the application services). It accepts only the flags it models and exits 125 on anything else;
 * every invocation is recorded with its argv.
 */
export interface DockerShim extends AsyncDisposable {
  /** Directory holding the `docker` executable. */
  readonly binDir: string;
  /** The `docker` executable. */
  readonly docker: string;
  /** JSON-lines log of the invocations (argv only: values given by `-e NAME` never reach it). */
  readonly logFile: string;
  /** Environment additions that make `docker` resolve to the shim: PATH with binDir first, the socket. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** The invocations so far, oldest first. */
  invocations(): ShimInvocation[];
  /** Adds or replaces a project (e.g. a second Infrahub project for the ambiguity test). */
  setProject(name: string, services: Record<string, ShimService>): void;
  removeProject(name: string): void;
}

interface Answer {
  id: number;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  spawn?: ShimSpawnSpec;
}

const CLIENT = fileURLToPath(new URL("./docker-client.ts", import.meta.url));
const CONFIG_FILE = "/srv/infrahub/docker-compose.yml";

/** Starts the shim's server and writes its `docker` executable; dispose to stop it. */
export async function startDockerShim(options: DockerShimOptions): Promise<DockerShim> {
  const dir: TempDir = await tempDir("ihb-docker-shim-");
  const binDir = join(dir.path, "bin");
  const docker = join(binDir, "docker");
  const socketPath = join(dir.path, "shim.sock");
  const logFile = join(dir.path, "invocations.jsonl");
  const projects = new Map(Object.entries(options.projects));
  const log: ShimInvocation[] = [];

  const record = (entry: ShimInvocation) => {
    log.push(entry);
    appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
  };

  const handle = async (body: { argv: string[]; clientEnv: Record<string, string> }): Promise<Answer> => {
    const entry: ShimInvocation = { id: log.length + 1, argv: body.argv };
    record(entry);
    let command: DockerCommand;
    try {
      command = parseDockerArgs(body.argv);
    } catch (error) {
      if (!(error instanceof ShimUsageError)) throw error;
      entry.refused = error.message;
      entry.exitCode = 125;
      return { id: entry.id, exitCode: 125, stderr: `docker (test double): ${error.message}\n` };
    }
    const answer = await run(command, body.clientEnv);
    if (answer.exitCode !== undefined) entry.exitCode = answer.exitCode;
    return { id: entry.id, ...answer };
  };

  const servicesOf = (project: string) => projects.get(project) ?? {};
  const isRunning = async (service: ShimService) => (await service.control?.isRunning()) ?? true;

  const run = async (
    command: DockerCommand,
    clientEnv: Record<string, string>,
  ): Promise<Omit<Answer, "id">> => {
    switch (command.kind) {
      case "version":
        if (command.format === "short") return { exitCode: 0, stdout: "2.40.3\n" };
        if (command.format === "json")
          return { exitCode: 0, stdout: `${JSON.stringify({ version: "v2.40.3" })}\n` };
        return { exitCode: 0, stdout: "Docker Compose version v2.40.3 (infrahub-backup test double)\n" };
      case "ls": {
        const rows: { Name: string; Status: string; ConfigFiles: string }[] = [];
        for (const [name, services] of projects) {
          const states = await Promise.all(Object.values(services).map(isRunning));
          const up = states.filter(Boolean).length;
          const down = states.length - up;
          if (up === 0 && !command.all) continue;
          const status = [up > 0 ? `running(${up})` : "", down > 0 ? `exited(${down})` : ""].filter(Boolean);
          rows.push({ Name: name, Status: status.join(", "), ConfigFiles: CONFIG_FILE });
        }
        if (command.format === "json") return { exitCode: 0, stdout: `${JSON.stringify(rows)}\n` };
        const table = rows.map((r) => `${r.Name.padEnd(20)}${r.Status.padEnd(20)}${r.ConfigFiles}`);
        return {
          exitCode: 0,
          stdout: [`${"NAME".padEnd(20)}${"STATUS".padEnd(20)}CONFIG FILES`, ...table, ""].join("\n"),
        };
      }
      case "ps": {
        const services = servicesOf(command.project);
        const unknown = command.services.filter((s) => !(s in services));
        if (unknown.length > 0 && projects.has(command.project)) {
          return { exitCode: 1, stderr: `no such service: ${unknown[0]}\n` };
        }
        const rows: Record<string, unknown>[] = [];
        for (const [service, spec] of Object.entries(services)) {
          if (command.services.length > 0 && !command.services.includes(service)) continue;
          const running = await isRunning(spec);
          if (!running && !command.all) continue;
          const name = `${command.project}-${service}-1`;
          rows.push({
            ID: name,
            Name: name,
            Names: name,
            Image: spec.image,
            Project: command.project,
            Service: service,
            State: running ? "running" : "exited",
            Status: running ? "Up 5 minutes" : "Exited (0) 1 second ago",
            ExitCode: 0,
            Health: "",
            Publishers: [],
          });
        }
        if (command.format === "json") {
          return { exitCode: 0, stdout: rows.map((r) => `${JSON.stringify(r)}\n`).join("") };
        }
        const header = `${"NAME".padEnd(40)}${"IMAGE".padEnd(48)}${"SERVICE".padEnd(32)}STATUS`;
        const lines = rows.map(
          (r) =>
            `${String(r.Name).padEnd(40)}${String(r.Image).padEnd(48)}${String(r.Service).padEnd(32)}${String(r.Status)}`,
        );
        return { exitCode: 0, stdout: [header, ...lines, ""].join("\n") };
      }
      case "start":
      case "stop": {
        const services = servicesOf(command.project);
        for (const name of command.services) {
          const service = services[name];
          if (!service) return { exitCode: 1, stderr: `no such service: ${name}\n` };
          if (!service.control) {
            return {
              exitCode: 125,
              stderr: `docker (test double): ${command.kind} of ${name} is not modelled (it has no control)\n`,
            };
          }
        }
        for (const name of command.services) {
          const control = (services[name] as ShimService).control as ShimServiceControl;
          if (command.kind === "stop" && (await control.isRunning())) await control.stop();
          if (command.kind === "start" && !(await control.isRunning())) await control.start();
        }
        return { exitCode: 0 };
      }
      case "exec": {
        const service = servicesOf(command.project)[command.service];
        if (!service) {
          return { exitCode: 1, stderr: `service "${command.service}" is not running\n` };
        }
        if (command.index !== 1) {
          return {
            exitCode: 1,
            stderr: `service "${command.service}" is not running container #${command.index}\n`,
          };
        }
        if (!(await isRunning(service))) {
          return { exitCode: 1, stderr: `service "${command.service}" is not running\n` };
        }
        const env: Record<string, string> = {};
        for (const e of command.env) {
          const value = e.value ?? clientEnv[e.name];
          if (value !== undefined) env[e.name] = value;
        }
        const spawn = await service.container.spawnSpec(command.argv, {
          env,
          ...(command.user !== undefined ? { user: command.user } : {}),
          ...(command.workdir !== undefined ? { workdir: command.workdir } : {}),
        });
        return { spawn };
      }
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      let body: { argv?: string[]; clientEnv?: Record<string, string>; id?: number; exitCode?: number };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(400, { id: 0, exitCode: 125, stderr: "docker (test double): bad request\n" });
        return;
      }
      if (req.url === "/exited") {
        const entry = log.find((e) => e.id === body.id);
        if (entry) {
          entry.exitCode = body.exitCode ?? -1;
          appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
        }
        reply(200, { id: body.id ?? 0 });
        return;
      }
      handle({ argv: body.argv ?? [], clientEnv: body.clientEnv ?? {} }).then(
        (answer) => reply(200, answer),
        (error: unknown) =>
          reply(200, {
            id: 0,
            exitCode: 125,
            stderr: `docker (test double): ${error instanceof Error ? error.message : String(error)}\n`,
          }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });

  await mkdir(binDir, { recursive: true });
  await writeFile(
    docker,
    [
      "#!/bin/sh",
      "# TEST DOUBLE of the docker CLI (packages/testkit/src/docker-shim): see its README.",
      `IHB_DOCKER_SHIM_SOCKET=${shellQuote(socketPath)} exec ${shellQuote(process.execPath)} ${shellQuote(CLIENT)} "$@"`,
      "",
    ].join("\n"),
  );
  await chmod(docker, 0o755);
  await writeFile(logFile, "");

  return {
    binDir,
    docker,
    logFile,
    env(base: NodeJS.ProcessEnv = process.env) {
      return { ...base, PATH: [binDir, base.PATH ?? ""].join(":") };
    },
    invocations: () => log.map((e) => ({ ...e, argv: [...e.argv] })),
    setProject(name, services) {
      projects.set(name, services);
    },
    removeProject(name) {
      projects.delete(name);
    },
    async [Symbol.asyncDispose]() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir[Symbol.asyncDispose]();
    },
  };
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}
