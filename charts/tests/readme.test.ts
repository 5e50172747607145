import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { chartDir, lookup, readParams, renderReadme } from "../scripts/readme.ts";

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
