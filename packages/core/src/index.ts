// Every seam's public surface in one import; each is also its own entry point
// (`@infrahub-backup/core/archive`, `/storage`, `/environment`, `/operations`, `/errors`).
export * from "./archive/index.js";
export * from "./environment/index.js";
export * from "./errors.js";
export * from "./operations/index.js";
export * from "./storage/index.js";
