/**
 * What the page shows of a job beyond what koid sent: its schedule in words and
 * its state (ok, failed, running, late, never). Pure: the time is passed in.
 *
 * @module
 */

import { type CronSchedule, parseCron } from "../cron.ts";
import { describeSchedule } from "../describe.ts";
import type { Job, Run } from "./schema.ts";

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
  readonly state: JobState;
}

/**
 * Parsed schedules by zone and expression: the page asks for every job's view every
 * few seconds, and a dashboard's schedules change rarely.
 */
const schedules = new Map<string, CronSchedule>();
const MAX_SCHEDULES = 10_000;

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
 * @returns Description, due time and state.
 */
export function viewJob(job: Job, lastRun: Run | null, now: number): JobView {
  const description = describeSchedule(job.schedule);
  let due: number | null = null;
  if (!job.schedule.startsWith("@manual") && job.schedule !== "@reboot") {
    if (lastRun === null) {
      const first = job.next[0] === undefined ? NaN : Date.parse(job.next[0]);
      due = Number.isNaN(first) ? null : first;
    } else {
      try {
        const after = new Date(lastRun.scheduledFor ?? lastRun.startedAt);
        due = scheduleOf(job).next(after)?.getTime() ?? null;
      } catch {
        due = null;
      }
    }
  }
  const late = due !== null && due <= now - LATE_GRACE_MS;
  let state: JobState;
  if (lastRun?.status === "running") state = "running";
  else if (late) state = "late";
  else if (lastRun === null) state = "never";
  else state = lastRun.status === "succeeded" ? "ok" : "failed";
  return { description, due: due === null ? null : new Date(due).toISOString(), state };
}
