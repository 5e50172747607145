import { BackupError } from "../errors.js";

/** The `metadata_version` this tool writes (upstream v1.0.0 → 2.x). */
export const METADATA_VERSION = 2025111200;
/** Largest `backup_information.json` the reader accepts (upstream files are well under 2 KiB). */
export const MAX_METADATA_BYTES = 1024 * 1024;

/** The Neo4j edition a backup was taken from: Community (offline dump) or Enterprise (online backup). */
export type Neo4jEdition = "community" | "enterprise";
/** `artifacts` appears in v0.0.1–v0.0.6 archives although nothing was stored for it. */
export type BackupComponent = "database" | "task-manager-db" | "artifacts";

/** `backup/backup_information.json`, in upstream field order (compat-reference §1.4). */
export interface BackupMetadata {
  /** Schema version (`metadata_version`); this tool writes METADATA_VERSION. */
  metadataVersion: number;
  /** Upstream's id of the backup: the archive name's timestamp part. */
  backupId: string;
  /** RFC 3339 UTC, whole seconds, e.g. `2026-01-30T09:20:31Z`. */
  createdAt: string;
  /** Version of the tool that wrote the archive. */
  toolVersion: string;
  /** Version of Infrahub that was backed up. */
  infrahubVersion: string;
  /** What the archive holds: `database` (Neo4j) and, unless excluded, `task-manager-db` (PostgreSQL). */
  components: string[];
  /** Keys relative to `backup/` with `/` (`database/neo4j.dump`, `prefect.dump`); lowercase hex SHA-256. */
  checksums: Record<string, string>;
  /** Edition of the Neo4j that was backed up; absent in archives of upstream before v1.0. */
  neo4jEdition?: Neo4jEdition;
  /** True when attribute values were replaced before the backup (`--redact`). */
  redacted?: boolean;
  /** True when the archive is ECIES-encrypted. */
  encrypted?: boolean;
  /** 2.x additive keys. */
  sourceEndpoints?: Record<string, string[]>;
  /** Per database: the roles of the source deployment (2.x). */
  sourceRoles?: Record<string, Record<string, string>>;
  /** Per component: whether its data lived outside the deployment (2.x). */
  externalLocation?: Record<string, boolean>;
  /** Absent means complete; `false` is refused on read. */
  captureComplete?: boolean;
  /** Unknown keys found on read (ignored, kept for reporting). Never written. */
  unknownKeys?: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const CREATED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function invalid(message: string): BackupError {
  return new BackupError("METADATA_INVALID", `invalid backup metadata: ${message}`, {
    hint: "backup/backup_information.json is not a valid infrahub-backup metadata file",
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, key: string): Record<string, string> {
  if (!isPlainObject(value)) throw invalid(`${key} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw invalid(`${key}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

/** Normalises a checksum key: upstream writes the OS separator, so a Windows build wrote `\`. */
export function normalizeChecksumKey(key: string): string {
  return key.replaceAll("\\", "/");
}

const KNOWN_KEYS = new Set([
  "metadata_version",
  "backup_id",
  "created_at",
  "tool_version",
  "infrahub_version",
  "components",
  "checksums",
  "neo4j_edition",
  "redacted",
  "encrypted",
  "source_endpoints",
  "source_roles",
  "external_location",
  "capture_complete",
]);

/**
 * Parses and validates metadata read from an archive, with upstream's tolerance (§1.5): optional and
 * unknown keys may be missing or present; `metadata_version` is not interpreted. Throws
 * `METADATA_INVALID` for non-JSON or wrongly typed fields, `CAPTURE_INCOMPLETE` for
 * `capture_complete: false`.
 */
export function parseBackupMetadata(bytes: Uint8Array | string): BackupMetadata {
  if (typeof bytes !== "string" && bytes.length > MAX_METADATA_BYTES) {
    throw new BackupError("METADATA_TOO_LARGE", `backup metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  }
  let text: string;
  try {
    text = typeof bytes === "string" ? bytes : new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid("not UTF-8");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BackupError("METADATA_INVALID", "backup metadata is not valid JSON", { cause: error });
  }
  if (!isPlainObject(raw)) throw invalid("not a JSON object");

  const optionalString = (key: string): string => {
    const v = raw[key];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") throw invalid(`${key} must be a string`);
    return v;
  };
  const optionalBool = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") throw invalid(`${key} must be a boolean`);
    return v;
  };

  const version = raw.metadata_version;
  if (version !== undefined && (typeof version !== "number" || !Number.isInteger(version))) {
    throw invalid("metadata_version must be an integer");
  }
  let components: string[] = [];
  if (raw.components !== undefined && raw.components !== null) {
    if (!Array.isArray(raw.components) || raw.components.some((c) => typeof c !== "string")) {
      throw invalid("components must be an array of strings");
    }
    components = raw.components as string[];
  }
  const checksums: Record<string, string> = {};
  if (raw.checksums !== undefined && raw.checksums !== null) {
    for (const [key, value] of Object.entries(stringMap(raw.checksums, "checksums"))) {
      const hex = value.toLowerCase();
      if (!HEX64.test(hex)) throw invalid(`checksum for ${key} is not a SHA-256 hex digest`);
      const normalized = normalizeChecksumKey(key);
      if (normalized in checksums) throw invalid(`duplicate checksum key ${key}`);
      checksums[normalized] = hex;
    }
  }
  const metadata: BackupMetadata = {
    metadataVersion: typeof version === "number" ? version : 0,
    backupId: optionalString("backup_id"),
    createdAt: optionalString("created_at"),
    toolVersion: optionalString("tool_version"),
    infrahubVersion: optionalString("infrahub_version"),
    components,
    checksums,
  };
  const edition = optionalString("neo4j_edition").toLowerCase();
  if (edition !== "") {
    if (edition !== "community" && edition !== "enterprise")
      throw invalid(`unknown neo4j_edition ${edition}`);
    metadata.neo4jEdition = edition;
  }
  const redacted = optionalBool("redacted");
  if (redacted !== undefined) metadata.redacted = redacted;
  const encrypted = optionalBool("encrypted");
  if (encrypted !== undefined) metadata.encrypted = encrypted;
  if (raw.source_endpoints !== undefined) {
    if (!isPlainObject(raw.source_endpoints)) throw invalid("source_endpoints must be an object");
    const out: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(raw.source_endpoints)) {
      if (!Array.isArray(v) || v.some((e) => typeof e !== "string")) {
        throw invalid(`source_endpoints.${k} must be an array of strings`);
      }
      out[k] = v as string[];
    }
    metadata.sourceEndpoints = out;
  }
  if (raw.source_roles !== undefined) {
    if (!isPlainObject(raw.source_roles)) throw invalid("source_roles must be an object");
    const out: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(raw.source_roles)) out[k] = stringMap(v, `source_roles.${k}`);
    metadata.sourceRoles = out;
  }
  if (raw.external_location !== undefined) {
    if (!isPlainObject(raw.external_location)) throw invalid("external_location must be an object");
    const out: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(raw.external_location)) {
      if (typeof v !== "boolean") throw invalid(`external_location.${k} must be a boolean`);
      out[k] = v;
    }
    metadata.externalLocation = out;
  }
  const complete = optionalBool("capture_complete");
  if (complete !== undefined) metadata.captureComplete = complete;
  const unknown = Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) metadata.unknownKeys = unknown;
  if (complete === false) {
    throw new BackupError("CAPTURE_INCOMPLETE", "the backup is marked incomplete (capture_complete: false)", {
      hint: "an incomplete capture cannot be restored; use another backup",
      details: { backupId: metadata.backupId },
    });
  }
  return metadata;
}

/** Whether the archive claims a task-manager (PostgreSQL) dump: upstream's rule (§1.5). */
export function includesTaskManager(metadata: BackupMetadata): boolean {
  return metadata.components.includes("task-manager-db") || "prefect.dump" in metadata.checksums;
}

/** Strict validation of metadata this tool is about to write. */
export function validateMetadataForWrite(metadata: BackupMetadata): void {
  if (!Number.isInteger(metadata.metadataVersion) || metadata.metadataVersion <= 0) {
    throw invalid("metadataVersion must be a positive integer");
  }
  if (metadata.backupId === "") throw invalid("backupId is required");
  if (!CREATED_AT.test(metadata.createdAt) || Number.isNaN(Date.parse(metadata.createdAt))) {
    throw invalid(`createdAt must be RFC 3339 UTC with whole seconds, got ${metadata.createdAt}`);
  }
  if (!metadata.components.includes("database")) throw invalid("components must include database");
  for (const c of metadata.components) {
    if (c !== "database" && c !== "task-manager-db" && c !== "artifacts") {
      throw invalid(`unknown component ${c}`);
    }
  }
  for (const [key, value] of Object.entries(metadata.checksums)) {
    if (key.includes("\\") || key.startsWith("/") || key.split("/").includes("..")) {
      throw invalid(`bad checksum key ${key}`);
    }
    if (!HEX64.test(value)) throw invalid(`checksum for ${key} is not lowercase SHA-256 hex`);
  }
  if (metadata.neo4jEdition !== undefined && !["community", "enterprise"].includes(metadata.neo4jEdition)) {
    throw invalid(`unknown neo4jEdition ${metadata.neo4jEdition}`);
  }
  if (metadata.captureComplete === false) throw invalid("refusing to write an incomplete capture");
}

function sortedObject<T>(value: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(value).sort()) out[key] = value[key] as T;
  return out;
}

/**
 * Serialises like Go's `json.MarshalIndent(v, "", "    ")`: upstream field order, omitempty fields
 * dropped, map keys sorted, `<`, `>`, `&`, U+2028/2029 escaped as Go does.
 */
export function serializeBackupMetadata(metadata: BackupMetadata): string {
  validateMetadataForWrite(metadata);
  const out: Record<string, unknown> = {
    metadata_version: metadata.metadataVersion,
    backup_id: metadata.backupId,
    created_at: metadata.createdAt,
    tool_version: metadata.toolVersion,
    infrahub_version: metadata.infrahubVersion,
    components: metadata.components,
  };
  if (Object.keys(metadata.checksums).length > 0) out.checksums = sortedObject(metadata.checksums);
  if (metadata.neo4jEdition) out.neo4j_edition = metadata.neo4jEdition;
  if (metadata.redacted) out.redacted = true;
  if (metadata.encrypted) out.encrypted = true;
  if (metadata.sourceEndpoints) out.source_endpoints = sortedObject(metadata.sourceEndpoints);
  if (metadata.sourceRoles) {
    const roles: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(sortedObject(metadata.sourceRoles))) roles[k] = sortedObject(v);
    out.source_roles = roles;
  }
  if (metadata.externalLocation) out.external_location = sortedObject(metadata.externalLocation);
  if (metadata.captureComplete !== undefined) out.capture_complete = metadata.captureComplete;
  return JSON.stringify(out, null, 4).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** RFC 3339 UTC with whole seconds, as in `created_at`. */
export function formatCreatedAt(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
