/**
 * The stdin frames of one exec session, reused: at most `count` frames of `frameBytes` bytes (channel byte
 * included) exist, each allocated once and handed out again when the socket has written it. A frame per
 * chunk instead is garbage the moment it is written, and while the socket holds it (up to the in-flight
 * bound), V8 promotes it out of the young generation: it is then freed only by a mark-compact, which
 * external memory triggers tens of MiB later (packages/core/README.md, "Memory").
 */
export class StdinFrames {
  readonly #free: Buffer[] = [];
  readonly #waiting: Array<() => void> = [];
  #allocated = 0;
  #released = false;

  constructor(
    readonly frameBytes: number,
    readonly count: number,
  ) {}

  /** A free frame; waits while `count` frames are in flight. `undefined` once released. */
  async take(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.#released) return undefined;
      const frame = this.#free.pop();
      if (frame) return frame;
      if (this.#allocated < this.count) {
        this.#allocated++;
        return Buffer.allocUnsafe(this.frameBytes);
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Gives back a frame the socket no longer reads. */
  give(frame: Buffer): void {
    this.#free.push(frame);
    this.#waiting.shift()?.();
  }

  /** The session ended: every waiter, and every later `take`, gets `undefined`. */
  release(): void {
    this.#released = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
