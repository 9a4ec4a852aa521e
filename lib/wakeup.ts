/**
 * Waiting to be woken: a loop that sleeps until told there is work, until a time
 * has passed, or until it is aborted, whichever comes first; and a plain sleep
 * that an abort cuts short. One primitive for koid's link loops, koid's clock and
 * the dashboard server's long-polls.
 *
 * @module
 */

/**
 * A wake-up for one waiter at a time. A {@linkcode Wakeup.notify} that comes
 * while nobody waits is kept for the next {@linkcode Wakeup.wait}, so work
 * announced between looking for it and waiting is never missed.
 *
 * @example Told before it waits, it does not wait
 * ```ts
 * import { Wakeup } from "./wakeup.ts";
 *
 * const wakeup = new Wakeup();
 * wakeup.notify();
 * if (await wakeup.wait(60_000) !== true) throw new Error("waited");
 * if (await wakeup.wait(1) !== false) throw new Error("the notification counts once");
 * ```
 */
export class Wakeup {
  #notified = false;
  #wake: (() => void) | null = null;

  /** Wakes the waiter now, or the next one to wait. */
  notify(): void {
    this.#notified = true;
    this.#wake?.();
  }

  /**
   * Waits until notified (now, if it was since the last wait), until `ms` have
   * passed, or until `signal` aborts.
   *
   * @param ms The most milliseconds to wait; `Infinity` for no limit.
   * @param signal Ends the wait early when aborted.
   * @returns True when notified, false on timeout or abort.
   */
  wait(ms = Infinity, signal?: AbortSignal): Promise<boolean> {
    if (this.#notified) {
      this.#notified = false;
      return Promise.resolve(true);
    }
    if (signal?.aborted || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#wake = null;
        const notified = this.#notified;
        this.#notified = false;
        resolve(notified);
      };
      if (Number.isFinite(ms)) timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}

/**
 * Sleeps for `ms`, or until `signal` aborts; never rejects.
 *
 * @param ms How long.
 * @param signal Cuts the sleep short.
 * @returns When the time has passed or the signal aborted.
 *
 * @example An aborted sleep ends at once
 * ```ts
 * import { sleep } from "./wakeup.ts";
 *
 * const started = Date.now();
 * await sleep(60_000, AbortSignal.abort());
 * if (Date.now() - started > 1000) throw new Error("slept");
 * ```
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await new Wakeup().wait(ms, signal);
}
