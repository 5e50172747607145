// Progress as the CLI presents it, driven by the events the library emits (step, then cumulative byte
// counts every 8 MiB) on a controlled clock: rates are bytes over the wall time since the phase began,
// totals and ETA appear where the size is known, and phases that move no bytes print no progress lines.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Output } from "../src/output.js";

const MiB = 1024 * 1024;

function capture(format: "text" | "json", intervalMs = 10_000) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      callback();
    },
  });
  let clock = 1_000_000;
  const output = new Output({
    format,
    level: "info",
    stdout: sink,
    stderr: sink,
    progressIntervalMs: intervalMs,
    now: () => clock,
  });
  return {
    output,
    lines,
    json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    at: (ms: number) => {
      clock = 1_000_000 + ms;
    },
  };
}

describe("progress", () => {
  it("the rate is bytes over the time since the step began, not since the first report (was 8 MiB / 1 ms = 7.8 GiB/s)", () => {
    const c = capture("json", 1000);
    c.at(0);
    c.output.onEvent({ type: "phase-started", phase: "dump-neo4j", subject: { database: "neo4j" } });
    c.at(4000);
    c.output.onEvent({ type: "progress", entry: "database/neo4j.dump", bytes: 8 * MiB });
    c.at(6000);
    c.output.onEvent({ type: "progress", entry: "database/neo4j.dump", bytes: 16 * MiB });
    const progress = c.json().filter((l) => l.type === "progress");
    expect(progress).toEqual([
      expect.objectContaining({
        entry: "database/neo4j.dump",
        bytes: 8 * MiB,
        rate_bytes_per_second: 2 * MiB,
      }),
      expect.objectContaining({
        bytes: 16 * MiB,
        rate_bytes_per_second: Math.round((16 * MiB) / 6),
        elapsed_s: 6,
      }),
    ]);
    // No total was given for this dump: no percent, no ETA invented.
    expect(progress[0]).not.toHaveProperty("eta_s");
    expect(progress[0]).not.toHaveProperty("total_bytes");
  });

  it("a dump with an estimated total (create's size estimate) shows percent and ETA, the total marked estimated", () => {
    const dumpWithEstimate = (format: "json" | "text") => {
      const c = capture(format, 1000);
      c.output.onEvent({ type: "phase-started", phase: "dump-postgres", subject: { database: "prefect" } });
      c.at(4000);
      c.output.onEvent({
        type: "progress",
        entry: "prefect.dump",
        bytes: 8 * MiB,
        total: 32 * MiB,
        estimated: true,
      });
      return c;
    };
    expect(
      dumpWithEstimate("json")
        .json()
        .filter((l) => l.type === "progress"),
    ).toEqual([
      expect.objectContaining({
        bytes: 8 * MiB,
        total_bytes: 32 * MiB,
        total_estimated: true,
        percent: 25,
        eta_s: 12,
      }),
    ]);
    expect(dumpWithEstimate("text").lines.filter((l) => l.includes("msg=progress"))).toEqual([
      expect.stringMatching(
        /entry=prefect\.dump bytes=8388608 .* total_human="~32\.0 MiB" percent=25 .* eta_s=12 /,
      ),
    ]);
  });

  it("text lines carry a human rate; a second entry of the same phase is timed from the end of the first", () => {
    const c = capture("text", 1000);
    c.output.onEvent({ type: "phase-started", phase: "backup-neo4j", subject: { database: "neo4j" } });
    c.at(2000);
    c.output.onEvent({ type: "progress", entry: "a", bytes: 8 * MiB });
    c.at(6000);
    c.output.onEvent({ type: "progress", entry: "b", bytes: 8 * MiB });
    const progress = c.lines.filter((l) => l.includes("msg=progress"));
    expect(progress[0]).toMatch(
      /entry=a bytes=8388608 size_human="8\.0 MiB" rate="4\.0 MiB\/s" elapsed_s=2$/,
    );
    expect(progress[1]).toMatch(/entry=b .* rate="2\.0 MiB\/s" elapsed_s=4$/);
  });

  it("reads with a known size show the total, percent and ETA", () => {
    const c = capture("json", 1000);
    c.at(0);
    c.output.transfer({
      entry: "infrahub_backup_x.tar.gz",
      bytes: 0,
      total: 100 * MiB,
      startedAt: 0 + 1_000_000,
    });
    c.at(5000);
    c.output.transfer({
      entry: "infrahub_backup_x.tar.gz",
      bytes: 25 * MiB,
      total: 100 * MiB,
      startedAt: 1_000_000,
    });
    expect(
      c
        .json()
        .filter((l) => l.type === "progress")
        .at(-1),
    ).toMatchObject({
      bytes: 25 * MiB,
      total_bytes: 100 * MiB,
      percent: 25,
      rate_bytes_per_second: 5 * MiB,
      eta_s: 15,
    });
  });

  it("phases that move no bytes print no progress line: the heartbeat says which step is still running", () => {
    const c = capture("text", 10_000);
    c.output.onEvent({
      type: "phase-started",
      phase: "preflight",
      subject: { deployment: { kind: "local", name: "local" } },
    });
    c.at(12_000);
    c.output.heartbeat();
    c.output.onEvent({ type: "phase-started", phase: "stop-services", subject: { reason: "restore" } });
    c.at(23_000);
    c.output.heartbeat();
    c.at(25_000);
    c.output.heartbeat(); // less than an interval since the last line: silent
    expect(c.lines.some((l) => l.includes("msg=progress"))).toBe(false);
    const still = c.lines.filter((l) => l.includes('msg="still working"'));
    expect(still).toHaveLength(2);
    expect(still[0]).toMatch(/step="preflight on local deployment local" step_elapsed_s=12 elapsed_s=12$/);
    expect(still[1]).toMatch(/step="stopping application services" step_elapsed_s=11 elapsed_s=23$/);
  });

  it("while bytes flow, the heartbeat repeats the transfer's progress; a new step ends the transfer", () => {
    const c = capture("json", 10_000);
    c.output.onEvent({ type: "phase-started", phase: "dump-postgres", subject: { database: "prefect" } });
    c.at(10_000);
    c.output.onEvent({ type: "progress", entry: "prefect.dump", bytes: 8 * MiB });
    c.at(20_000);
    c.output.heartbeat();
    c.output.onEvent({
      type: "phase-finished",
      phase: "dump-postgres",
      bytes: 9_000_000,
      durationMs: 20_000,
    });
    c.at(31_000);
    c.output.heartbeat();
    const types = c.json().map((l) => [l.type, l.msg ?? l.bytes]);
    expect(types).toEqual([
      ["log", "dumping PostgreSQL (online)"],
      ["progress", 8 * MiB],
      ["progress", 8 * MiB],
      ["log", "PostgreSQL dump finished: 9000000 bytes in 20000 ms"],
      ["log", "still working"],
    ]);
    // The repeated line shows the rate falling while nothing arrives: the truth, not the last figure.
    const [first, second] = c.json().filter((l) => l.type === "progress");
    expect(first?.rate_bytes_per_second).toBe(Math.round((8 * MiB) / 10));
    expect(second?.rate_bytes_per_second).toBe(Math.round((8 * MiB) / 20));
  });
});

describe("the end of a read", () => {
  it("is always shown, even within the interval", () => {
    const c = capture("json", 10_000);
    c.output.transfer({ entry: "x.tar.gz", bytes: 1 * MiB, total: 2 * MiB, startedAt: 1_000_000 });
    c.at(1000);
    c.output.transfer({ entry: "x.tar.gz", bytes: 2 * MiB, total: 2 * MiB, startedAt: 1_000_000 });
    expect(c.json().map((l) => [l.bytes, l.percent])).toEqual([
      [1 * MiB, 50],
      [2 * MiB, 100],
    ]);
  });
});
