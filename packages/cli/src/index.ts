import { readFileSync } from "node:fs";
import { abortActiveUploads, BackupError, isBackupError } from "@infrahub-backup/core";
import { Cancellation } from "./cancellation.js";
import type { CommandContext } from "./commands/context.js";
import { exitCodeFor } from "./exit-codes.js";
import { runFailure, startMonitoredRun } from "./monitoring/monitored-run.js";
import type { HostEnvironment } from "./options.js";
import { Output } from "./output.js";
import { type ParsedCommand, parseCommandLine } from "./parse.js";

export { EXIT_CODES, exitCodeFor, exitStatusHelp } from "./exit-codes.js";
export type { ParsedCommand, ParseResult } from "./parse.js";
export { parseCommandLine } from "./parse.js";

declare const __CLI_VERSION__: string | undefined;

/** Version of this CLI package (inlined in the bundle). */
export function cliVersion(): string {
  if (typeof __CLI_VERSION__ === "string") return __CLI_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function dispatch(cmd: ParsedCommand, ctx: CommandContext): Promise<number> {
  switch (cmd.command) {
    case "version":
      ctx.output.result(ctx.version, { command: "version", version: ctx.version });
      return 0;
    case "create":
      return (await import("./commands/create.js")).runCreate(cmd, ctx);
    case "create-from-files":
      return (await import("./commands/misc.js")).runFromFiles(cmd, ctx);
    case "restore":
      return (await import("./commands/restore.js")).runRestore(cmd, ctx);
    case "verify":
      return (await import("./commands/storage-commands.js")).runVerify(cmd, ctx);
    case "drill":
      return (await import("./commands/drill.js")).runDrill(cmd, ctx);
    case "list":
      return (await import("./commands/storage-commands.js")).runList(cmd, ctx);
    case "prune":
      return (await import("./commands/storage-commands.js")).runPrune(cmd, ctx);
    case "keygen":
      return (await import("./commands/misc.js")).runKeygen(cmd, ctx);
    case "environment-detect":
      return (await import("./commands/misc.js")).runEnvironmentDetect(cmd, ctx);
    case "environment-list":
      return (await import("./commands/misc.js")).runEnvironmentList(cmd, ctx);
  }
}

function reportError(output: Output, error: unknown, code: number): void {
  const known = isBackupError(error);
  output.log("error", `Command failed: ${error instanceof Error ? error.message : String(error)}`);
  output.error({
    message: error instanceof Error ? error.message : String(error),
    code: known ? error.code : "INTERNAL",
    category: known ? error.category : "internal",
    exit_code: code,
    hint: known ? error.hint : undefined,
    details: known ? error.details : undefined,
    // Internal errors print the stack; user errors print message + hint.
    stack: known ? undefined : error instanceof Error ? error.stack : undefined,
  });
}

/** Entry point; returns the process exit code. */
export async function main(argv: readonly string[], env: HostEnvironment = process.env): Promise<number> {
  const version = cliVersion();
  // Before parsing succeeds, honour an explicit JSON log format so parse errors are JSON too.
  const flagIndex = argv.indexOf("--log-format");
  const formatFlag = argv.includes("--log-format=json") || (flagIndex >= 0 && argv[flagIndex + 1] === "json");
  const earlyFormat = formatFlag || (flagIndex < 0 && env.INFRAHUB_LOG_FORMAT === "json") ? "json" : "text";
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv, { env, cwd: process.cwd(), version });
  } catch (error) {
    const code = exitCodeFor(error);
    const output = new Output({ format: earlyFormat, level: "info" });
    if (earlyFormat === "json") reportError(output, error, code);
    else {
      process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
      if (isBackupError(error) && error.hint) process.stderr.write(`Hint: ${error.hint}\n`);
    }
    return code;
  }
  if (parsed.kind === "output") {
    process.stdout.write(parsed.text.endsWith("\n") ? parsed.text : `${parsed.text}\n`);
    return 0;
  }
  const cmd = parsed.command;
  const interval = Number(env.INFRAHUB_PROGRESS_INTERVAL);
  const output = new Output({
    format: cmd.global.logFormat,
    level: cmd.global.logLevel,
    ...(interval > 0 ? { progressIntervalMs: interval * 1000 } : {}),
  });
  const cancellation = new Cancellation();
  if (
    cmd.command === "create" ||
    cmd.command === "restore" ||
    cmd.command === "verify" ||
    cmd.command === "drill"
  )
    output.startHeartbeat();
  const monitored = startMonitoredRun(cmd, output);
  try {
    const code = await dispatch(cmd, {
      output,
      env,
      cancellation,
      version,
      stdin: process.stdin,
      ...(monitored ? { run: monitored.record } : {}),
    });
    const signal = cancellation.fired;
    // The work was done before the signal could stop it (e.g. the archive was committed): that is the truth.
    if (signal !== undefined) output.log("warn", `received ${signal} after the ${cmd.command} had completed`);
    await monitored?.publish();
    return code;
  } catch (error) {
    const signal = cancellation.fired;
    // Every operation removes its own unfinished uploads; this sweep only catches what a step without a
    // signal may have left open.
    if (signal) await abortActiveUploads(new Error(`received ${signal}`));
    // The operation's own statement (per database, services) is the message; a cancellation that changed
    // nothing exits 130/143, one that left something changed or down keeps that code (8).
    const cancelled = signal !== undefined && !(isBackupError(error) && error.category === "partial");
    const code = cancelled ? (cancellation.exitCode ?? 130) : exitCodeFor(error);
    const reported =
      !cancelled || isBackupError(error, "CANCELLED")
        ? error
        : new BackupError(
            "CANCELLED",
            `cancelled by ${signal}: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    reportError(output, reported, code);
    await monitored?.publish(runFailure(reported, code), signal !== undefined);
    return code;
  } finally {
    output.close();
    cancellation.dispose();
  }
}
