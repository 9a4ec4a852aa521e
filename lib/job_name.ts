/**
 * How the commands name a job to people, and which job a name a person typed
 * means: its name, `Section/Name`, or its tag.
 *
 * @module
 */

import type { KoitabJob } from "./koitab.ts";

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

/**
 * The names a person probably meant when what they typed names no job: the same
 * but for case, or a letter or two off (a typo, a swapped pair); one off for names
 * of five characters or fewer.
 *
 * @param names The names that exist, as the person would type them.
 * @param wanted What the person typed.
 * @returns The close names, in the order given.
 *
 * @example
 * ```ts
 * import { similarNames } from "./job_name.ts";
 *
 * const names = ["Nightly", "Say Hi", "Bots/Crawler"];
 * if (similarNames(names, "nightly").join() !== "Nightly") throw new Error();
 * if (similarNames(names, "bots/crawlr").join() !== "Bots/Crawler") throw new Error();
 * if (similarNames(names, "Backup").length !== 0) throw new Error();
 * ```
 */
export function similarNames(names: readonly string[], wanted: string): string[] {
  const typed = [...wanted.toLowerCase()];
  const limit = typed.length <= 5 ? 1 : 2;
  return names.filter((name) => editDistance([...name.toLowerCase()], typed) <= limit);
}

/** The fewest insertions, deletions, substitutions and swaps of neighbours from `a` to `b`. */
function editDistance(a: readonly string[], b: readonly string[]): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}
