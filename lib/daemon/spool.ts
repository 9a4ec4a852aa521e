/**
 * The dashboard link's durable state, in koid's `history.db`: the spool of
 * reports waiting to reach the dashboard, and the signatures of the manual runs
 * already accepted.
 *
 * Reports are appended synchronously, in order, so the runner never waits on the
 * network and a koid that stops keeps what it had not yet sent. The sender takes
 * them in batches and deletes a batch only once the server has it. Adjacent output
 * of the same run and stream is coalesced as it is appended, into a row no batch
 * has taken yet: a batch sent again after a lost answer is always the same.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { OutputReport, Report } from "../protocol/wire.ts";

/** The most bytes of reports in one batch (one report may exceed it alone). */
export const BATCH_BYTES = 1024 * 1024;

/** The most output text coalesced into one report. */
export const COALESCE_BYTES = 256 * 1024;

/** What an output report adds to its text, about, in JSON. */
const OUTPUT_OVERHEAD = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dashboard_spool (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dashboard TEXT NOT NULL,
  report TEXT,
  run_id TEXT,
  stream TEXT,
  seq INTEGER,
  text TEXT,
  bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_spool_by_dashboard ON dashboard_spool (dashboard, id);
CREATE TABLE IF NOT EXISTS dashboard_seen (
  signature TEXT PRIMARY KEY,
  seen_at INTEGER NOT NULL
);
`;

interface SpoolRow {
  id: number;
  report: string | null;
  run_id: string | null;
  stream: string | null;
  seq: number | null;
  text: string | null;
}

/** A batch of reports taken from the spool. */
export interface SpoolBatch {
  /** The reports, in order. */
  readonly reports: Report[];
  /** The spool position of the last one: pass it to `ack()` once the server has them. */
  readonly last: number;
}

/** The last row appended, while it may still take more output. */
interface Tail {
  readonly id: number;
  readonly dashboard: string;
  readonly runId: string;
  readonly stream: string;
  bytes: number;
}

/** The reports waiting for the dashboard, oldest first. */
export class ReportSpool {
  readonly #db: DatabaseSync;
  readonly #insertReport: StatementSync;
  readonly #insertOutput: StatementSync;
  readonly #extend: StatementSync;
  #tail: Tail | null = null;
  /** The last spool position a batch has taken: no output is coalesced into it or before. */
  #taken = 0;
  #bytes: number;

  /** @param db koid's database (`History.database`); the spool's table is created if needed. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#insertReport = db.prepare(
      "INSERT INTO dashboard_spool (dashboard, report, bytes) VALUES (?, ?, ?)",
    );
    this.#insertOutput = db.prepare(
      `INSERT INTO dashboard_spool (dashboard, run_id, stream, seq, text, bytes)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.#extend = db.prepare(
      "UPDATE dashboard_spool SET text = text || ?, bytes = bytes + ? WHERE id = ?",
    );
    this.#bytes = this.#sum("SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool");
  }

  /** About how many bytes of reports the spool holds, for every dashboard. */
  get bytes(): number {
    return this.#bytes;
  }

  #sum(sql: string, ...params: (string | number)[]): number {
    const row = this.#db.prepare(sql).get(...params) as unknown as { bytes: number };
    return Number(row.bytes);
  }

  /**
   * Appends a report, durably, before returning. Output continuing the last
   * report appended (same run and stream, not yet taken) is coalesced into it,
   * whose `seq` stands for both: the caller then reuses the new report's `seq`
   * for the next, so a run's sequence numbers have no gaps.
   *
   * @param dashboard The dashboard it is for.
   * @param report The report.
   * @returns True when the report was coalesced into the one before.
   */
  append(dashboard: string, report: Report): boolean {
    if (report.type !== "output") {
      const json = JSON.stringify(report);
      const bytes = utf8Length(json);
      this.#insertReport.run(dashboard, json, bytes);
      this.#bytes += bytes;
      this.#tail = null;
      return false;
    }
    const bytes = utf8Length(report.text);
    const tail = this.#tail;
    if (
      tail !== null && tail.id > this.#taken && tail.dashboard === dashboard &&
      tail.runId === report.runId && tail.stream === report.stream &&
      tail.bytes + bytes <= COALESCE_BYTES
    ) {
      this.#extend.run(report.text, bytes, tail.id);
      tail.bytes += bytes;
      this.#bytes += bytes;
      return true;
    }
    const result = this.#insertOutput.run(
      dashboard,
      report.runId,
      report.stream,
      report.seq,
      report.text,
      bytes + OUTPUT_OVERHEAD,
    );
    this.#bytes += bytes + OUTPUT_OVERHEAD;
    this.#tail = {
      id: Number(result.lastInsertRowid),
      dashboard,
      runId: report.runId,
      stream: report.stream,
      bytes,
    };
    return false;
  }

  /**
   * The oldest reports for a dashboard, up to about `maxBytes` (always at least
   * one) and `maxReports`. Taking them closes them to coalescing; they stay in the
   * spool until acknowledged.
   *
   * @param dashboard The dashboard.
   * @param maxBytes The batch's size cap (1 MiB by default).
   * @param maxReports The most reports in the batch.
   * @returns The batch, or null when nothing waits.
   */
  take(dashboard: string, maxBytes = BATCH_BYTES, maxReports = 5000): SpoolBatch | null {
    const sizes = this.#db.prepare(
      "SELECT id, bytes FROM dashboard_spool WHERE dashboard = ? ORDER BY id LIMIT ?",
    ).all(dashboard, Math.max(1, maxReports)) as unknown as { id: number; bytes: number }[];
    if (sizes.length === 0) return null;
    let last = sizes[0]!.id;
    let total = sizes[0]!.bytes;
    for (const row of sizes.slice(1)) {
      if (total + row.bytes > maxBytes) break;
      total += row.bytes;
      last = row.id;
    }
    this.#taken = Math.max(this.#taken, last);
    const rows = this.#db.prepare(
      `SELECT id, report, run_id, stream, seq, text FROM dashboard_spool
       WHERE dashboard = ? AND id <= ? ORDER BY id`,
    ).all(dashboard, last) as unknown as SpoolRow[];
    return { reports: rows.map(toReport), last };
  }

  /**
   * Deletes a dashboard's reports up to a position, once the server has them.
   *
   * @param dashboard The dashboard.
   * @param last The `last` of the batch the server took.
   * @returns How many reports were deleted.
   */
  ack(dashboard: string, last: number): number {
    this.#bytes -= this.#sum(
      "SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool WHERE dashboard = ? AND id <= ?",
      dashboard,
      last,
    );
    const result = this.#db.prepare("DELETE FROM dashboard_spool WHERE dashboard = ? AND id <= ?")
      .run(dashboard, last);
    if (this.#tail !== null && this.#tail.id <= last) this.#tail = null;
    return Number(result.changes);
  }

  /**
   * How many reports, and about how many bytes, wait for a dashboard.
   *
   * @param dashboard The dashboard.
   * @returns The count and size.
   */
  pending(dashboard: string): { reports: number; bytes: number } {
    const row = this.#db.prepare(
      "SELECT COUNT(*) AS reports, COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool WHERE dashboard = ?",
    ).get(dashboard) as unknown as { reports: number; bytes: number };
    return { reports: Number(row.reports), bytes: Number(row.bytes) };
  }

  /**
   * Deletes the reports of every other dashboard (this machine left it).
   *
   * @param dashboard The dashboard to keep.
   * @returns How many reports were deleted.
   */
  discardOthers(dashboard: string): number {
    const result = this.#db.prepare("DELETE FROM dashboard_spool WHERE dashboard != ?")
      .run(dashboard);
    this.#bytes = this.#sum("SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool");
    if (this.#tail?.dashboard !== dashboard) this.#tail = null;
    return Number(result.changes);
  }
}

function toReport(row: SpoolRow): Report {
  if (row.report !== null) return JSON.parse(row.report) as Report;
  return {
    type: "output",
    runId: row.run_id!,
    seq: row.seq!,
    stream: row.stream as OutputReport["stream"],
    text: row.text!,
  };
}

/**
 * The signatures of the manual runs koid accepted, kept across restarts so that
 * no request runs twice. A request is fresh for 5 minutes either way, so a
 * signature needs keeping for 10 minutes at most.
 */
export class SeenSignatures {
  readonly #has: StatementSync;
  readonly #add: StatementSync;
  readonly #prune: StatementSync;

  /** @param db koid's database (`History.database`); the table is created if needed. */
  constructor(db: DatabaseSync) {
    db.exec(SCHEMA);
    this.#has = db.prepare("SELECT 1 FROM dashboard_seen WHERE signature = ?");
    this.#add = db.prepare(
      "INSERT OR IGNORE INTO dashboard_seen (signature, seen_at) VALUES (?, ?)",
    );
    this.#prune = db.prepare("DELETE FROM dashboard_seen WHERE seen_at < ?");
  }

  /**
   * Whether a request with this signature was accepted before.
   *
   * @param signature The request's signature.
   * @returns True if it was.
   */
  has(signature: string): boolean {
    return this.#has.get(signature) !== undefined;
  }

  /**
   * Records an accepted request, durably, before returning.
   *
   * @param signature Its signature.
   * @param now When it was accepted.
   */
  add(signature: string, now: number): void {
    this.#add.run(signature, now);
  }

  /**
   * Forgets signatures accepted before an instant.
   *
   * @param before The instant; signatures older than it go.
   * @returns How many went.
   */
  prune(before: number): number {
    return Number(this.#prune.run(before).changes);
  }
}

/** The UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
