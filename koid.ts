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
import { HistoryStore } from "./lib/daemon/history_store.ts";
import { JobUser } from "./lib/daemon/job_user.ts";
import { koitabWarnings } from "./lib/koitab_warnings.ts";
import { machineWarningContext } from "./lib/runs/warning_context.ts";
import { KoidStatus } from "./lib/daemon/koid_status.ts";
import { LinkLoader } from "./lib/daemon/link_loader.ts";
import { type MailCommand, parseMailCommand, SENDMAIL_PATH, tableMails } from "./lib/runs/mail.ts";
import type { KoitabJob } from "./lib/koitab.ts";
import { DEFAULT_OUTPUT_LIMIT } from "./lib/output_cap.ts";
import { Runner } from "./lib/daemon/runner.ts";
import { isExecutable } from "./lib/runs/spawn.ts";
import { DEFAULT_KOI_DIR, koiPaths, prepareKoiDir } from "./lib/koidir.ts";
import { localTimeZone } from "./lib/timezone.ts";
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
No fault of its files stops koid: a corrupt history.db is moved aside, one that cannot be
written means running unrecorded until it can, and a broken koitab leaves the last good one
running; "koitab history" says what koid works around (see the README, "When things go wrong").

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
  let store: HistoryStore | undefined;
  let status: KoidStatus | undefined;
  try {
    const options = parseOptions(args);
    const paths = koiPaths(Deno.env.get("KOI_DIR") || DEFAULT_KOI_DIR);
    try {
      await prepareKoiDir(paths.dir, { create: true });
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    const changed = () => void status?.changed();
    const jobUser = new JobUser({ paths, uid: Deno.uid()!, log, onChange: changed });
    try {
      await jobUser.start();
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    if (jobUser.warning) log(`warning: ${jobUser.warning}`);
    const setpriv = findTool("setpriv");
    if (jobUser.user?.switchUser && setpriv === null) {
      log(`warning: no setpriv: jobs run as uid ${jobUser.user.uid} without supplementary groups`);
    }

    // The link is loaded last; runs start only once the daemon runs, after it is.
    let link: LinkLoader | null = null;
    const interruptedEarly: [readonly string[], number][] = [];
    store = new HistoryStore({
      path: paths.history,
      log,
      uid: Deno.uid(),
      onChange: changed,
      onInterrupted: (ids, at) => {
        if (link === null) interruptedEarly.push([ids, at]);
        else link.reportInterrupted(ids, at);
      },
    });
    // Never fails: a corrupt file is moved aside, one that cannot be written is retried.
    store.open();

    const host = hostname();
    const runner = new Runner({
      history: store,
      user: () => jobUser.current(),
      daemonEnv: Deno.env.toObject(),
      setpriv,
      setsid: findTool("setsid"),
      log,
      now: () => Date.now(),
      outputLimit: options.outputLimit,
      mail: { command: options.mailCommand, hostname: host },
      onEvent: (event) => link?.onEvent(event),
      // Output is decoded for the dashboard only while a link is loaded.
      liveOutput: () => link?.link != null,
    });
    const localZone = localTimeZone();
    let watcher: Deno.FsWatcher | null = null;
    const watch = () => {
      closeWatcher(watcher);
      watcher = watchDir(paths.dir, (names) => {
        if (names.has("koitab")) daemon.requestReload();
        if (names.has("user")) void jobUser.check();
        if (["dashboard.json", "apikey", "runkey", "datakey"].some((name) => names.has(name))) {
          dashboardLink.filesChanged();
        }
      });
    };
    // Said once, when a table first would mail (not for one that sets MAILTO="" throughout).
    let mailerChecked = false;
    const warnIfNoMailer = (jobs: readonly KoitabJob[]) => {
      const mailer = options.mailCommand;
      if (mailerChecked || mailer.kind !== "sendmail" || !tableMails(jobs)) return;
      mailerChecked = true;
      if (isExecutable(mailer.path)) return;
      log(
        `warning: no ${mailer.path}: output of runs cannot be mailed (each such run is logged); ` +
          `name a mailer with --mail-command CMD, or say --mail-command off`,
      );
    };
    const daemon = new Daemon({
      paths,
      clock: systemClock,
      runner,
      localZone,
      log,
      onTable: (jobs) => {
        link?.tableChanged();
        warnIfNoMailer(jobs);
      },
      warnings: (jobs) =>
        koitabWarnings(jobs, machineWarningContext(jobUser.user?.name ?? "the jobs' user")),
      bootId: readBootId,
      onDirRecreated: watch,
      onChange: changed,
      // koid's checks of the jobs' user and of a new dashboard link, once a minute.
      onMinute: () => {
        void jobUser.check();
        dashboardLink.minutely();
      },
    });
    status = new KoidStatus({
      path: paths.koidState,
      dir: paths.dir,
      uid: Deno.uid(),
      store,
      jobUser,
      daemonProblems: () => daemon.problems,
      log,
    });
    const database = store;
    // The link's code is loaded only once this machine is linked to a dashboard.
    const dashboardLink = new LinkLoader({
      paths,
      log,
      load: async () => {
        const { DashboardLink, linkHost } = await import("./lib/daemon/link.ts");
        return new DashboardLink({
          paths,
          database,
          host: linkHost(Deno.env.get("KOI_HOST"), host),
          localZone,
          outputLimit: options.outputLimit,
          log,
          jobs: () => daemon.jobs,
          start: (request) => runner.startAll([request]),
        });
      },
    });
    link = dashboardLink;
    watch();
    const stop = (signal: Deno.Signal) => {
      log(`${signal}: stopping; no new runs will start`);
      daemon.stop();
      dashboardLink.stopManualRuns();
    };
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
    Deno.addSignalListener("SIGHUP", () => {
      // A burst of SIGHUPs asks for one reload, and says so once.
      if (daemon.requestReload()) log("SIGHUP: the koitab will be read again at the next minute");
      void jobUser.check();
    });
    const user = jobUser.user;
    log(
      `koid ${VERSION} started (pid ${Deno.pid}), ` +
        (user === null ? "no job runs until the jobs' user exists" : `jobs run as ${user.name}`),
    );
    // Written alongside: the jobs do not wait for it.
    void status.changed();
    await dashboardLink.check();
    for (const [ids, at] of interruptedEarly) dashboardLink.reportInterrupted(ids, at);
    await daemon.run();
    await runner.stop(options.graceMs);
    // A few seconds to tell the dashboard how the last runs ended; the rest waits in the spool.
    await dashboardLink.close(3000);
    closeWatcher(watcher);
    log("stopped");
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`koid: ${error.message}`);
    return error.exitCode;
  } finally {
    store?.close();
    await status?.stop();
  }
}

/** Closes a watcher, which may have closed itself (its directory went). */
function closeWatcher(watcher: Deno.FsWatcher | null): void {
  try {
    watcher?.close();
  } catch {
    // Closed already.
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
 * Watches the KOI_DIR for changes to the koitab, the user file and the dashboard
 * link files (written by rename); `onChange` gets the names of the files that changed.
 *
 * @returns The watcher, to close; null when the directory cannot be watched.
 */
function watchDir(dir: string, onChange: (names: Set<string>) => void): Deno.FsWatcher | null {
  const cannot = (error: unknown) =>
    log(
      `cannot watch ${dir} (${
        (error as Error).message
      }); the koitab and the dashboard link are still checked each minute`,
    );
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(dir, { recursive: false });
  } catch (error) {
    cannot(error);
    return null;
  }
  (async () => {
    try {
      for await (const event of watcher) {
        onChange(new Set(event.paths.map((path) => path.slice(path.lastIndexOf("/") + 1))));
      }
    } catch (error) {
      cannot(error);
    }
  })();
  return watcher;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
