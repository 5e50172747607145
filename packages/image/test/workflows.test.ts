// Static checks of .github/workflows (they run on GitHub only): actions pinned, secrets only passed
// through `env:`/`with:` keys, referenced files present, the kind e2e's chart values render with the
// chart of this checkout, and actionlint when it is installed.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const workflowsDir = join(repo, ".github/workflows");
const e2eDir = join(repo, ".github/e2e");
const workflows = readdirSync(workflowsDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ name: f, text: readFileSync(join(workflowsDir, f), "utf8") }));
/** The repository's own composite actions (.github/actions/NAME/action.yml). */
const actionsDir = join(repo, ".github/actions");
const localActions = readdirSync(actionsDir).map((d) => ({
  name: `actions/${d}`,
  text: readFileSync(join(actionsDir, d, "action.yml"), "utf8"),
}));

function onPath(binary: string): string | undefined {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .map((d) => join(d, binary))
    .find((p) => existsSync(p));
}

describe(".github/workflows", () => {
  it("has ci, e2e-kind and release", () => {
    expect(workflows.map((w) => w.name)).toEqual(
      expect.arrayContaining(["ci.yml", "e2e-kind.yml", "release.yml"]),
    );
  });

  it("pins every action to a major version or a commit, never a branch (or uses one of this repository)", () => {
    for (const w of [...workflows, ...localActions]) {
      for (const m of w.text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)/gm)) {
        if (m[1]?.startsWith("./")) {
          expect(existsSync(join(repo, m[1], "action.yml")), `${w.name}: ${m[1]}`).toBe(true);
          continue;
        }
        expect(m[1], `${w.name}: ${m[1]}`).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
      }
    }
  });

  it("runs the project's own test scripts on GitHub, in the machine .ci/run expects (issue 27)", () => {
    const job = (file: string, name: string) => {
      const text = workflows.find((w) => w.name === file)?.text ?? "";
      const start = text.indexOf(`\n  ${name}:\n`);
      expect(start, `${file} has a job ${name}`).toBeGreaterThan(0);
      const rest = text.slice(start + 1);
      const next = rest.slice(1).search(/\n {2}[\w-]+:\n/);
      return next < 0 ? rest : rest.slice(0, next + 1);
    };
    for (const [file, name, command] of [
      ["ci.yml", "test", "run: bash .ci/run"],
      ["e2e-kind.yml", "kind", "run: bash tools/run-tests.sh e2e/kind"],
    ] as const) {
      const text = job(file, name);
      expect(
        text.split("\n").map((l) => l.trim()),
        `${file} ${name}`,
      ).toContain(command);
      // A privileged Debian 12 container: the run's own dockerd starts in it, as on the project's machines.
      expect(text, `${file} ${name}`).toMatch(
        /image: debian:bookworm\n\s+options: --privileged --cgroupns=host/,
      );
      expect(text, `${file} ${name}`).toContain("uses: ./.github/actions/project-machine");
    }
  });

  it("passes secrets only as the value of an env/with key, never inside a script", () => {
    for (const w of workflows) {
      for (const line of w.text.split("\n").filter((l) => l.includes("secrets."))) {
        expect(line, w.name).toMatch(/^\s+[\w-]+: \$\{\{ secrets\.\w+ \}\}\s*(#.*)?$/);
      }
    }
  });

  it("refers to files that exist", () => {
    for (const w of workflows) {
      for (const m of w.text.matchAll(/(?:file: |-f |\. )((?:packages|\.github|charts|tools)\/[\w./-]+)/g)) {
        expect(existsSync(join(repo, m[1]!)), `${w.name}: ${m[1]}`).toBe(true);
      }
    }
  });

  const helm = onPath("helm");
  it.skipIf(!helm)(
    "the kind e2e's values render with charts/infrahub-backup, on the image built there",
    () => {
      const scenarios = readdirSync(e2eDir).filter(
        (f) => f.endsWith("-values.yaml") && f !== "values-common.yaml",
      );
      expect(scenarios.length).toBeGreaterThanOrEqual(4);
      const e2e = readFileSync(join(workflowsDir, "e2e-kind.yml"), "utf8");
      for (const file of scenarios) {
        expect(e2e, `${file} is used by e2e-kind.yml`).toContain(`.github/e2e/${file}`);
        const out = spawnSync(
          helm!,
          [
            "template",
            "ihb-e2e",
            join(repo, "charts/infrahub-backup"),
            "--namespace",
            "infrahub",
            "-f",
            join(e2eDir, "values-common.yaml"),
            "-f",
            join(e2eDir, file),
          ],
          { encoding: "utf8" },
        );
        expect(out.status, `${file}: ${out.stderr}`).toBe(0);
        expect(out.stdout, file).toMatch(/kind: (Job|CronJob)/);
        expect(out.stdout, file).toContain('image: "infrahub-backup:e2e"');
        expect(out.stdout, file).toContain("imagePullPolicy: Never");
      }
    },
  );

  const actionlint = process.env.ACTIONLINT ?? onPath("actionlint");
  it.skipIf(!actionlint)(`actionlint (${actionlint ?? "not installed"})`, () => {
    const out = spawnSync(actionlint!, ["-color=false"], { cwd: repo, encoding: "utf8" });
    expect(out.stdout + out.stderr).toBe("");
    expect(out.status).toBe(0);
  });
});
