import { spawn } from "node:child_process";
import { BackupError } from "../errors.js";

/** A kubeconfig user's `exec` entry (client.authentication.k8s.io). */
export interface ExecPlugin {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
  installHint?: string;
  provideClusterInfo?: boolean;
}

/** What a plugin issued: a bearer token, or a client certificate and key. */
export interface IssuedCredential {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** ms since the epoch; undefined: valid for as long as this process runs. */
  expiresAt?: number;
}

/** A plugin is given this long; an interactive login cannot happen here anyway. */
const PLUGIN_TIMEOUT_MS = 60_000;
/** A credential this close to its expiry is fetched again. */
const EXPIRY_MARGIN_MS = 30_000;
/** Plugin output kept for an error message. */
const STDERR_TAIL = 2_000;

/**
 * Runs a kubeconfig exec plugin as kubectl does (KUBERNETES_EXEC_INFO, not interactive) and keeps its
 * credential until it expires. The plugin's stderr is kept for the error message, never printed.
 */
export class ExecPluginCredentials {
  readonly #plugin: ExecPlugin;
  readonly #user: string;
  readonly #cluster: Record<string, unknown>;
  readonly #env: Readonly<Record<string, string | undefined>>;
  #current: Promise<IssuedCredential> | undefined;

  constructor(
    plugin: ExecPlugin,
    user: string,
    cluster: Record<string, unknown>,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.#plugin = plugin;
    this.#user = user;
    this.#cluster = cluster;
    this.#env = env;
  }

  async get(): Promise<IssuedCredential> {
    // A run that failed is not kept: it threw to its own caller, and this request runs the plugin again.
    const current = this.#current ? await this.#current.catch(() => undefined) : undefined;
    if (current && (current.expiresAt === undefined || current.expiresAt - EXPIRY_MARGIN_MS > Date.now())) {
      return current;
    }
    this.#current = this.#run();
    return this.#current;
  }

  async #run(): Promise<IssuedCredential> {
    const plugin = this.#plugin;
    const apiVersion = plugin.apiVersion ?? "client.authentication.k8s.io/v1";
    const spec: Record<string, unknown> = { interactive: false };
    if (plugin.provideClusterInfo) {
      const { __base: _b, ...cluster } = this.#cluster;
      spec.cluster = {
        server: cluster.server,
        ...(typeof cluster["certificate-authority-data"] === "string"
          ? { "certificate-authority-data": cluster["certificate-authority-data"] }
          : {}),
        ...(cluster["insecure-skip-tls-verify"] === true ? { "insecure-skip-tls-verify": true } : {}),
        ...(typeof cluster["tls-server-name"] === "string"
          ? { "tls-server-name": cluster["tls-server-name"] }
          : {}),
      };
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#env)) if (v !== undefined) env[k] = v;
    for (const { name, value } of plugin.env ?? []) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: "ExecCredential", spec });
    const { stdout, stderr, code, error } = await runPlugin(plugin.command, plugin.args ?? [], env);
    const fail = (why: string) =>
      new BackupError(
        "INVALID_CONFIG",
        `the credential plugin ${JSON.stringify(plugin.command)} of user ${JSON.stringify(this.#user)} ${why}`,
        {
          hint: plugin.installHint?.trim() || "run the same kubectl command to see the plugin's own message",
          details: { stderr: stderr.slice(-STDERR_TAIL) },
        },
      );
    if (error) throw fail(`could not run: ${error.message}`);
    if (code !== 0) throw fail(`failed (exit status ${code}): ${stderr.trim().split("\n").pop() ?? ""}`);
    let status: Record<string, unknown>;
    try {
      const parsed = JSON.parse(stdout) as { kind?: string; status?: Record<string, unknown> };
      if (parsed.kind !== "ExecCredential" || !parsed.status) throw new Error("not an ExecCredential");
      status = parsed.status;
    } catch (parseError) {
      throw fail(`printed no ExecCredential (${(parseError as Error).message})`);
    }
    const issued: IssuedCredential = {};
    if (typeof status.token === "string" && status.token !== "") issued.token = status.token;
    if (typeof status.clientCertificateData === "string" && typeof status.clientKeyData === "string") {
      issued.cert = Buffer.from(status.clientCertificateData);
      issued.key = Buffer.from(status.clientKeyData);
    }
    if (!issued.token && !issued.cert) throw fail("issued neither a token nor a client certificate");
    if (typeof status.expirationTimestamp === "string") {
      const at = Date.parse(status.expirationTimestamp);
      if (Number.isFinite(at)) issued.expiresAt = at;
    }
    return issued;
  }
}

function runPlugin(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string; code: number | null; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: PLUGIN_TIMEOUT_MS,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    let spawnError: Error | undefined;
    child.on("error", (error) => {
      spawnError = error;
    });
    child.on("close", (code, signal) => {
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? (signal ? 128 : null),
        ...(spawnError ? { error: spawnError } : {}),
      });
    });
  });
}
