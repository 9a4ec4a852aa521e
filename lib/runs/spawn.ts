/**
 * Starting one job's process as cron does: `$SHELL -c COMMAND`, the job's own
 * environment and nothing else, in `$HOME`, with the `%` text on stdin.
 *
 * @module
 */

import { mayEnter } from "../users.ts";

/** Everything needed to start one run of a job. */
export interface JobLaunch {
  /** The command after cron's `%` rule, with argument values already filled in. */
  readonly command: string;
  /** The text for stdin (cron's `%` lines), or null for an empty stdin. */
  readonly stdin: string | null;
  /** The complete environment, from `jobEnvironment()`. Its SHELL and HOME are used. */
  readonly env: Readonly<Record<string, string>>;
  /** Run as another user (koid runs as root): that user's uid, gid and groups. */
  readonly switchUser?: UserSwitch;
}

/** How to become the job's user. */
export interface UserSwitch {
  readonly uid: number;
  readonly gid: number;
  /** The user's primary and supplementary gids, to check it may enter HOME. */
  readonly groups: readonly number[];
  /**
   * The path of util-linux `setpriv`, which also sets the user's supplementary
   * groups; null where there is none (macOS), and only uid and gid are set
   * (supplementary groups are then dropped, never kept from root).
   */
  readonly setpriv: string | null;
  /**
   * False to give setpriv the `groups` themselves rather than have it look the
   * user up (`--init-groups`), which fails once the user is gone from the
   * password file; true by default, so group changes apply to the next run as
   * in cron.
   */
  readonly initGroups?: boolean;
}

/** How the job's output is handled. */
export interface SpawnOptions {
  /** "inherit" to share the caller's terminal, "piped" to read it. */
  readonly output: "inherit" | "piped";
  /** Start the job in its own session and process group, so the group can be stopped. */
  readonly ownGroup: boolean;
  /**
   * The path of util-linux `setsid`, which puts the job in its own session without
   * koid forking: Deno's own `detached` forks koid, which grows slower the more
   * memory koid holds. Null where there is none (macOS): Deno detaches the job.
   */
  readonly setsid?: string | null;
}

/** The job could not be started at all (no shell, no HOME). */
export class JobStartError extends Error {
  /**
   * @param message Why the job did not start.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JobStartError";
  }
}

/**
 * Starts a job and feeds its stdin.
 *
 * @param launch What to run, and how.
 * @param options Output handling and process-group placement.
 * @returns The running process.
 * @throws {JobStartError} When the shell cannot be started or HOME cannot be entered.
 */
export function spawnJob(launch: JobLaunch, options: SpawnOptions): Deno.ChildProcess {
  const shell = launch.env.SHELL || "/bin/sh";
  const home = launch.env.HOME || "/";
  const change = launch.switchUser;
  const asUser = asJobUser([shell, "-c", launch.command], change);
  let argv = asUser.argv;
  const setsid = options.ownGroup ? options.setsid ?? null : null;
  if (setsid !== null) argv = [setsid, ...argv];
  if (argv[0] !== shell && !isExecutable(shell)) {
    // Behind a wrapper, a missing shell would look like a failed run: say it did not start.
    throw new JobStartError(`Cannot start the job: "${shell}" does not exist or cannot be run`);
  }
  const [program, ...args] = argv as [string, ...string[]];
  const commandOptions: Deno.CommandOptions = {
    args,
    clearEnv: true,
    env: { ...launch.env },
    cwd: home,
    stdin: launch.stdin === null ? "null" : "piped",
    stdout: options.output,
    stderr: options.output,
    detached: options.ownGroup && setsid === null,
  };
  if (asUser.uid !== undefined) commandOptions.uid = asUser.uid;
  if (asUser.gid !== undefined) commandOptions.gid = asUser.gid;
  if (change?.setpriv) {
    // setpriv is started as root, in HOME: check first that the user could enter
    // it, since cron does not run a job whose HOME its user cannot enter.
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(home);
    } catch {
      // Missing: reported below as a home that does not exist.
    }
    if (info !== null && !mayEnter(info, change.uid, change.groups)) {
      throw new JobStartError(
        `Cannot start the job: its user (uid ${change.uid}) may not enter the home directory "${home}"`,
      );
    }
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, commandOptions).spawn();
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? `"${shell}" or the home directory "${home}" does not exist`
      : error instanceof Deno.errors.PermissionDenied
      ? `permission denied starting "${shell}" in "${home}"`
      : (error as Error).message;
    throw new JobStartError(`Cannot start the job: ${reason}`, { cause: error });
  }
  if (launch.stdin !== null) {
    const writer = child.stdin.getWriter();
    // A job that never reads its stdin must not block anything: errors (EPIPE) are ignored.
    writer.write(new TextEncoder().encode(launch.stdin)).then(() => writer.close()).catch(() => {});
  }
  return child;
}

/** A command line and the ids to start it with, so that it runs as the job's user. */
export interface UserCommand {
  readonly argv: string[];
  /** Set on the process directly where there is no setpriv. */
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * How to run a command line as the job's user, as cron runs the job and its
 * mailer: through `setpriv`, which also sets the user's supplementary groups, or,
 * where there is none, with only the uid and gid set. Without a switch, as is.
 *
 * @param argv The program and its arguments.
 * @param change The user to become, or undefined to stay who koid is.
 * @returns The command line to start, and the ids to start it with.
 *
 * @example
 * ```ts
 * import { asJobUser } from "./spawn.ts";
 *
 * const command = asJobUser(["/bin/sh", "-c", "id"], {
 *   uid: 1000, gid: 1000, groups: [1000], setpriv: "/usr/bin/setpriv",
 * });
 * const expected = "/usr/bin/setpriv --reuid=1000 --regid=1000 --init-groups -- /bin/sh -c id";
 * if (command.argv.join(" ") !== expected || command.uid !== undefined) throw new Error();
 * ```
 */
export function asJobUser(argv: readonly string[], change: UserSwitch | undefined): UserCommand {
  if (change === undefined) return { argv: [...argv] };
  if (change.setpriv === null) return { argv: [...argv], uid: change.uid, gid: change.gid };
  return {
    argv: [
      change.setpriv,
      `--reuid=${change.uid}`,
      `--regid=${change.gid}`,
      change.initGroups === false ? `--groups=${change.groups.join(",")}` : "--init-groups",
      "--",
      ...argv,
    ],
  };
}

/**
 * Whether a path is a file some execute bit is set on.
 *
 * @param path The file.
 * @returns True when it exists, is a file and is executable by someone.
 */
export function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && (info.mode ?? 0o111) & 0o111 ? true : false;
  } catch {
    return false;
  }
}
