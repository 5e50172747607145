import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { MinioAdmin } from "./minio-admin.js";
import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";
import { type TempDir, tempDir } from "./temp.js";
import { toolDir } from "./toolchain.js";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A canned MinIO policy, or a custom IAM policy document registered under `name`. */
export type MinioPolicy = "readonly" | "readwrite" | "writeonly" | { name: string; document: object };

export interface MinioServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly region: "us-east-1";
  /** Random per instance. */
  readonly rootUser: string;
  readonly rootPassword: string;
  /** Where the objects are stored; removed on dispose unless it was passed in `startMinio({ dataDir })`. */
  readonly dataDir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** A path-style S3 client for this server, with the root credentials by default; destroyed on stop. */
  client(credentials?: S3Credentials): S3Client;
  createBucket(name: string, options?: { versioning?: boolean }): Promise<void>;
  /** Creates a user with a canned or custom policy; returns its credentials. */
  createUser(policy: MinioPolicy): Promise<S3Credentials>;
  /**
   * A hard quota. MinIO refuses (error `XMinioAdminBucketQuotaExceeded`, HTTP 400) a PutObject or an
   * UploadPart whose own size is >= `bytes` at once; the bucket's total only counts once the background
   * scanner has measured it, so many small writes can overshoot the quota for a while.
   */
  setBucketQuota(bucket: string, bytes: number): Promise<void>;
  /** Every key (all pages) under `prefix`. */
  listObjectKeys(bucket: string, prefix?: string): Promise<string[]>;
  /**
   * Every multipart upload that was started and neither completed nor aborted. Without a prefix MinIO
   * answers from an in-memory list of this server process, so uploads started before a restart on the
   * same `dataDir` are not listed.
   */
  listMultipartUploads(bucket: string): Promise<{ key: string; uploadId: string }[]>;
  /** Writes an object with the root credentials (for tests that need objects without the code under test). */
  putObject(bucket: string, key: string, body: string | Uint8Array): Promise<void>;
  /** Starts a multipart upload with the root credentials and leaves it unfinished; returns its id. */
  startMultipartUpload(bucket: string, key: string): Promise<string>;
  /** Stops the server (also via `await using`) and removes its temp dir. */
  stop(): Promise<void>;
}

export interface MinioOptions {
  /** Keep the objects here instead of in the instance's temp dir (the caller owns and removes it). */
  dataDir?: string;
}

const REGION = "us-east-1";
const START_ATTEMPTS = 3;

/** MinIO's `globalMinioConsolePort` default (cmd/globals.go), still compared when the browser is off. */
const MINIO_DEFAULT_CONSOLE_PORT = 13_333;

/** A single-drive MinIO server on random loopback ports, with a fresh data dir. */
export async function startMinio(options: MinioOptions = {}): Promise<MinioServer> {
  const dir = await tempDir("ihb-minio-");
  try {
    const dataDir = options.dataDir ?? join(dir.path, "data");
    await mkdir(dataDir, { recursive: true });
    const configDir = join(dir.path, "mc");
    await mkdir(configDir, { mode: 0o700 });
    const rootUser = `root${randomBytes(6).toString("hex")}`;
    const rootPassword = randomBytes(18).toString("hex");
    // Both binaries are resolved before anything starts, so a missing one cannot strand a server.
    const binary = join(toolDir("minio", "MINIO_VERSION"), "bin", "minio");
    const mc = join(toolDir("mc", "MC_VERSION"), "bin", "mc");
    // freePort can race with another process grabbing the port before MinIO binds it: retry then.
    for (let attempt = 1; ; attempt++) {
      let port = await freePort();
      // With the browser off, MinIO compares the address port with its default console port, 13333, and
      // refuses to start when they are equal ("--console-address port cannot be same as --address port").
      while (port === MINIO_DEFAULT_CONSOLE_PORT) port = await freePort();
      const consolePort = await freePort();
      const server = ManagedProcess.start({
        name: "minio",
        command: binary,
        args: [
          "server",
          dataDir,
          "--address",
          `127.0.0.1:${port}`,
          "--console-address",
          `127.0.0.1:${consolePort}`,
          "--quiet",
        ],
        env: {
          PATH: process.env.PATH,
          HOME: dir.path,
          MINIO_ROOT_USER: rootUser,
          MINIO_ROOT_PASSWORD: rootPassword,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
          MINIO_CI_CD: "on",
        },
        logFile: join(dir.path, `minio-${attempt}.log`),
      });
      try {
        await waitUntil(`minio on 127.0.0.1:${port}`, () => isReady(port), {
          process: server,
          timeoutMs: 60_000,
        });
      } catch (error) {
        await server.stop();
        if (attempt < START_ATTEMPTS && /address already in use/i.test(server.logTail())) continue;
        throw error;
      }
      const endpoint = `http://127.0.0.1:${port}`;
      const admin = new MinioAdmin(mc, new URL(endpoint), rootUser, rootPassword, configDir);
      return new LocalMinio(dir, server, admin, endpoint, port, dataDir, rootUser, rootPassword);
    }
  } catch (error) {
    await dir[Symbol.asyncDispose]();
    throw error;
  }
}

async function isReady(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/minio/health/ready`, {
    signal: AbortSignal.timeout(2_000),
  });
  return response.ok;
}

class LocalMinio implements MinioServer {
  readonly region = REGION;
  readonly #clients = new Set<S3Client>();
  #rootClient: S3Client | undefined;
  #userCount = 0;

  constructor(
    readonly dir: TempDir,
    readonly server: ManagedProcess,
    readonly admin: MinioAdmin,
    readonly endpoint: string,
    readonly port: number,
    readonly dataDir: string,
    readonly rootUser: string,
    readonly rootPassword: string,
  ) {}

  get pid(): number | undefined {
    return this.server.pid;
  }

  get running(): boolean {
    return this.server.running;
  }

  client(credentials?: S3Credentials): S3Client {
    const client = new S3Client({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: credentials ?? { accessKeyId: this.rootUser, secretAccessKey: this.rootPassword },
    });
    this.#clients.add(client);
    return client;
  }

  #root(): S3Client {
    this.#rootClient ??= this.client();
    return this.#rootClient;
  }

  async createBucket(name: string, options: { versioning?: boolean } = {}): Promise<void> {
    await this.#root().send(new CreateBucketCommand({ Bucket: name }));
    if (options.versioning) {
      await this.#root().send(
        new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }),
      );
    }
  }

  async createUser(policy: MinioPolicy): Promise<S3Credentials> {
    this.#userCount += 1;
    const credentials = {
      accessKeyId: `user${this.#userCount}${randomBytes(4).toString("hex")}`,
      secretAccessKey: randomBytes(18).toString("hex"),
    };
    // With the secret key left out of argv, `mc admin user add` reads it from stdin.
    await this.admin.mc(
      ["admin", "user", "add", this.admin.target(), credentials.accessKeyId],
      `${credentials.secretAccessKey}\n`,
    );
    let policyName: string;
    if (typeof policy === "string") {
      policyName = policy;
    } else {
      policyName = policy.name;
      const file = join(this.dir.path, `policy-${policy.name}.json`);
      await writeFile(file, JSON.stringify(policy.document));
      await this.admin.mc(["admin", "policy", "create", this.admin.target(), policyName, file]);
    }
    await this.admin.mc([
      "admin",
      "policy",
      "attach",
      this.admin.target(),
      policyName,
      "--user",
      credentials.accessKeyId,
    ]);
    return credentials;
  }

  async setBucketQuota(bucket: string, bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`invalid quota: ${bytes} bytes`);
    await this.admin.mc(["quota", "set", this.admin.target(bucket), "--size", `${bytes}B`]);
  }

  async listObjectKeys(bucket: string, prefix?: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#root().send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async listMultipartUploads(bucket: string): Promise<{ key: string; uploadId: string }[]> {
    const uploads: { key: string; uploadId: string }[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.#root().send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key !== undefined && upload.UploadId !== undefined) {
          uploads.push({ key: upload.Key, uploadId: upload.UploadId });
        }
      }
      if (!page.IsTruncated) return uploads;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async putObject(bucket: string, key: string, body: string | Uint8Array): Promise<void> {
    await this.#root().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  async startMultipartUpload(bucket: string, key: string): Promise<string> {
    const out = await this.#root().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    if (!out.UploadId) throw new Error(`CreateMultipartUpload of ${key} returned no upload id`);
    return out.UploadId;
  }

  async stop(): Promise<void> {
    for (const client of this.#clients) client.destroy();
    this.#clients.clear();
    this.#rootClient = undefined;
    try {
      await this.server.stop();
    } finally {
      await this.dir[Symbol.asyncDispose]();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
