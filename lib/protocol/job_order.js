// @ts-check
/**
 * The order the dashboard's jobs view shows jobs in: by section (jobs with none
 * first, then the sections by name), then by machine, then by line. Decided here
 * once for the page, which draws the table in it, and the dashboard server, which
 * answers a page's first screen of rows in it (`GET /jobs?since=0&first=N`).
 *
 * Section names are compared as English words (`Intl.Collator("en")`), the same
 * in every browser and on the server, whatever their locales; machine names,
 * which are ASCII, by their characters.
 *
 * @module
 */

/** @type {Intl.Collator | null} Made when first needed: making one takes tens of ms. */
let sections = null;

/**
 * Compares two jobs' sections as the jobs view orders them: none (`null` or `""`)
 * first, then by name.
 *
 * @param {string | null} a A job's section.
 * @param {string | null} b Another job's section.
 * @returns {number} Negative when `a` comes first, positive when `b` does, 0 for the same place.
 *
 * @example
 * ```ts
 * import { compareSections } from "./job_order.js";
 *
 * const sections = ["backups", "Alerts", null, "alerts"].sort(compareSections);
 * if (JSON.stringify(sections) !== '[null,"alerts","Alerts","backups"]') throw new Error();
 * ```
 */
export function compareSections(a, b) {
  const first = a ?? "";
  const second = b ?? "";
  if (first === second) return 0;
  if (first === "") return -1;
  if (second === "") return 1;
  sections ??= new Intl.Collator("en");
  return sections.compare(first, second) || (first < second ? -1 : 1);
}

/**
 * Compares two jobs as the jobs view orders them: by section
 * ({@linkcode compareSections}), then machine, then line.
 *
 * @param {{ section: string | null, host: string, line: number }} a A job.
 * @param {{ section: string | null, host: string, line: number }} b Another job.
 * @returns {number} Negative when `a` comes first, positive when `b` does.
 *
 * @example
 * ```ts
 * import { compareJobs } from "./job_order.js";
 *
 * const jobs = [
 *   { section: "Web", host: "a", line: 1 },
 *   { section: null, host: "b", line: 9 },
 *   { section: null, host: "b", line: 2 },
 * ].sort(compareJobs);
 * if (jobs.map((job) => job.line).join() !== "2,9,1") throw new Error();
 * ```
 */
export function compareJobs(a, b) {
  return compareSections(a.section, b.section) ||
    (a.host < b.host ? -1 : a.host > b.host ? 1 : a.line - b.line);
}
