// The library's typed events become the log lines the CLI printed when events were prose: the same
// sentences and fields in text and JSON, so nobody's log parsing breaks.
import { Writable } from "node:stream";
import type { OperationEvent } from "@infrahub-backup/core";
import { describe, expect, it } from "vitest";
import { Output } from "../src/output.js";

function render(
  format: "text" | "json",
  events: OperationEvent[],
  level: "info" | "debug" = "info",
): string[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      callback();
    },
  });
  const output = new Output({ format, level, stdout: sink, stderr: sink, now: () => Date.UTC(2026, 0, 1) });
  for (const event of events) output.onEvent(event);
  return lines.map((l) => l.replace(/^time="[^"]+" /, ""));
}

// [event, its text lines as printed before events were typed (size-estimated and code= are new)]
const cases: [OperationEvent, string][] = [
  [
    {
      type: "phase-started",
      phase: "preflight",
      subject: { deployment: { kind: "kubernetes", name: "infrahub" } },
    },
    'level=info msg="preflight on kubernetes deployment infrahub"',
  ],
  [
    { type: "neo4j-detected", server: { edition: "community", version: "5.26.0" } },
    'level=info msg="Neo4j 5.26.0 community" edition=community version=5.26.0',
  ],
  [{ type: "phase-started", phase: "dump-postgres" }, 'level=info msg="dumping PostgreSQL (online)"'],
  [
    { type: "phase-finished", phase: "dump-postgres", bytes: 1234, durationMs: 56 },
    'level=info msg="PostgreSQL dump finished: 1234 bytes in 56 ms" bytes=1234 durationMs=56',
  ],
  [
    { type: "phase-started", phase: "stop-services", subject: { reason: "offline-neo4j-dump" } },
    'level=info msg="stopping application services for the offline Neo4j dump"',
  ],
  [
    {
      type: "phase-started",
      phase: "dump-neo4j",
      subject: { database: "neo4j", stagedIn: "/data/ihb-stage" },
    },
    'level=info msg="dumping Neo4j database neo4j (offline) to /data/ihb-stage in its container"',
  ],
  [
    {
      type: "phase-finished",
      phase: "dump-neo4j",
      durationMs: 900,
      subject: { stagedIn: "/data/ihb-stage" },
    },
    'level=info msg="Neo4j dump staged in 900 ms"',
  ],
  [
    { type: "phase-finished", phase: "upload-staged-dump", bytes: 5678, durationMs: 300 },
    'level=info msg="Neo4j dump finished: 5678 bytes streamed from its staging directory in 300 ms" bytes=5678 durationMs=300',
  ],
  [
    { type: "neo4j-serving", database: "neo4j", downtimeMs: 4321 },
    'level=info msg="Neo4j serving database neo4j again after 4321 ms offline" downtimeMs=4321',
  ],
  [
    { type: "services-started", services: ["infrahub-server", "task-worker"], how: "scaled-up", downMs: 5 },
    'level=info msg="started infrahub-server, task-worker"',
  ],
  [
    { type: "committed", location: "s3://b/p/x.tar.gz", size: 99 },
    'level=info msg="backup committed at s3://b/p/x.tar.gz" size=99',
  ],
  [
    {
      type: "postgres-detected",
      version: "15.4",
      database: "prefect",
      compression: { flag: "--compress=zstd:3", reason: "zstd is available" },
    },
    'level=info msg="PostgreSQL 15.4" database=prefect\nlevel=info msg="pg_dump compression: zstd is available" flag="--compress=zstd:3"',
  ],
  [
    { type: "warning", code: "FREEZE_RETRY", message: "Neo4j exited before it could be paused" },
    'level=warn msg="Neo4j exited before it could be paused" code=FREEZE_RETRY',
  ],
  [
    { type: "phase-finished", phase: "verify", durationMs: 12, bytes: 3, subject: { backupId: "b1" } },
    'level=info msg="archive verified in 12 ms" backupId=b1',
  ],
  [{ type: "phase-finished", phase: "restore", durationMs: 12 }, 'level=info msg="restore completed"'],
  [
    {
      type: "size-estimated",
      bytes: 3 * 1024 * 1024,
      parts: { neo4jStore: 2 * 1024 * 1024, postgres: 1024 * 1024 },
    },
    'level=info msg="size estimate: 3.0 MiB" bytes=3145728 neo4j_store_bytes=2097152 postgres_bytes=1048576',
  ],
  // A phase end with no sentence of its own is for debugging only.
  [{ type: "phase-finished", phase: "preflight", durationMs: 12 }, ""],
  [
    {
      type: "drill-check",
      check: {
        name: "infrahub-root",
        status: "failed",
        message: "no :Root node: not an Infrahub graph",
        value: 0,
      },
    },
    'level=warn msg="check infrahub-root: failed (no :Root node: not an Infrahub graph)" check=infrahub-root status=failed value=0',
  ],
  [
    { type: "drill-skipped", component: "postgres", reason: "no-dump" },
    'level=info msg="PostgreSQL not drilled: the archive has no task-manager database" component=postgres reason=no-dump',
  ],
];

describe("typed events as log lines", () => {
  for (const [event, text] of cases) {
    it(`${event.type}${"phase" in event ? ` ${event.phase}` : ""}: ${text.split("\n")[0] || "(debug only)"}`, () => {
      expect(render("text", [event]).join("\n")).toBe(text);
      // JSON lines carry the same message and fields.
      const json = render("json", [event]).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(json.map((j) => j.msg)).toEqual(
        text === "" ? [] : text.split("\n").map((l) => /msg="([^"]*)"/.exec(l)?.[1]),
      );
    });
  }

  it("a phase end without a sentence shows at debug level, with its duration", () => {
    expect(render("text", [{ type: "phase-finished", phase: "preflight", durationMs: 12 }], "debug")).toEqual(
      ['level=debug msg="preflight finished" durationMs=12'],
    );
  });
});
