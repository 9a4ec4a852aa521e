/**
 * Koi: a drop-in replacement for cron, plus a dashboard.
 *
 * This module is Koi's library: the cron evaluator that schedules every job, the
 * koitab parser, the argument quoting that makes manual runs safe, and the keys
 * that sign them.
 *
 * @example The next three runs of a job
 * ```ts
 * import { parseCron } from "./mod.ts";
 *
 * const schedule = parseCron("0 9 * * 1", { timezone: "Europe/London" });
 * let after = new Date("2026-03-20T00:00:00Z");
 * const runs: string[] = [];
 * for (let i = 0; i < 3; i++) {
 *   after = schedule.next(after)!;
 *   runs.push(after.toISOString());
 * }
 * // Mondays at 09:00 London time: GMT, then BST from 29 March.
 * const expected = [
 *   "2026-03-23T09:00:00.000Z",
 *   "2026-03-30T08:00:00.000Z",
 *   "2026-04-06T08:00:00.000Z",
 * ];
 * if (runs.join() !== expected.join()) throw new Error(runs.join());
 * ```
 *
 * @module
 */

export {
  CRON_NICKNAMES,
  type CronField,
  type CronOptions,
  CronSchedule,
  CronSyntaxError,
  parseCron,
} from "./lib/cron.ts";
export {
  formatKoitabError,
  type JobKind,
  type Koitab,
  type KoitabError,
  type KoitabJob,
  parseKoitab,
} from "./lib/koitab.ts";
export {
  argName,
  type ArgSpec,
  type ArgType,
  ArgumentError,
  fillArgs,
  parseArgSpecs,
  shellQuote,
} from "./lib/args.ts";
export {
  type DashboardKeys,
  deriveKeys,
  PBKDF2_ITERATIONS,
  signRun,
  timingSafeEqual,
  verifyRun,
} from "./lib/protocol/keys.ts";
export {
  MAX_ARGS,
  MAX_COMMAND_BYTES,
  MAX_JOB_LIST_JSON_BYTES,
  MAX_JOBS,
  MAX_NAME_CHARS,
} from "./lib/limits.ts";
export { VERSION } from "./lib/version.ts";
