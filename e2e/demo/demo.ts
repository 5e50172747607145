/**
 * The demo: a real local Infrahub data plane (Neo4j Community, PostgreSQL, MinIO) is started and seeded;
 * then the `infrahub-backup` CLI — the npm package's bin, built from this checkout — is run exactly as a
 * user types it: a backup to S3, a verify, the data changed, a list, a restore of the latest backup. The
 * data is proven equal to the original. Each command and its output are printed, then a summary. Everything
 * it starts is stopped at the end.
 *
 * IHB_DEMO_NODES / IHB_DEMO_FLOW_RUNS size the seeded data (default 2000 / 20000).
 */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  digestInfrahubData,
  repoRoot,
  seedInfrahubData,
  startInfrahubLocalStack,
  tempDir,
} from "@infrahub-backup/testkit";

const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const say = (message: string) => process.stderr.write(`${t()}  ${message}\n`);
const bin = join(repoRoot, "packages/cli/bin/infrahub-backup.js");

interface Run {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `infrahub-backup <args>` as a child process; prints the command, its log messages and its stdout. */
async function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  process.stderr.write(`\n$ infrahub-backup ${args.join(" ")}\n`);
  const begin = Date.now();
  const child = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    process.stderr.write(d);
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    // The log lines, shortened to their message (the full lines are logrus key=value text); progress
    // and "still working" lines keep their fields.
    for (const line of d.toString().split("\n")) {
      const m = /msg=("(?:[^"\\]|\\.)*"|\S+)(.*)$/.exec(line);
      if (!m) {
        if (line.trim()) process.stderr.write(`    ${line}\n`);
        continue;
      }
      const msg = (m[1] as string).startsWith('"')
        ? (JSON.parse(m[1] as string) as string)
        : (m[1] as string);
      const fields = msg === "progress" || msg === "still working" ? (m[2] ?? "") : "";
      process.stderr.write(`    · ${msg}${fields}\n`);
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new Error(`infrahub-backup ${args.join(" ")} exited ${code}`);
  return { stdout, stderr, ms: Date.now() - begin };
}

/** Neo4j's offline time, as the CLI logs it ("… again after N ms offline"). */
const downtime = (run: Run) => {
  const ms = /again after (\d+) ms offline/.exec(run.stderr)?.[1];
  return ms === undefined ? "n/a" : `${(Number(ms) / 1000).toFixed(1)} s`;
};
const seconds = (run: Run) => `${(run.ms / 1000).toFixed(1)} s`;

say("starting the local stack: Neo4j 5.26 Community, PostgreSQL, MinIO (real servers on 127.0.0.1)");
await using stack = await startInfrahubLocalStack();
await using work = await tempDir("ihb-demo-");
say(
  `  Neo4j ${stack.neo4j.boltUrl} · PostgreSQL 127.0.0.1:${stack.postgres.port} · MinIO ${stack.minio.endpoint}`,
);
await stack.minio.createBucket("infrahub-backups");
const nodes = Number(process.env.IHB_DEMO_NODES ?? 2000);
const flowRuns = Number(process.env.IHB_DEMO_FLOW_RUNS ?? 20000);
say(
  `seeding an Infrahub-like graph (${nodes} devices with attributes and relationships) and ${flowRuns} flow runs`,
);
await seedInfrahubData(stack.neo4j, stack.postgres, { nodes, flowRuns });
const original = await digestInfrahubData(stack.neo4j, stack.postgres);

// The services of this host, as a --local-config file describes them (README, "Quickstart: local").
const config = join(work.path, "infrahub-local.json");
await writeFile(
  config,
  JSON.stringify(stack.environmentOptions, (key, value) => (key === "control" ? undefined : value), 2),
);
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...(process.env.IHB_CACHE ? { IHB_CACHE: process.env.IHB_CACHE } : {}),
  INFRAHUB_LOCAL_CONFIG: config,
  INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
  INFRAHUB_S3_BUCKET: "infrahub-backups",
  INFRAHUB_S3_PREFIX: "demo",
  AWS_ACCESS_KEY_ID: stack.minio.rootUser,
  AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
};
process.stderr.write(
  [
    "",
    `export INFRAHUB_LOCAL_CONFIG=${config}`,
    `export INFRAHUB_S3_ENDPOINT=${stack.minio.endpoint} INFRAHUB_S3_BUCKET=infrahub-backups INFRAHUB_S3_PREFIX=demo`,
    "export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…   # the MinIO credentials",
    "",
  ].join("\n"),
);

const create = await cli(["create", "--s3-upload"], env, work.path);
const location = create.stdout.trim();
await cli(["verify", "--latest", "--s3"], env, work.path);

say("changing the data (deleting devices, rewriting flow runs)");
await stack.neo4j.cypher(
  "MATCH (n:InfraDevice) WHERE toInteger(substring(n.uuid, 5)) % 2 = 0 DETACH DELETE n",
);
await stack.postgres.psql("UPDATE flow_run SET state_type = 'CRASHED'; DELETE FROM log;");
const changed = await digestInfrahubData(stack.neo4j, stack.postgres);

const list = await cli(["list", "--s3"], env, work.path);
const restore = await cli(["restore", "--latest", "--s3", "--yes"], env, work.path);
const restored = await digestInfrahubData(stack.neo4j, stack.postgres);

const size = Number(list.stdout.split("\n")[0]?.split("\t")[1]);
const equal = restored.neo4j === original.neo4j && restored.postgres === original.postgres;
const rows = [
  ["archive", location],
  ["archive size", `${(size / 2 ** 20).toFixed(2)} MiB`],
  ["create (command)", seconds(create)],
  ["Neo4j downtime (backup)", downtime(create)],
  ["restore (command)", seconds(restore)],
  ["Neo4j downtime (restore)", downtime(restore)],
  [
    "data changed before restore",
    changed.neo4j !== original.neo4j && changed.postgres !== original.postgres ? "yes" : "NO",
  ],
  ["data after restore = original", equal ? "yes (Neo4j and PostgreSQL digests match)" : "NO"],
];
const width = Math.max(...rows.map((r) => (r[0] as string).length));
process.stdout.write(`\n${rows.map(([k, v]) => `${(k as string).padEnd(width)}  ${v}`).join("\n")}\n\n`);
if (!equal) {
  process.exitCode = 1;
  say("FAILED: restored data differs from the original");
} else {
  say("demo finished: the restored data equals the original");
}
