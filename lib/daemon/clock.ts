/**
 * Time for the daemon: what time it is, and waiting until a given instant. The
 * daemon takes a clock so that tests can drive it.
 *
 * @module
 */

import { sleep } from "../wakeup.ts";

/** A source of the current time and of waits. */
export interface Clock {
  /** The current instant, ms since the epoch. */
  now(): number;
  /**
   * Resolves at instant `until`, or as soon as `signal` aborts.
   *
   * @param until The instant to wake at, ms since the epoch.
   * @param signal Cuts the wait short.
   */
  sleepUntil(until: number, signal: AbortSignal): Promise<void>;
}

/**
 * The real clock. A wait is at most a minute long and is measured against the wall
 * clock again on waking, so clock changes and sleep are noticed within a minute.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleepUntil(until: number, signal: AbortSignal): Promise<void> {
    return sleep(Math.max(0, Math.min(until - Date.now(), 60_000)), signal);
  },
};
