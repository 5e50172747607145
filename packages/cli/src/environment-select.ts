import { readFile } from "node:fs/promises";
import {
  BackupError,
  ComposeDetector,
  type Environment,
  KubernetesDetector,
  LocalEnvironment,
  type LocalEnvironmentOptions,
  SERVICE_NAMES,
} from "@infrahub-backup/core";

export interface EnvironmentSelection {
  project?: string | undefined;
  k8sNamespace?: string | undefined;
  localConfig?: string | undefined;
}

/** One way to find Infrahub (upstream "backend"); `detect` throws ENVIRONMENT_NOT_FOUND to move on. */
export interface EnvironmentDetector {
  readonly kind: "kubernetes" | "compose";
  detect(selection: EnvironmentSelection): Promise<Environment>;
  /** Deployments of this kind running Infrahub (`environment list`). */
  list(): Promise<string[]>;
}

/**
 * Kubernetes: `--k8s-namespace`/`INFRAHUB_K8S_NAMESPACE`, else the pod's own namespace when run in the
 * cluster, else a cluster-wide search (KUBECONFIG or in-cluster credentials). Compose: `--project`, else
 * the one running Infrahub project.
 */
export const DETECTORS: Record<"kubernetes" | "compose", EnvironmentDetector> = {
  kubernetes: new KubernetesDetector(),
  compose: new ComposeDetector(),
};

/** Upstream's order (`app.go`): namespace given → Kubernetes first; project given → Compose first; else Compose, Kubernetes. */
export function detectionOrder(selection: EnvironmentSelection): ("kubernetes" | "compose")[] {
  if (selection.k8sNamespace) return ["kubernetes", "compose"];
  if (selection.project) return ["compose", "kubernetes"];
  return ["compose", "kubernetes"];
}

/** Reads a `--local-config` JSON file (the `LocalEnvironmentOptions` shape, without `control`). */
export async function readLocalConfig(path: string): Promise<LocalEnvironmentOptions> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new BackupError(
      "INVALID_CONFIG",
      `cannot read the local config ${path}: ${(error as Error).message}`,
      {
        cause: error,
        hint: "--local-config / INFRAHUB_LOCAL_CONFIG must name a readable JSON file",
      },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BackupError("INVALID_CONFIG", `the local config ${path} is not valid JSON`, { cause: error });
  }
  const v = value as Partial<LocalEnvironmentOptions> | null;
  if (!v || typeof v !== "object" || typeof v.services !== "object" || v.services === null) {
    throw new BackupError("INVALID_CONFIG", `the local config ${path} needs a "services" object`);
  }
  if (!v.neo4j || typeof v.neo4j.pidFile !== "string") {
    throw new BackupError("INVALID_CONFIG", `the local config ${path} needs "neo4j": { "pidFile": … }`);
  }
  const services: LocalEnvironmentOptions["services"] = {};
  for (const [name, config] of Object.entries(v.services)) {
    if (!(SERVICE_NAMES as readonly string[]).includes(name)) {
      throw new BackupError(
        "INVALID_CONFIG",
        `the local config ${path} names an unknown service ${JSON.stringify(name)}`,
        {
          hint: `services are ${SERVICE_NAMES.join(", ")}`,
        },
      );
    }
    const c = (config ?? {}) as Record<string, unknown>;
    // `control` cannot come from JSON: services described here are never stopped or started.
    services[name as keyof typeof services] = {
      ...(c.env ? { env: c.env as Record<string, string> } : {}),
      ...(c.pathPrepend ? { pathPrepend: c.pathPrepend as string[] } : {}),
      ...(typeof c.cwd === "string" ? { cwd: c.cwd } : {}),
    };
  }
  return { services, neo4j: v.neo4j };
}

/** Selects the environment: `--local-config` when given, else the upstream detection order. */
export async function selectEnvironment(selection: EnvironmentSelection): Promise<Environment> {
  if (selection.localConfig) return new LocalEnvironment(await readLocalConfig(selection.localConfig));
  const errors: string[] = [];
  const hints: string[] = [];
  for (const kind of detectionOrder(selection)) {
    try {
      return await DETECTORS[kind].detect(selection);
    } catch (error) {
      if (error instanceof BackupError && error.code === "ENVIRONMENT_NOT_FOUND") {
        errors.push(error.message);
        if (error.hint) hints.push(error.hint);
        continue;
      }
      throw error;
    }
  }
  // Each backend's own hint (e.g. "name the namespace with --k8s-namespace") is what helps most.
  throw new BackupError("ENVIRONMENT_NOT_FOUND", `no Infrahub environment detected (${errors.join("; ")})`, {
    hint: [
      ...hints,
      "use --local-config <file> (INFRAHUB_LOCAL_CONFIG) to describe services on this host",
    ].join("; "),
    details: { tried: errors },
  });
}
