import { BackupError } from "@infrahub-backup/core";

const TRUE = new Set(["1", "t", "true", "y", "yes", "on"]);
const FALSE = new Set(["0", "f", "false", "n", "no", "off", ""]);

/** A boolean from an environment variable (Go's strconv.ParseBool set, plus yes/no/on/off). */
export function parseBool(value: string, source: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new BackupError("INVALID_ARGUMENT", `invalid boolean ${JSON.stringify(value)} in ${source}`, {
    hint: "use true or false",
  });
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

/** A Go duration (`5m`, `300s`, `1h30m`, `0`) in milliseconds, as upstream's `--sleep` takes. */
export function parseGoDuration(value: string, source: string): number {
  const v = value.trim();
  if (v === "0" || v === "") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed !== v.length || consumed === 0) {
    throw new BackupError("INVALID_ARGUMENT", `invalid duration ${JSON.stringify(value)} for ${source}`, {
      hint: "use a Go duration such as 300s, 5m or 1h30m",
    });
  }
  return Math.round(total);
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
    throw new BackupError("INVALID_ARGUMENT", `invalid size ${JSON.stringify(value)} for ${source}`, {
      hint: "use bytes or a unit, e.g. 16MiB",
    });
  }
  return Math.round(Number(m[1]) * unit);
}

/** A positive integer (retention, part counts). */
export function parsePositiveInt(value: string | number, source: string): number {
  const n = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 1) {
    throw new BackupError(
      "INVALID_ARGUMENT",
      `${source} must be an integer ≥ 1, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
