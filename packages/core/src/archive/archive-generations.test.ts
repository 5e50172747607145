import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import {
  bufferSource,
  buildTar,
  collect,
  gzip,
  MemorySink,
  metadataJson,
  type RawEntry,
  sha256,
} from "./__tests__/helpers.js";
import { MULTI_MEMBER, MULTI_MEMBER_FILES } from "./__tests__/multi-member-fixture.js";
import { readArchive, verifyArchive } from "./archive-reader.js";
import { EncryptingSink, generateEncryptionKeyPair, parsePublicKey } from "./encryption.js";

const enterprise = {
  "database/neo4j-2025-09-29T10-00-00.backup": Buffer.from("neo4j enterprise full backup ".repeat(300)),
  "database/neo4j-2025-09-29T10-00-00.inc.backup": Buffer.from("differential".repeat(10)),
};
const community = { "database/neo4j.dump": Buffer.concat([Buffer.from("DZV1"), Buffer.alloc(5000, 7)]) };
const prefect = Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(3000, 1)]);

function checksumsOf(files: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
}

/** Upstream layout in upstream (lexical walk) order; Go writes directory names without a slash. */
function upstreamTar(
  metadata: Record<string, unknown>,
  files: Record<string, Buffer>,
  options: { dirSlash?: boolean; metadataLast?: boolean } = {},
): Buffer {
  const slash = options.dirSlash ? "/" : "";
  const meta: RawEntry = { name: "backup/backup_information.json", data: metadataJson(metadata) };
  const entries: RawEntry[] = [{ name: `backup${slash}`, typeflag: "5" }];
  if (!options.metadataLast) entries.push(meta);
  entries.push({ name: `backup/database${slash}`, typeflag: "5" });
  for (const [path, data] of Object.entries(files).sort()) entries.push({ name: `backup/${path}`, data });
  if (options.metadataLast) entries.push(meta);
  return buildTar(entries);
}

const base = {
  backup_id: "infrahub_backup_20250929_100000",
  created_at: "2025-09-29T10:00:01Z",
  infrahub_version: "1.4.0",
};

interface Generation {
  name: string;
  tar: Buffer;
  expect: { edition?: string; checksumsAbsent?: boolean; taskManager: boolean; statuses: string[] };
  options?: { excludeTaskManager?: boolean };
}

const generations: Generation[] = [
  {
    name: "metadata_version 1 (initial commit): no checksums",
    tar: upstreamTar(
      { metadata_version: 1, ...base, tool_version: "3f2a1b9", components: ["database", "task-manager-db"] },
      { ...enterprise, "prefect.dump": prefect },
    ),
    expect: {
      checksumsAbsent: true,
      taskManager: true,
      statuses: ["unverified", "unverified", "unverified"],
    },
  },
  {
    name: "2025092500 (v0.0.1–v0.0.6): artifacts component, no edition",
    tar: upstreamTar(
      {
        metadata_version: 2025092500,
        ...base,
        tool_version: "9c1e4d2",
        components: ["database", "task-manager-db", "artifacts"],
        checksums: checksumsOf({ ...enterprise, "prefect.dump": prefect }),
      },
      { ...enterprise, "prefect.dump": prefect },
    ),
    expect: { taskManager: true, statuses: ["ok", "ok", "ok"] },
  },
  {
    name: "2025102200 (v0.0.7) with --exclude-taskmanager: no prefect.dump",
    tar: upstreamTar(
      {
        metadata_version: 2025102200,
        ...base,
        tool_version: "v0.0.7",
        components: ["database"],
        checksums: checksumsOf(enterprise),
      },
      enterprise,
    ),
    expect: { taskManager: false, statuses: ["ok", "ok"] },
  },
  {
    name: "2025111200 (v1.x) Community with edition, redacted",
    tar: upstreamTar(
      {
        metadata_version: 2025111200,
        ...base,
        tool_version: "v1.7.4",
        components: ["database", "task-manager-db"],
        checksums: checksumsOf({ ...community, "prefect.dump": prefect }),
        neo4j_edition: "community",
        redacted: true,
      },
      { ...community, "prefect.dump": prefect },
    ),
    expect: { edition: "community", taskManager: true, statuses: ["ok", "ok"] },
  },
  {
    name: "2025111200 (v1.0.0) without edition",
    tar: upstreamTar(
      {
        metadata_version: 2025111200,
        ...base,
        tool_version: "v1.0.0",
        components: ["database", "task-manager-db"],
        checksums: checksumsOf({ ...enterprise, "prefect.dump": prefect }),
      },
      { ...enterprise, "prefect.dump": prefect },
    ),
    expect: { taskManager: true, statuses: ["ok", "ok", "ok"] },
  },
  {
    name: "2.x additive keys, an unknown key, directory names with a trailing slash, metadata last",
    tar: upstreamTar(
      {
        metadata_version: 2025111200,
        ...base,
        tool_version: "v2.3.0",
        components: ["database", "task-manager-db"],
        checksums: checksumsOf({ ...community, "prefect.dump": prefect }),
        neo4j_edition: "community",
        source_endpoints: { database: ["neo4j:7687"], "task-manager-db": ["postgres:5432"] },
        source_roles: { database: { "neo4j:7687": "primary" } },
        external_location: { database: false },
        capture_complete: true,
        some_future_key: { nested: [1, 2] },
      },
      { ...community, "prefect.dump": prefect },
      { dirSlash: true, metadataLast: true },
    ),
    expect: { edition: "community", taskManager: true, statuses: ["ok", "ok"] },
  },
  {
    name: "Windows build: checksum keys with backslashes",
    tar: upstreamTar(
      {
        metadata_version: 2025111200,
        ...base,
        tool_version: "v1.7.4",
        components: ["database"],
        checksums: { "database\\neo4j.dump": sha256(community["database/neo4j.dump"]) },
        neo4j_edition: "community",
      },
      community,
    ),
    expect: { edition: "community", taskManager: false, statuses: ["ok"] },
  },
];

describe("every archive generation upstream ever wrote is read", () => {
  for (const gen of generations) {
    it(gen.name, async () => {
      const archive = gzip(gen.tar); // Go writes one gzip member
      const report = await readArchive(bufferSource(archive, 700), gen.options ?? {});
      expect(report.ok).toBe(true);
      expect(report.metadata.neo4jEdition).toBe(gen.expect.edition);
      expect(report.checksumsAbsent).toBe(gen.expect.checksumsAbsent ?? false);
      expect(report.entries.some((e) => e.path === "prefect.dump")).toBe(gen.expect.taskManager);
      expect(report.checksums.map((c) => c.status)).toEqual(gen.expect.statuses);
      expect(report.metadataPosition).toBe(gen.name.includes("metadata last") ? "last" : "first");
      expect(report.entries.filter((e) => e.type === "directory").map((e) => e.name)).toEqual([
        "backup",
        "backup/database",
      ]);
    });
  }

  it("metadata first: each entry's digest carries its verdict when the entry ends", async () => {
    const gen = generations[1] as Generation;
    const verdicts: string[] = [];
    await readArchive(bufferSource(gzip(gen.tar)), {
      onEntry: async (entry) => {
        entry.body.resume();
        verdicts.push((await entry.digest).status);
      },
    });
    expect(verdicts).toEqual(["ok", "ok", "ok"]);
  });

  it("an encrypted upstream archive (v1.5.0+) is read with the key", async () => {
    const pair = generateEncryptionKeyPair();
    const plain = gzip(
      upstreamTar(
        {
          metadata_version: 2025111200,
          ...base,
          tool_version: "v1.7.4",
          components: ["database", "task-manager-db"],
          checksums: checksumsOf({ ...community, "prefect.dump": prefect }),
          neo4j_edition: "community",
          encrypted: true,
        },
        { ...community, "prefect.dump": prefect },
      ),
    );
    const inner = new MemorySink();
    const sink = new EncryptingSink(inner, parsePublicKey(pair.publicKeyFile));
    await sink.write(plain);
    await sink.commit();
    const report = await verifyArchive(bufferSource(inner.committed as Buffer), {
      decryptKey: pair.privateKeyPem,
    });
    expect(report.ok).toBe(true);
    expect(report.encrypted && report.metadata.encrypted).toBe(true);
  });

  it("metadata_version 1 fixtures are also accepted by GNU tar (sanity of the fixture builder)", async () => {
    await using tmp = await tempDir();
    const path = join(tmp.path, "v1.tar.gz");
    await writeFile(path, gzip((generations[0] as Generation).tar));
    expect(execFileSync("tar", ["-tzf", path], { encoding: "utf8" }).split("\n")[1]).toBe(
      "backup/backup_information.json",
    );
  });

  it("archives made by GNU tar (gnu, posix, ustar, v7) and Python tarfile (pax, gnu) are read", async () => {
    await using tmp = await tempDir();
    const dir = join(tmp.path, "src");
    await mkdir(join(dir, "backup/database"), { recursive: true });
    const data = { ...community, "prefect.dump": prefect };
    for (const [path, bytes] of Object.entries(data)) await writeFile(join(dir, "backup", path), bytes);
    await writeFile(
      join(dir, "backup/backup_information.json"),
      metadataJson({
        metadata_version: 2025111200,
        ...base,
        components: ["database", "task-manager-db"],
        checksums: checksumsOf(data),
      }),
    );
    const made: string[] = [];
    for (const format of ["gnu", "posix", "ustar", "v7"]) {
      const out = join(tmp.path, `${format}.tar.gz`);
      execFileSync("tar", [`--format=${format}`, "-czf", out, "-C", dir, "backup"]);
      made.push(out);
    }
    for (const format of ["PAX_FORMAT", "GNU_FORMAT"]) {
      const out = join(tmp.path, `py-${format}.tar.gz`);
      execFileSync("python3", [
        "-c",
        `import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz", format=tarfile.${format}) as t:\n    t.add(sys.argv[2], arcname="backup")`,
        out,
        join(dir, "backup"),
      ]);
      made.push(out);
    }
    for (const path of made) {
      const report = await readArchive(createReadStream(path));
      expect(
        report.checksums.map((c) => c.status),
        path,
      ).toEqual(["ok", "ok"]);
    }
  });

  it("our own multi-member generation (one gzip member per tar header, 1eaafc3 and before) is read, plain and encrypted", async () => {
    const fixture = MULTI_MEMBER;
    const expected = MULTI_MEMBER_FILES;
    const pair = generateEncryptionKeyPair();
    const inner = new MemorySink();
    const sink = new EncryptingSink(inner, parsePublicKey(pair.publicKeyFile));
    await sink.write(fixture);
    await sink.commit();
    for (const [bytes, options] of [
      [fixture, {}],
      [inner.committed as Buffer, { decryptKey: pair.privateKeyPem }],
    ] as const) {
      const seen: Record<string, string> = {};
      const report = await readArchive(bufferSource(bytes, 1000), {
        ...options,
        onEntry: async (entry) => {
          seen[entry.path] = sha256(await collect(entry.body));
        },
      });
      expect(seen).toEqual(expected);
      expect(report.ok).toBe(true);
      expect(report.metadata).toMatchObject({ toolVersion: "1eaafc3", neo4jEdition: "enterprise" });
      expect(report.checksums.map((c) => c.status)).toEqual(["ok", "ok", "ok", "ok"]);
      expect(report.metadataPosition).toBe("last");
    }
  });

  it("capture_complete: false is refused", async () => {
    const tar = upstreamTar(
      { metadata_version: 2025111200, ...base, components: ["database"], capture_complete: false },
      {},
    );
    await expect(readArchive(bufferSource(gzip(tar)))).rejects.toSatisfy(
      (e: unknown) => e instanceof BackupError && e.code === "CAPTURE_INCOMPLETE",
    );
  });
});
