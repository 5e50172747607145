import { readdirSync, readFileSync } from "node:fs";

/** A process of this machine, with the environment it was started with. */
export interface ProcessInfo {
  pid: number;
  env: Record<string, string>;
  argv: string[];
}

/**
 * The processes whose environment and argv satisfy `match` — for tests that must find exactly the
 * processes THEY caused (e.g. the `neo4j-admin` a backup started against this test's own Neo4j, found by
 * that instance's NEO4J_CONF), never processes picked by name across the machine.
 */
export function findProcesses(match: (process: ProcessInfo) => boolean): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let environ: string;
    let cmdline: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      // Gone meanwhile, or not ours to read: not a process this test caused.
      continue;
    }
    const env: Record<string, string> = {};
    for (const variable of environ.split("\0")) {
      const at = variable.indexOf("=");
      if (at > 0) env[variable.slice(0, at)] = variable.slice(at + 1);
    }
    const info = { pid, env, argv: cmdline.split("\0").filter((a) => a.length > 0) };
    if (match(info)) found.push(info);
  }
  return found;
}

/** Commands run on this Neo4j instance's store under a freeze (`IHB_OWNER`), children included. */
export function freezeOwnedProcesses(neo4jConfDir: string): ProcessInfo[] {
  return findProcesses((p) => p.env.IHB_OWNER !== undefined && p.env.NEO4J_CONF === neo4jConfDir);
}
