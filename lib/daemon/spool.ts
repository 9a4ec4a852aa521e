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
 * Both reach the database through koid's {@linkcode DatabaseSource}, which may
 * replace it (a corrupt file moved aside): each prepares itself again on the new
 * one, and reports how each use went.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { OutputReport, Report } from "../protocol/wire.ts";
import type { DatabaseArea, DatabaseSource } from "./history_store.ts";
import { addOutputColumn } from "../runs/history.ts";
import { decodeOutput, encodeOutput } from "../runs/stored_output.ts";
import { utf8Length } from "../utf8.ts";

/** The most bytes of reports in one batch (one report may exceed it alone). */
export const BATCH_BYTES = 1024 * 1024;

/** The most output text coalesced into one report. */
export const COALESCE_BYTES = 256 * 1024;

/** What an output report adds to its text, about, in JSON. */
const OUTPUT_OVERHEAD = 100;

/**
 * How long koid keeps the signature of an accepted manual run: a request is fresh
 * for 5 minutes either way, so one older than this can never be accepted again.
 */
export const SEEN_KEEP_MS = 10 * 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dashboard_spool (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dashboard TEXT NOT NULL,
  report TEXT,
  run_id TEXT,
  stream TEXT,
  seq INTEGER,
  text TEXT,
  bytes INTEGER NOT NULL,
  output BLOB
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
  /** An end report's final output, as `history.db` stores output; its JSON then holds none. */
  output: Uint8Array | null;
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

/** A plain database, as a source that never changes and reports to no one. */
function sourceOf(database: DatabaseSync | DatabaseSource): DatabaseSource {
  if ("database" in database && typeof database.database === "function") return database;
  const db = database as DatabaseSync;
  return { database: () => db, report: () => {}, replacedAt: null };
}

/**
 * One database user's statements, prepared again whenever the source hands out
 * another database; every use reports to the source how it went.
 */
class Prepared<T> {
  readonly #source: DatabaseSource;
  readonly #area: DatabaseArea;
  readonly #prepare: (db: DatabaseSync) => T;
  #db: DatabaseSync | null = null;
  #statements: T | null = null;

  constructor(source: DatabaseSource, area: DatabaseArea, prepare: (db: DatabaseSync) => T) {
    this.#source = source;
    this.#area = area;
    this.#prepare = prepare;
  }

  /** The database the statements were last prepared on. */
  get database(): DatabaseSync | null {
    return this.#db;
  }

  /**
   * Runs `fn` with the statements of the current database.
   *
   * @param fn The use; `fresh` is true when the database is new to this user.
   * @returns What `fn` returns.
   * @throws {Error} What the source or `fn` threw, once reported.
   */
  use<R>(fn: (statements: T, db: DatabaseSync, fresh: boolean) => R): R {
    try {
      const db = this.#source.database();
      const fresh = db !== this.#db;
      if (fresh) {
        this.#statements = this.#prepare(db);
        this.#db = db;
      }
      const result = fn(this.#statements!, db, fresh);
      this.#source.report(this.#area, null);
      return result;
    } catch (error) {
      this.#source.report(this.#area, error);
      throw error;
    }
  }
}

interface SpoolStatements {
  readonly insertReport: StatementSync;
  readonly insertOutput: StatementSync;
  readonly extend: StatementSync;
}

/** The reports waiting for the dashboard, oldest first. */
export class ReportSpool {
  readonly #prepared: Prepared<SpoolStatements>;
  #tail: Tail | null = null;
  /** The last spool position a batch has taken: no output is coalesced into it or before. */
  #taken = 0;
  /** The database the last batch was taken from: its positions mean nothing in another. */
  #takenFrom: DatabaseSync | null = null;
  #bytes = 0;

  /**
   * @param database koid's database, or its source (`HistoryStore`); the spool's
   * table is created if needed.
   */
  constructor(database: DatabaseSync | DatabaseSource) {
    const source = sourceOf(database);
    this.#prepared = new Prepared(source, "spool", (db) => {
      db.exec(SCHEMA);
      addOutputColumn(db, "dashboard_spool");
      return {
        insertReport: db.prepare(
          "INSERT INTO dashboard_spool (dashboard, report, output, bytes) VALUES (?, ?, ?, ?)",
        ),
        insertOutput: db.prepare(
          `INSERT INTO dashboard_spool (dashboard, run_id, stream, seq, text, bytes)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ),
        extend: db.prepare(
          "UPDATE dashboard_spool SET text = text || ?, bytes = bytes + ? WHERE id = ?",
        ),
      };
    });
    // A plain database is prepared at once, as before there were sources.
    if (source !== database) this.#use(() => {});
  }

  /** About how many bytes of reports the spool holds, for every dashboard. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Uses the current database; one new to the spool starts it over from what that holds. */
  #use<R>(fn: (statements: SpoolStatements, db: DatabaseSync) => R): R {
    return this.#prepared.use((statements, db, fresh) => {
      if (fresh) {
        this.#tail = null;
        this.#taken = 0;
        this.#bytes = sum(db, "SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool");
      }
      return fn(statements, db);
    });
  }

  /**
   * Appends a report, durably, before returning. Output continuing the last
   * report appended (same run and stream, not yet taken) is coalesced into it,
   * whose `seq` stands for both: the caller then reuses the new report's `seq`
   * for the next, so a run's sequence numbers have no gaps.
   *
   * @param dashboard The dashboard it is for.
   * @param report The report.
   * @param coalesce False to keep an output report apart, with its own `seq`.
   * @returns True when the report was coalesced into the one before.
   * @throws {Error} When the database cannot take it.
   */
  append(dashboard: string, report: Report, coalesce = true): boolean {
    return this.#use((statements) => {
      if (report.type !== "output") {
        // An end's output is kept as bytes: in JSON, a MiB of NUL bytes would take six.
        const end = report.type === "end" ? report : null;
        const output = end === null ? null : encodeOutput(end.end.chunks);
        const json = JSON.stringify(
          end === null ? report : { ...end, end: { ...end.end, chunks: [] } },
        );
        const bytes = utf8Length(json) + (output?.length ?? 0);
        statements.insertReport.run(dashboard, json, output, bytes);
        this.#bytes += bytes;
        this.#tail = null;
        return false;
      }
      const bytes = utf8Length(report.text);
      const tail = this.#tail;
      if (
        coalesce && tail !== null && tail.id > this.#taken && tail.dashboard === dashboard &&
        tail.runId === report.runId && tail.stream === report.stream &&
        tail.bytes + bytes <= COALESCE_BYTES
      ) {
        statements.extend.run(report.text, bytes, tail.id);
        tail.bytes += bytes;
        this.#bytes += bytes;
        return true;
      }
      const result = statements.insertOutput.run(
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
    });
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
    return this.#use((_, db) => {
      const sizes = db.prepare(
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
      this.#takenFrom = db;
      const rows = db.prepare(
        `SELECT id, report, run_id, stream, seq, text, output FROM dashboard_spool
         WHERE dashboard = ? AND id <= ? ORDER BY id`,
      ).all(dashboard, last) as unknown as SpoolRow[];
      return { reports: rows.map(toReport), last };
    });
  }

  /**
   * Deletes a dashboard's reports up to a position, once the server has them.
   * A batch taken from a database since replaced deletes nothing.
   *
   * @param dashboard The dashboard.
   * @param last The `last` of the batch the server took.
   * @returns How many reports were deleted.
   */
  ack(dashboard: string, last: number): number {
    return this.#use((_, db) => {
      if (db !== this.#takenFrom) return 0;
      this.#bytes -= sum(
        db,
        "SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool WHERE dashboard = ? AND id <= ?",
        dashboard,
        last,
      );
      const result = db.prepare("DELETE FROM dashboard_spool WHERE dashboard = ? AND id <= ?")
        .run(dashboard, last);
      if (this.#tail !== null && this.#tail.id <= last) this.#tail = null;
      return Number(result.changes);
    });
  }

  /**
   * How many reports, and about how many bytes, wait for a dashboard.
   *
   * @param dashboard The dashboard.
   * @returns The count and size.
   */
  pending(dashboard: string): { reports: number; bytes: number } {
    return this.#use((_, db) => {
      const row = db.prepare(
        "SELECT COUNT(*) AS reports, COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool WHERE dashboard = ?",
      ).get(dashboard) as unknown as { reports: number; bytes: number };
      return { reports: Number(row.reports), bytes: Number(row.bytes) };
    });
  }

  /**
   * Deletes the reports of every other dashboard (this machine left it).
   *
   * @param dashboard The dashboard to keep.
   * @returns How many reports were deleted.
   */
  discardOthers(dashboard: string): number {
    return this.#use((_, db) => {
      const result = db.prepare("DELETE FROM dashboard_spool WHERE dashboard != ?")
        .run(dashboard);
      this.#bytes = sum(db, "SELECT COALESCE(SUM(bytes), 0) AS bytes FROM dashboard_spool");
      if (this.#tail?.dashboard !== dashboard) this.#tail = null;
      return Number(result.changes);
    });
  }
}

function sum(db: DatabaseSync, sql: string, ...params: (string | number)[]): number {
  const row = db.prepare(sql).get(...params) as unknown as { bytes: number };
  return Number(row.bytes);
}

function toReport(row: SpoolRow): Report {
  if (row.report !== null) {
    const report = JSON.parse(row.report) as Report;
    if (report.type !== "end" || row.output === null) return report;
    return { ...report, end: { ...report.end, chunks: decodeOutput(row.output) } };
  }
  return {
    type: "output",
    runId: row.run_id!,
    seq: row.seq!,
    stream: row.stream as OutputReport["stream"],
    text: row.text!,
  };
}

/**
 * Why koid cannot rule out that a manual run is a replay: its record of accepted
 * signatures cannot be read or written, or started afresh too recently. Manual
 * runs are refused with this message; scheduled jobs are not concerned.
 */
export class SeenStoreError extends Error {
  /** @param message Why, and until when if known. */
  constructor(message: string) {
    super(message);
    this.name = "SeenStoreError";
  }
}

interface SeenStatements {
  readonly has: StatementSync;
  readonly add: StatementSync;
  readonly prune: StatementSync;
}

/**
 * The signatures of the manual runs koid accepted, kept across restarts so that
 * no request runs twice. A request is fresh for 5 minutes either way, so a
 * signature needs keeping for {@linkcode SEEN_KEEP_MS} at most. Where the record
 * cannot be trusted to be whole, every check fails with a {@linkcode SeenStoreError}.
 */
export class SeenSignatures {
  readonly #source: DatabaseSource;
  readonly #prepared: Prepared<SeenStatements>;

  /**
   * @param database koid's database, or its source (`HistoryStore`); the table is
   * created if needed.
   */
  constructor(database: DatabaseSync | DatabaseSource) {
    this.#source = sourceOf(database);
    this.#prepared = new Prepared(this.#source, "seen", (db) => {
      db.exec(SCHEMA);
      return {
        has: db.prepare("SELECT 1 FROM dashboard_seen WHERE signature = ?"),
        add: db.prepare(
          "INSERT OR IGNORE INTO dashboard_seen (signature, seen_at) VALUES (?, ?)",
        ),
        prune: db.prepare("DELETE FROM dashboard_seen WHERE seen_at < ?"),
      };
    });
  }

  /**
   * Whether a request with this signature was accepted before.
   *
   * @param signature The request's signature.
   * @param now The time of the check.
   * @returns True if it was.
   * @throws {SeenStoreError} When the record cannot say: it cannot be read, or it
   * started afresh less than {@linkcode SEEN_KEEP_MS} ago (a request accepted
   * before then might come again).
   */
  has(signature: string, now: number = Date.now()): boolean {
    const replaced = this.#source.replacedAt;
    if (replaced !== null && now < replaced + SEEN_KEEP_MS) {
      throw new SeenStoreError(
        `koid's record of accepted manual runs started afresh at ${
          new Date(replaced).toISOString()
        } (history.db was moved aside, deleted or replaced), so it cannot rule out a replay: manual runs are refused until ${
          new Date(replaced + SEEN_KEEP_MS).toISOString()
        }`,
      );
    }
    try {
      return this.#prepared.use((statements) => statements.has.get(signature) !== undefined);
    } catch (error) {
      throw new SeenStoreError(
        `koid cannot read its record of accepted manual runs (${
          (error as Error).message
        }), so it cannot rule out a replay: manual runs are refused until it can`,
      );
    }
  }

  /**
   * Records an accepted request, durably, before returning.
   *
   * @param signature Its signature.
   * @param now When it was accepted.
   * @throws {SeenStoreError} When it cannot be recorded: the run must not start then.
   */
  add(signature: string, now: number): void {
    try {
      this.#prepared.use((statements) => statements.add.run(signature, now));
    } catch (error) {
      throw new SeenStoreError(
        `koid cannot record the signatures of manual runs (${
          (error as Error).message
        }), so it could not refuse a replay: manual runs are refused until history.db can be written again; scheduled jobs go on`,
      );
    }
  }

  /**
   * Forgets signatures accepted before an instant. A failure is reported to the
   * source, not thrown: keeping old signatures longer is harmless.
   *
   * @param before The instant; signatures older than it go.
   * @returns How many went.
   */
  prune(before: number): number {
    try {
      return this.#prepared.use((statements) => Number(statements.prune.run(before).changes));
    } catch {
      return 0;
    }
  }
}
