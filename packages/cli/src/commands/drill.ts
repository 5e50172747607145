import { readFile } from "node:fs/promises";
import {
  BackupError,
  type DrillBackupResult,
  type DrillUserCheck,
  drillBackup,
  releaseDrillAgents,
  validateUserCheck,
} from "@infrahub-backup/core";
import type { DrillCommand } from "../drill-options.js";
import { loadDecryptKey, resolveSource } from "../stores.js";
import type { CommandContext } from "./context.js";

/**
 * `drill`: loads the archive into throwaway databases started for it, checks the data, removes them. Exit 0
 * only when every check passed or could not tell (`unknown`); a failed check is DRILL_CHECK_FAILED.
 */
export async function runDrill(cmd: DrillCommand, ctx: CommandContext): Promise<number> {
  if (cmd.exchangeDir === undefined) return await drill(cmd, ctx);
  try {
    return await drill(cmd, ctx);
  } finally {
    // The drill pod's agents wait for the CLI: whatever happened, they are told to stop, so the pod ends.
    await releaseDrillAgents(cmd.exchangeDir);
  }
}

async function drill(cmd: DrillCommand, ctx: CommandContext): Promise<number> {
  const { output } = ctx;
  if (cmd.neo4jHome === undefined && cmd.exchangeDir === undefined) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      "drill needs a Neo4j 5.26 installation to load the graph into",
      {
        hint: "give its NEO4J_HOME with --drill-neo4j-home or INFRAHUB_DRILL_NEO4J_HOME (in the chart's drill pod: --drill-exchange-dir)",
      },
    );
  }
  const checks = [...(await readChecksFile(cmd.checksFile)), ...cmd.checks];
  const { store, name } = await resolveSource(cmd.source, cmd.global, output);
  if (name.endsWith(".enc") && cmd.decryptKey === undefined) {
    throw new BackupError("ENCRYPTION_KEY_REQUIRED", `${name} is encrypted`, {
      hint: "give the private key with --decrypt-key or INFRAHUB_DECRYPT_KEY",
    });
  }
  const decryptKey = await loadDecryptKey(cmd.decryptKey);
  const result = await drillBackup({
    store,
    name,
    neo4j: {
      ...(cmd.neo4jHome !== undefined && cmd.exchangeDir === undefined ? { home: cmd.neo4jHome } : {}),
      startTimeoutMs: cmd.startTimeoutMs,
      ...(cmd.neo4jHeap ? { heap: cmd.neo4jHeap } : {}),
      ...(cmd.neo4jPageCache ? { pageCache: cmd.neo4jPageCache } : {}),
    },
    ...(cmd.pgBin && cmd.exchangeDir === undefined
      ? { postgres: { binDir: cmd.pgBin, ...(cmd.pgUser ? { osUser: cmd.pgUser } : {}) } }
      : {}),
    ...(decryptKey ? { decryptKey } : {}),
    excludeTaskManager: cmd.excludeTaskManager,
    checks,
    ...(cmd.workDir ? { workDir: cmd.workDir } : {}),
    ...(cmd.exchangeDir ? { exchange: { dir: cmd.exchangeDir, agentTimeoutMs: cmd.agentTimeoutMs } } : {}),
    signal: ctx.cancellation.signal,
    onEvent: output.onEvent,
  });
  const tally = (status: string) => result.checks.filter((c) => c.status === status).length;
  output.result(drillText(result), {
    command: "drill",
    location: result.location,
    ok: result.ok,
    backup_id: result.backupId,
    infrahub_version: result.infrahubVersion,
    postgres: result.postgres,
    checks: result.checks,
  });
  output.summary({
    command: "drill",
    location: result.location,
    ok: result.ok,
    passed: tally("passed"),
    failed: tally("failed"),
    unknown: tally("unknown"),
    durations: result.durations,
  });
  const failed = result.checks.filter((c) => c.status === "failed");
  if (failed.length > 0) {
    throw new BackupError(
      "DRILL_CHECK_FAILED",
      `${result.location}: the archive loads, but ${failed.length} check(s) failed: ${failed.map((c) => `${c.name} (${c.message})`).join("; ")}`,
      {
        hint: "the data restored from this backup is not what the checks expect: look at the source deployment and at the checks, then take a new backup and drill it",
        details: { failed },
      },
    );
  }
  return 0;
}

function drillText(result: DrillBackupResult): string {
  const width = Math.max(...result.checks.map((c) => c.name.length));
  return [
    `${result.location}: drill ${result.ok ? "passed" : "FAILED"}`,
    `  backup_id:        ${result.backupId}`,
    `  infrahub_version: ${result.infrahubVersion}`,
    `  postgres:         ${result.postgres === "loaded" ? "loaded" : result.postgres === "no-dump" ? "skipped (the archive has no task-manager database)" : "skipped (--exclude-taskmanager)"}`,
    ...result.checks.map((c) => `  ${c.status.padEnd(7)}  ${c.name.padEnd(width)}  ${c.message}`),
  ].join("\n");
}

/** The checks of a `--checks-file`: a JSON array of checks, or `{"checks": [...]}`. */
async function readChecksFile(path: string | undefined): Promise<DrillUserCheck[]> {
  if (path === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `cannot read the checks file ${path}: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'give a JSON file: [{"name": "devices", "cypher": "MATCH (n:InfraDevice) RETURN count(n)", "expect": 500}]',
      },
    );
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { checks?: unknown } | null)?.checks;
  if (!Array.isArray(list)) {
    throw new BackupError("INVALID_ARGUMENT", `the checks file ${path} holds no list of checks`, {
      hint: 'a JSON array of checks, or {"checks": [...]}',
    });
  }
  return list.map((check, i) => validateUserCheck(check, `${path}: check ${i + 1}`));
}
