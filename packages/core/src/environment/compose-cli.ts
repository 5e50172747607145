import { BackupError } from "../errors.js";
import { LocalExecutor } from "../exec/local-executor.js";

/** One container of a Compose project, from `docker compose ps --format json`. */
export interface ComposeContainer {
  name: string;
  service: string;
  image: string;
  /** `running`, `exited`, `paused`, `restarting`, `created` … */
  state: string;
}

/** How the docker CLI is run for a Compose deployment. */
export interface ComposeCliOptions {
  /** The docker CLI to run. Default: `docker` from PATH. */
  docker?: string;
  /** Limit for each non-exec docker command (ls, ps, start, stop). Default: 120 s. */
  timeoutMs?: number;
}

interface DockerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** The docker Compose CLI calls other than exec: list projects and containers, start and stop services. */
export class ComposeCli {
  readonly docker: string;
  readonly #timeoutMs: number;
  readonly #client = new LocalExecutor({ target: "docker" });

  constructor(options: ComposeCliOptions = {}) {
    this.docker = options.docker ?? "docker";
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Runs `docker <args>`; rejects only when docker cannot be run at all. */
  async run(args: readonly string[]): Promise<DockerResult> {
    const result = await this.#client.exec({ argv: [this.docker, ...args], timeoutMs: this.#timeoutMs });
    return { exitCode: result.exitCode, stdout: result.stdout.toString("utf8"), stderr: result.stderrTail };
  }

  async #checked(args: readonly string[], what: string): Promise<string> {
    const result = await this.run(args);
    if (result.exitCode !== 0) {
      throw new BackupError(
        "EXEC_FAILED",
        `${what} failed (docker exit status ${result.exitCode})${result.stderr.trim() ? `: ${lastLines(result.stderr)}` : ""}`,
        { details: { argv: [this.docker, ...args] } },
      );
    }
    return result.stdout;
  }

  /** Names of the running Compose projects (`docker compose ls` lists running ones only). */
  async listProjects(): Promise<string[]> {
    const out = await this.#checked(["compose", "ls", "--format", "json"], "docker compose ls");
    return parseJsonRecords(out, "docker compose ls")
      .map((record) => String(record.Name ?? ""))
      .filter((name) => name !== "");
  }

  /** The project's containers, stopped ones included. */
  async containers(project: string): Promise<ComposeContainer[]> {
    const out = await this.#checked(
      ["compose", "-p", project, "ps", "-a", "--format", "json"],
      `docker compose ps of project ${project}`,
    );
    return parseJsonRecords(out, "docker compose ps").map((record) => ({
      name: String(record.Name ?? ""),
      service: String(record.Service ?? ""),
      image: String(record.Image ?? ""),
      state: String(record.State ?? "").toLowerCase(),
    }));
  }

  async stop(project: string, service: string): Promise<void> {
    await this.#checked(["compose", "-p", project, "stop", service], `docker compose stop ${service}`);
  }

  async start(project: string, service: string): Promise<void> {
    await this.#checked(["compose", "-p", project, "start", service], `docker compose start ${service}`);
  }
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}

/**
 * Compose prints JSON either as one array (before v2.21 for `ps`, always for `ls`) or as one object per
 * line (`ps` since v2.21): accept both.
 */
export function parseJsonRecords(text: string, what: string): Record<string, unknown>[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  try {
    if (trimmed.startsWith("[")) return JSON.parse(trimmed) as Record<string, unknown>[];
    return trimmed
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch (error) {
    throw new BackupError(
      "EXEC_FAILED",
      `${what} printed output that is not JSON: ${trimmed.slice(0, 200)}`,
      {
        cause: error,
        hint: "Docker Compose v2 is needed (`docker compose`, not `docker-compose` v1)",
      },
    );
  }
}
