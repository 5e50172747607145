import { BackupError } from "../errors.js";
import { SHA256_FILTER } from "./sha256-shell.js";
import { shellQuote } from "./shell-quote.js";

/** The only exec subprotocol we speak: the first with a stdin half-close frame (Kubernetes ≥ 1.30). */
export const EXEC_PROTOCOL = "v5.channel.k8s.io";
/** Offered after v5 only so an older server answers with what it has and we can name it. */
export const OFFERED_PROTOCOLS = [EXEC_PROTOCOL, "v4.channel.k8s.io"] as const;

/** Channel numbers: first byte of every binary frame. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

/** The exec URL path + query for one command (container always explicit). */
export function execPath(namespace: string, pod: string, container: string, argv: readonly string[]): string {
  const query = new URLSearchParams();
  for (const arg of argv) query.append("command", arg);
  query.set("container", container);
  query.set("stdin", "true");
  query.set("stdout", "true");
  query.set("stderr", "true");
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${query}`;
}

/** A Kubernetes `metav1.Status` as sent on the status channel. */
export interface ExecStatus {
  status?: string;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/**
 * The exit status a status frame reports: 0 for Success; N for a real kubelet's NonZeroExitCode (cause
 * ExitCode) and for kwok's InternalError "… exit status N" (kwok wraps the exit error, so the kubelet
 * library cannot recognise it). Any other failure means the command did not run: an error.
 */
export function exitCodeFromStatus(status: ExecStatus, target: string): number {
  if (status.status === "Success") return 0;
  if (status.reason === "NonZeroExitCode") {
    const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
    const code = Number(cause?.message);
    if (cause && Number.isInteger(code) && code >= 0) return code;
  }
  const wrapped = /\bexit status (\d+)\b/.exec(status.message ?? "");
  if (wrapped?.[1] !== undefined) return Number(wrapped[1]);
  throw new BackupError(
    "EXEC_FAILED",
    `${target}: the command could not be run: ${status.reason ?? status.status ?? "unknown failure"}${status.message ? ` (${status.message})` : ""}`,
    {
      details: {
        reason: status.reason,
        target,
        ...(saysContainerNotRunning(status.message) ? { containerNotRunning: true } : {}),
      },
    },
  );
}

/**
 * What the kubelet and its runtime answer an exec into a container that is not running (its main process
 * exited, it is being restarted or has not started): containerd's "no running task found" (seen on kind when
 * the Neo4j JVM, the container's main process, had just exited), "cannot exec in a stopped state", the
 * kubelet's "container not found" and "is waiting to start", and — also seen on kind, an exec racing the
 * container's end — CRI's "container is in CONTAINER_EXITED state", a shim gone mid-create ("ttrpc: closed") and,
 * when the kubelet restarts the container at once (no back-off), containerd's "container not created: not found"
 * for the new one.
 */
const CONTAINER_NOT_RUNNING =
  /no running task found|cannot exec in a stopped state|container not running|container not found|is waiting to start|is not running|container is in CONTAINER_EXITED state|failed to create exec .*(ttrpc: closed|container not created)/i;

export function saysContainerNotRunning(message: string | undefined): boolean {
  return message !== undefined && CONTAINER_NOT_RUNNING.test(message);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// No `-`: a value starting with it would be read as a printf option.
const SAFE_BYTE = /[A-Za-z0-9_.:/@+,=]/;

/**
 * Encodes env values for the stdin preamble: one `NAME=VALUE` line each, VALUE escaped as printf octal
 * (`\ooo`) outside a safe set, so a value may hold newlines, quotes or `%`; an empty line ends it.
 */
export function envPreamble(env: Readonly<Record<string, string>>): Buffer {
  let text = "";
  for (const name of Object.keys(env).sort()) {
    if (!ENV_NAME.test(name)) {
      throw new BackupError("INTERNAL", `exec: ${JSON.stringify(name)} is not a valid environment name`);
    }
    let escaped = "";
    for (const byte of Buffer.from(env[name] ?? "", "utf8")) {
      const char = String.fromCharCode(byte);
      escaped += byte < 0x80 && SAFE_BYTE.test(char) ? char : `\\${byte.toString(8).padStart(3, "0")}`;
    }
    text += `${name}=${escaped}\n`;
  }
  return Buffer.from(`${text}\n`, "ascii");
}

export { shellQuote };

/**
 * Reads the env preamble with the shell's `read` builtin (which reads a pipe byte by byte, so not one
 * byte of the command's own input is consumed) and exports it. The `x` guards trailing newlines.
 */
const READ_ENV =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
  'while IFS= read -r l && [ -n "$l" ]; do v=$(printf "${l#*=}x"); export "${l%%=*}=${v%x}"; done';

export const TRAILER_MARK = ":ihb-exec-trailer:";

/**
 * Runs the command with stdout through `tee` into a SHA-256 (`openssl dgst`, else `sha256sum`; `wc -c` when
 * the container has neither) and on to the real stdout; the digest/count and the command's status go to stderr as a
 * last line, and the script exits with the command's status. tee's second output is /dev/fd/5, a pipe
 * this shell creates (relayed to the real stdout by `cat`): the real stdout is a pipe owned by the
 * runtime's user, which a non-root container cannot reopen through /dev/fd (EACCES). fds 3–5 are
 * closed for the command, so a daemon it leaves behind cannot hold the capture open.
 */
function countedScript(command: string): string {
  return [
    SHA256_FILTER,
    "exec 3>&1",
    `t=$( { { { ${command} 3>&- 4>&- 5>&-; echo "rc=$?" >&4; } | tee /dev/fd/5 | h >&4; } 5>&1 | cat >&3; } 4>&1 )`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
    "rc=1; for w in $t; do case $w in rc=*) rc=${w#rc=};; esac; done",
    `printf '\\n${TRAILER_MARK} %s\\n' "$(echo $t)" >&2`,
    'exit "$rc"',
  ].join("\n");
}

export interface ExecPlan {
  /** What the API server gets as `command=`: never a value from `env`. */
  argv: string[];
  /** Bytes to send on stdin before the request's own stdin (the env preamble). */
  preamble: Buffer | undefined;
  /** True when stderr ends with a trailer line to check stdout against. */
  counted: boolean;
}

/**
 * Turns a request into what is sent: env values through stdin (the API server writes exec argv to its
 * audit log, so no value — secret or not — goes on argv), `user` as `su - <user> -s /bin/sh -c '…'` as
 * upstream, and a byte-count/digest trailer when stdout is streamed.
 */
export function planExec(request: {
  argv: readonly string[];
  env?: Readonly<Record<string, string>> | undefined;
  user?: string | undefined;
  countStdout: boolean;
}): ExecPlan {
  const env = request.env ?? {};
  const hasEnv = Object.keys(env).length > 0;
  if (!hasEnv && !request.user && !request.countStdout) {
    return { argv: [...request.argv], preamble: undefined, counted: false };
  }
  const command = request.argv.map(shellQuote).join(" ");
  const parts: string[] = [];
  if (hasEnv) parts.push(READ_ENV);
  parts.push(request.countStdout ? countedScript(command) : `exec ${command}`);
  const script = parts.join("\n");
  const argv = request.user ? ["su", "-", request.user, "-s", "/bin/sh", "-c", script] : ["sh", "-c", script];
  return { argv, preamble: hasEnv ? envPreamble(env) : undefined, counted: request.countStdout };
}

export interface Trailer {
  /** sha256 hex of what the command wrote, when the container has openssl or sha256sum. */
  sha256?: string;
  /** Byte count, when it had to use `wc -c`. */
  bytes?: number;
  exitCode?: number;
}

/** Splits the trailer line off the end of stderr; `undefined` when it is missing. */
export function takeTrailer(stderr: string): { stderr: string; trailer: Trailer | undefined } {
  const at = stderr.lastIndexOf(`\n${TRAILER_MARK} `);
  if (at < 0) return { stderr, trailer: undefined };
  const line = stderr.slice(at + TRAILER_MARK.length + 2).split("\n")[0] ?? "";
  const trailer: Trailer = {};
  for (const word of line.trim().split(/\s+/)) {
    if (/^rc=\d+$/.test(word)) trailer.exitCode = Number(word.slice(3));
    else if (/^[0-9a-f]{64}$/.test(word)) trailer.sha256 = word;
    else if (/^\d+$/.test(word)) trailer.bytes = Number(word);
  }
  return { stderr: stderr.slice(0, at), trailer };
}
