import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type TempDir, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Store } from "./s3-store.js";

// A TLS endpoint with a certificate from a private CA. Test double: a minimal HTTPS responder answering
// ListObjectsV2 with an empty listing (the TLS handshake is what is under test, not S3).
let dir: TempDir;
let server: Server;
let endpoint: string;

beforeAll(async () => {
  dir = await tempDir("ihb-tls-");
  const p = (f: string) => join(dir.path, f);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=ihb test CA",
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    p("server.key"),
    "-out",
    p("server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  );
  await import("node:fs/promises").then((fs) => fs.writeFile(p("ext.cnf"), "subjectAltName=IP:127.0.0.1\n"));
  ssl(
    "x509",
    "-req",
    "-in",
    p("server.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-out",
    p("server.pem"),
    "-days",
    "2",
    "-extfile",
    p("ext.cnf"),
  );
  server = createServer(
    { key: readFileSync(p("server.key")), cert: readFileSync(p("server.pem")) },
    (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>backups</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>',
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await dir?.[Symbol.asyncDispose]();
});

const credentials = { accessKeyId: "k", secretAccessKey: "s" };

describe("S3 TLS options", () => {
  it("an untrusted certificate is STORAGE_TLS with a hint", async () => {
    await using store = new S3Store({ endpoint, bucket: "backups", credentials, maxAttempts: 1 });
    const error = await store.check().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_TLS" });
    expect((error as Error).message).toContain(endpoint);
    expect((error as { hint: string }).hint).toContain("CA");
  });

  it("a CA bundle file makes the endpoint trusted (in addition to the system CAs)", async () => {
    await using store = new S3Store({
      endpoint,
      bucket: "backups",
      credentials,
      caBundle: join(dir.path, "ca.pem"),
    });
    await expect(store.check()).resolves.toBeUndefined();
  });

  it("verification is disabled only explicitly, with a warning", async () => {
    const warnings: string[] = [];
    await using store = new S3Store({
      endpoint,
      bucket: "backups",
      credentials,
      insecureTls: true,
      logger: { warn: (message) => warnings.push(message) },
    });
    expect(warnings).toEqual([
      `TLS certificate verification is DISABLED for ${endpoint}: traffic can be intercepted; prefer a CA bundle`,
    ]);
    await expect(store.check()).resolves.toBeUndefined();
  });

  it("a missing CA bundle file is a configuration error", () => {
    expect(() => new S3Store({ endpoint, bucket: "backups", caBundle: join(dir.path, "nope.pem") })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });
});
