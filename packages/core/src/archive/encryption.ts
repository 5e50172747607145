import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { BackupError } from "../errors.js";
import type { ArchiveSink, SinkCommit } from "./archive-sink.js";
import { ByteReader } from "./byte-reader.js";
import { asBuffers } from "./bytes.js";

/**
 * Upstream's "ECIES v2 chunked" container (compat-reference §1.8): an 86-byte header (version 0x02,
 * ephemeral P-256 point, chunk size, plaintext size, chunk count; big-endian), then per chunk a 12-byte
 * IV, a 4-byte ciphertext length and AES-256-GCM ciphertext+tag. Key = HKDF-SHA256(ECDH X coordinate,
 * salt 32 zero bytes, info "opsmill-upload-ecies").
 */
export const ECIES_VERSION = 0x02;
export const ECIES_HEADER_LENGTH = 86;
/** Upstream always uses 4 MiB chunks; the decrypter accepts up to {@link MAX_CHUNK_SIZE}. */
export const ECIES_CHUNK_SIZE = 4 * 1024 * 1024;
/** Largest chunk the decrypter buffers (memory bound of decryption). */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
const HKDF_INFO = Buffer.from("opsmill-upload-ecies", "ascii");
const HKDF_SALT = Buffer.alloc(32);
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** OpsMill's built-in public key, used by `--encrypt` without `--encrypt-key`. */
export const OPSMILL_PUBLIC_KEY =
  "BGa4rFkHUGHIW4BscM7U5A/wnQlkN8CMUohu18sTC/qLEztz8Cm01YiyaRmrauCZK02gYJp51i+4GE9VAqzWF70=";

export type ArchiveFormat = "gzip" | "encrypted";

/** Detects the container by its first byte (0x02 encrypted, 0x1f gzip), like upstream. */
export function detectArchiveFormat(firstByte: number | undefined): ArchiveFormat {
  if (firstByte === ECIES_VERSION) return "encrypted";
  if (firstByte === 0x1f) return "gzip";
  if (firstByte === undefined) {
    throw new BackupError("ARCHIVE_TRUNCATED", "archive is empty");
  }
  throw new BackupError(
    "ARCHIVE_NOT_GZIP",
    `unrecognized file format: first byte 0x${firstByte.toString(16).padStart(2, "0")}`,
    { hint: "expected a .tar.gz archive or an encrypted .tar.gz.enc" },
  );
}

function keyInvalid(message: string, cause?: unknown): BackupError {
  return new BackupError("ENCRYPTION_KEY_INVALID", message, cause === undefined ? {} : { cause });
}

function pointToKey(point: Uint8Array): KeyObject {
  if (point.length !== 65 || point[0] !== 0x04) throw new Error("not an uncompressed P-256 point");
  return createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: Buffer.from(point.subarray(1, 33)).toString("base64url"),
      y: Buffer.from(point.subarray(33, 65)).toString("base64url"),
    },
    format: "jwk",
  });
}

function keyToPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "P-256" || jwk.x === undefined || jwk.y === undefined) throw new Error("not a P-256 key");
  return Buffer.concat([Buffer.of(0x04), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
}

/** Parses a public key file: base64 of the raw 65-byte point (upstream format); PEM SPKI also accepted. */
export function parsePublicKey(text: string | Uint8Array): KeyObject {
  const value = (typeof text === "string" ? text : Buffer.from(text).toString("utf8")).trim();
  try {
    if (value.startsWith("-----BEGIN")) {
      const key = createPublicKey(value);
      keyToPoint(key);
      return key;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new Error("not base64");
    return pointToKey(Buffer.from(value, "base64"));
  } catch (error) {
    throw keyInvalid("invalid public key: expected the base64 of an uncompressed P-256 point", error);
  }
}

/** Parses a private key file: PKCS#8 PEM (`PRIVATE KEY`) EC P-256 key; SEC1 `EC PRIVATE KEY` also accepted. */
export function parsePrivateKey(text: string | Uint8Array): KeyObject {
  try {
    const key = createPrivateKey(typeof text === "string" ? text : Buffer.from(text));
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error("not a P-256 EC key");
    }
    return key;
  } catch (error) {
    throw keyInvalid("invalid private key: expected a PKCS#8 PEM P-256 EC key", error);
  }
}

/** The base64 raw public point for a key (without newline). */
export function publicKeyToBase64(key: KeyObject): string {
  return keyToPoint(key.type === "private" ? createPublicKey(key) : key).toString("base64");
}

/** A new P-256 key pair for archive encryption, in the files' formats. */
export interface GeneratedKeyPair {
  /** PKCS#8 PEM; write with mode 0600. */
  privateKeyPem: string;
  /** Content of the `.pub` file: base64 raw point plus a newline (upstream `keygen`). */
  publicKeyFile: string;
  /** The public key as base64 of its raw uncompressed point (what `--encrypt-key` takes). */
  publicKeyBase64: string;
}

/** Generates a P-256 key pair for encrypting archives (upstream ECIES v2); nothing is written. */
export function generateEncryptionKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const publicKeyBase64 = keyToPoint(publicKey).toString("base64");
  return {
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKeyFile: `${publicKeyBase64}\n`,
    publicKeyBase64,
  };
}

/**
 * `keygen`: writes the PKCS#8 PEM private key to `path` (mode 0600) and the base64 public key plus a
 * newline to `<path>.pub` (mode 0644), like upstream. Never replaces an existing file (`ARTIFACT_EXISTS`).
 */
export async function writeEncryptionKeyFiles(path: string): Promise<GeneratedKeyPair> {
  const pair = generateEncryptionKeyPair();
  const written: string[] = [];
  try {
    for (const [file, content, mode] of [
      [path, pair.privateKeyPem, 0o600],
      [`${path}.pub`, pair.publicKeyFile, 0o644],
    ] as const) {
      await writeFile(file, content, { flag: "wx", mode });
      written.push(file);
    }
  } catch (error) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new BackupError(
        "ARTIFACT_EXISTS",
        `refusing to overwrite key file ${(error as NodeJS.ErrnoException).path ?? path}`,
      );
    throw new BackupError("STORAGE_FAILED", `cannot write key files at ${path}`, { cause: error });
  }
  return pair;
}

function deriveKey(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  const secret = diffieHellman({ privateKey, publicKey });
  return Buffer.from(hkdfSync("sha256", secret, HKDF_SALT, HKDF_INFO, 32));
}

function decryptionFailed(message: string, cause?: unknown): BackupError {
  return new BackupError("DECRYPTION_FAILED", message, {
    ...(cause === undefined ? {} : { cause }),
    hint: "check that --decrypt-key is the private key matching the key used at backup time",
  });
}

function encTruncated(): BackupError {
  return new BackupError("ARCHIVE_TRUNCATED", "encrypted archive is truncated", {
    hint: "the file is incomplete: check that the upload or download finished",
  });
}

/**
 * Decrypts the container as a stream. Memory: one chunk (4 MiB upstream). Plaintext of a chunk is only
 * emitted after its GCM tag verified; the chunk count, plaintext size and end of input are checked before
 * the last chunk is emitted — a size mismatch is an error here (upstream only warns).
 */
export async function* decryptStream(
  source: AsyncIterable<unknown>,
  privateKey: KeyObject,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const reader = new ByteReader(asBuffers(source, "archive sources"), signal);
  try {
    const header = await reader.readExact(ECIES_HEADER_LENGTH, "encryption header").catch((e: unknown) => {
      throw isTruncation(e) ? encTruncated() : e;
    });
    if (header === undefined) throw encTruncated();
    if (header[0] !== ECIES_VERSION) {
      throw decryptionFailed(`unsupported encryption container version 0x${header[0]?.toString(16)}`);
    }
    let ephemeral: KeyObject;
    try {
      ephemeral = pointToKey(header.subarray(1, 66));
    } catch (error) {
      throw decryptionFailed("corrupt encryption header (bad ephemeral key)", error);
    }
    const chunkSize = header.readUInt32BE(66);
    const plainSize = header.readBigUInt64BE(70);
    const count = header.readBigUInt64BE(78);
    if (chunkSize === 0 || chunkSize > MAX_CHUNK_SIZE) {
      throw decryptionFailed(`corrupt encryption header (chunk size ${chunkSize})`);
    }
    if (count > plainSize / BigInt(chunkSize) + 1n || (count === 0n && plainSize !== 0n)) {
      throw decryptionFailed("corrupt encryption header (chunk count does not fit the size)");
    }
    let key: Buffer;
    try {
      key = deriveKey(privateKey, ephemeral);
    } catch (error) {
      throw keyInvalid("the decryption key cannot be used with this archive", error);
    }
    let total = 0n;
    for (let i = 0n; i < count; i++) {
      const frame = await readFrame(reader);
      const length = frame.readUInt32BE(IV_LENGTH);
      if (length < TAG_LENGTH || length > chunkSize + TAG_LENGTH) {
        throw decryptionFailed(`corrupt encrypted chunk ${i} (length ${length})`);
      }
      const body = await reader.readExact(length, "encrypted chunk");
      if (body === undefined) throw encTruncated();
      let plain: Buffer;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, frame.subarray(0, IV_LENGTH));
        decipher.setAuthTag(body.subarray(length - TAG_LENGTH));
        plain = Buffer.concat([decipher.update(body.subarray(0, length - TAG_LENGTH)), decipher.final()]);
      } catch (error) {
        throw decryptionFailed(
          i === 0n
            ? "cannot decrypt the archive: wrong key, or the archive is corrupt"
            : `encrypted chunk ${i} failed authentication (corrupt archive)`,
          error,
        );
      }
      total += BigInt(plain.length);
      if (i === count - 1n) {
        if ((await reader.readSome(1)) !== undefined) {
          throw decryptionFailed("unexpected data after the last encrypted chunk");
        }
        if (total !== plainSize) {
          throw decryptionFailed(`decrypted size ${total} does not match the header's ${plainSize}`);
        }
      }
      yield plain;
    }
    if (count === 0n && (await reader.readSome(1)) !== undefined) {
      throw decryptionFailed("unexpected data after the encryption header");
    }
  } finally {
    await reader.close();
  }
}

function isTruncation(error: unknown): boolean {
  return error instanceof BackupError && error.code === "ARCHIVE_TRUNCATED";
}

async function readFrame(reader: ByteReader): Promise<Buffer> {
  try {
    const frame = await reader.readExact(IV_LENGTH + 4, "encrypted chunk header");
    if (frame === undefined) throw encTruncated();
    return frame;
  } catch (error) {
    throw isTruncation(error) ? encTruncated() : error;
  }
}

interface PendingChunk {
  index: number;
  data: Buffer;
  length: number;
  /** Unpatched placeholder regions overlapping this chunk. */
  holes: number;
  /** Set once the chunk is full and its (still zero) frame was reserved in the inner sink. */
  innerOffset?: number;
}

export interface EncryptingSinkOptions {
  /** Plaintext bytes per chunk. Default 4 MiB (upstream). Memory: one chunk, plus one or two per open placeholder. */
  chunkSize?: number;
}

/**
 * An {@link ArchiveSink} that encrypts into the ECIES v2 container on the way to another sink. Patching
 * works across encryption: a chunk that contains an unpatched placeholder is kept in plaintext and its
 * frame reserved as a placeholder of the inner sink; it is encrypted (once, with a fresh IV) when its
 * last placeholder is patched. The header's size and count are patched at commit.
 */
export class EncryptingSink implements ArchiveSink {
  readonly #inner: ArchiveSink;
  readonly #key: Buffer;
  readonly #ephemeralPoint: Buffer;
  readonly #chunkSize: number;
  readonly #chunks = new Map<number, PendingChunk>();
  readonly #regions = new Map<number, number>();
  #position = 0;
  #count = 0;
  #headerOffset: number | undefined;

  constructor(inner: ArchiveSink, publicKey: KeyObject, options: EncryptingSinkOptions = {}) {
    this.#inner = inner;
    this.#chunkSize = options.chunkSize ?? ECIES_CHUNK_SIZE;
    if (this.#chunkSize <= 0 || this.#chunkSize > MAX_CHUNK_SIZE) {
      throw new BackupError("INVALID_ARGUMENT", `invalid encryption chunk size ${this.#chunkSize}`);
    }
    const ephemeral = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    this.#ephemeralPoint = keyToPoint(ephemeral.publicKey);
    this.#key = deriveKey(ephemeral.privateKey, publicKey);
  }

  get position(): number {
    return this.#position;
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.#append(chunk, false);
  }

  async writePlaceholder(chunk: Uint8Array): Promise<number> {
    const offset = this.#position;
    await this.#append(chunk, true);
    return offset;
  }

  async patch(offset: number, bytes: Uint8Array): Promise<void> {
    const length = this.#regions.get(offset);
    if (length === undefined || length !== bytes.length) {
      throw new BackupError("INTERNAL", `patch at ${offset} does not match a placeholder`);
    }
    this.#regions.delete(offset);
    for (let pos = offset; pos < offset + length; ) {
      const index = Math.floor(pos / this.#chunkSize);
      const chunk = this.#chunks.get(index);
      if (chunk === undefined) throw new BackupError("INTERNAL", "placeholder chunk already flushed");
      const within = pos - index * this.#chunkSize;
      const n = Math.min(this.#chunkSize - within, offset + length - pos);
      chunk.data.set(bytes.subarray(pos - offset, pos - offset + n), within);
      chunk.holes--;
      pos += n;
      if (chunk.holes === 0 && chunk.innerOffset !== undefined) {
        this.#chunks.delete(index);
        await this.#inner.patch(chunk.innerOffset, Buffer.concat(this.#seal(chunk)));
      }
    }
  }

  async commit(): Promise<SinkCommit> {
    await this.#ensureHeader();
    const last = this.#chunks.get(Math.floor(this.#position / this.#chunkSize));
    if (last !== undefined && last.length > 0 && last.innerOffset === undefined) await this.#flush(last);
    if (this.#chunks.size > 0 || this.#regions.size > 0) {
      throw new BackupError("INTERNAL", "encrypting sink committed with unpatched placeholders");
    }
    const header = Buffer.alloc(ECIES_HEADER_LENGTH);
    header[0] = ECIES_VERSION;
    this.#ephemeralPoint.copy(header, 1);
    header.writeUInt32BE(this.#chunkSize, 66);
    header.writeBigUInt64BE(BigInt(this.#position), 70);
    header.writeBigUInt64BE(BigInt(this.#count), 78);
    await this.#inner.patch(this.#headerOffset as number, header);
    return this.#inner.commit();
  }

  async abort(reason?: unknown): Promise<void> {
    this.#chunks.clear();
    await this.#inner.abort(reason);
  }

  async #ensureHeader(): Promise<void> {
    if (this.#headerOffset === undefined) {
      this.#headerOffset = await this.#inner.writePlaceholder(Buffer.alloc(ECIES_HEADER_LENGTH));
    }
  }

  async #append(bytes: Uint8Array, placeholder: boolean): Promise<void> {
    await this.#ensureHeader();
    if (placeholder) this.#regions.set(this.#position, bytes.length);
    let pos = 0;
    while (pos < bytes.length) {
      const index = Math.floor(this.#position / this.#chunkSize);
      let chunk = this.#chunks.get(index);
      if (chunk === undefined) {
        chunk = { index, data: Buffer.allocUnsafe(this.#chunkSize), length: 0, holes: 0 };
        this.#chunks.set(index, chunk);
      }
      const n = Math.min(this.#chunkSize - chunk.length, bytes.length - pos);
      chunk.data.set(bytes.subarray(pos, pos + n), chunk.length);
      if (placeholder) chunk.holes++;
      chunk.length += n;
      pos += n;
      this.#position += n;
      if (chunk.length === this.#chunkSize) await this.#flush(chunk);
    }
  }

  async #flush(chunk: PendingChunk): Promise<void> {
    this.#count++;
    if (chunk.holes === 0) {
      this.#chunks.delete(chunk.index);
      for (const part of this.#seal(chunk)) if (part.length > 0) await this.#inner.write(part);
    } else {
      chunk.innerOffset = await this.#inner.writePlaceholder(
        Buffer.alloc(chunk.length + IV_LENGTH + 4 + TAG_LENGTH),
      );
    }
  }

  /** Encrypts a chunk with a fresh IV: `[IV ‖ length, ciphertext, tag]`, never copied together. */
  #seal(chunk: PendingChunk): Buffer[] {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    const body = cipher.update(chunk.data.subarray(0, chunk.length));
    const rest = cipher.final();
    const head = Buffer.allocUnsafe(IV_LENGTH + 4);
    iv.copy(head, 0);
    head.writeUInt32BE(chunk.length + TAG_LENGTH, IV_LENGTH);
    return [head, body, rest, cipher.getAuthTag()];
  }
}
