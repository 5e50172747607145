import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { serviceUser } from "./os-user.js";
import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";
import { run } from "./run.js";
import { type TempDir, tempDir } from "./temp.js";
import { postgresBin } from "./toolchain.js";

export interface PostgresRole {
  user: string;
  password: string;
}

export interface PostgresCluster extends AsyncDisposable {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** Directory of the Unix socket (socket-mode clients use it as PGHOST). */
  readonly socketDir: string;
  readonly dataDir: string;
  readonly superuser: PostgresRole;
  /** The application role and its database, like Prefect's (`prefect` / `server` on Helm). */
  readonly app: PostgresRole & { database: string };
  /** Unprivileged OS user the server runs as when the tests run as root. */
  readonly osUser: string | undefined;
  /** A connection URL as Prefect writes it, e.g. `postgresql+asyncpg://prefect:pw@127.0.0.1:5432/server`. */
  connectionUrl(options?: { scheme?: string; as?: "app" | "superuser" }): string;
  /** libpq environment (PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE) for a role, over TCP. */
  env(as?: "app" | "superuser"): NodeJS.ProcessEnv;
  /** Runs SQL through psql (SQL on stdin, password in env), returns unaligned tuples-only output. */
  psql(sql: string, options?: { database?: string; as?: "app" | "superuser" }): Promise<string>;
  bin(name: string): string;
  readonly running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  appUser?: string;
  appPassword?: string;
  appDatabase?: string;
}

/** A throwaway PostgreSQL cluster (initdb) on a random loopback port, removed on dispose. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const dir = await tempDir("ihb-postgres-");
  const user = serviceUser(["postgres", "nobody"]);
  const dataDir = join(dir.path, "data");
  const socketDir = join(dir.path, "socket");
  await mkdir(socketDir);
  const superuser: PostgresRole = { user: "postgres", password: randomBytes(12).toString("hex") };
  const app = {
    user: options.appUser ?? "prefect",
    password: options.appPassword ?? randomBytes(12).toString("hex"),
    database: options.appDatabase ?? "server",
  };
  const pwFile = join(dir.path, "superuser.pw");
  await writeFile(pwFile, `${superuser.password}\n`, { mode: 0o600 });
  if (user) {
    await chmod(dir.path, 0o755);
    for (const path of [dir.path, socketDir, pwFile]) await chown(path, user.uid, user.gid);
  }
  const asService = user ? { uid: user.uid, gid: user.gid } : {};
  await run(
    postgresBin("initdb"),
    [
      "-D",
      dataDir,
      "-U",
      superuser.user,
      "--pwfile",
      pwFile,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      "--no-instructions",
    ],
    asService,
  );
  const port = await freePort();
  const cluster = new LocalPostgres(dir, dataDir, socketDir, port, superuser, app, user?.name, asService);
  try {
    await cluster.start();
    await cluster.psql(
      `CREATE ROLE "${app.user}" LOGIN CREATEDB PASSWORD '${app.password}';\nCREATE DATABASE "${app.database}" OWNER "${app.user}";`,
      { database: "postgres", as: "superuser" },
    );
  } catch (error) {
    await cluster[Symbol.asyncDispose]();
    throw error;
  }
  return cluster;
}

class LocalPostgres implements PostgresCluster {
  readonly host = "127.0.0.1" as const;
  #server: ManagedProcess | undefined;

  constructor(
    readonly dir: TempDir,
    readonly dataDir: string,
    readonly socketDir: string,
    readonly port: number,
    readonly superuser: PostgresRole,
    readonly app: PostgresRole & { database: string },
    readonly osUser: string | undefined,
    readonly ids: { uid?: number; gid?: number },
  ) {}

  get running(): boolean {
    return this.#server?.running ?? false;
  }

  bin(name: string): string {
    return postgresBin(name);
  }

  connectionUrl(options: { scheme?: string; as?: "app" | "superuser" } = {}): string {
    const role = options.as === "superuser" ? this.superuser : this.app;
    const database = options.as === "superuser" ? "postgres" : this.app.database;
    const scheme = options.scheme ?? "postgresql+asyncpg";
    return `${scheme}://${encodeURIComponent(role.user)}:${encodeURIComponent(role.password)}@${this.host}:${this.port}/${database}`;
  }

  env(as: "app" | "superuser" = "app"): NodeJS.ProcessEnv {
    const role = as === "superuser" ? this.superuser : this.app;
    return {
      ...process.env,
      PGHOST: this.host,
      PGPORT: String(this.port),
      PGUSER: role.user,
      PGPASSWORD: role.password,
      PGDATABASE: as === "superuser" ? "postgres" : this.app.database,
    };
  }

  async psql(sql: string, options: { database?: string; as?: "app" | "superuser" } = {}): Promise<string> {
    const env = this.env(options.as ?? "app");
    if (options.database) env.PGDATABASE = options.database;
    const { stdout } = await run(
      this.bin("psql"),
      ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
      {
        env,
        input: sql,
      },
    );
    return stdout;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.#server = ManagedProcess.start({
      name: "postgres",
      command: this.bin("postgres"),
      args: [
        "-D",
        this.dataDir,
        "-p",
        String(this.port),
        "-c",
        `listen_addresses=${this.host}`,
        "-c",
        `unix_socket_directories=${this.socketDir}`,
        // Throwaway test clusters: durability is not what is under test, speed is welcome.
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
      ],
      logFile: join(this.dir.path, "postgres.log"),
      ...this.ids,
    });
    const server = this.#server;
    await waitUntil(
      `postgres on ${this.host}:${this.port}`,
      async () => {
        await run(this.bin("pg_isready"), ["-q", "-h", this.host, "-p", String(this.port)]);
        return true;
      },
      { process: server, timeoutMs: 60_000 },
    );
  }

  async stop(): Promise<void> {
    // SIGTERM = PostgreSQL "smart" shutdown would wait for clients; SIGINT is "fast" shutdown.
    const server = this.#server;
    if (!server?.running) return;
    server.killGroup("SIGINT");
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 15_000))]);
    await server.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      await this.dir[Symbol.asyncDispose]();
    }
  }
}
