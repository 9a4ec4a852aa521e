/**
 * How the commands name a job to people, and which job a name a person typed
 * means: its name, `Section/Name`, or its tag.
 *
 * @module
 */

/**
 * How a job (or a run of it) is named to the user, in logs, messages and tables:
 * `[Bots] "Crawler"`; one without a name by its line and the start of its command,
 * `line 7 (backup.sh --full)`, or, for a run, by its tag.
 *
 * @param job The job: its name and section, and its line and command or its tag.
 * @returns The label.
 *
 * @example
 * ```ts
 * import { jobLabel } from "./job_name.ts";
 *
 * if (jobLabel({ name: "Crawler", section: "Bots", tag: "j1" }) !== '[Bots] "Crawler"') {
 *   throw new Error();
 * }
 * const unnamed = { name: null, section: null, line: 7, command: "backup.sh --full" };
 * if (jobLabel(unnamed) !== "line 7 (backup.sh --full)") throw new Error(jobLabel(unnamed));
 * if (jobLabel({ name: null, section: null, tag: "j1" }) !== "j1") throw new Error();
 * ```
 */
export function jobLabel(
  job:
    & { readonly name: string | null; readonly section: string | null }
    & ({ readonly line: number; readonly command: string } | { readonly tag: string }),
): string {
  const section = job.section === null ? "" : `[${job.section}] `;
  if (job.name !== null) return `${section}"${job.name}"`;
  if (!("command" in job)) return `${section}${job.tag}`;
  const command = job.command.length > 40 ? `${job.command.slice(0, 39)}…` : job.command;
  return `${section}line ${job.line} (${command.trim()})`;
}

/**
 * How a person types a named job's name so that it names that job alone:
 * `Section/Name`, or the name of a job before the first section.
 *
 * @param job The job, by name and section.
 * @returns The name as typed.
 *
 * @example
 * ```ts
 * import { typedName } from "./job_name.ts";
 *
 * if (typedName({ name: "Crawler", section: "Bots" }) !== "Bots/Crawler") throw new Error();
 * if (typedName({ name: "Crawler", section: null }) !== "Crawler") throw new Error();
 * ```
 */
export function typedName(
  job: { readonly name: string; readonly section: string | null },
): string {
  return job.section === null ? job.name : `${job.section}/${job.name}`;
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
    (job.name !== null && job.section !== null &&
      typedName({ name: job.name, section: job.section }) === wanted);
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
