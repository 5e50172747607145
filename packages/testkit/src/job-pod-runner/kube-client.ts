import { readFileSync } from "node:fs";
import { request } from "node:https";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON here
export type KubeObject = Record<string, any>;

export interface KubeCredentials {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** PEM of the CA that signed the API server's certificate. */
  caFile: string;
  /** Bearer token (never logged). */
  token: string;
  /** User-Agent of every request (shows in the API server's audit log). Default `ihb-testkit`. */
  userAgent?: string;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 500)}`);
  }
}

/** A minimal JSON client of the Kubernetes API over node:https: enough for the runner, no dependency. */
export class KubeClient {
  readonly #ca: Buffer;
  readonly #server: URL;
  readonly #token: string;
  readonly #userAgent: string;

  constructor(credentials: KubeCredentials) {
    this.#ca = readFileSync(credentials.caFile);
    this.#server = new URL(credentials.server);
    this.#token = credentials.token;
    this.#userAgent = credentials.userAgent ?? "ihb-testkit";
  }

  get caPem(): string {
    return this.#ca.toString("utf8");
  }

  get server(): string {
    return this.#server.origin;
  }

  async json(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeObject> {
    const text = await this.text(method, path, body, contentType);
    return text ? (JSON.parse(text) as KubeObject) : {};
  }

  /** GET returning undefined on 404. */
  async get(path: string): Promise<KubeObject | undefined> {
    try {
      return await this.json("GET", path);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async text(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<string> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return await new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.#server),
        {
          method,
          ca: this.#ca,
          headers: {
            Authorization: `Bearer ${this.#token}`,
            Accept: "application/json",
            "User-Agent": this.#userAgent,
            ...(payload === undefined
              ? {}
              : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) }),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(text);
            else reject(new KubeApiError(status, text, method, path));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /**
   * Watches a collection (`path` without `?watch`): calls `onEvent` for each event until `signal`
   * aborts or the server ends the stream (then resolves; the caller lists and watches again).
   */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (type: string, object: KubeObject) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const sep = path.includes("?") ? "&" : "?";
    const url = new URL(
      `${path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion=${encodeURIComponent(resourceVersion)}`,
      this.#server,
    );
    await new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          ca: this.#ca,
          headers: { Authorization: `Bearer ${this.#token}`, "User-Agent": this.#userAgent },
          signal,
        },
        (res) => {
          if ((res.statusCode ?? 0) !== 200) {
            res.resume();
            reject(new KubeApiError(res.statusCode ?? 0, "", "WATCH", path));
            return;
          }
          let buffer = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffer += chunk;
            for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
              const line = buffer.slice(0, i).trim();
              buffer = buffer.slice(i + 1);
              if (!line) continue;
              const event = JSON.parse(line) as { type: string; object: KubeObject };
              onEvent(event.type, event.object);
            }
          });
          res.on("end", () => resolve());
          res.on("error", (error) => (signal.aborted ? resolve() : reject(error)));
        },
      );
      req.on("error", (error) => (signal.aborted ? resolve() : reject(error)));
      req.end();
    });
  }
}
