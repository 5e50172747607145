import { realpathSync } from "node:fs";
import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Neo4jServer } from "../neo4j.js";
import { findOsUser } from "../os-user.js";
import type { PostgresCluster } from "../postgres.js";
import {
  type ContainerSandbox,
  createContainerSandbox,
  hostCommand,
  type SandboxUser,
} from "./container-sandbox.js";

/** Which deployment's image and settings a sandbox imitates. */
export type SandboxFlavour = "helm" | "compose";

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** Host identity of the OS user a local server runs as (undefined: the test process's own). */
function hostIdentityOf(osUser: string | undefined): SandboxUser["host"] {
  if (!osUser) return undefined;
  const found = findOsUser(osUser);
  return found ? { uid: found.uid, gid: found.gid } : undefined;
}

export interface Neo4jSandboxOptions {
  /** Default `helm` (neo4j/helm-charts StatefulSet, runs as uid 7474 `neo4j`); `compose` runs as root. */
  flavour?: SandboxFlavour;
  /**
   * How the password reaches the container. `file` (Helm default since neo4j/helm-charts#263):
   * NEO4J_AUTH_PATH names a file holding `neo4j/<password>`; `env`: NEO4J_AUTH itself (Compose, old charts).
   * Default: `file` for helm, `env` for compose.
   */
  auth?: "file" | "env";
  /** Extra container env (e.g. what a values override adds). */
  env?: Record<string, string>;
}

/**
 * The `neo4j` container of the database pod (Helm) or the `database` service (Compose), bound to a real
 * local Neo4j: `neo4j-admin`, `cypher-shell` and `neo4j` act on that instance's store and bolt port, and run
 * as the same host identity as the server, so `neo4j-admin database dump/load` can read and write its store.
 */
export async function createNeo4jSandbox(
  neo4j: Neo4jServer,
  options: Neo4jSandboxOptions = {},
): Promise<ContainerSandbox> {
  const flavour = options.flavour ?? "helm";
  const auth = options.auth ?? (flavour === "helm" ? "file" : "env");
  const neo4jUser: SandboxUser = { name: "neo4j", uid: 7474 };
  const rootUser: SandboxUser = { name: "root", uid: 0 };
  // The image ships its JVM (JAVA_HOME=/opt/java/openjdk); here the host's, which the local server uses too.
  const javaPath = hostCommand("java");
  if (!javaPath) throw new Error("Neo4j sandbox: no java on this host (tools/bootstrap.sh installs it)");
  const java = realpathSync(javaPath);
  const env: Record<string, string> = {
    JAVA_HOME: dirname(dirname(java)),
    NEO4J_EDITION: "community",
  };
  if (flavour === "helm") {
    Object.assign(env, {
      HOSTNAME: "infrahub-database-0",
      NEO4J_CONF: neo4j.confDir,
      K8S_NEO4J_NAME: "infrahub",
      NEO4J_EDITION: "COMMUNITY_K8S",
      HELM_NEO4J_VERSION: "5.26.0",
      SERVICE_NEO4J_ADMIN: "infrahub-database-admin.infrahub.svc.cluster.local",
    });
  }
  if (auth === "env") env.NEO4J_AUTH = `${neo4j.user}/${neo4j.password}`;
  const sandbox = await createContainerSandbox({
    name: flavour === "helm" ? "infrahub-database-0.neo4j" : "database",
    env: { ...env, ...(options.env ?? {}) },
    commands: {
      "neo4j-admin": join(neo4j.binDir, "neo4j-admin"),
      "cypher-shell": join(neo4j.binDir, "cypher-shell"),
      neo4j: join(neo4j.binDir, "neo4j"),
      java,
    },
    user: flavour === "helm" ? neo4jUser : rootUser,
    users: flavour === "helm" ? [] : [neo4jUser],
  });
  const home = await neo4jHomeView(neo4j, join(sandbox.dir, "var", "lib", "neo4j"));
  sandbox.setEnv("NEO4J_HOME", home);
  sandbox.setEnv("HOME", home);
  if (auth === "file") {
    // The chart mounts Secret infrahub-auth at /config/neo4j-auth; here the file lives in the sandbox.
    const authDir = join(sandbox.dir, "config", "neo4j-auth");
    await mkdir(authDir, { recursive: true });
    const authFile = join(authDir, "NEO4J_AUTH");
    await writeFile(authFile, `${neo4j.user}/${neo4j.password}`, { mode: 0o644 });
    sandbox.setEnv("NEO4J_AUTH_PATH", authFile);
  }
  return sandbox;
}

/**
 * The image's NEO4J_HOME (/var/lib/neo4j) for one instance: the shared distribution's entries, with conf/,
 * data/, logs/ and run/ pointing at the instance's own directories, so `$NEO4J_HOME/run/neo4j.pid` is the
 * running server's pid file and `$NEO4J_HOME/data` its store, as in the container.
 */
async function neo4jHomeView(neo4j: Neo4jServer, path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  const instanceRoot = dirname(neo4j.confDir);
  const own: Record<string, string> = {
    conf: neo4j.confDir,
    data: neo4j.dataDir,
    logs: join(instanceRoot, "logs"),
    run: dirname(neo4j.pidFile),
  };
  for (const entry of await readdir(neo4j.home))
    if (!(entry in own)) await symlink(join(neo4j.home, entry), join(path, entry));
  for (const [entry, target] of Object.entries(own)) await symlink(target, join(path, entry));
  return path;
}

export interface PostgresSandboxOptions {
  /**
   * `helm` (default): Bitnami PostgreSQL of the prefect-server subchart: uid 1001 without a passwd entry
   * (`whoami` fails), POSTGRES_USER/PASSWORD/DATABASE of the app role, no superuser.
   * `compose`: postgres:18-alpine: root by default (user `postgres` available), POSTGRES_USER=postgres
   * (the superuser) and POSTGRES_DB = the app database.
   */
  flavour?: SandboxFlavour;
  env?: Record<string, string>;
}

/**
 * The PostgreSQL container bound to a real local cluster: `psql`, `pg_dump`, `pg_restore`, `pg_isready`,
 * `createdb`, `dropdb` are wrappers whose built-in defaults point at that cluster (port, and the Unix socket
 * directory), the way the image's compiled-in defaults point at its own server. They only set PGHOST/PGPORT
 * when unset, so `-h localhost`/`-p` and the container env still win, and `env` shows only the container env.
 */
export async function createPostgresSandbox(
  postgres: PostgresCluster,
  options: PostgresSandboxOptions = {},
): Promise<ContainerSandbox> {
  const flavour = options.flavour ?? "helm";
  const server = hostIdentityOf((postgres as { osUser?: string }).osUser);
  const env: Record<string, string> =
    flavour === "helm"
      ? {
          HOSTNAME: "infrahub-postgresql-0",
          BITNAMI_DEBUG: "false",
          POSTGRESQL_PORT_NUMBER: String(postgres.port),
          POSTGRESQL_VOLUME_DIR: "/bitnami/postgresql",
          // The image's /bitnami/postgresql/data is its volume; here that is the real cluster's data directory
          // (what a restore stages a dump under, so that staging has the volume's real free space).
          PGDATA: postgres.dataDir,
          POSTGRES_USER: postgres.app.user,
          POSTGRES_PASSWORD: postgres.app.password,
          POSTGRES_DATABASE: postgres.app.database,
          POSTGRESQL_ENABLE_LDAP: "no",
          POSTGRESQL_ENABLE_TLS: "no",
          HOME: "/",
        }
      : {
          POSTGRES_USER: postgres.superuser.user,
          POSTGRES_PASSWORD: postgres.superuser.password,
          POSTGRES_DB: postgres.app.database,
          PGDATA: postgres.dataDir, // the image's /var/lib/postgresql/18/docker: see above
          PG_MAJOR: "18",
          HOME: "/root",
        };
  const sandbox = await createContainerSandbox({
    name: flavour === "helm" ? "infrahub-postgresql-0.postgresql" : "task-manager-db",
    env: { ...env, ...(options.env ?? {}) },
    user:
      flavour === "helm"
        ? { name: null, uid: 1001, ...(server ? { host: server } : {}) }
        : { name: "root", uid: 0 },
    users: flavour === "helm" ? [] : [{ name: "postgres", uid: 70, ...(server ? { host: server } : {}) }],
  });
  const wrapperDir = join(sandbox.dir, "postgres-bin");
  await mkdir(wrapperDir, { recursive: true });
  for (const name of ["psql", "pg_dump", "pg_restore", "pg_isready", "createdb", "dropdb"]) {
    const path = join(wrapperDir, name);
    await writeFile(
      path,
      `#!/bin/sh\nexport PGHOST="\${PGHOST:-${postgres.socketDir}}" PGPORT="\${PGPORT:-${postgres.port}}"\nexec ${shellQuote(postgres.bin(name))} "$@"\n`,
      { mode: 0o755 },
    );
    await sandbox.addCommand(name, path);
  }
  return sandbox;
}
