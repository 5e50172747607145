import {
  type LockRequest,
  type OperationLock,
  readyLock,
  type ServiceRecordingLock,
} from "./operation-lock.js";
import type { ServiceName } from "./services.js";

/**
 * What a Compose or local environment has stopped, recorded on its operation lock before each stop and
 * cleared once started again, so that a run killed meanwhile (or whose start failed) leaves the record
 * and the next operation starts those services first.
 */
export class HeldDownServices {
  #lock: ServiceRecordingLock | undefined;
  #down: ServiceName[] = [];

  /**
   * Holds the lock: starts what a previous holder left stopped (`startIfStopped` says whether it had to),
   * warns, clears the record. On failure the lock is released and the record kept.
   */
  async hold(
    lock: ServiceRecordingLock,
    request: LockRequest,
    startIfStopped: (service: ServiceName) => Promise<boolean>,
  ): Promise<OperationLock> {
    const held = await readyLock(
      lock,
      async () => {
        if (lock.leftHeldDown.length === 0) return;
        const started: ServiceName[] = [];
        // In start order (the lock gives them so): dependencies first, as after an operation.
        for (const service of lock.leftHeldDown) {
          if (await startIfStopped(service)) started.push(service);
        }
        if (started.length > 0) {
          request.onWarning?.(
            `a previous operation ended without starting again what it had stopped (killed, or its start failed): started ${started.join(", ")}`,
          );
        }
        await lock.recordHeldDown([]);
      },
      () => {
        this.#lock = undefined;
      },
    );
    this.#lock = lock;
    this.#down = [];
    return held;
  }

  /** Records the service as held down before it is stopped (a stop that fails is undone and started). */
  async beforeStop(service: ServiceName): Promise<void> {
    this.#down = [...this.#down, service];
    await this.#lock?.recordHeldDown(this.#down);
  }

  /** Takes the services that are running again off the record. */
  async started(services: readonly ServiceName[]): Promise<void> {
    const still = this.#down.filter((s) => !services.includes(s));
    if (still.length === this.#down.length) return;
    this.#down = still;
    await this.#lock?.recordHeldDown(still).catch(() => {
      // Harmless when stale: the next operation starts only services that are still stopped.
    });
  }
}
