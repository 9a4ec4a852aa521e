/**
 * What koid tells its dashboard, in the API's shapes (`../protocol/wire.ts`):
 * its job list, and the reports of its runs as their events come, live output
 * numbered without gaps and stopped at the output limit. Pure: the spool is
 * passed in as a function.
 *
 * @module
 */

import type { KoitabJob } from "../koitab.ts";
import { capChunks, DEFAULT_OUTPUT_LIMIT, NOTE_ROOM } from "../output_cap.ts";
import type { Job, Report } from "../protocol/wire.ts";
import type { RunEnd, RunStart } from "../runs/history.ts";
import { jobSchedule } from "../schedules.ts";
import type { RunEvent } from "./runner.ts";
import { utf8Length } from "../utf8.ts";

/** Beyond this much waiting in the spool, live output is no longer spooled (ends still are). */
const SPOOL_OUTPUT_CAP = 64 * 1024 * 1024;

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

/** Where {@linkcode RunReports} sends a run's reports: the dashboard the link is on. */
export interface ReportSink {
  /** The dashboard's id. */
  readonly dashboard: string;
  /**
   * Spools a report for it.
   *
   * @returns True when it was coalesced into the report before (its `seq` is unused).
   */
  append(report: Report): boolean;
}

/**
 * The reports of one koid's runs: each run's start, its live output up to the
 * output limit, and its end, all to the dashboard the run started under.
 */
export class RunReports {
  readonly #outputLimit: number;
  readonly #runs = new Map<string, ReportedRun>();

  /** @param outputLimit The most output bytes streamed live per run (koid's `--output-limit`). */
  constructor(outputLimit: number) {
    this.#outputLimit = outputLimit;
  }

  /**
   * Spools the report of one run event, if one is due.
   *
   * @param event The runner's event.
   * @param sink The dashboard the link is on, or null when it is on none.
   * @param manualId The manual run a starting run answers, or null.
   * @param spoolBytes How much the spool holds: past 64 MiB, live output stops.
   */
  take(
    event: RunEvent,
    sink: ReportSink | null,
    manualId: string | null,
    spoolBytes: number,
  ): void {
    if (event.type === "start") {
      if (sink === null) return;
      this.#runs.set(event.run.id, { dashboard: sink.dashboard, seq: 0, bytes: 0, capped: false });
      const report = startReport(event.run, manualId);
      if (report !== null) sink.append(report);
      return;
    }
    const run = this.#runs.get(event.id);
    if (run === undefined) return;
    if (event.type === "end") this.#runs.delete(event.id);
    if (sink === null || sink.dashboard !== run.dashboard) return;
    if (event.type === "end") {
      sink.append({ type: "end", runId: event.id, end: fitEnd(event.end) });
      return;
    }
    if (run.capped) return;
    const bytes = utf8Length(event.chunk.text);
    const full = run.bytes + bytes > this.#outputLimit;
    if (full || spoolBytes > SPOOL_OUTPUT_CAP) {
      run.capped = true;
      const why = full
        ? `after ${run.bytes} bytes, the output limit`
        : "while the dashboard is out of reach";
      sink.append({
        type: "output",
        runId: event.id,
        seq: run.seq,
        stream: "koi",
        text: `\n[koi: live output stopped ${why}; the kept output comes when the run ends]\n`,
      });
      return;
    }
    run.bytes += bytes;
    const coalesced = sink.append({
      type: "output",
      runId: event.id,
      seq: run.seq,
      stream: event.chunk.stream,
      text: event.chunk.text,
    });
    // Sequence numbers without gaps: a coalesced chunk shares the seq of the one before.
    if (!coalesced) run.seq++;
  }
}

/**
 * The end of a run a previous koid left unfinished: interrupted, its output gone
 * (koid keeps a run's output only when it ends).
 *
 * @param runId The run.
 * @param at When it was marked interrupted, ms since the epoch.
 * @returns The report.
 */
export function interruptedReport(runId: string, at: number): Report {
  return {
    type: "end",
    runId,
    end: {
      finishedAt: at,
      exitCode: null,
      signal: null,
      status: "interrupted",
      error: "koid stopped before the run ended",
      outputBytes: 0,
      chunks: [{ stream: "koi", text: "[koi: koid stopped before the run ended]\n" }],
    },
  };
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

/**
 * A run's end, its output capped to head and tail if it is too large for one
 * report: koid's capture (its default limit and note) passes as it is, a larger
 * `--output-limit` is cut here, so a report stays far below the server's 8 MiB.
 */
function fitEnd(end: RunEnd): RunEnd {
  return { ...end, chunks: capChunks(end.chunks, DEFAULT_OUTPUT_LIMIT + NOTE_ROOM) };
}
