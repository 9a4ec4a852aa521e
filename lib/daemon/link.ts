/**
 * koid's link to its dashboard: follows the link files under `$KOI_DIR` (a
 * dashboard created, joined or deleted while koid runs is picked up without a
 * restart), sends the job list, reports every run through the durable spool, and
 * takes the manual runs the dashboard queues, each checked against the local
 * koitab and run key before anything runs.
 *
 * The dashboard is never on the runner's path: run events go to the spool
 * synchronously, and three loops (job list, reports, manual runs) talk to the
 * server, each with bounded timeouts and answers, backoff with jitter, and one log
 * line per change of state. A server that misbehaves in any way costs retries,
 * never koid.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { DashboardClient, DashboardError, type PolledManual } from "../link/client.ts";
import { HOST_NAME, type Job, type Report } from "../protocol/wire.ts";
import { type DashboardConfig, readDashboardConfig } from "../link/config.ts";
import { clearJobListRefusal, writeJobListRefusal } from "../link/link_state.ts";
import type { KoiPaths } from "../koidir.ts";
import type { KoitabJob } from "../koitab.ts";
import { jobSchedule } from "../schedules.ts";
import { checkManualRun } from "../protocol/manual.ts";
import { capChunks, DEFAULT_OUTPUT_LIMIT, NOTE_ROOM } from "../output_cap.ts";
import { sleep, Wakeup } from "../wakeup.ts";
import { newRunId, type RunEnd, type RunStart } from "../runs/history.ts";
import type { RunEvent, RunRequest } from "./runner.ts";
import { BATCH_BYTES, ReportSpool, SeenSignatures, utf8Length } from "./spool.ts";

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
  longPollSeconds: 25,
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

/** Beyond this much waiting in the spool, live output is no longer spooled (ends still are). */
const SPOOL_OUTPUT_CAP = 64 * 1024 * 1024;

/** How long koid keeps the signature of an accepted manual run. */
const SEEN_KEEP_MS = 10 * 60_000;

/** What the link needs from koid. */
export interface LinkOptions {
  /** The `KOI_DIR` paths, for the link files. */
  readonly paths: KoiPaths;
  /** koid's database (`History.database`), which holds the spool. */
  readonly database: DatabaseSync;
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

/**
 * The job list as the dashboard takes it: each job with its zone and, for
 * scheduled jobs, its next five run times.
 *
 * @param jobs The koitab's jobs.
 * @param localZone The zone of jobs without `CRON_TZ`.
 * @param now The instant to count from.
 * @returns The jobs, in koitab order.
 */
export function dashboardJobs(jobs: readonly KoitabJob[], localZone: string, now: Date): Job[] {
  return jobs.map((job) => {
    const timezone = job.timezone ?? localZone;
    const next: string[] = [];
    const schedule = jobSchedule(job, localZone);
    if (schedule !== null) {
      let after: Date | null = now;
      while (next.length < 5 && (after = schedule.next(after)) !== null) {
        next.push(after.toISOString());
      }
    }
    return {
      tag: job.tag,
      name: job.name,
      section: job.section,
      schedule: job.schedule,
      timezone,
      args: job.args.map((arg) => ({
        name: arg.name,
        type: arg.type,
        ...(arg.default === undefined ? {} : { default: arg.default }),
      })),
      next,
      command: job.command,
      line: job.line,
    };
  });
}

/** A run the link reports: which dashboard its start went to, and its live output so far. */
interface ReportedRun {
  readonly dashboard: string;
  seq: number;
  bytes: number;
  capped: boolean;
}

/** The dashboard link of one koid. */
export class DashboardLink {
  readonly #options: LinkOptions;
  readonly #timing: LinkTiming;
  readonly #now: () => number;
  readonly #spool: ReportSpool;
  readonly #seen: SeenSignatures;
  readonly #runs = new Map<string, ReportedRun>();
  /** Manual runs being started: run id → manual id, for the start report. */
  readonly #manualIds = new Map<string, string>();
  #session: Session | null = null;
  #checking: Promise<void> = Promise.resolve();
  #configProblem: string | null = null;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #interval: ReturnType<typeof setInterval> | undefined;
  #acceptingManual = true;
  #closed = false;
  /** Whether the daemon has loaded a table: until then there is no job list to send. */
  #tableKnown = false;

  /** @param options koid's paths, database, host, log, jobs and runner. */
  constructor(options: LinkOptions) {
    this.#options = options;
    this.#timing = { ...DEFAULT_LINK_TIMING, ...options.timing };
    this.#now = options.now ?? (() => Date.now());
    this.#spool = new ReportSpool(options.database);
    this.#seen = new SeenSignatures(options.database);
  }

  /** The dashboard id the link is connected to, or null. */
  get dashboardId(): string | null {
    return this.#session?.config.id ?? null;
  }

  /**
   * Reads the link files and starts, restarts or stops the link to match, then
   * keeps checking each minute.
   *
   * @returns When the link matches the files.
   */
  start(): Promise<void> {
    this.#interval ??= setInterval(() => this.#minutely(), this.#timing.checkIntervalMs);
    return this.check();
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
      if (event.type === "start") {
        if (session === null) return;
        this.#runs.set(event.run.id, {
          dashboard: session.config.id,
          seq: 0,
          bytes: 0,
          capped: false,
        });
        const report = startReport(event.run, this.#manualIds.get(event.run.id) ?? null);
        if (report !== null) session.append(report);
        return;
      }
      const run = this.#runs.get(event.id);
      if (run === undefined) return;
      if (event.type === "end") this.#runs.delete(event.id);
      if (session === null || session.config.id !== run.dashboard) return;
      if (event.type === "end") {
        session.append({ type: "end", runId: event.id, end: fitEnd(event.end) });
        return;
      }
      if (run.capped) return;
      const bytes = utf8Length(event.chunk.text);
      const full = run.bytes + bytes > this.#options.outputLimit;
      if (full || this.#spool.bytes > SPOOL_OUTPUT_CAP) {
        run.capped = true;
        const why = full
          ? `after ${run.bytes} bytes, the output limit`
          : "while the dashboard is out of reach";
        session.append({
          type: "output",
          runId: event.id,
          seq: run.seq,
          stream: "koi",
          text: `\n[koi: live output stopped ${why}; the kept output comes when the run ends]\n`,
        });
        return;
      }
      run.bytes += bytes;
      const coalesced = session.append({
        type: "output",
        runId: event.id,
        seq: run.seq,
        stream: event.chunk.stream,
        text: event.chunk.text,
      });
      // Sequence numbers without gaps: a coalesced chunk shares the seq of the one before.
      if (!coalesced) run.seq++;
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
    for (const id of ids) {
      session.append({
        type: "end",
        runId: id,
        end: {
          finishedAt: at,
          exitCode: null,
          signal: null,
          status: "interrupted",
          error: "koid stopped before the run ended",
          outputBytes: 0,
          chunks: [{ stream: "koi", text: "[koi: koid stopped before the run ended]\n" }],
        },
      });
    }
  }

  /** Stops taking manual runs (koid is stopping); reports still go out. */
  stopManualRuns(): void {
    this.#acceptingManual = false;
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
    try {
      this.#seen.prune(this.#now() - SEEN_KEEP_MS);
    } catch (error) {
      this.#options.log(`dashboard: cannot prune old signatures: ${(error as Error).message}`);
    }
    this.#session?.refreshJobs();
    this.check();
  }

  async #checkNow(): Promise<void> {
    if (this.#closed) return;
    const { paths, log } = this.#options;
    let config: DashboardConfig | null = null;
    try {
      config = await readDashboardConfig(paths);
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
      handleManual: (session, request) => this.#handleManual(session, request),
      acceptingManual: () => this.#acceptingManual,
      tableKnown: () => this.#tableKnown,
    });
  }

  async #handleManual(session: Session, request: PolledManual): Promise<void> {
    const options = this.#options;
    const now = this.#now();
    const verdict = await checkManualRun(request, {
      runKey: session.config.runKey,
      dashboardId: session.config.id,
      host: options.host,
      jobs: options.jobs(),
      now,
      seen: (signature) => this.#seen.has(signature),
    });
    const refuse = (reason: string) => {
      options.log(`manual run refused: ${oneLine(reason)}`);
      session.append({
        type: "manual",
        manualId: request.manualId,
        state: "refused",
        reason: reason.length > 1000 ? `${reason.slice(0, 999)}…` : reason,
        runId: null,
      });
    };
    if (!verdict.ok) return refuse(verdict.reason);
    if (!this.#acceptingManual || this.#session !== session) {
      return refuse("koid is stopping or its dashboard link changed");
    }
    // Recorded before the run starts: a crash between the two never lets it run twice.
    this.#seen.add(request.signature as string, now);
    const runId = newRunId(now);
    this.#manualIds.set(runId, request.manualId);
    try {
      options.start({
        job: verdict.job,
        trigger: "manual",
        values: verdict.values,
        scheduledFor: null,
        id: runId,
      });
    } finally {
      this.#manualIds.delete(runId);
    }
    session.append({
      type: "manual",
      manualId: request.manualId,
      state: "started",
      reason: null,
      runId,
    });
  }
}

/**
 * A run's start as the dashboard takes it, with the manual run it answers; null
 * for a run of `koitab run`, which koid never reports.
 */
function startReport(run: RunStart, manualId: string | null): Report | null {
  const { trigger } = run;
  if (trigger === "cli") return null;
  return { type: "start", run: { ...run, trigger, manualId } };
}

function sameConfig(a: DashboardConfig, b: DashboardConfig): boolean {
  return a.id === b.id && a.server === b.server && a.apiKey === b.apiKey && a.runKey === b.runKey;
}

/**
 * A run's end, its output capped to head and tail if it is too large for one
 * report: koid's capture (its default limit and note) passes as it is, a larger
 * `--output-limit` is cut here, so a report stays far below the server's 8 MiB.
 */
function fitEnd(end: RunEnd): RunEnd {
  return { ...end, chunks: capChunks(end.chunks, DEFAULT_OUTPUT_LIMIT + NOTE_ROOM) };
}

/** Text from a request, safe for one log line. */
function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
  return plain.length > 300 ? `${plain.slice(0, 299)}…` : plain;
}

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

interface SessionContext {
  readonly options: LinkOptions;
  readonly timing: LinkTiming;
  readonly spool: ReportSpool;
  readonly handleManual: (session: Session, request: PolledManual) => Promise<void>;
  readonly acceptingManual: () => boolean;
  readonly tableKnown: () => boolean;
}

/** One connection to one dashboard: its three loops, until stopped. */
class Session {
  readonly config: DashboardConfig;
  readonly #context: SessionContext;
  readonly #client: DashboardClient;
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

  constructor(config: DashboardConfig, context: SessionContext) {
    this.config = config;
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
        await this.#client.postReports(options.host, batch.reports, { signal });
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
        await this.#client.putJobs(options.host, jobs, { signal });
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
