/**
 * What the page shows of a job beyond what koid sent: its schedule in words, its
 * next run and its state (ok, failed, running, late, never). Pure: the time is
 * passed in.
 *
 * @module
 */

import { type CronSchedule, parseCron } from "../cron.ts";
import { describeSchedule } from "../describe.ts";
import type { Job, Run } from "../protocol/schema.ts";

/** How long after its due time a scheduled run may take to be reported before it is late. */
export const LATE_GRACE_MS = 2 * 60_000;

/** A job's state on the page. */
export type JobState = "ok" | "failed" | "running" | "late" | "never";

/** The fields the jobs API adds to each job. */
export interface JobView {
  /** The schedule in words: "every 5 minutes". */
  readonly description: string;
  /** The run the job owes: the first due time after its last run, ISO 8601, or null. */
  readonly due: string | null;
  /**
   * Its next run by its schedule from now, ISO 8601: worked out here, since the
   * times koid sent run out when its host goes quiet. Null for `@manual` and
   * `@reboot` jobs, and for schedules with no date to come (`0 0 31 2 *`).
   */
  readonly nextRun: string | null;
  readonly state: JobState;
  /**
   * When this view next changes by time alone, ISO 8601: its next run passes, or
   * it becomes late. Null if never (a `@manual` job). Until then, only a new job
   * list or a run changes it.
   */
  readonly refreshAt: string | null;
}

/**
 * Parsed schedules by zone and expression, and their words by expression: a
 * dashboard of thousands of jobs has a few dozen schedules, which change rarely.
 */
const schedules = new Map<string, CronSchedule>();
const descriptions = new Map<string, string>();
const MAX_SCHEDULES = 10_000;

/** The job's first time after `at` by its schedule, ms; null if none or unreadable. */
function nextAfter(job: Job, at: number): number | null {
  try {
    return scheduleOf(job).next(new Date(at))?.getTime() ?? null;
  } catch {
    return null;
  }
}

function scheduleOf(job: Job): CronSchedule {
  const key = `${job.timezone ?? ""}\n${job.schedule}`;
  let schedule = schedules.get(key);
  if (schedule === undefined) {
    schedule = parseCron(job.schedule, job.timezone ? { timezone: job.timezone } : {});
    if (schedules.size >= MAX_SCHEDULES) schedules.clear();
    schedules.set(key, schedule);
  }
  return schedule;
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
 * @returns Description, due time, next run, state, and when these change by time alone.
 */
export function viewJob(job: Job, lastRun: Run | null, now: number): JobView {
  let description = descriptions.get(job.schedule);
  if (description === undefined) {
    description = describeSchedule(job.schedule);
    if (descriptions.size >= MAX_SCHEDULES) descriptions.clear();
    descriptions.set(job.schedule, description);
  }
  let due: number | null = null;
  let nextRun: number | null = null;
  if (!job.schedule.startsWith("@manual") && job.schedule !== "@reboot") {
    nextRun = nextAfter(job, now);
    if (lastRun === null) {
      const first = job.next[0] === undefined ? NaN : Date.parse(job.next[0]);
      due = Number.isNaN(first) ? null : first;
    } else {
      due = nextAfter(job, lastRun.scheduledFor ?? lastRun.startedAt);
    }
  }
  const late = due !== null && due <= now - LATE_GRACE_MS;
  const lateAt = due === null || late ? null : due + LATE_GRACE_MS;
  const refreshAt = nextRun === null || lateAt === null
    ? nextRun ?? lateAt
    : Math.min(nextRun, lateAt);
  let state: JobState;
  if (lastRun?.status === "running") state = "running";
  else if (late) state = "late";
  else if (lastRun === null) state = "never";
  else state = lastRun.status === "succeeded" ? "ok" : "failed";
  const iso = (at: number | null) => at === null ? null : new Date(at).toISOString();
  return { description, due: iso(due), nextRun: iso(nextRun), state, refreshAt: iso(refreshAt) };
}
