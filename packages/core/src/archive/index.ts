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
export { evaluateChecksums, normalizeEntryName, readArchive, verifyArchive } from "./archive-reader.js";
export type { ArchiveSink, SinkCommit } from "./archive-sink.js";
export type {
  AddFileOptions,
  ArchiveWriteResult,
  ArchiveWriterOptions,
  EntryCompression,
  MetadataInput,
  WrittenEntry,
} from "./archive-writer.js";
export {
  ARCHIVE_ROOT,
  ArchiveWriter,
  checkEntryPath,
  chooseCompression,
  METADATA_FILE,
} from "./archive-writer.js";
export type { BackupComponent, BackupMetadata } from "./backup-metadata.js";
export {
  formatCreatedAt,
  includesTaskManager,
  MAX_METADATA_BYTES,
  METADATA_VERSION,
  parseBackupMetadata,
  serializeBackupMetadata,
  validateMetadataForWrite,
} from "./backup-metadata.js";
export type { ArchiveFormat, EncryptingSinkOptions, GeneratedKeyPair } from "./encryption.js";
export {
  decryptStream,
  detectArchiveFormat,
  ECIES_CHUNK_SIZE,
  EncryptingSink,
  generateEncryptionKeyPair,
  OPSMILL_PUBLIC_KEY,
  parsePrivateKey,
  parsePublicKey,
  publicKeyToBase64,
  writeEncryptionKeyFiles,
} from "./encryption.js";
export { extractArchive } from "./extract-archive.js";
