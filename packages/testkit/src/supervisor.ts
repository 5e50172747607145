/** Something a supervisor can watch and start again. */
export interface Restartable {
  readonly running: boolean;
  start(options?: { waitForQueries?: boolean }): Promise<void>;
}

export interface Supervisor extends AsyncDisposable {
  /** How many times the service was started again after it exited. */
  readonly restarts: number;
  /** Resolves once the service is running again (its port listens) after the next (or current) restart. */
  readonly lastRestart: Promise<void>;
  /** Stops supervising (the service itself is left as it is). */
  stop(): Promise<void>;
}

/**
 * Starts a service again whenever it exits, as a container restart policy (`unless-stopped`, or the
 * kubelet) does for a container whose main process ended. The Community freeze procedure relies on it:
 * after SIGCONT the frozen JVM exits and the supervisor brings Neo4j back on the restored store. Like a
 * restart policy it does not query the service (the tool under test waits for Neo4j itself): a readiness
 * query here would be one more cypher-shell JVM per restart, competing with the Neo4j JVM starting.
 */
export function supervise(service: Restartable, options: { pollMs?: number } = {}): Supervisor {
  let active = true;
  let restarts = 0;
  let restarting: Promise<void> = Promise.resolve();
  const poll = options.pollMs ?? 100;
  const loop = (async () => {
    while (active) {
      await new Promise((r) => setTimeout(r, poll));
      if (active && !service.running) {
        restarts += 1;
        restarting = service.start({ waitForQueries: false });
        try {
          await restarting;
        } catch {
          // The next tick tries again, like a restart loop with back-off.
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  })();
  const stop = async () => {
    active = false;
    await loop;
  };
  return {
    get restarts() {
      return restarts;
    },
    get lastRestart() {
      return restarting;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
