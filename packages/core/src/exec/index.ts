export type { CommandOptions, StreamingCommand } from "./command.js";
export { commandFailure, runCommand, streamCommand } from "./command.js";
export type { ComposeExecutorOptions } from "./compose-executor.js";
export { ComposeExecutor, composeExecArgv } from "./compose-executor.js";
export type { ExecRequest, ExecResult, Executor } from "./executor.js";
export type { LocalExecutorOptions } from "./local-executor.js";
export { LocalExecutor } from "./local-executor.js";
export { redact, secretValues } from "./redact.js";
