/**
 * The in-process wake-up for long-polls: a request waiting for work on a key (a
 * dashboard's host) is woken the moment another request on this server instance
 * says there is some. Nothing is stored: a wake-up only means "look again".
 *
 * @module
 */

/**
 * One registration on a key. It is registered when created, so a notification
 * sent between creating it and calling {@linkcode Waiter.wait} is not lost.
 */
export class Waiter {
  #notified = false;
  #wake: (() => void) | null = null;
  readonly #release: () => void;

  /**
   * Makes a waiter; {@linkcode Notifier.listen} is the way to get one.
   *
   * @param release Removes this waiter from its notifier; called by {@linkcode close}.
   */
  constructor(release: () => void) {
    this.#release = release;
  }

  /** Marks the waiter notified and ends a pending {@linkcode wait}. */
  wake(): void {
    this.#notified = true;
    this.#wake?.();
  }

  /**
   * Waits until notified, until `ms` have passed, or until `signal` aborts.
   *
   * @param ms The most milliseconds to wait.
   * @param signal Ends the wait early when aborted.
   * @returns True when notified (now or before the call), false on timeout or abort.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#notified) return Promise.resolve(true);
    if (signal?.aborted || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#wake = null;
        resolve(this.#notified);
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done);
      this.#wake = done;
    });
  }

  /** Unregisters the waiter. */
  close(): void {
    this.#release();
  }
}

/**
 * Wake-ups by key. {@linkcode Notifier.listen} before looking for work, then
 * {@linkcode Waiter.wait}: work announced in between still wakes the waiter.
 *
 * @example A notification wakes a waiter on the same key only
 * ```ts
 * import { Notifier } from "./notify.ts";
 *
 * const notifier = new Notifier();
 * const a = notifier.listen("d1/web");
 * const b = notifier.listen("d1/db");
 * notifier.notify("d1/web");
 * const woken = [await a.wait(1000), await b.wait(1)];
 * a.close();
 * b.close();
 * if (woken.join() !== "true,false" || notifier.keys().length !== 0) throw new Error(woken.join());
 * ```
 */
export class Notifier {
  readonly #waiters = new Map<string, Set<Waiter>>();

  /**
   * Registers a waiter on a key.
   *
   * @param key What the waiter waits for, such as `dashboardId/host`.
   * @returns The waiter; {@linkcode Waiter.close} it when done.
   */
  listen(key: string): Waiter {
    let set = this.#waiters.get(key);
    if (set === undefined) {
      set = new Set();
      this.#waiters.set(key, set);
    }
    const waiters = set;
    const waiter = new Waiter(() => {
      waiters.delete(waiter);
      if (waiters.size === 0 && this.#waiters.get(key) === waiters) this.#waiters.delete(key);
    });
    waiters.add(waiter);
    return waiter;
  }

  /**
   * Wakes every waiter registered on a key.
   *
   * @param key The key.
   * @returns How many waiters were woken.
   */
  notify(key: string): number {
    const waiters = this.#waiters.get(key);
    if (waiters === undefined) return 0;
    for (const waiter of waiters) waiter.wake();
    return waiters.size;
  }

  /**
   * The keys that have waiters now.
   *
   * @returns The keys.
   */
  keys(): string[] {
    return [...this.#waiters.keys()];
  }
}
