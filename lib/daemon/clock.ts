/**
 * Time for the daemon: what time it is, and waiting until a given instant. The
 * daemon takes a clock so that tests can drive it.
 *
 * @module
 */

import { sleep } from "../wakeup.ts";

/** The longest single wait: the wall clock is read again at least this often. */
export const MAX_WAIT_MS = 60_000;

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

/** What a {@linkcode wallClock} is made of: a wall clock, and one timer per wait. */
export interface ClockParts {
  /** The wall clock, ms since the epoch. */
  readonly now: () => number;
  /** Waits `ms` (one timer), or until `signal` aborts. */
  readonly wait: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * A clock over a wall clock and a timer: each wait is one timer of at most
 * {@linkcode MAX_WAIT_MS}, measured against the wall clock again on waking, so
 * clock changes and sleep are noticed within a minute.
 *
 * @param parts The wall clock and the timer.
 * @returns The clock.
 *
 * @example One timer, cut to a minute
 * ```ts
 * import { wallClock } from "./clock.ts";
 *
 * const timers: number[] = [];
 * const clock = wallClock({ now: () => 0, wait: (ms) => (timers.push(ms), Promise.resolve()) });
 * await clock.sleepUntil(3_600_000, new AbortController().signal);
 * if (timers.join() !== "60000") throw new Error(timers.join());
 * ```
 */
export function wallClock(parts: ClockParts): Clock {
  const { now, wait } = parts;
  return {
    now,
    sleepUntil: (until, signal) => wait(Math.max(0, Math.min(until - now(), MAX_WAIT_MS)), signal),
  };
}

/** The real clock: `Date.now()` and one `setTimeout` per wait (see {@linkcode wallClock}). */
export const systemClock: Clock = wallClock({ now: () => Date.now(), wait: sleep });
