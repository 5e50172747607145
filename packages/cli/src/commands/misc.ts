import { BackupError, writeEncryptionKeyFiles } from "@infrahub-backup/core";
import { DETECTORS, selectEnvironment } from "../environment-select.js";
import type { ParsedCommand } from "../parse.js";
import type { CommandContext } from "./context.js";

type Cmd<C extends ParsedCommand["command"]> = Extract<ParsedCommand, { command: C }>;

export async function runKeygen(cmd: Cmd<"keygen">, ctx: CommandContext): Promise<number> {
  const pair = await writeEncryptionKeyFiles(cmd.output);
  ctx.output.info("Key pair generated", { private_key: cmd.output, public_key: `${cmd.output}.pub` });
  ctx.output.result(pair.publicKeyBase64, {
    command: "keygen",
    public_key: pair.publicKeyBase64,
    private_key_file: cmd.output,
  });
  return 0;
}

export async function runEnvironmentDetect(
  cmd: Cmd<"environment-detect">,
  ctx: CommandContext,
): Promise<number> {
  const environment = await selectEnvironment(cmd.global);
  ctx.output.info(`Detected ${environment.kind} environment (${environment.name})`);
  ctx.output.result("", { command: "environment detect", kind: environment.kind, name: environment.name });
  return 0;
}

export async function runEnvironmentList(
  _cmd: Cmd<"environment-list">,
  ctx: CommandContext,
): Promise<number> {
  const names: string[] = [];
  for (const detector of Object.values(DETECTORS)) names.push(...(await detector.list()));
  ctx.output.result(names.join("\n"), { command: "environment list", environments: names });
  return 0;
}

export async function runFromFiles(_cmd: Cmd<"create-from-files">, _ctx: CommandContext): Promise<number> {
  throw new BackupError(
    "INVALID_ARGUMENT",
    "create from-files is not supported by this version of infrahub-backup",
  );
}
