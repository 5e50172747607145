import { type HostEnvironment, MONITORING_FLAGS, resolveFlags, sourceOf, str } from "../options.js";
import { invalidValue, parseBoundedDuration } from "../values.js";
import { DEFAULT_DELIVERY, type DeliveryPolicy } from "./deliver.js";
import type { PushgatewayAuth } from "./pushgateway.js";
import type { NotifyOn } from "./webhook.js";

/** Where a run's metrics and notifications go (create, restore, verify, drill, prune). */
export interface MonitoringOptions {
  pushgateway: { url: string; auth: PushgatewayAuth } | undefined;
  metricsFile: string | undefined;
  /** Webhook URLs: secrets, never printed (messages say "webhook 1 of 2"). */
  webhooks: readonly string[];
  notifyOn: NotifyOn;
  delivery: DeliveryPolicy;
}

type Raw = Record<string, unknown>;

const ENV = {
  username: "INFRAHUB_METRICS_PUSHGATEWAY_USERNAME",
  password: "INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD",
  token: "INFRAHUB_METRICS_PUSHGATEWAY_BEARER_TOKEN",
  webhooks: "INFRAHUB_NOTIFY_WEBHOOK",
} as const;

/** Every value of a repeatable flag, in order (yargs keeps only the last one here). */
export function repeatedFlag(argv: readonly string[], flag: string): string[] | undefined {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--") break;
    if (word === `--${flag}` && i + 1 < argv.length) values.push(argv[++i] as string);
    else if (word.startsWith(`--${flag}=`)) values.push(word.slice(flag.length + 3));
  }
  return values.length > 0 ? values : undefined;
}

/** An http(s) URL without credentials in it (fetch refuses those; they belong in the env vars). */
function httpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === ""
    );
  } catch {
    return false;
  }
}

function pushgatewayAuth(env: HostEnvironment): PushgatewayAuth {
  const username = str(env[ENV.username]);
  const password = str(env[ENV.password]);
  const token = str(env[ENV.token]);
  if ((username === undefined) !== (password === undefined)) {
    throw invalidValue(
      ENV.username,
      `${ENV.username} and ${ENV.password} go together`,
      "set both for basic auth, or neither",
    );
  }
  if (token !== undefined && username !== undefined) {
    throw invalidValue(
      ENV.token,
      `${ENV.token} and basic auth are both set`,
      "set either the bearer token or the username and password",
    );
  }
  if (token !== undefined) return { kind: "bearer", token };
  return username !== undefined && password !== undefined ? { kind: "basic", username, password } : undefined;
}

/** The monitoring flags of a command line; URLs are checked, and never quoted in a message. */
export function monitoringOptions(
  raw: Raw,
  argv: readonly string[],
  env: HostEnvironment,
): MonitoringOptions {
  const f = resolveFlags(raw, MONITORING_FLAGS, env);
  const from = (flag: keyof typeof MONITORING_FLAGS) => sourceOf(raw, flag, MONITORING_FLAGS[flag]);
  const url = str(f["metrics-pushgateway"]);
  if (url !== undefined && !httpUrl(url)) {
    throw invalidValue(
      from("metrics-pushgateway"),
      `${from("metrics-pushgateway")} is not an http(s) URL without credentials`,
      `e.g. http://pushgateway.monitoring:9091; credentials go in ${ENV.username} and ${ENV.password}, or ${ENV.token}`,
    );
  }
  const webhooks =
    repeatedFlag(argv, "notify-webhook") ?? (env[ENV.webhooks] ?? "").split(/[\s,]+/).filter((w) => w !== "");
  webhooks.forEach((webhook, i) => {
    if (!httpUrl(webhook)) {
      throw invalidValue(
        from("notify-webhook"),
        `webhook ${i + 1} of ${webhooks.length} (${from("notify-webhook")}) is not an http(s) URL without user:password@`,
        "give the full URL of the webhook, e.g. https://hooks.slack.com/services/…",
      );
    }
  });
  const timeout = str(f["monitoring-timeout"]);
  return {
    pushgateway: url === undefined ? undefined : { url, auth: pushgatewayAuth(env) },
    metricsFile: str(f["metrics-file"]),
    webhooks,
    notifyOn: (str(f["notify-on"]) ?? "failure") as NotifyOn,
    delivery: {
      ...DEFAULT_DELIVERY,
      ...(timeout === undefined
        ? {}
        : { timeoutMs: parseBoundedDuration(timeout, from("monitoring-timeout"), 100, 300_000) }),
    },
  };
}
