// `pnpm bench:pass1`: restore's pass 1 (read + verify every checksum) against one raw read of the same
// object, in the same run, interleaved. See ../README.md, "Pass 1".
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ArchiveWriter, S3Store } from "@infrahub-backup/core";
import { repoRoot, startMinio, tempDir, toolDir } from "@infrahub-backup/testkit";
import { measureProcess, type ProcessCost } from "./measure.js";
import { formatBytes, median, parseSize } from "./report.js";
import { CLI_NODE_FLAGS } from "./scenarios.js";

const HELP = `pnpm bench:pass1 [--size 512MiB] [--rounds 3] [--baseline-cli FILE]

Writes one archive of two stored (incompressible) entries to a local MinIO, then reads it, interleaved,
--rounds times each: \`mc cat | wc -c\` (Go), a plain GetObject drained by Node (the SDK alone), and our
CLI's \`verify\` with the image's V8 flags (read + SHA-256 of every entry + the gzip CRC-32, a whole
process) — also a second CLI bundle given with --baseline-cli, run without flags (e.g. one built from an
older commit). Prints the medians and ratios.`;

/** A plain GetObject drained (the SDK, no verification), as a child process like the others. */
const DRAIN = `
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
const [endpoint, bucket, key] = process.argv.slice(2);
const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true });
const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
let n = 0;
for await (const chunk of out.Body) n += chunk.length;
console.log(n);
`;

async function* pattern(magic: string, size: number): AsyncGenerator<Buffer> {
  const block = randomBytes(4 << 20);
  yield Buffer.from(magic);
  for (let left = size - magic.length; left > 0; left -= block.length) {
    yield left >= block.length ? block : block.subarray(0, left);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "512MiB" },
      rounds: { type: "string", default: "3" },
      "baseline-cli": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const size = parseSize(values.size);
  const rounds = Number(values.rounds);
  await using work = await tempDir("ihb-pass1-");
  const cli = join(work.path, "infrahub-backup.mjs");
  const cliDir = join(repoRoot, "packages", "cli");
  execFileSync(process.execPath, [join(cliDir, "scripts", "bundle.mjs"), cli], {
    cwd: cliDir,
    stdio: "pipe",
  });
  // Next to core, so the SDK resolves from its node_modules.
  const drain = join(repoRoot, "packages", "core", ".pass1-drain.mjs");
  await using minio = await startMinio();
  await minio.createBucket("bench");
  const credentials = { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword };
  const store = new S3Store({ endpoint: minio.endpoint, bucket: "bench", prefix: "infrahub", credentials });
  const name = "infrahub_backup_20260130_092031.tar.gz";
  const writer = new ArchiveWriter(await store.put(name, { sizeHint: size }));
  await writer.addFile("database/neo4j.dump", pattern("DZV1", Math.floor(size / 2)));
  await writer.addFile("prefect.dump", pattern("PGDMP", size - Math.floor(size / 2)));
  const { commit } = await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database", "task-manager-db"],
  });
  await store.close();

  const endpoint = new URL(minio.endpoint);
  const env = {
    PATH: process.env.PATH,
    HOME: work.path,
    AWS_ACCESS_KEY_ID: minio.rootUser,
    AWS_SECRET_ACCESS_KEY: minio.rootPassword,
    INFRAHUB_S3_ENDPOINT: minio.endpoint,
    MC_HOST_bench: `http://${minio.rootUser}:${minio.rootPassword}@${endpoint.host}`,
    MC_CONFIG_DIR: join(work.path, "mc"),
  };
  const mc = join(toolDir("mc", "MC_VERSION"), "bin", "mc");
  const uri = `s3://bench/infrahub/${name}`;
  const methods: Record<string, () => Promise<ProcessCost>> = {
    "mc cat": () => measureProcess("sh", ["-c", `"${mc}" cat bench/bench/infrahub/${name} | wc -c`], { env }),
    "GetObject drained (Node)": async () => {
      const { writeFile, rm } = await import("node:fs/promises");
      await writeFile(drain, DRAIN);
      try {
        return await measureProcess(process.execPath, [drain, minio.endpoint, "bench", `infrahub/${name}`], {
          env,
        });
      } finally {
        await rm(drain, { force: true });
      }
    },
    "verify (CLI)": () => measureProcess(process.execPath, [...CLI_NODE_FLAGS, cli, "verify", uri], { env }),
  };
  const baseline = values["baseline-cli"];
  if (baseline) {
    // As it ran before the flags: the bundle alone.
    methods["verify (baseline CLI)"] = () =>
      measureProcess(process.execPath, [resolve(baseline), "verify", uri], { env });
  }
  const times: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  const loadBefore = loadavg();
  for (let round = 0; round < rounds; round++) {
    const order = Object.keys(methods);
    if (round % 2 === 1) order.reverse();
    for (const method of order) {
      const r = await (methods[method] as () => Promise<ProcessCost>)();
      if (r.exitCode !== 0)
        throw new Error(`${method} failed (exit ${r.exitCode}):\n${r.stderr.slice(-2000)}`);
      times[method] = [...(times[method] ?? []), r.wallMs];
      // The shell's, not mc's: only Node processes are reported.
      if (method !== "mc cat") rss[method] = [...(rss[method] ?? []), r.peakRssBytes];
      console.error(`[pass1] round ${round + 1} ${method}: ${(r.wallMs / 1000).toFixed(2)} s`);
    }
  }
  const mcMs = median(times["mc cat"] ?? []);
  const sdkMs = median(times["GetObject drained (Node)"] ?? []);
  console.log(
    `archive ${formatBytes(commit.size)}, ${rounds} rounds, load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} → ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    "| method | wall s (each round) | median MB/s | speed ÷ mc cat | speed ÷ GetObject | peak RSS |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [method, values] of Object.entries(times)) {
    const m = median(values);
    console.log(
      `| ${method} | ${values.map((v) => (v / 1000).toFixed(2)).join(", ")} | ${(commit.size / 1e3 / m).toFixed(0)} | ${(mcMs / m).toFixed(2)} | ${(sdkMs / m).toFixed(2)} | ${rss[method] ? formatBytes(median(rss[method])) : ""} |`,
    );
  }
}

await main();
