/**
 * koid's link to its dashboard: follows the link files under `$KOI_DIR` (a
 * dashboard created, joined or deleted while koid runs is picked up without a
 * restart), and runs one {@linkcode Session} with the dashboard they name, which
 * sends the job list, the reports of every run (spooled durably by
 * {@linkcode RunReports}; held in memory by {@linkcode ReportQueue} while the
 * spool cannot be written) and takes manual runs ({@linkcode ManualIntake}).
 *
 * The dashboard is never on the runner's path: run events go to the spool
 * synchronously, and the session's loops talk to the server. A server that
 * misbehaves in any way costs retries, never koid.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import {
  type DashboardConfig,
  missingDataKey,
  type NewDashboardConfig,
  readDashboardConfig,
} from "../link/config.ts";
import type { KoiPaths } from "../koidir.ts";
import type { KoitabJob } from "../koitab.ts";
import { interruptedReport, RunReports } from "./link_reports.ts";
import { DEFAULT_LINK_TIMING, type LinkTiming, Session } from "./link_session.ts";
import { ManualIntake } from "./manual_intake.ts";
import { HOST_NAME, type Report } from "../protocol/wire.ts";
import type { DatabaseSource } from "./history_store.ts";
import { ReportQueue } from "./report_queue.ts";
import type { RunEvent, RunRequest } from "./runner.ts";
import { ReportSpool } from "./spool.ts";

/** What the link needs from koid. */
export interface LinkOptions {
  /** The `KOI_DIR` paths, for the link files. */
  readonly paths: KoiPaths;
  /**
   * koid's database, which holds the spool and the signatures: its source (the
   * `HistoryStore`), or the database itself.
   */
  readonly database: DatabaseSync | DatabaseSource;
  /** This machine's name toward the dashboard (see {@linkcode linkHost}). */
  readonly host: string;
  /** The zone of jobs without `CRON_TZ`. */
  readonly localZone: string;
  /** The most output bytes streamed live per run (koid's `--output-limit`). */
  readonly outputLimit: number;
  /** koid's log: one line per change of state, never a key. */
  readonly log: (line: string) => void;
  /** The jobs of the koitab in force (the daemon's). */
  readonly jobs: () => readonly KoitabJob[];
  /** Starts one run (the runner's `startAll`). */
  readonly start: (request: RunRequest) => void;
  /** The clock, for manual-run freshness; `Date.now` by default. */
  readonly now?: () => number;
  /** Overrides of {@linkcode DEFAULT_LINK_TIMING}, for tests. */
  readonly timing?: Partial<LinkTiming>;
}

/**
 * This machine's host name toward the dashboard: `KOI_HOST` if set, else the
 * system's, with characters the API does not allow replaced by `-`.
 *
 * @param env `KOI_HOST`, or undefined.
 * @param hostname The system's host name.
 * @returns The host name.
 *
 * @example
 * ```ts
 * import { linkHost } from "./link.ts";
 *
 * if (linkHost(undefined, "web 1") !== "web-1") throw new Error("replaced");
 * if (linkHost("koid-a", "web1") !== "koid-a") throw new Error("KOI_HOST");
 * ```
 */
export function linkHost(env: string | undefined, hostname: string): string {
  const name = (env || hostname).replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 253);
  return HOST_NAME.test(name) ? name : "localhost";
}

/** The dashboard link of one koid. */
export class DashboardLink {
  readonly #options: LinkOptions;
  readonly #timing: LinkTiming;
  readonly #spool: ReportQueue;
  readonly #reports: RunReports;
  readonly #intake: ManualIntake;
  #session: Session | null = null;
  #checking: Promise<void> = Promise.resolve();
  #configProblem: string | null = null;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #interval: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Whether the daemon has loaded a table: until then there is no job list to send. */
  #tableKnown = false;

  /** @param options koid's paths, database, host, log, jobs and runner. */
  constructor(options: LinkOptions) {
    this.#options = options;
    this.#timing = { ...DEFAULT_LINK_TIMING, ...options.timing };
    const now = options.now ?? (() => Date.now());
    // While the spool cannot be written, reports wait in memory and still go out live.
    this.#spool = new ReportQueue(new ReportSpool(options.database), { log: options.log, now });
    this.#reports = new RunReports(options.outputLimit);
    this.#intake = new ManualIntake({ ...options, now });
  }

  /** The dashboard id the link is connected to, or null. */
  get dashboardId(): string | null {
    return this.#session?.config.id ?? null;
  }

  /**
   * Reads the link files and starts, restarts or stops the link to match, then
   * keeps checking each minute: on a timer of its own, or when its owner calls
   * {@linkcode DashboardLink.minutely} (koid, from the daemon's minute, so an idle
   * koid wakes once a minute for all of it).
   *
   * @param options `ownTimer: false` when the owner calls `minutely()`.
   * @returns When the link matches the files.
   */
  start(options: { ownTimer?: boolean } = {}): Promise<void> {
    if (options.ownTimer ?? true) {
      this.#interval ??= setInterval(() => this.#minutely(), this.#timing.checkIntervalMs);
    }
    return this.check();
  }

  /** The link's checks of each minute: forgotten signatures, the job list's next runs, the files. */
  minutely(): void {
    if (!this.#closed) this.#minutely();
  }

  /** Asks for the link files to be read again soon (a file event in `KOI_DIR`). */
  requestCheck(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    // Several files change together: read them once they have.
    this.#debounce = setTimeout(() => this.check(), 100);
  }

  /**
   * Reads the link files now and starts, restarts or stops the link to match.
   *
   * @returns When done.
   */
  check(): Promise<void> {
    this.#checking = this.#checking.then(() => this.#checkNow()).catch((error) => {
      this.#options.log(`dashboard: cannot check the dashboard link: ${(error as Error).message}`);
    });
    return this.#checking;
  }

  /** Says the koitab changed: the job list is sent again, even one the server refused. */
  tableChanged(): void {
    this.#tableKnown = true;
    this.#session?.tableChanged();
  }

  /**
   * Takes one run event from the runner and spools its report. Never throws and
   * never waits: the runner calls it synchronously.
   *
   * @param event The event.
   */
  onEvent(event: RunEvent): void {
    const session = this.#session;
    try {
      const manualId = event.type === "start" ? this.#intake.manualIdOf(event.run.id) : null;
      const sink = session === null
        ? null
        : { dashboard: session.config.id, append: (report: Report) => session.append(report) };
      this.#reports.take(event, sink, manualId, this.#spool.bytes);
    } catch (error) {
      session?.problem(`cannot spool a report: ${(error as Error).message}`);
    }
  }

  /**
   * Tells the dashboard that runs a previous koid left unfinished were interrupted.
   * Their output is gone: koid keeps a run's output only when it ends.
   *
   * @param ids The runs `History.markInterrupted()` marked.
   * @param at When they were marked, ms since the epoch.
   */
  reportInterrupted(ids: readonly string[], at: number): void {
    const session = this.#session;
    if (session === null) return;
    for (const id of ids) session.append(interruptedReport(id, at));
  }

  /** Stops taking manual runs (koid is stopping); reports still go out. */
  stopManualRuns(): void {
    this.#intake.stop();
    this.#session?.stopManual();
  }

  /**
   * Stops the link: no more manual runs, up to `flushMs` to send what the spool
   * holds, then every loop ends. What is left stays in the spool for next time.
   *
   * @param flushMs How long to keep sending reports.
   * @returns When every loop has ended.
   */
  async close(flushMs = 0): Promise<void> {
    this.stopManualRuns();
    this.#closed = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#interval);
    await this.#checking;
    const session = this.#session;
    this.#session = null;
    if (session !== null) {
      await session.flush(flushMs);
      await session.stop();
    }
  }

  #minutely(): void {
    this.#intake.prune();
    this.#session?.refreshJobs();
    this.check();
  }

  async #checkNow(): Promise<void> {
    if (this.#closed) return;
    const { paths, log } = this.#options;
    let config: NewDashboardConfig | null = null;
    try {
      const read = await readDashboardConfig(paths);
      if (read !== null && read.dataKey === null) {
        throw new Error(
          `${paths.dataKey} is missing: koid seals what it sends with the data key, so it does not link without one; ${
            missingDataKey(`${read.server}/d/${read.id}`)
          }`,
        );
      }
      config = read as NewDashboardConfig | null;
      this.#configProblem = null;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.#configProblem) {
        log(`dashboard: cannot use the dashboard link: ${message}`);
      }
      this.#configProblem = message;
    }
    const current = this.#session;
    if (current !== null && config !== null && sameConfig(current.config, config)) return;
    if (current === null && config === null) return;
    if (current !== null) {
      this.#session = null;
      await current.stop();
      if (config === null) log(`dashboard: unlinked from dashboard ${current.config.id}`);
    }
    if (config === null || this.#closed) return;
    const dropped = this.#spool.discardOthers(config.id);
    if (dropped > 0) log(`dashboard: dropped ${dropped} report(s) meant for a former dashboard`);
    const waiting = this.#spool.pending(config.id).reports;
    log(
      `dashboard: linked to dashboard ${config.id} at ${config.server} as host "${this.#options.host}"` +
        (waiting > 0 ? ` (${waiting} report(s) to send)` : ""),
    );
    this.#session = new Session(config, {
      options: this.#options,
      timing: this.#timing,
      spool: this.#spool,
      handleManual: (session, request) =>
        this.#intake.handle(session, request, () => this.#session === session),
      acceptingManual: () => this.#intake.accepting,
      tableKnown: () => this.#tableKnown,
    });
  }
}

function sameConfig(a: DashboardConfig, b: DashboardConfig): boolean {
  return a.id === b.id && a.server === b.server && a.apiKey === b.apiKey &&
    a.runKey === b.runKey && a.dataKey === b.dataKey;
}
