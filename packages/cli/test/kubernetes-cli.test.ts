// ci-cost: 55 s (measured alone on an idle 2-core machine; tools/vitest/cost-first-sequencer.ts runs costly files first)
// End to end on Kubernetes: the bundled CLI as a child process, with KUBECONFIG holding the token of the
// chart's ServiceAccount (bound to exactly the Role `helm template charts/infrahub-backup` renders), against
// a real local control plane from testkit whose Infrahub-shaped pods run their commands against the real
// Neo4j and PostgreSQL of the local stack.
import { execFileSync } from "node:child_process";
import {
  deployInfrahubFixture,
  digestInfrahubData,
  type InfrahubFixture,
  type InfrahubLocalStack,
  type LocalCluster,
  repoRoot,
  seedInfrahubData,
  startInfrahubLocalStack,
  startLocalCluster,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, removeCli, runCli } from "./cli-process.js";

const NS = "infrahub";
const BUCKET = "backups";
const LONG = 300_000;
let stack: InfrahubLocalStack;
let cluster: LocalCluster;
let fixture: InfrahubFixture;
let env: NodeJS.ProcessEnv;

async function replicaCounts(): Promise<Record<string, number>> {
  const out = JSON.parse(
    (await cluster.kubectl(["-n", NS, "get", "deployments,statefulsets", "-o", "json"])).stdout,
  ) as {
    items: { kind: string; metadata: { name: string }; spec: { replicas: number } }[];
  };
  return Object.fromEntries(out.items.map((i) => [`${i.kind}/${i.metadata.name}`, i.spec.replicas]));
}

beforeAll(async () => {
  buildCli();
  [stack, cluster] = await Promise.all([startInfrahubLocalStack(), startLocalCluster()]);
  await stack.minio.createBucket(BUCKET);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 300 });
  fixture = await deployInfrahubFixture(cluster, stack, { namespace: NS });
  const rendered = execFileSync(
    "helm",
    ["template", "infrahub-backup", `${repoRoot}/charts/infrahub-backup`, "--namespace", NS],
    { encoding: "utf8" },
  );
  await cluster.apply(rendered);
  env = cleanEnv({
    KUBECONFIG: await cluster.serviceAccountKubeconfig(NS, "infrahub-backup"),
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    INFRAHUB_S3_BUCKET: BUCKET,
    INFRAHUB_S3_PREFIX: "k8s-cli",
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
  });
}, LONG);

afterAll(async () => {
  removeCli();
  await fixture?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
}, 120_000);

describe("CLI on Kubernetes (KUBECONFIG with the chart's ServiceAccount)", () => {
  let original: Awaited<ReturnType<typeof digestInfrahubData>>;

  it(
    "create --k8s-namespace backs up through the API server to S3 and restores the replica counts",
    async () => {
      original = await digestInfrahubData(stack.neo4j, stack.postgres);
      const before = await replicaCounts();
      const r = await runCli(["create", "--k8s-namespace", NS, "--s3-upload", "--log-format", "json"], {
        env,
      });
      expect(r.stderr).not.toMatch(/"type":"error"/);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as { name: string; locations: string[] };
      expect(result.locations).toEqual([`s3://${BUCKET}/k8s-cli/${result.name}`]);
      expect(r.stderr).toContain(`kubernetes deployment ${NS}`);
      expect(await replicaCounts()).toEqual(before);
    },
    LONG,
  );

  it(
    "restore --latest with INFRAHUB_K8S_NAMESPACE brings the data back",
    async () => {
      await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-cli-k8s-backup'})");
      await stack.postgres.psql("DELETE FROM log;");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(original);
      const r = await runCli(["restore", "--latest", "--s3", "--yes"], {
        env: { ...env, INFRAHUB_K8S_NAMESPACE: NS },
      });
      expect(r.stderr).not.toMatch(/level=error|"type":"error"/);
      expect(r.code).toBe(0);
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
    },
    LONG,
  );

  it("environment detect/list search the whole cluster with rights to do so", async () => {
    const admin = { ...env, KUBECONFIG: cluster.adminKubeconfig };
    const detect = await runCli(["environment", "detect"], { env: admin });
    expect(detect.code).toBe(0);
    expect(detect.stderr).toContain(`Detected kubernetes environment (${NS})`);
    const list = await runCli(["environment", "list"], { env: admin });
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe(NS);
  });

  it("without a namespace, the ServiceAccount cannot search the cluster: exit 3 and a hint to name it", async () => {
    const r = await runCli(["create", "--s3-upload"], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no Infrahub environment detected/);
    expect(r.stderr).toContain("--k8s-namespace");
  });
});
