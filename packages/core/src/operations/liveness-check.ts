import type { LivenessWindow } from "../environment/environment.js";
import { formatBytes } from "../storage/format-bytes.js";
import type { OperationEvent } from "./events.js";
import { warning } from "./warning.js";

/**
 * neo4j-admin's throughput in this project's benches (2 cores, bench/README "whole bench at 2 GiB"): a
 * 1.15 GB dump written in 26 s from its store, loaded in 15–22 s. A floor for the estimate, not a
 * promise: slower disks and busier nodes take longer, hence the margin below.
 */
const DUMP_STORE_BYTES_PER_SECOND = 40e6;
const LOAD_DUMP_BYTES_PER_SECOND = 50e6;
/** Neo4j's clean shutdown before the freeze (a checkpoint: under a second here, longer on a busy server). */
const SHUTDOWN_SECONDS = 10;
/** Warn when the estimate is more than this share of the window. */
const MARGIN = 2;

/** What Neo4j does while it is offline: dump its store (create) or load a dump (restore). */
export interface OfflineStep {
  kind: "dump" | "load";
  /** The store's bytes (dump) or the dump's (load). */
  bytes: number;
}

function rateOf(step: OfflineStep): number {
  return step.kind === "dump" ? DUMP_STORE_BYTES_PER_SECOND : LOAD_DUMP_BYTES_PER_SECOND;
}

/** Seconds Neo4j is expected to be offline for the step, at the benches' rates. */
export function offlineSeconds(step: OfflineStep): number {
  return Math.ceil(SHUTDOWN_SECONDS + step.bytes / rateOf(step));
}

/**
 * A `LIVENESS_PROBE` warning when Neo4j's container may be restarted by its liveness probe before the
 * offline step ends (the operation then fails safely, after the outage); undefined when the window is
 * wide enough. The hint names the failureThreshold that gives the step room.
 */
export function livenessWarning(window: LivenessWindow, step: OfflineStep): OperationEvent | undefined {
  const estimate = offlineSeconds(step);
  if (estimate * MARGIN <= window.seconds) return undefined;
  const neededThreshold =
    Math.ceil(Math.max(estimate * MARGIN - window.graceSeconds, 0) / window.periodSeconds) + 1;
  const what = step.kind === "dump" ? "dumps its store" : "loads the dump";
  const rate = rateOf(step);
  return warning(
    "LIVENESS_PROBE",
    `Neo4j's container may be restarted while Neo4j ${what}: its liveness probe (${window.probe}) and grace period (${window.graceSeconds} s) let Neo4j be silent for ${window.seconds} s, and the step (${formatBytes(step.bytes)}) is estimated at ${estimate} s at ${rate / 1e6} MB/s, as fast as on the benches' 2 cores; a restart fails the operation after the outage (nothing is lost, Neo4j comes back). Give it room: failureThreshold ≥ ${neededThreshold} at periodSeconds ${window.periodSeconds}, or a longer terminationGracePeriodSeconds, on Neo4j's container`,
    { windowSeconds: window.seconds, estimatedSeconds: estimate, neededFailureThreshold: neededThreshold },
  );
}
