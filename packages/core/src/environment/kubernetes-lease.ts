import type { V1Lease } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import { KubeApi } from "./kubernetes-api.js";
import type { KubeConfig } from "./kubernetes-config.js";
import {
  LOCK_TTL_MS,
  type LockHolder,
  type LockRequest,
  localProcessAlive,
  lockHeldError,
  newHolder,
  type OperationLock,
} from "./operation-lock.js";

/** The Lease every infrahub-backup operation in a namespace takes before it changes anything. */
export const LEASE_NAME = "infrahub-backup";
const ANNOTATION = "infrahub-backup.opsmill.io/holder";

/**
 * A Lease's times are MicroTime, which the API server parses with exactly six fractional digits; a
 * Date serialises with three and every write is refused (400). Date only holds milliseconds: padded.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
  }
}

function microTime(value: Date | string | undefined): MicroTime {
  return new MicroTime(value === undefined ? Date.now() : new Date(value).getTime());
}

function statusOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

function holderOf(lease: V1Lease): Partial<LockHolder> {
  const raw = lease.metadata?.annotations?.[ANNOTATION];
  if (raw) {
    try {
      return JSON.parse(raw) as Partial<LockHolder>;
    } catch {
      // An annotation someone edited by hand: fall back to the Lease's own fields below.
    }
  }
  return { id: lease.spec?.holderIdentity ?? "" };
}

function leaseBody(namespace: string, holder: LockHolder, base?: V1Lease): V1Lease {
  const now = microTime(undefined);
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: LEASE_NAME,
      namespace,
      ...(base?.metadata?.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
      labels: { "app.kubernetes.io/managed-by": "infrahub-backup" },
      annotations: { [ANNOTATION]: JSON.stringify(holder) },
    },
    spec: {
      holderIdentity: holder.id,
      leaseDurationSeconds: LOCK_TTL_MS / 1000,
      acquireTime: now,
      renewTime: now,
    },
  };
}

/**
 * One operation at a time per namespace: a `coordination.k8s.io/v1` Lease named `infrahub-backup` with
 * the holder's identity, operation and start time, renewed every quarter of its duration. A Lease whose
 * renew time is older than its duration (or whose holder is a dead process of this host) is taken over
 * with a warning. Writes are conditional on the resourceVersion read, so two takers cannot both win.
 */
export async function acquireLease(
  kubeConfig: KubeConfig,
  namespace: string,
  request: LockRequest,
): Promise<OperationLock> {
  const api = new KubeApi(kubeConfig);
  const holder = newHolder(request.operation);
  const where = `namespace ${namespace}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    request.signal?.throwIfAborted();
    let current: V1Lease | undefined;
    try {
      current = await api.readNamespacedLease({ name: LEASE_NAME, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw leaseError("read", namespace, error);
    }
    try {
      if (!current) {
        const created = await api.createNamespacedLease({ namespace, body: leaseBody(namespace, holder) });
        return new LeaseLock(api, namespace, holder, created, request);
      }
      const other = holderOf(current);
      const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime).getTime() : 0;
      const duration = (current.spec?.leaseDurationSeconds ?? LOCK_TTL_MS / 1000) * 1000;
      const free = !current.spec?.holderIdentity;
      const expired = Date.now() - renewed > duration;
      const deadHere = other.host === holder.host && other.pid !== undefined && !localProcessAlive(other.pid);
      if (!(free || expired || deadHere)) throw lockHeldError(other, where);
      if (!free) {
        request.onWarning?.(
          `taking over a stale operation lock (Lease ${LEASE_NAME}: ${other.operation ?? "unknown operation"} by ${other.host ?? current.spec?.holderIdentity ?? "?"} since ${other.startedAt ?? "?"}, ${deadHere ? "that process is gone" : `not renewed for ${Math.round((Date.now() - renewed) / 1000)} s`})`,
        );
      }
      const taken = await api.replaceNamespacedLease({
        name: LEASE_NAME,
        namespace,
        body: leaseBody(namespace, holder, current),
      });
      return new LeaseLock(api, namespace, holder, taken, request);
    } catch (error) {
      // 409: another client created or changed the Lease between our read and our write; read again.
      if (statusOf(error) === 409) continue;
      if (error instanceof BackupError) throw error;
      throw leaseError("take", namespace, error);
    }
  }
  throw new BackupError(
    "OPERATION_IN_PROGRESS",
    `could not take the Lease ${LEASE_NAME} in ${where}: it keeps changing hands`,
  );
}

function leaseError(what: string, namespace: string, error: unknown): BackupError {
  // Unusable credentials (an exec plugin that failed) already say what to fix.
  if (error instanceof BackupError) return error;
  const status = statusOf(error);
  return new BackupError(
    "EXEC_FAILED",
    `Kubernetes API: cannot ${what} the Lease ${LEASE_NAME} in namespace ${namespace}: ${(error as Error).message}`,
    {
      cause: error,
      details: { status },
      ...(status === 403
        ? {
            hint: "the identity needs get, create, update and delete on leases (coordination.k8s.io) in the namespace, as the infrahub-backup chart's Role grants",
          }
        : {}),
    },
  );
}

class LeaseLock implements OperationLock {
  readonly holder: LockHolder;
  readonly #api: KubeApi;
  readonly #namespace: string;
  readonly #request: LockRequest;
  readonly #timer: NodeJS.Timeout;
  #lease: V1Lease;
  #lost = false;
  #renewing: Promise<void> | undefined;

  constructor(api: KubeApi, namespace: string, holder: LockHolder, lease: V1Lease, request: LockRequest) {
    this.holder = holder;
    this.#api = api;
    this.#namespace = namespace;
    this.#lease = lease;
    this.#request = request;
    this.#timer = setInterval(() => {
      this.#renewing ??= this.#renew().finally(() => {
        this.#renewing = undefined;
      });
    }, LOCK_TTL_MS / 4);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    if (this.#lost) return;
    try {
      const body: V1Lease = {
        ...this.#lease,
        spec: {
          ...this.#lease.spec,
          ...(this.#lease.spec?.acquireTime ? { acquireTime: microTime(this.#lease.spec.acquireTime) } : {}),
          renewTime: microTime(undefined),
        },
      };
      this.#lease = await this.#api.replaceNamespacedLease({
        name: LEASE_NAME,
        namespace: this.#namespace,
        body,
      });
    } catch (error) {
      if (statusOf(error) !== 409) return; // A missed renewal is tolerated: stale only after four.
      this.#lost = true;
      this.#request.onWarning?.(`the Lease ${LEASE_NAME} was taken over by another client`);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    try {
      await this.#renewing;
      if (this.#lost) return;
      await this.#api.deleteNamespacedLease({
        name: LEASE_NAME,
        namespace: this.#namespace,
        body: { preconditions: { resourceVersion: this.#lease.metadata?.resourceVersion ?? "" } },
      });
    } catch (error) {
      this.#request.onWarning?.(
        `could not release the Lease ${LEASE_NAME} in namespace ${this.#namespace} (${(error as Error).message}); the next operation takes it over once it is stale`,
      );
    }
  }
}
