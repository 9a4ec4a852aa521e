/**
 * koid's long-poll for manual runs: hand a host its queued runs at once, or wait
 * until one is queued, woken at once by a queue on this server instance and
 * within a second by one queued through another instance sharing the store.
 *
 * @module
 */

import { Notifier } from "./notify.ts";
import type { ClaimedManual } from "../protocol/wire.ts";
import type { DashboardStore } from "./store.ts";

/** Long-polls for manual runs, over one store. */
export class ManualPoller {
  readonly #store: DashboardStore;
  readonly #notifier = new Notifier();
  readonly #recheckMs: number;
  readonly #log: (line: string) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sweep: Promise<void> | null = null;
  #closed = false;

  /**
   * Makes the poller; it looks at the store only while some poll waits.
   *
   * @param store The store the runs are queued in.
   * @param recheckMs How often waiting polls look at the store for runs queued elsewhere.
   * @param log Where a failed look at the store is reported.
   */
  constructor(store: DashboardStore, recheckMs: number, log: (line: string) => void) {
    this.#store = store;
    this.#recheckMs = recheckMs;
    this.#log = log;
  }

  /**
   * Claims the manual runs queued for a host; when there are none, waits for one
   * for up to `waitMs`. Runs claimed after `signal` aborted go back in the queue.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param waitMs The most milliseconds to wait.
   * @param signal Aborts the wait: the client is gone, or the server stops.
   * @returns The claimed runs; empty when none came in time.
   */
  async poll(
    id: string,
    host: string,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<ClaimedManual[]> {
    const key = notifierKey(id, host);
    const deadline = performance.now() + waitMs;
    while (true) {
      // Listen before looking, so a run queued in between still wakes this poll.
      const waiter = this.#notifier.listen(key);
      try {
        const runs = await this.#store.claimManual(id, host);
        if (runs.length > 0 && signal?.aborted) {
          await this.#store.releaseManual(id, runs.map((run) => run.manualId));
          this.#notifier.notify(key);
          return [];
        }
        const left = deadline - performance.now();
        if (runs.length > 0 || left <= 0 || signal?.aborted) return runs;
        this.#scheduleSweep();
        await waiter.wait(left, signal);
      } finally {
        waiter.close();
      }
    }
  }

  /**
   * Wakes the polls of a host waiting on this instance: a run was just queued.
   *
   * @param id The dashboard id.
   * @param host The host.
   */
  queued(id: string, host: string): void {
    this.#notifier.notify(notifierKey(id, host));
  }

  /** Stops looking at the store; waits for a look in progress to end. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#sweep;
  }

  /**
   * While any poll waits, looks at the store once per `recheckMs`, counted from the
   * start of one look to the next: a slow store does not stretch the cadence.
   */
  #scheduleSweep(delay = this.#recheckMs): void {
    if (this.#closed || this.#timer !== undefined || this.#sweep !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const started = performance.now();
      this.#sweep = this.#lookAtQueue().finally(() => {
        this.#sweep = null;
        const left = this.#recheckMs - (performance.now() - started);
        if (this.#notifier.keys().length > 0) this.#scheduleSweep(Math.max(0, left));
      });
    }, delay);
  }

  async #lookAtQueue(): Promise<void> {
    try {
      for (const { id, host } of await this.#store.queuedHosts()) {
        this.#notifier.notify(notifierKey(id, host));
      }
    } catch (error) {
      this.#log(`cannot look for queued manual runs: ${(error as Error).message}`);
    }
  }
}

function notifierKey(id: string, host: string): string {
  return `${id}/${host}`;
}
