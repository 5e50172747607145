// charts/infrahub (umbrella) offline: its pinned upstream dependency lives in OpsMill's registry, so the
// TEST DOUBLE in fixtures/infrahub-upstream-double stands in for it (same name and version) next to this
// repository's infrahub-backup. Lint (Helm 4 and 3, --strict), render, the umbrella's schema and NOTES.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { find, helm, parseObjects } from "./helm.ts";
import { type AssembledUmbrella, assembleUmbrella } from "./umbrella.ts";

let umbrella: AssembledUmbrella;
beforeAll(() => {
  umbrella = assembleUmbrella();
});
afterAll(() => umbrella?.[Symbol.dispose]());

let n = 0;
function valuesFile(values: unknown): string {
  n += 1;
  const file = join(umbrella.dir, `../values-${n}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

const nightly = {
  "infrahub-backup": {
    enabled: true,
    backup: { enabled: true, storage: { s3: { bucket: "infrahub-backups", secretName: "s3" } } },
  },
};

/** NOTES as `helm install --dry-run=client` prints them (Helm 4 needs no cluster for that). */
function notes(values: unknown): { status: number; text: string } {
  const res = helm([
    "install",
    "infrahub",
    umbrella.dir,
    "--dry-run=client",
    "-n",
    "infrahub",
    "-f",
    valuesFile(values),
  ]);
  const out = `${res.stdout}\n${res.stderr}`;
  return { status: res.status, text: res.status === 0 ? out.slice(out.indexOf("NOTES:")) : out };
}

describe("lint offline with the TEST DOUBLE of the upstream chart", () => {
  it.each([
    [4, "defaults"],
    [3, "defaults"],
    [4, "a nightly backup"],
    [3, "a nightly backup"],
  ] as const)("helm %d lint --strict (%s)", (major, what) => {
    const args = [
      "lint",
      "--strict",
      umbrella.dir,
      ...(what === "defaults" ? [] : ["-f", valuesFile(nightly)]),
    ];
    const res = helm(args, { major });
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("the double cannot drift from the pinned dependency (assembleUmbrella checks the versions)", () => {
    expect(umbrella.dir).toMatch(/ihb-umbrella-.*\/infrahub$/);
  });
});

describe("render", () => {
  it("defaults: infrahub-backup off, nothing of it rendered", () => {
    const res = helm(["template", "infrahub", umbrella.dir, "-n", "infrahub"]);
    expect(res.status, res.stderr).toBe(0);
    expect(parseObjects(res.stdout)).toEqual([]);
  });

  it("a nightly backup: the CronJob and its RBAC, named infrahub-infrahub-backup", () => {
    const res = helm(["template", "infrahub", umbrella.dir, "-n", "infrahub", "-f", valuesFile(nightly)]);
    expect(res.status, res.stderr).toBe(0);
    const cj = find(parseObjects(res.stdout), "CronJob");
    expect(cj.metadata.name).toBe("infrahub-infrahub-backup");
    expect(cj.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(14400);
  });
});

describe("the umbrella's schema", () => {
  it("refuses the upstream chart's own infrahub-backup 1.3.0 and typos of the top-level keys, readably", () => {
    const res = helm([
      "template",
      "infrahub",
      umbrella.dir,
      "-f",
      valuesFile({
        infrahub: { "infrahub-backup": { enabled: true } },
        "infrahub-bakcup": { enabled: true },
      }),
    ]);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain("at '/infrahub/infrahub-backup/enabled': value must be false");
    expect(res.stderr).toContain("additional properties 'infrahub-bakcup' not allowed");
  });

  it("infrahub-backup.enabled must be a boolean; the subchart's own schema still checks the rest", () => {
    const bad = helm([
      "template",
      "infrahub",
      umbrella.dir,
      "-f",
      valuesFile({ "infrahub-backup": { enabled: "sometimes" } }),
    ]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/\/infrahub-backup\/enabled/);
    const typo = helm([
      "template",
      "infrahub",
      umbrella.dir,
      "-f",
      valuesFile({ "infrahub-backup": { enabled: true, backup: { shedule: "x" } } }),
    ]);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toMatch(/additional properties 'shedule' not allowed/);
  });
});

describe("NOTES.txt", () => {
  it("backups off: says how to turn them on", () => {
    const { status, text } = notes({});
    expect(status, text).toBe(0);
    expect(text).toContain("Infrahub 1.9.3 (umbrella chart");
    expect(text).toContain(
      "Backups are off: set infrahub-backup.enabled=true and infrahub-backup.backup.enabled=true",
    );
  });

  it("a nightly backup: the subchart's own notes, and the GitOps warning about spec.replicas", () => {
    const { status, text } = notes(nightly);
    expect(status, text).toBe(0);
    expect(text).toContain('Scheduled backup: CronJob infrahub-infrahub-backup at "0 2 * * *".');
    expect(text).toContain("let the\ncontroller ignore spec.replicas of those Deployments");
  });

  it("a one-shot hook backup under the umbrella warns that Argo CD runs it after every sync", () => {
    const { text } = notes({
      "infrahub-backup": {
        enabled: true,
        backup: { enabled: true, mode: "job", storage: { s3: { bucket: "bk" } } },
      },
    });
    expect(text).toContain("Under Argo CD this hook runs after EVERY sync");
  });
});
