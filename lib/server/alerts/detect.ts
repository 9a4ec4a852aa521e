/**
 * When an alert is due, worked out from what the server already has (each
 * job's schedule and zone, its runs, when each host was last heard from) and
 * what the alert engine remembers of each job and host. Pure: the time is
 * passed in, and each function returns the new state and the event, if any.
 *
 * - **failed**: a run ended other than `succeeded`, the first of a streak of
 *   failures; a job that keeps failing alerts again once a day at most.
 * - **recovered**: the first run that succeeded after a failure that alerted.
 * - **missed**: a scheduled run did not start by its due time plus the grace,
 *   the due time worked out here with the evaluator (not the `next` list koid
 *   sent, which runs out when koid dies), after the job's last run and after the
 *   engine began watching the job as it is and its host was last connected.
 * - **host-silent** and **host-back**: a host unheard of for the silent time,
 *   and its return. A host that is not connected raises no missed runs: it is
 *   either back soon (its runs' reports then arrive) or silent (one alert).
 *
 * @module
 */

import type { CronSchedule } from "../../cron.ts";
import type { Run } from "../../protocol/wire.ts";

/** A job that kept failing alerts again after this long, at the most once. */
export const REPEAT_FAILURE_MS = 24 * 3_600_000;

/**
 * What the engine remembers of a job's runs for failure alerts. Nothing, while
 * the job has only succeeded: a success that ends no streak changes nothing.
 */
export interface FailureState {
  /** The end of the newest run that changed this state, ms, and its id. */
  lastEndedAt: number;
  lastRunId: string;
  /** The streak of failures under way: its first run, and when it last alerted (null: muted). */
  failing: { runId: string; alertedAt: number | null } | null;
}

/** An alert to raise: its event, and the key that makes it happen once. */
export interface Raised<E extends string> {
  event: E;
  /** Names the event among all of its dashboard's; the same event always has the same key. */
  key: string;
}

/**
 * What a run's end means for its job's failure alerts.
 *
 * @param state What the engine remembered of the job, or null.
 * @param run The run, ended.
 * @param now The current instant.
 * @param muted Whether the job's alerts are muted: the state moves on, nothing is raised.
 * @returns The new state (null when the run changes nothing: it is older than
 * one taken into account, or the same, or a success that ends no streak), and
 * the event.
 *
 * @example A failure, then the run that fixes it
 * ```ts
 * import { afterRunEnded } from "./detect.ts";
 *
 * const run = (id: string, status: "failed" | "succeeded", finishedAt: number) =>
 *   ({ id, status, finishedAt } as Parameters<typeof afterRunEnded>[1]);
 * const failed = afterRunEnded(null, run("r1", "failed", 1000), 1000, false);
 * if (failed.raised?.event !== "failed") throw new Error("failed");
 * const fixed = afterRunEnded(failed.state, run("r2", "succeeded", 2000), 2000, false);
 * if (fixed.raised?.event !== "recovered" || fixed.state?.failing !== null) throw new Error("recovered");
 * ```
 */
export function afterRunEnded(
  state: FailureState | null,
  run: Pick<Run, "id" | "status" | "finishedAt">,
  now: number,
  muted: boolean,
): { state: FailureState | null; raised: Raised<"failed" | "recovered"> | null } {
  const endedAt = run.finishedAt ?? now;
  if (run.status === "running") return { state: null, raised: null };
  if (
    state !== null &&
    (endedAt < state.lastEndedAt || (endedAt === state.lastEndedAt && run.id <= state.lastRunId))
  ) {
    return { state: null, raised: null };
  }
  const moved = { lastEndedAt: endedAt, lastRunId: run.id };
  const failing = state?.failing ?? null;
  if (run.status === "succeeded") {
    // Most runs: nothing to remember, nothing to write.
    if (failing === null) return { state: null, raised: null };
    const alerted = failing !== null && failing.alertedAt !== null;
    const raised = alerted && !muted
      ? { event: "recovered" as const, key: `recovered/${failing.runId}` }
      : null;
    return { state: { ...moved, failing: null }, raised };
  }
  // A failure alerts when it starts a streak, when the streak has not alerted
  // yet (it began while muted), or when its last alert is a day old.
  const alerts = failing === null || failing.alertedAt === null ||
    now - failing.alertedAt >= REPEAT_FAILURE_MS;
  if (!alerts) return { state: { ...moved, failing }, raised: null };
  const runId = failing?.runId ?? run.id;
  if (muted) return { state: { ...moved, failing: { runId, alertedAt: null } }, raised: null };
  return {
    state: { ...moved, failing: { runId, alertedAt: now } },
    raised: { event: "failed", key: `failed/${run.id}` },
  };
}

/** What the engine remembers of a job for missed runs: since when it watches it, as it is. */
export interface WatchState {
  schedule: string;
  timezone: string | null;
  /** Runs due before this instant are never called missed. */
  since: number;
  /** The due time of the last run raised as missed, so it is raised once. */
  missed: number | null;
}

/**
 * The watch of a job as it is now: the one remembered, or a new one from `now`
 * when there was none or the job's schedule or zone changed.
 *
 * @param state The watch remembered, or null.
 * @param job The job's schedule and zone, as listed.
 * @param now The current instant.
 * @returns The watch, and whether it is new (to store).
 */
export function currentWatch(
  state: WatchState | null,
  job: { schedule: string; timezone: string | null },
  now: number,
): { watch: WatchState; changed: boolean } {
  if (state !== null && state.schedule === job.schedule && state.timezone === job.timezone) {
    return { watch: state, changed: false };
  }
  return {
    watch: { schedule: job.schedule, timezone: job.timezone, since: now, missed: null },
    changed: true,
  };
}

/**
 * The due time of a job's run that is missed now, if one is: the first time its
 * schedule fires after its last run (by its due time, or its start when it had
 * none) and after `since`, once that time plus the grace has passed.
 *
 * @param schedule The job's schedule in its zone; null for `@reboot`, `@manual`
 * and schedules that cannot be read, which are never missed.
 * @param lastRun The job's newest run, or null.
 * @param since Runs due in this minute or before are not counted (the engine
 * began watching the job then, or its host was connected again then).
 * @param now The current instant.
 * @param graceMs How long after its due time a run may start.
 * @returns The missed run's due time, or null.
 *
 * @example An hourly job that last ran at 10:00, seen at 11:02 with a minute's grace
 * ```ts
 * import { missedDue } from "./detect.ts";
 * import { parseCron } from "../../cron.ts";
 *
 * const hourly = parseCron("0 * * * *", { timezone: "UTC" });
 * const at = (hhmm: string) => Date.parse(`2026-03-01T${hhmm}:00Z`);
 * const lastRun = { scheduledFor: at("10:00"), startedAt: at("10:00") };
 * if (missedDue(hourly, lastRun, 0, at("11:02"), 60_000) !== at("11:00")) throw new Error("missed");
 * if (missedDue(hourly, lastRun, 0, at("11:00") + 30_000, 60_000) !== null) throw new Error("grace");
 * ```
 */
export function missedDue(
  schedule: CronSchedule | null,
  lastRun: Pick<Run, "scheduledFor" | "startedAt"> | null,
  since: number,
  now: number,
  graceMs: number,
): number | null {
  if (schedule === null) return null;
  const ran = lastRun === null ? -Infinity : lastRun.scheduledFor ?? lastRun.startedAt;
  // The first run owed is after the minute `since` falls in: one due in that
  // minute may have been due before koid had the job.
  const due = schedule.next(new Date(Math.max(ran, since)))?.getTime() ?? null;
  return due === null || due + graceMs > now ? null : due;
}

/** What the engine remembers of a host. */
export interface HostState {
  /** Whether it was connected (heard from lately) when last looked at, and since when. */
  connected: boolean;
  since: number;
  /** When it went silent: its last word then, and whether that alerted. */
  silent: { lastSeenAt: number; alerted: boolean } | null;
}

/**
 * A host's state now, and the alert its change raises.
 *
 * @param state What the engine remembered, or null for a host it has not looked at.
 * @param lastSeenAt The host's last call, ms; null if it never called.
 * @param now The current instant.
 * @param limits How recent a call makes the host connected, and how old makes it silent, ms.
 * @param muted Whether the host's alerts are muted.
 * @returns The new state (null when unchanged), and the event.
 *
 * @example Silent after five minutes, then back
 * ```ts
 * import { hostChange } from "./detect.ts";
 *
 * const limits = { connectedMs: 35_000, silentMs: 300_000 };
 * const first = hostChange(null, 0, 10_000, limits, false);
 * const silent = hostChange(first.state, 0, 300_000, limits, false);
 * if (silent.raised?.key !== "host-silent/0") throw new Error(silent.raised?.key);
 * const back = hostChange(silent.state, 400_000, 401_000, limits, false);
 * if (back.raised?.event !== "host-back") throw new Error("back");
 * ```
 */
export function hostChange(
  state: HostState | null,
  lastSeenAt: number | null,
  now: number,
  limits: { connectedMs: number; silentMs: number },
  muted: boolean,
): { state: HostState | null; raised: Raised<"host-silent" | "host-back"> | null } {
  const seen = lastSeenAt ?? -Infinity;
  const connected = now - seen <= limits.connectedMs;
  const silentNow = now - seen >= limits.silentMs;
  if (state === null) {
    // A host first looked at is taken as it is: one silent for long raises nothing.
    const silent = silentNow && lastSeenAt !== null ? { lastSeenAt, alerted: false } : null;
    return { state: { connected, since: now, silent }, raised: null };
  }
  let next: HostState = state;
  let raised: Raised<"host-silent" | "host-back"> | null = null;
  if (state.connected !== connected) next = { ...next, connected, since: now };
  if (state.silent === null && silentNow && lastSeenAt !== null) {
    next = { ...next, silent: { lastSeenAt, alerted: !muted } };
    if (!muted) raised = { event: "host-silent", key: `host-silent/${lastSeenAt}` };
  } else if (state.silent !== null && seen > state.silent.lastSeenAt) {
    if (state.silent.alerted && !muted) {
      raised = { event: "host-back", key: `host-back/${state.silent.lastSeenAt}` };
    }
    next = { ...next, silent: null };
  }
  return { state: next === state ? null : next, raised };
}
