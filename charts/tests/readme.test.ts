import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { chartDir, lookup, readParams, renderReadme } from "../scripts/readme.ts";
import { helm, type K8sObject, parseObjects } from "./helm.ts";
import { assembleUmbrella } from "./umbrella.ts";

const valuesText = readFileSync(join(chartDir, "values.yaml"), "utf8");
const values = parse(valuesText);
const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8"));
const params = readParams(valuesText);

// biome-ignore lint/suspicious/noExplicitAny: JSON schema nodes
function schemaAt(path: string): any {
  // biome-ignore lint/suspicious/noExplicitAny: JSON schema nodes
  let node: any = schema;
  for (const key of path.split(".")) {
    node = node?.properties?.[key];
    if (!node) return undefined;
  }
  return node;
}

/** Leaf paths of values.yaml (maps are walked, lists and scalars are leaves). */
function leaves(v: unknown, prefix = ""): string[] {
  if (v === null || typeof v !== "object" || Array.isArray(v) || Object.keys(v).length === 0) return [prefix];
  return Object.entries(v).flatMap(([k, child]) => leaves(child, prefix ? `${prefix}.${k}` : k));
}

describe("README and schema generated from / checked against the values comments", () => {
  it("the README Values tables are up to date (run `pnpm --filter @infrahub-backup/charts readme`)", () => {
    const readme = readFileSync(join(chartDir, "README.md"), "utf8");
    expect(renderReadme(readme, valuesText)).toBe(readme);
  });

  it("every value is documented by a @param (itself or an ancestor)", () => {
    const documented = new Set(params.map((p) => p.path));
    const undocumented = leaves(values).filter((leaf) => {
      const parts = leaf.split(".");
      return !parts.some((_, i) => documented.has(parts.slice(0, i + 1).join(".")));
    });
    expect(undocumented).toEqual([]);
  });

  it("every @param names a key of values.yaml and of values.schema.json", () => {
    expect(params.filter((p) => !lookup(values, p.path).found).map((p) => p.path)).toEqual([]);
    expect(params.filter((p) => !schemaAt(p.path)).map((p) => p.path)).toEqual([]);
  });

  it("every non-deprecated schema property is documented or lies under a documented key", () => {
    const documented = new Set(params.map((p) => p.path));
    const missing: string[] = [];
    type SchemaNode = { properties?: Record<string, SchemaNode>; deprecated?: boolean };
    const walk = (node: SchemaNode, prefix: string) => {
      for (const [k, child] of Object.entries(node.properties ?? {})) {
        const path = prefix ? `${prefix}.${k}` : k;
        if (child.deprecated || path === "enabled" || path === "global") continue;
        if (documented.has(path)) continue;
        if (child.properties) walk(child, path);
        else missing.push(path);
      }
    };
    walk(schema, "");
    expect(missing).toEqual([]);
  });

  it("the comments were found at all (a broken @param syntax would silently empty the tables)", () => {
    expect(params.length).toBeGreaterThan(80);
    expect(new Set(params.map((p) => p.section)).size).toBeGreaterThan(6);
  });
});

describe("the GitOps section's manifests carry values that render (issue 20)", () => {
  const readme = readFileSync(join(chartDir, "README.md"), "utf8");
  const gitops = readme.slice(readme.indexOf("## GitOps"), readme.indexOf("## Security"));
  /** The yaml blocks of the section (indented under list items there), parsed. */
  const blocks = [...gitops.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => {
    const text = m[1] as string;
    const indent = /^( *)/.exec(text)?.[1]?.length ?? 0;
    return parse(
      text
        .split("\n")
        .map((l) => l.slice(indent))
        .join("\n"),
    ) as K8sObject;
  });

  it("an Argo CD Application and a Flux HelmRelease are shown", () => {
    expect(blocks.map((b) => b.kind).sort()).toEqual(["Application", "HelmRelease"]);
  });

  it.each(["Application", "HelmRelease"])(
    "the %s's values render with the umbrella (TEST DOUBLE upstream dependency)",
    (kind) => {
      const block = blocks.find((b) => b.kind === kind) as K8sObject;
      const values = kind === "Application" ? block.spec.source.helm.valuesObject : block.spec.values;
      using umbrella = assembleUmbrella();
      const file = join(umbrella.dir, "../readme-values.yaml");
      writeFileSync(file, stringify(values));
      const res = helm(["template", "infrahub", umbrella.dir, "-n", "infrahub", "-f", file]);
      expect(res.status, res.stderr).toBe(0);
      const kinds = parseObjects(res.stdout).map((o) => o.kind);
      expect(kinds).toContain(kind === "Application" ? "CronJob" : "Job");
    },
  );

  it("the Argo CD Application ignores spec.replicas and makes self-heal respect it; Flux ignores it in drift detection and does not wait for Jobs", () => {
    const app = blocks.find((b) => b.kind === "Application") as K8sObject;
    expect(app.spec.ignoreDifferences[0]).toMatchObject({
      group: "apps",
      kind: "Deployment",
      jsonPointers: ["/spec/replicas"],
    });
    expect(app.spec.syncPolicy.syncOptions).toContain("RespectIgnoreDifferences=true");
    const hr = blocks.find((b) => b.kind === "HelmRelease") as K8sObject;
    expect(hr.spec.driftDetection.ignore[0].paths).toEqual(["/spec/replicas"]);
    expect(hr.spec.install.disableWaitForJobs).toBe(true);
    expect(hr.spec.upgrade.disableWaitForJobs).toBe(true);
  });

  it("the section the CLI's SCALE_CONFLICT hint names exists", () => {
    expect(readme).toContain("### GitOps: keep controllers from scaling Infrahub back up");
  });
});
