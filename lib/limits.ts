/**
 * The limits a koitab keeps so that every table that installs is one koid can
 * run and the dashboard can take: the parser refuses what passes them, and the
 * dashboard server's checks accept everything within them. One place, so the
 * two never disagree. Pure constants, no I/O.
 *
 * @module
 */

/**
 * The most bytes (UTF-8) of a job's command as `sh -c` gets it (before cron's
 * `%`, which starts the job's input, and with each `\%` made `%`), and of a
 * variable's `NAME=value`. koid runs a command as `sh -c COMMAND`, one argument,
 * and Linux refuses any single argument or environment string of more than
 * 128 KiB with its closing NUL (`MAX_ARG_STRLEN`): the job would fail on every run
 * with "Argument list too long". Cronie reads a command into the same 131,072
 * bytes (`MAX_COMMAND`, `MAX_ENVSTR`). macOS allows 256 KiB for all arguments and
 * the environment together, so one command of this size fits there too.
 */
export const MAX_COMMAND_BYTES = 131_071;

/** The most jobs a koitab holds: cronie's limit on the entries of one crontab. */
export const MAX_JOBS = 10_000;

/** The most characters (UTF-16 code units) of a job's name, a section's name or an argument's name. */
export const MAX_NAME_CHARS = 200;

/** The most arguments one job may declare. */
export const MAX_ARGS = 100;

/**
 * The most bytes a koitab's jobs take as JSON: for each job, its name, section,
 * schedule, command and arguments (see `jobJsonBytes()` in `./koitab.ts`). koid
 * sends a host's whole job list to the dashboard in one request, so the server
 * must be able to take the largest list a koitab can make.
 */
export const MAX_JOB_LIST_JSON_BYTES = 8 * 1024 * 1024;
