// ci-cost: 120 s (image build warm, cluster and stack start, two runs)
// The product image, built by the Docker engine of this machine from packages/image/Dockerfile (on the local
// bases of test-images/: no registry is reachable here) and run as production runs it: uid 1000, read-only
// root, a tmpfs /tmp, every capability dropped, no-new-privileges. It backs up through a real API server
// (the chart's ServiceAccount token, as the chart's Job has) to S3 and restores from there; the data digest
// of the real Neo4j and PostgreSQL behind the cluster's pods is compared, and every workload it scaled is back
// at its replica count. (The bundle alone runs the same path in readme-quickstarts.test.ts, with an admin
// kubeconfig; the detector's cluster-wide search and its refusal in core's kubernetes-environment.test.ts.)
//
// Networking: the container joins the host's network namespace (`--network host`) because the local
// control plane and the stack listen on 127.0.0.1 only; nothing it is given reaches beyond this machine.
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
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
import { startProcess } from "../../cli/test/cli-process.js";

const run = promisify(execFile);
const NS = "infrahub";
const BUCKET = "backups";
const LONG = 600_000;
const dockerAnswers = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"]).status === 0;
// CI has an engine on every machine of this kind (tools/run-tests.sh starts it): there, no daemon is a failure.
const required = process.env.CI === "true" || process.env.IHB_REQUIRE_DOCKER === "1";

describe.skipIf(!dockerAnswers && !required)(
  `product image run for real (${dockerAnswers ? "Docker engine answers" : "SKIPPED: no Docker daemon answers — tools/docker-daemon.sh start"})`,
  () => {
    let image: string;
    let stack: InfrahubLocalStack;
    let cluster: LocalCluster;
    let fixture: InfrahubFixture;
    let kubeDir: string;
    let secrets: Record<string, string>;

    /** `docker run` as production runs the image; secrets reach it through the docker client's environment (`-e NAME`), never argv. */
    async function runImage(args: string[], extraEnv: Record<string, string> = {}) {
      const env = { ...secrets, ...extraEnv };
      const argv = [
        "run",
        "--rm",
        "--pull=never",
        "--network=host",
        "--user=1000:1000",
        "--read-only",
        "--tmpfs=/tmp:rw,nosuid,nodev,size=64m",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        `--volume=${kubeDir}:/kube:ro`,
        ...Object.keys(env).flatMap((name) => ["--env", name]),
        image,
        ...args,
      ];
      // Exit status and output of a failing run are what the assertions read: the CLI tests' process runner keeps them.
      return startProcess("docker", argv, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } })
        .result;
    }

    beforeAll(async () => {
      if (!dockerAnswers)
        throw new Error("no Docker daemon answers: run tools/docker-daemon.sh start (CI requires one)");
      const built = await run(join(repoRoot, "packages/image/build-local.sh"), [], {
        maxBuffer: 1024 * 1024,
      });
      image = built.stdout.trim().split("\n").at(-1) ?? "";
      [stack, cluster] = await Promise.all([startInfrahubLocalStack(), startLocalCluster()]);
      await stack.minio.createBucket(BUCKET);
      await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 300 });
      fixture = await deployInfrahubFixture(cluster, stack, { namespace: NS });
      const rendered = spawnSync(
        "helm",
        ["template", "infrahub-backup", `${repoRoot}/charts/infrahub-backup`, "--namespace", NS],
        { encoding: "utf8" },
      );
      expect(rendered.status, rendered.stderr).toBe(0);
      await cluster.apply(rendered.stdout);
      // The ServiceAccount's kubeconfig, readable by uid 1000, with its CA beside it at a path valid inside the container.
      const kubeconfig = readFileSync(await cluster.serviceAccountKubeconfig(NS, "infrahub-backup"), "utf8");
      const caPath = /certificate-authority: (.+)/.exec(kubeconfig)?.[1]?.trim();
      if (!caPath) throw new Error("the ServiceAccount kubeconfig names no certificate-authority file");
      kubeDir = mkdtempSync(join(tmpdir(), "ihb-image-kube-"));
      chmodSync(kubeDir, 0o755); // mkdtemp makes it 0700: uid 1000 in the container could not enter it
      writeFileSync(join(kubeDir, "ca.crt"), readFileSync(caPath), { mode: 0o644 });
      writeFileSync(join(kubeDir, "config"), kubeconfig.replace(caPath, "/kube/ca.crt"), { mode: 0o644 });
      secrets = {
        KUBECONFIG: "/kube/config",
        INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
        INFRAHUB_S3_BUCKET: BUCKET,
        INFRAHUB_S3_PREFIX: "image",
        AWS_ACCESS_KEY_ID: stack.minio.rootUser,
        AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
      };
    }, LONG);

    /** The replica count of every Deployment and StatefulSet of the namespace, by `Kind/name`. */
    async function replicaCounts(): Promise<Record<string, number>> {
      const out = JSON.parse(
        (await cluster.kubectl(["-n", NS, "get", "deployments,statefulsets", "-o", "json"])).stdout,
      ) as { items: { kind: string; metadata: { name: string }; spec: { replicas: number } }[] };
      return Object.fromEntries(out.items.map((i) => [`${i.kind}/${i.metadata.name}`, i.spec.replicas]));
    }

    afterAll(async () => {
      if (kubeDir) rmSync(kubeDir, { recursive: true, force: true });
      await fixture?.[Symbol.asyncDispose]();
      await cluster?.[Symbol.asyncDispose]();
      await stack?.[Symbol.asyncDispose]();
    }, 120_000);

    it("is what production runs: uid 1000, the bundle and both freeze helpers, no package manager, a bounded size", async () => {
      const inspect = JSON.parse((await run("docker", ["image", "inspect", image])).stdout) as {
        Size: number;
        Config: { User: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string; Env: string[] };
      }[];
      const config = inspect[0]?.Config;
      expect(config?.User).toBe("1000:1000");
      expect(config?.Entrypoint).toEqual([
        "/usr/local/bin/node",
        "--max-semi-space-size=1",
        "/app/infrahub-backup.mjs",
      ]);
      expect(config?.Cmd).toEqual(["--help"]);
      expect(config?.WorkingDir).toBe("/infrahub_backups");
      expect(config?.Env).toContain("BACKUP_DIR=/infrahub_backups");
      // Local base: Debian minbase + Node (~200 MiB); the official Alpine base is smaller. A bound, not a figure.
      expect(inspect[0]?.Size ?? 0).toBeLessThan(400 * 1024 * 1024);
      const probe = await run("docker", [
        "run",
        "--rm",
        "--pull=never",
        "--network=none",
        "--read-only",
        "--cap-drop=ALL",
        "--entrypoint=/usr/local/bin/node",
        image,
        "-e",
        `const fs = require("node:fs");
         const exists = (p) => fs.existsSync(p);
         console.log(JSON.stringify({
           uid: process.getuid(),
           bundle: exists("/app/infrahub-backup.mjs"),
           amd64: (fs.statSync("/app/libexec/neo4j-freeze-linux-amd64").mode & 0o111) !== 0,
           arm64: (fs.statSync("/app/libexec/neo4j-freeze-linux-arm64").mode & 0o111) !== 0,
           managers: ["npm", "npx", "pnpm", "yarn", "corepack"].filter((m) => exists("/usr/local/bin/" + m)),
           nodeModules: exists("/usr/local/lib/node_modules"),
           backupDirOwner: fs.statSync("/infrahub_backups").uid,
           passwd: fs.readFileSync("/etc/passwd", "utf8").split("\\n").find((l) => l.includes(":1000:")),
         }));`,
      ]);
      expect(JSON.parse(probe.stdout)).toEqual({
        uid: 1000,
        bundle: true,
        amd64: true,
        arm64: true,
        managers: [],
        nodeModules: false,
        backupDirOwner: 1000,
        passwd: "infrahub:x:1000:1000:infrahub:/home/infrahub:/bin/sh",
      });
    });

    it("`version` answers with the CLI's version, offline and locked down", async () => {
      const version = (
        JSON.parse(readFileSync(join(repoRoot, "packages/cli/package.json"), "utf8")) as { version: string }
      ).version;
      const r = await runImage(["version"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(version);
    });

    it(
      "create --k8s-namespace to S3, then restore --latest --s3: the data digest equals the original; no secret in the output",
      async () => {
        const original = await digestInfrahubData(stack.neo4j, stack.postgres);
        const replicasBefore = await replicaCounts();
        const created = await runImage([
          "create",
          "--k8s-namespace",
          NS,
          "--s3-upload",
          "--log-format",
          "json",
        ]);
        expect(created.stderr).not.toMatch(/"type":"error"/);
        expect(created.code, created.stderr).toBe(0);
        const result = JSON.parse(created.stdout) as { name: string; locations: string[] };
        expect(result.locations).toEqual([`s3://${BUCKET}/image/${result.name}`]);
        expect(created.stderr).toContain(`kubernetes deployment ${NS}`);
        // Every Deployment and StatefulSet the backup scaled is back at its replica count.
        expect(await replicaCounts()).toEqual(replicasBefore);

        await stack.neo4j.cypher("CREATE (:Node {uuid: 'created-after-image-backup'})");
        await stack.postgres.psql("DELETE FROM log;");
        expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(original);

        const restored = await runImage(["restore", "--latest", "--s3", "--yes"], {
          INFRAHUB_K8S_NAMESPACE: NS,
        });
        expect(restored.stderr).not.toMatch(/level=error|"type":"error"/);
        expect(restored.code, restored.stderr).toBe(0);
        expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(original);
        for (const output of [created.stdout, created.stderr, restored.stdout, restored.stderr]) {
          expect(output).not.toContain(stack.minio.rootPassword);
        }
      },
      LONG,
    );

    it("without a namespace, the chart's ServiceAccount cannot search the cluster: exit 3 and a hint to name it", async () => {
      const r = await runImage(["create", "--s3-upload"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/no Infrahub environment detected/);
      expect(r.stderr).toContain("--k8s-namespace");
    });
  },
);
