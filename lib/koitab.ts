/**
 * The koitab: Koi's job table, a crontab with extras (job names, sections and
 * arguments), read from text into jobs, the environment and every error at once.
 * Pure logic: no I/O.
 *
 * The format, line by line (leading blanks are ignored everywhere):
 *
 * - Blank lines and comments (`#` as the first non-blank character) are skipped.
 * - `NAME=value` sets a variable for the jobs below it, with cron's quoting rules:
 *   the name may be quoted, blanks may surround `=`, an unquoted value runs to the
 *   end of the line with trailing blanks trimmed, a quoted value (`'…'` or `"…"`)
 *   is kept verbatim with no escapes and only blanks after it; nothing is
 *   expanded. Every line is tried as an assignment first, as cron does.
 *   `CRON_TZ` sets the time zone of the jobs below it (empty: the local zone).
 * - `[Section]` groups the jobs below it.
 * - A job: an optional name in double quotes (`\"` and `\\` allowed inside), five
 *   time fields or an `@` word (cron's, `@reboot` once per boot, and
 *   `@manual`: never scheduled, only run by hand), then the command, to the end
 *   of the line. Cron's `%` rule splits the command from its standard input, and
 *   `{{name, type, default}}` placeholders declare arguments (see `./args.ts`).
 *
 * Two deliberate differences from crontab(1), both friendlier: a `\r` at the end
 * of a line is dropped (CRLF files work; cron would keep it in the command), and
 * a last line without a newline is read like any other (crontab(1) refuses the
 * file with `premature EOF`).
 *
 * @module
 */

import { type ArgSpec, parseArgSpecs } from "./args.ts";
import { MAX_COMMAND_BYTES, MAX_JOB_LIST_JSON_BYTES, MAX_JOBS, MAX_NAME_CHARS } from "./limits.ts";
import { argDefault } from "./protocol/arg_types.js";
import { type JobKind, scheduleKind } from "./protocol/job_kind.js";
import { cronSchedule } from "./schedules.ts";
import { zoneInfo } from "./timezone.ts";

export type { JobKind };

/** One job of the koitab. */
export interface KoitabJob {
  /**
   * The job's identity toward the dashboard: `j` and 16 hex digits, stable across
   * restarts and edits of other lines. A named job keeps its tag when its schedule
   * or command changes; an unnamed one is known by its schedule and command.
   */
  tag: string;
  /** The name given in quotes before the schedule, or null. */
  name: string | null;
  /** The `[Section]` the job is in, or null before the first section. */
  section: string | null;
  /**
   * The five fields joined by single spaces (`"*\/5 * * * *"`), or the `@` word
   * (`"@hourly"`, `"@reboot"`, `"@manual"`).
   */
  schedule: string;
  /**
   * What the schedule makes of the job: `cron` (five fields or a cron `@` word),
   * `reboot` (`@reboot`) or `manual` (`@manual`).
   */
  kind: JobKind;
  /** The command for `sh -c`, after cron's `%` rule, still holding its `{{…}}` placeholders. */
  command: string;
  /** The standard input from cron's `%` rule, ending in a newline, or null when there is none. */
  stdin: string | null;
  /**
   * The arguments the command declares, in order of first appearance. Jobs that
   * declare none share one frozen empty array.
   */
  args: ArgSpec[];
  /** The 1-based line number of the job. */
  line: number;
  /** The `CRON_TZ` in force for this job, or null for the local zone. */
  timezone: string | null;
  /**
   * The variables set above the job, as they stand at its line: one frozen object
   * shared by the jobs between two assignments.
   */
  env: Record<string, string>;
  /**
   * Set by cronie's `-n` before the command: the output is mailed only when the
   * run fails (a status other than 0); absent otherwise.
   */
  mailOnlyOnFailure?: true;
}

/** A line of the koitab that could not be read. */
export interface KoitabError {
  /** The 1-based line number. */
  line: number;
  /** What is wrong, without the line number: `bad hour "25" (0-23)`. */
  message: string;
}

/** What a koitab's text holds. */
export interface Koitab {
  /** The variables as they stand at the end of the file. */
  env: Record<string, string>;
  /** The jobs, in file order; lines with errors are left out. */
  jobs: KoitabJob[];
  /** Every line that could not be read, in file order. */
  errors: KoitabError[];
}

/** A line that is wrong; its message becomes a {@linkcode KoitabError}. */
class LineError extends SyntaxError {}

/** Blanks as cron trims them from the end of an env value. */
const TRAILING_SPACE = /[ \t\n\v\f\r]+$/;
const LEADING_BLANKS = /^[ \t]+/;

/** An env assignment, or null for any other line; throws on a line that is clearly a broken one. */
function readAssignment(body: string): { name: string; value: string } | null {
  let name: string;
  let i: number;
  const nameQuote = body[0];
  if (nameQuote === '"' || nameQuote === "'") {
    const end = body.indexOf(nameQuote, 1);
    if (end < 0) return null;
    name = body.slice(1, end);
    if (name.includes("=")) return null;
    i = end + 1;
  } else {
    name = /^[^ \t=]*/.exec(body)![0];
    i = name.length;
  }
  while (body[i] === " " || body[i] === "\t") i++;
  if (body[i] !== "=") return null;
  const rest = body.slice(i + 1).replace(LEADING_BLANKS, "");
  if (name === "") throw new LineError(`empty variable name before "="`);
  const valueQuote = rest[0];
  if (valueQuote !== '"' && valueQuote !== "'") {
    return { name, value: rest.replace(TRAILING_SPACE, "") };
  }
  const end = rest.indexOf(valueQuote, 1);
  if (end < 0) {
    throw new LineError(`bad value for ${name}: its opening ${valueQuote} is never closed`);
  }
  if (!/^[ \t\v\f\r]*$/.test(rest.slice(end + 1))) {
    throw new LineError(
      `bad value for ${name}: only blanks may follow its closing ${valueQuote} (cron has no escapes in values)`,
    );
  }
  return { name, value: rest.slice(1, end) };
}

/** Cron's `%` rule: the command before the first unescaped `%`, and the stdin after it. */
function splitPercent(field: string): { command: string; stdin: string | null } {
  // Without a %, the command is the field itself: no copy built a character at a time.
  if (!field.includes("%")) return { command: field, stdin: null };
  let command = "";
  let i = 0;
  for (; i < field.length; i++) {
    const ch = field[i]!;
    if (ch === "%") break;
    if (ch === "\\" && i + 1 < field.length) {
      // Escapes pair up left to right: `\\%` is an escaped backslash, then a real %.
      const next = field[++i]!;
      command += next === "%" ? "%" : ch + next;
    } else {
      command += ch;
    }
  }
  const input = field.slice(i + 1);
  if (i >= field.length || input === "") return { command, stdin: null };
  let stdin = "";
  for (let j = 0; j < input.length; j++) {
    const ch = input[j]!;
    if (ch === "\\" && input[j + 1] === "%") {
      stdin += "%";
      j++;
    } else {
      stdin += ch === "%" ? "\n" : ch;
    }
  }
  return { command, stdin: stdin.endsWith("\n") ? stdin : stdin + "\n" };
}

const utf8 = new TextEncoder();

/** The arguments of every job that declares none: one array for all of them, never changed. */
const NO_ARGS: ArgSpec[] = Object.freeze([]) as unknown as ArgSpec[];

/**
 * 64-bit FNV-1a of the UTF-8 bytes of `text`, as 16 hex digits. The hash is kept
 * as two 32-bit halves, so a koitab of 10,000 jobs allocates no BigInt per byte.
 */
function fnv1a64(text: string): string {
  let high = 0xcbf29ce4;
  let low = 0x84222325;
  for (const byte of utf8.encode(text)) {
    low = (low ^ byte) >>> 0;
    // Multiply by the FNV prime 2^40 + 0x1b3, modulo 2^64.
    const product = low * 0x1b3;
    const carry = Math.floor(product / 0x100000000);
    high = (Math.imul(high, 0x1b3) + carry + (low << 8)) >>> 0;
    low = product >>> 0;
  }
  return high.toString(16).padStart(8, "0") + low.toString(16).padStart(8, "0");
}

/**
 * Reads cronie's options before the command: `-n` and a blank (mail the output
 * only when the job fails), once at most. Any other leading `-` is refused, as
 * cronie refuses it (`bad option`): `sh -c` would take it for options of its own,
 * so the job could never run.
 *
 * @returns The command field without the option, and whether `-n` was given.
 */
function readCommandOptions(field: string): { field: string; mailOnlyOnFailure: boolean } {
  let mailOnlyOnFailure = false;
  while (field.startsWith("-")) {
    const option = /^[^ \t]+/.exec(field)![0];
    if (option === "-n" && field.length > 2 && !mailOnlyOnFailure) {
      mailOnlyOnFailure = true;
      field = field.slice(2).replace(LEADING_BLANKS, "");
      if (field === "") throw new LineError("missing command after -n");
      continue;
    }
    throw new LineError(
      option === "-n"
        ? (mailOnlyOnFailure ? `"-n" given twice` : "missing command after -n")
        : `the command starts with "${option}": cron reads a "-" there as an option (cronie has only -n, to mail only when the job fails), and sh -c would too`,
    );
  }
  return { field, mailOnlyOnFailure };
}

/** A name's length checked against {@linkcode MAX_NAME_CHARS}; `what` is "job name" or "section name". */
function checkNameLength(what: string, name: string): void {
  if (name.length > MAX_NAME_CHARS) {
    throw new LineError(
      `${what} too long: ${name.length} characters, at most ${MAX_NAME_CHARS}`,
    );
  }
}

/**
 * A text's size checked against {@linkcode MAX_COMMAND_BYTES}: a command as `sh -c`
 * gets it (before cron's `%`), or a variable's `NAME=value`.
 */
function checkCommandBytes(what: string, text: string, carried: string): void {
  const bytes = utf8.encode(text).length;
  if (bytes > MAX_COMMAND_BYTES) {
    throw new LineError(
      `${what} too long: ${bytes} bytes, at most ${MAX_COMMAND_BYTES} (the most Linux passes ${carried})`,
    );
  }
}

/** The bytes a job takes in the dashboard's job list: its name, section, schedule, command and arguments as JSON. */
function jobJsonBytes(job: KoitabJob): number {
  const { name, section, schedule, command, args } = job;
  return utf8.encode(JSON.stringify({ name, section, schedule, command, args })).length;
}

/** The error of a koitab holding a NUL byte, which no text file does. */
const NOT_TEXT = "not text: a NUL byte (a koitab is UTF-8 text, not a binary or UTF-16 file)";

/** How a section reads in a message. */
function sectionLabel(section: string | null): string {
  return section === null ? "before the first section" : `in section [${section}]`;
}

/**
 * Reads a koitab. Never throws on bad content: every line that cannot be read
 * is reported in `errors` (and left out of `jobs`), so a user sees all mistakes
 * at once.
 *
 * Error messages carry no line number (see {@linkcode formatKoitabError}):
 * - a file with a NUL byte, which is not text: that one error, on the line of the first;
 * - time fields: the message of `parseCron()` (./cron.ts), `bad hour "25" (0-23)`; a line
 *   that is no cron entry at all gets its first bad field, `bad minute "//" (0-59)`;
 * - `missing command after the schedule`; a sixth field starting with `*` (the
 *   seconds typo): `too many fields: cron has five …`; a command starting with
 *   `-` other than cronie's one option, `-n` (mail only on failure), once, then a
 *   command; cronie's `-` before the schedule (root's "no syslog line");
 * - a `CRON_TZ` that is not an IANA zone; a broken assignment (`D='a'b`);
 * - an empty job or section name; a name used twice in a section:
 *   `duplicate job name "X" in section [S] (first on line N)`;
 * - argument placeholders (see {@linkcode parseArgSpecs}), and, outside
 *   `@manual` jobs, a string or int argument without a default;
 * - the limits of `./limits.ts`, so that koid can run every job and the
 *   dashboard take the whole list: a command or a variable over 131,071 bytes
 *   (`command too long: …`), a job, section or argument name over 200
 *   characters, more than 10,000 jobs, or jobs taking more than 8 MiB as JSON.
 *
 * @param text The koitab's text. Lines may end in `\n` or `\r\n`; the last needs no newline.
 * @returns The jobs, the variables at the end of the file, and the errors.
 *
 * @example A table with sections, named jobs and arguments
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 *
 * const { jobs, errors } = parseKoitab(`[Bots]
 * "Crawler" *\/5 * * * * /usr/local/bin/crawl
 * [Admin]
 * "Say Hi" @manual ~/tweet.sh {{To Handle}} {{Delay, int, 0}}
 * `);
 * if (errors.length !== 0) throw new Error(JSON.stringify(errors));
 * const [crawler, sayHi] = jobs;
 * if (crawler?.section !== "Bots" || crawler.schedule !== "*\/5 * * * *") throw new Error();
 * if (sayHi?.name !== "Say Hi" || sayHi.args[1]?.default !== 0) throw new Error();
 * ```
 *
 * @example Every bad line at once
 * ```ts
 * import { formatKoitabError, parseKoitab } from "./koitab.ts";
 *
 * const { jobs, errors } = parseKoitab("0 25 * * * date\n@daily\n@hourly date\n");
 * const messages = errors.map(formatKoitabError);
 * if (jobs.length !== 1) throw new Error(String(jobs.length));
 * if (messages[0] !== 'koitab line 1: bad hour "25" (0-23)') throw new Error(messages[0]);
 * if (messages[1] !== "koitab line 2: missing command after the schedule") throw new Error();
 * ```
 */
export function parseKoitab(text: string): Koitab {
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    // A binary file given by mistake: one clear error, not one per garbled line.
    const line = text.slice(0, nul).split("\n").length;
    return { env: {}, jobs: [], errors: [{ line, message: NOT_TEXT }] };
  }
  const env = new Map<string, string>();
  const jobs: KoitabJob[] = [];
  const errors: KoitabError[] = [];
  /** Line of each job name, by section and name. */
  const names = new Map<string, number>();
  /** How many unnamed jobs with the same section, schedule and command came before. */
  const repeats = new Map<string, number>();
  let section: string | null = null;
  let timezone: string | null = null;
  /** What the jobs so far take in the dashboard's job list (see {@linkcode jobJsonBytes}). */
  let jsonBytes = 0;
  /**
   * The variables as they stand, shared by every job until the next assignment:
   * 10,000 jobs under the same variables hold one object, not 10,000 copies.
   */
  let jobEnv: Record<string, string> | null = null;

  const readJob = (body: string, line: number): void => {
    let rest = body;
    let name: string | null = null;
    if (rest.startsWith('"')) {
      let i = 1;
      let written = "";
      while (i < rest.length && rest[i] !== '"') {
        const escaped = rest[i] === "\\" && (rest[i + 1] === '"' || rest[i + 1] === "\\");
        written += rest[escaped ? i + 1 : i];
        i += escaped ? 2 : 1;
      }
      if (i >= rest.length) throw new LineError(`the job name's opening " is never closed`);
      name = written.trim();
      if (name === "") throw new LineError("empty job name: give one, or leave out the quotes");
      checkNameLength("job name", name);
      rest = rest.slice(i + 1).replace(LEADING_BLANKS, "");
      if (rest === "") throw new LineError(`missing schedule after the job name "${name}"`);
    }
    const nameKey = JSON.stringify([section, name]);
    const firstLine = name === null ? undefined : names.get(nameKey);
    if (name !== null && firstLine === undefined) names.set(nameKey, line);

    let schedule: string;
    let field: string;
    // Parsed to check it, and kept for koid and --next (see ./schedules.ts).
    const check = (schedule: string) => cronSchedule(schedule, timezone ?? undefined);
    if (/^-[0-9*@]/.test(rest)) {
      // cronie's "-" before the schedule, allowed for root: run without a syslog line.
      throw new LineError(
        `cronie's "-" before the schedule (no syslog line for the job, root only) is not supported: remove it`,
      );
    }
    if (rest.startsWith("@")) {
      schedule = /^[^ \t]+/.exec(rest)![0];
      if (scheduleKind(schedule) === "cron") check(schedule);
      field = rest.slice(schedule.length).replace(LEADING_BLANKS, "");
      if (field === "") throw new LineError("missing command after the schedule");
    } else {
      const fields: string[] = [];
      while (fields.length < 5 && rest !== "") {
        const token = /^[^ \t]+/.exec(rest)![0];
        fields.push(token);
        rest = rest.slice(token.length).replace(LEADING_BLANKS, "");
      }
      schedule = fields.join(" ");
      check(schedule);
      field = rest;
      if (field === "") throw new LineError("missing command after the schedule");
      if (field.startsWith("*")) {
        throw new LineError(
          `too many fields: cron has five (minute hour day-of-month month day-of-week), with no seconds or year, so "${
            /^[^ \t]+/.exec(field)![0]
          }" would start the command`,
        );
      }
    }

    const options = readCommandOptions(field);
    const { command, stdin } = splitPercent(options.field);
    checkCommandBytes("command", command, "to sh -c as one argument");
    const parsedArgs = parseArgSpecs(command);
    const args = parsedArgs.length === 0 ? NO_ARGS : parsedArgs;
    const kind = scheduleKind(schedule);
    if (kind !== "manual") {
      const required = args.find((arg) => argDefault(arg) === undefined);
      if (required) {
        throw new LineError(
          `argument "${required.name}" needs a default, since the job runs on its schedule (only @manual jobs may leave it out)`,
        );
      }
    }
    if (firstLine !== undefined) {
      throw new LineError(
        `duplicate job name "${name}" ${sectionLabel(section)} (first on line ${firstLine})`,
      );
    }

    let identity: string;
    if (name !== null) {
      identity = JSON.stringify(["named", section, name]);
    } else {
      const key = JSON.stringify(["unnamed", section, schedule, field]);
      const occurrence = repeats.get(key) ?? 0;
      repeats.set(key, occurrence + 1);
      identity = JSON.stringify(["unnamed", section, schedule, field, occurrence]);
    }
    if (jobs.length === MAX_JOBS) {
      throw new LineError(`too many jobs: a koitab holds at most ${MAX_JOBS}, as a crontab does`);
    }
    const job: KoitabJob = {
      tag: `j${fnv1a64(identity)}`,
      name,
      section,
      schedule,
      kind,
      command,
      stdin,
      args,
      line,
      timezone,
      env: jobEnv ??= Object.freeze(Object.fromEntries(env)),
    };
    if (options.mailOnlyOnFailure) job.mailOnlyOnFailure = true;
    const size = jobJsonBytes(job);
    if (jsonBytes + size > MAX_JOB_LIST_JSON_BYTES) {
      throw new LineError(
        `the koitab is too large: its jobs up to this line take ${
          jsonBytes + size
        } bytes as JSON, more than the ${MAX_JOB_LIST_JSON_BYTES} (8 MiB) the dashboard takes from one machine`,
      );
    }
    jsonBytes += size;
    jobs.push(job);
  };

  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const body = (raw.endsWith("\r") ? raw.slice(0, -1) : raw).replace(LEADING_BLANKS, "");
    if (body === "" || body.startsWith("#")) return;
    try {
      const assignment = readAssignment(body);
      if (assignment !== null) {
        checkCommandBytes(
          "variable",
          `${assignment.name}=${assignment.value}`,
          "as one environment variable",
        );
        if (assignment.name === "CRON_TZ") {
          if (assignment.value !== "") {
            try {
              zoneInfo(assignment.value);
            } catch (error) {
              if (!(error instanceof RangeError)) throw error;
              throw new LineError(
                `unknown time zone "${assignment.value}" in CRON_TZ (use an IANA name such as "UTC" or "Europe/London")`,
              );
            }
          }
          timezone = assignment.value === "" ? null : assignment.value;
        }
        env.set(assignment.name, assignment.value);
        jobEnv = null;
      } else if (body.startsWith("[")) {
        const header = body.replace(/[ \t]+$/, "");
        if (!header.endsWith("]")) {
          throw new LineError(`section header "${header}" is missing its closing "]"`);
        }
        const title = header.slice(1, -1).trim();
        if (title === "") throw new LineError(`empty section name in "${header}"`);
        checkNameLength("section name", title);
        section = title;
      } else {
        readJob(body, line);
      }
    } catch (error) {
      // LineError, CronSyntaxError and parseArgSpecs' errors are all SyntaxErrors.
      if (!(error instanceof SyntaxError)) throw error;
      errors.push({ line, message: error.message });
    }
  });
  return { env: Object.fromEntries(env), jobs, errors };
}

/**
 * An error of {@linkcode parseKoitab} as the `koitab` command prints it.
 *
 * @param error A line and what is wrong with it.
 * @returns `koitab line 7: bad hour "25" (0-23)`.
 *
 * @example
 * ```ts
 * import { formatKoitabError } from "./koitab.ts";
 *
 * const text = formatKoitabError({ line: 7, message: 'bad hour "25" (0-23)' });
 * if (text !== 'koitab line 7: bad hour "25" (0-23)') throw new Error(text);
 * ```
 */
export function formatKoitabError(error: KoitabError): string {
  return `koitab line ${error.line}: ${error.message}`;
}
