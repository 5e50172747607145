// Static checks of docker/docker-compose.yml (it only runs where Docker does: the e2e-compose workflow):
// the services carry the names ComposeEnvironment looks for, and the credentials the CLI reads from the
// app containers are the ones the database containers are created with. Parsed by yq (the pinned
// toolchain's); skipped when yq is not installed.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parsePrefectDatabaseUrl } from "../src/engines/postgres/credentials.js";
import { SERVICE_NAMES } from "../src/environment/services.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const composeFile = join(repo, "docker/docker-compose.yml");
const workflowFile = join(repo, ".github/workflows/e2e-compose.yml");
const yq = (process.env.PATH ?? "")
  .split(delimiter)
  .map((d) => join(d, "yq"))
  .find((p) => existsSync(p));

interface Service {
  image: string;
  restart?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

/** `${NAME:-default}` → default, as Compose substitutes with nothing set in the shell. */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1");
}

function load(file: string): Record<string, unknown> {
  const out = spawnSync(yq as string, ["-o", "json", "explode(.)", file], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

describe.skipIf(!yq)("docker/docker-compose.yml", () => {
  const compose = yq ? load(composeFile) : {};
  const services = (compose.services ?? {}) as Record<string, Service>;
  const env = (service: string) =>
    Object.fromEntries(
      Object.entries(services[service]?.environment ?? {}).map(([k, v]) => [k, withDefaults(String(v))]),
    );

  it("has Infrahub's services under the names the Compose environment uses, on the official images", () => {
    for (const name of SERVICE_NAMES.filter((s) => s !== "task-manager-background-svc")) {
      expect(services[name], name).toBeDefined();
    }
    for (const name of ["infrahub-server", "task-worker", "task-manager"]) {
      expect(withDefaults(services[name]?.image ?? "")).toMatch(
        /^registry\.opsmill\.io\/opsmill\/infrahub:\d/,
      );
    }
    expect(withDefaults(services.database?.image ?? "")).toMatch(/^neo4j:[\d.]+-community$/);
    // The Community backup freezes Neo4j; the restart policy brings it back.
    expect(services.database?.restart).toBe("unless-stopped");
  });

  it("gives infrahub-server the Neo4j credentials the database is created with", () => {
    const server = env("infrahub-server");
    expect(env("database").NEO4J_AUTH).toBe(`${server.INFRAHUB_DB_USERNAME}/${server.INFRAHUB_DB_PASSWORD}`);
  });

  it("gives task-manager the PostgreSQL credentials task-manager-db is created with", () => {
    const url = parsePrefectDatabaseUrl(env("task-manager").PREFECT_API_DATABASE_CONNECTION_URL ?? "");
    const db = env("task-manager-db");
    expect(url).toMatchObject({
      user: db.POSTGRES_USER,
      password: db.POSTGRES_PASSWORD,
      database: db.POSTGRES_DB,
    });
    expect(env("task-worker").INFRAHUB_INTERNAL_ADDRESS).toBe("http://infrahub-server:8000");
  });

  it("matches the e2e-compose workflow: MinIO credentials, bucket, helpers", () => {
    const workflow = load(workflowFile) as { env: Record<string, string> };
    const minio = env("minio");
    expect(workflow.env.AWS_ACCESS_KEY_ID).toBe(minio.MINIO_ROOT_USER);
    expect(workflow.env.AWS_SECRET_ACCESS_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
    expect(workflow.env.INFRAHUB_S3_BUCKET).toBe(env("minio-init").BACKUP_BUCKET);
    expect(services["infrahub-server"]?.depends_on?.["minio-init"]?.condition).toBe(
      "service_completed_successfully",
    );
    const lib = readFileSync(join(repo, "docker/e2e/lib.sh"), "utf8");
    expect(lib).toContain(
      `cypher-shell -u ${env("infrahub-server").INFRAHUB_DB_USERNAME} -p ${env("infrahub-server").INFRAHUB_DB_PASSWORD}`,
    );
    expect(lib).toContain(`INFRAHUB_TOKEN:-${env("infrahub-server").INFRAHUB_INITIAL_ADMIN_TOKEN}`);
    expect(lib).toContain(`psql -d ${env("task-manager-db").POSTGRES_DB}`);
  });
});
