/**
 * What the page shows of a job beyond what koid sent: its schedule in words, its
 * next run and its state (ok, failed, running, late, never). Pure: the time is
 * passed in.
 *
 * @module
 */

import type { CronSchedule } from "../cron.ts";
import { scheduleKind } from "../protocol/job_kind.js";
import { cronSchedule } from "../schedules.ts";
import { describeSchedule } from "../describe.ts";
import type { Job, JobState, JobView, Run } from "../protocol/wire.ts";

/** How long after its due time a scheduled run may take to be reported before it is late. */
export const LATE_GRACE_MS = 2 * 60_000;

/** The job's first time after `at` by its schedule, ms; null if none or unreadable. */
function nextAfter(job: Job, at: number): number | null {
  try {
    return scheduleOf(job).next(new Date(at))?.getTime() ?? null;
  } catch {
    return null;
  }
}

/**
 * A job's schedule, parsed once per expression and zone (./schedules.ts): the page
 * asks for every job's view every few seconds, and a dashboard's schedules change
 * rarely.
 */
function scheduleOf(job: Job): CronSchedule {
  return cronSchedule(job.schedule, job.timezone ?? undefined);
}

/**
 * Works out a job's view.
 *
 * A scheduled job is late when the first run due after its last reported run (or,
 * if it never ran, its first run after koid sent its job list) has not been
 * reported within {@linkcode LATE_GRACE_MS}: koid is down, the machine is off,
 * or the link is cut.
 *
 * @param job The job, as koid sent it.
 * @param lastRun Its newest run, or null.
 * @param now The current instant, ms since the epoch.
 * @returns Description, due time, next run and state.
 */
export function viewJob(job: Job, lastRun: Run | null, now: number): JobView {
  const description = describeSchedule(job.schedule);
  let due: number | null = null;
  let nextRun: number | null = null;
  if (scheduleKind(job.schedule) === "cron") {
    nextRun = nextAfter(job, now);
    if (lastRun === null) {
      const first = job.next[0] === undefined ? NaN : Date.parse(job.next[0]);
      due = Number.isNaN(first) ? null : first;
    } else {
      due = nextAfter(job, lastRun.scheduledFor ?? lastRun.startedAt);
    }
  }
  const late = due !== null && due <= now - LATE_GRACE_MS;
  let state: JobState;
  if (lastRun?.status === "running") state = "running";
  else if (late) state = "late";
  else if (lastRun === null) state = "never";
  else state = lastRun.status === "succeeded" ? "ok" : "failed";
  const iso = (at: number | null) => at === null ? null : new Date(at).toISOString();
  return { description, due: iso(due), nextRun: iso(nextRun), state };
}
