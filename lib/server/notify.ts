/**
 * The in-process wake-up for long-polls: a request waiting for work on a key (a
 * dashboard's host) is woken the moment another request on this server instance
 * says there is some. Nothing is stored: a wake-up only means "look again".
 *
 * @module
 */

import { Wakeup } from "../wakeup.ts";

/**
 * One registration on a key: a {@linkcode Wakeup} registered when created, so a
 * notification sent between creating it and calling {@linkcode Wakeup.wait} is
 * not lost.
 */
export class Waiter extends Wakeup {
  readonly #release: () => void;

  /**
   * Makes a waiter; {@linkcode Notifier.listen} is the way to get one.
   *
   * @param release Removes this waiter from its notifier; called by {@linkcode close}.
   */
  constructor(release: () => void) {
    super();
    this.#release = release;
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
    for (const waiter of waiters) waiter.notify();
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
