export * from "./bolt-probe.js";
export * from "./credentials.js";
export * from "./cypher-shell.js";
export * from "./edition.js";
export * from "./enterprise.js";
export * from "./freeze.js";
export * from "./offline.js";
