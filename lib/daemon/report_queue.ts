/**
 * The reports on their way to the dashboard: in the durable spool, or, while the
 * spool cannot be written, in memory (bounded), so that runs are still reported
 * live whenever the dashboard is reachable. Order is kept: once a report waits in
 * memory, those after it join it until all of them can move to the spool.
 *
 * @module
 */

import type { Report } from "../protocol/wire.ts";
import { BATCH_BYTES, type ReportSpool, type SpoolBatch } from "./spool.ts";
import { utf8Length } from "../utf8.ts";

/** The most bytes of reports held in memory (about, in JSON). */
export const MEMORY_REPORT_BYTES = 16 * 1024 * 1024;

/** The most reports held in memory. */
export const MEMORY_REPORTS = 10_000;

/** How long after a failed spool write the spool is tried again. */
const SPOOL_RETRY_MS = 1000;

/** A report held in memory. */
interface Held {
  readonly serial: number;
  readonly dashboard: string;
  readonly report: Report;
  readonly bytes: number;
}

/** What the queue needs besides the spool. */
export interface ReportQueueOptions {
  /** koid's log: one line per change of state. */
  readonly log: (line: string) => void;
  /** The clock; `Date.now` by default. */
  readonly now?: () => number;
  /** The most bytes held in memory ({@linkcode MEMORY_REPORT_BYTES}). */
  readonly maxBytes?: number;
  /** The most reports held in memory ({@linkcode MEMORY_REPORTS}). */
  readonly maxReports?: number;
}

/**
 * The spool, with memory to fall back on. Batches from memory have a `last`
 * below zero, so an acknowledgement finds its way back to them.
 */
export class ReportQueue {
  readonly #spool: ReportSpool;
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  readonly #maxBytes: number;
  readonly #maxReports: number;
  #memory: Held[] = [];
  #memoryBytes = 0;
  #serial = 0;
  #retryAt = 0;
  #failing = false;
  #dropping = false;
  /** Acknowledgements the spool could not carry out yet, by dashboard. */
  readonly #unacked = new Map<string, number>();

  /**
   * @param spool The durable spool.
   * @param options The log, the clock and the memory's bounds.
   */
  constructor(spool: ReportSpool, options: ReportQueueOptions) {
    this.#spool = spool;
    this.#log = options.log;
    this.#now = options.now ?? (() => Date.now());
    this.#maxBytes = options.maxBytes ?? MEMORY_REPORT_BYTES;
    this.#maxReports = options.maxReports ?? MEMORY_REPORTS;
  }

  /** About how many bytes of reports wait, in the spool and in memory. */
  get bytes(): number {
    return this.#spool.bytes + this.#memoryBytes;
  }

  /**
   * Queues a report: in the spool when it can be written and nothing waits in
   * memory, else in memory. Never throws.
   *
   * @param dashboard The dashboard it is for.
   * @param report The report.
   * @returns True when it was coalesced into the report before (see `ReportSpool.append`).
   */
  append(dashboard: string, report: Report): boolean {
    if (this.#memory.length === 0 || this.#drain()) {
      if (this.#now() >= this.#retryAt) {
        try {
          const coalesced = this.#spool.append(dashboard, report);
          this.#spoolWorks();
          return coalesced;
        } catch (error) {
          this.#spoolFails(error);
        }
      }
    }
    this.#hold(dashboard, report);
    return false;
  }

  /**
   * The oldest reports for a dashboard: from the spool while it has any and can be
   * read, then from memory.
   *
   * @param dashboard The dashboard.
   * @param maxBytes The batch's size cap.
   * @param maxReports The most reports in the batch.
   * @returns The batch, or null when nothing waits.
   */
  take(dashboard: string, maxBytes = BATCH_BYTES, maxReports = 5000): SpoolBatch | null {
    // What waits in memory is safer in the spool, once that can be written again.
    if (this.#memory.length > 0) this.#drain();
    if (this.#ackSpool(dashboard) !== null) {
      try {
        const batch = this.#spool.take(dashboard, maxBytes, maxReports);
        if (batch !== null) return batch;
      } catch {
        // Unreadable: what memory holds goes first, the spool's when it can be read.
      }
    }
    const reports: Report[] = [];
    let total = 0;
    let last = 0;
    for (const held of this.#memory) {
      if (held.dashboard !== dashboard) continue;
      if (reports.length > 0 && (total + held.bytes > maxBytes || reports.length >= maxReports)) {
        break;
      }
      reports.push(held.report);
      total += held.bytes;
      last = -held.serial;
    }
    return reports.length === 0 ? null : { reports, last };
  }

  /**
   * Forgets a batch the server has.
   *
   * @param dashboard The dashboard.
   * @param last The batch's `last`.
   * @returns How many reports went (0 when the spool could not delete them yet: it will).
   */
  ack(dashboard: string, last: number): number {
    if (last < 0) {
      const before = this.#memory.length;
      this.#memory = this.#memory.filter((held) => {
        const gone = held.dashboard === dashboard && held.serial <= -last;
        if (gone) this.#memoryBytes -= held.bytes;
        return !gone;
      });
      return before - this.#memory.length;
    }
    this.#unacked.set(dashboard, Math.max(last, this.#unacked.get(dashboard) ?? 0));
    return this.#ackSpool(dashboard) ?? 0;
  }

  /**
   * Carries out a pending acknowledgement.
   *
   * @returns How many reports it deleted, or null when the spool cannot yet.
   */
  #ackSpool(dashboard: string): number | null {
    const last = this.#unacked.get(dashboard);
    if (last === undefined) return 0;
    try {
      const deleted = this.#spool.ack(dashboard, last);
      this.#unacked.delete(dashboard);
      return deleted;
    } catch {
      return null;
    }
  }

  /**
   * How many reports, and about how many bytes, wait for a dashboard.
   *
   * @param dashboard The dashboard.
   * @returns The count and size, the spool's (when it can be read) and memory's.
   */
  pending(dashboard: string): { reports: number; bytes: number } {
    let spooled = { reports: 0, bytes: 0 };
    try {
      spooled = this.#spool.pending(dashboard);
    } catch {
      // Unreadable: only memory's count.
    }
    const held = this.#memory.filter((item) => item.dashboard === dashboard);
    return {
      reports: spooled.reports + held.length,
      bytes: spooled.bytes + held.reduce((sum, item) => sum + item.bytes, 0),
    };
  }

  /**
   * Deletes the reports of every other dashboard (this machine left it).
   *
   * @param dashboard The dashboard to keep.
   * @returns How many reports were deleted.
   */
  discardOthers(dashboard: string): number {
    let dropped = 0;
    try {
      dropped = this.#spool.discardOthers(dashboard);
    } catch {
      // Left for the next link change, or the next koid.
    }
    const before = this.#memory.length;
    this.#memory = this.#memory.filter((held) => held.dashboard === dashboard);
    this.#memoryBytes = this.#memory.reduce((sum, held) => sum + held.bytes, 0);
    for (const other of [...this.#unacked.keys()]) {
      if (other !== dashboard) this.#unacked.delete(other);
    }
    return dropped + before - this.#memory.length;
  }

  /** Moves what memory holds to the spool, in order; true when memory is empty. */
  #drain(): boolean {
    if (this.#now() < this.#retryAt) return false;
    while (this.#memory.length > 0) {
      const held = this.#memory[0]!;
      try {
        // Not coalesced: each held report already has its own sequence number.
        this.#spool.append(held.dashboard, held.report, false);
      } catch (error) {
        this.#spoolFails(error);
        return false;
      }
      this.#memory.shift();
      this.#memoryBytes -= held.bytes;
    }
    this.#spoolWorks();
    return true;
  }

  #hold(dashboard: string, report: Report): void {
    const bytes = utf8Length(JSON.stringify(report));
    const full = () =>
      this.#memory.length >= this.#maxReports || this.#memoryBytes + bytes > this.#maxBytes;
    // Live output gives way first: each run's end carries the output kept of it.
    while (full() && report.type !== "output") {
      const index = this.#memory.findIndex((held) => held.report.type === "output");
      if (index < 0) break;
      this.#memoryBytes -= this.#memory[index]!.bytes;
      this.#memory.splice(index, 1);
    }
    if (full()) {
      if (!this.#dropping) {
        this.#dropping = true;
        this.#log(
          `dashboard: the memory for unsent reports is full (${this.#memory.length} reports): dropping ${
            report.type === "output" ? "live output" : "reports"
          } until the dashboard or the spool takes some`,
        );
      }
      return;
    }
    this.#dropping = false;
    this.#memory.push({ serial: ++this.#serial, dashboard, report, bytes });
    this.#memoryBytes += bytes;
  }

  #spoolFails(error: unknown): void {
    this.#retryAt = this.#now() + SPOOL_RETRY_MS;
    if (this.#failing) return;
    this.#failing = true;
    this.#log(
      `dashboard: cannot spool reports (${
        (error as Error).message
      }): sending them from memory (up to ${this.#maxReports} reports) while the dashboard is reachable; those unsent when koid stops are lost`,
    );
  }

  #spoolWorks(): void {
    this.#retryAt = 0;
    if (!this.#failing) return;
    this.#failing = false;
    this.#log("dashboard: reports are spooled again");
  }
}
