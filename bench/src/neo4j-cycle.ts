import { type Neo4jServer, type Supervisor, supervise } from "@infrahub-backup/testkit";

/**
 * Owns the restart policy of the local Neo4j: our create/restore need it (a frozen JVM exits and is
 * started again, as a container would be), while the raw and naive baselines stop and start Neo4j
 * themselves with supervision paused.
 */
export class Neo4jCycle implements AsyncDisposable {
  #supervisor: Supervisor | undefined;
  /** Lazy start: stopped by an offline step and not started again until our CLI needs it. */
  #parked = false;

  /**
   * `lazyStart`: an offline step leaves Neo4j stopped and the next one reuses that (one stop/start for the
   * data import and the baselines before our create); their `stopMs` and `startMs` are then 0. For the
   * smoke test, where the figures do not matter.
   */
  constructor(
    readonly neo4j: Neo4jServer,
    supervisor: Supervisor,
    readonly lazyStart = false,
  ) {
    this.#supervisor = supervisor;
  }

  /** Waits until a restart by the supervisor (after our create/restore) has finished; starts a parked Neo4j. */
  async settled(): Promise<void> {
    if (this.#parked) {
      await this.neo4j.start();
      this.#supervisor = supervise(this.neo4j);
      this.#parked = false;
    }
    await this.#supervisor?.lastRestart;
    for (let i = 0; i < 600 && !this.neo4j.running; i++) await new Promise((r) => setTimeout(r, 100));
    await this.#supervisor?.lastRestart;
  }

  /** Runs `step` with Neo4j stopped; reports how long the clean stop and the start (until bolt answers) took. */
  async offline<T>(step: () => Promise<T>): Promise<{ result: T; stopMs: number; startMs: number }> {
    if (this.#parked) return { result: await step(), stopMs: 0, startMs: 0 };
    await this.settled();
    await this.#supervisor?.stop();
    this.#supervisor = undefined;
    const t0 = performance.now();
    await this.neo4j.stop();
    const stopMs = performance.now() - t0;
    let result: T;
    let startMs = 0;
    if (this.lazyStart) {
      this.#parked = true;
      return { result: await step(), stopMs, startMs };
    }
    try {
      result = await step();
    } finally {
      const t1 = performance.now();
      await this.neo4j.start();
      startMs = performance.now() - t1;
      this.#supervisor = supervise(this.neo4j);
    }
    return { result, stopMs, startMs };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#supervisor?.stop();
  }
}
