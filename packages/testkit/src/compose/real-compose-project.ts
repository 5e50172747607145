import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../ports.js";
import { type RunResult, run } from "../run.js";
import { repoRoot } from "../toolchain.js";

/** The Compose file users try the CLI with: Infrahub's service layout, official images. */
export const COMPOSE_FILE = join(repoRoot, "docker/docker-compose.yml");
const TEST_IMAGES = ["neo4j", "postgres", "minio", "infrahub-test-double"] as const;
/** The Compose file's defaults (docker/docker-compose.yml), which this project does not override. */
const NEO4J = { user: "neo4j", password: "admin" };
const MINIO = { user: "infrahub-backup", password: "infrahub-backup-secret", bucket: "infrahub-backups" };

export interface RealComposeProject extends AsyncDisposable {
  /** The Compose project name (`-p`), unique per project started. */
  readonly name: string;
  /** The project's MinIO container, published on 127.0.0.1 only. */
  readonly s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
  /** Queries the `database` service's Neo4j with cypher-shell inside its container (password through the environment). */
  readonly neo4j: { cypher(query: string): Promise<string> };
  /** Runs SQL in the `task-manager-db` service's `prefect` database, inside its container, as `postgres`. */
  readonly postgres: { psql(sql: string): Promise<string> };
  /** `docker compose -f … -p <name> ARGS` with the project's files; rejects on a non-zero exit. */
  compose(
    args: string[],
    options?: { env?: Record<string, string>; input?: string; timeoutMs?: number },
  ): Promise<RunResult>;
  /** The id of the service's (first) container. */
  containerId(service: string): Promise<string>;
  /** Each service's container states (`docker compose ps --all`): service → states of its containers. */
  states(): Promise<Record<string, string[]>>;
}

/**
 * A real Docker Compose project from docker/docker-compose.yml, started with real `docker compose` on this
 * machine's engine. No registry is reachable here, so an override file maps every official image to a local
 * one (test-images/): Neo4j 5.26 Community and PostgreSQL 15 with the official images' layout, MinIO, and the
 * Infrahub application services as a TEST DOUBLE (idle containers with the Compose file's environment; see
 * test-images/infrahub-test-double). Health checks that call tools only the official images have become
 * `true`; host ports go, except MinIO's S3 port on 127.0.0.1. Disposing runs `down --volumes`.
 */
export async function startRealComposeProject(options: { name?: string } = {}): Promise<RealComposeProject> {
  const refs = await localImages();
  const name = options.name ?? `ihb-${process.pid}-${Date.now().toString(36)}`;
  const dir = await mkdtemp(join(tmpdir(), "ihb-compose-"));
  const s3Port = await freePort();
  const override = join(dir, "local-images.override.yml");
  await writeFile(override, overrideYaml(refs, s3Port));
  const files = ["-f", COMPOSE_FILE, "-f", override];
  const baseEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };
  const compose = (
    args: string[],
    opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
  ) =>
    run("docker", ["compose", ...files, "-p", name, ...args], {
      env: { ...baseEnv, ...opts.env },
      timeoutMs: opts.timeoutMs ?? 120_000,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
  const project: RealComposeProject = {
    name,
    s3: {
      endpoint: `http://127.0.0.1:${s3Port}`,
      bucket: MINIO.bucket,
      accessKeyId: MINIO.user,
      secretAccessKey: MINIO.password,
    },
    neo4j: {
      cypher: async (query) =>
        (
          await compose(
            [
              "exec",
              "-T",
              "-e",
              "NEO4J_PASSWORD",
              "database",
              "cypher-shell",
              "-u",
              NEO4J.user,
              "--format",
              "plain",
            ].concat([query]),
            { env: { NEO4J_PASSWORD: NEO4J.password } },
          )
        ).stdout,
    },
    postgres: {
      psql: async (sql) =>
        (
          await compose(
            [
              "exec",
              "-T",
              "-u",
              "postgres",
              "task-manager-db",
              "psql",
              "-X",
              "-q",
              "-A",
              "-t",
              "-d",
              "prefect",
            ].concat(["-v", "ON_ERROR_STOP=1", "-f", "-"]),
            { input: sql },
          )
        ).stdout,
    },
    compose,
    async containerId(service) {
      const id = (await compose(["ps", "--all", "-q", service])).stdout.trim().split("\n")[0];
      if (!id) throw new Error(`compose project ${name}: no container for service ${service}`);
      return id;
    },
    async states() {
      const out = (await compose(["ps", "--all", "--format", "json"])).stdout;
      const states: Record<string, string[]> = {};
      for (const line of out.split("\n").filter((l) => l.trim())) {
        const c = JSON.parse(line) as { Service: string; State: string };
        states[c.Service] = [...(states[c.Service] ?? []), c.State];
      }
      return states;
    },
    async [Symbol.asyncDispose]() {
      try {
        await compose(["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await compose(["up", "--detach", "--wait", "--wait-timeout", "300", "--pull", "never", "--quiet-pull"], {
      timeoutMs: 330_000,
    });
  } catch (error) {
    const logs = await compose(["logs", "--no-color", "--tail", "30"]).then(
      (r) => r.stdout,
      // The logs only enrich the error below; failing to read them must not hide it.
      (e: unknown) => `(no logs: ${String(e)})`,
    );
    await project[Symbol.asyncDispose]();
    throw new Error(`compose project ${name} did not come up: ${String(error)}\n${logs}`);
  }
  return project;
}

/** Builds (when their inputs changed) the local images the override names; returns name → reference. */
async function localImages(): Promise<Record<(typeof TEST_IMAGES)[number], string>> {
  // A cold build (debootstrap, JRE and PostgreSQL packages) takes minutes; a warm one checks labels only.
  const out = (await run(join(repoRoot, "test-images/build.sh"), [...TEST_IMAGES], { timeoutMs: 1_200_000 }))
    .stdout;
  const refs = Object.fromEntries(
    out
      .trim()
      .split("\n")
      .map((l) => l.split("=") as [string, string]),
  );
  for (const image of TEST_IMAGES)
    if (!refs[image]) throw new Error(`test-images/build.sh named no ${image} image`);
  return refs as Record<(typeof TEST_IMAGES)[number], string>;
}

function overrideYaml(refs: Record<(typeof TEST_IMAGES)[number], string>, s3Port: number): string {
  const double = refs["infrahub-test-double"];
  const healthy = `    healthcheck:\n      test: ["CMD", "true"]\n      interval: 1s\n      start_period: 0s\n`;
  const app = (service: string, extra = "") =>
    `  ${service}:\n    image: ${double}\n    pull_policy: never\n    command: ["sleep", "infinity"]\n${extra}`;
  return `# Written by testkit startRealComposeProject: local images for docker/docker-compose.yml (no registry here).
services:
  message-queue:
    image: ${double}
    pull_policy: never
${healthy}  cache:
    image: ${double}
    pull_policy: never
${healthy}  database:
    image: ${refs.neo4j}
    pull_policy: never
  task-manager-db:
    image: ${refs.postgres}
    pull_policy: never
    volumes: !override
      - workflow_db:/var/lib/postgresql/data
${app("task-manager", healthy)}${app("infrahub-server", `    ports: !reset []\n${healthy}`)}${app("task-worker")}  minio:
    image: ${refs.minio}
    pull_policy: never
    ports: !override
      - "127.0.0.1:${s3Port}:9000"
  minio-init:
    image: ${refs.minio}
    pull_policy: never
`;
}
