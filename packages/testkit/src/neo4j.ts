import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { boltQuery } from "./bolt-query.js";
import { isListening } from "./net.js";
import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";
import { run } from "./run.js";
import { type TempDir, tempDir } from "./temp.js";
import { toolDir } from "./toolchain.js";

export interface Neo4jServer extends AsyncDisposable {
  /** The shared distribution (read-only): lib/, cypher-shell/lib/, bin/, default conf/. */
  readonly home: string;
  /** Per-instance configuration directory holding neo4j.conf (data/logs/run dirs, ports, memory). */
  readonly confDir: string;
  /** Per-instance data directory (databases/, transactions/, dbms/, dumps/). */
  readonly dataDir: string;
  /** The server JVM's pid file, like /var/lib/neo4j/run/neo4j.pid in the official image. */
  readonly pidFile: string;
  readonly boltPort: number;
  /** bolt://127.0.0.1:<boltPort> */
  readonly boltUrl: string;
  readonly user: "neo4j";
  readonly password: string;
  readonly database: "neo4j";
  /**
   * A directory whose `neo4j-admin`, `cypher-shell` and `neo4j` are wrappers bound to THIS instance: they
   * export NEO4J_HOME/NEO4J_CONF, and cypher-shell defaults to this instance's bolt address, so commands
   * run as they would inside the database container.
   */
  readonly binDir: string;
  /** Environment for commands bound to this instance: PATH with binDir first, NEO4J_HOME, NEO4J_CONF. */
  env(): NodeJS.ProcessEnv;
  /**
   * Runs one statement over Bolt and returns what `cypher-shell --format plain` would print (bolt-query.ts):
   * the tests' view of the server, without a cypher-shell JVM per query. binDir's cypher-shell is the tool's.
   */
  cypher(
    query: string,
    options?: { database?: string; params?: Record<string, string | number> },
  ): Promise<string>;
  readonly running: boolean;
  /**
   * Starts the server process and waits until bolt answers a query; with `waitForQueries: false` only until
   * the Bolt port listens (Neo4j opens it once its databases have started), as a restart policy does.
   */
  start(options?: { waitForQueries?: boolean }): Promise<void>;
  /** Clean shutdown: SIGTERM to the server JVM, then waits for it to exit. */
  stop(): Promise<void>;
}

export interface Neo4jOptions {
  /** Password of the `neo4j` user. Default: random. */
  password?: string;
  /** JVM heap of the server (initial = max). Default: 512m. */
  heap?: string;
  /** Page cache size. Default: 128m. */
  pageCache?: string;
}

const STARTUP_TIMEOUT_MS = 120_000;
const SHUTDOWN_TIMEOUT_MS = 60_000;

/**
 * A throwaway Neo4j Community server (the distribution from tools/install/neo4j.sh) on random loopback
 * ports, auth on, with its conf/data/logs in a temp dir removed on dispose. Already started when returned.
 */
export async function startNeo4j(options: Neo4jOptions = {}): Promise<Neo4jServer> {
  const home = toolDir("neo4j", "NEO4J_VERSION");
  const dir = await tempDir("ihb-neo4j-");
  try {
    const boltPort = await freePort();
    const layout = instanceLayout(dir.path);
    for (const path of [layout.confDir, layout.dataDir, layout.logsDir, layout.runDir, layout.binDir]) {
      await mkdir(path, { recursive: true });
    }
    const conf = instanceConf(await readFile(join(home, "conf", "neo4j.conf"), "utf8"), {
      ...layout,
      classDataArchive: existsSync(join(home, "cds", "server.jsa"))
        ? join(home, "cds", "server.jsa")
        : undefined,
      boltPort,
      heap: options.heap ?? "512m",
      pageCache: options.pageCache ?? "128m",
    });
    await writeFile(join(layout.confDir, "neo4j.conf"), conf);
    await writeWrappers(home, layout, `bolt://127.0.0.1:${boltPort}`);
    const server = new LocalNeo4j(dir, home, layout, boltPort, options.password ?? randomPassword());
    await server.setInitialPassword();
    await server.start();
    return server;
  } catch (error) {
    await dir[Symbol.asyncDispose]();
    throw error;
  }
}

interface InstanceLayout {
  confDir: string;
  dataDir: string;
  logsDir: string;
  runDir: string;
  binDir: string;
}

function instanceLayout(root: string): InstanceLayout {
  return {
    confDir: join(root, "conf"),
    dataDir: join(root, "data"),
    logsDir: join(root, "logs"),
    runDir: join(root, "run"),
    binDir: join(root, "bin"),
  };
}

function randomPassword(): string {
  return randomBytes(12).toString("hex");
}

/**
 * The distribution's neo4j.conf with this instance's settings. Neo4j rejects a setting declared twice
 * ("… declared multiple times"), so overridden keys are removed rather than appended after.
 */
function instanceConf(
  base: string,
  instance: InstanceLayout & {
    boltPort: number;
    heap: string;
    pageCache: string;
    classDataArchive: string | undefined;
  },
): string {
  const settings: Record<string, string> = {
    "server.directories.data": instance.dataDir,
    "server.directories.logs": instance.logsDir,
    "server.directories.run": instance.runDir,
    "server.default_listen_address": "127.0.0.1",
    "server.default_advertised_address": "127.0.0.1",
    "server.bolt.enabled": "true",
    "server.bolt.listen_address": `127.0.0.1:${instance.boltPort}`,
    "server.bolt.advertised_address": `127.0.0.1:${instance.boltPort}`,
    // Nothing here speaks HTTP to Neo4j (the tool and the tests use cypher-shell over Bolt); its web server
    // costs every start ~0.6 s of CPU after Bolt is up, and its classes are not in the CDS archive.
    "server.http.enabled": "false",
    "server.https.enabled": "false",
    "dbms.security.auth_enabled": "true",
    "server.memory.heap.initial_size": instance.heap,
    "server.memory.heap.max_size": instance.heap,
    "server.memory.pagecache.size": instance.pageCache,
    "dbms.usage_report.enabled": "false",
    // Throwaway instances: no 250 MB of preallocated transaction logs per database.
    "db.tx_log.preallocate": "false",
    // Bolt waits 5 s twice for idle connections and workers on shutdown by default.
    "internal.server.bolt.connection_shutdown_wait_time": "0s",
    "internal.server.bolt.thread_pool_shutdown_wait_time": "0s",
  };
  // On 2 shared cores a serial-GC, C1-only JVM starts faster than the distribution's G1 + C2, and the
  // class-data-sharing archive made by tools/install/neo4j.sh saves ~40% of the server's start CPU. The admin
  // tool's JVM gets these flags too: JVM log lines must go to stderr, since `dump --to-stdout` owns stdout.
  const dropJvmFlags = ["-XX:+UseG1GC", "-XX:+AlwaysPreTouch"];
  const extraJvmFlags = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xlog:disable",
    "-Xlog:all=warning:stderr",
  ];
  if (instance.classDataArchive) {
    // The archive is an accelerator: a JVM that cannot map it (e.g. after a JDK update) runs on without it, quietly.
    extraJvmFlags.push(`-XX:SharedArchiveFile=${instance.classDataArchive}`, "-Xlog:cds*=off:stderr");
  }
  const kept = base.split("\n").filter((line) => {
    const match = /^\s*([A-Za-z0-9_.]+)\s*=(.*)$/.exec(line);
    if (!match) return true;
    const [, key = "", value = ""] = match;
    if (key === "server.jvm.additional") return !dropJvmFlags.includes(value.trim());
    return !(key in settings);
  });
  return [
    ...kept,
    "# --- instance settings (packages/testkit/src/neo4j.ts) ---",
    ...Object.entries(settings).map(([key, value]) => `${key}=${value}`),
    ...extraJvmFlags.map((flag) => `server.jvm.additional=${flag}`),
    "",
  ].join("\n");
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `neo4j`, `neo4j-admin` and `cypher-shell` bound to this instance, as they would be inside its container. */
async function writeWrappers(home: string, layout: InstanceLayout, boltUrl: string): Promise<void> {
  const bound = `export NEO4J_HOME=${shellQuote(home)} NEO4J_CONF=${shellQuote(layout.confDir)}`;
  const wrappers: Record<string, string> = {
    neo4j: bound,
    "neo4j-admin": bound,
    // cypher-shell's default address is neo4j://localhost:7687; inside a container that is the server.
    "cypher-shell": `${bound}\nexport NEO4J_ADDRESS="\${NEO4J_ADDRESS:-${boltUrl}}" NEO4J_CYPHER_SHELL_HISTORY="\${NEO4J_CYPHER_SHELL_HISTORY:-in-memory}"`,
  };
  for (const [name, exports] of Object.entries(wrappers)) {
    const target = shellQuote(join(home, "bin", name));
    await writeFile(join(layout.binDir, name), `#!/bin/sh\n${exports}\nexec ${target} "$@"\n`, {
      mode: 0o755,
    });
  }
}

/**
 * picocli (neo4j-admin's parser) reads `@file` arguments: the password stays out of every argv. Inside the
 * file an argument is quoted with double quotes, with backslashes and quotes escaped.
 */
function picocliArgFile(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"\n`;
}

function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isFrozen(pid: number): boolean {
  try {
    return /^State:\s+T/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

class LocalNeo4j implements Neo4jServer {
  readonly user = "neo4j" as const;
  readonly database = "neo4j" as const;
  readonly confDir: string;
  readonly dataDir: string;
  readonly logsDir: string;
  readonly pidFile: string;
  readonly binDir: string;
  readonly boltUrl: string;
  #server: ManagedProcess | undefined;
  /** The server JVM's pid (from its pid file once it runs). */
  #serverPid: number | undefined;
  #starts = 0;
  /** The server JVM's command line as `neo4j console --dry-run` printed it for this neo4j.conf. */
  #serverCommand: { conf: string; argv: string[] } | undefined;

  constructor(
    readonly dir: TempDir,
    readonly home: string,
    layout: InstanceLayout,
    readonly boltPort: number,
    readonly password: string,
  ) {
    this.confDir = layout.confDir;
    this.dataDir = layout.dataDir;
    this.logsDir = layout.logsDir;
    this.binDir = layout.binDir;
    this.pidFile = join(layout.runDir, "neo4j.pid");
    this.boltUrl = `bolt://127.0.0.1:${boltPort}`;
  }

  get running(): boolean {
    return this.#server?.running ?? false;
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${this.binDir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      NEO4J_HOME: this.home,
      NEO4J_CONF: this.confDir,
    };
  }

  /** Before the first start only (Neo4j reads data/dbms/auth.ini when it creates the system database). */
  async setInitialPassword(): Promise<void> {
    const argFile = join(this.dir.path, "initial-password.args");
    await writeFile(argFile, picocliArgFile(this.password), { mode: 0o600 });
    try {
      await run(join(this.binDir, "neo4j-admin"), ["dbms", "set-initial-password", `@${argFile}`], {
        env: this.env(),
      });
    } finally {
      await rm(argFile, { force: true });
    }
  }

  async cypher(
    query: string,
    options: { database?: string; params?: Record<string, string | number> } = {},
  ): Promise<string> {
    return await boltQuery({
      url: this.boltUrl,
      user: this.user,
      password: this.password,
      database: options.database ?? this.database,
      query,
      params: options.params,
      timeoutMs: 120_000,
    });
  }

  async start(options: { waitForQueries?: boolean } = {}): Promise<void> {
    if (this.running) return;
    this.#starts += 1;
    const [command = "", ...args] = await this.#serverArgv();
    const server = ManagedProcess.start({
      name: "neo4j",
      command,
      args,
      env: this.env(),
      logFile: join(this.logsDir, `console-${this.#starts}.log`),
    });
    this.#server = server;
    this.#serverPid = undefined;
    try {
      await waitUntil(`neo4j bolt on 127.0.0.1:${this.boltPort}`, async () => isListening(this.boltPort), {
        process: server,
        timeoutMs: STARTUP_TIMEOUT_MS,
        intervalMs: 100,
      });
      if (options.waitForQueries !== false) await this.#waitForQueries(server);
      this.#serverPid = readPid(this.pidFile);
    } catch (error) {
      await this.#kill(server);
      throw error;
    }
  }

  /**
   * The server JVM itself, as the official image's entrypoint runs it (`neo4j console --dry-run`, then exec):
   * no bootloader JVM in front of it, which on 2 shared cores is ~1 s of CPU and of wall time per (re)start.
   * Asked once per neo4j.conf content; a command line the shell would have to unquote falls back to
   * `neo4j console` (bootloader and server).
   */
  async #serverArgv(): Promise<string[]> {
    const conf = await readFile(join(this.confDir, "neo4j.conf"), "utf8");
    if (this.#serverCommand?.conf !== conf) {
      const { stdout } = await run(join(this.binDir, "neo4j"), ["console", "--dry-run"], { env: this.env() });
      const line = stdout.trim().split("\n").at(-1) ?? "";
      const argv = /["'\\$`]/.test(line) || !line.startsWith("/") ? [] : line.split(/\s+/);
      this.#serverCommand = { conf, argv };
    }
    const argv = this.#serverCommand.argv;
    return argv.length > 0 ? argv : [join(this.binDir, "neo4j"), "console"];
  }

  /** Bolt may listen a moment before the default database is online; keep the last error for the message. */
  async #waitForQueries(server: ManagedProcess): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      try {
        await this.cypher("RETURN 1");
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (
          /unauthorized|authentication failure/i.test(message) ||
          !server.running ||
          Date.now() > deadline
        ) {
          throw new Error(
            `neo4j on ${this.boltUrl} does not answer queries: ${message}\n${server.logTail()}`,
          );
        }
      }
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 250));
    }
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server?.running) return;
    // The official image's way (and the freeze helper's): SIGTERM to the server JVM from the pid file.
    const serverPid = readPid(this.pidFile) ?? this.#serverPid;
    if (serverPid !== undefined && isAlive(serverPid)) process.kill(serverPid, "SIGTERM");
    else server.killGroup("SIGTERM");
    let shutdownTimer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      server.exited.then(() => true),
      new Promise<false>((resolveTimeout) => {
        shutdownTimer = setTimeout(() => resolveTimeout(false), SHUTDOWN_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(shutdownTimer));
    if (!exited) {
      await this.#kill(server);
      throw new Error(`neo4j did not stop within ${SHUTDOWN_TIMEOUT_MS} ms; killed:\n${server.logTail()}`);
    }
    await this.#reap(serverPid);
  }

  /** Kills the server's whole process group (even when it is SIGSTOPped). */
  async #kill(server: ManagedProcess): Promise<void> {
    const serverPid = readPid(this.pidFile) ?? this.#serverPid;
    if (server.pid !== undefined) {
      try {
        process.kill(-server.pid, "SIGKILL");
      } catch {
        // group already gone
      }
    }
    await server.stop(5_000);
    await this.#reap(serverPid);
  }

  /** Make sure no server JVM outlives the instance (a bootloader, where one runs, exits after its child). */
  async #reap(serverPid: number | undefined): Promise<void> {
    if (serverPid === undefined) return;
    await waitUntil(`neo4j server JVM ${serverPid} to exit`, async () => !isAlive(serverPid), {
      timeoutMs: 5_000,
      intervalMs: 50,
    }).catch(() => {
      process.kill(serverPid, "SIGKILL");
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      const server = this.#server;
      if (server?.running) {
        const serverPid = readPid(this.pidFile) ?? this.#serverPid;
        // A frozen (SIGSTOPped) server cannot act on SIGTERM: no point waiting for a clean stop.
        if (serverPid !== undefined && isFrozen(serverPid)) await this.#kill(server);
        else await this.stop().catch(async () => this.#kill(server));
      }
    } finally {
      await this.dir[Symbol.asyncDispose]();
    }
  }
}
