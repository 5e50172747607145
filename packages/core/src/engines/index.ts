export * from "./neo4j/index.js";
export * from "./postgres/index.js";
