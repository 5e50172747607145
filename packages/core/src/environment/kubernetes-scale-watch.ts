import type { V1ManagedFieldsEntry } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { KubeApi } from "./kubernetes-api.js";
import type { WorkloadKind } from "./kubernetes-workloads.js";

/**
 * The field manager named on every scale this tool makes. (kube-apiserver 1.36 records no managedFields
 * entry for a change made through the scale subresource — ours or anyone's — so GitOps tools cannot key
 * on it; the README's GitOps section therefore ignores spec.replicas itself.)
 */
export const FIELD_MANAGER = "infrahub-backup";

/** Where the README tells GitOps users how to keep their controller from scaling Infrahub back up. */
export const GITOPS_HINT =
  'a GitOps controller (Argo CD self-heal, Flux drift correction) or a `helm upgrade` of Infrahub scaled it back up during the operation: let the controller ignore spec.replicas of Infrahub\'s Deployments, and upgrade Infrahub outside backup windows — see the infrahub-backup chart README, section "GitOps: keep controllers from scaling Infrahub back up"';

/** Who last set spec.replicas, from the object's managedFields. */
export interface ReplicasOwner {
  manager: string;
  operation?: string;
  subresource?: string;
  time?: string;
}

/**
 * The newest managedFields entry other than ours that owns spec.replicas. Update operations move
 * ownership to the last writer; server-side apply may share it, hence the newest.
 */
export function replicasOwner(
  entries: readonly V1ManagedFieldsEntry[] | undefined,
): ReplicasOwner | undefined {
  const owners = (entries ?? []).filter((entry) => {
    const fields = entry.fieldsV1 as Record<string, Record<string, unknown> | undefined> | undefined;
    return entry.manager !== FIELD_MANAGER && fields?.["f:spec"]?.["f:replicas"] !== undefined;
  });
  const newest = owners.sort((a, b) => timeOf(b) - timeOf(a))[0];
  if (!newest?.manager) return undefined;
  return {
    manager: newest.manager,
    ...(newest.operation ? { operation: newest.operation } : {}),
    ...(newest.subresource ? { subresource: newest.subresource } : {}),
    ...(newest.time ? { time: new Date(newest.time).toISOString() } : {}),
  };
}

function timeOf(entry: V1ManagedFieldsEntry): number {
  return entry.time ? new Date(entry.time).getTime() : 0;
}

/** The error an operation stops with when a workload it holds at zero is scaled up by someone else. */
export function scaleConflictError(
  workload: { kind: WorkloadKind; name: string },
  namespace: string,
  seen: { replicas: number; owner: ReplicasOwner | undefined } | { deleted: true },
): BackupError {
  const what = `${workload.kind} ${workload.name} in namespace ${namespace}`;
  if ("deleted" in seen) {
    return new BackupError(
      "SCALE_CONFLICT",
      `${what} was deleted while this operation held it at 0 replicas`,
      {
        hint: GITOPS_HINT,
        details: { kind: workload.kind, name: workload.name, namespace, deleted: true },
      },
    );
  }
  const by = seen.owner
    ? `by the field manager "${seen.owner.manager}"${seen.owner.operation ? ` (${seen.owner.operation})` : ""}`
    : "by a client its managedFields do not name (a change through the scale subresource, e.g. kubectl scale, leaves none)";
  return new BackupError(
    "SCALE_CONFLICT",
    `${what} was scaled to ${seen.replicas} ${by} while this operation held it at 0 replicas`,
    {
      hint: GITOPS_HINT,
      details: {
        kind: workload.kind,
        name: workload.name,
        namespace,
        replicas: seen.replicas,
        ...(seen.owner
          ? { fieldManager: seen.owner.manager, fieldManagerOperation: seen.owner.operation }
          : {}),
      },
    },
  );
}

export interface ScaleWatchOptions {
  /** Poll interval; default 1 s. */
  pollMs?: number;
}

/**
 * Watches workloads this tool scaled to zero until it scales them back: the first one seen with replicas
 * above zero (or gone) aborts `signal` with a SCALE_CONFLICT error naming the workload, the count and the
 * field manager that set it. Polls `get` on the workloads (the chart's Role has no `watch`). A failed poll
 * is retried at the next tick: the watch only reports interference, the operation's own API calls report
 * an unreachable API server.
 */
export class ScaleWatch implements Disposable {
  readonly #api: KubeApi;
  readonly #namespace: string;
  readonly #pollMs: number;
  readonly #workloads: { kind: WorkloadKind; name: string }[] = [];
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #stopped = false;

  constructor(api: KubeApi, namespace: string, options: ScaleWatchOptions = {}) {
    this.#api = api;
    this.#namespace = namespace;
    this.#pollMs = options.pollMs ?? 1000;
  }

  /** Aborted with the SCALE_CONFLICT error at the first interference; never aborted otherwise. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Starts watching a workload just scaled to zero. */
  add(workload: { kind: WorkloadKind; name: string }): void {
    if (this.#stopped) return;
    this.#workloads.push({ kind: workload.kind, name: workload.name });
    this.#timer ??= setInterval(() => void this.#poll(), this.#pollMs);
    // The operation must not be kept alive by its watch.
    this.#timer.unref();
  }

  /** Checks every watched workload once now (also done every poll interval). */
  async check(): Promise<void> {
    for (const workload of [...this.#workloads]) {
      if (this.#stopped || this.#controller.signal.aborted) return;
      const seen = await this.#read(workload);
      if (seen === "unknown" || (!("deleted" in seen) && seen.replicas === 0)) continue;
      if (this.#stopped) return;
      this.#controller.abort(scaleConflictError(workload, this.#namespace, seen));
      this.stop();
    }
  }

  /** Stops watching (before this tool scales the workloads back itself). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      await this.check();
    } finally {
      this.#polling = false;
    }
  }

  async #read(workload: {
    kind: WorkloadKind;
    name: string;
  }): Promise<{ replicas: number; owner: ReplicasOwner | undefined } | { deleted: true } | "unknown"> {
    const request = { name: workload.name, namespace: this.#namespace };
    try {
      const item =
        workload.kind === "Deployment"
          ? await this.#api.readNamespacedDeployment(request)
          : await this.#api.readNamespacedStatefulSet(request);
      const replicas = item.spec?.replicas ?? 1;
      return { replicas, owner: replicas > 0 ? replicasOwner(item.metadata?.managedFields) : undefined };
    } catch (error) {
      if ((error as { code?: number }).code === 404) return { deleted: true };
      // Transient (network, throttling): looked at again at the next tick; see the class comment.
      return "unknown";
    }
  }
}
