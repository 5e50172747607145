import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { load as parseYaml } from "js-yaml";
import { BackupError } from "../errors.js";
import {
  type ExecPlugin,
  ExecPluginCredentials,
  type IssuedCredential,
} from "./kubernetes-exec-credential.js";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How to reach the Kubernetes API server; every field has a default (kubeconfig, then in-cluster). */
export interface KubernetesConnectionOptions {
  /**
   * Kubeconfig file(s), `:`-separated as in KUBECONFIG. Default: `$KUBECONFIG`, else `~/.kube/config`,
   * else the in-cluster service account.
   */
  kubeconfig?: string;
  /** Kubeconfig context; default the file's current context. */
  context?: string;
  /**
   * Prefix of the in-cluster service-account files (`<root>/var/run/secrets/…`); default "" (tests point
   * it at a directory holding a real token).
   */
  inClusterRoot?: string;
  /** Environment to read KUBECONFIG / KUBERNETES_SERVICE_HOST from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** TLS and credentials for one request (node:https / ws options). */
export interface KubeRequestOptions {
  /** PEM of the CA that signed the API server's certificate; default Node's CAs. */
  ca?: Buffer;
  /** PEM of a client certificate. */
  cert?: Buffer;
  /** PEM of the client certificate's key. */
  key?: Buffer;
  /** False only with `insecure-skip-tls-verify`. */
  rejectUnauthorized: boolean;
  /** `tls-server-name`. */
  servername?: string;
  /** `Authorization` when the user has a token or a password; kubectl's impersonation (`as`, `as-groups`…). */
  headers: Record<string, string | string[]>;
}

/** The API server and credentials of one kubeconfig context, or of the pod's service account (see `loadKubeConfig`). */
export interface KubeConfig {
  /** `https://host:port` of the API server (a path prefix, as API proxies use, kept). */
  readonly server: string;
  /** The context's name ("in-cluster" for a service account). */
  readonly contextName: string;
  /** TLS options and the Authorization header for the next request (a rotated token file is read again). */
  requestOptions(): Promise<KubeRequestOptions>;
  /**
   * The API server answered 401 to a request made with `sent`: a credential kept from an exec plugin is
   * dropped. True when the next `requestOptions()` may carry another credential (worth one more try).
   */
  credentialRefused?(sent: KubeRequestOptions): boolean;
}

/** The user entry's way of proving who it is. */
type Credential =
  | { kind: "none" }
  | { kind: "token"; token: string }
  | { kind: "oidc"; user: string; token: string; expiresAt: number | undefined }
  | { kind: "tokenFile"; path: string }
  | { kind: "basic"; username: string; password: string }
  | { kind: "exec"; plugin: ExecPluginCredentials };

/**
 * What kubectl would use for a context. Credentials are resolved per request: a token file (service-account
 * tokens rotate) is read again, an exec plugin runs again once its credential expires.
 */
class KubeContext implements KubeConfig {
  readonly server: string;
  readonly contextName: string;
  readonly #ca: Buffer | undefined;
  readonly #cert: Buffer | undefined;
  readonly #key: Buffer | undefined;
  readonly #insecure: boolean;
  readonly #servername: string | undefined;
  readonly #credential: Credential;
  readonly #impersonation: Record<string, string | string[]>;

  constructor(init: {
    server: string;
    contextName: string;
    ca?: Buffer | undefined;
    cert?: Buffer | undefined;
    key?: Buffer | undefined;
    insecure?: boolean;
    servername?: string | undefined;
    credential: Credential;
    impersonation?: Record<string, string | string[]>;
  }) {
    this.server = init.server.replace(/\/+$/, "");
    this.contextName = init.contextName;
    this.#ca = init.ca;
    this.#cert = init.cert;
    this.#key = init.key;
    this.#insecure = init.insecure ?? false;
    this.#servername = init.servername;
    this.#credential = init.credential;
    this.#impersonation = init.impersonation ?? {};
  }

  /** The exec plugin's credential behind each options object handed out (for `credentialRefused`). */
  readonly #issuedFor = new WeakMap<KubeRequestOptions, IssuedCredential>();

  credentialRefused(sent: KubeRequestOptions): boolean {
    const issued = this.#issuedFor.get(sent);
    return issued !== undefined && this.#credential.kind === "exec" && this.#credential.plugin.forget(issued);
  }

  async requestOptions(): Promise<KubeRequestOptions> {
    const options: KubeRequestOptions = { rejectUnauthorized: !this.#insecure, headers: {} };
    // Several groups: one header each, which node:https and ws send for an array value.
    Object.assign(options.headers, this.#impersonation);
    if (this.#ca) options.ca = this.#ca;
    if (this.#servername) options.servername = this.#servername;
    if (this.#cert && this.#key) {
      options.cert = this.#cert;
      options.key = this.#key;
    }
    const credential = this.#credential;
    switch (credential.kind) {
      case "token":
        options.headers.Authorization = `Bearer ${credential.token}`;
        break;
      case "oidc":
        // Checked per request: a token in date when the run started may expire during it.
        if (credential.expiresAt !== undefined && credential.expiresAt <= Date.now()) {
          throw oidcExpired(credential.user);
        }
        options.headers.Authorization = `Bearer ${credential.token}`;
        break;
      case "tokenFile":
        options.headers.Authorization = `Bearer ${readFileSync(credential.path, "utf8").trim()}`;
        break;
      case "basic":
        options.headers.Authorization = `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
        break;
      case "exec": {
        const issued = await credential.plugin.get();
        this.#issuedFor.set(options, issued);
        if (issued.token) options.headers.Authorization = `Bearer ${issued.token}`;
        if (issued.cert && issued.key) {
          options.cert = issued.cert;
          options.key = issued.key;
        }
        break;
      }
      case "none":
        break;
    }
    return options;
  }
}

/** True when running in a pod with a mounted service-account token. */
export function inCluster(options: KubernetesConnectionOptions = {}): boolean {
  const env = options.env ?? process.env;
  return (
    Boolean(env.KUBERNETES_SERVICE_HOST) &&
    existsSync(`${options.inClusterRoot ?? ""}${SERVICE_ACCOUNT_DIR}/token`)
  );
}

/**
 * Loads credentials the way kubectl does (KUBECONFIG, ~/.kube/config, in-cluster) but never falls back
 * to an implicit `localhost:8080`: no configuration means no Kubernetes environment.
 */
export function loadKubeConfig(options: KubernetesConnectionOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const files = (options.kubeconfig ?? env.KUBECONFIG ?? "").split(":").filter(Boolean);
  const homeConfig = join(env.HOME ?? homedir(), ".kube", "config");
  try {
    if (files.length > 0) {
      const present = files.filter((f) => existsSync(f));
      if (present.length === 0) {
        throw new BackupError("ENVIRONMENT_NOT_FOUND", `kubeconfig ${files.join(", ")} does not exist`, {
          hint: "check KUBECONFIG",
        });
      }
      return fromKubeconfig(mergeKubeconfigs(present.map(readKubeconfig)), options.context);
    }
    if (existsSync(homeConfig)) {
      return fromKubeconfig(mergeKubeconfigs([readKubeconfig(homeConfig)]), options.context);
    }
    if (inCluster(options)) return fromServiceAccount(options.inClusterRoot ?? "", env);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(
      "INVALID_CONFIG",
      `cannot load the Kubernetes configuration: ${(error as Error).message}`,
      { cause: error },
    );
  }
  throw new BackupError(
    "ENVIRONMENT_NOT_FOUND",
    "no Kubernetes configuration (no KUBECONFIG, no ~/.kube/config, not in a pod)",
    { hint: "set KUBECONFIG, or run inside the cluster with a service account" },
  );
}

function fromServiceAccount(root: string, env: Readonly<Record<string, string | undefined>>): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const dir = `${root}${SERVICE_ACCOUNT_DIR}`;
  const ca = `${dir}/ca.crt`;
  return new KubeContext({
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    contextName: "in-cluster",
    ca: existsSync(ca) ? readFileSync(ca) : undefined,
    credential: { kind: "tokenFile", path: `${dir}/token` },
  });
}

/** One kubeconfig file's named entries, file paths in them made absolute (kubectl resolves them against the file). */
interface KubeconfigFile {
  currentContext: string | undefined;
  clusters: Map<string, Record<string, unknown>>;
  users: Map<string, Record<string, unknown>>;
  contexts: Map<string, Record<string, unknown>>;
}

function readKubeconfig(path: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8")) ?? {};
  } catch (error) {
    // js-yaml's message quotes the lines around the fault, which may hold a token or a key: only where.
    const { reason, mark } = error as { reason?: string; mark?: { line: number; column: number } };
    if (reason === undefined) throw error;
    const where = mark ? ` (line ${mark.line + 1}, column ${mark.column + 1})` : "";
    throw new Error(`${path} is not valid YAML: ${reason}${where}`);
  }
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new Error(`${path} is not a kubeconfig (not a mapping)`);
  const root = doc as Record<string, unknown>;
  const base = dirname(resolve(path));
  const named = (key: string, inner: string) => {
    const entries = new Map<string, Record<string, unknown>>();
    const list = root[key] ?? [];
    if (!Array.isArray(list)) throw new Error(`${path}: ${key} is not a list`);
    for (const item of list as Record<string, unknown>[]) {
      const name = item?.name;
      if (typeof name !== "string" || entries.has(name)) continue;
      entries.set(name, { ...((item[inner] as Record<string, unknown> | undefined) ?? {}), __base: base });
    }
    return entries;
  };
  const current = root["current-context"];
  return {
    currentContext: typeof current === "string" && current !== "" ? current : undefined,
    clusters: named("clusters", "cluster"),
    users: named("users", "user"),
    contexts: named("contexts", "context"),
  };
}

/** kubectl's merge of KUBECONFIG files: the first file to name an entry (or the current context) wins. */
function mergeKubeconfigs(files: KubeconfigFile[]): KubeconfigFile {
  const merged: KubeconfigFile = {
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const file of files) {
    merged.currentContext ??= file.currentContext;
    for (const key of ["clusters", "users", "contexts"] as const) {
      for (const [name, entry] of file[key]) if (!merged[key].has(name)) merged[key].set(name, entry);
    }
  }
  return merged;
}

function fromKubeconfig(config: KubeconfigFile, contextName: string | undefined): KubeConfig {
  const name = contextName ?? config.currentContext;
  if (!name) {
    throw new BackupError("INVALID_CONFIG", "the Kubernetes configuration has no current context", {
      hint: "kubectl config use-context <name>",
    });
  }
  const context = config.contexts.get(name);
  if (!context) {
    throw new BackupError(
      "INVALID_CONFIG",
      `the Kubernetes configuration has no context ${JSON.stringify(name)}`,
      {
        hint: "kubectl config get-contexts lists them; kubectl config use-context <name> chooses one",
      },
    );
  }
  const cluster = config.clusters.get(String(context.cluster ?? ""));
  if (!cluster || typeof cluster.server !== "string" || cluster.server === "") {
    throw new BackupError("INVALID_CONFIG", `context ${JSON.stringify(name)} has no cluster with a server`, {
      hint: "kubectl config view shows the contexts and their clusters",
    });
  }
  if (typeof cluster["proxy-url"] === "string" && cluster["proxy-url"] !== "") {
    throw new BackupError(
      "INVALID_CONFIG",
      `cluster ${JSON.stringify(context.cluster)} sets proxy-url, which infrahub-backup does not support`,
      {
        hint: "run infrahub-backup where the API server is reachable directly (e.g. as the chart's Job inside the cluster)",
      },
    );
  }
  const user = config.users.get(String(context.user ?? "")) ?? {};
  const ca = fileOrData(cluster, "certificate-authority");
  return new KubeContext({
    server: cluster.server,
    contextName: name,
    ca,
    cert: fileOrData(user, "client-certificate"),
    key: fileOrData(user, "client-key"),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    servername: typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined,
    credential: credentialOf(String(context.user ?? ""), user, clusterInfo(cluster, ca)),
    impersonation: impersonationOf(user),
  });
}

/** `cluster`: what an exec plugin is told of the cluster when it asks (`provideClusterInfo`). */
function credentialOf(
  userName: string,
  user: Record<string, unknown>,
  cluster: Record<string, unknown>,
): Credential {
  if (typeof user.token === "string" && user.token !== "") return { kind: "token", token: user.token };
  if (typeof user.tokenFile === "string" && user.tokenFile !== "") {
    return { kind: "tokenFile", path: absolute(user, user.tokenFile) };
  }
  if (typeof user.username === "string" && user.username !== "") {
    return { kind: "basic", username: user.username, password: String(user.password ?? "") };
  }
  if (user.exec && typeof user.exec === "object") {
    const exec = user.exec as ExecPlugin & Record<string, unknown>;
    if (typeof exec.command !== "string" || exec.command === "") {
      throw new BackupError("INVALID_CONFIG", `user ${JSON.stringify(userName)}: exec has no command`);
    }
    const command =
      exec.command.includes("/") && !isAbsolute(exec.command) ? absolute(user, exec.command) : exec.command;
    return {
      kind: "exec",
      plugin: new ExecPluginCredentials({ ...exec, command }, userName, cluster),
    };
  }
  if (user["auth-provider"] && typeof user["auth-provider"] === "object") {
    return authProviderToken(userName, user["auth-provider"] as Record<string, unknown>);
  }
  return { kind: "none" };
}

/**
 * auth-provider entries: kubectl itself dropped the gcp and azure providers (1.26); an `oidc` id-token
 * still in date is used as kubectl would. Refreshing it is left to kubectl or an exec plugin (kubelogin).
 */
function authProviderToken(userName: string, provider: Record<string, unknown>): Credential {
  const config = (provider.config ?? {}) as Record<string, unknown>;
  const idToken = config["id-token"];
  if (provider.name === "oidc" && typeof idToken === "string" && idToken !== "") {
    const expiresAt = jwtExpiry(idToken);
    if (expiresAt !== undefined && expiresAt <= Date.now()) throw oidcExpired(userName);
    return { kind: "oidc", user: userName, token: idToken, expiresAt };
  }
  throw new BackupError(
    "INVALID_CONFIG",
    `user ${JSON.stringify(userName)} uses the auth-provider ${JSON.stringify(provider.name)}, which infrahub-backup does not support`,
    {
      hint: "use an exec credential plugin (as current kubectl versions do), a token or a client certificate",
    },
  );
}

function oidcExpired(userName: string): BackupError {
  return new BackupError(
    "INVALID_CONFIG",
    `user ${JSON.stringify(userName)}: its OIDC id-token has expired`,
    {
      hint: "refresh it (any kubectl command does), or use an exec credential plugin such as kubelogin",
    },
  );
}

/** kubectl's `as`, `as-groups`, `as-uid`, `as-user-extra`: headers that make the API server act as that user. */
function impersonationOf(user: Record<string, unknown>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (typeof user.as === "string" && user.as !== "") headers["Impersonate-User"] = user.as;
  const groups = user["as-groups"];
  if (Array.isArray(groups) && groups.length > 0) headers["Impersonate-Group"] = groups.map(String);
  if (typeof user["as-uid"] === "string" && user["as-uid"] !== "")
    headers["Impersonate-Uid"] = user["as-uid"];
  const extra = user["as-user-extra"];
  if (extra && typeof extra === "object") {
    for (const [key, values] of Object.entries(extra as Record<string, unknown>)) {
      headers[`Impersonate-Extra-${encodeURIComponent(key)}`] = (
        Array.isArray(values) ? values : [values]
      ).map(String);
    }
  }
  return headers;
}

/** The `exp` of a JWT in ms, if it has one; the signature is the API server's to check. */
function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
      exp?: unknown;
    };
    return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
  } catch {
    // Not a JWT: the API server decides whether it is a valid token.
    return undefined;
  }
}

/** What `provideClusterInfo` gives an exec plugin (client-go's ExecCredential spec.cluster). */
function clusterInfo(cluster: Record<string, unknown>, ca: Buffer | undefined): Record<string, unknown> {
  const extensions = Array.isArray(cluster.extensions)
    ? (cluster.extensions as Record<string, unknown>[])
    : [];
  const execExtension = extensions.find((e) => e?.name === "client.authentication.k8s.io/exec");
  return {
    server: cluster.server,
    ...(typeof cluster["tls-server-name"] === "string"
      ? { "tls-server-name": cluster["tls-server-name"] }
      : {}),
    ...(cluster["insecure-skip-tls-verify"] === true ? { "insecure-skip-tls-verify": true } : {}),
    ...(ca ? { "certificate-authority-data": ca.toString("base64") } : {}),
    ...(execExtension?.extension !== undefined ? { config: execExtension.extension } : {}),
  };
}

function fileOrData(entry: Record<string, unknown>, key: string): Buffer | undefined {
  const data = entry[`${key}-data`];
  if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
  const file = entry[key];
  if (typeof file === "string" && file !== "") return readFileSync(absolute(entry, file));
  return undefined;
}

function absolute(entry: Record<string, unknown>, path: string): string {
  return isAbsolute(path) ? path : join(String(entry.__base ?? "."), path);
}
