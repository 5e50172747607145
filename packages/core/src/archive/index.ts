export type { ArchiveSink, SinkCommit } from "./archive-sink.js";
