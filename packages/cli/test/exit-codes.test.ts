// Each exit code produced by a real failure of the built CLI (a child process), nothing stubbed.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  freePort,
  type MinioServer,
  startFaultProxy,
  startMinio,
  type TempDir,
  tempDir,
  toolDir,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CODES } from "../src/exit-codes.js";
import { bin, buildCli, cleanEnv, removeCli, runCli, startCli } from "./cli-process.js";

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

const exitCode = (category: string): number => {
  const row = EXIT_CODES.find((e) => e.category === category);
  if (!row) throw new Error(category);
  return row.code;
};

const NAME = "infrahub_backup_20260101_000000.tar.gz";
let minio: MinioServer;
let dir: TempDir;

beforeAll(async () => {
  buildCli();
  [minio, dir] = await Promise.all([startMinio(), tempDir("ihb-cli-exit-")]);
  await minio.createBucket("backups");
});
afterAll(async () => {
  removeCli();
  await minio?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

const s3Env = (keys?: { accessKeyId: string; secretAccessKey: string }) =>
  cleanEnv({
    AWS_ACCESS_KEY_ID: keys?.accessKeyId ?? minio.rootUser,
    AWS_SECRET_ACCESS_KEY: keys?.secretAccessKey ?? minio.rootPassword,
    INFRAHUB_S3_ENDPOINT: minio.endpoint,
    INFRAHUB_S3_BUCKET: "backups",
  });

describe("exit codes from real failures", () => {
  it("the table is distinct and append-only shaped", () => {
    const codes = EXIT_CODES.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(EXIT_CODES[0]).toMatchObject({ code: 0, category: "success" });
  });

  it("usage: unknown flag → 2, message on stderr, nothing on stdout", async () => {
    const r = await runCli(["create", "--no-such-flag"]);
    expect(r.code).toBe(exitCode("usage"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown argument/);
    expect(r.stdout).toBe("");
  });

  it("usage: --redact without --force is refused clearly, before touching anything", async () => {
    const r = await runCli(["create", "--redact", "--backup-dir", dir.path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--redact rewrites every attribute value of the live database/);
    expect(r.stderr).toMatch(/confirm with --force/);
  });

  it("environment not found: no local config, Kubernetes/Compose unavailable → 3", async () => {
    // cleanEnv keeps the machine's Docker engine out of reach: other test files run real Compose projects on it
    // at the same time, and the CLI would find theirs (seen: exit 10, their lock).
    const r = await runCli(["create", "--backup-dir", dir.path], {
      env: cleanEnv(),
    });
    expect(r.code).toBe(exitCode("environment"));
    expect(r.stderr).toMatch(/no Infrahub environment detected/);
  });

  it("artifact not found: missing local path → 5", async () => {
    const r = await runCli(["restore", join(dir.path, "nope", NAME), "--yes"]);
    expect(r.code).toBe(exitCode("not-found"));
  });

  it("artifact not found: missing S3 key on MinIO → 5", async () => {
    const r = await runCli(["verify", `s3://backups/infrahub/${NAME}`], { env: s3Env() });
    expect(r.code).toBe(exitCode("not-found"));
    expect(r.stderr).toContain(`s3://backups/infrahub/${NAME}`);
  });

  it("artifact not found: drill --latest --s3 in the chart's drill pod (an empty prefix) → 5, and the pod's agents are released", async () => {
    const exchange = join(dir.path, "drill-exchange");
    const r = await runCli(
      ["drill", "--latest", "--s3", "--s3-prefix", "empty", `--drill-exchange-dir=${exchange}`],
      { env: s3Env() },
    );
    expect(r.code, r.stderr).toBe(exitCode("not-found"));
    // Without `done` the database containers would wait minutes for a heartbeat, and the pod with them.
    expect(await readdir(exchange)).toContain("done");
  });

  it("artifact not found: restore --latest --s3 in an empty prefix → 5", async () => {
    const r = await runCli(["restore", "--latest", "--s3", "--s3-prefix", "empty", "--yes"], {
      env: s3Env(),
    });
    expect(r.code).toBe(exitCode("not-found"));
  });

  it("storage credentials: wrong keys on MinIO → 4", async () => {
    const r = await runCli(["list", "--s3", "--log-format", "json"], {
      env: s3Env({ accessKeyId: "wrong-key", secretAccessKey: "wrong-secret-0123456789" }),
    });
    expect(r.code).toBe(exitCode("storage-auth"));
    const last = JSON.parse(r.stderr.trim().split("\n").at(-1) ?? "{}");
    expect(last).toMatchObject({ type: "error", category: "storage-auth", exit_code: 4 });
  });

  it("integrity: a corrupted archive file → 6", async () => {
    const path = join(dir.path, NAME);
    await writeFile(path, gzipSync(randomBytes(64 * 1024)));
    const r = await runCli(["verify", path]);
    expect(r.code).toBe(exitCode("integrity"));
  });

  it("integrity: not gzip at all → 6", async () => {
    const path = join(dir.path, "infrahub_backup_20260102_000000.tar.gz");
    await writeFile(path, "this is not an archive\n".repeat(100));
    const r = await runCli(["verify", path]);
    expect(r.code).toBe(exitCode("integrity"));
  });

  it("database unavailable: local config pointing at a dead Neo4j port → 7", async () => {
    const deadPort = await freePort();
    const config = join(dir.path, "dead.json");
    await writeFile(
      config,
      JSON.stringify({
        services: {
          database: {
            env: { NEO4J_ADDRESS: `bolt://127.0.0.1:${deadPort}` },
            pathPrepend: [join(toolDir("neo4j", "NEO4J_VERSION"), "bin")],
          },
        },
        neo4j: { pidFile: join(dir.path, "neo4j.pid") },
      }),
    );
    const r = await runCli(["create", "--local-config", config, "--backup-dir", join(dir.path, "out")], {
      env: cleanEnv({
        INFRAHUB_DB_USERNAME: "neo4j",
        INFRAHUB_DB_PASSWORD: "x",
        INFRAHUB_DB_DATABASE: "neo4j",
      }),
    });
    expect(r.stderr).toMatch(/Neo4j|cypher-shell/i);
    expect(r.code).toBe(exitCode("database"));
  });

  it("environment detect with --local-config → 0; JSON usage errors are JSON", async () => {
    const config = join(dir.path, "detect.json");
    await writeFile(config, JSON.stringify({ services: {}, neo4j: { pidFile: join(dir.path, "x.pid") } }));
    const r = await runCli(["environment", "detect", "--local-config", config]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Detected local environment (local)");
    const bad = await runCli(["list", "--log-format", "json", "--retention-bogus"]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr.trim().split("\n").at(-1) ?? "{}")).toMatchObject({
      type: "error",
      exit_code: 2,
    });
  });

  it("usage: an invalid local config file → 2", async () => {
    const config = join(dir.path, "broken.json");
    await writeFile(config, "{ not json");
    const r = await runCli(["environment", "detect"], { env: cleanEnv({ INFRAHUB_LOCAL_CONFIG: config }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
  });

  it("cancelled: SIGTERM while restore sleeps → 143", async () => {
    const path = join(dir.path, NAME);
    const config = join(dir.path, "idle-term.json");
    await writeFile(config, JSON.stringify({ services: {}, neo4j: { pidFile: join(dir.path, "x.pid") } }));
    const { child, result } = startCli(["restore", path, "--local-config", config, "--sleep", "60s"]);
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("Sleeping before restore")) resolve();
      });
    });
    child.kill("SIGTERM");
    const r = await result;
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/cancelled by SIGTERM/);
  });

  it("on a terminal, restore asks y/N: 'n' changes nothing and exits 11 (declined, not 130 as for Ctrl-C); prune 'n' deletes nothing and exits 11, 'y' deletes", async () => {
    const path = join(dir.path, NAME);
    const config = join(dir.path, "idle-tty.json");
    await writeFile(config, JSON.stringify({ services: {}, neo4j: { pidFile: join(dir.path, "x.pid") } }));
    // script(1) gives the CLI a pseudo-terminal; our stdin becomes what is typed.
    const tty = (args: string[], typed: string) =>
      spawnSync("script", ["-qec", [process.execPath, bin, ...args].map(shellQuote).join(" "), "/dev/null"], {
        input: typed,
        encoding: "utf8",
        env: cleanEnv(),
        timeout: 60_000,
      });
    const restore = tty(["restore", path, "--local-config", config], "n\n");
    expect(restore.stdout).toMatch(/\[y\/N\]/);
    expect(restore.stdout).toMatch(/restore declined at the prompt; nothing was changed/);
    expect(restore.status).toBe(exitCode("declined"));
    expect(restore.status).toBe(11);

    const backups = join(dir.path, "prune-tty");
    await mkdir(backups);
    for (const stamp of ["20260101_000000", "20260102_000000"]) {
      await writeFile(join(backups, `infrahub_backup_${stamp}.tar.gz`), "x");
    }
    const no = tty(["prune", "--retention-count", "1", "--backup-dir", backups], "n\n");
    expect(no.stdout).toMatch(/Delete 1 archive\(s\)\? \[y\/N\]/);
    expect(no.stdout).toMatch(/prune declined at the prompt; nothing was deleted/);
    expect(no.status).toBe(11);
    expect((await readdir(backups)).sort()).toHaveLength(2);
    const yes = tty(["prune", "--retention-count", "1", "--backup-dir", backups], "y\n");
    expect(yes.status).toBe(0);
    expect(await readdir(backups)).toEqual(["infrahub_backup_20260102_000000.tar.gz"]);
  });

  it("cancelled: SIGINT while restore sleeps → 130, nothing changed", async () => {
    const path = join(dir.path, NAME);
    const config = join(dir.path, "idle.json");
    await writeFile(config, JSON.stringify({ services: {}, neo4j: { pidFile: join(dir.path, "x.pid") } }));
    const { child, result } = startCli([
      "restore",
      path,
      "--local-config",
      config,
      "--sleep",
      "60s",
      "--yes",
    ]);
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("Sleeping before restore")) resolve();
      });
    });
    child.kill("SIGINT");
    const r = await result;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/cancelled by SIGINT/);
    expect(r.stderr).not.toMatch(/Restore completed/);
  });

  it("create from-files archives dump files made elsewhere; verify reads the result (0); a non-dump is refused (2)", async () => {
    const src = join(dir.path, "from-files");
    await mkdir(src, { recursive: true });
    await writeFile(join(src, "neo4j.dump"), Buffer.concat([Buffer.from("DZV1"), randomBytes(20_000)]));
    await writeFile(join(src, "prefect.dump"), Buffer.concat([Buffer.from("PGDMP"), randomBytes(20_000)]));
    const out = join(dir.path, "from-files-out");
    const r = await runCli([
      "create",
      "from-files",
      "--neo4j-path",
      join(src, "neo4j.dump"),
      "--postgres-path",
      join(src, "prefect.dump"),
      "--infrahub-version",
      "1.5.3",
      "--backup-dir",
      out,
    ]);
    expect(r.code).toBe(0);
    const archive = r.stdout.trim();
    expect(archive).toMatch(/infrahub_backup_\d{8}_\d{6}\.tar\.gz$/);
    const v = await runCli(["verify", archive]);
    expect(v.code).toBe(0);
    await writeFile(join(src, "bad.dump"), "not a dump");
    const bad = await runCli([
      "create",
      "from-files",
      "--neo4j-path",
      join(src, "bad.dump"),
      "--backup-dir",
      out,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a Neo4j dump/);
  });

  it("usage errors come before any network step: a stalled S3 endpoint is never contacted", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: minio.port });
    proxy.setMode({ kind: "stall" });
    const env = { ...s3Env(), INFRAHUB_S3_ENDPOINT: proxy.endpoint };
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ["create", "--s3-upload", "--s3-part-size", "1KB"],
        {},
        /--s3-part-size must be between 5MiB and 5GiB/,
      ],
      [
        ["create", "--s3-upload", "--s3-max-parts", "20000"],
        {},
        /--s3-max-parts must be an integer from 1 to 10000/,
      ],
      [["create", "--s3-upload", "--sleep", "-5m"], {}, /--sleep must not be negative/],
      [["create", "--s3-upload", "--neo4jmetadata", "garbage"], {}, /invalid --neo4jmetadata "garbage"/],
      [["list", "--s3"], { INFRAHUB_LOG_FORMAT: "xml" }, /invalid INFRAHUB_LOG_FORMAT "xml"/],
      [
        ["create", "--s3-upload"],
        { PREFECT_SERVER_DATABASE_CONNECTION_URL: "postgresql+asyncpg://u:secret-pw@h:port/db" },
        /PREFECT_SERVER_DATABASE_CONNECTION_URL in the host environment is not a valid PostgreSQL connection URL/,
      ],
    ];
    for (const [args, extra, message] of cases) {
      const started = Date.now();
      const r = await runCli(args, { env: { ...env, ...extra } });
      expect(r.code, args.join(" ")).toBe(exitCode("usage"));
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^Hint: /m);
      expect(r.stderr).not.toContain("secret-pw");
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    expect(proxy.stalledConnections).toBe(0);
    expect(proxy.bytesUp).toBe(0);
  });

  it("storage: a stalled S3 endpoint fails with exit 9 within the configured deadlines, naming endpoint and phase", async () => {
    await using proxy = await startFaultProxy({ host: "127.0.0.1", port: minio.port });
    proxy.setMode({ kind: "stall" });
    const started = Date.now();
    const r = await runCli(
      ["list", "--s3", "--s3-request-timeout", "1s", "--s3-idle-timeout", "1s", "--s3-max-attempts", "2"],
      { env: { ...s3Env(), INFRAHUB_S3_ENDPOINT: proxy.endpoint } },
    );
    const elapsed = Date.now() - started;
    expect(r.code).toBe(exitCode("storage"));
    expect(r.stderr).toContain(
      `Error: S3 at ${proxy.endpoint} stopped answering while listing s3://backups/ (ListObjectsV2): no answer within 1 s (2 attempts)`,
    );
    expect(r.stderr).toMatch(/Hint: .*--s3-request-timeout/);
    expect(proxy.stalledConnections).toBe(2);
    expect(elapsed).toBeLessThan(15_000);
  });

  it("prune as a user without s3:DeleteObject: exit 4, each archive named as NOT deleted, nothing claimed", async () => {
    const prefix = "no-delete";
    const names = ["20260101_000000", "20260102_000000", "20260103_000000"].map(
      (s) => `infrahub_backup_${s}.tar.gz`,
    );
    for (const name of names) {
      await minio.putObject("backups", `${prefix}/${name}`, "x");
    }
    const user = await minio.createUser({
      name: "prune-no-delete",
      document: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:ListBucketMultipartUploads"],
            Resource: ["arn:aws:s3:::backups", "arn:aws:s3:::backups/*"],
          },
        ],
      },
    });
    const env = { ...s3Env(user), INFRAHUB_S3_PREFIX: prefix };
    const r = await runCli(["prune", "--s3", "--retention-count", "1", "--yes"], { env });
    expect(r.code).toBe(exitCode("storage-auth"));
    expect(r.stdout).not.toMatch(/^deleted/m);
    for (const name of names.slice(0, 2)) {
      expect(r.stdout).toMatch(
        new RegExp(
          `^NOT deleted\t${name}\taccess denied: s3:DeleteObject on s3://backups/${prefix}/${name}`,
          "m",
        ),
      );
    }
    expect(r.stdout).toContain(`kept\t${names[2]}\tnewest,keep-count`);
    expect(r.stderr).toMatch(/Error: prune left 2 item\(s\) it should have removed \(deleted 0\): /);
    expect(r.stderr).toContain(names[0]);
    expect(r.stderr).toContain(names[1]);
    expect(r.stderr).toMatch(/Hint: grant s3:DeleteObject/);
    expect((await minio.listObjectKeys("backups", `${prefix}/`)).length).toBe(3);

    const json = await runCli(["prune", "--s3", "--retention-count", "1", "--yes", "--log-format", "json"], {
      env,
    });
    expect(json.code).toBe(4);
    const result = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      type: "result",
      command: "prune",
      deleted: [],
      retention: {
        deleted: [],
        not_deleted: [{ code: "STORAGE_ACCESS_DENIED" }, { code: "STORAGE_ACCESS_DENIED" }],
      },
    });
    const last = JSON.parse(json.stderr.trim().split("\n").at(-1) ?? "{}");
    expect(last).toMatchObject({
      type: "error",
      code: "STORAGE_ACCESS_DENIED",
      exit_code: 4,
      details: { not_removed: [{ name: names[1] }, { name: names[0] }] }, // newest first, as planned
    });
  });

  it("prune deletes what it can, then aborts unfinished uploads of archive names older than --stale-upload-age", async () => {
    const prefix = "sweep";
    for (const stamp of ["20260101_000000", "20260102_000000"]) {
      await minio.putObject("backups", `${prefix}/infrahub_backup_${stamp}.tar.gz`, "x");
    }
    const stale = `${prefix}/infrahub_backup_20251231_000000.tar.gz`;
    const foreign = `${prefix}/notes.tar.gz`;
    for (const key of [stale, foreign]) await minio.startMultipartUpload("backups", key);
    const env = { ...s3Env(), INFRAHUB_S3_PREFIX: prefix };
    // Younger than the default 24 h: left alone.
    const keep = await runCli(["prune", "--s3", "--retention-count", "5", "--yes"], { env });
    expect(keep.code).toBe(0);
    expect(keep.stdout).not.toMatch(/aborted upload/);
    await new Promise((r) => setTimeout(r, 1100));
    const dry = await runCli(
      ["prune", "--s3", "--retention-count", "1", "--dry-run", "--stale-upload-age", "1s"],
      { env },
    );
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("would delete\tinfrahub_backup_20260101_000000.tar.gz");
    expect(dry.stdout).toMatch(new RegExp(`^would abort upload\ts3://backups/${stale}\tstarted `, "m"));
    expect((await minio.listMultipartUploads("backups")).map((u) => u.key)).toContain(stale);
    const r = await runCli(
      [
        "prune",
        "--s3",
        "--retention-count",
        "1",
        "--yes",
        "--stale-upload-age",
        "1s",
        "--log-format",
        "json",
      ],
      {
        env,
      },
    );
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      deleted: ["infrahub_backup_20260101_000000.tar.gz"],
      stale_uploads: { aborted: [{ location: `s3://backups/${stale}` }], not_aborted: [] },
    });
    const summary = JSON.parse(r.stderr.trim().split("\n").at(-1) ?? "{}");
    expect(summary).toMatchObject({ type: "summary", deleted: 1, not_deleted: 0, stale_uploads_aborted: 1 });
    const left = (await minio.listMultipartUploads("backups")).map((u) => u.key);
    expect(left).not.toContain(stale);
    expect(left).toContain(foreign);
  });

  it("create --s3-upload --s3-keep-local proves S3 write access before anything else: a list+get-only user → 4", async () => {
    const listGet = await minio.createUser({
      name: "keep-local-list-get",
      document: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["s3:ListBucket", "s3:GetObject"],
            Resource: ["arn:aws:s3:::backups", "arn:aws:s3:::backups/*"],
          },
        ],
      },
    });
    const r = await runCli(
      ["create", "--s3-upload", "--s3-keep-local", "--backup-dir", join(dir.path, "kl")],
      {
        env: { ...s3Env(listGet), INFRAHUB_S3_PREFIX: "keep-local" },
      },
    );
    expect(r.code).toBe(exitCode("storage-auth"));
    expect(r.stderr).toMatch(
      /Error: cannot write backups to s3:\/\/backups\/keep-local\/: access denied for s3:PutObject/,
    );
    expect(r.stderr).not.toMatch(/no Infrahub environment detected/);
    expect(await minio.listMultipartUploads("backups")).not.toContainEqual(
      expect.objectContaining({ key: expect.stringContaining("keep-local/") }),
    );
  });
});
