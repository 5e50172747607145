import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { APP_START_ORDER, type ServiceName } from "./services.js";

/** Who holds a deployment's lock, and for what. */
export interface LockHolder {
  /** Unique per operation: `<host>/<pid>/<random>`. */
  id: string;
  /** `create` or `restore`. */
  operation: string;
  /** Host name of the holder's machine (or pod). */
  host: string;
  /** Process id of the holder. */
  pid: number;
  /** ISO 8601, UTC. */
  startedAt: string;
}

/** What Environment.lock is asked for. */
export interface LockRequest {
  /** The operation that takes the lock. */
  operation: "create" | "restore";
  /** Told when a stale lock is taken over, or when the lock is lost while held. */
  onWarning?: (message: string) => void;
  /** Aborts waiting for the lock. */
  signal?: AbortSignal;
}

/** One operation at a time per deployment: held until disposed. */
export interface OperationLock extends AsyncDisposable {
  /** Who holds it: this operation. */
  readonly holder: LockHolder;
  /**
   * The holder whose stale lock this one took over (killed, its node lost): what it held down may still
   * be down, Neo4j paused until its freeze helper's lease runs out. Absent when the lock was free.
   */
  readonly tookOverFrom?: Partial<LockHolder>;
}

/**
 * A lock that also records which services its holder has stopped and not started again, so the next
 * holder can bring back what a killed run (or a failed start) left down.
 */
export interface ServiceRecordingLock extends OperationLock {
  /** Services a previous holder stopped and never started again, in upstream's start order. */
  readonly leftHeldDown: readonly ServiceName[];
  /** Replaces the record of what this holder holds down (empty: nothing); written before each stop. */
  recordHeldDown(services: readonly ServiceName[]): Promise<void>;
}

/**
 * A freshly taken lock made ready: `prepare` runs first (bringing back what a previous holder left down);
 * if it fails, the lock is released and its error thrown. Returns the lock as the operation holds it;
 * `forget` runs when it is released.
 */
export async function readyLock(
  lock: OperationLock,
  prepare: () => Promise<void>,
  forget: () => void,
): Promise<OperationLock> {
  try {
    await prepare();
  } catch (error) {
    await lock[Symbol.asyncDispose]();
    throw error;
  }
  return {
    holder: lock.holder,
    ...(lock.tookOverFrom ? { tookOverFrom: lock.tookOverFrom } : {}),
    [Symbol.asyncDispose]: async () => {
      forget();
      await lock[Symbol.asyncDispose]();
    },
  };
}

/** A holder that stops renewing is stale after this long; renewals come every quarter of it. */
export const LOCK_TTL_MS = 60_000;

export function newHolder(operation: string): LockHolder {
  const host = hostname();
  return {
    id: `${host}/${process.pid}/${randomBytes(4).toString("hex")}`,
    operation,
    host,
    pid: process.pid,
    startedAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

/** The refusal when another operation holds the lock. */
export function lockHeldError(holder: Partial<LockHolder>, where: string): BackupError {
  const what = holder.operation ? `a ${holder.operation}` : "another backup or restore";
  const by = holder.host ? ` by ${holder.host}${holder.pid ? ` (pid ${holder.pid})` : ""}` : "";
  return new BackupError(
    "OPERATION_IN_PROGRESS",
    `${what} is already running on ${where}${holder.startedAt ? ` since ${holder.startedAt}` : ""}${by}`,
    {
      hint: `wait until it ends; a lock whose holder died is taken over once it is ${LOCK_TTL_MS / 1000} s old`,
      details: { holder },
    },
  );
}

/** Whether a process of this host with that pid is alive (a holder on our own host can be checked at once). */
export function localProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const ACQUIRE_SCRIPT = `
if mkdir "$L" 2>/dev/null; then
  printf '%s' "$INFO" > "$L/info" && touch "$L/renewed" && echo acquired && { cat "$L.held-down" 2>/dev/null; exit 0; }
  rm -rf "$L"; exit 2
fi
now=$(date +%s)
renewed=$(stat -c %Y "$L/renewed" 2>/dev/null || echo 0)
echo "held $((now - renewed))"
cat "$L/info" 2>/dev/null
exit 0
`;

/**
 * A lock directory inside the database container (`mkdir` is atomic), visible to every client of the
 * deployment since all of them exec into that container: for the local and Docker Compose environments.
 * The holder renews `renewed` every quarter of the TTL; a lock not renewed for the TTL, or held by a dead
 * process of this host, is taken over with a warning. What the holder stops is recorded in `<dir>.held-down`
 * beside it (it outlives the lock: a run killed or whose start failed leaves it for the next holder).
 */
export async function acquireDirectoryLock(
  executor: Executor,
  directory: string,
  request: LockRequest,
): Promise<ServiceRecordingLock> {
  const holder = newHolder(request.operation);
  const sig = request.signal ? { signal: request.signal } : {};
  const env = { L: directory, INFO: JSON.stringify(holder) };
  let tookOverFrom: Partial<LockHolder> | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await executor.exec({
      argv: ["sh", "-c", ACQUIRE_SCRIPT],
      env,
      timeoutMs: 30_000,
      ...sig,
    });
    const out = result.stdout.toString("utf8");
    if (result.exitCode !== 0) {
      throw new BackupError(
        "EXEC_FAILED",
        `cannot take the operation lock ${directory} on ${executor.target} (exit status ${result.exitCode}): ${result.stderrTail.trim()}`,
      );
    }
    if (out.startsWith("acquired")) {
      // After the marker: `<dir>.held-down` as the previous holder left it, one service per line.
      const left = out.split("\n").slice(1);
      const leftHeldDown = APP_START_ORDER.filter((service) => left.includes(service));
      return new DirectoryLock(executor, directory, holder, request, { leftHeldDown, tookOverFrom });
    }
    const [first = "", ...rest] = out.split("\n");
    const age = Number(first.replace(/^held /, "")) * 1000;
    const other = parseHolder(rest.join("\n"));
    const deadHere = other.host === holder.host && other.pid !== undefined && !localProcessAlive(other.pid);
    if (!(age > LOCK_TTL_MS || deadHere)) throw lockHeldError(other, executor.target);
    request.onWarning?.(
      `taking over a stale operation lock (${other.operation ?? "unknown operation"} by ${other.host ?? "?"} pid ${other.pid ?? "?"} since ${other.startedAt ?? "?"}, ${deadHere ? "that process is gone" : `not renewed for ${Math.round(age / 1000)} s`})`,
    );
    tookOverFrom = other;
    // Renamed away first, so two clients taking over at once cannot both win.
    await executor.exec({
      argv: ["sh", "-c", 'mv "$L" "$L.stale.$$" 2>/dev/null && rm -rf "$L.stale.$$"; exit 0'],
      env: { L: directory },
      timeoutMs: 30_000,
    });
  }
  throw new BackupError(
    "OPERATION_IN_PROGRESS",
    `could not take the operation lock ${directory}: it keeps changing hands`,
  );
}

function parseHolder(text: string): Partial<LockHolder> {
  try {
    return JSON.parse(text) as Partial<LockHolder>;
  } catch {
    // A lock written half-way (its holder died between mkdir and the write) names nobody.
    return {};
  }
}

class DirectoryLock implements ServiceRecordingLock {
  readonly holder: LockHolder;
  readonly tookOverFrom: Partial<LockHolder> | undefined;
  readonly leftHeldDown: readonly ServiceName[];
  readonly #executor: Executor;
  readonly #directory: string;
  readonly #timer: NodeJS.Timeout;
  readonly #request: LockRequest;
  #lost = false;

  constructor(
    executor: Executor,
    directory: string,
    holder: LockHolder,
    request: LockRequest,
    previous: { leftHeldDown: readonly ServiceName[]; tookOverFrom: Partial<LockHolder> | undefined },
  ) {
    this.holder = holder;
    this.leftHeldDown = previous.leftHeldDown;
    this.tookOverFrom = previous.tookOverFrom;
    this.#executor = executor;
    this.#directory = directory;
    this.#request = request;
    this.#timer = setInterval(() => void this.#renew(), LOCK_TTL_MS / 4);
    this.#timer.unref();
  }

  async recordHeldDown(services: readonly ServiceName[]): Promise<void> {
    const result = await this.#executor.exec({
      argv: [
        "sh",
        "-c",
        'if [ -n "$R" ]; then printf "%s\\n" "$R" > "$L.held-down.tmp" && mv -f "$L.held-down.tmp" "$L.held-down"; else rm -f "$L.held-down"; fi',
      ],
      env: { L: this.#directory, R: services.join("\n") },
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) {
      throw new BackupError(
        "EXEC_FAILED",
        `cannot record what is stopped beside the operation lock ${this.#directory} (exit status ${result.exitCode}): ${result.stderrTail.trim()}`,
      );
    }
  }

  async #renew(): Promise<void> {
    if (this.#lost) return;
    try {
      const result = await this.#executor.exec({
        argv: ["sh", "-c", 'grep -qF "$ID" "$L/info" 2>/dev/null && touch "$L/renewed"'],
        env: { L: this.#directory, ID: this.holder.id },
        timeoutMs: LOCK_TTL_MS / 4,
      });
      if (result.exitCode !== 0) {
        this.#lost = true;
        this.#request.onWarning?.(`the operation lock ${this.#directory} was taken over by another client`);
      }
    } catch {
      // A missed renewal is tolerated: the lock is stale only after four of them.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    if (this.#lost) return;
    try {
      await this.#executor.exec({
        argv: ["sh", "-c", 'grep -qF "$ID" "$L/info" 2>/dev/null && rm -rf "$L"; exit 0'],
        env: { L: this.#directory, ID: this.holder.id },
        timeoutMs: 30_000,
      });
    } catch (error) {
      this.#request.onWarning?.(
        `could not release the operation lock ${this.#directory} (${(error as Error).message}); the next operation takes it over once it is stale`,
      );
    }
  }
}
