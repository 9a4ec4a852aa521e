/**
 * What the page shows of a job beyond what koid sent: its schedule in words, its
 * next run and its state (ok, failed, running, late, never); and the job as the
 * jobs call lists it, with that view. Pure: the time is passed in.
 *
 * @module
 */

import type { CronSchedule } from "../cron.ts";
import { scheduleKind } from "../protocol/job_kind.js";
import { cronSchedule } from "../schedules.ts";
import { describeSchedule } from "../describe.ts";
import type {
  Job,
  JobRow,
  JobState,
  JobView,
  JobWithLastRun,
  ListedRun,
  Run,
} from "../protocol/wire.ts";

/** How long after its due time a scheduled run may take to be reported before it is late. */
export const LATE_GRACE_MS = 2 * 60_000;

/**
 * Each schedule's words, by expression: a dashboard of thousands of jobs has a
 * few dozen schedules, which change rarely.
 */
const descriptions = new Map<string, string>();
const MAX_DESCRIPTIONS = 10_000;

/**
 * A listed job's schedule in its zone, parsed once per expression and zone
 * (`lib/schedules.ts`): the page asks for every job's view every few seconds,
 * and a dashboard's schedules change rarely. Null for `@manual` and `@reboot`
 * jobs, which have no times, and for a schedule or zone this server cannot read.
 *
 * @param job The job's schedule and zone, as koid sent them.
 * @returns The schedule, or null.
 */
export function listedJobSchedule(job: Pick<Job, "schedule" | "timezone">): CronSchedule | null {
  if (scheduleKind(job.schedule) !== "cron") return null;
  try {
    return cronSchedule(job.schedule, job.timezone ?? undefined);
  } catch {
    return null;
  }
}

/** The job's first time after `at` by its schedule, ms; null if none or unreadable. */
function nextAfter(schedule: CronSchedule | null, at: number): number | null {
  return schedule?.next(new Date(at))?.getTime() ?? null;
}

/**
 * Works out a job's view.
 *
 * A scheduled job is late when the first run due after its last reported run (or,
 * if it never ran, its first run after koid sent its job list) has not been
 * reported within the grace ({@linkcode LATE_GRACE_MS} unless given): koid is
 * down, the machine is off, or the link is cut.
 *
 * @param job The job, as koid sent it.
 * @param lastRun Its newest run, or null.
 * @param now The current instant, ms since the epoch.
 * @param graceMs How long after its due time a run may take to be reported
 * (the dashboard's `missedGraceSeconds`).
 * @returns Description, due time, next run, state, and when these change by time alone.
 */
export function viewJob(
  job: Job,
  lastRun: Run | null,
  now: number,
  graceMs: number = LATE_GRACE_MS,
): JobView {
  let description = descriptions.get(job.schedule);
  if (description === undefined) {
    description = describeSchedule(job.schedule);
    if (descriptions.size >= MAX_DESCRIPTIONS) descriptions.clear();
    descriptions.set(job.schedule, description);
  }
  let due: number | null = null;
  let nextRun: number | null = null;
  const schedule = listedJobSchedule(job);
  if (schedule !== null) {
    nextRun = nextAfter(schedule, now);
    if (lastRun === null) {
      const first = job.next[0] === undefined ? NaN : Date.parse(job.next[0]);
      due = Number.isNaN(first) ? null : first;
    } else {
      due = nextAfter(schedule, lastRun.scheduledFor ?? lastRun.startedAt);
    }
  }
  const late = due !== null && due <= now - graceMs;
  const lateAt = due === null || late ? null : due + graceMs;
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

/**
 * A job as the jobs call lists it, with its view: without the `next` times koid
 * sent (kept in the store, for {@linkcode viewJob}; the view's `nextRun` and `due`
 * are what the page needs of them), and its newest run without the host and tag,
 * which are always the job's own (`ListedRun`). About 110 bytes fewer a job.
 *
 * @param job The job, with its host and newest run, as the store lists it.
 * @param view Its view ({@linkcode viewJob}).
 * @returns The row: every other field of the job, its last run's, and the view's.
 *
 * @example The run's host and tag are the row's
 * ```ts
 * import { listedRow } from "./job_view.ts";
 *
 * const job = {
 *   tag: "j1", name: "Backup", section: null, schedule: "@manual", timezone: null, args: [],
 *   next: [], command: "k1.x.y", line: 1, host: "web",
 *   lastRun: {
 *     id: "r1", host: "web", tag: "j1", name: "Backup", section: null, trigger: "manual",
 *     args: {}, scheduledFor: null, startedAt: 1000, manualId: "m1", finishedAt: 2000,
 *     exitCode: 0, signal: null, status: "succeeded", error: null, outputBytes: 0,
 *   },
 * } as const;
 * const view = { description: "by hand", due: null, nextRun: null, state: "ok", refreshAt: null } as const;
 * const row = listedRow(job, view);
 * if ("next" in row || "host" in row.lastRun! || "tag" in row.lastRun!) throw new Error("lean");
 * if (row.host !== "web" || row.lastRun?.name !== "Backup" || row.state !== "ok") throw new Error("kept");
 * ```
 */
export function listedRow(job: JobWithLastRun, view: JobView): JobRow {
  const { next: _next, lastRun, ...listed } = job;
  return { ...listed, lastRun: lastRun === null ? null : listedRun(lastRun), ...view };
}

/** A run without its host and tag, which are its job's. */
function listedRun(run: Run): ListedRun {
  const { host: _host, tag: _tag, ...listed } = run;
  return listed;
}
