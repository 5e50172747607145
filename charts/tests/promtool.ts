// promtool (the pinned build of tools/install/promtool.sh) on the chart's rendered PrometheusRule: the rule
// file is the PrometheusRule's spec (its `groups` are Prometheus's rule file format), the unit tests are
// `promtool test rules` files whose input series are shaped as Prometheus stores what the CLI pushes.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { toolDir } from "@infrahub-backup/testkit";
import { stringify } from "yaml";
import { find, type K8sObject } from "./helm.ts";

export function promtoolBin(): string {
  return join(toolDir("promtool", "PROMETHEUS_VERSION"), "bin/promtool");
}

export interface PromtoolResult {
  status: number;
  output: string;
}

export function promtool(args: string[], cwd: string): PromtoolResult {
  const res = spawnSync(promtoolBin(), args, { encoding: "utf8", cwd });
  if (res.error) throw res.error;
  return { status: res.status ?? -1, output: `${res.stdout}\n${res.stderr}` };
}

/** Writes the rule file of the rendered PrometheusRule into dir; returns its file name. */
export function writeRuleFile(objects: K8sObject[], dir: string, name = "rules.yaml"): string {
  const rule = find(objects, "PrometheusRule");
  writeFileSync(join(dir, name), stringify({ groups: rule.spec.groups }));
  return name;
}

/** One sample of a scrape (testkit's PrometheusSample has this shape). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The labels a ServiceMonitor/PodMonitor scrape of a Pushgateway adds (honor_labels: true keeps the pushed
 * job and grouping labels; these target labels do not conflict, so Prometheus adds them too).
 */
export const PUSHGATEWAY_TARGET_LABELS = {
  namespace: "monitoring",
  service: "prometheus-pushgateway",
  endpoint: "http",
  pod: "prometheus-pushgateway-7d9c5b6f4-x2x7q",
  container: "pushgateway",
};

/**
 * The series Prometheus stores for a sample scraped from a Pushgateway with honor_labels: true. The
 * Pushgateway adds `instance=""` to every pushed series: an empty scraped label wins over the target's
 * `instance` and, being empty, leaves the series without one.
 */
export function storedLabels(sample: Sample, target: Record<string, string> = PUSHGATEWAY_TARGET_LABELS) {
  const labels: Record<string, string> = { ...target };
  for (const [k, v] of Object.entries(sample.labels)) {
    if (v === "") delete labels[k];
    else labels[k] = v;
  }
  return labels;
}

export function seriesSelector(name: string, labels: Record<string, string>): string {
  const inner = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",");
  return `${name}{${inner}}`;
}

/**
 * The samples of one series at every step of a test's interval, 0 … steps: from each `[step, value]` on, the
 * value (a Pushgateway serves the last pushed value until the next push), `undefined` for no series (`_`).
 */
export function stepValues(changes: Array<[number, number | undefined]>, steps: number): string {
  const out: string[] = [];
  const sorted = [...changes].sort(([a], [b]) => a - b);
  let current: number | undefined;
  let next = 0;
  for (let step = 0; step <= steps; step++) {
    while (next < sorted.length && (sorted[next] as [number, number | undefined])[0] <= step) {
      current = (sorted[next] as [number, number | undefined])[1];
      next += 1;
    }
    out.push(current === undefined ? "_" : String(current));
  }
  return compress(out);
}

/** promtool's expanding notation for runs of one value: `v+0xN` is N+1 samples of v, `_xN` is N missing ones. */
function compress(values: string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    const run = j - i;
    const v = values[i] as string;
    if (run === 1) parts.push(v);
    else parts.push(v === "_" ? `_x${run}` : `${v}+0x${run - 1}`);
    i = j;
  }
  return parts.join(" ");
}
