import type { RunResult } from "./run-record.js";

/** The `job` label of every series (the Pushgateway's grouping key starts with it). */
export const METRICS_JOB = "infrahub-backup";

/** Every series the CLI exports, with its help text. All are gauges (each run sets them). */
export const METRICS = {
  infrahub_backup_last_attempt_timestamp_seconds: "When the last run of the operation ended (Unix time).",
  infrahub_backup_last_attempt_success: "1 if the last run of the operation succeeded, 0 if it failed.",
  infrahub_backup_last_success_timestamp_seconds:
    "When the last successful run of the operation ended (Unix time).",
  infrahub_backup_duration_seconds: "How long the last run of the operation took.",
  infrahub_backup_archive_size_bytes: "Size of the archive the last run wrote, restored or verified.",
  infrahub_backup_neo4j_offline_seconds: "How long Neo4j was offline during the last create or restore.",
  infrahub_backup_dump_size_bytes: "Size of each database's dump in the last backup.",
  infrahub_backup_last_failure_info: "The error of the last run, when it failed (value always 1).",
} as const;

export type MetricName = keyof typeof METRICS;

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  name: MetricName;
  labels: Labels;
  value: number;
}

/** The grouping labels of a run: job, deployment, operation. */
export function groupingLabels(result: Pick<RunResult, "deployment" | "operation">): Labels {
  return { job: METRICS_JOB, deployment: result.deployment, operation: result.operation };
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

/**
 * The samples of one run, without the grouping labels. A failed run has no `last_success` sample (the
 * previous one stays) and a `last_failure_info` one; a successful run has no `last_failure_info`.
 */
export function runSamples(result: RunResult): Sample[] {
  const ended = seconds(result.finishedAt);
  const samples: Sample[] = [
    { name: "infrahub_backup_last_attempt_timestamp_seconds", labels: {}, value: ended },
    { name: "infrahub_backup_last_attempt_success", labels: {}, value: result.succeeded ? 1 : 0 },
    {
      name: "infrahub_backup_duration_seconds",
      labels: {},
      value: seconds(result.finishedAt - result.startedAt),
    },
  ];
  if (result.succeeded) {
    samples.push({ name: "infrahub_backup_last_success_timestamp_seconds", labels: {}, value: ended });
  }
  if (result.archive?.size !== undefined) {
    samples.push({ name: "infrahub_backup_archive_size_bytes", labels: {}, value: result.archive.size });
  }
  if (result.neo4jOfflineMs !== undefined) {
    samples.push({
      name: "infrahub_backup_neo4j_offline_seconds",
      labels: {},
      value: seconds(result.neo4jOfflineMs),
    });
  }
  for (const [database, bytes] of Object.entries(result.dumpBytes)) {
    samples.push({ name: "infrahub_backup_dump_size_bytes", labels: { database }, value: bytes });
  }
  if (result.failure) {
    samples.push({
      name: "infrahub_backup_last_failure_info",
      labels: { category: result.failure.category, code: result.failure.code },
      value: 1,
    });
  }
  return samples;
}

const escapeLabel = (value: string): string =>
  value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Prometheus text exposition (format 0.0.4): each metric's HELP, TYPE and samples together, in catalogue order. */
export function formatExposition(samples: readonly Sample[]): string {
  const lines: string[] = [];
  for (const name of Object.keys(METRICS) as MetricName[]) {
    const own = samples.filter((s) => s.name === name);
    if (own.length === 0) continue;
    lines.push(`# HELP ${name} ${METRICS[name]}`, `# TYPE ${name} gauge`);
    for (const s of own) lines.push(`${name}${formatLabels(s.labels)} ${s.value}`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)\s*$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of an exposition this module wrote; lines of other metrics are dropped. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = SAMPLE_LINE.exec(line.trim());
    const name = match?.[1];
    if (!match || name === undefined || !(name in METRICS)) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(LABEL_PAIR)) {
      if (key !== undefined && raw !== undefined)
        labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(match[3]);
    if (!Number.isNaN(value)) samples.push({ name: name as MetricName, labels, value });
  }
  return samples;
}

const withLabels = (samples: readonly Sample[], extra: Labels): Sample[] =>
  samples.map((s) => ({ ...s, labels: { ...extra, ...s.labels } }));

/**
 * Merges a run into samples kept from earlier runs, as the Pushgateway does with the push of
 * `publishMetrics`: samples of other groups (deployment, operation) stay; a successful run replaces its
 * whole group; a failed run replaces only the metrics it has, so the last success stays.
 */
export function mergeRun(earlier: readonly Sample[], result: RunResult): Sample[] {
  const group = groupingLabels(result);
  const own = (s: Sample) => Object.entries(group).every(([k, v]) => s.labels[k] === v);
  const fresh = runSamples(result);
  const replaced = new Set<string>(fresh.map((s) => s.name));
  const kept = earlier.filter((s) => !own(s) || (!result.succeeded && !replaced.has(s.name)));
  return [...kept, ...withLabels(fresh, group)];
}
