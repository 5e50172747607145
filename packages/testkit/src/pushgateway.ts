import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";
import { type TempDir, tempDir } from "./temp.js";
import { toolDir } from "./toolchain.js";

/** One sample of the text exposition format: `name{labels} value`. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PushgatewayServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Set when started with `{ basicAuth: true }`: every request must carry them. */
  readonly basicAuth: { username: string; password: string } | undefined;
  readonly running: boolean;
  /** The text of `GET /metrics`, as Prometheus would scrape it. */
  scrape(): Promise<string>;
  /** The samples of `GET /metrics` named `name` (all of them without a name). */
  samples(name?: string): Promise<PrometheusSample[]>;
  /** Stops the server (also via `await using`) and removes its temp dir. */
  stop(): Promise<void>;
}

export interface PushgatewayOptions {
  /** Require HTTP basic auth (a fixed test user and password, see `basicAuth`) on every request. */
  basicAuth?: boolean;
}

const TEST_USER = "ihb-test";
const TEST_PASSWORD = "pushgateway-test-password";
// bcrypt (cost 4) of TEST_PASSWORD: the Pushgateway's web config takes only hashes, and Node has no bcrypt.
const TEST_PASSWORD_BCRYPT = "$2a$04$0vgy1ddlVdWgF6J9OVOV2O/QIblj8Ca5GpoIG47s25y0g8u/8/2ku";
const START_ATTEMPTS = 3;

/** A Prometheus Pushgateway (the pinned build) on a free loopback port, in memory (no persistence file). */
export async function startPushgateway(options: PushgatewayOptions = {}): Promise<PushgatewayServer> {
  const dir = await tempDir("ihb-pushgateway-");
  try {
    const binary = join(toolDir("pushgateway", "PUSHGATEWAY_VERSION"), "bin", "pushgateway");
    const auth = options.basicAuth ? { username: TEST_USER, password: TEST_PASSWORD } : undefined;
    const webConfig = join(dir.path, "web.yml");
    if (auth) await writeFile(webConfig, `basic_auth_users:\n  ${TEST_USER}: ${TEST_PASSWORD_BCRYPT}\n`);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = ManagedProcess.start({
        name: "pushgateway",
        command: binary,
        args: [
          `--web.listen-address=127.0.0.1:${port}`,
          "--log.level=warn",
          ...(auth ? [`--web.config.file=${webConfig}`] : []),
        ],
        env: { PATH: process.env.PATH, HOME: dir.path },
        logFile: join(dir.path, `pushgateway-${attempt}.log`),
      });
      const url = `http://127.0.0.1:${port}`;
      const headers = authHeaders(auth);
      try {
        await waitUntil(
          `pushgateway on 127.0.0.1:${port}`,
          async () => (await fetch(`${url}/-/ready`, { headers, signal: AbortSignal.timeout(2_000) })).ok,
          { process: server, timeoutMs: 30_000 },
        );
      } catch (error) {
        await server.stop();
        if (attempt < START_ATTEMPTS && /address already in use/i.test(server.logTail())) continue;
        throw error;
      }
      return new LocalPushgateway(dir, server, url, port, auth);
    }
  } catch (error) {
    await dir[Symbol.asyncDispose]();
    throw error;
  }
}

function authHeaders(auth: { username: string; password: string } | undefined): Record<string, string> {
  if (!auth) return {};
  return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` };
}

class LocalPushgateway implements PushgatewayServer {
  constructor(
    readonly dir: TempDir,
    readonly server: ManagedProcess,
    readonly url: string,
    readonly port: number,
    readonly basicAuth: { username: string; password: string } | undefined,
  ) {}

  get running(): boolean {
    return this.server.running;
  }

  async scrape(): Promise<string> {
    const response = await fetch(`${this.url}/metrics`, {
      headers: authHeaders(this.basicAuth),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`pushgateway: GET /metrics answered ${response.status}`);
    return response.text();
  }

  async samples(name?: string): Promise<PrometheusSample[]> {
    const all = parseExposition(await this.scrape());
    return name === undefined ? all : all.filter((s) => s.name === name);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.dir[Symbol.asyncDispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments and blank lines skipped). */
export function parseExposition(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split("\n")) {
    const match = SAMPLE.exec(line.trim());
    if (!match?.[1] || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(LABEL)) {
      if (key !== undefined && raw !== undefined)
        labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}
