import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type {
  V1Deployment,
  V1DeploymentList,
  V1Lease,
  V1PodList,
  V1Scale,
  V1StatefulSet,
  V1StatefulSetList,
} from "@kubernetes/client-node";
import type { KubeConfig, KubeRequestOptions } from "./kubernetes-config.js";

/** One API call is given this long (a cluster-wide pod list on a large cluster included). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Bytes of a refusal kept: a Status object is small. */
const ERROR_BODY_LIMIT = 64 * 1024;
/**
 * Tries of one call that meets a transient failure (an API server restarting, a load balancer dropping a
 * pooled connection, priority-and-fairness throttling), as client-go retries them: waits of 0.25, 0.5, 1 and
 * 2 s between them, or the server's Retry-After (at most 10 s). A blip while Infrahub is scaled back up must
 * not leave it down, nor fail a restore that succeeded.
 */
export const TRANSIENT_TRIES = 5;
const RETRY_AFTER_CAP_MS = 10_000;

/** The wait after failed try `attempt` (1-based) before the next: 0.25, 0.5, 1, 2 s. Exec handshakes use it too. */
export function transientBackoffMs(attempt: number): number {
  return 250 * 2 ** (attempt - 1);
}
/** Socket errors after which the request may or may not have reached the API server. */
const NETWORK_ERRORS = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ECONNABORTED",
]);

/** The API server answered with a status other than 2xx. `code` is the HTTP status; `body` its text. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: string;
  /** The answer's Retry-After, in milliseconds (429 and 503 may carry one). */
  readonly retryAfterMs: number | undefined;
  constructor(method: string, path: string, code: number, body: string, retryAfterMs?: number) {
    let reason = "";
    try {
      reason = (JSON.parse(body) as { message?: string }).message ?? "";
    } catch {
      // Not a Status object (a proxy's HTML page): the HTTP status says enough.
    }
    super(reason || `${method} ${path}: HTTP ${code}`);
    this.name = "KubeApiError";
    this.code = code;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

interface Query {
  [name: string]: string | number | undefined;
}

/**
 * The few Kubernetes API calls this tool makes, as plain JSON over node:https — instead of the generated
 * client, whose models, serializers and transport cost every run ~16 MiB of memory (bench/README.md,
 * "Memory"). Method names and parameters follow @kubernetes/client-node's, whose model types describe
 * the JSON (timestamps stay ISO strings).
 */
export class KubeApi {
  readonly #config: KubeConfig;

  constructor(config: KubeConfig) {
    this.#config = config;
  }

  listNamespacedPod(p: { namespace: string; labelSelector?: string; limit?: number }): Promise<V1PodList> {
    const { namespace, ...query } = p;
    return this.#call("GET", `/api/v1/namespaces/${seg(namespace)}/pods`, { query });
  }

  listPodForAllNamespaces(p: { labelSelector?: string } = {}): Promise<V1PodList> {
    return this.#call("GET", "/api/v1/pods", { query: p });
  }

  listNamespacedDeployment(p: { namespace: string }): Promise<V1DeploymentList> {
    return this.#call("GET", `${apps(p.namespace)}/deployments`);
  }

  listNamespacedStatefulSet(p: { namespace: string }): Promise<V1StatefulSetList> {
    return this.#call("GET", `${apps(p.namespace)}/statefulsets`);
  }

  readNamespacedDeployment(p: { name: string; namespace: string }): Promise<V1Deployment> {
    return this.#call("GET", `${apps(p.namespace)}/deployments/${seg(p.name)}`);
  }

  readNamespacedStatefulSet(p: { name: string; namespace: string }): Promise<V1StatefulSet> {
    return this.#call("GET", `${apps(p.namespace)}/statefulsets/${seg(p.name)}`);
  }

  readNamespacedDeploymentScale(p: { name: string; namespace: string }): Promise<V1Scale> {
    return this.#call("GET", `${apps(p.namespace)}/deployments/${seg(p.name)}/scale`);
  }

  readNamespacedStatefulSetScale(p: { name: string; namespace: string }): Promise<V1Scale> {
    return this.#call("GET", `${apps(p.namespace)}/statefulsets/${seg(p.name)}/scale`);
  }

  /** A JSON patch (RFC 6902) of the scale subresource. */
  patchNamespacedDeploymentScale(p: ScalePatch): Promise<V1Scale> {
    return this.#patchScale("deployments", p);
  }

  patchNamespacedStatefulSetScale(p: ScalePatch): Promise<V1Scale> {
    return this.#patchScale("statefulsets", p);
  }

  readNamespacedLease(p: { name: string; namespace: string }): Promise<V1Lease> {
    return this.#call("GET", `${leases(p.namespace)}/${seg(p.name)}`);
  }

  createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.#call("POST", leases(p.namespace), { body: p.body });
  }

  replaceNamespacedLease(p: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.#call("PUT", `${leases(p.namespace)}/${seg(p.name)}`, { body: p.body });
  }

  /** `body`: DeleteOptions, e.g. a resourceVersion precondition. */
  async deleteNamespacedLease(p: { name: string; namespace: string; body?: object }): Promise<void> {
    await this.#call("DELETE", `${leases(p.namespace)}/${seg(p.name)}`, p.body ? { body: p.body } : {});
  }

  #patchScale(resource: string, p: ScalePatch): Promise<V1Scale> {
    return this.#call("PATCH", `${apps(p.namespace)}/${resource}/${seg(p.name)}/scale`, {
      query: { fieldManager: p.fieldManager },
      body: p.body,
      contentType: "application/json-patch+json",
    });
  }

  async #call<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#authenticatedCall<T>(method, path, options);
      } catch (error) {
        const wait = attempt < TRANSIENT_TRIES ? retryWait(error, method, attempt) : undefined;
        if (wait === undefined) {
          // The reader of the error should know it was not a single blip.
          if (attempt > 1 && error instanceof Error) {
            error.message += ` (tried ${attempt} times over ${((Date.now() - started) / 1000).toFixed(1)} s)`;
          }
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  async #authenticatedCall<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string },
  ): Promise<T> {
    const tls = await this.#config.requestOptions();
    try {
      return await this.#send<T>(method, path, options, tls);
    } catch (error) {
      // A refused exec-plugin credential is dropped and the plugin asked once more (a 401 changed nothing).
      if (!(error instanceof KubeApiError && error.code === 401 && this.#config.credentialRefused?.(tls))) {
        throw error;
      }
      return await this.#send<T>(method, path, options, await this.#config.requestOptions());
    }
  }

  #send<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string },
    tls: KubeRequestOptions,
  ): Promise<T> {
    const url = new URL(`${this.#config.server}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | string[]> = { ...tls.headers, Accept: "application/json" };
    if (payload) {
      headers["Content-Type"] = options.contentType ?? "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { ...tls, method, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (ok || size <= ERROR_BODY_LIMIT) chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (!ok) {
            reject(
              new KubeApiError(method, url.pathname, status, text, retryAfter(res.headers["retry-after"])),
            );
            return;
          }
          try {
            resolve((text === "" ? undefined : JSON.parse(text)) as T);
          } catch (error) {
            reject(
              new Error(
                `${method} ${url.pathname}: the API server's answer is not JSON (${(error as Error).message})`,
              ),
            );
          }
        });
      });
      req.on("timeout", () => {
        req.destroy(
          new Error(
            `${method} ${url.pathname}: no answer from ${url.host} within ${REQUEST_TIMEOUT_MS / 1000} s`,
          ),
        );
      });
      req.on("error", reject);
      req.end(payload);
    });
  }
}

/**
 * How long to wait before trying `method` again after `error`, or undefined when it must not be tried again.
 * Any call is tried again when the server cannot have acted on it: the connection was refused, or priority
 * and fairness turned it away (429). The rest of the transient failures (a reset or dropped connection, 500,
 * 502, 503, 504) only for calls that change nothing when repeated: reads, and the scale patches (a JSON
 * patch that sets spec.replicas). A Lease create, replace or delete is not repeated: its first try may have
 * taken effect, and the lock's own logic decides what a conflict means.
 */
function retryWait(error: unknown, method: string, attempt: number): number | undefined {
  const repeatable = method === "GET" || method === "PATCH";
  const backoff = transientBackoffMs(attempt);
  if (error instanceof KubeApiError) {
    if (error.code === 429 || (repeatable && [500, 502, 503, 504].includes(error.code))) {
      return Math.min(error.retryAfterMs ?? backoff, RETRY_AFTER_CAP_MS);
    }
    return undefined;
  }
  const code = (error as { code?: unknown }).code;
  if (code === "ECONNREFUSED") return backoff;
  return repeatable && typeof code === "string" && NETWORK_ERRORS.has(code) ? backoff : undefined;
}

/** Retry-After in seconds (an HTTP date is not sent by the API server), as milliseconds. */
function retryAfter(header: string | string[] | undefined): number | undefined {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return header !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

export interface ScalePatch {
  name: string;
  namespace: string;
  body: object[];
  fieldManager?: string;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function apps(namespace: string): string {
  return `/apis/apps/v1/namespaces/${seg(namespace)}`;
}

function leases(namespace: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases`;
}
