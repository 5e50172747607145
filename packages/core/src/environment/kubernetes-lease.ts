import { setTimeout as sleep } from "node:timers/promises";
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
import type { ServiceName } from "./services.js";

/** The Lease every infrahub-backup operation in a namespace takes before it changes anything. */
export const LEASE_NAME = "infrahub-backup";
const ANNOTATION = "infrahub-backup.opsmill.io/holder";
/** What the holder has scaled down and not yet brought back (JSON HeldDown), so a run killed meanwhile is undone. */
const HELD_DOWN_ANNOTATION = "infrahub-backup.opsmill.io/held-down";
/** How often a held Lease is read again while its holder is watched. */
const LEASE_POLL_MS = 1000;

/** A workload an operation scaled to zero, with the replicas to bring it back to. */
export interface HeldDownWorkload {
  /** The service it runs (absent in records of older versions). */
  service?: ServiceName;
  kind: "Deployment" | "StatefulSet";
  name: string;
  replicas: number;
}

/** The record on the Lease: which operation holds what down. */
export interface HeldDown {
  /** The holder that scaled them down (its operation, host, pid, start). */
  by: Partial<LockHolder>;
  workloads: HeldDownWorkload[];
}

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

/** The held-down record of a Lease; undefined when none (or unreadable: someone edited it by hand). */
function heldDownOf(lease: V1Lease | undefined): HeldDown | undefined {
  const raw = lease?.metadata?.annotations?.[HELD_DOWN_ANNOTATION];
  if (!raw) return undefined;
  try {
    const record = JSON.parse(raw) as HeldDown;
    return Array.isArray(record.workloads) && record.workloads.length > 0 ? record : undefined;
  } catch {
    // Not ours to interpret: the next operation stops and starts what runs, as without a record.
    return undefined;
  }
}

function withHeldDown(
  annotations: Record<string, string>,
  record: HeldDown | undefined,
): Record<string, string> {
  const { [HELD_DOWN_ANNOTATION]: _previous, ...rest } = annotations;
  return record && record.workloads.length > 0
    ? { ...rest, [HELD_DOWN_ANNOTATION]: JSON.stringify(record) }
    : rest;
}

function leaseBody(namespace: string, holder: LockHolder, ttlMs: number, base?: V1Lease): V1Lease {
  const now = microTime(undefined);
  // A record left by a killed holder stays until the taker has brought its workloads back.
  const annotations = withHeldDown({ [ANNOTATION]: JSON.stringify(holder) }, heldDownOf(base));
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: LEASE_NAME,
      namespace,
      ...(base?.metadata?.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
      labels: { "app.kubernetes.io/managed-by": "infrahub-backup" },
      annotations,
    },
    spec: {
      holderIdentity: holder.id,
      leaseDurationSeconds: Math.round(ttlMs / 1000),
      acquireTime: now,
      renewTime: now,
    },
  };
}

/** The operation lock on Kubernetes, which also records what its holder holds down. */
export interface LeaseOperationLock extends OperationLock {
  /** What a previous holder scaled down and never brought back (it was killed, or its start failed). */
  readonly leftHeldDown: HeldDown | undefined;
  /** Replaces the record of what this holder holds down (empty: nothing); written before each scale-down. */
  recordHeldDown(workloads: readonly HeldDownWorkload[]): Promise<void>;
}

/**
 * One operation at a time per namespace: a `coordination.k8s.io/v1` Lease named `infrahub-backup` with
 * the holder's identity, operation and start time, renewed every quarter of its duration. A Lease whose
 * renew time is older than its duration (or whose holder is a dead process of this host) is taken over
 * with a warning. Writes are conditional on the resourceVersion read, so two takers cannot both win.
 * The Lease also carries what its holder has scaled down: a holder released with workloads still down
 * leaves the Lease free with that record, and the next holder finds it in `leftHeldDown`.
 *
 * A held Lease is watched before it is refused: a live holder renews it within a quarter of its duration
 * and the request is refused then; one that stays silent (killed, its node lost) is waited for until it is
 * stale and taken over — so a Job's retry after an OOM kill takes over its predecessor's lock (and brings
 * back what it held down) instead of failing on it.
 */
export async function acquireLease(
  kubeConfig: KubeConfig,
  namespace: string,
  request: LockRequest,
  ttlMs = LOCK_TTL_MS,
): Promise<LeaseOperationLock> {
  const api = new KubeApi(kubeConfig);
  const holder = newHolder(request.operation);
  const where = `namespace ${namespace}`;
  /** The held Lease's renew time when first seen: a later one means its holder is alive. */
  let firstRenewTime: string | undefined;
  let announcedWait = false;
  for (let conflicts = 0; conflicts < 3; ) {
    request.signal?.throwIfAborted();
    let current: V1Lease | undefined;
    try {
      current = await api.readNamespacedLease({ name: LEASE_NAME, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw leaseError("read", namespace, error);
    }
    try {
      if (!current) {
        const created = await api.createNamespacedLease({
          namespace,
          body: leaseBody(namespace, holder, ttlMs),
        });
        return new LeaseLock(api, namespace, holder, created, request, ttlMs);
      }
      const other = holderOf(current);
      const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime).getTime() : 0;
      const duration = (current.spec?.leaseDurationSeconds ?? LOCK_TTL_MS / 1000) * 1000;
      const free = !current.spec?.holderIdentity;
      const expired = Date.now() - renewed > duration;
      const deadHere = other.host === holder.host && other.pid !== undefined && !localProcessAlive(other.pid);
      if (!(free || expired || deadHere)) {
        const renewTime = String(current.spec?.renewTime ?? "");
        firstRenewTime ??= renewTime;
        if (renewTime !== firstRenewTime) throw lockHeldError(other, where);
        // Two renewals missed: say why this operation waits.
        if (!announcedWait && Date.now() - renewed > duration / 2) {
          announcedWait = true;
          request.onWarning?.(
            `the operation lock (Lease ${LEASE_NAME}: ${other.operation ?? "unknown operation"} by ${other.host ?? "?"} since ${other.startedAt ?? "?"}) has not been renewed for ${Math.round((Date.now() - renewed) / 1000)} s: waiting until it is stale (${duration / 1000} s) to take it over`,
          );
        }
        await sleep(Math.min(LEASE_POLL_MS, Math.max(duration - (Date.now() - renewed), 0) + 50), undefined, {
          ...(request.signal ? { signal: request.signal } : {}),
        }).catch((error: unknown) => {
          // Aborted: the signal's own reason (CANCELLED) is what the caller reports.
          request.signal?.throwIfAborted();
          throw error;
        });
        continue;
      }
      if (!free) {
        request.onWarning?.(
          `taking over a stale operation lock (Lease ${LEASE_NAME}: ${other.operation ?? "unknown operation"} by ${other.host ?? current.spec?.holderIdentity ?? "?"} since ${other.startedAt ?? "?"}, ${deadHere ? "that process is gone" : `not renewed for ${Math.round((Date.now() - renewed) / 1000)} s`})`,
        );
      }
      const taken = await api.replaceNamespacedLease({
        name: LEASE_NAME,
        namespace,
        body: leaseBody(namespace, holder, ttlMs, current),
      });
      return new LeaseLock(api, namespace, holder, taken, request, ttlMs, {
        leftHeldDown: heldDownOf(current),
        ...(free ? {} : { tookOverFrom: other }),
      });
    } catch (error) {
      // 409: another client created or changed the Lease between our read and our write; read again.
      if (statusOf(error) === 409) {
        conflicts++;
        continue;
      }
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

class LeaseLock implements LeaseOperationLock {
  readonly holder: LockHolder;
  readonly leftHeldDown: HeldDown | undefined;
  readonly tookOverFrom: Partial<LockHolder> | undefined;
  readonly #api: KubeApi;
  readonly #namespace: string;
  readonly #request: LockRequest;
  readonly #timer: NodeJS.Timeout;
  #lease: V1Lease;
  #lost = false;
  /** Every write of the Lease, one after the other: each is conditional on the previous one's version. */
  #writes: Promise<void> = Promise.resolve();

  constructor(
    api: KubeApi,
    namespace: string,
    holder: LockHolder,
    lease: V1Lease,
    request: LockRequest,
    ttlMs: number,
    previous: { leftHeldDown?: HeldDown | undefined; tookOverFrom?: Partial<LockHolder> } = {},
  ) {
    this.holder = holder;
    this.leftHeldDown = previous.leftHeldDown;
    this.tookOverFrom = previous.tookOverFrom;
    this.#api = api;
    this.#namespace = namespace;
    this.#lease = lease;
    this.#request = request;
    this.#timer = setInterval(() => {
      // A missed renewal is tolerated (stale only after four); #write reports a lost Lease.
      this.#write({}).catch(() => undefined);
    }, ttlMs / 4);
    this.#timer.unref();
  }

  recordHeldDown(workloads: readonly HeldDownWorkload[]): Promise<void> {
    const record = workloads.length > 0 ? { by: this.holder, workloads: [...workloads] } : undefined;
    return this.#write({ heldDown: record });
  }

  /** Renews the Lease, with a new held-down record when one is given; throws when the write failed. */
  #write(change: { heldDown?: HeldDown | undefined; free?: boolean }): Promise<void> {
    const write = this.#writes.then(async () => {
      if (this.#lost) throw new Error(`the Lease ${LEASE_NAME} was taken over by another client`);
      const annotations = this.#lease.metadata?.annotations ?? {};
      const body: V1Lease = {
        ...this.#lease,
        metadata: {
          ...this.#lease.metadata,
          annotations: "heldDown" in change ? withHeldDown(annotations, change.heldDown) : annotations,
        },
        spec: {
          ...this.#lease.spec,
          ...(this.#lease.spec?.acquireTime ? { acquireTime: microTime(this.#lease.spec.acquireTime) } : {}),
          renewTime: microTime(undefined),
          ...(change.free ? { holderIdentity: "" } : {}),
        },
      };
      try {
        this.#lease = await this.#api.replaceNamespacedLease({
          name: LEASE_NAME,
          namespace: this.#namespace,
          body,
        });
      } catch (error) {
        if (statusOf(error) === 409 && !this.#lost) {
          this.#lost = true;
          this.#request.onWarning?.(`the Lease ${LEASE_NAME} was taken over by another client`);
        }
        throw error;
      }
    });
    // The chain goes on after a failed write; the caller of this one gets its error.
    this.#writes = write.catch(() => undefined);
    return write;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    await this.#writes;
    if (this.#lost) return;
    try {
      if (heldDownOf(this.#lease)) {
        // Workloads still down (their start failed): the Lease stays, free, with the record for the next
        // operation to bring them back.
        await this.#write({ free: true });
        return;
      }
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
