/**
 * The environment a job starts with, built as cron builds it: the daemon's locale
 * and MAILFROM, then the koitab's variables above the job, then cron's defaults, then the user's
 * name, which the koitab cannot override. Nothing else leaks from the daemon.
 *
 * @module
 */

/** The PATH a job gets when the koitab sets none: glibc's standard path, as cronie uses. */
export const CRON_PATH = "/usr/bin:/bin:/usr/sbin:/sbin";

/** The shell a job runs under when the koitab sets no SHELL. */
export const CRON_SHELL = "/bin/sh";

/** The locale variables cron copies from its own environment into a job's. */
export const LOCALE_VARIABLES: readonly string[] = [
  "LANG",
  "LANGUAGE",
  "LC_ALL",
  "LC_ADDRESS",
  "LC_COLLATE",
  "LC_CTYPE",
  "LC_IDENTIFICATION",
  "LC_MEASUREMENT",
  "LC_MESSAGES",
  "LC_MONETARY",
  "LC_NAME",
  "LC_NUMERIC",
  "LC_PAPER",
  "LC_TELEPHONE",
  "LC_TIME",
];

/** Who a job runs as: what its environment needs to know of the user. */
export interface JobUser {
  readonly name: string;
  readonly home: string;
}

/**
 * A job's environment, exactly as cron would give it.
 *
 * @param koitabEnv The koitab's variables defined above the job, in force for it.
 * @param user The user the job runs as.
 * @param daemonEnv The daemon's own environment; only the locale variables and
 * MAILFROM (a default sender for every job, as in cronie) are taken.
 * @returns The complete environment for the job's process.
 *
 * @example A koitab that sets PATH and tries to set USER
 * ```ts
 * import { jobEnvironment } from "./environment.ts";
 *
 * const env = jobEnvironment(
 *   { PATH: "/opt/bin", USER: "mallory" },
 *   { name: "alice", home: "/home/alice" },
 *   { LANG: "C.UTF-8", SECRET: "x" },
 * );
 * const expected = {
 *   LANG: "C.UTF-8",
 *   PATH: "/opt/bin",
 *   USER: "alice",
 *   SHELL: "/bin/sh",
 *   HOME: "/home/alice",
 *   LOGNAME: "alice",
 * };
 * if (JSON.stringify(env) !== JSON.stringify(expected)) throw new Error(JSON.stringify(env));
 * ```
 */
export function jobEnvironment(
  koitabEnv: Readonly<Record<string, string>>,
  user: JobUser,
  daemonEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of LOCALE_VARIABLES) {
    const value = daemonEnv[name];
    if (value !== undefined) env[name] = value;
  }
  if (daemonEnv.MAILFROM !== undefined) env.MAILFROM = daemonEnv.MAILFROM;
  Object.assign(env, koitabEnv);
  env.SHELL ??= CRON_SHELL;
  env.HOME ??= user.home;
  env.PATH ??= CRON_PATH;
  env.LOGNAME = user.name;
  env.USER = user.name;
  return env;
}
