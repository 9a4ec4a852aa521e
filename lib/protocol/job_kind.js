// @ts-check
/**
 * The kinds of job a koitab holds, and which kind a schedule makes: decided
 * here once for koitab's parser, koid, the dashboard server and the page.
 *
 * @module
 */

/**
 * What a job's schedule makes of it: `cron`, run on its five fields (or a cron `@`
 * word such as `@daily`); `reboot`, run once per boot; `manual`, run only when
 * started from the dashboard or with `koitab run`.
 *
 * @typedef {"cron" | "reboot" | "manual"} JobKind
 */

/**
 * The kind of job a schedule makes.
 *
 * @param {string} schedule The schedule as the koitab has it: five fields or an `@` word.
 * @returns {JobKind} The kind.
 *
 * @example
 * ```ts
 * import { scheduleKind } from "./job_kind.js";
 *
 * if (scheduleKind("@manual") !== "manual" || scheduleKind("@reboot") !== "reboot") throw new Error();
 * if (scheduleKind("@daily") !== "cron" || scheduleKind("*\/5 * * * *") !== "cron") throw new Error();
 * ```
 */
export function scheduleKind(schedule) {
  return schedule === "@manual" ? "manual" : schedule === "@reboot" ? "reboot" : "cron";
}
