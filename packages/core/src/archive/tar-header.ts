import { BackupError } from "../errors.js";

/** One tar block. Headers, padding and the end-of-archive marker are all multiples of it. */
export const TAR_BLOCK = 512;

/** Largest size the 11-digit octal field holds; larger sizes use GNU base-256. */
export const MAX_OCTAL_SIZE = 8 ** 11 - 1;

export type TarEntryType = "file" | "directory";

export interface TarHeaderInput {
  /** Full entry name, forward slashes, no trailing slash for directories (upstream style). */
  name: string;
  type: TarEntryType;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  mode?: number;
}

const encoder = new TextEncoder();

/** A value the caller gave for an entry (name, mode, mtime, size) that no tar header can hold. */
function fieldError(problem: string, value: string | number): BackupError {
  return new BackupError("INVALID_ARGUMENT", `archive entry value ${JSON.stringify(value)} ${problem}`, {
    details: { value },
  });
}

function writeString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw fieldError(`does not fit a tar header field of ${length} bytes`, value);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  // length-1 digits then NUL, as GNU tar and Go write them.
  if (!Number.isSafeInteger(value) || value < 0) throw fieldError("is not a whole number ≥ 0", value);
  const digits = value.toString(8).padStart(length - 1, "0");
  if (digits.length > length - 1) throw fieldError(`does not fit ${length - 1} octal digits`, value);
  writeString(block, offset, length - 1, digits);
  block[offset + length - 1] = 0;
}

/** GNU base-256: first byte 0x80, then the value big-endian in the remaining bytes. */
export function writeBase256(block: Uint8Array, offset: number, length: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw fieldError("is not a size from 0 to 2^53 - 1", value);
  block.fill(0, offset, offset + length);
  let rest = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    block[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  block[offset] = 0x80;
}

function splitName(name: string): { name: string; prefix: string } | undefined {
  const bytes = encoder.encode(name);
  if (bytes.length <= 100) return { name, prefix: "" };
  // USTAR prefix split at a slash: prefix ≤ 155 bytes, name ≤ 100 bytes.
  for (let i = name.lastIndexOf("/"); i > 0; i = name.lastIndexOf("/", i - 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100 && rest.length > 0) {
      return { name: rest, prefix };
    }
  }
  return undefined;
}

/**
 * Encodes one 512-byte header. USTAR normally; when the size exceeds the octal field, the GNU magic and a
 * base-256 size so the header stays one block (GNU tar, Python `tarfile` and Go all read it).
 */
export function encodeTarHeader(input: TarHeaderInput): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  const gnu = input.size > MAX_OCTAL_SIZE;
  const split = splitName(input.name);
  if (split === undefined || (gnu && split.prefix !== "")) {
    throw new BackupError("INVALID_ARGUMENT", `archive entry name too long: ${input.name}`);
  }
  writeString(block, 0, 100, split.name);
  writeOctal(block, 100, 8, input.mode ?? (input.type === "directory" ? 0o755 : 0o644));
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  if (gnu) writeBase256(block, 124, 12, input.size);
  else writeOctal(block, 124, 12, input.size);
  writeOctal(block, 136, 12, Math.max(0, Math.floor(input.mtime)));
  block.fill(0x20, 148, 156);
  block[156] = input.type === "directory" ? 0x35 : 0x30;
  if (gnu) {
    writeString(block, 257, 8, "ustar  \0");
  } else {
    writeString(block, 257, 6, "ustar\0");
    writeString(block, 263, 2, "00");
  }
  writeString(block, 345, 155, split.prefix);
  writeChecksum(block);
  return block;
}

export function writeChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i] as number;
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
}

export interface RawTarHeader {
  name: string;
  /** The type flag character ("0", "5", "x", "L", …); "\0" is reported as "0". */
  typeflag: string;
  size: number;
  mode: number;
  mtime: number;
  linkname: string;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/** Parses a numeric field: octal (space/NUL padded) or GNU base-256. Returns NaN when malformed. */
export function readNumeric(block: Uint8Array, offset: number, length: number): number {
  const first = block[offset] as number;
  if (first & 0x80) {
    if (first === 0xff) return Number.NaN; // negative base-256: never valid for our fields
    let value = BigInt(first & 0x7f);
    for (let i = offset + 1; i < offset + length; i++) value = (value << 8n) | BigInt(block[i] as number);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
  }
  const text = readString(block, offset, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return Number.parseInt(text, 8);
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Validates the checksum (unsigned, or the signed variant some old tars wrote) and decodes the fields. */
export function decodeTarHeader(block: Uint8Array): RawTarHeader {
  const stored = readNumeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (Number.isNaN(stored) || (stored !== unsigned && stored !== signed)) {
    throw new BackupError("ARCHIVE_CORRUPT", "tar header checksum mismatch (corrupt archive)");
  }
  const magic = readString(block, 257, 6);
  let name = readString(block, 0, 100);
  if (magic === "ustar") {
    // USTAR prefix; the GNU magic ("ustar  ") uses these bytes for other fields.
    const isGnu = block[262] === 0x20;
    const prefix = isGnu ? "" : readString(block, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  const size = readNumeric(block, 124, 12);
  const mode = readNumeric(block, 100, 8);
  const mtime = readNumeric(block, 136, 12);
  // uid, gid, devmajor and devminor are not used, but Python's tarfile refuses a header where any of
  // them does not parse (Go's archive/tar, for the ones it reads), so ours refuses it too.
  const unused = [
    readNumeric(block, 108, 8),
    readNumeric(block, 116, 8),
    readNumeric(block, 329, 8),
    readNumeric(block, 337, 8),
  ];
  if ([size, mode, mtime, ...unused].some(Number.isNaN)) {
    throw new BackupError("ARCHIVE_CORRUPT", `malformed tar header for ${JSON.stringify(name)}`);
  }
  const flag = String.fromCharCode(block[156] as number);
  return {
    name,
    typeflag: flag === "\0" ? "0" : flag,
    size,
    mode,
    mtime,
    linkname: readString(block, 157, 100),
  };
}

/** Parses PAX extended header records (`"<len> <key>=<value>\n"`). */
export function parsePaxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw new BackupError("ARCHIVE_CORRUPT", "malformed PAX header");
    const length = Number.parseInt(decoder.decode(data.subarray(pos, space)), 10);
    if (!Number.isSafeInteger(length) || length <= space - pos || pos + length > data.length) {
      throw new BackupError("ARCHIVE_CORRUPT", "malformed PAX header record");
    }
    const record = decoder.decode(data.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf("=");
    if (eq === -1 || data[pos + length - 1] !== 0x0a) {
      throw new BackupError("ARCHIVE_CORRUPT", "malformed PAX header record");
    }
    records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}
