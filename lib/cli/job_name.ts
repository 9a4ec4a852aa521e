/**
 * How the commands name a job to people, and which job a name a person typed
 * means: its name, `Section/Name`, or its tag.
 *
 * @module
 */

import type { KoitabJob } from "../koitab.ts";

/**
 * How a job is named to the user: `[Bots] "Crawler"`, or by its line and the start
 * of its command when it has no name: `line 7 (backup.sh --full)`.
 *
 * @param job The job.
 * @returns The label.
 */
export function jobLabel(job: Pick<KoitabJob, "name" | "section" | "line" | "command">): string {
  const section = job.section === null ? "" : `[${job.section}] `;
  if (job.name !== null) return `${section}"${job.name}"`;
  const command = job.command.length > 40 ? `${job.command.slice(0, 39)}…` : job.command;
  return `${section}line ${job.line} (${command.trim()})`;
}

/**
 * Whether what a person typed names a job: its name, its tag, or `Section/Name`.
 *
 * @param job The job (or a run of it), by name, section and tag.
 * @param wanted What the person typed.
 * @returns True when `wanted` names the job.
 *
 * @example
 * ```ts
 * import { namesJob } from "./job_name.ts";
 *
 * const job = { name: "Crawler", section: "Bots", tag: "j0123456789abcdef" };
 * if (!namesJob(job, "Crawler") || !namesJob(job, "Bots/Crawler")) throw new Error();
 * if (!namesJob(job, "j0123456789abcdef") || namesJob(job, "Bots")) throw new Error();
 * ```
 */
export function namesJob(
  job: { readonly name: string | null; readonly section: string | null; readonly tag: string },
  wanted: string,
): boolean {
  return job.name === wanted || job.tag === wanted ||
    (job.section !== null && job.name !== null && `${job.section}/${job.name}` === wanted);
}
