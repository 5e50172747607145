import { createBackupFromFiles, writeEncryptionKeyFiles } from "@infrahub-backup/core";
import { DETECTORS, selectEnvironment } from "../environment-select.js";
import type { ParsedCommand } from "../parse.js";
import { loadEncryptKey, localStore } from "../stores.js";
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

export async function runFromFiles(cmd: Cmd<"create-from-files">, ctx: CommandContext): Promise<number> {
  const encryptTo = await loadEncryptKey(cmd.encrypt, cmd.encryptKey);
  const store = localStore(cmd.global.backupDir, cmd.archiveMode);
  const result = await createBackupFromFiles({
    store,
    toolVersion: ctx.version,
    neo4jPath: cmd.neo4jPath,
    ...(cmd.postgresPath !== undefined ? { postgresPath: cmd.postgresPath } : {}),
    ...(cmd.neo4jEdition !== undefined ? { neo4jEdition: cmd.neo4jEdition } : {}),
    ...(cmd.infrahubVersion !== undefined ? { infrahubVersion: cmd.infrahubVersion } : {}),
    ...(encryptTo ? { encryptTo } : {}),
    signal: ctx.cancellation.signal,
  });
  ctx.output.info("Backup created successfully", {
    path: result.location,
    filename: result.name,
    size_bytes: result.size,
    neo4j_edition: result.metadata.neo4jEdition,
  });
  ctx.output.result(result.location, {
    command: "create from-files",
    name: result.name,
    location: result.location,
    size: result.size,
  });
  return 0;
}
