import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HelmOutcome, Values } from "./driver.js";

export interface HelmCli {
  install(release: string, values: Values): Promise<HelmOutcome>;
  upgrade(release: string, values: Values): Promise<HelmOutcome>;
  uninstall(release: string): Promise<HelmOutcome>;
}

/**
 * `helm` against one namespace of one cluster, the chart from this repository, values from a file
 * written per call. Helm waits for hook Jobs itself (up to `timeout`).
 */
export function helmCli(options: {
  helm: string;
  chart: string;
  namespace: string;
  workDir: string;
  /** Extra global args, e.g. ["--kubeconfig", path]. */
  globalArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeout?: string;
}): HelmCli {
  let n = 0;
  const run = (args: string[]) =>
    new Promise<HelmOutcome>((resolve, reject) => {
      const child = spawn(
        options.helm,
        [...args, "--namespace", options.namespace, ...(options.globalArgs ?? [])],
        {
          env: { ...process.env, ...options.env },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let output = "";
      child.stdout.on("data", (d: Buffer) => {
        output += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        output += d.toString();
      });
      child.once("error", reject);
      child.once("close", (code) => resolve({ ok: code === 0, output }));
    });
  const withValues = async (verb: "install" | "upgrade", release: string, values: Values) => {
    n += 1;
    const file = join(options.workDir, `values-${release}-${n}.json`);
    // JSON is YAML: Helm reads it as a values file.
    await writeFile(file, JSON.stringify(values, null, 2));
    return await run([verb, release, options.chart, "-f", file, "--timeout", options.timeout ?? "6m"]);
  };
  return {
    install: (release, values) => withValues("install", release, values),
    upgrade: (release, values) => withValues("upgrade", release, values),
    uninstall: (release) => run(["uninstall", release, "--wait", "--timeout", options.timeout ?? "6m"]),
  };
}
