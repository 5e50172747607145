import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { BackupError } from "../errors.js";
import {
  type BackupMetadata,
  formatCreatedAt,
  includesTaskManager,
  parseBackupMetadata,
  serializeBackupMetadata,
} from "./backup-metadata.js";

const HAVE_GO = spawnSync("go", ["version"]).status === 0;
const GO_METADATA = join(import.meta.dirname, "../../test/fixtures/archives/go-metadata");

const full: BackupMetadata = {
  metadataVersion: 2025111200,
  backupId: "infrahub_backup_20260130_092031",
  createdAt: "2026-01-30T09:20:31Z",
  toolVersion: "v0.1.0",
  infrahubVersion: "1.5.3 <dev> & co",
  components: ["database", "task-manager-db"],
  checksums: { "prefect.dump": "a".repeat(64), "database/neo4j.dump": "b".repeat(64) },
  neo4jEdition: "community",
  redacted: true,
  encrypted: true,
  sourceEndpoints: { "task-manager-db": ["pg:5432"], database: ["neo4j:7687", "neo4j-2:7687"] },
  sourceRoles: { database: { "neo4j:7687": "primary", "neo4j-2:7687": "secondary" } },
  externalLocation: { database: false },
  captureComplete: true,
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    return error instanceof BackupError ? error.code : String(error);
  }
}

describe("backup metadata", () => {
  it.skipIf(!HAVE_GO)(
    "serialises byte for byte like Go's json.MarshalIndent of the upstream struct",
    async () => {
      await using tmp = await tempDir();
      const bin = join(tmp.path, "go-metadata");
      execFileSync("go", ["build", "-o", bin, "."], {
        cwd: GO_METADATA,
        env: { ...process.env, GOTOOLCHAIN: "local" },
      });
      const minimal: BackupMetadata = { ...full, checksums: {}, components: ["database"] };
      for (const key of [
        "neo4jEdition",
        "redacted",
        "encrypted",
        "sourceEndpoints",
        "sourceRoles",
        "externalLocation",
        "captureComplete",
      ] as const) {
        delete minimal[key];
      }
      for (const value of [full, minimal]) {
        const ours = serializeBackupMetadata(value);
        const go = execFileSync(bin, { input: ours, encoding: "utf8" });
        expect(ours).toBe(go);
      }
    },
  );

  it("round-trips and normalises on read", () => {
    const parsed = parseBackupMetadata(serializeBackupMetadata(full));
    expect(parsed).toEqual(full);
    expect(includesTaskManager(parsed)).toBe(true);
    const windows = parseBackupMetadata(
      JSON.stringify({ checksums: { "database\\neo4j.dump": "A".repeat(64) } }),
    );
    expect(windows.checksums).toEqual({ "database/neo4j.dump": "a".repeat(64) });
    expect(
      includesTaskManager(
        parseBackupMetadata(JSON.stringify({ checksums: { "prefect.dump": "a".repeat(64) } })),
      ),
    ).toBe(true);
    expect(parseBackupMetadata(JSON.stringify({ neo4j_edition: "Enterprise", x: 1 }))).toMatchObject({
      neo4jEdition: "enterprise",
      unknownKeys: ["x"],
    });
    expect(formatCreatedAt(new Date("2026-01-30T09:20:31.789Z"))).toBe("2026-01-30T09:20:31Z");
  });

  it("refuses invalid metadata with stable codes", () => {
    expect(codeOf(() => parseBackupMetadata("{"))).toBe("METADATA_INVALID");
    expect(codeOf(() => parseBackupMetadata("[]"))).toBe("METADATA_INVALID");
    expect(codeOf(() => parseBackupMetadata(JSON.stringify({ checksums: { a: "sha256:abc" } })))).toBe(
      "METADATA_INVALID",
    );
    expect(codeOf(() => parseBackupMetadata(JSON.stringify({ redacted: "yes" })))).toBe("METADATA_INVALID");
    expect(codeOf(() => parseBackupMetadata(JSON.stringify({ neo4j_edition: "aura" })))).toBe(
      "METADATA_INVALID",
    );
    expect(codeOf(() => parseBackupMetadata(Buffer.from([0xff, 0xfe])))).toBe("METADATA_INVALID");
    expect(codeOf(() => parseBackupMetadata(Buffer.alloc(2 * 1024 * 1024, 0x20)))).toBe("METADATA_TOO_LARGE");
    expect(codeOf(() => parseBackupMetadata(JSON.stringify({ capture_complete: false })))).toBe(
      "CAPTURE_INCOMPLETE",
    );
    // Writing is strict.
    expect(codeOf(() => serializeBackupMetadata({ ...full, createdAt: "2026-01-30 09:20:31" }))).toBe(
      "METADATA_INVALID",
    );
    expect(codeOf(() => serializeBackupMetadata({ ...full, components: ["task-manager-db"] }))).toBe(
      "METADATA_INVALID",
    );
    expect(
      codeOf(() => serializeBackupMetadata({ ...full, checksums: { "database\\x": "a".repeat(64) } })),
    ).toBe("METADATA_INVALID");
    expect(codeOf(() => serializeBackupMetadata({ ...full, captureComplete: false }))).toBe(
      "METADATA_INVALID",
    );
  });
});
