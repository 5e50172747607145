import { setTimeout as sleep } from "node:timers/promises";
import type { V1Deployment, V1PodTemplateSpec, V1StatefulSet } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { KubeApi } from "./kubernetes-api.js";
import {
  formatSelector,
  matchesSelector,
  SERVICE_CONTAINERS,
  serviceSelectors,
} from "./kubernetes-discovery.js";
import { FIELD_MANAGER } from "./kubernetes-scale-watch.js";
import type { ServiceName } from "./services.js";

export type WorkloadKind = "Deployment" | "StatefulSet";

export interface Workload {
  kind: WorkloadKind;
  name: string;
  /** The workload's pod selector (matchLabels), to see its pods come and go. */
  selector: Record<string, string>;
  template: V1PodTemplateSpec | undefined;
}

/** One scaled-down workload and the replica count to give back. */
export interface ScaledWorkload {
  service: ServiceName;
  kind: WorkloadKind;
  name: string;
  replicas: number;
  selector: Record<string, string>;
}

/** Databases are never scaled: Neo4j is frozen in place, PostgreSQL stays up for pg_restore. */
export const NEVER_SCALED: ReadonlySet<ServiceName> = new Set(["database", "task-manager-db"]);

/**
 * Paths holding data that a new pod must find again. A workload whose volume for one of them is an
 * `emptyDir` loses it when scaled to zero. (Cache and queue data is transient: restore wipes it anyway.)
 */
const DATA_PATHS: Partial<Record<ServiceName, readonly string[]>> = {
  "infrahub-server": ["/opt/infrahub/storage"],
};

function toWorkload(kind: WorkloadKind, item: V1Deployment | V1StatefulSet): Workload {
  return {
    kind,
    name: item.metadata?.name ?? "?",
    selector: { ...(item.spec?.selector?.matchLabels ?? {}) },
    template: item.spec?.template,
  };
}

/**
 * The Deployments/StatefulSets running a service, found as upstream does (compat-reference §6.4) but
 * with the chart's label first: the service's selectors against the workload's pod template labels,
 * its own labels, or its matchLabels (how `prefect-server` is found); any workload named after the
 * service last. All matches are returned: every one of them runs the service.
 */
export async function findWorkloads(
  api: KubeApi,
  namespace: string,
  service: ServiceName,
): Promise<Workload[]> {
  const [deployments, statefulSets] = await Promise.all([
    api.listNamespacedDeployment({ namespace }),
    api.listNamespacedStatefulSet({ namespace }),
  ]);
  return matchWorkloads(deployments.items, statefulSets.items, service).map((m) => m.workload);
}

/** `findWorkloads` on lists already read, with each match's object (for its status). */
export function matchWorkloads(
  deployments: readonly V1Deployment[],
  statefulSets: readonly V1StatefulSet[],
  service: ServiceName,
): { workload: Workload; item: V1Deployment | V1StatefulSet }[] {
  const all = [
    ...deployments.map((item) => ({ workload: toWorkload("Deployment", item), item })),
    ...statefulSets.map((item) => ({ workload: toWorkload("StatefulSet", item), item })),
  ];
  const labelsOf = ({ item }: { item: V1Deployment | V1StatefulSet }) => [
    item.spec?.template?.metadata?.labels ?? {},
    item.metadata?.labels ?? {},
    item.spec?.selector?.matchLabels ?? {},
  ];
  for (const selector of serviceSelectors(service)) {
    const found = all.filter((w) => labelsOf(w).some((labels) => matchesSelector(labels, selector)));
    if (found.length > 0) return found;
  }
  return all.filter((w) => w.workload.name.includes(service));
}

/** Refuses to scale a workload to zero when data it must keep lives on an emptyDir (deleted with the pod). */
export function assertSafeToScaleDown(service: ServiceName, workload: Workload, namespace: string): void {
  if (NEVER_SCALED.has(service)) {
    throw new BackupError(
      "UNSAFE_SCALE_DOWN",
      `${service} (${workload.kind} ${workload.name}) is a database and is never scaled`,
      { hint: "this is a bug in the caller: databases are stopped in place, not scaled to zero" },
    );
  }
  const paths = DATA_PATHS[service] ?? [];
  const spec = workload.template?.spec;
  const container =
    spec?.containers.find((c) => c.name === SERVICE_CONTAINERS[service]) ??
    (spec?.containers.length === 1 ? spec.containers[0] : undefined);
  if (!container || paths.length === 0) return;
  if (container.env?.some((e) => e.name === "INFRAHUB_STORAGE_DRIVER" && e.value === "s3")) return;
  for (const path of paths) {
    const mount = (container.volumeMounts ?? [])
      .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, "")}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    const volume = mount && spec?.volumes?.find((v) => v.name === mount.name);
    if (volume?.emptyDir) {
      throw new BackupError(
        "UNSAFE_SCALE_DOWN",
        `refusing to scale ${workload.kind} ${workload.name} to zero: ${path} (${service}'s data) is on the emptyDir volume ${volume.name}, which is deleted with the pod`,
        {
          hint: `give ${path} a PersistentVolumeClaim (the infrahub chart's default for the server storage) before backing up or restoring in namespace ${namespace}`,
          details: { service, workload: workload.name, volume: volume.name, path },
        },
      );
    }
  }
}

/** How long scaling a workload down and back up may take; every field has a default. */
export interface ScaleTimeouts {
  /** How long to wait for a workload's pods to be gone after scaling to zero. Default 5 min. */
  scaleDownMs?: number;
  /** How long to wait for a workload to be Ready again after scaling back. Default 10 min. */
  scaleUpMs?: number;
  /** Longest poll interval (the first looks come sooner, see FIRST_POLL_MS). Default 1 s. */
  pollMs?: number;
}

/**
 * The first look after a scale, doubled up to `pollMs` after each miss. Services stop and start one after the
 * other, each waited for, so a fixed 1 s poll rounded every step up to whole seconds: ~1 s of Infrahub's
 * outage per service and direction where a pod with nothing to wind up is gone (or Ready) in a fraction of a
 * second. A pod that takes seconds costs about four extra reads.
 */
const FIRST_POLL_MS = 100;

/** Scaling through the scale subresource (RBAC: get/patch on deployments/scale, statefulsets/scale). */
export class WorkloadScaler {
  readonly #api: KubeApi;
  readonly #namespace: string;
  readonly #timeouts: Required<ScaleTimeouts>;

  constructor(api: KubeApi, namespace: string, timeouts: ScaleTimeouts = {}) {
    this.#api = api;
    this.#namespace = namespace;
    this.#timeouts = {
      scaleDownMs: timeouts.scaleDownMs ?? 300_000,
      scaleUpMs: timeouts.scaleUpMs ?? 600_000,
      pollMs: timeouts.pollMs ?? 1000,
    };
  }

  async replicas(kind: WorkloadKind, name: string): Promise<number> {
    const namespace = this.#namespace;
    const scale =
      kind === "Deployment"
        ? await this.#api.readNamespacedDeploymentScale({ name, namespace })
        : await this.#api.readNamespacedStatefulSetScale({ name, namespace });
    return scale.spec?.replicas ?? 0;
  }

  async scale(kind: WorkloadKind, name: string, replicas: number): Promise<void> {
    const namespace = this.#namespace;
    // JSON patch (the client's default patch type) on the scale subresource: only spec.replicas changes.
    // Named as ours (see FIELD_MANAGER for why managedFields do not show it today).
    const body = [{ op: "replace", path: "/spec/replicas", value: replicas }];
    const request = { name, namespace, body, fieldManager: FIELD_MANAGER };
    if (kind === "Deployment") await this.#api.patchNamespacedDeploymentScale(request);
    else await this.#api.patchNamespacedStatefulSetScale(request);
  }

  /** Waits until no pod of the workload is left (terminating ones included). */
  /** `signal`: stop waiting (with its reason) when it aborts — someone scaling the workload back up. */
  async waitForNoPods(
    workload: { kind: WorkloadKind; name: string; selector: Record<string, string> },
    signal?: AbortSignal,
  ) {
    const labelSelector = formatSelector(workload.selector);
    await this.#poll(
      signal,
      this.#timeouts.scaleDownMs,
      async () => {
        const pods = await this.#api.listNamespacedPod({ namespace: this.#namespace, labelSelector });
        return pods.items.length === 0 ? true : pods.items.map((p) => p.metadata?.name).join(", ");
      },
      (left) => `${workload.kind} ${workload.name} still has pods after scaling to zero: ${left}`,
    );
  }

  /** Waits until the workload reports `replicas` Ready replicas for its current generation. */
  async waitForReady(kind: WorkloadKind, name: string, replicas: number): Promise<void> {
    const namespace = this.#namespace;
    await this.#poll(
      undefined,
      this.#timeouts.scaleUpMs,
      async () => {
        const item =
          kind === "Deployment"
            ? await this.#api.readNamespacedDeployment({ name, namespace })
            : await this.#api.readNamespacedStatefulSet({ name, namespace });
        const current = (item.status?.observedGeneration ?? 0) >= (item.metadata?.generation ?? 0);
        const ready = item.status?.readyReplicas ?? 0;
        return current && ready >= replicas ? true : `${ready}/${replicas} ready`;
      },
      (state) => `${kind} ${name} is not Ready again: ${state}`,
    );
  }

  async #poll(
    signal: AbortSignal | undefined,
    timeoutMs: number,
    check: () => Promise<true | string>,
    message: (state: string) => string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let state = "";
    let intervalMs = Math.min(FIRST_POLL_MS, this.#timeouts.pollMs);
    for (;;) {
      signal?.throwIfAborted();
      const result = await check();
      if (result === true) return;
      state = result;
      if (Date.now() >= deadline) {
        throw new BackupError("TIMEOUT", `${message(state)} (waited ${Math.round(timeoutMs / 1000)} s)`, {
          hint: `kubectl -n ${this.#namespace} get pods; a GitOps controller (Argo CD self-heal) may be reverting the scale`,
        });
      }
      await sleep(intervalMs);
      intervalMs = Math.min(intervalMs * 2, this.#timeouts.pollMs);
    }
  }
}
