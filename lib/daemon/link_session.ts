/**
 * One connection of koid's link to one dashboard: three loops, each with bounded
 * timeouts and answers, backoff with jitter and one log line per change of
 * state. The job list goes when the koitab changes (and when its next runs have
 * passed); the reports go from the durable spool (or memory, while the spool
 * cannot be written) in batches, a batch the server
 * refuses halved until the one bad report is found and dropped; manual runs come
 * by long-poll, by polling each second when long-polls fail.
 *
 * @module
 */

import { DashboardClient, DashboardError, type PolledManual } from "../link/client.ts";
import type { NewDashboardConfig } from "../link/config.ts";
import { ReportSealer } from "./report_sealer.ts";
import { clearJobListRefusal, writeJobListRefusal } from "../link/link_state.ts";
import type { KoiPaths } from "../koidir.ts";
import type { KoitabJob } from "../koitab.ts";
import { MAX_WAIT_SECONDS, type Report } from "../protocol/wire.ts";
import { sleep, Wakeup } from "../wakeup.ts";
import { dashboardJobs } from "./link_reports.ts";
import type { ReportQueue } from "./report_queue.ts";
import { BATCH_BYTES } from "./spool.ts";

/** How long the link waits, and how long it lets calls take. */
export interface LinkTiming {
  /** A call's timeout, answer included (30 s). */
  readonly requestTimeoutMs: number;
  /** How long the server may hold a long-poll (25 s). */
  readonly longPollSeconds: number;
  /** A long-poll's timeout (35 s). */
  readonly longPollTimeoutMs: number;
  /** The interval of the fallback polling (1 s). */
  readonly pollIntervalMs: number;
  /** How long after a failed long-poll it is tried again (60 s). */
  readonly longPollRetryMs: number;
  /** The first retry delay (1 s), doubled on each failure up to `backoffMaxMs`, with jitter. */
  readonly backoffMinMs: number;
  /** The longest retry delay (60 s). */
  readonly backoffMaxMs: number;
  /** How often the link files are checked without a file event (60 s). */
  readonly checkIntervalMs: number;
  /**
   * How long after the server refused a job list the same list is sent again,
   * unless the koitab changes first (1 h): the server may have been upgraded.
   */
  readonly refusedRetryMs: number;
}

/** The timing koid uses. */
export const DEFAULT_LINK_TIMING: LinkTiming = {
  requestTimeoutMs: 30_000,
  longPollSeconds: MAX_WAIT_SECONDS,
  longPollTimeoutMs: 35_000,
  pollIntervalMs: 1_000,
  longPollRetryMs: 60_000,
  backoffMinMs: 1_000,
  backoffMaxMs: 60_000,
  checkIntervalMs: 60_000,
  refusedRetryMs: 3_600_000,
};

/** The statuses with which a server refuses what it was sent, rather than failing: no use retrying. */
const REFUSALS = [400, 413, 422];

/** The most reports in one batch. */
const BATCH_REPORTS = 5000;

/** The most runs taken from one poll answer; a server handing out more waits for the next. */
const RUNS_PER_POLL = 100;

/** The link's state in one channel, logged only when it changes. */
class ChannelState {
  readonly #log: (line: string) => void;
  #state = "ok";

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  get state(): string {
    return this.#state;
  }

  /**
   * Moves to a state, logging `line` if it is a change.
   *
   * @returns Whether it was a change.
   */
  set(state: string, line: () => string): boolean {
    if (state === this.#state) return false;
    this.#state = state;
    this.#log(`dashboard: ${line()}`);
    return true;
  }
}

/** A failure's identity for state changes: the same kind of failure logs once. */
function failureKind(error: unknown): string {
  if (error instanceof DashboardError) return `failing ${error.kind} ${error.status ?? ""}`;
  return `failing ${(error as Error)?.name}`;
}

/** What a session needs from koid and its link. */
export interface SessionContext {
  /** What the session needs of koid's link options. */
  readonly options: {
    /** The `KOI_DIR` paths, for the link-state file. */
    readonly paths: KoiPaths;
    /** This machine's name toward the dashboard. */
    readonly host: string;
    /** The zone of jobs without `CRON_TZ`. */
    readonly localZone: string;
    /** koid's log. */
    readonly log: (line: string) => void;
    /** The jobs of the koitab in force. */
    readonly jobs: () => readonly KoitabJob[];
  };
  /** How long the loops wait, and let calls take. */
  readonly timing: LinkTiming;
  /** The durable spool the reports go out from, with memory to fall back on. */
  readonly spool: ReportQueue;
  /** Judges, starts or refuses one manual run handed out (`ManualIntake`). */
  readonly handleManual: (session: Session, request: PolledManual) => Promise<void>;
  /** Whether manual runs are still taken (koid is not stopping). */
  readonly acceptingManual: () => boolean;
  /** Whether the daemon has loaded a table: until then there is no job list to send. */
  readonly tableKnown: () => boolean;
}

/** One connection to one dashboard: its three loops, until stopped. */
export class Session {
  /** The dashboard, its server and keys. */
  readonly config: NewDashboardConfig;
  readonly #context: SessionContext;
  readonly #client: DashboardClient;
  readonly #sealer: ReportSealer;
  readonly #abort = new AbortController();
  readonly #manualAbort = new AbortController();
  readonly #reportsWake = new Wakeup();
  readonly #jobsWake = new Wakeup();
  readonly #reports: ChannelState;
  readonly #jobs: ChannelState;
  readonly #manual: ChannelState;
  readonly #problems: ChannelState;
  readonly #loops: Promise<void>[];
  #jobsDirty: boolean;
  #firstNext: number | null = null;
  /** When the server last refused the job list; null once it takes one. */
  #refusedAt: number | null = null;
  /** Whether link-state.json may record a refusal (one from before this session, too). */
  #refusalRecorded = true;

  /**
   * Starts the three loops with a dashboard.
   *
   * @param config The dashboard, its server and keys.
   * @param context What the loops need from koid and its link.
   */
  constructor(config: NewDashboardConfig, context: SessionContext) {
    this.config = config;
    this.#sealer = new ReportSealer(config.id, context.options.host, config.dataKey);
    this.#context = context;
    this.#jobsDirty = context.tableKnown();
    const log = context.options.log;
    this.#reports = new ChannelState(log);
    this.#jobs = new ChannelState(log);
    this.#manual = new ChannelState(log);
    this.#problems = new ChannelState(log);
    this.#client = new DashboardClient({
      server: config.server,
      id: config.id,
      apiKey: config.apiKey,
      timeoutMs: context.timing.requestTimeoutMs,
    });
    this.#loops = [
      this.#guard("reports", () => this.#sendReports()),
      this.#guard("job list", () => this.#sendJobs()),
      this.#guard("manual runs", () => this.#pollManual()),
    ];
  }

  /**
   * Spools a report for this dashboard and wakes the sender.
   *
   * @returns True when it was coalesced into the report before (its `seq` is unused).
   */
  append(report: Report): boolean {
    const coalesced = this.#context.spool.append(this.config.id, report);
    this.#reportsWake.notify();
    return coalesced;
  }

  /** Logs a local problem once. */
  problem(message: string): void {
    this.#problems.set(`problem ${message}`, () => message);
  }

  /**
   * Sends the job list again (its next runs moved, or the server may have lost
   * it), unless the server refused it: then only a new table, or the hourly retry,
   * sends it.
   */
  jobsChanged(): void {
    if (!this.#context.tableKnown() || this.#refusedAt !== null) return;
    this.#jobsDirty = true;
    this.#jobsWake.notify();
  }

  /** The koitab changed: its job list is sent, whatever became of the last one. */
  tableChanged(): void {
    this.#refusedAt = null;
    this.jobsChanged();
  }

  /** Sends the job list again once its first upcoming run has passed, so the times stay current. */
  refreshJobs(): void {
    if (this.#firstNext !== null && this.#firstNext <= Date.now()) this.jobsChanged();
  }

  /** Ends the polling for manual runs (koid is stopping); reports still go out. */
  stopManual(): void {
    this.#manualAbort.abort();
  }

  /** Waits until the spool is empty for this dashboard, or `ms` have passed. */
  async flush(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && this.#context.spool.pending(this.config.id).reports > 0) {
      await sleep(Math.min(50, deadline - Date.now()), this.#abort.signal);
    }
  }

  /** Ends every loop; what the spool holds stays for the next session. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#manualAbort.abort();
    await Promise.all(this.#loops);
  }

  /** Runs a loop; an unexpected error is logged and the loop started again after a pause. */
  async #guard(what: string, loop: () => Promise<void>): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await loop();
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.problem(`the ${what} loop failed (${(error as Error).message}); restarting it`);
        await sleep(this.#context.timing.backoffMaxMs, signal);
      }
    }
  }

  #backoff(attempt: number): number {
    const { backoffMinMs, backoffMaxMs } = this.#context.timing;
    const ceiling = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(attempt, 30));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  /** A channel works again after failing: the server may have lost the job list, so send it. */
  #recovered(channel: ChannelState, line: string): void {
    if (channel.state === "ok") return;
    channel.set("ok", () => line);
    this.jobsChanged();
  }

  async #sendReports(): Promise<void> {
    const { spool, options } = this.#context;
    const signal = this.#abort.signal;
    let attempt = 0;
    let limit = BATCH_REPORTS;
    let lastDropped = "";
    while (!signal.aborted) {
      const batch = spool.take(this.config.id, BATCH_BYTES, limit);
      if (batch === null) {
        await this.#reportsWake.wait(Infinity, signal);
        continue;
      }
      try {
        // Sealed as it leaves: the spool coalesces live output, which takes the plain text.
        const sealed = await this.#sealer.reports(batch.reports);
        await this.#client.postReports(options.host, sealed, { signal });
        spool.ack(this.config.id, batch.last);
        attempt = 0;
        limit = BATCH_REPORTS;
        this.#recovered(this.#reports, "reports reach the dashboard again");
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof DashboardError && REFUSALS.includes(error.status ?? 0)) {
          // The server refuses something in the batch: find it by halving, then drop it alone.
          if (batch.reports.length > 1) {
            limit = Math.ceil(batch.reports.length / 2);
            continue;
          }
          spool.ack(this.config.id, batch.last);
          limit = BATCH_REPORTS;
          const report = batch.reports[0]!;
          const run = "runId" in report
            ? report.runId ?? ""
            : report.type === "start"
            ? report.run.id
            : "";
          // One line per run: its other reports are likely refused too.
          if (run === "" || run !== lastDropped) {
            options.log(
              `dashboard: the server refused ${
                /^[aeiou]/.test(report.type) ? "an" : "a"
              } ${report.type} report${run ? ` of run ${run}` : ""} (${error.message}); dropped it`,
            );
          }
          lastDropped = run;
          continue;
        }
        this.#reports.set(failureKind(error), () => {
          const waiting = spool.pending(this.config.id).reports;
          return `cannot send reports: ${
            (error as Error).message
          }; retrying with backoff (${waiting} waiting)`;
        });
        await sleep(this.#backoff(attempt++), signal);
      }
    }
  }

  async #sendJobs(): Promise<void> {
    const { options, timing } = this.#context;
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      if (!this.#jobsDirty) {
        if (this.#refusedAt === null) {
          await this.#jobsWake.wait(Infinity, signal);
          continue;
        }
        const retryAt = this.#refusedAt + timing.refusedRetryMs;
        await this.#jobsWake.wait(Math.max(0, retryAt - Date.now()), signal);
        if (Date.now() >= retryAt) this.#jobsDirty = true;
        continue;
      }
      this.#jobsDirty = false;
      try {
        const jobs = dashboardJobs(options.jobs(), options.localZone, new Date());
        await this.#client.putJobs(options.host, await this.#sealer.jobs(jobs), { signal });
        const firsts = jobs.flatMap((job) => job.next.slice(0, 1)).map(Date.parse);
        this.#firstNext = firsts.length > 0 ? Math.min(...firsts) : null;
        attempt = 0;
        this.#refusedAt = null;
        if (this.#refusalRecorded) {
          this.#refusalRecorded = false;
          await this.#linkState(() => clearJobListRefusal(options.paths));
        }
        if (this.#jobs.state !== "ok") {
          this.#jobs.set("ok", () => "the job list reaches the dashboard again");
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof DashboardError && REFUSALS.includes(error.status ?? 0)) {
          // Sending the same list again would be refused again: wait for a new table.
          const reason = error.message;
          this.#refusedAt = Date.now();
          attempt = 0;
          this.#jobs.set(
            `refused ${reason}`,
            () =>
              `the server refused the job list (${reason}); the dashboard's list of this host stays out of date until the koitab changes (tried again in ${
                Math.round(timing.refusedRetryMs / 60_000)
              } min)`,
          );
          this.#refusalRecorded = true;
          await this.#linkState(() =>
            writeJobListRefusal(options.paths, {
              dashboard: this.config.id,
              host: options.host,
              at: this.#refusedAt!,
              reason,
            })
          );
          continue;
        }
        this.#jobsDirty = true;
        this.#jobs.set(
          failureKind(error),
          () => `cannot send the job list: ${(error as Error).message}; retrying with backoff`,
        );
        await sleep(this.#backoff(attempt++), signal);
      }
    }
  }

  /** Writes or removes the link-state file for `koitab -d`; a failure is logged once, not fatal. */
  async #linkState(change: () => Promise<void>): Promise<void> {
    try {
      await change();
    } catch (error) {
      this.problem(
        `cannot record the job list's state in ${this.#context.options.paths.linkState}: ${
          (error as Error).message
        }`,
      );
    }
  }

  async #pollManual(): Promise<void> {
    const { options, timing } = this.#context;
    const signal = AbortSignal.any([this.#abort.signal, this.#manualAbort.signal]);
    let attempt = 0;
    let longPoll = true;
    let fellBackAt = 0;
    while (!signal.aborted) {
      if (!longPoll && Date.now() - fellBackAt >= timing.longPollRetryMs) longPoll = true;
      const started = Date.now();
      let runs: PolledManual[];
      try {
        runs = await this.#client.pollManual(
          options.host,
          longPoll ? timing.longPollSeconds : 0,
          { signal, timeoutMs: longPoll ? timing.longPollTimeoutMs : timing.requestTimeoutMs },
        );
      } catch (error) {
        if (signal.aborted) return;
        if (longPoll) {
          longPoll = false;
          fellBackAt = Date.now();
          if (this.#manual.state !== "failing") {
            this.#manual.set(
              "polling",
              () =>
                `long-polling for manual runs failed (${(error as Error).message}); polling every ${
                  timing.pollIntervalMs / 1000
                } s instead`,
            );
          }
          await sleep(timing.pollIntervalMs, signal);
        } else {
          this.#manual.set(
            "failing",
            () => `cannot poll for manual runs: ${(error as Error).message}; retrying with backoff`,
          );
          await sleep(this.#backoff(attempt++), signal);
        }
        continue;
      }
      attempt = 0;
      if (longPoll) this.#recovered(this.#manual, "long-polling for manual runs works again");
      else if (this.#manual.state === "failing") {
        this.#manual.set(
          "polling",
          () => `polling for manual runs works again (every ${timing.pollIntervalMs / 1000} s)`,
        );
        this.jobsChanged();
      }
      for (const request of runs.slice(0, RUNS_PER_POLL)) {
        if (!this.#context.acceptingManual()) break;
        await this.#context.handleManual(this, request);
      }
      // Polling, or a server that answers a long-poll at once with nothing: not faster than the interval.
      const elapsed = Date.now() - started;
      if (!longPoll || (runs.length === 0 && elapsed < timing.pollIntervalMs)) {
        await sleep(Math.max(0, timing.pollIntervalMs - (longPoll ? elapsed : 0)), signal);
      }
    }
  }
}
