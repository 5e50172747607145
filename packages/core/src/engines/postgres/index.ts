export * from "./credentials.js";
export * from "./postgres-engine.js";
