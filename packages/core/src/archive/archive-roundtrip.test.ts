import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { FileSink } from "../storage/file-sink.js";
import { bufferSource, collect, patternSource, sha256 } from "./__tests__/helpers.js";
import { readArchive, verifyArchive } from "./archive-reader.js";
import { ArchiveWriter } from "./archive-writer.js";
import { parseBackupMetadata } from "./backup-metadata.js";

const PYTHON_READER = `
import hashlib, json, sys, tarfile
mode = sys.argv[2]
out = []
with tarfile.open(sys.argv[1], mode) as tf:
    for m in tf:
        item = {"name": m.name, "type": "dir" if m.isdir() else "file" if m.isfile() else "other", "size": m.size}
        if m.isfile():
            f = tf.extractfile(m)
            h = hashlib.sha256()
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
            item["sha256"] = h.hexdigest()
        out.append(item)
print(json.dumps(out))
`;

async function writeSample(dir: string) {
  const path = join(dir, "infrahub_backup_20260130_092031.tar.gz");
  const sink = await FileSink.create(path);
  const writer = new ArchiveWriter(sink, { mtime: new Date("2026-01-30T09:20:31Z") });
  const neo4j = await collect(patternSource(3 * 1024 * 1024 + 17, { prefix: Buffer.from("DZV1") }));
  const prefect = Buffer.concat([Buffer.from("PGDMP"), Buffer.from("x".repeat(1024 * 1024))]);
  const text = Buffer.from("some compressible text\n".repeat(100_000));
  const entries = [
    await writer.addFile("database/neo4j.dump", bufferSource(neo4j, 65536)),
    await writer.addFile("database/neo4j-2025-03-24T19-57-18.backup", bufferSource(text, 4096)),
    await writer.addFile("database/empty.backup", bufferSource(Buffer.alloc(0))),
    await writer.addFile("prefect.dump", bufferSource(prefect, 1000)),
  ];
  const result = await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database", "task-manager-db"],
    neo4jEdition: "community",
  });
  return {
    path,
    result,
    entries,
    data: {
      "database/neo4j.dump": neo4j,
      "database/neo4j-2025-03-24T19-57-18.backup": text,
      "database/empty.backup": Buffer.alloc(0),
      "prefect.dump": prefect,
    } as Record<string, Buffer>,
  };
}

const GO_READER = join(import.meta.dirname, "../../test/fixtures/archives/go-reader");
const HAVE_GO = spawnSync("go", ["version"]).status === 0;

describe("archive round trip", () => {
  it("is read back identically by our reader, GNU tar, Python tarfile and Go archive/tar", async () => {
    await using tmp = await tempDir();
    const { path, result, entries, data } = await writeSample(tmp.path);
    expect(entries.map((e) => e.compression)).toEqual(["store", "deflate", "deflate", "store"]);
    expect((await stat(path)).size).toBe(result.commit.size);

    // Ours: bodies streamed to a consumer, digests per entry.
    const seen: Record<string, string> = {};
    const report = await readArchive(createReadStream(path), {
      onEntry: async (entry) => {
        const body = await collect(entry.body);
        const digest = await entry.digest;
        expect(digest.sha256).toBe(sha256(body));
        expect(digest.status).toBe("pending"); // metadata comes last
        seen[entry.path] = sha256(body);
      },
    });
    for (const [key, bytes] of Object.entries(data)) expect(seen[key]).toBe(sha256(bytes));
    expect(report.metadataPosition).toBe("last");
    expect(report.checksums.every((c) => c.status === "ok")).toBe(true);
    expect(report.entries.map((e) => e.name)).toEqual([
      "backup",
      "backup/database",
      "backup/database/neo4j.dump",
      "backup/database/neo4j-2025-03-24T19-57-18.backup",
      "backup/database/empty.backup",
      "backup/prefect.dump",
      "backup/backup_information.json",
    ]);
    expect(report.metadata.checksums).toEqual(result.metadata.checksums);

    // GNU tar: list, extract, sha256sum against the metadata.
    const listing = execFileSync("tar", ["-tzvf", path], { encoding: "utf8" });
    expect(listing).toMatch(/^drwxr-xr-x .* backup$/m);
    expect(listing).toMatch(/backup\/database\/neo4j\.dump$/m);
    const out = join(tmp.path, "gnu");
    await mkdir(out);
    const extracted = spawnSync("tar", ["-xzf", path, "-C", out], { encoding: "utf8" });
    expect([extracted.status, extracted.stderr]).toEqual([0, ""]); // no warnings either
    const metadata = parseBackupMetadata(await readFile(join(out, "backup/backup_information.json")));
    const sums = execFileSync("sha256sum", Object.keys(metadata.checksums), {
      cwd: join(out, "backup"),
      encoding: "utf8",
    });
    const fromTar = Object.fromEntries(
      sums
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/).reverse()),
    );
    expect(fromTar).toEqual(metadata.checksums);

    // Python tarfile (random-access mode; its streaming mode "r|gz" is checked below).
    for (const mode of ["r:gz", "r:*"]) {
      const py = JSON.parse(
        execFileSync("python3", ["-c", PYTHON_READER, path, mode], { encoding: "utf8" }),
      ) as Array<{ name: string; type: string; size: number; sha256?: string }>;
      expect(py.map((m) => m.type)).toEqual(["dir", "dir", "file", "file", "file", "file", "file"]);
      for (const m of py) {
        if (m.type !== "file" || m.name.endsWith(".json")) continue;
        expect(m.sha256).toBe(metadata.checksums[m.name.slice("backup/".length)]);
      }
    }

    // Go's compress/gzip + archive/tar (what the upstream tool reads with).
    if (HAVE_GO) {
      const bin = join(tmp.path, "go-reader");
      execFileSync("go", ["build", "-o", bin, "."], {
        cwd: GO_READER,
        env: { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" },
      });
      const go = JSON.parse(execFileSync(bin, [path], { encoding: "utf8" })) as Array<{
        name: string;
        type: string;
        sha256?: string;
      }>;
      expect(go.map((m) => m.name)).toEqual(report.entries.map((e) => e.name));
      for (const m of go) {
        if (m.type === "0" && !m.name.endsWith(".json"))
          expect(m.sha256).toBe(metadata.checksums[m.name.slice(7)]);
      }
    } else {
      console.log("skipped the Go reader: no `go` toolchain on this machine");
    }

    // Known CPython limitation: the streaming mode "r|gz" reads only the first gzip member of any
    // multi-member .tar.gz, so it sees just the first header. Pinned here so a change is noticed.
    const stream = JSON.parse(
      execFileSync("python3", ["-c", PYTHON_READER, path, "r|gz"], { encoding: "utf8" }),
    ) as unknown[];
    expect(stream).toHaveLength(1);

    // Metadata bytes are Go MarshalIndent style, upstream field order.
    const json = await readFile(join(out, "backup/backup_information.json"), "utf8");
    expect(json.split("\n").slice(0, 8)).toEqual([
      "{",
      '    "metadata_version": 2025111200,',
      '    "backup_id": "infrahub_backup_20260130_092031",',
      '    "created_at": "2026-01-30T09:20:31Z",',
      '    "tool_version": "v0.1.0",',
      '    "infrahub_version": "1.5.3",',
      '    "components": [',
      '        "database",',
    ]);
    expect(json).toMatch(/"neo4j_edition": "community"\n}$/);

    const verified = await verifyArchive(createReadStream(path));
    expect(verified.ok).toBe(true);
    expect(verified.compressedBytes).toBe(result.commit.size);
  });
});
