/**
 * The demo: a real local Infrahub data plane (Neo4j Community, PostgreSQL, MinIO) is started and seeded;
 * a backup goes to S3; the data is changed; the latest backup is restored; the data is proven equal
 * to the original. Prints a summary. Everything it starts is stopped at the end.
 */
import {
  createBackup,
  LocalEnvironment,
  type LocalEnvironmentOptions,
  listBackups,
  type OperationEvent,
  restoreBackup,
  S3Store,
  verifyBackup,
} from "@infrahub-backup/core";
import {
  digestInfrahubData,
  freezeHelperPath,
  seedInfrahubData,
  startInfrahubLocalStack,
} from "@infrahub-backup/testkit";

const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const say = (message: string) => process.stderr.write(`${t()}  ${message}\n`);
const onEvent = (event: OperationEvent) => {
  if (event.type === "step") say(`  · ${event.message}`);
  if (event.type === "warning") say(`  ! ${event.message}`);
};
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

say("starting the local stack: Neo4j 5.26 Community, PostgreSQL, MinIO (real servers on 127.0.0.1)");
await using stack = await startInfrahubLocalStack();
say(
  `  Neo4j ${stack.neo4j.boltUrl} · PostgreSQL 127.0.0.1:${stack.postgres.port} · MinIO ${stack.minio.endpoint}`,
);
const environment = new LocalEnvironment(stack.environmentOptions as LocalEnvironmentOptions);
await stack.minio.createBucket("infrahub-backups");
const store = new S3Store({
  bucket: "infrahub-backups",
  prefix: "demo",
  endpoint: stack.minio.endpoint,
  credentials: { accessKeyId: stack.minio.rootUser, secretAccessKey: stack.minio.rootPassword },
});
const freezeHelper = (arch: "amd64" | "arm64") => freezeHelperPath(arch);

say("seeding an Infrahub-like graph (Root, devices, attributes, relationships) and Prefect-like tables");
await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 2000, flowRuns: 20000 });
const original = await digestInfrahubData(stack.neo4j, stack.postgres);

say("creating a backup to S3");
const backup = await createBackup({ environment, store, toolVersion: "demo", freezeHelper, onEvent });
const report = await verifyBackup({ store, name: backup.name });
say(`verified ${report.location}: ${report.checksums.map((c) => `${c.key} ${c.status}`).join(", ")}`);

say("changing the data (deleting devices, rewriting flow runs)");
await stack.neo4j.cypher(
  "MATCH (n:InfraDevice) WHERE toInteger(substring(n.uuid, 5)) % 2 = 0 DETACH DELETE n",
);
await stack.postgres.psql("UPDATE flow_run SET state_type = 'CRASHED'; DELETE FROM log;");
const changed = await digestInfrahubData(stack.neo4j, stack.postgres);

const latest = (await listBackups(store))[0];
if (!latest) throw new Error("no backup listed");
say(`restoring the latest backup, ${latest.name}`);
const restore = await restoreBackup({ environment, store, name: latest.name, freezeHelper, onEvent });
const restored = await digestInfrahubData(stack.neo4j, stack.postgres);

const equal = restored.neo4j === original.neo4j && restored.postgres === original.postgres;
const rows = [
  ["archive", backup.location],
  ["archive size", mib(backup.size)],
  ...backup.entries.map((e) => [
    `  ${e.path}`,
    `${mib(e.size)} (${e.compression}) sha256 ${e.sha256.slice(0, 16)}…`,
  ]),
  ["backup duration", `${(backup.durations.totalMs / 1000).toFixed(1)} s`],
  ["Neo4j downtime (backup)", `${((backup.durations.neo4jDowntimeMs ?? 0) / 1000).toFixed(1)} s`],
  [
    "restore duration",
    `${(restore.durations.totalMs / 1000).toFixed(1)} s (validation pass ${(restore.durations.validateMs / 1000).toFixed(1)} s)`,
  ],
  ["Neo4j downtime (restore)", `${((restore.durations.neo4jDowntimeMs ?? 0) / 1000).toFixed(1)} s`],
  [
    "data changed before restore",
    changed.neo4j !== original.neo4j && changed.postgres !== original.postgres ? "yes" : "NO",
  ],
  ["data after restore = original", equal ? "yes (Neo4j and PostgreSQL digests match)" : "NO"],
];
const width = Math.max(...rows.map((r) => r[0]!.length));
process.stdout.write(`\n${rows.map(([k, v]) => `${k!.padEnd(width)}  ${v}`).join("\n")}\n\n`);
if (!equal) {
  process.exitCode = 1;
  say("FAILED: restored data differs from the original");
} else {
  say("demo finished: the restored data equals the original");
}
