import type { OperationEvent } from "@infrahub-backup/core";
import { eventLines } from "./event-lines.js";
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
  /** The clock (tests pass their own). Default `Date.now`. */
  now?: () => number;
}

function quote(value: unknown): string {
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return /^[\w./:@+-]*$/.test(s) && s !== "" ? s : JSON.stringify(s);
}

/** A phase of the run: the last step the library announced, and when. */
interface Phase {
  step: string | undefined;
  startedAt: number;
}

/** Bytes moving in the current phase. */
interface Transfer {
  entry: string;
  bytes: number;
  total: number | undefined;
  /** `total` is an estimate (an upper bound): shown with `~`, marked `total_estimated` in JSON. */
  estimated: boolean;
  startedAt: number;
  /** When its bytes were last reported. */
  updatedAt: number;
  /** The phase it belongs to: a new step ends it. */
  phase: Phase;
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

  constructor(options: OutputOptions) {
    this.format = options.format;
    this.#level = LEVELS[options.level];
    this.#stdout = options.stdout ?? process.stdout;
    this.#stderr = options.stderr ?? process.stderr;
    this.#tty = (this.#stderr as NodeJS.WriteStream).isTTY === true && options.format === "text";
    this.#interval = options.progressIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#phase = { step: undefined, startedAt: this.#startedAt };
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (LEVELS[level] < this.#level) return;
    this.#clearBar();
    const time = new Date(this.#now()).toISOString();
    if (this.format === "json") {
      this.#write(`${JSON.stringify({ type: "log", level, msg: message, time, ...fields })}\n`);
      return;
    }
    const kv = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${quote(v)}`)
      .join("");
    this.#write(`time="${time}" level=${level} msg=${quote(message)}${kv}\n`);
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

  /**
   * Turns library events into log lines and progress. Each informational line begins a phase of the run:
   * the heartbeat names it, and bytes reported after it are timed from it.
   */
  readonly onEvent = (event: OperationEvent): void => {
    for (const observer of this.#observers) observer(event);
    if (event.type === "progress") {
      this.transfer({
        entry: event.entry,
        bytes: event.bytes,
        total: event.total,
        ...(event.estimated ? { estimated: true } : {}),
      });
      return;
    }
    for (const line of eventLines(event)) {
      this.log(line.level, line.message, line.fields);
      if (line.level === "info") this.#beginPhase(line.message);
    }
  };

  /**
   * Progress of one transfer: `bytes` of `entry` so far, out of `total` when known. A transfer is measured
   * from `startedAt`, by default from the start of the phase it belongs to (the last step the library
   * announced; or the end of the previous transfer of that phase): the library reports a dump's bytes only
   * every few MiB, so timing from its first report would divide 8 MiB by a millisecond. A new entry, fewer
   * bytes than before, or a new phase start a new transfer.
   */
  transfer(progress: {
    entry: string;
    bytes: number;
    total?: number | undefined;
    estimated?: boolean;
    startedAt?: number;
  }): void {
    const now = this.#now();
    const t = this.#transfer;
    if (!t || t.entry !== progress.entry || progress.bytes < t.bytes || t.phase !== this.#phase) {
      const previous = t?.phase === this.#phase ? t.updatedAt : this.#phase.startedAt;
      this.#transfer = {
        entry: progress.entry,
        bytes: progress.bytes,
        total: progress.total,
        estimated: progress.estimated === true,
        startedAt: progress.startedAt ?? previous,
        updatedAt: now,
        phase: this.#phase,
      };
    } else {
      t.bytes = progress.bytes;
      t.total = progress.total ?? t.total;
      t.updatedAt = now;
    }
    if (this.#tty) {
      if (LEVELS.info < this.#level || now - this.#lastProgressAt < 200) return;
      this.#lastProgressAt = now;
      this.#drawBar(now);
      return;
    }
    // The end of a transfer of known size is always shown; otherwise one line per interval.
    const done = progress.total !== undefined && progress.bytes >= progress.total;
    if (!done && now - this.#lastProgressAt < this.#interval) return;
    this.#progressLine(now);
  }

  /** Also given every event, before it is rendered (the run's record for metrics and notifications). */
  observe(observer: (event: OperationEvent) => void): void {
    this.#observers.push(observer);
  }

  readonly #observers: ((event: OperationEvent) => void)[] = [];
  #now: () => number;
  #startedAt: number;
  /** The phase the run is in: the last step the library announced, and when. */
  #phase: Phase;
  #transfer: Transfer | undefined;
  #lastProgressAt = 0;
  /** When the last line of any kind was written (the heartbeat speaks only after a silence). */
  #lastLineAt = 0;
  #barShown = false;

  #beginPhase(step: string): void {
    this.#phase = { step, startedAt: this.#now() };
    this.#transfer = undefined;
  }

  /** Bytes, rate since the transfer began, and with a known total: percent and ETA. */
  #measure(now: number): Record<string, number | string | boolean> {
    const t = this.#transfer as Transfer;
    const elapsed = Math.max(now - t.startedAt, 1) / 1000;
    const rate = t.bytes / elapsed;
    const m: Record<string, number | string | boolean> = {
      entry: t.entry,
      bytes: t.bytes,
      rate_bytes_per_second: Math.round(rate),
      elapsed_s: Math.round(elapsed),
    };
    if (t.total !== undefined && t.total > 0) {
      m.total_bytes = t.total;
      if (t.estimated) m.total_estimated = true;
      m.percent = Math.min(100, Math.floor((t.bytes / t.total) * 100));
      if (rate > 0) m.eta_s = Math.ceil(Math.max(t.total - t.bytes, 0) / rate);
    }
    return m;
  }

  #progressLine(now: number): void {
    this.#lastProgressAt = now;
    const m = this.#measure(now);
    if (this.format === "json") {
      this.#write(`${JSON.stringify({ type: "progress", ...m, time: new Date(now).toISOString() })}\n`);
      return;
    }
    this.log("info", "progress", {
      entry: m.entry,
      bytes: m.bytes,
      size_human: humanBytes(m.bytes as number),
      ...(m.total_bytes !== undefined
        ? {
            total_human: `${m.total_estimated ? "~" : ""}${humanBytes(m.total_bytes as number)}`,
            percent: m.percent,
          }
        : {}),
      rate: `${humanBytes(m.rate_bytes_per_second as number)}/s`,
      ...(m.eta_s !== undefined ? { eta_s: m.eta_s } : {}),
      elapsed_s: m.elapsed_s,
    });
  }

  #drawBar(now: number): void {
    const m = this.#measure(now);
    const width = 20;
    const total = m.total_bytes as number | undefined;
    const bytes = m.bytes as number;
    const filled = total ? Math.round((Math.min(bytes, total) / total) * width) : 0;
    const bar = total ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
    const pct = total ? ` ${m.percent}% of ${m.total_estimated ? "~" : ""}${humanBytes(total)}` : "";
    const eta = m.eta_s !== undefined ? ` ETA ${m.eta_s}s` : "";
    const text = `${m.entry}: ${humanBytes(bytes)}${pct} at ${humanBytes(m.rate_bytes_per_second as number)}/s${eta}`;
    this.#stderr.write(`\r\x1b[2K${bar}${text}`);
    this.#barShown = true;
  }

  #heartbeat: NodeJS.Timeout | undefined;

  /**
   * Without a TTY: after `progressIntervalMs` of silence, a line that says where the run is — the current
   * transfer's progress while bytes flow, otherwise "still working" with the step and how long it has
   * taken (a Neo4j dump being prepared, a restart) — so long pod logs stay alive. Stopped by `close`.
   */
  startHeartbeat(): void {
    if (this.#tty || this.#heartbeat) return;
    this.#heartbeat = setInterval(() => this.heartbeat(), Math.max(this.#interval, 200));
    this.#heartbeat.unref();
  }

  /** One heartbeat (the timer's tick; tests call it with their clock). */
  heartbeat(): void {
    const now = this.#now();
    if (now - this.#lastLineAt < this.#interval) return;
    if (this.#transfer) {
      this.#progressLine(now);
      return;
    }
    this.log("info", "still working", {
      ...(this.#phase.step !== undefined ? { step: this.#phase.step } : {}),
      step_elapsed_s: Math.round((now - this.#phase.startedAt) / 1000),
      elapsed_s: Math.round((now - this.#startedAt) / 1000),
    });
  }

  #write(line: string): void {
    this.#lastLineAt = this.#now();
    this.#stderr.write(line);
  }

  close(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#clearBar();
    const held = this.#finalLines ?? [];
    this.#finalLines = undefined;
    for (const text of held) this.#stderr.write(text);
  }

  /**
   * Holds the final summary or error until `close`, so that what runs after the command (metrics,
   * notifications) can still log and the final line stays last, as scripts read it.
   */
  holdFinalLines(): void {
    this.#finalLines ??= [];
  }

  #finalLines: string[] | undefined;

  #writeFinal(text: string): void {
    if (this.#finalLines) this.#finalLines.push(text);
    else this.#stderr.write(text);
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
      this.#writeFinal(`${JSON.stringify({ type: "summary", time: new Date().toISOString(), ...fields })}\n`);
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
      this.#writeFinal(`${JSON.stringify({ type: "error", time: new Date().toISOString(), ...fields })}\n`);
      return;
    }
    const hint = fields.hint ? `Hint: ${fields.hint}\n` : "";
    this.#writeFinal(`Error: ${fields.message}\n${hint}${fields.stack ? `${fields.stack}\n` : ""}`);
  }
}
