/**
 * `koid`: the daemon that runs the koitab's jobs exactly as cron would. Run with
 * the permission flags of `deno task koid` (see deno.json).
 *
 * @module
 */

import { CliError } from "./lib/cli/errors.ts";
import { readBootId } from "./lib/daemon/boot.ts";
import { systemClock } from "./lib/daemon/clock.ts";
import { Daemon } from "./lib/daemon/daemon.ts";
import { History } from "./lib/runs/history.ts";
import { DashboardLink, linkHost } from "./lib/daemon/link.ts";
import { type MailCommand, parseMailCommand, SENDMAIL_PATH } from "./lib/runs/mail.ts";
import { DEFAULT_OUTPUT_LIMIT } from "./lib/output_cap.ts";
import { chooseRunUser } from "./lib/runs/run_user.ts";
import { Runner } from "./lib/daemon/runner.ts";
import { isExecutable } from "./lib/runs/spawn.ts";
import { DEFAULT_KOI_DIR, koiPaths, prepareKoiDir } from "./lib/koidir.ts";
import { localTimeZone } from "./lib/timezone.ts";
import { readPasswd } from "./lib/users.ts";
import { VERSION } from "./lib/version.ts";

const HELP = `koid ${VERSION}: run the jobs of the koitab, as cron does

Usage:
  koid [--grace SECONDS] [--output-limit BYTES] [--mail-command CMD|off]
  koid --help | --version

koid reads $KOI_DIR/koitab (KOI_DIR defaults to ${DEFAULT_KOI_DIR}), runs each job at its
times in its zone, and records every run in $KOI_DIR/history.db (see "koitab history").
@reboot jobs run at koid's first start in each boot of the machine ($KOI_DIR/last-boot).
Edits to the koitab apply from the next minute; SIGHUP asks for a reload too.
Jobs run as the user named in $KOI_DIR/user (koid must then run as root or as that user).

When this machine is linked to a dashboard ("koitab -d new" or "koitab -d join"), koid sends
it the job list and every run, and takes the manual runs it queues, each checked against the
local koitab and run key first. Linking, relinking and unlinking apply without a restart.
The machine's name on the dashboard is $KOI_HOST, else its host name.

A run that writes output has it mailed, as cron does: to MAILTO (a comma-separated list) as the
koitab sets it above the job, else to the jobs' user; MAILTO="" mails nothing.

Options:
  --grace SECONDS        on SIGTERM or SIGINT, how long running jobs may take to finish
                         before their process groups are stopped (default 30)
  --output-limit BYTES   output kept per run: head and tail, the middle elided
                         (default ${DEFAULT_OUTPUT_LIMIT}); mail always gets all of it
  --mail-command CMD     the mailer, run as the jobs' user with the header and output on its
                         stdin (split at blanks, no shell; default
                         "${SENDMAIL_PATH} -FCronDaemon -i -odi -oem -oi -t -f FROM");
                         off: mail nothing
`;

interface Options {
  graceMs: number;
  outputLimit: number;
  mailCommand: MailCommand;
}

function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    graceMs: 30_000,
    outputLimit: DEFAULT_OUTPUT_LIMIT,
    mailCommand: { kind: "sendmail", path: SENDMAIL_PATH },
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    const number = value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (flag === "--grace" && Number.isSafeInteger(number)) {
      options.graceMs = number * 1000;
    } else if (flag === "--output-limit" && number >= 1024) {
      options.outputLimit = number;
    } else if (flag === "--mail-command") {
      try {
        options.mailCommand = parseMailCommand(value ?? "");
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
    } else if (flag === "--grace") {
      throw new CliError(`--grace needs a whole number of seconds, got "${value ?? ""}"`, 2);
    } else if (flag === "--output-limit") {
      throw new CliError(
        `--output-limit needs a whole number of bytes, at least 1024, got "${value ?? ""}"`,
        2,
      );
    } else {
      throw new CliError(`unknown option "${flag}"`, 2);
    }
    i++;
  }
  return options;
}

function log(line: string): void {
  console.error(`koid: ${line}`);
}

/**
 * Runs `koid` until SIGTERM or SIGINT.
 *
 * @param args The command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP.trimEnd());
    return 0;
  }
  if (args.includes("--version") || args.includes("-V")) {
    console.log(`koid ${VERSION}`);
    return 0;
  }
  let history: History | undefined;
  try {
    const options = parseOptions(args);
    const paths = koiPaths(Deno.env.get("KOI_DIR") || DEFAULT_KOI_DIR);
    try {
      await prepareKoiDir(paths.dir, { create: true });
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    let userFile: string | null = null;
    try {
      userFile = (await Deno.readTextFile(paths.user)).trim();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new CliError(`cannot read ${paths.user}: ${(error as Error).message}`);
      }
    }
    let choice;
    try {
      const groupFile = await Deno.readTextFile("/etc/group").catch(() => "");
      choice = chooseRunUser(userFile, await readPasswd().catch(() => []), Deno.uid()!, groupFile);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    if (choice.user.switchUser) await checkUserFileOwnership(paths.dir, paths.user);
    if (choice.warning) log(`warning: ${choice.warning}`);
    const setpriv = choice.user.switchUser ? findTool("setpriv") : null;
    if (choice.user.switchUser && setpriv === null) {
      log(`warning: no setpriv: jobs run as uid ${choice.user.uid} without supplementary groups`);
    }
    try {
      history = new History(paths.history);
    } catch (error) {
      throw new CliError(`cannot open ${paths.history}: ${(error as Error).message}`);
    }
    const interruptedAt = Date.now();
    const interrupted = history.markInterrupted(interruptedAt);
    if (interrupted.length > 0) {
      log(`marked ${interrupted.length} run(s) left unfinished by a stopped koid as interrupted`);
    }

    // The link is made last; runs start only once the daemon runs, after it exists.
    let link: DashboardLink | null = null;
    const host = hostname();
    const runner = new Runner({
      history,
      user: choice.user,
      daemonEnv: Deno.env.toObject(),
      setpriv,
      setsid: findTool("setsid"),
      log,
      now: () => Date.now(),
      outputLimit: options.outputLimit,
      mail: { command: options.mailCommand, hostname: host },
      onEvent: (event) => link?.onEvent(event),
    });
    const localZone = localTimeZone();
    const daemon = new Daemon({
      paths,
      clock: systemClock,
      runner,
      localZone,
      log,
      onTable: () => link?.tableChanged(),
      bootId: readBootId,
    });
    const dashboardLink = new DashboardLink({
      paths,
      database: history.database,
      host: linkHost(Deno.env.get("KOI_HOST"), host),
      localZone,
      outputLimit: options.outputLimit,
      log,
      jobs: () => daemon.jobs,
      start: (request) => runner.startAll([request]),
    });
    link = dashboardLink;
    watchDir(paths.dir, (names) => {
      if (names.has("koitab")) daemon.requestReload();
      if (names.has("dashboard.json") || names.has("apikey") || names.has("runkey")) {
        dashboardLink.requestCheck();
      }
    });
    const stop = (signal: Deno.Signal) => {
      log(`${signal}: stopping; no new runs will start`);
      daemon.stop();
      dashboardLink.stopManualRuns();
    };
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
    Deno.addSignalListener("SIGHUP", () => {
      log("SIGHUP: the koitab will be read again at the next minute");
      daemon.requestReload();
    });
    log(`koid ${VERSION} started (pid ${Deno.pid}), jobs run as ${choice.user.name}`);
    const mailer = options.mailCommand;
    if (mailer.kind === "sendmail" && !isExecutable(mailer.path)) {
      log(
        `warning: no ${mailer.path}: output of runs cannot be mailed (each such run is logged); ` +
          `name a mailer with --mail-command CMD, or say --mail-command off`,
      );
    }
    await dashboardLink.start();
    dashboardLink.reportInterrupted(interrupted, interruptedAt);
    await daemon.run();
    await runner.stop(options.graceMs);
    // A few seconds to tell the dashboard how the last runs ended; the rest waits in the spool.
    await dashboardLink.close(3000);
    log("stopped");
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`koid: ${error.message}`);
    return error.exitCode;
  } finally {
    history?.close();
  }
}

/**
 * As root, koid lets `$KOI_DIR/user` choose who jobs run as only when no one but root
 * can change that choice: the file and KOI_DIR must be root's and not writable by
 * others, or their owner could name any user, root included.
 */
async function checkUserFileOwnership(dir: string, userFile: string): Promise<void> {
  for (const path of [dir, userFile]) {
    const info = await Deno.stat(path);
    if (info.uid !== 0 || ((info.mode ?? 0) & 0o022) !== 0) {
      throw new CliError(
        `as root, koid takes the jobs' user from ${userFile} only if root owns it and ${dir} and no one else can write them, ` +
          `but ${path} is ${info.uid !== 0 ? `owned by uid ${info.uid}` : "writable by others"}: ` +
          `run koid as the jobs' user instead (User= in its systemd unit), or give ${dir} to root`,
      );
    }
  }
}

/** The path of a util-linux tool on Linux, or null. */
function findTool(name: string): string | null {
  if (Deno.build.os !== "linux") return null;
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // Not there; try the next.
    }
  }
  return null;
}

/** This machine's host name, when koid may ask for it (`--allow-sys=hostname`). */
function hostname(): string {
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") {
    log(
      `warning: no --allow-sys=hostname: mail subjects say "localhost", and so does the dashboard unless KOI_HOST is set`,
    );
    return "localhost";
  }
  return Deno.hostname();
}

/**
 * Watches the KOI_DIR for changes to the koitab and the dashboard link files
 * (written by rename); `onChange` gets the names of the files that changed.
 */
function watchDir(dir: string, onChange: (names: Set<string>) => void): void {
  (async () => {
    try {
      for await (const event of Deno.watchFs(dir, { recursive: false })) {
        onChange(new Set(event.paths.map((path) => path.slice(path.lastIndexOf("/") + 1))));
      }
    } catch (error) {
      log(
        `cannot watch ${dir} (${
          (error as Error).message
        }); the koitab and the dashboard link are still checked each minute`,
      );
    }
  })();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
