/**
 * koid's main loop: keep the koitab loaded (file watch, SIGHUP and a check each
 * minute, applied from the next minute), sleep until the next due job, and start
 * what is due. Runs `@reboot` jobs at the first start of koid in each boot. A
 * table with errors, or a `KOI_DIR` that vanishes, leaves the last good table
 * running.
 *
 * @module
 */

import { writeFileAtomic } from "../files.ts";
import { formatKoitabError, type KoitabError, type KoitabJob, parseKoitab } from "../koitab.ts";
import { formatKoitabWarning } from "../koitab_warnings.ts";
import type { KoiPaths } from "../koidir.ts";
import type { KoidProblem } from "../koid_state.ts";
import type { Clock } from "./clock.ts";
import type { Runner } from "./runner.ts";
import { type ClockChange, Scheduler } from "./scheduler.ts";

const MINUTE_MS = 60_000;

/** The most errors, and the most warnings, of one table logged; a file of garbage has thousands. */
const ERRORS_LOGGED = 10;

/** What the daemon needs. */
export interface DaemonOptions {
  readonly paths: KoiPaths;
  readonly clock: Clock;
  /** Starts runs; only `startAll` is used, so tests can pass a recorder. */
  readonly runner: Pick<Runner, "startAll">;
  /** The zone of jobs without `CRON_TZ`. */
  readonly localZone: string;
  readonly log: (line: string) => void;
  /** Called with the jobs each time a table is loaded (for the dashboard link). */
  readonly onTable?: (jobs: readonly KoitabJob[]) => void;
  /**
   * The warnings for a table's jobs (`koitabWarnings` with this machine's context),
   * logged when it is loaded: a table put in place without `koitab` was never
   * checked by it. None when absent.
   */
  readonly warnings?: (jobs: readonly KoitabJob[]) => readonly KoitabError[];
  /** This boot's id (`readBootId()`), or null when the system gives none. */
  readonly bootId: () => Promise<string | null>;
  /** Called when the daemon made `KOI_DIR` again after it vanished (to watch it again). */
  readonly onDirRecreated?: () => void;
  /** Called when {@linkcode Daemon.problems} change. */
  readonly onChange?: () => void;
  /**
   * Called at each new minute, after the table check and before the minute's runs
   * start: koid's other once-a-minute checks ride on the daemon's one wake a minute
   * instead of timers of their own.
   */
  readonly onMinute?: () => void;
}

interface TableVersion {
  readonly mtime: number;
  readonly size: number;
  readonly ino: number | null;
}

/** The scheduling loop over one `KOI_DIR`. */
export class Daemon {
  readonly #options: DaemonOptions;
  #jobs: readonly KoitabJob[] = [];
  #version: TableVersion | null = null;
  #scheduler: Scheduler | null = null;
  #reloadRequested = false;
  /** The table in force has been kept over a newer one with errors, since then. */
  #tableProblem: KoidProblem | null = null;
  /** `KOI_DIR` vanished: the table in force stays until a koitab is installed again. */
  #dirLost: KoidProblem | null = null;
  readonly #stop = new AbortController();
  #wake = new AbortController();

  /** @param options The paths, clock, runner and log. */
  constructor(options: DaemonOptions) {
    this.#options = options;
  }

  /** The jobs of the table in force. */
  get jobs(): readonly KoitabJob[] {
    return this.#jobs;
  }

  /** What the daemon works around: a table kept over a broken one, a vanished `KOI_DIR`. */
  get problems(): KoidProblem[] {
    return [this.#tableProblem, this.#dirLost].filter((problem) => problem !== null);
  }

  /**
   * Asks for the koitab to be read again; it applies from the next minute.
   *
   * @returns False when a reload was already asked for (a burst of SIGHUPs is one).
   */
  requestReload(): boolean {
    const fresh = !this.#reloadRequested;
    this.#reloadRequested = true;
    return fresh;
  }

  /** Stops scheduling; `run()` returns at once. Running jobs are the runner's. */
  stop(): void {
    this.#stop.abort();
    this.#wake.abort();
  }

  /**
   * Loads the table, runs `@reboot` jobs if this is the first start in this boot,
   * then schedules until `stop()`.
   *
   * @returns When stopped.
   */
  async run(): Promise<void> {
    const { clock, runner } = this.#options;
    const started = clock.now();
    const loaded = this.#load(true);
    const reboot = this.#jobs.filter((job) => job.kind === "reboot");
    if (await this.#newBoot(loaded, reboot.length) && reboot.length > 0) {
      runner.startAll(
        reboot.map((job) => ({ job, trigger: "reboot", values: {}, scheduledFor: null })),
      );
    }
    // Jobs for the minute koid starts in are not run, as in cron.
    this.#scheduler = new Scheduler(this.#jobs, this.#options.localZone, started);
    let minute = Math.floor(started / MINUTE_MS);
    while (!this.#stop.signal.aborted) {
      const now = clock.now();
      const wakeAt = Math.min(
        this.#scheduler.nextDue() ?? Infinity,
        (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS,
      );
      if (wakeAt > now) {
        this.#wake = new AbortController();
        const stopOrWake = AbortSignal.any([this.#stop.signal, this.#wake.signal]);
        await clock.sleepUntil(wakeAt, stopOrWake);
        if (this.#stop.signal.aborted) break;
      }
      const time = clock.now();
      const thisMinute = Math.floor(time / MINUTE_MS);
      if (thisMinute !== minute) {
        minute = thisMinute;
        // cron's check of the table, once a minute, before the minute's jobs are chosen.
        if (this.#load(false)) this.#scheduler.load(this.#jobs);
        this.#options.onMinute?.();
      }
      const due = this.#scheduler.takeDue(time);
      const change = this.#scheduler.clockChange;
      if (change !== null) this.#options.log(describeClockChange(change));
      if (due.length > 0) {
        runner.startAll(due.map(({ job, scheduledFor }) => ({
          job,
          trigger: "schedule",
          values: {},
          scheduledFor,
        })));
      }
    }
  }

  /**
   * Whether `@reboot` jobs are due: true unless they already ran in this boot for
   * this KOI_DIR. The boot is written down once a table is in force (none counts,
   * as in cron), so a table with errors at start leaves them for the start that
   * follows its fix.
   */
  async #newBoot(loaded: boolean, jobs: number): Promise<boolean> {
    const { paths, log } = this.#options;
    const boot = await this.#options.bootId().catch(() => null);
    if (boot === null) {
      if (jobs > 0) {
        log("cannot tell which boot this is: @reboot jobs run at every start of koid");
      }
      return true;
    }
    let last: string | null = null;
    try {
      last = (await Deno.readTextFile(paths.lastBoot)).trim();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log(`cannot read ${paths.lastBoot}: ${(error as Error).message}`);
      }
    }
    if (last === boot) {
      if (jobs > 0) {
        log(`@reboot jobs already ran in this boot (${boot}): they run again after a restart`);
      }
      return false;
    }
    if (loaded) {
      try {
        await writeFileAtomic(paths.lastBoot, `${boot}\n`);
      } catch (error) {
        log(
          `cannot write ${paths.lastBoot} (${
            (error as Error).message
          }): @reboot jobs will run again at the next start of koid`,
        );
      }
    }
    return true;
  }

  #setProblem(which: "table" | "dir", problem: KoidProblem | null): void {
    const before = which === "table" ? this.#tableProblem : this.#dirLost;
    if (before === null && problem === null) return;
    if (which === "table") this.#tableProblem = problem;
    else this.#dirLost = problem;
    this.#options.onChange?.();
  }

  #dirExists(): boolean {
    try {
      Deno.statSync(this.#options.paths.dir);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * `KOI_DIR` is gone: the table read last stays in force, and the directory is
   * made again (mode 0700, as at start) so that runs are recorded again.
   */
  #recreateDir(): void {
    const { paths, log } = this.#options;
    const first = this.#dirLost === null;
    if (first) {
      const line =
        `KOI_DIR ${paths.dir} disappeared: koid keeps running the last koitab it read (${this.#jobs.length} jobs) and makes ${paths.dir} again so runs are recorded; install a koitab there (koitab -e) to change the jobs`;
      log(line);
      this.#setProblem("dir", { area: "koi-dir", since: this.#options.clock.now(), line });
    }
    try {
      Deno.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
      this.#version = null;
      this.#options.onDirRecreated?.();
    } catch (error) {
      if (first) {
        log(`cannot make ${paths.dir} again: ${(error as Error).message}; trying each minute`);
      }
    }
  }

  /** Reads the table if it changed or a reload was asked for; true when a new table applies. */
  #load(initial: boolean): boolean {
    const { paths, log } = this.#options;
    let version: TableVersion | null = null;
    try {
      const info = Deno.statSync(paths.koitab);
      version = { mtime: info.mtime?.getTime() ?? 0, size: info.size, ino: info.ino };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log(`cannot read ${paths.koitab}: ${(error as Error).message}`);
        return false;
      }
    }
    if (version === null && !initial && !this.#dirExists()) {
      this.#recreateDir();
      return false;
    }
    const changed = !sameVersion(version, this.#version);
    if (!initial && !changed && !this.#reloadRequested) return false;
    this.#reloadRequested = false;
    this.#version = version;
    if (version === null) {
      // No koitab installed since KOI_DIR vanished: the last one read stays in force.
      if (this.#dirLost !== null) return false;
      if (!initial && this.#jobs.length === 0) return false;
      log(`no koitab at ${paths.koitab}: no jobs until one is installed (koitab -e)`);
      this.#jobs = [];
      this.#options.onTable?.(this.#jobs);
      return true;
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(paths.koitab);
    } catch (error) {
      log(`cannot read ${paths.koitab}: ${(error as Error).message}; keeping the last table`);
      return false;
    }
    const { jobs, errors } = parseKoitab(text);
    if (errors.length > 0) {
      logSome(log, errors, formatKoitabError, "koitab -l");
      const line = initial
        ? `the koitab has ${errors.length} error(s): no jobs run until it is fixed`
        : `the koitab has ${errors.length} error(s): keeping the last good table (${this.#jobs.length} jobs)`;
      log(line);
      this.#setProblem("table", {
        area: "koitab",
        since: this.#options.clock.now(),
        line: `${line}; fix it with koitab -e`,
      });
      return false;
    }
    this.#setProblem("table", null);
    this.#setProblem("dir", null);
    this.#jobs = jobs;
    log(`${initial ? "loaded" : "reloaded"} ${paths.koitab}: ${jobs.length} job(s)`);
    logSome(log, this.#options.warnings?.(jobs) ?? [], formatKoitabWarning, "koitab --check");
    this.#options.onTable?.(jobs);
    return true;
  }
}

/** Logs the first {@linkcode ERRORS_LOGGED} problems of a table, and how many more there are. */
function logSome(
  log: (line: string) => void,
  problems: readonly KoitabError[],
  format: (problem: KoitabError) => string,
  showsAll: string,
): void {
  for (const problem of problems.slice(0, ERRORS_LOGGED)) log(format(problem));
  if (problems.length > ERRORS_LOGGED) {
    log(`… and ${problems.length - ERRORS_LOGGED} more (${showsAll} shows them all)`);
  }
}

/**
 * The log line for a wake at which the clock had moved more than cron catches up
 * minute by minute, saying what koid does about it.
 */
function describeClockChange({ step, from, to }: ClockChange): string {
  const span = `from ${utcMinute(from)} to ${utcMinute(to)}`;
  switch (step) {
    case "forward":
      return `the clock moved on ${span} at once (set forward, or the machine slept): starting the fixed-time runs missed in between, not the wildcard ones, as cron does`;
    case "back":
      return `the clock went back ${span}: fixed-time jobs wait until it passes ${
        utcMinute(from)
      } again, wildcard jobs follow it, as cron does`;
    default:
      return to > from
        ? `the clock jumped ${span}, more than 3 hours: missed runs are not replayed, as in cron`
        : `the clock went back ${span}, more than 3 hours: counting every job's next run from now, as cron does`;
  }
}

/** `2025-06-01 12:00 UTC`. */
function utcMinute(time: number): string {
  return `${new Date(time).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function sameVersion(a: TableVersion | null, b: TableVersion | null): boolean {
  if (a === null || b === null) return a === b;
  return a.mtime === b.mtime && a.size === b.size && a.ino === b.ino;
}
