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
/** The plugin's last stderr line, as far as it goes into an error message. */
const STDERR_LINE_LIMIT = 300;

/**
 * Runs a kubeconfig exec plugin as kubectl does (this process's environment plus the plugin's `env`,
 * KUBERNETES_EXEC_INFO, not interactive) and keeps its credential until it expires; concurrent requests
 * share one run. Only the last line of the plugin's stderr reaches the error; its stdout never does.
 */
export class ExecPluginCredentials {
  readonly #plugin: ExecPlugin;
  readonly #user: string;
  /** ExecCredential spec.cluster, sent when the plugin asks for it (`provideClusterInfo`). */
  readonly #cluster: Record<string, unknown>;
  #issued: IssuedCredential | undefined;
  #running: Promise<IssuedCredential> | undefined;

  constructor(plugin: ExecPlugin, user: string, cluster: Record<string, unknown>) {
    this.#plugin = plugin;
    this.#user = user;
    this.#cluster = cluster;
  }

  async get(): Promise<IssuedCredential> {
    const issued = this.#issued;
    if (issued && (issued.expiresAt === undefined || issued.expiresAt - EXPIRY_MARGIN_MS > Date.now())) {
      return issued;
    }
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    this.#issued = await this.#running;
    return this.#issued;
  }

  /**
   * The API server refused `issued` (401): it is not kept any longer, so the next request runs the plugin
   * again (a credential without an expiry can still be revoked; client-go does the same). False when
   * `issued` is no longer the kept one (another request already got a new one).
   */
  forget(issued: IssuedCredential): boolean {
    if (this.#issued !== issued) return false;
    this.#issued = undefined;
    return true;
  }

  async #run(): Promise<IssuedCredential> {
    const plugin = this.#plugin;
    const apiVersion = plugin.apiVersion ?? "client.authentication.k8s.io/v1";
    const spec: Record<string, unknown> = { interactive: false };
    if (plugin.provideClusterInfo) spec.cluster = this.#cluster;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    for (const { name, value } of plugin.env ?? []) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: "ExecCredential", spec });
    const { stdout, stderr, code, timedOut, error } = await runPlugin(plugin.command, plugin.args ?? [], env);
    const fail = (why: string) =>
      new BackupError(
        "INVALID_CONFIG",
        `the credential plugin ${JSON.stringify(plugin.command)} of user ${JSON.stringify(this.#user)} ${why}`,
        {
          hint: plugin.installHint?.trim() || "run the same kubectl command to see the plugin's own message",
        },
      );
    if (error) throw fail(`could not run: ${error.message}`);
    if (timedOut)
      throw fail(
        `gave no credential within ${PLUGIN_TIMEOUT_MS / 1000} s (it may wait for an interactive login)`,
      );
    const lastLine = (stderr.trim().split("\n").pop() ?? "").slice(0, STDERR_LINE_LIMIT);
    if (code !== 0) throw fail(`failed (exit status ${code})${lastLine ? `: ${lastLine}` : ""}`);
    let status: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(stdout) as { kind?: string; status?: Record<string, unknown> };
      if (parsed.kind === "ExecCredential") status = parsed.status;
    } catch {
      // Not JSON: said below without the output, which may hold a credential.
    }
    if (!status) throw fail("printed no ExecCredential on its standard output");
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
): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean; error?: Error }> {
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
        code,
        timedOut: code === null && signal === "SIGTERM",
        ...(spawnError ? { error: spawnError } : {}),
      });
    });
  });
}
