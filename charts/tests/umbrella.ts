import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@infrahub-backup/testkit";
import { parse } from "yaml";

// Not from ./helm.ts: the e2e acceptance driver imports this file too (its tsconfig takes no .ts imports).
const chartDir = join(repoRoot, "charts/infrahub-backup");
const umbrellaDir = join(repoRoot, "charts/infrahub");

/** TEST DOUBLE of OpsMill's `infrahub` chart (see its Chart.yaml): renders `.Values.objects` only. */
export const upstreamDoubleDir = join(umbrellaDir, "../tests/fixtures/infrahub-upstream-double");

export interface AssembledUmbrella extends Disposable {
  /** The umbrella chart directory, its dependencies unpacked under charts/. */
  readonly dir: string;
}

/**
 * charts/infrahub with its dependencies in place, offline: the TEST DOUBLE standing in for OpsMill's
 * `infrahub` chart and this repository's infrahub-backup, copied into a temp dir (Helm reads unpacked
 * dependencies from charts/). Checked against the umbrella's Chart.yaml so the double cannot drift from
 * the pinned dependency.
 */
export function assembleUmbrella(): AssembledUmbrella {
  const root = mkdtempSync(join(tmpdir(), "ihb-umbrella-"));
  const dir = join(root, "infrahub");
  cpSync(umbrellaDir, dir, {
    recursive: true,
    filter: (src) => !/[/\\](charts|Chart\.lock)$/.test(src.slice(umbrellaDir.length)),
  });
  const chart = parse(readFileSync(join(umbrellaDir, "Chart.yaml"), "utf8")) as {
    dependencies: { name: string; version: string }[];
  };
  const double = parse(readFileSync(join(upstreamDoubleDir, "Chart.yaml"), "utf8")) as { version: string };
  const backup = parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as { version: string };
  const want = Object.fromEntries(chart.dependencies.map((d) => [d.name, d.version]));
  if (want.infrahub !== double.version || want["infrahub-backup"] !== backup.version) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(
      `charts/infrahub pins infrahub ${want.infrahub} and infrahub-backup ${want["infrahub-backup"]}; the double is ${double.version}, the chart ${backup.version}`,
    );
  }
  cpSync(upstreamDoubleDir, join(dir, "charts/infrahub"), { recursive: true });
  cpSync(chartDir, join(dir, "charts/infrahub-backup"), { recursive: true });
  return { dir, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}
