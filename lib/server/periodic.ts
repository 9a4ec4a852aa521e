/**
 * A task the server runs on a timer: old runs pruned, alerts checked and sent.
 *
 * @module
 */

/**
 * A task run now and then every `everyMs`, one run at a time; `everyMs` 0 never.
 *
 * @example
 * ```ts
 * import { Periodic } from "./periodic.ts";
 *
 * const { promise: ran, resolve } = Promise.withResolvers<void>();
 * const task = new Periodic(60_000, () => Promise.resolve(resolve()));
 * await ran; // The first run is at once.
 * await task.stop();
 * ```
 */
export class Periodic {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly #everyMs: number;
  readonly #task: () => Promise<void>;

  /**
   * Starts the task.
   *
   * @param everyMs The pause between the end of a run and the next, ms; 0 never runs it.
   * @param task The task; it must not throw.
   */
  constructor(everyMs: number, task: () => Promise<void>) {
    this.#everyMs = everyMs;
    this.#task = task;
    if (everyMs > 0) this.#schedule(0);
  }

  #schedule(delay: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.#task().finally(() => {
        this.#running = null;
        if (!this.#stopped) this.#schedule(this.#everyMs);
      });
    }, delay);
  }

  /** Stops it: no new run starts, and a run under way is waited for. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
