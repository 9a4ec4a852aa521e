/**
 * koid's main loop: keep the koitab loaded (file watch, SIGHUP and a check each
 * minute, applied from the next minute), sleep until the next due job, and start
 * what is due. Runs `@reboot` jobs at the first start of koid in each boot.
 *
 * @module
 */

import { writeFileAtomic } from "../files.ts";
import { formatKoitabError, type KoitabJob, parseKoitab } from "../koitab.ts";
import type { KoiPaths } from "../koidir.ts";
import type { Clock } from "./clock.ts";
import type { Runner } from "./runner.ts";
import { type ClockChange, Scheduler } from "./scheduler.ts";

const MINUTE_MS = 60_000;

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
  /** This boot's id (`readBootId()`), or null when the system gives none. */
  readonly bootId: () => Promise<string | null>;
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

  /** Asks for the koitab to be read again; it applies from the next minute. */
  requestReload(): void {
    this.#reloadRequested = true;
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
    const changed = !sameVersion(version, this.#version);
    if (!initial && !changed && !this.#reloadRequested) return false;
    this.#reloadRequested = false;
    this.#version = version;
    if (version === null) {
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
      for (const error of errors) log(formatKoitabError(error));
      log(
        initial
          ? `the koitab has ${errors.length} error(s): no jobs run until it is fixed`
          : `the koitab has ${errors.length} error(s): keeping the last good table (${this.#jobs.length} jobs)`,
      );
      return false;
    }
    this.#jobs = jobs;
    log(`${initial ? "loaded" : "reloaded"} ${paths.koitab}: ${jobs.length} job(s)`);
    this.#options.onTable?.(jobs);
    return true;
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
