import { setTimeout as delay } from "node:timers/promises";

/** How hard a receiver is tried: a slow or absent one costs at most attempts × (timeout + backoff). */
export interface DeliveryPolicy {
  /** Attempts per receiver (default 3). */
  attempts: number;
  /** Deadline of each attempt, from the request to the whole answer (default 10 s). */
  timeoutMs: number;
  /** Pause before the second attempt, doubled before each later one (default 1 s). */
  backoffMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { attempts: 3, timeoutMs: 10_000, backoffMs: 1_000 };

export interface Delivery {
  method: "POST" | "PUT";
  headers: Record<string, string>;
  body: string;
}

/**
 * Why a receiver did not take a delivery. The message never contains the URL: webhook URLs carry tokens,
 * and the caller names the receiver ("webhook 1 of 2").
 */
export class DeliveryFailure extends Error {
  override readonly name = "DeliveryFailure";
  constructor(
    message: string,
    readonly attempts: number,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Sends `delivery` to `url`; retries timeouts, connection errors, 429 and 5xx answers; throws DeliveryFailure. */
export async function deliver(url: string, delivery: Delivery, policy: DeliveryPolicy): Promise<void> {
  let reason = "not attempted";
  let status: number | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) await delay(policy.backoffMs * 2 ** (attempt - 2));
    status = undefined;
    try {
      const response = await fetch(url, {
        method: delivery.method,
        headers: delivery.headers,
        body: delivery.body,
        redirect: "error",
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      // The answer is read to the end (within the deadline) so the connection is free, but never shown:
      // a receiver may echo what it was sent.
      await response.arrayBuffer();
      if (response.ok) return;
      status = response.status;
      reason = `answered HTTP ${response.status}`;
      if (status !== 429 && status < 500) throw new DeliveryFailure(reason, attempt, status);
    } catch (error) {
      if (error instanceof DeliveryFailure) throw error;
      reason = describe(error, policy.timeoutMs);
    }
  }
  const tries = policy.attempts === 1 ? "1 attempt" : `${policy.attempts} attempts`;
  throw new DeliveryFailure(`${reason} (${tries})`, policy.attempts, status);
}

function describe(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; cause?: { code?: string; name?: string; message?: string } };
  if (e.name === "TimeoutError" || e.cause?.name === "TimeoutError")
    return `no answer within ${timeoutMs / 1000} s`;
  const code = e.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code) return `request failed (${code})`;
  // A cause's own words only when they cannot quote the URL (its path may hold a token): "bad port".
  const words = e.cause?.message;
  return words && !/[/:@?]/.test(words) && words.length <= 80 ? `request failed: ${words}` : "request failed";
}
