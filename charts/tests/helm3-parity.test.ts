import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ciValuesFiles, parseObjects, renderRaw } from "./helm.ts";

describe("Helm 3 and Helm 4 render the same objects", () => {
  it.each(ciValuesFiles().map((f) => [basename(f), f]))("%s", (_name, file) => {
    const values = parse(readFileSync(file, "utf8"));
    const v4 = renderRaw(values, { major: 4 });
    const v3 = renderRaw(values, { major: 3 });
    expect(v4.status, v4.stderr).toBe(0);
    expect(v3.status, v3.stderr).toBe(0);
    // Helm 4 keeps a blank line at the end of each document; the objects and their order are what count.
    expect(parseObjects(v3.stdout)).toEqual(parseObjects(v4.stdout));
  });

  it("and fail with the same readable message", () => {
    const bad = { backup: { enabled: true }, restore: { enabled: true } };
    const v4 = renderRaw(bad, { major: 4 });
    const v3 = renderRaw(bad, { major: 3 });
    expect(v3.status).not.toBe(0);
    expect(v4.status).not.toBe(0);
    const message = (s: string) =>
      s.slice(s.indexOf("infrahub-backup: the values"), s.indexOf("See the chart README"));
    expect(message(v3.stderr)).toBe(message(v4.stderr));
    expect(message(v4.stderr)).toContain("backup.enabled and restore.enabled are both true");
  });
});
