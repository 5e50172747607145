// ci-cost: 245 s (194 s and 244 s measured alone on a busy 2-core machine: a local stack, the local cluster, three creates and three restores)
// The root README's quickstarts, executed as written: every block marked `<!-- readme-test: NAME -->` that
// shows commands (`$ infrahub-backup …`) is run through bash, in order, with the built CLI on the PATH
// as `infrahub-backup`, against the local test bed — real Neo4j, PostgreSQL and MinIO (testkit), the local
// Kubernetes cluster with its Infrahub-shaped fixture (reached with its admin kubeconfig, as a user's own
// context; the chart Role's rights are proven by the image in packages/image/test/image-run.test.ts), and for Compose the `docker` TEST DOUBLE (testkit
// docker-shim, a boundary we do not own) whose containers are bound to the same real databases. Each
// command must exit 0 and print on stdout what the README shows, by shape: `…` stands for any text in a
// line (a line of only `…` for any number of lines), digits for any digits, blanks for any blanks. The
// setup blocks (`NAME setup`) must export exactly the variables the test has to provide; their bucket,
// prefix and namespace values are used as written. Before each restore the test changes the data, and
// after the block it must be the original again.
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createInfrahubComposeProject,
  type DockerShim,
  deployInfrahubFixture,
  digestInfrahubData,
  type InfrahubLocalStack,
  type LocalCluster,
  repoRoot,
  type ShimInvocation,
  seedInfrahubData,
  startDockerShim,
  startInfrahubLocalStack,
  startLocalCluster,
  type TempDir,
  tempDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, buildCli, cleanEnv, removeCli, runCli, runProcess } from "./cli-process.js";

const LONG = 600_000;

/** A block of the README marked `<!-- readme-test: TAG -->`. */
interface Block {
  tag: string;
  lang: string;
  body: string;
}

function taggedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/<!-- readme-test: ([\w ]+?) -->\n```(\w*)\n([\s\S]*?)\n```/g)) {
    out.push({ tag: m[1] as string, lang: m[2] as string, body: m[3] as string });
  }
  return out;
}

/** `$ command` lines, each with the stdout lines shown after it. */
function commands(body: string): { command: string; expected: string[] }[] {
  const out: { command: string; expected: string[] }[] = [];
  for (const line of body.split("\n")) {
    if (line.startsWith("$ ")) out.push({ command: line.slice(2), expected: [] });
    else out.at(-1)?.expected.push(line);
  }
  return out;
}

/** `export NAME=value …` lines of a setup block (a `#` starts a comment). */
function exported(body: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of body.split("\n")) {
    if (!line.startsWith("export ")) continue;
    const words = line.slice("export ".length).split("#")[0]?.trim().split(/\s+/) ?? [];
    for (const word of words) {
      const eq = word.indexOf("=");
      vars.set(word.slice(0, eq), word.slice(eq + 1));
    }
  }
  return vars;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The shape of the shown output as a regular expression over the whole of stdout. */
function shape(expected: readonly string[]): RegExp {
  const parts = expected.map((line) =>
    line.trim() === "…"
      ? "(?:[^\\n]*\\n)*?"
      : `${escapeRegExp(line)
          .replace(/\d+/g, "\\d+")
          .replace(/[ \t]+/g, "[ \\t]+")
          .replaceAll("…", ".*?")}\\n`,
  );
  return new RegExp(`^${parts.join("")}$`);
}

let readme: Block[];
let stack: InfrahubLocalStack;
let work: TempDir;
let pathDir: string;

beforeAll(async () => {
  readme = taggedBlocks(await readFile(join(repoRoot, "README.md"), "utf8"));
  buildCli();
  [stack, work] = await Promise.all([startInfrahubLocalStack(), tempDir("ihb-readme-")]);
  await seedInfrahubData(stack.neo4j, stack.postgres, { nodes: 200, flowRuns: 500 });
  // `infrahub-backup` on the PATH: the bundle built from this checkout, as an installed CLI would be.
  pathDir = join(work.path, "bin");
  await mkdir(pathDir);
  await writeFile(
    join(pathDir, "infrahub-backup"),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} "$@"\n`,
  );
  await chmod(join(pathDir, "infrahub-backup"), 0o755);
}, LONG);

afterAll(async () => {
  removeCli();
  await stack?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
}, 120_000);

function block(tag: string): Block {
  const found = readme.find((b) => b.tag === tag);
  if (!found) throw new Error(`README has no block marked <!-- readme-test: ${tag} -->`);
  return found;
}

/** The setup block's variables: exactly `provided`'s names; returns its values for the others. */
function setup(tag: string, provided: readonly string[]): Map<string, string> {
  const vars = exported(block(`${tag} setup`).body);
  expect([...vars.keys()].sort()).toEqual([...provided].sort());
  return vars;
}

/**
 * Runs a quickstart block's commands in order. Before a restore (not a dry run) the data is changed;
 * after the block it must equal what it was before the block.
 */
async function runQuickstart(tag: string, env: NodeJS.ProcessEnv, cwd: string): Promise<string[]> {
  const steps = commands(block(tag).body);
  expect(steps.length).toBeGreaterThan(0);
  const before = await digestInfrahubData(stack.neo4j, stack.postgres);
  const outputs: string[] = [];
  for (const { command, expected } of steps) {
    if (/^infrahub-backup restore\b/.test(command) && !command.includes("--dry-run")) {
      await stack.neo4j.cypher(`CREATE (:Node {uuid: 'readme-${tag}-${Date.now()}'})`);
      await stack.postgres.psql("UPDATE flow_run SET state_type = 'CHANGED-BY-README-TEST';");
      expect(await digestInfrahubData(stack.neo4j, stack.postgres)).not.toEqual(before);
    }
    const r = await runProcess("bash", ["-c", command], { env, cwd });
    const context = `${command}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
    expect(r.code, context).toBe(0);
    expect(r.stderr, context).not.toMatch(/level=error/);
    expect(r.stdout, context).toMatch(shape(expected));
    outputs.push(r.stdout);
  }
  expect(await digestInfrahubData(stack.neo4j, stack.postgres)).toEqual(before);
  return outputs;
}

const buckets = new Set<string>();
/** The README's bucket, created once for the quickstarts that use it. */
async function bucketOf(vars: Map<string, string>): Promise<string> {
  const bucket = vars.get("INFRAHUB_S3_BUCKET") as string;
  if (!buckets.has(bucket)) await stack.minio.createBucket(bucket);
  buckets.add(bucket);
  return bucket;
}

/**
 * A quickstart that stores in S3: its setup block must export exactly `own`'s variables plus the S3 ones;
 * the bucket and prefix are the README's, the endpoint and credentials the test MinIO's.
 */
async function runS3Quickstart(tag: string, own: Record<string, string>): Promise<void> {
  const s3 = {
    INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
    AWS_ACCESS_KEY_ID: stack.minio.rootUser,
    AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
  };
  const names = [...Object.keys(own), ...Object.keys(s3), "INFRAHUB_S3_BUCKET", "INFRAHUB_S3_PREFIX"];
  const vars = setup(
    tag,
    names.filter((n) => n !== "PATH"),
  );
  const env = cleanEnv({
    ...own,
    ...s3,
    INFRAHUB_S3_BUCKET: await bucketOf(vars),
    INFRAHUB_S3_PREFIX: vars.get("INFRAHUB_S3_PREFIX"),
  });
  const cwd = join(work.path, tag);
  await mkdir(cwd);
  await runQuickstart(tag, env, cwd);
}

describe("README quickstarts, executed", () => {
  it("the shape matcher elides lines and digits, and nothing else", () => {
    expect("a 12\nb\n").toMatch(shape(["a 1", "…"]));
    expect("x/y/z.tar.gz: OK\n").toMatch(shape(["…/z.tar.gz: OK"]));
    expect("a\n").not.toMatch(shape(["b"]));
    expect("a\nextra\n").not.toMatch(shape(["a"]));
    expect("").toMatch(shape([]));
    expect("something\n").not.toMatch(shape([]));
  });

  it("the README's quickstart blocks are found, with commands and the output they claim", () => {
    for (const tag of ["local", "compose", "kubernetes"]) {
      const steps = commands(block(tag).body);
      expect(steps.length, tag).toBeGreaterThanOrEqual(3);
      expect(steps.every((s) => s.command.startsWith("infrahub-backup "))).toBe(true);
      const create = steps.find((s) => /^infrahub-backup create\b/.test(s.command));
      // A create claims the archive's location on stdout: an empty or different output would not match.
      expect(create?.expected, tag).toHaveLength(1);
      expect("").not.toMatch(shape(create?.expected ?? []));
      expect("s3://elsewhere/x.tar.gz\n").not.toMatch(shape(create?.expected ?? []));
    }
  });

  it(
    "services run as local processes: the config's shape, then environment detect, create, list, verify, restore --dry-run, restore",
    async () => {
      // The README's example config has the shape of the one the test stack needs.
      const example = JSON.parse(block("local config").body) as {
        services: Record<string, Record<string, unknown>>;
        neo4j: { pidFile: string };
      };
      const real = stack.environmentOptions;
      for (const [service, spec] of Object.entries(example.services)) {
        expect(Object.keys(real.services)).toContain(service);
        for (const key of Object.keys(spec)) expect(["env", "pathPrepend"]).toContain(key);
      }
      expect(typeof example.neo4j.pidFile).toBe("string");

      const vars = setup("local", ["INFRAHUB_LOCAL_CONFIG"]);
      expect(vars.get("INFRAHUB_LOCAL_CONFIG")).toBe("$PWD/infrahub-local.json");
      const cwd = join(work.path, "local");
      await mkdir(cwd);
      await writeFile(
        join(cwd, "infrahub-local.json"),
        JSON.stringify(real, (key, value) => (key === "control" ? undefined : value)),
      );
      const env = cleanEnv({
        PATH: `${pathDir}:${process.env.PATH}`,
        INFRAHUB_LOCAL_CONFIG: join(cwd, "infrahub-local.json"),
      });
      const [, created] = await runQuickstart("local", env, cwd);
      // The archive the quickstart made is readable by its owner only, in a directory the CLI created.
      const archive = (created as string).trim();
      expect(archive.startsWith(join(cwd, "infrahub_backups"))).toBe(true);
      expect((await stat(archive)).mode & 0o777).toBe(0o600);
      expect((await stat(join(cwd, "infrahub_backups"))).mode & 0o777).toBe(0o700);
    },
    LONG,
  );

  describe("Docker Compose", () => {
    let shim: DockerShim;
    let project: Awaited<ReturnType<typeof createInfrahubComposeProject>>;
    beforeAll(async () => {
      project = await createInfrahubComposeProject(stack);
      shim = await startDockerShim({ projects: { infrahub: project.services } });
    }, LONG);
    afterAll(async () => {
      await shim?.[Symbol.asyncDispose]();
      await project?.[Symbol.asyncDispose]();
    }, 120_000);

    /** `stop X` / `start X` in the order docker was asked. */
    const lifecycle = (log: ShimInvocation[]) =>
      log
        .filter((i) => i.argv[3] === "stop" || i.argv[3] === "start")
        .map((i) => `${i.argv[3]} ${i.argv.slice(4).join(" ")}`);

    it(
      "environment list, create --s3-upload, restore --latest --s3 --project: upstream's stop/start order, exec users, no credential on docker's argv",
      async () => {
        const from = shim.invocations().length;
        await runS3Quickstart("compose", { PATH: `${pathDir}:${shim.env().PATH}` });
        const log = shim.invocations().slice(from);
        // What docker was asked, as upstream's tool asks it (the shim logs every invocation; the real engine's
        // tier, compose-real.test.ts, proves the same commands work in real containers).
        const steps = lifecycle(log);
        const stops = ["infrahub-server", "task-worker", "task-manager", "cache", "message-queue"].map(
          (s) => `stop ${s}`,
        );
        const starts = ["cache", "message-queue", "task-manager", "infrahub-server", "task-worker"].map(
          (s) => `start ${s}`,
        );
        // The create, then the restore: each in upstream's stop order and start order.
        expect(steps).toEqual([...stops, ...starts, ...stops, ...starts]);
        expect(Object.values({ ...stack.apps, ...project.extraApps }).every((app) => app.isRunning())).toBe(
          true,
        );
        // Upstream's exec-user rule: the dump runs as neo4j, since Compose execs as root; it carries the
        // freeze's owner marker (-e IHB_OWNER), so the freeze helper can end it.
        const dump = log.find((i) => i.argv.includes("dump"));
        expect(dump?.argv.slice(0, 10).join(" ")).toBe(
          "compose -p infrahub exec -T -u neo4j -e IHB_OWNER database",
        );
        expect(dump?.exitCode).toBe(0);
        // Staged in the container by the restore's pass 1, so the load reads a local file (as the neo4j user).
        const load = log.find((i) => i.argv.includes("neo4j-admin") && i.argv.includes("load"));
        expect(load?.argv).toEqual(expect.arrayContaining(["-u", "neo4j", "neo4j"]));
        expect(load?.argv.some((a) => a.startsWith("--from-path="))).toBe(true);
        // No credential on docker's argv: the secrets travel by name (-e NAME), and nothing was refused.
        const argv = JSON.stringify(log.map((i) => i.argv));
        for (const secret of [
          stack.neo4j.password,
          stack.postgres.superuser.password,
          stack.postgres.app.password,
        ]) {
          expect(argv).not.toContain(secret);
        }
        expect(argv).toMatch(/"-e","(NEO4J_PASSWORD|PGPASSWORD)"/);
        expect(log.filter((i) => i.refused)).toEqual([]);
      },
      LONG,
    );

    it(
      "detection by project: several Infrahub projects exit 3 with the list, --project and INFRAHUB_PROJECT pick one; none running exits 3 and stops nothing",
      async () => {
        await stack.minio.createBucket("detection");
        const env = cleanEnv({
          PATH: shim.env().PATH,
          INFRAHUB_S3_ENDPOINT: stack.minio.endpoint,
          INFRAHUB_S3_BUCKET: "detection",
          AWS_ACCESS_KEY_ID: stack.minio.rootUser,
          AWS_SECRET_ACCESS_KEY: stack.minio.rootPassword,
        });
        const detect = (extra: string[], over: NodeJS.ProcessEnv = {}) =>
          runCli(["environment", "detect", ...extra], { env: { ...env, ...over } });
        shim.setProject("infrahub-staging", project.services);
        try {
          const several = await detect([]);
          expect(several.code).toBe(3);
          expect(several.stderr).toContain("infrahub, infrahub-staging");
          expect(several.stderr).toContain("--project");
          const picked = await detect(["--project", "infrahub-staging", "--log-format", "json"]);
          expect(picked.code, picked.stderr).toBe(0);
          expect(JSON.parse(picked.stdout)).toMatchObject({ kind: "compose", name: "infrahub-staging" });
          // INFRAHUB_PROJECT is --project for every command (create and restore detect the same way).
          const fromEnv = await detect(["--log-format", "json"], { INFRAHUB_PROJECT: "infrahub-staging" });
          expect(fromEnv.code, fromEnv.stderr).toBe(0);
          expect(JSON.parse(fromEnv.stdout)).toMatchObject({ kind: "compose", name: "infrahub-staging" });
        } finally {
          shim.removeProject("infrahub-staging");
        }
        shim.removeProject("infrahub");
        try {
          const none = await runCli(["create", "--s3-upload"], { env });
          expect(none.code).toBe(3);
          expect(none.stderr).toMatch(/no Infrahub environment detected|no running Docker Compose project/);
          const named = await runCli(["create", "--s3-upload", "--project", "infrahub"], { env });
          expect(named.code).toBe(3);
          expect(named.stderr).toContain("infrahub");
          expect(stack.apps["infrahub-server"].isRunning()).toBe(true);
        } finally {
          shim.setProject("infrahub", project.services);
        }
      },
      LONG,
    );
  });

  describe("Kubernetes", () => {
    let cluster: LocalCluster;
    let fixture: Awaited<ReturnType<typeof deployInfrahubFixture>>;
    let namespace: string;
    beforeAll(async () => {
      namespace = exported(block("kubernetes setup").body).get("INFRAHUB_K8S_NAMESPACE") ?? "";
      cluster = await startLocalCluster();
      fixture = await deployInfrahubFixture(cluster, stack, { namespace });
    }, LONG);
    afterAll(async () => {
      await fixture?.[Symbol.asyncDispose]();
      await cluster?.[Symbol.asyncDispose]();
    }, 120_000);

    it(
      "environment list, create --s3-upload, list --s3, restore --latest --s3",
      () =>
        runS3Quickstart("kubernetes", {
          PATH: `${pathDir}:${process.env.PATH}`,
          KUBECONFIG: cluster.adminKubeconfig,
          INFRAHUB_K8S_NAMESPACE: namespace,
        }),
      LONG,
    );
  });
});
