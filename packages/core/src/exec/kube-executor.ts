import { createHash } from "node:crypto";
import type { ClientRequest, IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import { TRANSIENT_TRIES, transientBackoffMs } from "../environment/kubernetes-api.js";
import type { KubeConfig, KubeRequestOptions } from "../environment/kubernetes-config.js";
import { BackupError } from "../errors.js";
import type { ExecRequest, ExecResult, Executor } from "./executor.js";
import {
  Channel,
  EXEC_PROTOCOL,
  type ExecStatus,
  execPath,
  exitCodeFromStatus,
  OFFERED_PROTOCOLS,
  planExec,
  saysContainerNotRunning,
  takeTrailer,
} from "./kube-exec-protocol.js";
import { StdinFrames } from "./stdin-frames.js";

const STDERR_TAIL_BYTES = 8 * 1024;
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
/** Largest stdin frame (channel byte included); bigger chunks are split. */
export const STDIN_FRAME = 256 * 1024;
/**
 * Stdin frames written to the socket and not yet flushed: 16 × 256 KiB = 4 MiB in flight, no more (bounded
 * memory, real backpressure). At 4 MiB a 50 ms round trip to a remote API server still allows ~80 MB/s.
 * The frames are reused (`StdinFrames`), so this is also all the memory stdin ever takes.
 */
export const STDIN_FRAMES_IN_FLIGHT = 16;
/**
 * Largest message taken from the API server. `ws` would accept (and buffer) up to 100 MiB; the API server
 * relays a command's output in frames of tens of KiB, so a bigger one is refused (close code 1009) rather
 * than held.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The WebSocket masking key of every frame we send: zero, so `ws` sends stdin frames as they are instead of
 * copying each into a masked buffer with a JavaScript XOR loop (every byte of a restore goes this way).
 * Masking (RFC 6455 §10.3) keeps script-controlled bytes in a browser from poisoning caches of
 * intermediaries that misread the stream; this client is not a browser, and the API server is normally
 * reached over TLS, where no intermediary reads the frames.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
/** After the status frame the server closes the socket; if it does not, we close it after this long. */
const CLOSE_GRACE_MS = 10_000;
/** Default of `handshakeTimeoutMs`. */
export const EXEC_HANDSHAKE_TIMEOUT_MS = 30_000;
/**
 * Answers to the upgrade after which an exec session is tried again (the API calls' schedule: TRANSIENT_TRIES,
 * transientBackoffMs), as after a refused connection: the API server ran nothing. A connection reset or a
 * timeout is not tried again: the API server may have started the command before the client saw the upgrade.
 */
const EXEC_TRANSIENT_STATUSES = [429, 502, 503, 504];

export interface KubernetesExecutorOptions {
  /** Auth and server (kubeconfig or in-cluster). */
  kubeConfig: KubeConfig;
  namespace: string;
  pod: string;
  /** Always explicit: a sidecar or a changed default container must not receive our commands. */
  container: string;
  /**
   * WebSocket ping interval for long commands (a dump that writes nothing for minutes must not be cut
   * by an idle timeout on a proxy or load balancer). Default 20 s.
   */
  keepAliveMs?: number;
  /**
   * Time from opening the connection to the API server until the exec session is established (TCP, TLS,
   * the HTTP upgrade, and the API server reaching the kubelet). A server that accepts the connection and
   * never answers fails after this long. Default 30 s. `timeoutMs` of a request only starts afterwards.
   */
  handshakeTimeoutMs?: number;
}

/**
 * Runs commands in a pod's container through the API server's exec endpoint, WebSocket subprotocol
 * `v5.channel.k8s.io` only (the first with a stdin close frame). Memory is bounded in both directions:
 * stdin waits while the socket's `bufferedAmount` is high; the socket is paused while `stdout` is full.
 * A command is done when its status frame AND the socket close have both arrived. Streamed stdout is
 * compared with a digest (or byte count) computed inside the pod, so a truncated transfer fails.
 */
export class KubernetesExecutor implements Executor {
  readonly target: string;
  readonly #options: KubernetesExecutorOptions;

  constructor(options: KubernetesExecutorOptions) {
    this.#options = options;
    this.target = `pod ${options.namespace}/${options.pod} (${options.container})`;
  }

  async exec(request: ExecRequest): Promise<ExecResult> {
    const [command] = request.argv;
    if (!command) throw new BackupError("INTERNAL", "exec: empty argv");
    request.signal?.throwIfAborted();
    const plan = planExec({
      argv: request.argv,
      env: request.env,
      user: request.user,
      countStdout: request.stdout !== undefined,
    });
    const { socket, backlog } = await this.#connectTrying(plan.argv, request.signal);
    return this.#run(socket, backlog, request, plan, command);
  }

  /** `#connect`, tried again while the failure ran nothing (see EXEC_TRANSIENT_STATUSES). */
  async #connectTrying(
    argv: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{ socket: WebSocket; backlog: Backlog }> {
    const { kubeConfig } = this.#options;
    let credentialRetried = false;
    for (let attempt = 1; ; attempt++) {
      const tls = await this.#requestOptions();
      try {
        return await this.#connect(argv, signal, tls);
      } catch (error) {
        const status = (error as BackupError).details?.status;
        // A refused exec-plugin credential is dropped and the plugin asked once more, at once.
        if (status === 401 && !credentialRetried && kubeConfig.credentialRefused?.(tls)) {
          credentialRetried = true;
          continue;
        }
        const refusedConnection = ((error as BackupError).cause as { code?: unknown } | undefined)?.code;
        const transient =
          refusedConnection === "ECONNREFUSED" ||
          (typeof status === "number" && EXEC_TRANSIENT_STATUSES.includes(status));
        if (!transient || attempt >= TRANSIENT_TRIES) throw error;
        await sleep(transientBackoffMs(attempt), undefined, signal ? { signal } : {}).catch(() => {
          // Cancelled while waiting to try again: the cancellation is what the caller is told.
          throw new BackupError("CANCELLED", `${this.target}: ${argv[0]} was cancelled`);
        });
      }
    }
  }

  async #requestOptions(): Promise<KubeRequestOptions> {
    try {
      return await this.#options.kubeConfig.requestOptions();
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new BackupError(
        "INVALID_CONFIG",
        `Kubernetes credentials cannot be used: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  async #connect(
    argv: readonly string[],
    signal: AbortSignal | undefined,
    tls: KubeRequestOptions,
  ): Promise<{ socket: WebSocket; backlog: Backlog }> {
    const { kubeConfig, namespace, pod, container } = this.#options;
    // Appended, not resolved: a server URL may carry a path (an API proxy such as Rancher's).
    const url = new URL(`${kubeConfig.server}${execPath(namespace, pod, container, argv)}`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const options: WebSocket.ClientOptions = {
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
      generateMask: zeroMask,
    };
    // Impersonation headers may be lists (`Impersonate-Group`), which node's HTTP client sends as repeated lines.
    Object.assign(options, tls);

    const handshakeMs = this.#options.handshakeTimeoutMs ?? EXEC_HANDSHAKE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, [...OFFERED_PROTOCOLS], options);
      const backlog = captureEarlyEvents(socket);
      let settled = false;
      const fail = (error: BackupError) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal?.removeEventListener("abort", onAbort);
        // terminate() on a socket still connecting emits an error of its own; the first reason is reported.
        socket.on("error", () => undefined);
        socket.terminate();
        reject(error);
      };
      const deadline = setTimeout(
        () =>
          fail(
            new BackupError(
              "EXEC_FAILED",
              `${this.target}: the API server at ${kubeConfig.server} did not establish the exec session for ${argv[0]} within ${handshakeMs / 1000} s`,
              {
                hint: "check that the API server is reachable and healthy (a proxy or firewall may accept connections and drop them); the exec handshake also waits for the API server to reach the kubelet",
                details: { server: kubeConfig.server, phase: "exec handshake", timeoutMs: handshakeMs },
              },
            ),
          ),
        handshakeMs,
      );
      const onAbort = () => fail(new BackupError("CANCELLED", `${this.target}: ${argv[0]} was cancelled`));
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("unexpected-response", (_req: ClientRequest, response: IncomingMessage) => {
        void readBody(response).then((body) => fail(this.#refused(response.statusCode ?? 0, body)));
      });
      socket.once("error", (error: Error) => {
        const protocolRefused = /subprotocol/i.test(error.message);
        fail(
          new BackupError(
            protocolRefused ? "EXEC_PROTOCOL_UNSUPPORTED" : "EXEC_FAILED",
            protocolRefused
              ? `${this.target}: the API server did not accept exec protocol ${EXEC_PROTOCOL} (${error.message})`
              : `${this.target}: cannot reach the API server for exec: ${error.message}`,
            {
              cause: error,
              ...(protocolRefused ? { hint: PROTOCOL_HINT } : {}),
            },
          ),
        );
      });
      socket.once("open", () => {
        clearTimeout(deadline);
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        socket.removeAllListeners("error");
        socket.removeAllListeners("unexpected-response");
        if (socket.protocol !== EXEC_PROTOCOL) {
          socket.terminate();
          reject(
            new BackupError(
              "EXEC_PROTOCOL_UNSUPPORTED",
              `${this.target}: the API server offers exec protocol ${socket.protocol || "(none)"}, not ${EXEC_PROTOCOL}`,
              { hint: PROTOCOL_HINT },
            ),
          );
          return;
        }
        resolve({ socket, backlog });
      });
    });
  }

  #refused(status: number, body: string): BackupError {
    let message = body.trim().slice(0, 500);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not a Status object
    }
    if (status === 403) {
      return new BackupError("EXEC_FAILED", `${this.target}: exec is forbidden: ${message}`, {
        hint: "the identity needs `create` on pods/exec in this namespace (the chart's Role grants it)",
        details: { status },
      });
    }
    const notRunning = saysContainerNotRunning(message) ? { containerNotRunning: true } : {};
    if (status === 404) {
      return new BackupError("SERVICE_NOT_FOUND", `${this.target}: not found: ${message}`, {
        details: { status, ...notRunning },
      });
    }
    return new BackupError("EXEC_FAILED", `${this.target}: exec refused (HTTP ${status}): ${message}`, {
      details: { status, ...notRunning },
    });
  }

  #run(
    socket: WebSocket,
    backlog: Backlog,
    request: ExecRequest,
    plan: ReturnType<typeof planExec>,
    command: string,
  ): Promise<ExecResult> {
    const target = this.target;
    const sink = request.stdout;
    const maxOutput = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const collected: Buffer[] = [];
    const digest = plan.counted ? createHash("sha256") : undefined;
    let stdoutBytes = 0;
    let stderr = "";
    let status: ExecStatus | undefined;
    let closed = false;
    let failure: BackupError | undefined;
    let stdinSource: Readable | undefined;

    return new Promise<ExecResult>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      let lastPong = Date.now();
      let pongSeen = false;
      const cleanup = () => {
        for (const timer of timers) clearTimeout(timer);
        clearInterval(keepAlive);
        request.signal?.removeEventListener("abort", onAbort);
        sink?.off("drain", onDrain);
        stdinSource?.destroy();
      };
      const abort = (error: BackupError) => {
        failure ??= error;
        socket.terminate();
      };
      const settle = () => {
        if (!closed || (!status && !failure)) return;
        cleanup();
        if (failure) return reject(failure);
        try {
          const exitCode = exitCodeFromStatus(status as ExecStatus, target);
          const { stderr: rest, trailer } = plan.counted
            ? takeTrailer(stderr)
            : { stderr, trailer: undefined };
          if (plan.counted)
            checkTrailer(trailer, exitCode, stdoutBytes, digest?.digest("hex"), target, command);
          resolve({
            exitCode,
            stdout: Buffer.concat(collected),
            stdoutBytes,
            stderrTail: rest.slice(-STDERR_TAIL_BYTES),
          });
        } catch (error) {
          reject(error);
        }
      };

      const onAbort = () => abort(new BackupError("CANCELLED", `${target}: ${command} was cancelled`));
      request.signal?.addEventListener("abort", onAbort, { once: true });
      if (request.timeoutMs !== undefined) {
        timers.push(
          setTimeout(
            () =>
              abort(
                new BackupError(
                  "TIMEOUT",
                  `${target}: ${command} did not finish within ${request.timeoutMs} ms`,
                ),
              ),
            request.timeoutMs,
          ),
        );
      }
      const keepAliveMs = this.#options.keepAliveMs ?? 20_000;
      const keepAlive = setInterval(() => {
        // A socket paused for a slow consumer reads no pongs; that is not a dead connection.
        if (socket.isPaused) lastPong = Date.now();
        // Only a server that answered pings before can be judged by a missing answer.
        if (pongSeen && Date.now() - lastPong > 3 * keepAliveMs) {
          abort(
            new BackupError(
              "EXEC_FAILED",
              `${target}: the exec connection stopped answering during ${command}`,
            ),
          );
          return;
        }
        socket.ping();
      }, keepAliveMs);
      socket.on("pong", () => {
        pongSeen = true;
        lastPong = Date.now();
      });

      const onDrain = () => socket.resume();
      sink?.on("drain", onDrain);
      sink?.once("error", (error) =>
        abort(
          new BackupError("EXEC_FAILED", `${target}: output of ${command} could not be written`, {
            cause: error,
          }),
        ),
      );
      sink?.once("close", () => {
        if (!status)
          abort(
            new BackupError(
              "CANCELLED",
              `${target}: output of ${command} was closed before the command ended`,
            ),
          );
      });

      const onMessage = (raw: WebSocket.RawData, isBinary: boolean) => {
        const data = raw as Buffer;
        if (!isBinary || data.length === 0) return;
        const channel = data[0];
        const payload = data.subarray(1);
        if (payload.length === 0) return;
        if (channel === Channel.stdout) {
          stdoutBytes += payload.length;
          digest?.update(payload);
          if (sink) {
            if (!sink.write(payload)) socket.pause();
          } else if (stdoutBytes > maxOutput) {
            abort(new BackupError("EXEC_FAILED", `${target}: ${command} wrote more than ${maxOutput} bytes`));
          } else {
            collected.push(Buffer.from(payload));
          }
        } else if (channel === Channel.stderr) {
          // Keep room for the trailer line beyond the tail the caller sees.
          stderr = (stderr + payload.toString("utf8")).slice(-2 * STDERR_TAIL_BYTES);
        } else if (channel === Channel.status) {
          try {
            status = JSON.parse(payload.toString("utf8")) as ExecStatus;
          } catch (error) {
            abort(
              new BackupError("EXEC_FAILED", `${target}: unreadable exec status frame`, { cause: error }),
            );
            return;
          }
          timers.push(setTimeout(() => socket.close(), CLOSE_GRACE_MS));
        }
      };
      const onClose = () => {
        closed = true;
        if (!status && !failure) {
          failure = new BackupError(
            "EXEC_FAILED",
            `${target}: the exec connection closed before ${command} reported its exit status`,
            { hint: "the pod may have been deleted or restarted, or the API server connection dropped" },
          );
        }
        settle();
      };
      socket.on("message", onMessage);
      socket.once("close", onClose);
      backlog.replay(onMessage, onClose);
      socket.on("error", (error: Error) =>
        abort(
          new BackupError("EXEC_FAILED", `${target}: exec connection failed: ${error.message}`, {
            cause: error,
          }),
        ),
      );

      this.#sendStdin(socket, request, plan.preamble, (source) => {
        stdinSource = source;
      }).catch((error: unknown) =>
        abort(
          error instanceof BackupError
            ? error
            : new BackupError(
                "EXEC_FAILED",
                `${target}: input of ${command} failed: ${(error as Error).message}`,
                {
                  cause: error,
                },
              ),
        ),
      );
    });
  }

  /** Sends the preamble and the request's stdin, waiting while its frames are in flight; then the v5 close. */
  async #sendStdin(
    socket: WebSocket,
    request: ExecRequest,
    preamble: Buffer | undefined,
    onSource: (source: Readable) => void,
  ): Promise<void> {
    const open = () => socket.readyState === WebSocket.OPEN;
    const frames = new StdinFrames(STDIN_FRAME, STDIN_FRAMES_IN_FLIGHT);
    socket.once("close", () => frames.release());
    const payloadBytes = STDIN_FRAME - 1;
    let failed: Error | undefined;
    /** Queues one frame; waits only while `STDIN_FRAMES_IN_FLIGHT` frames are unwritten. */
    const send = async (channel: number, bytes: Uint8Array) => {
      const frame = await frames.take();
      if (!frame) return;
      frame[0] = channel;
      frame.set(bytes, 1);
      socket.send(frame.subarray(0, bytes.length + 1), { binary: true }, (error) => {
        // The socket has written the frame (or dropped it): it can be filled again.
        frames.give(frame);
        if (error && socket.readyState === WebSocket.OPEN) failed ??= error;
      });
      if (failed) throw failed;
    };
    const sendAll = async (channel: number, bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length; at += payloadBytes) {
        if (!open()) return;
        await send(channel, bytes.subarray(at, at + payloadBytes));
      }
    };

    if (preamble) await sendAll(Channel.stdin, preamble);
    if (request.stdin) {
      const source = request.stdin instanceof Readable ? request.stdin : Readable.from(request.stdin);
      onSource(source);
      for await (const chunk of source) {
        if (!open()) return;
        const bytes: Uint8Array = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
        await sendAll(Channel.stdin, bytes);
      }
    }
    if (open()) await send(Channel.close, Uint8Array.of(Channel.stdin));
  }
}

/** Frames (and a close) that arrive with the upgrade response, before the caller's handlers exist. */
interface Backlog {
  /** Stops capturing and hands over what was captured, in order. */
  replay(onMessage: (data: WebSocket.RawData, isBinary: boolean) => void, onClose: () => void): void;
}

function captureEarlyEvents(socket: WebSocket): Backlog {
  const messages: [WebSocket.RawData, boolean][] = [];
  let closed = false;
  const onMessage = (data: WebSocket.RawData, isBinary: boolean) => messages.push([data, isBinary]);
  const onClose = () => {
    closed = true;
  };
  socket.on("message", onMessage);
  socket.on("close", onClose);
  return {
    replay(handleMessage, handleClose) {
      socket.off("message", onMessage);
      socket.off("close", onClose);
      for (const [data, isBinary] of messages) handleMessage(data, isBinary);
      if (closed) handleClose();
    },
  };
}

const PROTOCOL_HINT =
  "Kubernetes 1.30 or newer is needed (exec over WebSocket v5.channel.k8s.io); older protocols cannot close stdin";

function checkTrailer(
  trailer: ReturnType<typeof takeTrailer>["trailer"],
  exitCode: number,
  received: number,
  receivedSha: string | undefined,
  target: string,
  command: string,
): void {
  if (!trailer || trailer.exitCode === undefined) {
    throw new BackupError(
      "EXEC_FAILED",
      `${target}: ${command} ended without its output check (exit status ${exitCode}); the output may be incomplete`,
      { hint: "the container needs a POSIX sh, tee and sha256sum or wc" },
    );
  }
  if (trailer.sha256 !== undefined ? trailer.sha256 !== receivedSha : trailer.bytes !== received) {
    throw new BackupError(
      "EXEC_FAILED",
      `${target}: output of ${command} arrived damaged: received ${received} bytes` +
        (trailer.bytes !== undefined ? ` of ${trailer.bytes}` : ", and their SHA-256 differs from the pod's"),
      {
        hint: "the exec stream was cut or altered between the pod and this process; retry",
        details: { received },
      },
    );
  }
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response) {
      chunks.push(chunk as Buffer);
      if (chunks.length > 64) break;
    }
  } catch {
    // whatever arrived is enough for the message
  }
  return Buffer.concat(chunks).toString("utf8");
}
