/**
 * `koitab --next [N]`: each job's next N run times, in its own zone — what cron
 * never tells you. Pure: the clock and the local zone are passed in.
 *
 * @module
 */

import { jobSchedule } from "../schedules.ts";
import type { KoitabJob } from "../koitab.ts";
import { jobLabel } from "../job_name.ts";
import { formatWallTime } from "../timezone.ts";

/**
 * The report `koitab --next` prints.
 *
 * @param jobs The koitab's jobs.
 * @param now The instant to count from.
 * @param count How many runs to show per job.
 * @param localZone The zone of jobs without `CRON_TZ`.
 * @returns One block per job: a heading line, then one indented line per run.
 *
 * @example
 * ```ts
 * import { parseKoitab } from "../koitab.ts";
 * import { upcomingRuns } from "./next.ts";
 *
 * const { jobs } = parseKoitab('"Backup" 30 3 * * * backup.sh\n');
 * const text = upcomingRuns(jobs, new Date("2026-11-28T12:00:00Z"), 2, "UTC");
 * const expected = '"Backup" 30 3 * * * (UTC)\n  2026-11-29 03:30 UTC\n  2026-11-30 03:30 UTC\n';
 * if (text !== expected) throw new Error(text);
 * ```
 */
export function upcomingRuns(
  jobs: readonly KoitabJob[],
  now: Date,
  count: number,
  localZone: string,
): string {
  let out = "";
  for (const job of jobs) {
    const zone = job.timezone ?? localZone;
    if (job.kind === "manual") {
      out += `${jobLabel(job)} @manual: runs only from the dashboard or with "koitab run"\n`;
      continue;
    }
    if (job.kind === "reboot") {
      out += `${jobLabel(job)} @reboot: runs at koid's first start in each boot\n`;
      continue;
    }
    out += `${jobLabel(job)} ${job.schedule} (${zone})\n`;
    const schedule = jobSchedule(job, localZone)!;
    let after: Date | null = now;
    for (let i = 0; i < count; i++) {
      after = schedule.next(after);
      if (after === null) {
        out += i === 0 ? "  never: no date matches this schedule\n" : "";
        break;
      }
      out += `  ${formatWallTime(after, zone)}\n`;
    }
  }
  return out;
}
