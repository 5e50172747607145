import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { type BackupError, isBackupError } from "../errors.js";
import { runCommand, streamCommand } from "./command.js";
import { LocalExecutor } from "./local-executor.js";

const local = new LocalExecutor({ target: "local test" });

/** A consumer that takes its time, so the producer must be paused (backpressure), not buffered. */
function slowSink(onChunk: (chunk: Buffer) => void, delayEvery = 64): Writable {
  let n = 0;
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, callback) {
      onChunk(chunk);
      if (++n % delayEvery === 0) setTimeout(callback, 1);
      else callback();
    },
  });
}

describe("LocalExecutor", () => {
  it("returns exit statuses without throwing, with a stderr tail", async () => {
    const result = await local.exec({ argv: ["sh", "-c", "echo out; echo oops >&2; exit 3"] });
    expect(result.exitCode).toBe(3);
    expect(result.stdout.toString()).toBe("out\n");
    expect(result.stderrTail).toBe("oops\n");
  });

  it("delivers env to the command without putting it on argv, and masks secrets in errors", async () => {
    const request = {
      argv: ["sh", "-c", 'echo "pw=$PGPASSWORD" >&2; exit 1'],
      env: { PGPASSWORD: "s3cr3t-value" },
    };
    const error = await runCommand(local, request, { what: "probe", failureCode: "DATABASE_AUTH" }).catch(
      (e) => e,
    );
    expect(isBackupError(error, "DATABASE_AUTH")).toBe(true);
    expect((error as BackupError).message).toContain("pw=***");
    expect((error as BackupError).message).not.toContain("s3cr3t-value");
  });

  it("streams 256 MiB of stdout to a slow consumer with bounded memory", async () => {
    const hash = createHash("sha256");
    let bytes = 0;
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const result = await local.exec({
      argv: ["sh", "-c", "head -c 268435456 /dev/zero"],
      stdout: slowSink((chunk) => {
        bytes += chunk.length;
        hash.update(chunk);
        peak = Math.max(peak, process.memoryUsage().rss);
      }),
    });
    expect(result.exitCode).toBe(0);
    expect(bytes).toBe(256 * 1024 * 1024);
    expect(result.stdoutBytes).toBe(bytes);
    console.log(`exec stream 256 MiB: rss growth ${((peak - rssBefore) / 2 ** 20).toFixed(1)} MiB`);
    // Buffering the stream would grow RSS by >= 256 MiB; what remains is garbage awaiting collection.
    expect(peak - rssBefore).toBeLessThan(160 * 1024 * 1024);
  });

  it("feeds stdin as a stream and counts exactly what the command read", async () => {
    async function* chunks() {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(1024 * 1024, i);
    }
    const result = await local.exec({ argv: ["sh", "-c", "wc -c"], stdin: Readable.from(chunks()) });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.toString().trim()).toBe(String(64 * 1024 * 1024));
  });

  it("a byte-counted input (head -c N) works without stdin EOF", async () => {
    const payload = Buffer.alloc(5_000_000, 9);
    // The stream never ends: only the count lets the command finish (as under kwok or old exec protocols).
    const endless = new Readable({ read() {} });
    endless.push(payload);
    const result = await local.exec({
      argv: ["sh", "-c", 'head -c "$N" | wc -c'],
      env: { N: String(payload.length) },
      stdin: endless,
    });
    expect(result.stdout.toString().trim()).toBe(String(payload.length));
    endless.destroy();
  });

  it("times out and cancels, killing the whole process group", async () => {
    const started = Date.now();
    await expect(
      local.exec({ argv: ["sh", "-c", "sleep 30 & sleep 30"], timeoutMs: 300 }),
    ).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await expect(local.exec({ argv: ["sleep", "30"], signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELLED",
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("reports a command that cannot be started", async () => {
    await expect(local.exec({ argv: ["/nonexistent/pg_dump"] })).rejects.toMatchObject({
      code: "EXEC_FAILED",
    });
  });
});

describe("streamCommand", () => {
  it("ends the stream only after a successful exit", async () => {
    const { stdout, done } = streamCommand(local, { argv: ["sh", "-c", "printf hello"] }, { what: "hello" });
    const chunks: Buffer[] = [];
    await pipeline(
      stdout,
      slowSink((c) => chunks.push(c)),
    );
    expect(Buffer.concat(chunks).toString()).toBe("hello");
    expect((await done).exitCode).toBe(0);
  });

  it("errors the stream when the producer fails after writing, so truncation is never silent", async () => {
    const { stdout, done } = streamCommand(
      local,
      { argv: ["sh", "-c", "head -c 3000000 /dev/zero; echo 'pg_dump: error: connection lost' >&2; exit 1"] },
      { what: "pg_dump", failureCode: "DATABASE_COMMAND_FAILED" },
    );
    let received = 0;
    const consumed = pipeline(
      stdout,
      slowSink((c) => (received += c.length)),
    );
    await expect(consumed).rejects.toMatchObject({ code: "DATABASE_COMMAND_FAILED" });
    await expect(done).rejects.toThrow(
      /pg_dump failed on local test \(exit status 1\): pg_dump: error: connection lost/,
    );
    expect(received).toBeLessThanOrEqual(3_000_000);
  });

  it("stops the command when the consumer gives up", async () => {
    const { stdout, done } = streamCommand(
      local,
      { argv: ["sh", "-c", "cat /dev/zero"] },
      { what: "endless" },
    );
    stdout.once("data", () => stdout.destroy());
    await expect(done).rejects.toMatchObject({ code: "CANCELLED" });
  });
});
