import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot, toolDir, toolsDir, toolVersions } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { chartDir, ciValuesFiles, helm } from "./helm.ts";

describe.each([4, 3] as const)("helm %d lint", (major) => {
  it.each(["(defaults)", ...ciValuesFiles()])("--strict with %s", (file) => {
    const args = ["lint", "--strict", chartDir, ...(file === "(defaults)" ? [] : ["-f", file])];
    const res = helm(args, { major });
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
  });
});

describe("ct lint (offline flags)", () => {
  it("lints the chart with every ci/*-values.yaml scenario, yamllint and yamale included", () => {
    const ct = toolDir("ct", "CT_VERSION");
    const v = toolVersions();
    const path = [
      join(toolDir("helm", "HELM4_VERSION"), "bin"),
      join(ct, "bin"),
      join(toolDir("yq", "YQ_VERSION"), "bin"),
      join(
        toolsDir(),
        `pytools-${v.YAMLLINT_VERSION}-${v.YAMALE_VERSION}-${v.KUBERNETES_VALIDATE_VERSION}`,
        "bin",
      ),
      process.env.PATH,
    ].join(":");
    const res = spawnSync(
      join(ct, "bin/ct"),
      [
        "lint",
        "--config",
        "charts/ct.yaml",
        "--chart-yaml-schema",
        join(ct, "etc/chart_schema.yaml"),
        "--lint-conf",
        join(ct, "etc/lintconf.yaml"),
      ],
      {
        cwd: repoRoot,
        encoding: "utf8",
        env: { ...process.env, PATH: path, HELM_CACHE_HOME: "/tmp/ihb-helm-cache" },
      },
    );
    const out = `${res.stdout}\n${res.stderr}`;
    expect(res.status, out).toBe(0);
    expect(out).toContain("All charts linted successfully");
    for (const f of ciValuesFiles()) expect(out).toContain(f.slice(repoRoot.length + 1));
  });
});
