import { BackupError } from "../errors.js";
import { ComposeCli, type ComposeCliOptions } from "./compose-cli.js";
import { ComposeEnvironment } from "./compose-environment.js";

/** Which Compose project ComposeDetector.detect uses. */
export interface ComposeSelection {
  /** `--project` / `INFRAHUB_PROJECT`: use this project instead of looking for one. */
  project?: string | undefined;
}

/**
 * Finds the Compose project running Infrahub as upstream does: an explicit project is used when docker
 * knows it; otherwise the one running project with an Infrahub container. "Not found" is
 * ENVIRONMENT_NOT_FOUND so a caller can try the next kind of deployment.
 */
export class ComposeDetector {
  /** The kind of deployment this detector finds. */
  readonly kind = "compose" as const;
  readonly #options: ComposeCliOptions;
  readonly #cli: ComposeCli;

  constructor(options: ComposeCliOptions = {}) {
    this.#options = options;
    this.#cli = new ComposeCli(options);
  }

  /**
   * The Compose environment of the selected project, or of the one running project with Infrahub.
   * ENVIRONMENT_NOT_FOUND when there is none (try the next kind), ENVIRONMENT_AMBIGUOUS when several run
   * Infrahub, EXEC_FAILED when docker does not answer.
   */
  async detect(selection: ComposeSelection = {}): Promise<ComposeEnvironment> {
    const project = selection.project;
    if (project) {
      const running = await this.#runningProjects(true);
      // docker compose ls shows running projects only; a stopped one is still usable if ps knows it.
      if (!running.includes(project) && !(await this.#hasContainers(project))) {
        throw new BackupError("ENVIRONMENT_NOT_FOUND", `no Docker Compose project named ${project}`, {
          hint: `running projects: ${running.join(", ") || "none"}`,
        });
      }
      return new ComposeEnvironment({ ...this.#options, project });
    }
    const found = await this.#infrahubProjects();
    if (found.length === 0) {
      throw new BackupError("ENVIRONMENT_NOT_FOUND", "no running Docker Compose project contains Infrahub", {
        hint: "start it, or name the project with --project (INFRAHUB_PROJECT)",
      });
    }
    if (found.length > 1) {
      throw new BackupError(
        "ENVIRONMENT_AMBIGUOUS",
        `several Docker Compose projects run Infrahub: ${found.join(", ")}`,
        { hint: "choose one with --project (INFRAHUB_PROJECT)", details: { projects: found } },
      );
    }
    return new ComposeEnvironment({ ...this.#options, project: found[0] as string });
  }

  /** Running Compose projects that have an Infrahub container; none when docker is not available. */
  async list(): Promise<string[]> {
    try {
      return await this.#infrahubProjects();
    } catch (error) {
      if (error instanceof BackupError && error.code === "ENVIRONMENT_NOT_FOUND") return [];
      throw error;
    }
  }

  /** Upstream's test: the project's `ps -a` mentions "infrahub" (an image, a service or a container name). */
  async #infrahubProjects(): Promise<string[]> {
    const out: string[] = [];
    for (const project of await this.#runningProjects(false)) {
      const containers = await this.#cli.containers(project).catch(() => []);
      if (containers.some((c) => /infrahub/i.test(`${c.name} ${c.service} ${c.image}`))) out.push(project);
    }
    return out;
  }

  /**
   * `docker compose ls`. Without docker, or without a reachable engine, there is no Compose deployment:
   * not found — unless the user named a project, which makes it a hard error as upstream.
   */
  async #runningProjects(explicit: boolean): Promise<string[]> {
    try {
      return await this.#cli.listProjects();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new BackupError(
        explicit ? "EXEC_FAILED" : "ENVIRONMENT_NOT_FOUND",
        `Docker Compose is not available: ${reason}`,
        { cause: error, hint: "install Docker with the Compose v2 plugin, and check that the engine runs" },
      );
    }
  }

  async #hasContainers(project: string): Promise<boolean> {
    try {
      return (await this.#cli.containers(project)).length > 0;
    } catch {
      return false;
    }
  }
}
