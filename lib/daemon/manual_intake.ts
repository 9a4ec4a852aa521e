/**
 * koid's intake of manual runs: each run the dashboard hands out is checked
 * against the local koitab, run key and record of accepted requests
 * (`checkManualRun()`), then started or refused, and koid's answer reported.
 * The signature of an accepted request is recorded before its run starts, so a
 * crash between the two never lets it run twice; while that record cannot be
 * read or written (or started afresh too recently), every manual run is refused.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { KoitabJob } from "../koitab.ts";
import type { NewDashboardConfig } from "../link/config.ts";
import type { PolledManual } from "../link/client.ts";
import { checkManualRun } from "../protocol/manual.ts";
import type { Report } from "../protocol/wire.ts";
import { newRunId } from "../runs/history.ts";
import type { DatabaseSource } from "./history_store.ts";
import type { RunRequest } from "./runner.ts";
import { SEEN_KEEP_MS, SeenSignatures, SeenStoreError } from "./spool.ts";

/** What the intake needs from koid. */
export interface IntakeOptions {
  /**
   * koid's database, which records the signatures of accepted requests: its
   * source (the `HistoryStore`), or the database itself.
   */
  readonly database: DatabaseSync | DatabaseSource;
  /** This machine's name toward the dashboard. */
  readonly host: string;
  /** The jobs of the koitab in force. */
  readonly jobs: () => readonly KoitabJob[];
  /** Starts one run (the runner's). */
  readonly start: (request: RunRequest) => void;
  /** koid's log. */
  readonly log: (line: string) => void;
  /** The clock, for freshness. */
  readonly now: () => number;
}

/** The dashboard a manual run came from, as the intake answers it. */
export interface IntakeSession {
  /** The link's configuration: the dashboard id, the run key and the data key. */
  readonly config: NewDashboardConfig;
  /** Spools a report to that dashboard. */
  append(report: Report): boolean;
}

/** Checks, starts or refuses the manual runs the dashboard hands koid. */
export class ManualIntake {
  readonly #options: IntakeOptions;
  readonly #seen: SeenSignatures;
  /** Manual runs being started: run id → manual id, for the start report. */
  readonly #manualIds = new Map<string, string>();
  #accepting = true;

  /** @param options koid's database, host, jobs, runner, log and clock. */
  constructor(options: IntakeOptions) {
    this.#options = options;
    this.#seen = new SeenSignatures(options.database);
  }

  /** Refuses every manual run from now on (koid is stopping). */
  stop(): void {
    this.#accepting = false;
  }

  /** Whether manual runs are still taken. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * The manual run a run being started answers.
   *
   * @param runId The run.
   * @returns Its manual id, or null for a run nobody asked for.
   */
  manualIdOf(runId: string): string | null {
    return this.#manualIds.get(runId) ?? null;
  }

  /** Forgets the signatures of requests too old to be fresh again. */
  prune(): void {
    try {
      this.#seen.prune(this.#options.now() - SEEN_KEEP_MS);
    } catch (error) {
      this.#options.log(`dashboard: cannot prune old signatures: ${(error as Error).message}`);
    }
  }

  /**
   * Judges one manual run, starts it or refuses it, and reports koid's answer.
   *
   * @param session The dashboard it came from.
   * @param request The run, as handed out.
   * @param current Whether that dashboard is still the link's: a run from a former one is refused.
   * @returns When it is started or refused.
   */
  async handle(
    session: IntakeSession,
    request: PolledManual,
    current: () => boolean,
  ): Promise<void> {
    const options = this.#options;
    const now = options.now();
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
    let verdict;
    try {
      verdict = await checkManualRun(request, {
        runKey: session.config.runKey,
        dataKey: session.config.dataKey,
        dashboardId: session.config.id,
        host: options.host,
        jobs: options.jobs(),
        now,
        seen: (signature) => this.#seen.has(signature, now),
      });
      if (verdict.ok && this.#accepting && current()) {
        // Recorded before the run starts: a crash between the two never lets it run twice.
        this.#seen.add(request.signature as string, now);
      }
    } catch (error) {
      // No replay can be ruled out: refused, as any doubtful request is.
      if (error instanceof SeenStoreError) return refuse(error.message);
      throw error;
    }
    if (!verdict.ok) return refuse(verdict.reason);
    if (!this.#accepting || !current()) {
      return refuse("koid is stopping or its dashboard link changed");
    }
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

/** Text from a request, safe for one log line. */
function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
  return plain.length > 300 ? `${plain.slice(0, 299)}…` : plain;
}
