import type { V1Lease } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { RestoreRecord } from "./environment.js";
import { KubeApi } from "./kubernetes-api.js";
import type { KubeConfig } from "./kubernetes-config.js";

/**
 * The Lease that records the last completed restore of a namespace. A Lease (not a ConfigMap) because the
 * chart's Role already grants leases for the operation lock: no new kind of write permission.
 */
export const RESTORE_RECORD_NAME = "infrahub-backup-last-restore";
const ANNOTATION = "infrahub-backup.opsmill.io/last-restore";

function statusOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

function recordError(what: string, namespace: string, error: unknown): BackupError {
  // Unusable credentials (an exec plugin that failed) already say what to fix.
  if (error instanceof BackupError) return error;
  const status = statusOf(error);
  return new BackupError(
    "EXEC_FAILED",
    `Kubernetes API: cannot ${what} the Lease ${RESTORE_RECORD_NAME} in namespace ${namespace}: ${(error as Error).message}`,
    {
      cause: error,
      details: { status },
      ...(status === 403
        ? {
            hint: `the identity needs get, create and update on the Lease ${RESTORE_RECORD_NAME} (coordination.k8s.io), as the infrahub-backup chart's Role grants`,
          }
        : {}),
    },
  );
}

/** The record, or undefined when there is none (or it cannot be read as one: then nothing is skipped). */
export async function readRestoreRecord(
  kc: KubeConfig,
  namespace: string,
): Promise<RestoreRecord | undefined> {
  const api = new KubeApi(kc);
  let lease: V1Lease;
  try {
    lease = await api.readNamespacedLease({ name: RESTORE_RECORD_NAME, namespace });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw recordError("read", namespace, error);
  }
  const raw = lease.metadata?.annotations?.[ANNOTATION];
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<RestoreRecord>;
    if (typeof value.requestId !== "string" || typeof value.completedAt !== "string") return undefined;
    return {
      requestId: value.requestId,
      completedAt: value.completedAt,
      location: typeof value.location === "string" ? value.location : "",
      ...(typeof value.backupId === "string" ? { backupId: value.backupId } : {}),
    };
  } catch {
    // Edited by hand into something else: treated as no record, so the restore runs (never skipped wrongly).
    return undefined;
  }
}

/** Creates or replaces the record. */
export async function writeRestoreRecord(
  kc: KubeConfig,
  namespace: string,
  record: RestoreRecord,
): Promise<void> {
  const api = new KubeApi(kc);
  const body = (resourceVersion?: string): V1Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: RESTORE_RECORD_NAME,
      namespace,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { "app.kubernetes.io/managed-by": "infrahub-backup" },
      annotations: { [ANNOTATION]: JSON.stringify(record) },
    },
    // No holder: a record, not a lock.
    spec: {},
  });
  for (let attempt = 0; attempt < 5; attempt += 1) {
    let current: V1Lease | undefined;
    try {
      current = await api.readNamespacedLease({ name: RESTORE_RECORD_NAME, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw recordError("read", namespace, error);
    }
    try {
      if (current) {
        await api.replaceNamespacedLease({
          name: RESTORE_RECORD_NAME,
          namespace,
          body: body(current.metadata?.resourceVersion),
        });
      } else {
        await api.createNamespacedLease({ namespace, body: body() });
      }
      return;
    } catch (error) {
      // 409: written by someone else between the read and the write; read again.
      if (statusOf(error) !== 409) throw recordError(current ? "update" : "create", namespace, error);
    }
  }
  throw new BackupError(
    "EXEC_FAILED",
    `could not write the Lease ${RESTORE_RECORD_NAME} in namespace ${namespace}: it keeps changing`,
  );
}
