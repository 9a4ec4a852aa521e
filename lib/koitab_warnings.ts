/**
 * Warnings about koitab lines that are valid but almost surely not what their
 * author meant, as seen in real crontabs: a table written for `/etc/crontab`,
 * whose user column becomes the command, and an unescaped `%` that cron turns
 * into the end of the command (`date +%Y-%m-%d`). A warning never stops an
 * install. Pure logic: what the machine knows (its users, its commands) is
 * passed in.
 *
 * @module
 */

import { unclosedShellContext } from "./args.ts";
import type { KoitabError, KoitabJob } from "./koitab.ts";

/** What the warnings need to know of the machine. */
export interface WarningContext {
  /** Whether `name` is an account on this machine. */
  readonly isUser: (name: string) => boolean;
  /** Whether `name` is an executable in one of the directories of `path` (`/usr/bin:/bin`). */
  readonly isCommand: (name: string, path: string) => boolean;
  /** Who the jobs run as, for the message. */
  readonly owner: string;
  /** The PATH of a job whose koitab sets none (cron's). */
  readonly defaultPath: string;
}

/** The first two words of a command, as `sh` splits them (at blanks), or "". */
function firstWords(command: string): [string, string] {
  const [, first, second] = /^[ \t]*([^ \t]*)[ \t]*([^ \t]*)/.exec(command)!;
  return [first!, second!];
}

/** Shell builtins and keywords that start the command of a system crontab's line. */
const SHELL_WORDS = new Set([
  "cd",
  "test",
  "[",
  "[[",
  "echo",
  "printf",
  "exec",
  "eval",
  "export",
  "set",
  ".",
  "if",
  "for",
  "while",
  "case",
  "(",
  "{",
]);

/** The text of the line around its first unescaped `%`, for the message. */
function aroundPercent(job: KoitabJob): string {
  // The input as written: each `%` of it was turned into a newline, each `\%` into `%`.
  const input = job.stdin!.slice(0, -1).replaceAll("%", "\\%").replaceAll("\n", "%");
  const before = job.command.length > 30 ? `…${job.command.slice(-29)}` : job.command;
  const after = input.length > 30 ? `${input.slice(0, 29)}…` : input;
  return `${before.trimStart()}%${after}`;
}

/** Why the `%` in a job is almost surely a mistake, or null when it may well be meant. */
function percentProblem(job: KoitabJob): string | null {
  if (job.stdin === null) return null;
  const open = unclosedShellContext(job.command);
  if (open !== null) return `inside ${open}`;
  if (job.command.endsWith("+")) return "a date format";
  return null;
}

/**
 * The warnings for a koitab's jobs, one per line at most, in line order:
 *
 * - a command whose first word is a user name and no command on the job's PATH,
 *   and whose second is a command (a path, a shell builtin, or on the PATH):
 *   `0 3 * * * root /usr/sbin/backup`, a line for `/etc/crontab`, whose user
 *   column would run as a command;
 * - a command that cron's `%` rule cuts inside a quote, `$(…)` or backquotes, or
 *   right after the `+` of a date format (`date +%Y-%m-%d`): the author meant a
 *   literal `%`, which cron wants written `\%`. A `%` that cuts a command cleanly
 *   (`mail -s hi bob%Hello`) is taken as meant: cron's way to give a job input.
 *
 * @param jobs The jobs of a koitab that parsed without errors.
 * @param context The machine's users and commands, and the jobs' owner.
 * @returns The warnings, as lines and messages (`formatKoitabWarning()` prints them).
 *
 * @example A table written for /etc/crontab
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 * import { koitabWarnings } from "./koitab_warnings.ts";
 *
 * const { jobs } = parseKoitab("0 3 * * * root /usr/sbin/backup\n");
 * const [warning] = koitabWarnings(jobs, {
 *   isUser: (name) => name === "root",
 *   isCommand: () => false,
 *   owner: "alice",
 *   defaultPath: "/usr/bin:/bin",
 * });
 * if (warning?.line !== 1 || !warning.message.startsWith('"root" is a user, not a command')) {
 *   throw new Error(JSON.stringify(warning));
 * }
 * ```
 */
export function koitabWarnings(
  jobs: readonly KoitabJob[],
  context: WarningContext,
): KoitabError[] {
  const warnings: KoitabError[] = [];
  for (const job of jobs) {
    const [word, next] = firstWords(job.command);
    const path = job.env.PATH ?? context.defaultPath;
    // A user column: a user name that is no command, then one that is.
    const command = (name: string) =>
      name.includes("/") || SHELL_WORDS.has(name) || context.isCommand(name, path);
    if (word !== "" && context.isUser(word) && !command(word) && next !== "" && command(next)) {
      warnings.push({
        line: job.line,
        message:
          `"${word}" is a user, not a command: this line is written for /etc/crontab, with a user column; a koitab's jobs run as ${context.owner}, so remove "${word}"`,
      });
      continue;
    }
    const percent = percentProblem(job);
    if (percent !== null) {
      warnings.push({
        line: job.line,
        message: `cron ends the command at the first "%" of "${
          aroundPercent(job)
        }" (${percent}) and sends the rest as its input: write \\% for each literal %`,
      });
    }
  }
  return warnings;
}

/**
 * A warning as the `koitab` command prints it.
 *
 * @param warning A line and what is likely wrong with it.
 * @returns `koitab line 3: warning: …`.
 *
 * @example
 * ```ts
 * import { formatKoitabWarning } from "./koitab_warnings.ts";
 *
 * const text = formatKoitabWarning({ line: 3, message: "x" });
 * if (text !== "koitab line 3: warning: x") throw new Error(text);
 * ```
 */
export function formatKoitabWarning(warning: KoitabError): string {
  return `koitab line ${warning.line}: warning: ${warning.message}`;
}
