/**
 * Which jobs are due when: every scheduled job's next run in a heap ordered by
 * time, then koitab order, and cron's rule for a clock that moved other than by one
 * minute since the last wake. Pure: the daemon passes the time in.
 *
 * @module
 */

import { classifyClockStep, type ClockStep, type CronSchedule } from "../cron.ts";
import { jobSchedule } from "../schedules.ts";
import type { KoitabJob } from "../koitab.ts";

const MINUTE_MS = 60_000;

/** One run the scheduler says is due. */
export interface DueRun {
  /** The job, as the koitab defines it. */
  readonly job: KoitabJob;
  /** The instant it was due, in ms since the epoch (a whole minute). */
  readonly scheduledFor: number;
}

/**
 * A wake at which the clock had not simply moved on by a minute or a few (see
 * {@linkcode ClockStep}): the daemon logs it.
 */
export interface ClockChange {
  /** How cron treats the step: `"forward"`, `"back"` or `"jump"`. */
  readonly step: ClockStep;
  /** The last minute whose runs were all handled before this wake (ms since the epoch). */
  readonly from: number;
  /** The minute of this wake (ms since the epoch). */
  readonly to: number;
}

interface Entry {
  time: number;
  index: number;
}

/**
 * Keeps the next run of every time-scheduled job (not `@manual` or `@reboot`), and
 * decides at each wake, as cron's main loop does, which runs are due:
 *
 * - The minute after the last one handled: the runs due in it.
 * - 2 to 5 minutes after (a late wake): the runs of every minute missed, in order.
 * - 6 to 180 minutes after (the clock was set forward, or the machine slept):
 *   fixed-time jobs run for every minute missed, wildcard jobs for the current one.
 * - Up to 180 minutes before (the clock was set back): wildcard jobs run as the
 *   clock reads; fixed-time jobs wait until it passes the last minute handled.
 * - More than 180 minutes either way: only the current minute's runs, and every
 *   job's next run is counted from there (minutes seen again run again).
 *
 * A clock set back by less than a minute changes nothing: no minute runs twice.
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
  /** The last minute whose runs are all handled (cron's virtualTime), ms. */
  #handled: number;
  /** The minute of the last wake (cron's timeRunning), ms; behind #handled after the clock went back. */
  #woken: number;
  /** The latest instant of a wake since the clock last went back. */
  #latest: number;
  #clockChange: ClockChange | null = null;

  /**
   * @param jobs The koitab's jobs.
   * @param localZone The zone of jobs without `CRON_TZ`.
   * @param from The instant koid starts: runs from the minute after it are scheduled.
   */
  constructor(jobs: readonly KoitabJob[], localZone: string, from: number) {
    this.#localZone = localZone;
    this.#handled = this.#woken = Math.floor(from / MINUTE_MS) * MINUTE_MS;
    this.#latest = from;
    this.load(jobs);
  }

  /** How many runs are waiting in the heap (one per time-scheduled job). */
  get size(): number {
    return this.#heap.length;
  }

  /** What the last {@linkcode Scheduler.takeDue} made of a clock change, or null. */
  get clockChange(): ClockChange | null {
    return this.#clockChange;
  }

  /**
   * Replaces the table. Its runs are counted from the last minute handled, so the
   * new table decides what the next {@linkcode Scheduler.takeDue} starts.
   *
   * @param jobs The new table's jobs.
   */
  load(jobs: readonly KoitabJob[]): void {
    this.#jobs = jobs;
    this.#schedules = jobs.map((job) => jobSchedule(job, this.#localZone));
    this.#count();
  }

  /** The instant the next run is due, or null when nothing is scheduled. */
  nextDue(): number | null {
    return this.#heap[0]?.time ?? null;
  }

  /**
   * Takes the runs due at a wake at `now`, in time order and then koitab order, and
   * schedules each job's following run. Which runs are due follows cron's rule for
   * the step the clock took since the last wake (see {@linkcode Scheduler}).
   *
   * @param now The current instant, ms since the epoch.
   * @returns The runs to start now.
   */
  takeDue(now: number): DueRun[] {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const wentBack = minute < this.#woken;
    this.#clockChange = null;
    if (minute === this.#woken || (wentBack && now >= this.#latest - MINUTE_MS)) {
      // The same minute again, or a clock set back by less than a minute: nothing new.
      this.#latest = Math.max(this.#latest, now);
      return [];
    }
    this.#latest = wentBack ? now : Math.max(this.#latest, now);
    const since = this.#handled;
    const step = classifyClockStep((minute - since) / MINUTE_MS);
    if (step === "forward" || step === "jump" || (step === "back" && wentBack)) {
      this.#clockChange = { step, from: since, to: minute };
    }
    if (step === "jump") {
      // Cron starts over from this minute.
      this.#handled = this.#woken = minute - MINUTE_MS;
      this.#count();
    } else if (wentBack) {
      // Wildcard jobs follow the clock back; fixed-time jobs keep their next run.
      this.#woken = minute - MINUTE_MS;
      this.#count();
    }
    this.#woken = minute;
    if (step !== "back") this.#handled = minute;

    const due: DueRun[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.time <= minute) {
      const entry = heap[0]!;
      const schedule = this.#schedules[entry.index]!;
      // Cron catches up the minutes after the last one handled: every job's when it
      // woke late, fixed-time jobs' when the clock moved forward.
      const caughtUp = entry.time > since &&
        (step === "late" || (step === "forward" && !schedule.wildcard));
      const missed = entry.time < minute && !caughtUp;
      if (!missed) due.push({ job: this.#jobs[entry.index]!, scheduledFor: entry.time });
      // A missed run is skipped, with every run before this minute.
      const next = schedule.next(new Date(missed ? minute - 1 : entry.time));
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

  /**
   * Counts every job's next run again: a fixed-time job's after the last minute
   * handled, a wildcard job's after the minute of the last wake.
   */
  #count(): void {
    const entries: Entry[] = [];
    const handled = new Date(this.#handled);
    const woken = new Date(this.#woken);
    this.#schedules.forEach((schedule, index) => {
      const next = schedule?.next(schedule.wildcard ? woken : handled);
      if (next) entries.push({ time: next.getTime(), index });
    });
    entries.sort(compare);
    this.#heap = entries; // A sorted array is a valid heap.
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
