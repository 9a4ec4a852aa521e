/**
 * `koitab run NAME [--arg name=value]…`: run one job now, in the foreground, with
 * the same environment and argument checks koid applies.
 *
 * @module
 */

import { argName, fillArgs } from "../args.ts";
import { jobEnvironment, type JobUser } from "../daemon/environment.ts";
import { JobStartError, spawnJob } from "../daemon/spawn.ts";
import type { KoitabJob } from "../koitab.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob, similarNames } from "./job_name.ts";

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
    const named = jobs.filter((job) => job.name !== null).map((job) =>
      jobs.some((other) => other !== job && other.name === job.name)
        ? `${job.section}/${job.name}`
        : job.name!
    );
    const close = similarNames(named, wanted);
    if (close.length > 0) {
      throw new CliError(
        `no job "${wanted}" in the koitab: did you mean ${
          close.map((name) => `"${name}"`).join(" or ")
        }?`,
      );
    }
    const hint = named.length
      ? `named jobs: ${named.map((name) => `"${name}"`).join(", ")}`
      : "the koitab names no jobs";
    const unnamed = jobs.find((job) => job.name === null);
    const byLine = unnamed === undefined
      ? ""
      : `; an unnamed job goes by its line number, as in "koitab run ${unnamed.line}", or its tag`;
    throw new CliError(`no job "${wanted}" in the koitab (${hint}${byLine})`);
  }
  const choices = matches.map((job) => `"${job.section}/${job.name}"`).join(" or ");
  throw new CliError(`"${wanted}" names ${matches.length} jobs: say ${choices}`);
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
 * Runs a job now with the terminal as its stdout and stderr.
 *
 * @param job The job to run.
 * @param values Its argument values, checked by `fillArgs()`.
 * @param user Who it runs as (the caller).
 * @param daemonEnv The caller's environment; only locale variables pass to the job.
 * @returns The job's exit status (128 + signal number when killed).
 * @throws {CliError} When an argument is wrong or the job cannot start.
 */
export async function runJobNow(
  job: KoitabJob,
  values: Record<string, string>,
  user: JobUser,
  daemonEnv: Record<string, string>,
): Promise<number> {
  let command: string;
  try {
    command = fillArgs(job, values);
  } catch (error) {
    throw new CliError(`${jobLabel(job)}: ${(error as Error).message}`, 2);
  }
  const env = jobEnvironment(job.env, user, daemonEnv);
  try {
    const child = spawnJob({ command, stdin: job.stdin, env }, {
      output: "inherit",
      ownGroup: false,
    });
    const status = await child.status;
    return status.signal === null ? status.code : 128 + signalNumber(status.signal);
  } catch (error) {
    if (error instanceof JobStartError) throw new CliError(error.message);
    throw error;
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
