import { BackupError, type ErrorCode } from "@infrahub-backup/core";

/** Byte counts in the CLI's output are written as the library writes them. */
export { formatBytes as humanBytes } from "@infrahub-backup/core";

/**
 * The code of a refused value: INVALID_ARGUMENT when it came from a flag (`--sleep`), INVALID_CONFIG when
 * from the environment (`INFRAHUB_SLEEP`).
 */
export function invalidCode(source: string): ErrorCode {
  return source.startsWith("-") ? "INVALID_ARGUMENT" : "INVALID_CONFIG";
}

/** A refused flag or env value: `invalid INFRAHUB_LOG_FORMAT "xml"` with a hint. */
export function invalidValue(source: string, message: string, hint?: string): BackupError {
  return new BackupError(invalidCode(source), message, hint === undefined ? {} : { hint });
}

const TRUE = new Set(["1", "t", "true", "y", "yes", "on"]);
const FALSE = new Set(["0", "f", "false", "n", "no", "off", ""]);

/** A boolean from an environment variable (Go's strconv.ParseBool set, plus yes/no/on/off). */
export function parseBool(value: string, source: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw invalidValue(source, `invalid boolean ${JSON.stringify(value)} in ${source}`, "use true or false");
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration (`5m`, `300s`, `1h30m`, `0`) in milliseconds, as upstream's `--sleep` takes. Negative
 * durations (which Go would accept) are refused: no flag of ours means anything by them.
 */
export function parseGoDuration(value: string, source: string): number {
  const v = value.trim();
  if (v === "0" || v === "") return 0;
  if (/^-/.test(v)) {
    throw invalidValue(
      source,
      `${source} must not be negative, got ${JSON.stringify(value)}`,
      "use a Go duration such as 300s, 5m or 1h30m (0 for none)",
    );
  }
  const body = v.replace(/^\+/, "");
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed !== body.length || consumed === 0) {
    throw invalidValue(
      source,
      `invalid duration ${JSON.stringify(value)} for ${source}`,
      "use a Go duration such as 300s, 5m or 1h30m",
    );
  }
  return Math.round(total);
}

/** A duration that must lie within [min, max] milliseconds (a timeout, say); `0` only if `min` is 0. */
export function parseBoundedDuration(value: string, source: string, min: number, max: number): number {
  const ms = parseGoDuration(value, source);
  if (ms < min || ms > max) {
    throw invalidValue(
      source,
      `${source} must be between ${formatDuration(min)} and ${formatDuration(max)}, got ${JSON.stringify(value)}`,
      "use a Go duration such as 500ms, 15s or 2m",
    );
  }
  return ms;
}

/** `5000` → "5s", `90000` → "1m30s", `86400000` → "24h" (Go-like). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join("");
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** A byte size: `16777216`, `16MiB`, `64M` (binary), `100MB` (decimal). */
export function parseSize(value: string, source: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) {
    throw invalidValue(
      source,
      `invalid size ${JSON.stringify(value)} for ${source}`,
      "use bytes or a unit, e.g. 16MiB",
    );
  }
  return Math.round(Number(m[1]) * unit);
}

/** A positive integer (retention, part counts), optionally at most `max`. */
export function parsePositiveInt(value: string | number, source: string, max?: number): number {
  const n = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 1 || (max !== undefined && n > max)) {
    throw invalidValue(
      source,
      max === undefined
        ? `${source} must be an integer ≥ 1, got ${JSON.stringify(value)}`
        : `${source} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`,
      max === undefined ? "give a whole number, 1 or more" : `give a whole number from 1 to ${max}`,
    );
  }
  return n;
}

/**
 * An archive's file mode, octal (`0600`, `640`, `0o640`): the owner reads and writes, nobody executes, no
 * special bits — an archive is data, and one its owner cannot read could not be restored.
 */
export function parseFileMode(value: string, source: string): number {
  const m = /^(?:0o?)?([0-7]{3})$/i.exec(value.trim());
  const mode = m ? Number.parseInt(m[1] as string, 8) : Number.NaN;
  if (Number.isNaN(mode) || (mode & 0o600) !== 0o600 || (mode & 0o111) !== 0) {
    throw invalidValue(
      source,
      `invalid ${source} ${JSON.stringify(value)}: an octal file mode in which the owner can read and write and nobody can execute`,
      "0600 (the default: the owner only) or 0640 (the directory's group may read)",
    );
  }
  return mode;
}
