import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { TESTKIT_MARKER } from "../process.js";
import { type TempDir, tempDir } from "../temp.js";

/** Host identity a sandbox user's commands run as (the default: the test process's own). */
export interface HostIdentity {
  uid: number;
  gid: number;
}

/** A user of the "container": what `whoami` says and which host identity the commands really get. */
export interface SandboxUser {
  /** What `whoami` prints; `null` for a uid without a passwd entry (Bitnami's 1001): `whoami` then fails. */
  name: string | null;
  /** The uid inside the container (only shown in `whoami`'s failure message). */
  uid: number;
  /** Host identity; omit to run as the test process (what the local servers run as when they run as it). */
  host?: HostIdentity;
}

export interface ContainerSandboxOptions {
  /** Short label, e.g. `infrahub-database-0.neo4j`; used for the directory name and messages. */
  name: string;
  /**
   * The container's environment exactly as the image and chart give it (e.g. NEO4J_AUTH, POSTGRES_USER …).
   * PATH is set by the sandbox to its own bin directory; a PATH given here is replaced.
   */
  env: Record<string, string>;
  /** Image-specific commands: name in the container → host executable (absolute path). */
  commands?: Record<string, string>;
  /** The container's default user. Default: `{ name: "root", uid: 0 }`. */
  user?: SandboxUser;
  /** Further users reachable by name (`docker compose exec -u NAME`), e.g. `neo4j` in the Neo4j image. */
  users?: SandboxUser[];
  /** Working directory of commands (a host path). Default: the sandbox directory. */
  workdir?: string;
}

/** How to run one argv inside the sandbox as a local process: hand it to `spawn(command, args, {env, uid, gid})`. */
export interface SandboxSpawnSpec {
  command: string;
  args: string[];
  /** The complete environment: the container's, plus the extra values asked for. Nothing of the host's. */
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
}

export interface SandboxExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * A local stand-in for one container: a directory whose per-user `bin/` offers the commands the real image
 * has, bound to real local servers, and the container's environment. It never changes the host: commands are
 * the host's own binaries, found through the sandbox PATH only.
 */
export interface ContainerSandbox extends AsyncDisposable {
  readonly name: string;
  readonly dir: string;
  /** bin directory of the default user (the sandbox PATH). */
  readonly binDir: string;
  /** Commands offered in `binDir`, sorted. */
  readonly commands: readonly string[];
  /** The container environment seen by the default user, PATH included. */
  readonly env: Readonly<Record<string, string>>;
  /** The default user. */
  readonly user: SandboxUser;
  /**
   * How to run `argv` inside the sandbox (fits the docker shim's `ShimContainer`). argv[0] without a slash
   * is looked up in the user's bin directory only; a command the image lacks yields a path that does not
   * exist, so spawning it fails with ENOENT (the runtime's "executable file not found", exit 127).
   * `user` is a user name or uid of the container (`docker exec -u`); unknown users throw.
   */
  spawnSpec(argv: readonly string[], options?: SandboxSpawnOptions): SandboxSpawnSpec;
  /** Adds (or replaces) a command for every user: `name` in the container → host executable (absolute). */
  addCommand(name: string, hostPath: string): Promise<void>;
  /** Sets one variable of the container environment (before the sandbox is used). */
  setEnv(name: string, value: string): void;
  /** Runs `argv` to completion inside the sandbox and returns its exit code and output (for tests). */
  exec(
    argv: readonly string[],
    options?: SandboxSpawnOptions & { input?: string },
  ): Promise<SandboxExecResult>;
}

export interface SandboxSpawnOptions {
  user?: string;
  /** Extra environment values (`docker exec -e`), on top of the container's. */
  env?: Record<string, string>;
  /** Working directory (a host path). */
  workdir?: string;
}

/**
 * Host utilities every image in the deployment has (all are Debian- or Alpine-based with a shell and
 * coreutils); linked only when the host has them.
 */
const BASE_COMMANDS = [
  "sh",
  "bash",
  "cat",
  "head",
  "tail",
  "kill",
  "env",
  "mkdir",
  "rm",
  "rmdir",
  "chmod",
  "chown",
  "uname",
  "sha256sum",
  "tar",
  "gzip",
  "ls",
  "sleep",
  "cp",
  "mv",
  "ln",
  "test",
  "[",
  "echo",
  "printf",
  "wc",
  "date",
  "sync",
  "stat",
  "find",
  "grep",
  "sed",
  "awk",
  "tr",
  "cut",
  "sort",
  "true",
  "false",
  "hostname",
  "readlink",
  "dirname",
  "basename",
  "touch",
  "mktemp",
  "dd",
  "xargs",
  "du",
  "df",
  "ps",
  "pgrep",
  "nproc",
  "timeout",
  "tee",
  "mkfifo",
  "base64",
  "od",
  "md5sum",
  "gunzip",
  "zcat",
  "which",
  "nohup",
  "setsid",
  "realpath",
  "seq",
  "uniq",
  "expr",
  "getent",
] as const;

const HOST_BIN_DIRS = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** The host executable `name` from the standard system directories (not from PATH). */
export function hostCommand(name: string): string | undefined {
  for (const dir of HOST_BIN_DIRS) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

function whoamiScript(user: SandboxUser): string {
  if (user.name !== null) return `#!/bin/sh\necho ${shellQuote(user.name)}\n`;
  return `#!/bin/sh\necho "whoami: cannot find name for user ID ${user.uid}" >&2\nexit 1\n`;
}

/**
 * `id` as the container user sees it (the host's would print the host identity): no option, -u, -g, -un, -gn.
 * The group is taken to be the user's own (uid = gid), as in the images here. Other options are refused.
 */
function idScript(user: SandboxUser): string {
  const name = user.name === null ? "" : `(${user.name})`;
  const nameOrFail =
    user.name === null
      ? `echo "id: cannot find name for user ID ${user.uid}" >&2; exit 1`
      : `echo ${shellQuote(user.name)}`;
  return `#!/bin/sh
case "$*" in
"") echo "uid=${user.uid}${name} gid=${user.uid}${name} groups=${user.uid}${name}" ;;
-u|-g) echo ${user.uid} ;;
-un|-nu|"-u -n"|"-n -u"|-gn|-ng|"-g -n"|"-n -g") ${nameOrFail} ;;
*) echo "id (container sandbox): option not modelled: $*" >&2; exit 1 ;;
esac
`;
}

/**
 * `su` of the container: only root may switch (anyone else gets su's "Authentication failure", as in an image
 * without a root password); the target gets its own bin dir as PATH and, when its host identity differs,
 * runs under that identity (setpriv). `-`/`-l` starts from a clean environment, as a login does.
 */
function suScript(current: SandboxUser, users: SandboxUser[], binDirOf: (u: SandboxUser) => string): string {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const hostOf = (u: SandboxUser) => u.host ?? self;
  const cases = users
    .filter((u) => u.name !== null)
    .map((u) => {
      const target = hostOf(u);
      const from = hostOf(current);
      const setpriv =
        target.uid === from.uid && target.gid === from.gid
          ? ""
          : `${hostCommand("setpriv") ?? "setpriv"} --reuid=${target.uid} --regid=${target.gid} --clear-groups `;
      const home = u.name === "root" ? "/root" : "/";
      return `  ${shellQuote(u.name ?? "")}) bin=${shellQuote(binDirOf(u))}; home=${shellQuote(home)}; run=${shellQuote(setpriv)} ;;`;
    })
    .join("\n");
  return `#!/bin/sh
login=0; shell=/bin/sh; cmd=; user=; hascmd=0
while [ $# -gt 0 ]; do
  case "$1" in
  -|-l|--login) login=1 ;;
  -s|--shell) shift; shell=$1 ;;
  -c|--command) shift; cmd=$1; hascmd=1 ;;
  -m|-p|--preserve-environment) ;;
  -*) echo "su: unrecognized option '$1'" >&2; exit 1 ;;
  *) if [ -z "$user" ]; then user=$1; else echo "su: unexpected argument '$1'" >&2; exit 1; fi ;;
  esac
  shift
done
[ -n "$user" ] || user=root
${current.name === "root" ? "" : 'echo "su: Authentication failure" >&2; exit 1'}
case "$user" in
${cases}
  *) echo "su: user $user does not exist or the user entry does not contain all the required fields" >&2; exit 1 ;;
esac
if [ "$login" = 1 ]; then
  set -- env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL="$shell" PATH="$bin" ${TESTKIT_MARKER}="$${TESTKIT_MARKER}"
else
  set -- env PATH="$bin" HOME="$home" USER="$user" LOGNAME="$user" SHELL="$shell"
fi
if [ "$hascmd" = 1 ]; then exec $run "$@" "$shell" -c "$cmd"; else exec $run "$@" "$shell"; fi
`;
}

function userKey(user: SandboxUser): string {
  return user.name ?? String(user.uid);
}

/** Creates the sandbox directory (removed on dispose). */
export async function createContainerSandbox(options: ContainerSandboxOptions): Promise<ContainerSandbox> {
  const dir: TempDir = await tempDir(`ihb-sandbox-${options.name.replaceAll(/[^A-Za-z0-9_.-]/g, "_")}-`);
  try {
    const user = options.user ?? { name: "root", uid: 0 };
    const users = [user, ...(options.users ?? [])];
    const links = new Map<string, string>();
    for (const name of BASE_COMMANDS) {
      const path = hostCommand(name);
      if (path) links.set(name, path);
    }
    for (const [name, path] of Object.entries(options.commands ?? {})) {
      if (!isAbsolute(path))
        throw new Error(`sandbox ${options.name}: command ${name} must be an absolute path`);
      links.set(name, path);
    }
    const binDirs = new Map<string, string>();
    const binDirOf = (u: SandboxUser) => join(dir.path, "users", userKey(u), "bin");
    for (const u of users) {
      const binDir = binDirOf(u);
      await mkdir(binDir, { recursive: true });
      for (const [name, target] of links) await symlink(target, join(binDir, name));
      await writeFile(join(binDir, "whoami"), whoamiScript(u), { mode: 0o755 });
      await writeFile(join(binDir, "id"), idScript(u), { mode: 0o755 });
      await writeFile(join(binDir, "su"), suScript(u, users, binDirOf), { mode: 0o755 });
      binDirs.set(userKey(u), binDir);
    }
    // The server-side store and sockets live in other temp dirs; the sandbox dir only needs to be reachable
    // for a user whose host identity is not ours.
    await chmod(dir.path, 0o755);
    return new LocalContainerSandbox(
      options,
      dir,
      user,
      users,
      binDirs,
      [...links.keys(), "whoami", "id", "su"].sort(),
    );
  } catch (error) {
    await rm(dir.path, { recursive: true, force: true });
    throw error;
  }
}

class LocalContainerSandbox implements ContainerSandbox {
  readonly name: string;
  readonly dir: string;
  readonly binDir: string;
  env: Readonly<Record<string, string>>;
  #commands: string[];

  constructor(
    private options: ContainerSandboxOptions,
    private readonly tmp: TempDir,
    readonly user: SandboxUser,
    private readonly users: SandboxUser[],
    private readonly binDirs: Map<string, string>,
    commands: readonly string[],
  ) {
    this.#commands = [...commands];
    this.name = options.name;
    this.dir = tmp.path;
    this.binDir = this.binDirOf(user);
    this.env = { ...options.env, PATH: this.binDir };
  }

  get commands(): readonly string[] {
    return this.#commands;
  }

  async addCommand(name: string, hostPath: string): Promise<void> {
    if (!isAbsolute(hostPath))
      throw new Error(`sandbox ${this.name}: command ${name} must be an absolute path`);
    for (const binDir of this.binDirs.values()) {
      const link = join(binDir, name);
      await rm(link, { force: true });
      await symlink(hostPath, link);
    }
    if (!this.#commands.includes(name)) this.#commands = [...this.#commands, name].sort();
  }

  setEnv(name: string, value: string): void {
    this.options.env = { ...this.options.env, [name]: value };
    this.env = { ...this.options.env, PATH: this.binDir };
  }

  private binDirOf(user: SandboxUser): string {
    const binDir = this.binDirs.get(userKey(user));
    if (!binDir) throw new Error(`sandbox ${this.name}: no bin directory for ${userKey(user)}`);
    return binDir;
  }

  private findUser(spec: string | undefined): SandboxUser {
    if (spec === undefined || spec === "") return this.user;
    const found = this.users.find((u) => u.name === spec || String(u.uid) === spec);
    if (!found)
      throw new Error(
        `sandbox ${this.name}: unable to find user ${spec}: no matching entries in passwd file`,
      );
    return found;
  }

  spawnSpec(argv: readonly string[], options: SandboxSpawnOptions = {}): SandboxSpawnSpec {
    const [first, ...args] = argv;
    if (first === undefined) throw new Error(`sandbox ${this.name}: empty command`);
    const user = this.findUser(options.user);
    const binDir = this.binDirOf(user);
    const command = first.includes("/") ? first : join(binDir, first);
    const env: Record<string, string> = { ...this.options.env, PATH: binDir, ...(options.env ?? {}) };
    // Keeps tools/check-leftovers.sh able to find a command that outlives its test.
    env[TESTKIT_MARKER] = `sandbox ${this.name}`;
    return {
      command,
      args,
      env,
      cwd: options.workdir ?? this.options.workdir ?? this.dir,
      ...(user.host ? { uid: user.host.uid, gid: user.host.gid } : {}),
    };
  }

  async exec(
    argv: readonly string[],
    options: SandboxSpawnOptions & { input?: string } = {},
  ): Promise<SandboxExecResult> {
    const spec = this.spawnSpec(argv, options);
    return await new Promise((resolveExec) => {
      const child = spawn(spec.command, spec.args, {
        env: spec.env,
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid }),
        stdio: ["pipe", "pipe", "pipe"],
        timeout: 60_000,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
      child.stdin.on("error", () => undefined);
      child.once("error", (error: NodeJS.ErrnoException) => {
        const missing = error.code === "ENOENT";
        resolveExec({ exitCode: missing ? 127 : 126, stdout: "", stderr: `${argv[0]}: ${error.message}\n` });
      });
      child.once("close", (code, signal) => {
        resolveExec({
          exitCode: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
        });
      });
      child.stdin.end(options.input ?? "");
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmp[Symbol.asyncDispose]();
  }
}
