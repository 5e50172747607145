/**
 * Archive file names (compat-reference §1.1): `infrahub_backup_<YYYYMMDD>_<HHMMSS>.tar.gz`, optionally
 * `.enc`. Listing, `latest` and retention consider only names of this form.
 */
export const ARCHIVE_NAME_PATTERN = /^infrahub_backup_(\d{8})_(\d{6})\.tar\.gz(\.enc)?$/;

/** An archive file name, parsed (`infrahub_backup_<YYYYMMDD>_<HHMMSS>.tar.gz[.enc]`). */
export interface ArchiveName {
  /** The whole name. */
  name: string;
  /** `YYYYMMDD_HHMMSS` exactly as in the name; sorts chronologically as a string. */
  stamp: string;
  /** True for `.tar.gz.enc`. */
  encrypted: boolean;
}

/** How a name's stamp is read: we write UTC; the upstream tool wrote host-local time. */
export type StampTimeZone = "utc" | "local";

/** Parses an archive name (a basename, not a path or key); `undefined` when it is not one. */
export function parseArchiveName(name: string): ArchiveName | undefined {
  const match = ARCHIVE_NAME_PATTERN.exec(name);
  if (!match) return undefined;
  const [, day, time, enc] = match as unknown as [string, string, string, string | undefined];
  if (stampParts(`${day}_${time}`) === undefined) return undefined;
  return { name, stamp: `${day}_${time}`, encrypted: enc !== undefined };
}

function stampParts(stamp: string): number[] | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/.exec(stamp);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  const [, month = 0, day = 0, hour = 0, minute = 0, second = 0] = parts;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  return parts;
}

/** The instant a stamp denotes, read in `zone` (default UTC). */
export function stampToDate(stamp: string, zone: StampTimeZone = "utc"): Date {
  const parts = stampParts(stamp);
  if (parts === undefined) throw new RangeError(`not an archive stamp: ${stamp}`);
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = parts;
  return zone === "utc" ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
}

/** The archive name for `date`, stamped in UTC (never host-local time: names must sort across hosts). */
export function formatArchiveName(date: Date, options: { encrypted?: boolean } = {}): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp =
    `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}_` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
  return `infrahub_backup_${stamp}.tar.gz${options.encrypted ? ".enc" : ""}`;
}

/** Newest first: by stamp, ties broken by name, both descending (upstream 2.x order). */
export function compareArchivesNewestFirst(a: ArchiveName, b: ArchiveName): number {
  if (a.stamp !== b.stamp) return a.stamp < b.stamp ? 1 : -1;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}
