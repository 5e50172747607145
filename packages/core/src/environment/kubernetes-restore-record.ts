import type { V1Lease } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { RestoreRecord, StartedRestore } from "./environment.js";
import { KubeApi } from "./kubernetes-api.js";
import type { KubeConfig } from "./kubernetes-config.js";

/**
 * The Lease that records the completed restores of a namespace (the last one, and the last requests). A Lease (not a ConfigMap) because the
 * chart's Role already grants leases for the operation lock: no new kind of write permission.
 */
export const RESTORE_RECORD_NAME = "infrahub-backup-last-restore";
const ANNOTATION = "infrahub-backup.opsmill.io/last-restore";
/** The restore under way (`StartedRestore`), beside the last completed one. */
const STARTED_ANNOTATION = "infrahub-backup.opsmill.io/started-restore";
/**
 * The last completed requests, oldest first (JSON array of `RestoreRecord`): a request is skipped when it is
 * among them, not only when it was the last one — values reverted to an earlier request's (a GitOps
 * rollback) must not restore that request's archive over the data written since.
 */
const COMPLETED_ANNOTATION = "infrahub-backup.opsmill.io/completed-restores";
/** How many completed requests are kept (~250 bytes each; a Lease's annotations may hold 256 KiB). */
export const COMPLETED_RESTORES_KEPT = 50;

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

/** The record Lease's annotations; undefined when there is no such Lease. */
async function readAnnotations(
  kc: KubeConfig,
  namespace: string,
): Promise<Record<string, string> | undefined> {
  try {
    const lease = await new KubeApi(kc).readNamespacedLease({ name: RESTORE_RECORD_NAME, namespace });
    return lease.metadata?.annotations ?? {};
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw recordError("read", namespace, error);
  }
}

/**
 * An annotation's JSON value; undefined when absent or not JSON. Edited by hand into something else, a
 * record counts as none: a restore then runs (never skipped wrongly), "latest" is resolved again.
 */
function parseAnnotation(raw: string | undefined): unknown {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    // Not JSON: no record (see above).
    return undefined;
  }
}

/** `value` when it is a JSON object; undefined otherwise. */
function jsonObject<T>(value: unknown): Partial<T> | undefined {
  return typeof value === "object" && value !== null ? (value as Partial<T>) : undefined;
}

/** One annotation's JSON object; undefined when absent or not one (see `parseAnnotation`). */
async function readJsonAnnotation<T>(
  kc: KubeConfig,
  namespace: string,
  annotation: string,
): Promise<Partial<T> | undefined> {
  return jsonObject<T>(parseAnnotation((await readAnnotations(kc, namespace))?.[annotation]));
}

/** A record read back; undefined when it is not one (then nothing is skipped). */
function asRestoreRecord(value: unknown): RestoreRecord | undefined {
  const record = jsonObject<RestoreRecord>(value);
  if (typeof record?.requestId !== "string" || typeof record.completedAt !== "string") return undefined;
  return {
    requestId: record.requestId,
    completedAt: record.completedAt,
    location: typeof record.location === "string" ? record.location : "",
    ...(typeof record.backupId === "string" ? { backupId: record.backupId } : {}),
  };
}

/** The completed requests kept in `annotations`, oldest first; the last one too (older versions wrote only it). */
function completedRecords(annotations: Record<string, string> | undefined): RestoreRecord[] {
  const list = parseAnnotation(annotations?.[COMPLETED_ANNOTATION]);
  const records = (Array.isArray(list) ? list : []).flatMap((item) => asRestoreRecord(item) ?? []);
  const lastRecord = asRestoreRecord(parseAnnotation(annotations?.[ANNOTATION]));
  // The newest: written with the list by this version, alone by an older one (after a downgrade).
  if (!lastRecord) return records;
  return [...records.filter((r) => r.requestId !== lastRecord.requestId), lastRecord];
}

/** The record, or undefined when there is none (or it cannot be read as one: then nothing is skipped). */
export async function readRestoreRecord(
  kc: KubeConfig,
  namespace: string,
): Promise<RestoreRecord | undefined> {
  return asRestoreRecord(await readJsonAnnotation<RestoreRecord>(kc, namespace, ANNOTATION));
}

/** The record of `requestId` when it is among the last completed requests; undefined otherwise. */
export async function readCompletedRestore(
  kc: KubeConfig,
  namespace: string,
  requestId: string,
): Promise<RestoreRecord | undefined> {
  return completedRecords(await readAnnotations(kc, namespace)).findLast((r) => r.requestId === requestId);
}

/** The restore under way, or undefined (none, or unreadable: then "latest" is resolved again). */
export async function readStartedRestore(
  kc: KubeConfig,
  namespace: string,
): Promise<StartedRestore | undefined> {
  const value = await readJsonAnnotation<StartedRestore>(kc, namespace, STARTED_ANNOTATION);
  const { requestId, name, startedAt, changing } = value ?? {};
  if (typeof requestId !== "string" || typeof name !== "string" || typeof startedAt !== "string")
    return undefined;
  return { requestId, name, startedAt, ...(changing === true ? { changing } : {}) };
}

/**
 * Records a completed restore: the last one, and the newest of the completed requests kept (the oldest
 * dropped beyond `COMPLETED_RESTORES_KEPT`); clears the started one.
 */
export function writeRestoreRecord(kc: KubeConfig, namespace: string, record: RestoreRecord): Promise<void> {
  return updateAnnotations(kc, namespace, (annotations) => {
    const completed = [
      ...completedRecords(annotations).filter((r) => r.requestId !== record.requestId),
      record,
    ].slice(-COMPLETED_RESTORES_KEPT);
    annotations[COMPLETED_ANNOTATION] = JSON.stringify(completed);
    annotations[ANNOTATION] = JSON.stringify(record);
    delete annotations[STARTED_ANNOTATION];
  });
}

/** Records the restore under way, or (undefined) clears it; the last completed one is kept. */
export function writeStartedRestore(
  kc: KubeConfig,
  namespace: string,
  started: StartedRestore | undefined,
): Promise<void> {
  return updateAnnotations(kc, namespace, (annotations) => {
    if (started) annotations[STARTED_ANNOTATION] = JSON.stringify(started);
    else delete annotations[STARTED_ANNOTATION];
  });
}

/** Read, change the annotations, write: created when missing, read again when someone wrote meanwhile. */
async function updateAnnotations(
  kc: KubeConfig,
  namespace: string,
  change: (annotations: Record<string, string>) => void,
): Promise<void> {
  const api = new KubeApi(kc);
  const body = (annotations: Record<string, string>, resourceVersion?: string): V1Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: RESTORE_RECORD_NAME,
      namespace,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { "app.kubernetes.io/managed-by": "infrahub-backup" },
      annotations,
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
    const annotations = { ...(current?.metadata?.annotations ?? {}) };
    change(annotations);
    try {
      if (current) {
        await api.replaceNamespacedLease({
          name: RESTORE_RECORD_NAME,
          namespace,
          body: body(annotations, current.metadata?.resourceVersion),
        });
      } else {
        await api.createNamespacedLease({ namespace, body: body(annotations) });
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
