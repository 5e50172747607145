import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { BackupError } from "../../errors.js";
import { runCommand } from "../../exec/command.js";
import { containerNotRunning, type ExecResult, type Executor } from "../../exec/executor.js";
import { containerWorkDir, removeContainerDir } from "../../exec/work-dir.js";
import type { Neo4jCredentials } from "./credentials.js";
import { waitForNeo4j } from "./wait.js";

/** Where the Neo4j image keeps its pid file (the server's main process writes it). */
export const NEO4J_PID_FILE = "/var/lib/neo4j/run/neo4j.pid";

export interface FreezeOptions {
  /** The server's pid file inside the container. */
  pidFile?: string;
  /** Local path of the static freeze helper for a container architecture (`amd64` | `arm64`). */
  helperPath: (arch: "amd64" | "arm64") => string;
  /** How long a clean shutdown may take before we give up (default 180 s). */
  shutdownTimeoutMs?: number;
  /**
   * The helper resumes Neo4j by itself (after killing the commands run under the freeze and running
   * the expiry script) once this process has not renewed its lease for this long. Default 20 s; the
   * lease is renewed every fifth of it.
   */
  leaseTtlMs?: number;
  signal?: AbortSignal;
}

/**
 * A process in the database container, told apart from a later one under the same pid: a restarted
 * container numbers its processes the same way, so the new JVM often gets the old one's pid.
 */
export interface ContainerProcess {
  pid: number;
  /** When it started: clock ticks after boot, field 22 of `/proc/<pid>/stat`. */
  startTicks: string;
}

/** A Neo4j JVM stopped (SIGSTOP) after its clean shutdown: store files closed and unlocked. */
export interface FrozenNeo4j extends ContainerProcess {
  /** Private scratch directory in the container (helper, lease, expiry script), removed by `resume`. */
  workDir: string;
  frozenAt: number;
  /** Keeps the helper's lease alive while this process runs; stopped by `resume`. */
  readonly lease: FreezeLease;
}

/** Default lifetime of the helper's lease: how long a frozen Neo4j can outlive a killed owner. */
export const FREEZE_LEASE_TTL_MS = 20_000;

/**
 * Renews the helper's lease (touches `<workDir>/lease`) on a timer. A missed renewal is tolerated: the
 * helper waits a whole TTL, five renewals, before it acts.
 */
export class FreezeLease {
  readonly #executor: Executor;
  readonly #path: string;
  readonly #timer: NodeJS.Timeout;
  #renewing = false;

  constructor(executor: Executor, workDir: string, ttlMs: number) {
    this.#executor = executor;
    this.#path = `${workDir}/lease`;
    const every = Math.max(200, Math.floor(ttlMs / 5));
    this.#timer = setInterval(() => void this.#renew(every), every);
    // The operation's own work keeps the process alive; a lease alone must not.
    this.#timer.unref();
  }

  async #renew(timeoutMs: number): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      await this.#executor.exec({ argv: ["touch", "-c", this.#path], timeoutMs: timeoutMs * 2 });
    } catch {
      // Tolerated by design (see the class comment); the next tick tries again.
    } finally {
      this.#renewing = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Shuts Neo4j down cleanly and freezes its JVM before it exits, so the container stays up with the
 * database offline (Community has no online backup and cannot stop its default database).
 * Nothing is stopped until the helper is in place and armed; any failure before the SIGTERM leaves
 * Neo4j untouched.
 */
export async function freezeNeo4j(executor: Executor, options: FreezeOptions): Promise<FrozenNeo4j> {
  const pidFile = options.pidFile ?? NEO4J_PID_FILE;
  const leaseTtlMs = options.leaseTtlMs ?? FREEZE_LEASE_TTL_MS;
  const signal = options.signal;
  const sig = signal ? { signal } : {};
  const pid = await readServerPid(executor, pidFile, sig);

  // One round trip for both: the architecture picks the helper, the start time names this JVM.
  const [machine = "", statLine = ""] = (
    await runCommand(
      executor,
      { argv: ["sh", "-c", 'uname -m && cat "/proc/$P/stat"'], env: { P: String(pid) }, ...sig },
      { what: "reading the container's architecture and Neo4j's process" },
    )
  )
    .trim()
    .split("\n");
  const server = { pid, startTicks: parseProcStat(statLine)?.startTicks ?? "" };
  if (server.startTicks === "") {
    throw new BackupError(
      "EXEC_FAILED",
      `unreadable /proc/${pid}/stat of Neo4j: ${JSON.stringify(statLine)}`,
    );
  }
  const arch =
    machine === "x86_64" || machine === "amd64"
      ? "amd64"
      : machine === "aarch64" || machine === "arm64"
        ? "arm64"
        : undefined;
  if (!arch)
    throw new BackupError(
      "EXEC_FAILED",
      `unsupported container architecture ${machine} for the Neo4j freeze helper`,
    );

  const workDir = containerWorkDir();
  const helper = options.helperPath(arch);
  const { size } = await stat(helper);
  await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'umask 077 && mkdir "$D" && head -c "$N" > "$D/neo4j-freeze" && chmod 700 "$D/neo4j-freeze"',
      ],
      env: { D: workDir, N: String(size) },
      stdin: createReadStream(helper),
      ...sig,
    },
    { what: "installing the Neo4j freeze helper" },
  );
  await runCommand(
    executor,
    {
      argv: [
        "sh",
        "-c",
        'nohup "$D/neo4j-freeze" --pid-file "$P" --ready-file "$D/ready" --timeout 20m --work-dir "$D" --lease-ttl "$L" > "$D/freeze.log" 2>&1 < /dev/null &',
      ],
      env: { D: workDir, P: pidFile, L: `${Math.ceil(leaseTtlMs / 1000)}s` },
      ...sig,
    },
    { what: "starting the Neo4j freeze helper" },
  );
  // From here on the helper holds a lease this process must keep renewing; on any failure below the
  // work directory goes, which the helper takes as an expired lease: it stops watching, or resumes the
  // JVM if it had frozen it already.
  const lease = new FreezeLease(executor, workDir, leaseTtlMs);
  try {
    const readyBy = Date.now() + 10_000;
    while ((await executor.exec({ argv: ["test", "-f", `${workDir}/ready`], ...sig })).exitCode !== 0) {
      if (Date.now() > readyBy) {
        const log = await executor.exec({ argv: ["cat", `${workDir}/freeze.log`] });
        throw new BackupError(
          "EXEC_FAILED",
          `the Neo4j freeze helper did not arm: ${log.stdout.toString().trim()}`,
        );
      }
      await sleep(100);
    }

    await runCommand(
      executor,
      { argv: ["kill", "-TERM", String(pid)], ...sig },
      { what: "stopping Neo4j (SIGTERM)" },
    );
    const frozenBy = Date.now() + (options.shutdownTimeoutMs ?? 180_000);
    for (;;) {
      const state = await processState(executor, server);
      if (state === "T") return { ...server, workDir, frozenAt: Date.now(), lease };
      if (state === undefined) {
        throw new BackupError(
          "DATABASE_COMMAND_FAILED",
          `Neo4j (pid ${pid}) exited before it could be paused; its supervisor will restart it and nothing was dumped or loaded`,
          { details: { exitedBeforePause: true } },
        );
      }
      if (Date.now() > frozenBy) {
        throw new BackupError(
          "TIMEOUT",
          `Neo4j (pid ${pid}) did not finish its shutdown in time (state ${state})`,
          {
            hint: "the server is still shutting down; it will be restarted by its supervisor",
          },
        );
      }
      signal?.throwIfAborted();
      await sleep(250);
    }
  } catch (error) {
    await abandonFreeze(executor, server, workDir, lease);
    throw error;
  }
}

/** The running Neo4j server's pid, from its pid file; DATABASE_UNAVAILABLE when there is none. */
async function readServerPid(
  executor: Executor,
  pidFile: string,
  sig: { signal?: AbortSignal } = {},
): Promise<number> {
  const pidText = await runCommand(
    executor,
    { argv: ["cat", pidFile], ...sig },
    {
      what: `reading the Neo4j pid file ${pidFile}`,
      failureCode: "DATABASE_UNAVAILABLE",
      hint: "is Neo4j running in this container?",
    },
  );
  const pid = Number(pidText.trim());
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new BackupError(
      "DATABASE_UNAVAILABLE",
      `${pidFile} does not hold a process id: ${JSON.stringify(pidText.trim())}`,
    );
  }
  return pid;
}

/**
 * After a failed freeze: a JVM that did get paused is resumed at once (rather than after the helper's
 * TTL), and the work directory goes, which ends the helper.
 */
async function abandonFreeze(
  executor: Executor,
  server: ContainerProcess,
  workDir: string,
  lease: FreezeLease,
) {
  lease.stop();
  try {
    if ((await processState(executor, server)) === "T") await signalProcess(executor, server, "CONT");
  } finally {
    try {
      await removeFreezeWorkDir(executor, workDir);
    } catch {
      // The freeze's own failure is what the caller must see (it decides whether to retry). The removal
      // fails when the JVM's exit is restarting the container; the directory left in its /tmp holds the
      // helper and its lease files only, and the helper ends with the container.
    }
  }
}

/**
 * The helper lost its race: the JVM exited between removing its pid file and the SIGSTOP (a busy node
 * can delay the helper that long). Nothing was touched; Neo4j restarts and the freeze can be tried again.
 */
export function exitedBeforePause(error: unknown): boolean {
  return error instanceof BackupError && error.details?.exitedBeforePause === true;
}

/**
 * Environment for a command run on the store under a freeze (a dump, a load): such commands are ended
 * by `endOwnedCommands`, and by the helper itself when the lease expires.
 */
export function ownedBy(frozen: FrozenNeo4j): Record<string, string> {
  return { IHB_OWNER: frozen.workDir };
}

/**
 * Kills every command started with `ownedBy(frozen)` in the container, children included, and waits
 * until they are gone: a `neo4j-admin` left running holds the store lock, and Neo4j would start without
 * its database. Closing an exec session does not reliably end the command it started.
 */
export async function endOwnedCommands(executor: Executor, frozen: FrozenNeo4j): Promise<void> {
  // Where the JVM is the container's main process, its death ends the container and every command run in it;
  // the container that replaces it has a fresh file system, without the helper's work directory. Only a
  // container that answers can say the directory is gone: a Compose service that is not running fails the
  // exec itself, at once. One exec: this runs while Neo4j is offline.
  await execUnlessContainerGone(() =>
    runCommand(
      executor,
      {
        argv: ["sh", "-c", 'if [ -d "$D" ]; then exec "$D/neo4j-freeze" --kill-owned "$D"; fi'],
        env: { D: frozen.workDir },
        timeoutMs: 30_000,
      },
      { what: "ending the commands run on the frozen Neo4j store", failureCode: "SERVICES_NOT_RESTORED" },
    ),
  );
}

/**
 * Runs an exec whose container may have ended with its main process (the JVM under the freeze): undefined
 * then, instead of the transport's error. Any other failure is thrown.
 */
async function execUnlessContainerGone<T>(exec: () => Promise<T>): Promise<T | undefined> {
  try {
    return await exec();
  } catch (error) {
    if (containerNotRunning(error)) return undefined;
    throw error;
  }
}

/**
 * What the helper runs (with `sh`) before resuming Neo4j when the lease expires — e.g. putting the
 * previous store back in place of a half-loaded one. `undefined` removes it.
 */
export async function setExpiryScript(
  executor: Executor,
  frozen: FrozenNeo4j,
  script: string | undefined,
): Promise<void> {
  await runCommand(
    executor,
    script === undefined
      ? { argv: ["rm", "-f", `${frozen.workDir}/on-expiry`] }
      : {
          argv: ["sh", "-c", 'printf %s "$S" > "$D/on-expiry.new" && mv "$D/on-expiry.new" "$D/on-expiry"'],
          env: { S: script, D: frozen.workDir },
        },
    { what: "writing the freeze helper's expiry script" },
  );
}

/** What `resumeNeo4j` found. */
export interface Resumed {
  /** The helper's work directory when it could not be removed yet (see `resumeNeo4j`). */
  workDirLeft?: string;
  /**
   * The frozen JVM was already gone: it was killed while frozen and the server running now (if any) was
   * started by its supervisor while the store was in the tool's hands — its user database may have
   * failed to start on the store locked by a `neo4j-admin` (see `restartNeo4jServer`).
   */
  exitedWhileFrozen: boolean;
}

/**
 * Lets the frozen JVM exit (its supervisor or the container restart brings Neo4j back) and stops the
 * lease. `workDirLeft` is the helper's work directory when it could not be removed yet — in a container
 * whose main process is the JVM, the exit restarts the container and commands fail until it is up again:
 * `removeFreezeWorkDir` once Neo4j serves. Throws only when the JVM is still stopped.
 */
export async function resumeNeo4j(executor: Executor, frozen: FrozenNeo4j): Promise<Resumed> {
  // SIGCONT only to the JVM that was frozen: in a restarted container its pid may be the new server's.
  const result = await execUnlessContainerGone(() => signalProcess(executor, frozen, "CONT"));
  frozen.lease.stop();
  // The container is not running: its main process, the frozen JVM, was killed and the container is being
  // restarted. Its work directory went with it.
  if (result === undefined) return { exitedWhileFrozen: true };
  let exitedWhileFrozen = false;
  if (result.exitCode !== 0) {
    const state = await processState(executor, frozen);
    if (state === "T") {
      throw new BackupError(
        "SERVICES_NOT_RESTORED",
        `could not resume the frozen Neo4j process ${frozen.pid}`,
        {
          hint: `run 'kill -CONT ${frozen.pid}' in the database container`,
        },
      );
    }
    exitedWhileFrozen = state === undefined || state === "Z";
  }
  try {
    await removeFreezeWorkDir(executor, frozen.workDir);
    return { exitedWhileFrozen };
  } catch {
    // Expected while the container restarts; the caller tries again once Neo4j serves and warns then.
    return { workDirLeft: frozen.workDir, exitedWhileFrozen };
  }
}

/**
 * Stops the running Neo4j server cleanly (SIGTERM to the pid in its pid file, as `neo4j stop` does) and
 * waits until that process is gone, so its supervisor or the container restart starts it again — on a
 * store no `neo4j-admin` holds any more. Community cannot `START DATABASE` a user database that failed
 * to start ("Unsupported administration command"); a server restart is the only way.
 */
export async function restartNeo4jServer(
  executor: Executor,
  pidFile: string,
  timeoutMs = 180_000,
): Promise<void> {
  let pid: number;
  try {
    pid = await readServerPid(executor, pidFile);
  } catch {
    // No pid file: the server is not running (or is starting over by itself); the wait that follows tells.
    return;
  }
  const stat = await readProcStat(executor, pid);
  // Gone already (a stale pid file): nothing to stop; the wait that follows tells whether a server comes up.
  if (stat === undefined) return;
  const server = { pid, startTicks: stat.startTicks };
  await signalProcess(executor, server, "TERM");
  const deadline = Date.now() + timeoutMs;
  for (
    let state = await processState(executor, server);
    state !== undefined && state !== "Z";
    state = await processState(executor, server)
  ) {
    if (Date.now() > deadline) {
      throw new BackupError(
        "DATABASE_UNAVAILABLE",
        `Neo4j (pid ${pid}) did not stop within ${timeoutMs / 1000} s of SIGTERM`,
        {
          hint: "look at the Neo4j log (debug.log); restart Neo4j by hand",
        },
      );
    }
    await sleep(500);
  }
}

/**
 * The process's state letter (`S`, `T`, `Z`, …), or undefined when it is gone — also when a later
 * process holds its pid (the container was restarted).
 */
async function processState(executor: Executor, target: ContainerProcess): Promise<string | undefined> {
  const stat = await readProcStat(executor, target.pid);
  return stat?.startTicks === target.startTicks ? stat.state : undefined;
}

/** State and start time of the process with this pid in the container; undefined when there is none. */
async function readProcStat(
  executor: Executor,
  pid: number,
): Promise<{ state: string; startTicks: string } | undefined> {
  // Where the JVM is the container's main process, its exit ends the container: the exec then fails instead
  // of finding no process (kind: containerd's "no running task found"). The process is gone.
  const result = await execUnlessContainerGone(() => executor.exec({ argv: ["cat", `/proc/${pid}/stat`] }));
  if (result === undefined || result.exitCode !== 0) return undefined;
  return parseProcStat(result.stdout.toString());
}

/**
 * State letter and start time from a `/proc/<pid>/stat` line. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so fields are counted after the last `)`.
 */
export function parseProcStat(line: string): { state: string; startTicks: string } | undefined {
  const close = line.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const [state, startTicks] = [fields[0], fields[19]];
  return state && startTicks && /^\d+$/.test(startTicks) ? { state, startTicks } : undefined;
}

/**
 * Sends the signal only while `target` is still the process that started then (one exec: the check and
 * the signal cannot be told apart by a restart in between them). Exit status 1 when it is gone or its pid
 * now belongs to another process.
 */
export function signalProcess(
  executor: Executor,
  target: ContainerProcess,
  signal: "CONT" | "TERM",
): Promise<ExecResult> {
  return executor.exec({
    argv: [
      "sh",
      "-c",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
      'read -r s < "/proc/$P/stat" || exit 1; set -f; set -- ${s##*)}; [ "${20}" = "$T" ] || exit 1; kill -"$S" "$P"',
    ],
    env: { P: String(target.pid), T: target.startTicks, S: signal },
  });
}

/** Removes the freeze helper's work directory (helper, lease, expiry script) from the container. */
export async function removeFreezeWorkDir(executor: Executor, workDir: string): Promise<void> {
  const problem = await removeContainerDir(executor, workDir, 30_000);
  if (problem !== undefined) {
    throw new BackupError(
      "EXEC_FAILED",
      `could not remove the freeze helper's work directory ${workDir} on ${executor.target} (${problem})`,
      { hint: `Neo4j is not affected; remove the directory by hand: rm -rf ${workDir}` },
    );
  }
}

/** Freezes tried in all when the helper loses its race with the exiting JVM. */
const FREEZE_ATTEMPTS = 3;

/**
 * `freezeNeo4j`, tried again when the JVM exited before the helper could pause it: that failure leaves
 * the data untouched and Neo4j restarting, so once it serves again the freeze starts over.
 */
export async function freezeNeo4jRetrying(
  executor: Executor,
  credentials: Neo4jCredentials,
  options: FreezeOptions & { onRetry: (message: string) => void | Promise<void> },
): Promise<FrozenNeo4j> {
  const { onRetry, ...freezeOptions } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await freezeNeo4j(executor, freezeOptions);
    } catch (error) {
      if (!exitedBeforePause(error) || attempt >= FREEZE_ATTEMPTS) throw error;
      await onRetry(
        `Neo4j exited before it could be paused (attempt ${attempt} of ${FREEZE_ATTEMPTS}); trying again once it serves again`,
      );
      await waitForNeo4j(executor, credentials, options.signal ? { signal: options.signal } : {});
    }
  }
}
