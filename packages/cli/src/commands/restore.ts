import {
  BackupError,
  type BackupStore,
  type Environment,
  type FreshnessCredentials,
  findFreshnessCredentials,
  isBackupError,
  probeFreshness,
  type RestoreRecord,
  recoverLeftovers,
  restoreBackup,
  type ServiceName,
  type StartedRestore,
} from "@infrahub-backup/core";
import { selectEnvironment } from "../environment-select.js";
import { freezeHelperResolver } from "../freeze-helper.js";
import type { ParsedCommand } from "../parse.js";
import { loadDecryptKey, resolveSource } from "../stores.js";
import { humanBytes } from "../values.js";
import { type CommandContext, confirm, hostEnv, interactive, sleep } from "./context.js";
import { waitUntilReady } from "./wait-ready.js";

type Restore = Extract<ParsedCommand, { command: "restore" }>;

/**
 * `restore`: validates the whole archive before changing anything. On a terminal it asks y/N unless
 * --yes; without a terminal it does not ask (upstream command lines and CronJobs keep working).
 */
export async function runRestore(cmd: Restore, ctx: CommandContext): Promise<number> {
  const { output } = ctx;
  const signal = ctx.cancellation.signal;
  const required: ServiceName[] = cmd.excludeTaskManager ? ["database"] : ["database", "task-manager-db"];
  // A run of a restore request records the archive it restores until it ends (where the deployment records
  // restores: Kubernetes). A record of this request found here is a run that was killed.
  let selected: Environment | undefined;
  let killed: StartedRestore | undefined;
  const recordsRequest = !cmd.dryRun && cmd.requestId !== undefined;
  if (recordsRequest) {
    selected = await selectEnvironment(cmd.global);
    const started = await selected.startedRestore?.();
    if (started?.requestId === cmd.requestId) killed = started;
    // Whatever this run does next — probe and skip, fail before it restores (storage unreachable, a key
    // missing, the archive gone) — Infrahub is not left as the killed run left it.
    if (killed) await bringBackAfterKilledRun(selected, ctx);
  }
  // With --latest, the killed run's archive is the one restored, not a backup taken since (another
  // release's, or the next scheduled one).
  const pinned = cmd.source.kind === "latest" ? killed : undefined;
  let fresh: { environment: Environment; credentials: FreshnessCredentials } | undefined;
  if (cmd.onlyIfFresh && killed?.changing) {
    // Its data may be partly restored by now: a probe would take it for data to keep, and skip.
    output.info(
      `a run of this restore request (started ${killed.startedAt}) was killed after its last freshness check, while it restored ${killed.name}: the deployment may hold part of that archive's data, so it is restored again without probing`,
      { request_id: killed.requestId, filename: killed.name },
    );
  } else if (cmd.onlyIfFresh) {
    const environment = selected ?? (await selectEnvironment(cmd.global));
    selected = environment;
    ctx.run?.environment(environment);
    await waitUntilReady(environment, cmd.waitReadyMs, ctx, required);
    // Found while the application services run: the second probe runs while they are stopped.
    fresh = {
      environment,
      credentials: await findFreshnessCredentials({
        environment,
        hostEnv: hostEnv(ctx.env),
        excludeTaskManager: cmd.excludeTaskManager,
        onEvent: ctx.output.onEvent,
      }),
    };
    if (!(await isFresh(fresh, cmd, ctx, "first"))) {
      // Ended: a new run of this request resolves the latest archive anew.
      if (killed) await noteStartedRestore(environment, undefined, ctx);
      return 0;
    }
  }
  const source = await resolveOrNothing(cmd, ctx, pinned);
  if (!source) return 0;
  const { store, name } = source;
  if (name.endsWith(".enc") && cmd.decryptKey === undefined) {
    throw new BackupError("ENCRYPTION_KEY_REQUIRED", `${name} is encrypted`, {
      hint: "give the private key with --decrypt-key or INFRAHUB_DECRYPT_KEY",
    });
  }
  const decryptKey = await loadDecryptKey(cmd.decryptKey);
  const info = await store.head(name).catch(async (error: unknown) => {
    if (pinned && selected && isBackupError(error, "ARTIFACT_NOT_FOUND"))
      throw await pinnedArchiveGone(selected, pinned, store, error, ctx);
    throw error;
  });
  ctx.run?.archive(info.location, info.size);
  const environment = selected ?? (await selectEnvironment(cmd.global));
  if (!fresh) ctx.run?.environment(environment);
  await sleep(cmd.sleepMs, signal, ctx, "Sleeping before restore");
  signal.throwIfAborted();
  const requestId = cmd.dryRun ? undefined : cmd.requestId;
  if (requestId !== undefined) {
    const done = await alreadyRestored(environment, requestId);
    if (done) {
      const text = `Restore request ${requestId} was already completed at ${done.completedAt} (from ${done.location}); nothing was changed. To restore again, use another request id (chart: change restore.requestId).`;
      output.info(text, { request_id: requestId, completed_at: done.completedAt, location: done.location });
      output.result("", { command: "restore", dry_run: false, skipped: true, request_id: requestId });
      output.summary({ command: "restore", skipped: true, request_id: requestId });
      return 0;
    }
  }
  if (!cmd.dryRun && !cmd.yes && interactive(ctx)) {
    const ok = await confirm(
      ctx,
      `Restore ${info.location} into the ${environment.kind} environment "${environment.name}"? This replaces its current data.`,
    );
    if (!ok) throw new BackupError("DECLINED", "restore declined at the prompt; nothing was changed");
  }
  // --only-if-fresh waited before its probe already.
  if (!fresh) await waitUntilReady(environment, cmd.waitReadyMs, ctx, required);
  const started: StartedRestore | undefined =
    requestId !== undefined
      ? {
          requestId,
          name,
          startedAt: killed?.startedAt ?? utcNowSeconds(),
          // Still true for this run: it restores without probing.
          ...(killed?.changing ? { changing: true } : {}),
        }
      : undefined;
  if (started) await noteStartedRestore(environment, started, ctx);
  const result = await restoreBackup({
    environment,
    store,
    name,
    freezeHelper: freezeHelperResolver(ctx.env),
    hostEnv: hostEnv(ctx.env),
    ...(decryptKey ? { decryptKey } : {}),
    excludeTaskManager: cmd.excludeTaskManager,
    resetDeploymentId: cmd.resetDeploymentId,
    migrateFormat: cmd.migrateFormat,
    allowNonAtomic: cmd.allowNonAtomic,
    staging: cmd.staging,
    dryRun: cmd.dryRun,
    // Asked again once nothing writes: data that arrived while pass 1 ran is not replaced either.
    ...(fresh
      ? {
          proceedOnceStopped: async () => {
            if (!(await isFresh(fresh, cmd, ctx, "once-stopped"))) return false;
            // From here on the data may become this archive's: a killed run's retry must not probe it.
            if (started) await noteStartedRestore(environment, { ...started, changing: true }, ctx);
            return true;
          },
        }
      : {}),
    signal,
    onEvent: output.onEvent,
  }).catch(async (error: unknown) => {
    // Ended, not killed: a run of this request again resolves the latest archive anew.
    if (started) await noteStartedRestore(environment, undefined, ctx);
    throw error;
  });
  // isFresh said why and reported the skipped run.
  if (result.skipped) {
    if (started) await noteStartedRestore(environment, undefined, ctx);
    return 0;
  }
  const plan = result.plan;
  if (result.dryRun) {
    const lines = [
      `Restore plan for ${plan.location} (${humanBytes(plan.size)})`,
      `  backup_id:        ${plan.metadata.backupId}`,
      `  created_at:       ${plan.metadata.createdAt}`,
      `  infrahub_version: ${plan.metadata.infrahubVersion}`,
      `  neo4j_edition:    ${plan.metadata.neo4jEdition ?? "unknown"}`,
      "Steps:",
      ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`),
      "Dry run: nothing was changed.",
    ];
    output.result(lines.join("\n"), { command: "restore", dry_run: true, plan });
  } else {
    output.info("Restore completed successfully", {
      location: plan.location,
      backup_id: plan.metadata.backupId,
    });
    if (requestId !== undefined) await recordRestore(environment, requestId, plan, ctx);
    output.result("", { command: "restore", dry_run: false, location: plan.location });
  }
  output.summary({
    command: "restore",
    dry_run: result.dryRun,
    location: plan.location,
    durations: result.durations,
  });
  return 0;
}

/**
 * --only-if-fresh: true when the deployment holds nothing beyond a fresh Infrahub. Otherwise it says so
 * loudly and records a skipped run: an install-time Job must not fail `helm install` because data is
 * already there. A probe that fails throws (non-zero exit): nothing is restored when in doubt. Probed
 * `first`, before the archive is read, and again `once-stopped`, when the application services are
 * stopped and nothing has been changed yet.
 */
async function isFresh(
  { environment, credentials }: { environment: Environment; credentials: FreshnessCredentials },
  cmd: Restore,
  ctx: CommandContext,
  probe: "first" | "once-stopped",
): Promise<boolean> {
  const { output } = ctx;
  const report = await probeFreshness({
    environment,
    credentials,
    excludeTaskManager: cmd.excludeTaskManager,
    signal: ctx.cancellation.signal,
    onEvent: output.onEvent,
  });
  if (report.fresh) return true;
  const holds =
    probe === "first"
      ? "the deployment holds data"
      : "data was written to the deployment while the archive was being verified";
  const after = probe === "first" ? "" : ", and the services were started again";
  output.warn(
    `skipped: ${holds} (${report.findings.join("; ")}); nothing was restored${after}. --only-if-fresh restores only into a deployment holding nothing beyond what Infrahub's first start creates; to replace this data, run restore without it`,
    { skip_reason: "deployment-holds-data", data_kinds: report.dataKinds, probe },
  );
  output.result("", {
    command: "restore",
    dry_run: cmd.dryRun,
    skipped: true,
    skip_reason: "deployment-holds-data",
  });
  output.summary({
    command: "restore",
    skipped: true,
    skip_reason: "deployment-holds-data",
    findings: report.findings,
    data_kinds: report.dataKinds,
  });
  return false;
}

/** Now, RFC 3339 UTC with whole seconds, as the restore record holds its times. */
function utcNowSeconds(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Records the restore under way for its request (or clears it). Only a retry's choice of archive depends on
 * it, so a failure is a warning that says so, not the restore's failure.
 */
async function noteStartedRestore(
  environment: Environment,
  started: StartedRestore | undefined,
  ctx: CommandContext,
): Promise<void> {
  try {
    await environment.recordStartedRestore?.(started);
  } catch (error) {
    const why = (error as Error).message;
    ctx.output.warn(
      started?.changing
        ? `could not record that this restore request now changes data (${why}): if this run is killed, a retry with --only-if-fresh may take the data for data to keep, and skip`
        : started
          ? `could not record the archive this restore request started with (${why}): if this run is killed, its retry restores the latest archive at that time`
          : `could not clear the record of this restore request's archive (${why}): a new run of the same request restores that archive, not the latest`,
    );
  }
}

/**
 * A run of this request was killed (it left its started-restore record): what it stopped is brought back
 * before anything else — taking the operation lock scales back the services it stopped; when the lock was
 * taken over, `recoverLeftovers` waits until Neo4j serves again (the dead run's freeze ends with its lease,
 * putting back a store it had set aside). A retry that goes on to restore stops them again; one that
 * skips or fails first leaves Infrahub running, not down until the next operation. A failure here is a
 * warning: the restore's own lock tries again.
 */
async function bringBackAfterKilledRun(environment: Environment, ctx: CommandContext): Promise<void> {
  try {
    await recoverLeftovers({
      environment,
      hostEnv: hostEnv(ctx.env),
      signal: ctx.cancellation.signal,
      onEvent: ctx.output.onEvent,
    });
  } catch (error) {
    // Another operation holds the lock (a live one): it owns the services now, and this restore could not
    // take the lock either — the refusal says who runs, and nothing was changed.
    if (ctx.cancellation.signal.aborted || isBackupError(error, "OPERATION_IN_PROGRESS")) throw error;
    ctx.output.warn(
      `could not bring back what a killed run of this restore request stopped (${(error as Error).message}): the next operation does it`,
    );
  }
}

/**
 * The archive a killed run of this request started with is gone since (a retention prune, deleted by hand).
 * No other archive is restored in its place: the request resolved that one, and a newer archive may be a
 * backup of what the killed run left (brought back by `bringBackAfterKilledRun`). The record is cleared, as
 * for any run that ended; the error names the archive.
 */
async function pinnedArchiveGone(
  environment: Environment,
  pinned: StartedRestore,
  store: BackupStore,
  cause: BackupError,
  ctx: CommandContext,
): Promise<BackupError> {
  await noteStartedRestore(environment, undefined, ctx);
  return new BackupError(
    "ARTIFACT_NOT_FOUND",
    `${pinned.name}, the archive a killed run of restore request ${pinned.requestId} started with (${pinned.startedAt}), is no longer in ${store.root}; nothing was restored`,
    {
      hint: "it was deleted since (a retention prune, by hand). To restore the latest archive now, run the restore again (chart: change restore.requestId); to restore that backup, restore a copy of it by name",
      cause,
    },
  );
}

/** The archive to restore; with --only-if-fresh and --latest, undefined (after saying so) when there is none. */
async function resolveOrNothing(
  cmd: Restore,
  ctx: CommandContext,
  pinned?: StartedRestore,
): Promise<{ store: BackupStore; name: string } | undefined> {
  try {
    return await resolveSource(cmd.source, cmd.global, ctx.output, pinned);
  } catch (error) {
    if (!(cmd.onlyIfFresh && cmd.source.kind === "latest" && isBackupError(error, "ARTIFACT_NOT_FOUND")))
      throw error;
    // A first install of a new deployment: there is no backup yet, which is not a failure.
    ctx.output.info(`nothing to restore: ${error.message}; the fresh deployment is left as it is`, {
      skip_reason: "no-archive",
    });
    ctx.output.result("", {
      command: "restore",
      dry_run: cmd.dryRun,
      skipped: true,
      skip_reason: "no-archive",
    });
    ctx.output.summary({ command: "restore", skipped: true, skip_reason: "no-archive" });
    return undefined;
  }
}

/** The record of this request when the deployment says it was restored already. */
async function alreadyRestored(
  environment: Environment,
  requestId: string,
): Promise<RestoreRecord | undefined> {
  if (environment.completedRestore) return environment.completedRestore(requestId);
  if (!environment.lastRestore) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `--request-id needs a deployment that records restores; the ${environment.kind} environment "${environment.name}" does not`,
      { hint: "leave --request-id (INFRAHUB_RESTORE_REQUEST_ID) unset here" },
    );
  }
  const last = await environment.lastRestore();
  return last?.requestId === requestId ? last : undefined;
}

/**
 * Records the completed request. The restore itself succeeded, so a failure here is a warning, not an
 * error — but it says the consequence: a re-created Job with the same request would restore again.
 */
async function recordRestore(
  environment: Environment,
  requestId: string,
  plan: { location: string; metadata: { backupId: string } },
  ctx: CommandContext,
): Promise<void> {
  try {
    await environment.recordRestore?.({
      requestId,
      completedAt: utcNowSeconds(),
      location: plan.location,
      backupId: plan.metadata.backupId,
    });
  } catch (error) {
    ctx.output.warn(
      `the restore completed, but it could not be recorded as request ${requestId} (${(error as Error).message}): a Job re-created with the same request would restore it again; set restore.enabled: false`,
    );
    // Recording it clears the run's started record too: left, a re-run would take this run for a killed one.
    await noteStartedRestore(environment, undefined, ctx);
  }
}
