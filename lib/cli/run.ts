/**
 * `koitab run NAME [--arg name=value]… [--mail-command CMD|off]`: run one job now,
 * in the foreground, with the same environment, argument checks and mail as koid,
 * recorded in the history.
 *
 * @module
 */

import { writeAll } from "../files.ts";
import { argName, type ArgValue, fillArgs, readArgValues } from "../args.ts";
import { jobEnvironment, type JobUser } from "../runs/environment.ts";
import { type History, newRunId, runEnd, type RunStart } from "../runs/history.ts";
import {
  type MailCommand,
  mailLog,
  type MailSettings,
  parseMailCommand,
  planMail,
  SENDMAIL_PATH,
} from "../runs/mail.ts";
import { OutputMail } from "../runs/mailer.ts";
import { DEFAULT_OUTPUT_LIMIT, OutputCapture } from "../output_cap.ts";
import { JobStartError, spawnJob } from "../runs/spawn.ts";
import type { KoitabJob } from "../koitab.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob, similarNames, typedName } from "../job_name.ts";

/**
 * Finds the job a user means: by name, by `Section/Name`, by tag, or, for a
 * number that names no job, by the line it is on.
 *
 * @param jobs The koitab's jobs.
 * @param wanted What the user typed.
 * @returns The job.
 * @throws {CliError} When nothing matches (suggesting close names), or several jobs do.
 */
export function findJob(jobs: readonly KoitabJob[], wanted: string): KoitabJob {
  const matches = jobs.filter((job) => namesJob(job, wanted));
  if (matches.length === 0 && /^[0-9]+$/.test(wanted)) {
    const onLine = jobs.find((job) => job.line === Number(wanted));
    if (onLine) return onLine;
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    const named = typedNames(jobs);
    const close = similarNames(named, wanted);
    if (close.length > 0) {
      throw new CliError(
        `no job "${wanted}" in the koitab: did you mean ${
          close.map((name) => `"${name}"`).join(" or ")
        }?`,
      );
    }
    const unnamed = jobs.find((job) => job.name === null);
    const byLine = unnamed === undefined
      ? ""
      : `; an unnamed job goes by its line number, as in "koitab run ${unnamed.line}", or its tag`;
    throw new CliError(`no job "${wanted}" in the koitab (${namedJobs(jobs)}${byLine})`);
  }
  const choices = matches.map((job) => `"${typedName({ ...job, name: job.name! })}"`).join(" or ");
  throw new CliError(`"${wanted}" names ${matches.length} jobs: say ${choices}`);
}

/**
 * The names a person may type for the koitab's jobs, for a message about a name
 * that matched none.
 *
 * @param jobs The koitab's jobs.
 * @returns `named jobs: "A", "S/B"`, or `the koitab names no jobs`.
 */
export function namedJobs(jobs: readonly KoitabJob[]): string {
  const named = typedNames(jobs).map((name) => `"${name}"`);
  return named.length ? `named jobs: ${named.join(", ")}` : "the koitab names no jobs";
}

/** Each named job as a person would type it: its name, or `Section/Name` where names repeat. */
function typedNames(jobs: readonly KoitabJob[]): string[] {
  return jobs.flatMap((job) => {
    const name = job.name;
    if (name === null) return [];
    return [
      jobs.some((other) => other !== job && other.name === name)
        ? typedName({ ...job, name })
        : name,
    ];
  });
}

/**
 * Parses `--arg name=value` options into argument values (strings, as typed).
 * The name ends at the first `=` and is read as a placeholder's is ({@linkcode argName}).
 *
 * @param args The words after the job name.
 * @returns The values by argument name.
 * @throws {CliError} On anything but `--arg name=value`.
 */
export function parseArgOptions(args: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    let pair: string | undefined;
    if (word === "--arg") pair = args[++i];
    else if (word.startsWith("--arg=")) pair = word.slice("--arg=".length);
    else throw new CliError(`unexpected "${word}": give arguments as --arg name=value`, 2);
    const equals = pair?.indexOf("=") ?? -1;
    if (pair === undefined || equals < 1) {
      throw new CliError(`--arg needs name=value, got "${pair ?? ""}"`, 2);
    }
    values[argName(pair.slice(0, equals))] = pair.slice(equals + 1);
  }
  return values;
}

/**
 * Takes `--mail-command CMD` (or `--mail-command=CMD`) out of the words after
 * `run`, wherever it stands.
 *
 * @param words The words after `run`.
 * @returns The other words, in order, and the mail command (sendmail when not given).
 * @throws {CliError} When the option has no value, or an empty one.
 */
export function takeMailCommand(
  words: readonly string[],
): { words: string[]; mailCommand: MailCommand } {
  const rest: string[] = [];
  let mailCommand: MailCommand = { kind: "sendmail", path: SENDMAIL_PATH };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let value: string | undefined;
    if (word === "--mail-command") value = words[++i] ?? "";
    else if (word.startsWith("--mail-command=")) value = word.slice("--mail-command=".length);
    else {
      rest.push(word);
      continue;
    }
    try {
      mailCommand = parseMailCommand(value);
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
  }
  return { words: rest, mailCommand };
}

/** What `koitab run` needs besides the job: mail, the history, and where to say things. */
export interface RunNowOptions {
  /** How output is mailed, as koid mails it. */
  readonly mail: MailSettings;
  /** Where the run is recorded (trigger `cli`), or null when it cannot be. */
  readonly history: History | null;
  /** One line for the user about the run (a mail that failed, a record that could not be written). */
  readonly log: (line: string) => void;
}

/**
 * Runs a job now, in the foreground: its stdout and stderr go to koitab's as they
 * arrive (through pipes, as under koid, not the terminal itself), its output is
 * mailed as koid mails it, and the run is recorded in the history with the
 * trigger `cli`. Ctrl-C reaches the job, as it would in a shell, and koitab
 * records how it ended; SIGTERM and SIGHUP sent to koitab are passed on to it.
 *
 * @param job The job to run.
 * @param values Its argument values as typed (`--arg name=value`), read by `readArgValues()`.
 * @param user Who it runs as (the caller).
 * @param daemonEnv The caller's environment; only locale variables and MAILFROM pass to the job.
 * @param options Mail, the history, and the log.
 * @returns The job's exit status (128 + signal number when killed).
 * @throws {CliError} When an argument is wrong or the job cannot start.
 */
export async function runJobNow(
  job: KoitabJob,
  values: Record<string, string>,
  user: JobUser,
  daemonEnv: Record<string, string>,
  options: RunNowOptions,
): Promise<number> {
  let command: string;
  let typed: Record<string, ArgValue>;
  try {
    typed = readArgValues(job, values);
    command = fillArgs(job, typed);
  } catch (error) {
    throw new CliError(`${jobLabel(job)}: ${(error as Error).message}`, 2);
  }
  const env = jobEnvironment(job.env, user, daemonEnv);
  const startedAt = Date.now();
  const start: RunStart = {
    id: newRunId(startedAt),
    tag: job.tag,
    name: job.name,
    section: job.section,
    trigger: "cli",
    args: typed,
    scheduledFor: null,
    startedAt,
  };
  const record = (what: string, write: (history: History) => void) => {
    if (options.history === null) return;
    try {
      write(options.history);
    } catch (error) {
      options.log(`cannot record the ${what} of this run: ${(error as Error).message}`);
    }
  };
  const plan = planMail({ user: user.name, command: job.command, env }, options.mail);
  let child: Deno.ChildProcess;
  try {
    child = spawnJob({ command, stdin: job.stdin, env }, { output: "piped", ownGroup: false });
  } catch (error) {
    if (!(error instanceof JobStartError)) throw error;
    record("start", (history) => {
      history.recordStarts([start]);
      history.recordEnd(start.id, start.tag, {
        finishedAt: Date.now(),
        exitCode: null,
        signal: null,
        status: "not-started",
        error: error.message,
        chunks: [],
        outputBytes: 0,
      });
    });
    // Mailed why, as koid mails it.
    const mail = new OutputMail(plan, { env });
    await mail.write(new TextEncoder().encode(`${error.message}\n`));
    for (const line of mailLog(plan, await mail.finish())) options.log(line);
    throw new CliError(error.message);
  }
  record("start", (history) => history.recordStarts([start]));
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  // The terminal sends SIGINT and SIGQUIT to the job too: koitab only waits to record the end.
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", () => {}],
    ["SIGQUIT", () => {}],
    ["SIGTERM", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
  ];
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const capture = new OutputCapture(DEFAULT_OUTPUT_LIMIT);
  const mail = new OutputMail(plan, { env });
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    name: "stdout" | "stderr",
    to: { write(bytes: Uint8Array): Promise<number> },
  ) => {
    let terminal = true;
    for await (const bytes of stream) {
      capture.add(name, bytes);
      if (terminal) terminal = await writeAllOrStop(to, bytes);
      await mail.write(bytes);
    }
  };
  let status: Deno.CommandStatus;
  try {
    [status] = await Promise.all([
      child.status,
      pump(child.stdout, "stdout", Deno.stdout),
      pump(child.stderr, "stderr", Deno.stderr),
    ]);
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
  const mailed = mail.finish();
  record(
    "end",
    (history) => history.recordEnd(start.id, start.tag, runEnd(status, capture, Date.now())),
  );
  for (const line of mailLog(plan, await mailed)) options.log(line);
  return status.signal === null ? status.code : 128 + signalNumber(status.signal);
}

/** Writes all of `bytes`; false once the writer fails (a closed terminal or pipe). */
async function writeAllOrStop(
  to: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<boolean> {
  try {
    await writeAll(to, bytes);
    return true;
  } catch {
    return false;
  }
}

const SIGNALS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * A signal's number on Linux, for the shell's exit status of a killed job (128 + n).
 *
 * @param signal The signal's name (`SIGTERM`).
 * @returns Its number, or 0 for one not listed.
 */
export function signalNumber(signal: string): number {
  return SIGNALS[signal as Deno.Signal] ?? 0;
}
