export { isListening } from "./net.js";
export { freePort } from "./ports.js";
export type { ExitStatus, StartOptions } from "./process.js";
export { ManagedProcess, TESTKIT_MARKER, waitUntil } from "./process.js";
export type { TempDir } from "./temp.js";
export { tempDir } from "./temp.js";
export { postgresBin, repoRoot, toolDir, toolsDir, toolVersions } from "./toolchain.js";
