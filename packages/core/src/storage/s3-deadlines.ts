/**
 * Deadlines of every S3 request. Each attempt has three timeouts (connect, first byte, idle socket) and a
 * request gets a bounded number of attempts with exponential backoff, so an endpoint that accepts a
 * connection and then never answers — or goes silent in the middle of a transfer — fails in bounded time
 * instead of hanging the backup while Neo4j is held down.
 */
export interface S3Deadlines {
  /** TCP (and TLS) connection set-up, per attempt. */
  connectTimeoutMs: number;
  /**
   * From sending a request that has no body (list, head, get, create/abort multipart, delete) to the first
   * byte of the answer, per attempt. Uploads are covered by the idle timeout instead: a large part can
   * legitimately take minutes to send.
   */
  requestTimeoutMs: number;
  /** Silence on the connection in both directions while a request is in flight (sending or receiving). */
  idleTimeoutMs: number;
  /** Attempts per request (the first one included); throttling, 5xx, dropped connections and timeouts. */
  maxAttempts: number;
}

/** The default S3 deadlines: connect 5 s, request 10 s, idle 15 s, 3 attempts per request. */
export const S3_DEADLINE_DEFAULTS: Readonly<S3Deadlines> = Object.freeze({
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  // Above MinIO's 10 s whitespace keep-alive during CompleteMultipartUpload.
  idleTimeoutMs: 15_000,
  maxAttempts: 3,
});

/**
 * How long a request may go without progress before it is given up: every attempt timing out in turn. A
 * timed-out attempt is retried only while the retry can still end within this limit (45 s by default).
 */
export function stallLimitMs(d: S3Deadlines): number {
  return d.maxAttempts * Math.max(d.connectTimeoutMs, d.requestTimeoutMs, d.idleTimeoutMs);
}

export type S3TimeoutKind = "connect" | "first-byte" | "idle";

/** Which of our timeouts ended an attempt, from the HTTP handler's error; `undefined` when none did. */
export function timeoutKind(error: unknown): { kind: S3TimeoutKind; ms: number | undefined } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const message = String((current as { message?: unknown }).message ?? "");
    const ms = /(\d+) ?ms/.exec(message)?.[1];
    const at = ms === undefined ? undefined : Number(ms);
    if (/did not establish a connection/i.test(message)) return { kind: "connect", ms: at };
    if (/requestTimeout/.test(message)) return { kind: "first-byte", ms: at };
    if (/of inactivity/i.test(message)) return { kind: "idle", ms: at };
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The error classes the SDK's retry middleware passes in (`RetryErrorInfo.errorType`). */
type RetryErrorType = "THROTTLING" | "TRANSIENT" | "SERVER_ERROR" | "CLIENT_ERROR";

interface RetryErrorInfo {
  errorType: RetryErrorType;
  error?: unknown;
  retryAfterHint?: Date;
}

/** The SDK's retry token shape (`RetryToken` of @smithy/types), plus when the request started. */
class Token {
  constructor(
    readonly startedAt: number,
    readonly count: number,
    readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
}

const BASE_DELAY_MS = 100;
const THROTTLING_BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 20_000;

/**
 * The SDK's standard policy (throttling and transient errors, exponential backoff with full jitter: 100 ms
 * base, 500 ms when throttled, at most 20 s), with one addition: after a timeout, another attempt starts
 * only if it can end within the stall limit. Without it, an upload whose every attempt waits 6 s for
 * "100 Continue" before its idle timeout starts would run past the limit.
 */
export class S3RetryStrategy {
  readonly #d: S3Deadlines;
  readonly #random: () => number;
  readonly #now: () => number;

  /** `random` and `now` are for tests (jitter, the request's age). */
  constructor(deadlines: S3Deadlines, options: { random?: () => number; now?: () => number } = {}) {
    this.#d = deadlines;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  async acquireInitialRetryToken(_scope: string): Promise<Token> {
    return new Token(this.#now(), 0, 0);
  }

  async refreshRetryTokenForRetry(token: Token, info: RetryErrorInfo): Promise<Token> {
    const attempts = token.count + 1;
    if (info.errorType !== "THROTTLING" && info.errorType !== "TRANSIENT") throw new Error("not retryable");
    if (attempts >= this.#d.maxAttempts) throw new Error("no attempts left");
    const base = info.errorType === "THROTTLING" ? THROTTLING_BASE_DELAY_MS : BASE_DELAY_MS;
    let delay = Math.floor(this.#random() * Math.min(MAX_DELAY_MS, base * 2 ** token.count));
    if (info.retryAfterHint instanceof Date) {
      delay = Math.max(delay, Math.min(info.retryAfterHint.getTime() - this.#now(), delay + 5_000));
    }
    if (timeoutKind(info.error) !== undefined) {
      const perAttempt = Math.max(this.#d.connectTimeoutMs, this.#d.requestTimeoutMs, this.#d.idleTimeoutMs);
      if (this.#now() - token.startedAt + delay + perAttempt > stallLimitMs(this.#d)) {
        throw new Error("stall limit reached");
      }
    }
    return new Token(token.startedAt, attempts, delay);
  }

  recordSuccess(_token: Token): void {
    // No retry quota: every request gets its attempts (the stall limit already bounds time).
  }
}
