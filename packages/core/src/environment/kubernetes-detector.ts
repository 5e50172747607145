import { readFileSync } from "node:fs";
import { BackupError } from "../errors.js";
import { KubeApi } from "./kubernetes-api.js";
import {
  inCluster,
  type KubeConfig,
  type KubernetesConnectionOptions,
  loadKubeConfig,
  SERVICE_ACCOUNT_DIR,
} from "./kubernetes-config.js";
import { api, KubernetesEnvironment, type KubernetesEnvironmentOptions } from "./kubernetes-environment.js";

/** Upstream's marker of an Infrahub namespace: server, worker and upgrade pods carry it. */
export const INFRAHUB_POD_SELECTOR = "app.kubernetes.io/name=infrahub";

/** Which namespace KubernetesDetector.detect uses. */
export interface KubernetesSelection {
  /** `--k8s-namespace` / `INFRAHUB_K8S_NAMESPACE`. */
  k8sNamespace?: string | undefined;
}

/** How KubernetesDetector reaches the cluster, and the timeouts of the environments it returns. */
export type KubernetesDetectorOptions = KubernetesConnectionOptions &
  Omit<KubernetesEnvironmentOptions, "kubeConfig" | "namespace">;

/**
 * Finds Infrahub's namespace: the explicit one (checked to be readable); else, inside a pod, the pod's
 * own namespace when Infrahub runs there (the chart installs next to Infrahub); else upstream's
 * cluster-wide search for pods labelled app.kubernetes.io/name=infrahub — one namespace is used,
 * several are an error, and a Role without cluster-wide `list` gets a hint to name the namespace.
 */
export class KubernetesDetector {
  /** The kind of deployment this detector finds. */
  readonly kind = "kubernetes" as const;
  readonly #options: KubernetesDetectorOptions;

  constructor(options: KubernetesDetectorOptions = {}) {
    this.#options = options;
  }

  /**
   * The Kubernetes environment of the selected namespace, or of the one namespace running Infrahub pods.
   * ENVIRONMENT_NOT_FOUND when there is none (try the next kind), ENVIRONMENT_AMBIGUOUS when several do; API
   * errors are mapped to BackupErrors with RBAC hints.
   */
  async detect(selection: KubernetesSelection = {}): Promise<KubernetesEnvironment> {
    const kubeConfig = loadKubeConfig(this.#options);
    const core = new KubeApi(kubeConfig);
    const make = (namespace: string) => this.#environment(kubeConfig, namespace);
    if (selection.k8sNamespace) {
      const namespace = selection.k8sNamespace;
      // Zero Infrahub pods is accepted (upstream): a scaled-down deployment is still a deployment.
      await api(`list pods in namespace ${namespace}`, () =>
        core.listNamespacedPod({ namespace, labelSelector: INFRAHUB_POD_SELECTOR, limit: 1 }),
      );
      return make(namespace);
    }
    const own = this.#ownNamespace();
    if (own) {
      // A refused or failed look at our own namespace only means "not found here": the namespace search
      // below asks the API server again and reports what it says.
      const pods = await core
        .listNamespacedPod({ namespace: own, labelSelector: INFRAHUB_POD_SELECTOR, limit: 1 })
        .catch(() => undefined);
      if (pods && pods.items.length > 0) return make(own);
    }
    const found = await this.#infrahubNamespaces(core);
    if (found.length === 0) {
      throw new BackupError(
        "ENVIRONMENT_NOT_FOUND",
        "no namespace runs Infrahub pods (app.kubernetes.io/name=infrahub)",
        {
          hint: "name the namespace with --k8s-namespace (INFRAHUB_K8S_NAMESPACE)",
        },
      );
    }
    if (found.length > 1) {
      throw new BackupError("ENVIRONMENT_AMBIGUOUS", `several namespaces run Infrahub: ${found.join(", ")}`, {
        hint: "choose one with --k8s-namespace (INFRAHUB_K8S_NAMESPACE)",
        details: { namespaces: found },
      });
    }
    return make(found[0] as string);
  }

  /** Namespaces with Infrahub pods; none without a configuration or the right to list pods cluster-wide. */
  async list(): Promise<string[]> {
    let kubeConfig: KubeConfig;
    try {
      kubeConfig = loadKubeConfig(this.#options);
    } catch (error) {
      if (error instanceof BackupError && error.code === "ENVIRONMENT_NOT_FOUND") return [];
      throw error;
    }
    try {
      return await this.#infrahubNamespaces(new KubeApi(kubeConfig));
    } catch (error) {
      // As for Compose: a backend that cannot be searched lists nothing.
      if (error instanceof BackupError && error.code === "ENVIRONMENT_NOT_FOUND") return [];
      throw error;
    }
  }

  async #infrahubNamespaces(core: KubeApi): Promise<string[]> {
    try {
      const pods = await core.listPodForAllNamespaces({ labelSelector: INFRAHUB_POD_SELECTOR });
      return [...new Set(pods.items.map((p) => p.metadata?.namespace ?? ""))].filter(Boolean).sort();
    } catch (error) {
      // Unusable credentials (an exec plugin that failed) are not "no Infrahub here".
      if (error instanceof BackupError) throw error;
      const status = (error as { code?: number }).code;
      if (status === 401 || status === 403) {
        throw new BackupError(
          "ENVIRONMENT_NOT_FOUND",
          "cannot list pods cluster-wide to find Infrahub's namespace (forbidden)",
          { cause: error, hint: "name the namespace with --k8s-namespace (INFRAHUB_K8S_NAMESPACE)" },
        );
      }
      throw new BackupError(
        "ENVIRONMENT_NOT_FOUND",
        `the Kubernetes API is not reachable: ${(error as Error).message}`,
        {
          cause: error,
          hint: "check KUBECONFIG and the cluster, or name the namespace with --k8s-namespace",
        },
      );
    }
  }

  #ownNamespace(): string | undefined {
    if (!inCluster(this.#options)) return undefined;
    try {
      return (
        readFileSync(`${this.#options.inClusterRoot ?? ""}${SERVICE_ACCOUNT_DIR}/namespace`, "utf8").trim() ||
        undefined
      );
    } catch {
      return undefined;
    }
  }

  #environment(kubeConfig: KubeConfig, namespace: string): KubernetesEnvironment {
    const { kubeconfig: _k, context: _c, inClusterRoot: _r, env: _e, ...rest } = this.#options;
    return new KubernetesEnvironment({ ...rest, kubeConfig, namespace });
  }
}
