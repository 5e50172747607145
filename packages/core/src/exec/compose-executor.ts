import { BackupError } from "../errors.js";
import type { ExecRequest, ExecResult, Executor } from "./executor.js";
import { LocalExecutor } from "./local-executor.js";

export interface ComposeExecutorOptions {
  /** The Compose project (`docker compose -p <project>`). */
  project: string;
  /** The Compose service whose (first) container runs the commands. */
  service: string;
  /** The docker CLI to run. Default: `docker` from PATH. */
  docker?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables that would change how the docker client itself runs, since the values travel in its env. */
const CLIENT_ENV = /^(PATH|HOME|DOCKER_.*|COMPOSE_.*)$/;

/**
 * The argv of `docker compose exec` for a request: `-e NAME` only — the value travels in the docker
 * process's own environment, from which Compose resolves it, so no secret ever appears on argv.
 */
export function composeExecArgv(options: ComposeExecutorOptions, request: ExecRequest): string[] {
  const names = Object.keys(request.env ?? {}).sort();
  for (const name of names) {
    if (!ENV_NAME.test(name)) {
      throw new BackupError("INTERNAL", `exec: ${JSON.stringify(name)} is not a valid environment name`);
    }
    if (CLIENT_ENV.test(name)) {
      throw new BackupError("INTERNAL", `exec: ${name} cannot be passed through docker compose exec -e`);
    }
  }
  return [
    options.docker ?? "docker",
    "compose",
    "-p",
    options.project,
    "exec",
    "-T",
    ...(request.user ? ["-u", request.user] : []),
    ...names.flatMap((name) => ["-e", name]),
    options.service,
    ...request.argv,
  ];
}

/**
 * Runs commands in a Compose service's container through `docker compose exec -T`, streaming stdin and
 * stdout through the docker client's pipes (backpressure is the pipes'). The exit status is the
 * command's: Compose passes it through.
 */
export class ComposeExecutor implements Executor {
  readonly target: string;
  readonly #options: ComposeExecutorOptions;
  readonly #client: LocalExecutor;

  constructor(options: ComposeExecutorOptions) {
    this.#options = options;
    this.target = `compose ${options.project}/${options.service}`;
    this.#client = new LocalExecutor({ target: this.target });
  }

  async exec(request: ExecRequest): Promise<ExecResult> {
    if (request.argv.length === 0) throw new BackupError("INTERNAL", "exec: empty argv");
    const argv = composeExecArgv(this.#options, request);
    // `user` is the container's user (`-u` above), never the local docker client's.
    const { user: _containerUser, ...local } = request;
    const result = await this.#client.exec({ ...local, argv });
    const refusal = result.exitCode === 0 ? undefined : notRunningRefusal(result.stderrTail);
    if (refusal !== undefined) {
      throw new BackupError("EXEC_FAILED", `${this.target}: the container is not running (${refusal})`, {
        hint: `\`docker compose -p ${this.#options.project} ps -a ${this.#options.service}\` shows its state`,
        details: { target: this.target, containerNotRunning: true },
      });
    }
    return result;
  }
}

/**
 * What the docker client prints as its last stderr line (after any of Compose's own warnings) when it
 * cannot exec because the service's container is not running: Compose's `service "database" is not
 * running` (a stopped or killed container) and the daemon's answer to an exec racing the container's end
 * or restart. Undefined for any other stderr: a command's own failure stays an exit status.
 */
export function notRunningRefusal(stderr: string): string | undefined {
  const last = stderr.trim().split("\n").at(-1)?.trim() ?? "";
  return COMPOSE_NOT_RUNNING.test(last) ? last : undefined;
}

const COMPOSE_NOT_RUNNING =
  /^(service "[^"\n]+" is not running|Error response from daemon: (container [0-9a-f]+ is not running|Container [0-9a-f]+ is (restarting|not running)[^\n]*))$/;
