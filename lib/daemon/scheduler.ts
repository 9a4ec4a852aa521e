/**
 * Which jobs are due when: every scheduled job's next run in a heap ordered by
 * time, then koitab order. Pure: the daemon passes the time in.
 *
 * @module
 */

import { type CronSchedule, parseCron } from "../cron.ts";
import type { KoitabJob } from "../koitab.ts";

/** One run the scheduler says is due. */
export interface DueRun {
  /** The job, as the koitab defines it. */
  readonly job: KoitabJob;
  /** The instant it was due, in ms since the epoch (a whole minute). */
  readonly scheduledFor: number;
}

/**
 * How late a due run may still start. A daemon that wakes a few minutes late (a
 * busy machine) runs what it missed, as cron does; runs missed for longer (the
 * machine slept, koid was stopped, the clock was set forward) are not replayed.
 */
export const CATCH_UP_MS = 5 * 60_000;

interface Entry {
  time: number;
  index: number;
}

/**
 * Keeps the next run of every time-scheduled job (not `@manual` or `@reboot`).
 *
 * @example
 * ```ts
 * import { parseKoitab } from "../koitab.ts";
 * import { Scheduler } from "./scheduler.ts";
 *
 * const { jobs } = parseKoitab("*\/30 * * * * a\n0 * * * * b\n");
 * const scheduler = new Scheduler(jobs, "UTC", Date.parse("2026-01-01T00:00:00Z"));
 * const got: string[] = [];
 * for (const minute of ["00:29", "00:30", "01:00"]) {
 *   for (const run of scheduler.takeDue(Date.parse(`2026-01-01T${minute}:00Z`))) {
 *     got.push(`${run.job.command} ${new Date(run.scheduledFor).toISOString().slice(11, 16)}`);
 *   }
 * }
 * const expected = ["a 00:30", "a 01:00", "b 01:00"];
 * if (got.join() !== expected.join()) throw new Error(got.join());
 * ```
 */
export class Scheduler {
  #jobs: readonly KoitabJob[] = [];
  #schedules: (CronSchedule | null)[] = [];
  #heap: Entry[] = [];
  #localZone: string;

  /**
   * @param jobs The koitab's jobs.
   * @param localZone The zone of jobs without `CRON_TZ`.
   * @param from Runs strictly after this instant (ms since the epoch) are scheduled.
   */
  constructor(jobs: readonly KoitabJob[], localZone: string, from: number) {
    this.#localZone = localZone;
    this.load(jobs, from);
  }

  /** How many runs are waiting in the heap (one per time-scheduled job). */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * Replaces the table: every job's next run is counted again from `from`.
   *
   * @param jobs The new table's jobs.
   * @param from Runs strictly after this instant are scheduled.
   */
  load(jobs: readonly KoitabJob[], from: number): void {
    this.#jobs = jobs;
    this.#schedules = jobs.map((job) =>
      job.schedule.startsWith("@manual") || job.schedule === "@reboot"
        ? null
        : parseCron(job.schedule, { timezone: job.timezone ?? this.#localZone })
    );
    const entries: Entry[] = [];
    const after = new Date(from);
    this.#schedules.forEach((schedule, index) => {
      const next = schedule?.next(after);
      if (next) entries.push({ time: next.getTime(), index });
    });
    entries.sort(compare);
    this.#heap = entries; // A sorted array is a valid heap.
  }

  /** The instant the next run is due, or null when nothing is scheduled. */
  nextDue(): number | null {
    return this.#heap[0]?.time ?? null;
  }

  /**
   * Takes every run due at or before `now`, in time order and then koitab order,
   * and schedules each job's following run. Runs more than {@linkcode CATCH_UP_MS}
   * overdue are dropped; those due within it still run.
   *
   * @param now The current instant, ms since the epoch.
   * @returns The runs to start now.
   */
  takeDue(now: number): DueRun[] {
    const due: DueRun[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.time <= now) {
      const entry = heap[0]!;
      const stale = now - entry.time > CATCH_UP_MS;
      if (!stale) due.push({ job: this.#jobs[entry.index]!, scheduledFor: entry.time });
      // A stale run is skipped, and so is every run before the catch-up window.
      const from = stale ? now - CATCH_UP_MS - 1 : entry.time;
      const next = this.#schedules[entry.index]!.next(new Date(from));
      if (next === null) {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          siftDown(heap, 0);
        }
      } else {
        entry.time = next.getTime();
        siftDown(heap, 0);
      }
    }
    return due;
  }
}

function compare(a: Entry, b: Entry): number {
  return a.time - b.time || a.index - b.index;
}

function siftDown(heap: Entry[], start: number): void {
  const length = heap.length;
  let i = start;
  const item = heap[i]!;
  while (true) {
    const left = 2 * i + 1;
    if (left >= length) break;
    const right = left + 1;
    const child = right < length && compare(heap[right]!, heap[left]!) < 0 ? right : left;
    if (compare(heap[child]!, item) >= 0) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = item;
}
