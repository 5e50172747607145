import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How to reach the Kubernetes API server; every field has a default (kubeconfig, then in-cluster). */
export interface KubernetesConnectionOptions {
  /**
   * Kubeconfig file(s), `:`-separated as in KUBECONFIG. Default: `$KUBECONFIG`, else `~/.kube/config`,
   * else the in-cluster service account.
   */
  kubeconfig?: string;
  /** Kubeconfig context; default the file's current context. */
  context?: string;
  /**
   * Prefix of the in-cluster service-account files (`<root>/var/run/secrets/…`); default "" (tests point
   * it at a directory holding a real token).
   */
  inClusterRoot?: string;
  /** Environment to read KUBECONFIG / KUBERNETES_SERVICE_HOST from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** True when running in a pod with a mounted service-account token. */
export function inCluster(options: KubernetesConnectionOptions = {}): boolean {
  const env = options.env ?? process.env;
  return (
    Boolean(env.KUBERNETES_SERVICE_HOST) &&
    existsSync(`${options.inClusterRoot ?? ""}${SERVICE_ACCOUNT_DIR}/token`)
  );
}

/**
 * Loads credentials the way kubectl does (KUBECONFIG, ~/.kube/config, in-cluster) but never falls back
 * to the client library's implicit `localhost:8080`: no configuration means no Kubernetes environment.
 */
export function loadKubeConfig(options: KubernetesConnectionOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  const files = (options.kubeconfig ?? env.KUBECONFIG ?? "").split(":").filter(Boolean);
  const homeConfig = join(env.HOME ?? homedir(), ".kube", "config");
  try {
    if (files.length > 0) {
      const missing = files.filter((f) => !existsSync(f));
      if (missing.length === files.length) {
        throw new BackupError("ENVIRONMENT_NOT_FOUND", `kubeconfig ${missing.join(", ")} does not exist`, {
          hint: "check KUBECONFIG",
        });
      }
      kc.loadFromFile(files.find((f) => existsSync(f)) as string);
      for (const file of files.slice(1).filter((f) => existsSync(f))) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more);
      }
    } else if (existsSync(homeConfig)) {
      kc.loadFromFile(homeConfig);
    } else if (inCluster(options)) {
      kc.loadFromCluster(options.inClusterRoot ?? "");
    } else {
      throw new BackupError(
        "ENVIRONMENT_NOT_FOUND",
        "no Kubernetes configuration (no KUBECONFIG, no ~/.kube/config, not in a pod)",
        {
          hint: "set KUBECONFIG, or run inside the cluster with a service account",
        },
      );
    }
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(
      "INVALID_CONFIG",
      `cannot load the Kubernetes configuration: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (options.context) kc.setCurrentContext(options.context);
  if (!kc.getCurrentCluster()) {
    throw new BackupError("INVALID_CONFIG", "the Kubernetes configuration has no current cluster", {
      hint: "kubectl config use-context <name>",
    });
  }
  return kc;
}
