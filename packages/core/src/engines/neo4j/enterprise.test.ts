import { describe, expect, it } from "vitest";
import { enterpriseBackupSteps, enterpriseRestoreSteps, parseArtefactList } from "./enterprise.js";

const credentials = { user: "neo4j", password: "s3cret", database: "neo4j" };

describe("Neo4j Enterprise procedures (command construction and order)", () => {
  it("backs up online into a fresh directory with the requested metadata", () => {
    const steps = enterpriseBackupSteps({ database: "neo4j", includeMetadata: "all", workDir: "/tmp/ihb-x" });
    expect(steps.map((s) => s.request.argv)).toEqual([
      ["mkdir", "-m", "0700", "/tmp/ihb-x"],
      [
        "neo4j-admin",
        "database",
        "backup",
        "--expand-commands",
        "--include-metadata=all",
        "--to-path=/tmp/ihb-x",
        "neo4j",
      ],
      ["find", "/tmp/ihb-x", "-maxdepth", "1", "-type", "f", "-printf", "%s %f\\n"],
    ]);
  });

  it("reads the artefact list, refusing odd names", () => {
    expect(
      parseArtefactList("12 neo4j-2025-03-24T19-57-18.backup\n7 a b.backup\n\nx bad\n3 ../escape\n"),
    ).toEqual([
      { name: "a b.backup", size: 7 },
      { name: "neo4j-2025-03-24T19-57-18.backup", size: 12 },
    ]);
  });

  it("restores in upstream's order: stop, restore, migrate, metadata replay, start, clean up; password never on argv", () => {
    const steps = enterpriseRestoreSteps({
      credentials,
      workDir: "/tmp/ihb-y",
      migrateFormat: true,
      adminUser: "neo4j",
    });
    expect(steps.map((s) => s.what)).toEqual([
      "hand the artefacts to the neo4j user",
      "stop database neo4j",
      "neo4j-admin database restore of neo4j",
      "migrate neo4j to the block format",
      "replay users, roles and privileges",
      "start database neo4j",
      "remove the work directory",
    ]);
    expect(steps[2]?.request).toEqual({
      argv: [
        "neo4j-admin",
        "database",
        "restore",
        "--expand-commands",
        "--overwrite-destination=true",
        "--from-path=/tmp/ihb-y",
        "neo4j",
      ],
      user: "neo4j",
    });
    expect(steps[4]?.request.argv).toEqual([
      "cypher-shell",
      "-u",
      "neo4j",
      "-d",
      "system",
      "--param",
      "database => 'neo4j'",
      "-f",
      "/data/scripts/neo4j/restore_metadata.cypher",
    ]);
    for (const step of steps) expect(step.request.argv.join(" ")).not.toContain("s3cret");
    expect(steps[1]?.request.env).toEqual({ NEO4J_PASSWORD: "s3cret" });
  });

  it("leaves out chown and migrate when not asked", () => {
    const steps = enterpriseRestoreSteps({ credentials, workDir: "/tmp/z" });
    expect(steps.map((s) => s.what)).not.toContain("hand the artefacts to the neo4j user");
    expect(steps.some((s) => s.what.startsWith("migrate"))).toBe(false);
  });
});
