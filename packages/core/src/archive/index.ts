// The archive seam's public surface: write an archive into a sink, verify one, and the encryption keys.
// Everything else in this folder is internal (see the API report, packages/core/api/).
export type {
  ArchiveEntryReport,
  ArchiveFileEntry,
  ArchiveProblem,
  ArchiveReport,
  ChecksumResult,
  ChecksumStatus,
  EntryDigest,
  ReadArchiveOptions,
} from "./archive-reader.js";
export { verifyArchive } from "./archive-reader.js";
export type { ArchiveSink, SinkCommit } from "./archive-sink.js";
export type {
  AddFileOptions,
  ArchiveWriteResult,
  ArchiveWriterOptions,
  EntryCompression,
  MetadataInput,
  WrittenEntry,
} from "./archive-writer.js";
export { ArchiveWriter } from "./archive-writer.js";
export type { BackupComponent, BackupMetadata, Neo4jEdition } from "./backup-metadata.js";
export type { GeneratedKeyPair } from "./encryption.js";
export {
  OPSMILL_PUBLIC_KEY,
  parsePrivateKey,
  parsePublicKey,
  writeEncryptionKeyFiles,
} from "./encryption.js";
