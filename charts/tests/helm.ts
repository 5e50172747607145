import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, toolDir } from "@infrahub-backup/testkit";
import { parseAllDocuments, stringify } from "yaml";

export const chartDir = join(repoRoot, "charts/infrahub-backup");
export const umbrellaDir = join(repoRoot, "charts/infrahub");
export const parentFixtureDir = join(repoRoot, "charts/tests/fixtures/parent");

/** The pinned Helm 4 (`helm`) or Helm 3 (`helm3`) binary; never whatever is on PATH. */
export function helmBin(major: 3 | 4 = 4): string {
  return major === 4
    ? join(toolDir("helm", "HELM4_VERSION"), "bin/helm")
    : join(toolDir("helm3", "HELM3_VERSION"), "bin/helm3");
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[], opts: { major?: 3 | 4; input?: string; cwd?: string } = {}): HelmResult {
  const res = spawnSync(helmBin(opts.major ?? 4), args, {
    encoding: "utf8",
    input: opts.input,
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, HELM_CACHE_HOME: "/tmp/ihb-helm-cache", HELM_CONFIG_HOME: "/tmp/ihb-helm-config" },
  });
  if (res.error) throw res.error;
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are free-form
export type K8sObject = Record<string, any>;

export interface RenderOptions {
  release?: string;
  namespace?: string;
  chart?: string;
  major?: 3 | 4;
  /** Extra helm arguments, e.g. ["--show-only", "templates/job-restore.yaml"]. */
  args?: string[];
}

/** `helm template` with the values given as a YAML document on stdin; throws on failure. */
export function renderRaw(values: unknown, opts: RenderOptions = {}): HelmResult {
  return helm(
    [
      "template",
      opts.release ?? "infrahub-backup",
      opts.chart ?? chartDir,
      "--namespace",
      opts.namespace ?? "infrahub",
      "-f",
      "-",
      ...(opts.args ?? []),
    ],
    { major: opts.major, input: stringify(values ?? {}) },
  );
}

export function render(values: unknown, opts: RenderOptions = {}): K8sObject[] {
  const res = renderRaw(values, opts);
  if (res.status !== 0) throw new Error(`helm template failed:\n${res.stderr}`);
  return parseObjects(res.stdout);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw d.errors[0];
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === "object");
}

/** The render error message (stderr) of values that must not render. */
export function renderError(values: unknown, opts: RenderOptions = {}): string {
  const res = renderRaw(values, opts);
  if (res.status === 0) throw new Error(`expected the render to fail, it rendered:\n${res.stdout}`);
  return res.stderr;
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(", ")}`,
    );
  }
  return found[0]!;
}

/** The pod spec of a Job, CronJob or Pod. */
export function podSpec(obj: K8sObject): K8sObject {
  if (obj.kind === "CronJob") return obj.spec.jobTemplate.spec.template.spec;
  if (obj.kind === "Job") return obj.spec.template.spec;
  return obj.spec;
}

export function container(obj: K8sObject): K8sObject {
  return podSpec(obj).containers[0];
}

/** Env as a name → value-or-valueFrom map, in order. */
export function envMap(obj: K8sObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of container(obj).env ?? []) out[e.name] = e.value ?? e.valueFrom;
  return out;
}

export function ciValuesFiles(): string[] {
  return readdirSync(join(chartDir, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .sort()
    .map((f) => join(chartDir, "ci", f));
}
