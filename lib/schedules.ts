/**
 * Parsed schedules, one per distinct expression and zone in a process: the koitab
 * parser parses each job's schedule to check it, and koid's scheduler, its link's
 * job list, `koitab --next` and the server's job view take the same object from
 * here rather than parse it again. Pure: a cache in memory, no I/O.
 *
 * @module
 */

import { type CronSchedule, parseCron } from "./cron.ts";
import type { JobKind } from "./protocol/job_kind.js";
import { localTimeZone } from "./timezone.ts";

/**
 * The most schedules kept; past it the cache starts afresh. Twice the jobs a
 * koitab may hold, so a koid's table and its next version fit.
 */
const MAX_SCHEDULES = 20_000;

const schedules = new Map<string, CronSchedule>();

/**
 * The schedule of a cron expression in a zone, parsed once and shared: a
 * {@linkcode CronSchedule} holds no state a caller could disturb.
 *
 * @param expression Five fields or a cron `@` word, as {@linkcode parseCron} takes it.
 * @param zone The IANA zone; the machine's local zone when absent.
 * @returns The schedule.
 * @throws {CronSyntaxError} If the expression is wrong (nothing is kept).
 * @throws {RangeError} If the zone is unknown.
 *
 * @example The same expression and zone give the same object
 * ```ts
 * import { cronSchedule } from "./schedules.ts";
 *
 * if (cronSchedule("0 3 * * *", "UTC") !== cronSchedule("0 3 * * *", "UTC")) throw new Error();
 * if (cronSchedule("0 3 * * *", "UTC") === cronSchedule("0 3 * * *", "Asia/Tokyo")) throw new Error();
 * ```
 */
export function cronSchedule(expression: string, zone: string = localTimeZone()): CronSchedule {
  const key = `${zone}\n${expression}`;
  let schedule = schedules.get(key);
  if (schedule === undefined) {
    schedule = parseCron(expression, { timezone: zone });
    if (schedules.size >= MAX_SCHEDULES) schedules.clear();
    schedules.set(key, schedule);
  }
  return schedule;
}

/**
 * A job's schedule in its zone: null for `@reboot` and `@manual` jobs, which
 * have none.
 *
 * @param job The job's kind, schedule and `CRON_TZ` (null for the local zone).
 * @param localZone The zone of jobs without `CRON_TZ`.
 * @returns The schedule, or null.
 *
 * @example
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 * import { jobSchedule } from "./schedules.ts";
 *
 * const [nightly, boot] = parseKoitab("0 3 * * * backup.sh\n@reboot start.sh\n").jobs;
 * const next = jobSchedule(nightly!, "UTC")?.next(new Date("2026-03-01T12:00:00Z"));
 * if (next?.toISOString() !== "2026-03-02T03:00:00.000Z") throw new Error(String(next));
 * if (jobSchedule(boot!, "UTC") !== null) throw new Error("@reboot");
 * ```
 */
export function jobSchedule(
  job: { readonly kind: JobKind; readonly schedule: string; readonly timezone: string | null },
  localZone: string,
): CronSchedule | null {
  return job.kind === "cron" ? cronSchedule(job.schedule, job.timezone ?? localZone) : null;
}
