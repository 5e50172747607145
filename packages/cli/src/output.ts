import type { OperationEvent } from "@infrahub-backup/core";
import type { LogFormat, LogLevel } from "./parse.js";
import { humanBytes } from "./values.js";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface OutputOptions {
  format: LogFormat;
  level: LogLevel;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Interval of progress lines without a TTY. Default 10 s (`INFRAHUB_PROGRESS_INTERVAL` seconds). */
  progressIntervalMs?: number;
}

function quote(value: unknown): string {
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return /^[\w./:@+-]*$/.test(s) && s !== "" ? s : JSON.stringify(s);
}

/**
 * The CLI's presentation: results on stdout, logs and progress on stderr. Text lines follow upstream's
 * logrus shape (`time=… level=… msg=… key=value`); JSON lines carry a `type` field
 * (`log`, `progress`, `result`, `summary`, `error`).
 */
export class Output {
  readonly format: LogFormat;
  readonly #level: number;
  readonly #stdout: NodeJS.WritableStream;
  readonly #stderr: NodeJS.WritableStream;
  readonly #tty: boolean;
  readonly #interval: number;
  #progress: { entry: string; bytes: number; startedAt: number; total?: number | undefined } | undefined;
  #lastProgressAt = 0;
  #barShown = false;

  constructor(options: OutputOptions) {
    this.format = options.format;
    this.#level = LEVELS[options.level];
    this.#stdout = options.stdout ?? process.stdout;
    this.#stderr = options.stderr ?? process.stderr;
    this.#tty = (this.#stderr as NodeJS.WriteStream).isTTY === true && options.format === "text";
    this.#interval = options.progressIntervalMs ?? 10_000;
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (LEVELS[level] < this.#level) return;
    this.#clearBar();
    const time = new Date().toISOString();
    if (this.format === "json") {
      this.#stderr.write(`${JSON.stringify({ type: "log", level, msg: message, time, ...fields })}\n`);
      return;
    }
    const kv = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${quote(v)}`)
      .join("");
    this.#stderr.write(`time="${time}" level=${level} msg=${quote(message)}${kv}\n`);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields);
  }

  /** Sets the expected total bytes of the current transfer (for the ETA). */
  expectTotal(total: number | undefined): void {
    if (this.#progress) this.#progress.total = total;
    this.#expected = total;
  }
  #expected: number | undefined;

  /** Turns library events into log lines and progress. */
  readonly onEvent = (event: OperationEvent): void => {
    if (event.type === "step") this.info(event.message, event.fields);
    else if (event.type === "warning") this.warn(event.message, event.fields);
    else this.#onProgress(event.entry, event.bytes);
  };

  #onProgress(entry: string, bytes: number): void {
    const now = Date.now();
    if (!this.#progress || this.#progress.entry !== entry) {
      this.#progress = { entry, bytes: 0, startedAt: now, total: this.#expected };
    }
    this.#progress.bytes = bytes;
    const p = this.#progress;
    const elapsed = Math.max((now - p.startedAt) / 1000, 0.001);
    const rate = bytes / elapsed;
    if (this.format === "json") {
      if (now - this.#lastProgressAt < this.#interval) return;
      this.#lastProgressAt = now;
      this.#stderr.write(
        `${JSON.stringify({ type: "progress", entry, bytes, rate_bytes_per_second: Math.round(rate), time: new Date(now).toISOString() })}\n`,
      );
      return;
    }
    if (LEVELS.info < this.#level) return;
    const eta = p.total && p.total > bytes && rate > 0 ? ` ETA ${Math.ceil((p.total - bytes) / rate)}s` : "";
    const pct = p.total ? ` ${Math.min(100, Math.floor((bytes / p.total) * 100))}%` : "";
    const text = `${entry}: ${humanBytes(bytes)}${pct} at ${humanBytes(Math.round(rate))}/s${eta}`;
    if (this.#tty) {
      if (now - this.#lastProgressAt < 200) return;
      this.#lastProgressAt = now;
      const width = 20;
      const filled = p.total ? Math.round((Math.min(bytes, p.total) / p.total) * width) : 0;
      const bar = p.total ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
      this.#stderr.write(`\r\x1b[2K${bar}${text}`);
      this.#barShown = true;
      return;
    }
    if (now - this.#lastProgressAt < this.#interval) return;
    this.#lastProgressAt = now;
    this.log("info", "progress", {
      entry,
      bytes,
      size_human: humanBytes(bytes),
      rate: `${humanBytes(Math.round(rate))}/s`,
    });
  }

  #heartbeat: NodeJS.Timeout | undefined;
  #startedAt = Date.now();

  /**
   * Without a TTY: a progress line at a steady interval even while no bytes flow (a Neo4j dump being
   * prepared, a restart), so long pod logs stay alive and show where the run is. Stopped by `close`.
   */
  startHeartbeat(): void {
    if (this.#tty || this.#heartbeat) return;
    this.#startedAt = Date.now();
    this.#heartbeat = setInterval(
      () => {
        if (Date.now() - this.#lastProgressAt < this.#interval) return;
        const p = this.#progress;
        this.#lastProgressAt = Date.now();
        const elapsed_s = Math.round((Date.now() - this.#startedAt) / 1000);
        if (this.format === "json") {
          this.#stderr.write(
            `${JSON.stringify({ type: "progress", entry: p?.entry, bytes: p?.bytes ?? 0, elapsed_s, time: new Date().toISOString() })}\n`,
          );
        } else {
          this.log("info", "progress", {
            entry: p?.entry,
            bytes: p?.bytes ?? 0,
            size_human: humanBytes(p?.bytes ?? 0),
            elapsed_s,
          });
        }
      },
      Math.max(this.#interval, 200),
    );
    this.#heartbeat.unref();
  }

  close(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#clearBar();
  }

  #clearBar(): void {
    if (this.#barShown) {
      this.#stderr.write("\r\x1b[2K");
      this.#barShown = false;
    }
  }

  /** A command's result: text on stdout, or one JSON object with `type: "result"`. */
  result(text: string, json: Record<string, unknown>): void {
    this.#clearBar();
    if (this.format === "json") this.#stdout.write(`${JSON.stringify({ type: "result", ...json })}\n`);
    else if (text !== "") this.#stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** The final line on stderr in JSON mode (`summary`); nothing extra in text mode. */
  summary(fields: Record<string, unknown>): void {
    if (this.format === "json") {
      this.#stderr.write(
        `${JSON.stringify({ type: "summary", time: new Date().toISOString(), ...fields })}\n`,
      );
    }
  }

  error(fields: {
    message: string;
    code: string;
    category: string;
    exit_code: number;
    hint?: string | undefined;
    details?: unknown;
    stack?: string | undefined;
  }): void {
    this.#clearBar();
    if (this.format === "json") {
      this.#stderr.write(`${JSON.stringify({ type: "error", time: new Date().toISOString(), ...fields })}\n`);
      return;
    }
    this.#stderr.write(`Error: ${fields.message}\n`);
    if (fields.hint) this.#stderr.write(`Hint: ${fields.hint}\n`);
    if (fields.stack) this.#stderr.write(`${fields.stack}\n`);
  }
}
