/**
 * The local run history: every run recorded in `$KOI_DIR/history.db` when it
 * starts and again when it ends, so a crash loses nothing recorded.
 *
 * SQLite (`node:sqlite`) in WAL mode, because `koitab history` reads while koid
 * writes: WAL lets one writer and many readers in separate processes work at once,
 * where Deno KV's local file is known to fail with "database is locked" when
 * several processes open it.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { preparePrivateDatabase } from "../files.ts";
import type { OutputChunk } from "../output_cap.ts";
import type { ArgValue, RunStatus, RunTrigger } from "../protocol/wire.ts";
import { CorruptDatabaseError } from "./store_fault.ts";
import { decodeOutput, encodeOutput } from "./stored_output.ts";

export type { RunStatus };

/**
 * What started a run: its schedule, koid's start in a new boot (`@reboot`), a
 * manual run from the dashboard (the triggers koid reports), or `koitab run` on
 * the command line.
 */
export type Trigger = RunTrigger | "cli";

/** One run, as `koitab history --json` prints it. */
export interface RunRecord {
  /** Unique and time-ordered. */
  readonly id: string;
  readonly tag: string;
  readonly name: string | null;
  readonly section: string | null;
  readonly trigger: Trigger;
  readonly args: Record<string, unknown>;
  /** The minute the run was due (ISO 8601), for scheduled runs. */
  readonly scheduledFor: string | null;
  /** ISO 8601. */
  readonly startedAt: string;
  /** ISO 8601; null while running, or if koid died first. */
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  /** Null when killed by a signal, still running, or never started. */
  readonly exitCode: number | null;
  /** The signal that ended it (`SIGTERM`), or null. */
  readonly signal: string | null;
  readonly status: RunStatus;
  /** Why it never started, or was interrupted; else null. */
  readonly error: string | null;
  /** stdout and stderr interleaved, as kept (capped, with an elision note). */
  readonly output: string;
  /** The same output, chunk by chunk, each marked with its stream. */
  readonly chunks: readonly OutputChunk[];
  /** Every byte the job wrote, including any elided. */
  readonly outputBytes: number;
}

/** A run without its output, as a table of runs shows it. */
export type RunSummary = Omit<RunRecord, "output" | "chunks">;

/** Which runs to read. */
export interface RunFilter {
  /** Only runs of these jobs; all when absent. */
  readonly tags?: readonly string[];
  /** At most this many, the newest (1,000 when absent). */
  readonly limit?: number;
}

/** The start of a run, as recorded when it starts. */
export interface RunStart {
  readonly id: string;
  readonly tag: string;
  readonly name: string | null;
  readonly section: string | null;
  readonly trigger: Trigger;
  readonly args: Readonly<Record<string, ArgValue>>;
  readonly scheduledFor: number | null;
  readonly startedAt: number;
}

/** The end of a run. */
export interface RunEnd {
  readonly finishedAt: number;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly status: Exclude<RunStatus, "running">;
  readonly error: string | null;
  readonly chunks: readonly OutputChunk[];
  readonly outputBytes: number;
}

/**
 * How a run ended, from its process's exit status and the output kept of it.
 *
 * @param status The process's status.
 * @param output The output as kept: its chunks and every byte counted.
 * @param finishedAt When it ended.
 * @returns The end to record: succeeded, failed (exit code) or killed (signal).
 */
export function runEnd(
  status: Deno.CommandStatus,
  output: { chunks(): OutputChunk[]; readonly totalBytes: number },
  finishedAt: number,
): RunEnd {
  return {
    finishedAt,
    exitCode: status.signal === null ? status.code : null,
    signal: status.signal,
    status: status.success ? "succeeded" : status.signal === null ? "failed" : "killed",
    error: null,
    chunks: output.chunks(),
    outputBytes: output.totalBytes,
  };
}

/** The default number of runs kept per job. */
export const DEFAULT_RETENTION = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  tag TEXT NOT NULL,
  name TEXT,
  section TEXT,
  trigger TEXT NOT NULL,
  args TEXT NOT NULL,
  scheduled_for INTEGER,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  exit_code INTEGER,
  signal TEXT,
  status TEXT NOT NULL,
  error TEXT,
  chunks TEXT NOT NULL DEFAULT '[]',
  output_bytes INTEGER NOT NULL DEFAULT 0,
  output BLOB
);
CREATE INDEX IF NOT EXISTS runs_by_tag ON runs (tag, started_at);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
`;

/** Every column but the output. */
const SUMMARY_COLUMNS =
  "id, tag, name, section, trigger, args, scheduled_for, started_at, finished_at, exit_code, signal, status, error, output_bytes";

interface Row {
  id: string;
  tag: string;
  name: string | null;
  section: string | null;
  trigger: string;
  args: string;
  scheduled_for: number | null;
  started_at: number;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  status: string;
  error: string | null;
  /** The output of a run recorded before Koi stored it as bytes: JSON `[[stream, text]…]`. */
  chunks: string;
  output_bytes: number;
  /** The output as {@linkcode encodeOutput} stores it; absent in a file no writer has updated. */
  output?: Uint8Array | null;
}

/** A new run id: sortable by start time, unique. */
export function newRunId(now: number): string {
  const random = crypto.getRandomValues(new Uint8Array(5));
  return now.toString(36).padStart(9, "0") +
    Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What records runs: the history itself, or koid's keeper of it. */
export interface RunRecorder {
  /**
   * Records runs that have started.
   *
   * @param starts The runs.
   */
  recordStarts(starts: readonly RunStart[]): void;
  /**
   * Records how a run ended.
   *
   * @param id The run.
   * @param tag The run's job, for retention.
   * @param end How it ended.
   */
  recordEnd(id: string, tag: string, end: RunEnd): void;
}

/** Options for opening a {@linkcode History}. */
export interface HistoryOptions {
  /** How many runs to keep per job ({@linkcode DEFAULT_RETENTION}). */
  readonly retention?: number;
  /** Open for reading only, as `koitab history` does. */
  readonly readOnly?: boolean;
  /**
   * Check the file with `PRAGMA quick_check` first, read-only, so that a damaged
   * file and its `-wal` are left exactly as they are: SQLite opens a damaged file
   * without complaint, fails only when it reaches the damage, and a writer closing
   * it would checkpoint into it and delete the `-wal`.
   */
  readonly check?: boolean;
}

/** What a writer of the history prepares once. */
interface WriteStatements {
  readonly insert: StatementSync;
  readonly finish: StatementSync;
  readonly trim: StatementSync;
}

/** The history database of one `KOI_DIR`. */
export class History implements RunRecorder {
  readonly #db: DatabaseSync;
  readonly #retention: number;
  /** The writer's statements; null for a reader, which may open a file made by an older Koi. */
  readonly #writes: WriteStatements | null = null;

  /**
   * Opens (creating if needed) the database.
   *
   * @param path The database file; a writer makes it and its `-wal` and `-shm` mode 0600.
   * @param options How many runs to keep per job; read-only for readers; whether to check it.
   * @throws {Error} SQLite's or the system's error; {@linkcode CorruptDatabaseError} when the
   * check finds damage. Nothing stays open.
   */
  constructor(path: string, options: HistoryOptions = {}) {
    this.#retention = options.retention ?? DEFAULT_RETENTION;
    if (options.check && path !== ":memory:") checkFile(path);
    // Before SQLite makes the file and its -wal and -shm, which take the file's mode.
    if (!options.readOnly && path !== ":memory:") preparePrivateDatabase(path);
    this.#db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
    try {
      this.#db.exec("PRAGMA busy_timeout = 5000");
      if (!options.readOnly) {
        this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
        this.#db.exec(SCHEMA);
        addOutputColumn(this.#db, "runs");
        this.#writes = {
          insert: this.#db.prepare(
            `INSERT OR IGNORE INTO runs (id, tag, name, section, trigger, args, scheduled_for, started_at, status)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')`,
          ),
          finish: this.#db.prepare(
            `UPDATE runs SET finished_at = ?, exit_code = ?, signal = ?, status = ?, error = ?,
             output = ?, output_bytes = ? WHERE id = ?`,
          ),
          trim: this.#db.prepare(
            `DELETE FROM runs WHERE tag = ? AND status != 'running' AND id NOT IN
             (SELECT id FROM runs WHERE tag = ? AND status != 'running'
              ORDER BY started_at DESC, id DESC LIMIT ?)`,
          ),
        };
      }
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /** The writer's statements. */
  #writer(): WriteStatements {
    if (this.#writes === null) throw new Error("this history was opened for reading only");
    return this.#writes;
  }

  /**
   * Records runs that have started, in one transaction.
   *
   * @param starts The runs.
   */
  recordStarts(starts: readonly RunStart[]): void {
    if (starts.length === 0) return;
    this.#db.exec("BEGIN");
    try {
      const { insert } = this.#writer();
      for (const run of starts) {
        insert.run(
          run.id,
          run.tag,
          run.name,
          run.section,
          run.trigger,
          JSON.stringify(run.args),
          run.scheduledFor,
          run.startedAt,
        );
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // SQLite already rolled back (it does on SQLITE_FULL): the first error is the one.
      }
      throw error;
    }
  }

  /**
   * Records how a run ended, and drops the job's runs beyond the retention.
   *
   * @param id The run.
   * @param tag The run's job, for retention.
   * @param end How it ended.
   * @returns False when the history has no such run (its start was never recorded here).
   */
  recordEnd(id: string, tag: string, end: RunEnd): boolean {
    const { finish, trim } = this.#writer();
    const result = finish.run(
      end.finishedAt,
      end.exitCode,
      end.signal,
      end.status,
      end.error,
      encodeOutput(end.chunks),
      end.outputBytes,
      id,
    );
    trim.run(tag, tag, this.#retention);
    return Number(result.changes) > 0;
  }

  /**
   * Marks runs left `running` by a koid that died as interrupted. Runs of
   * `koitab run` are not koid's: they may still be going in their own process.
   *
   * @param now The instant of the check.
   * @returns The ids of the runs marked.
   */
  markInterrupted(now: number): string[] {
    const rows = this.#db.prepare(
      "SELECT id FROM runs WHERE status = 'running' AND trigger != 'cli'",
    ).all() as { id: string }[];
    this.#db.prepare(
      `UPDATE runs SET status = 'interrupted', finished_at = NULL,
       error = 'koid stopped before the run ended (marked at ' || ? || ')'
       WHERE status = 'running' AND trigger != 'cli'`,
    ).run(new Date(now).toISOString());
    return rows.map((row) => row.id);
  }

  /**
   * Runs, newest first, with their output.
   *
   * @param filter Only runs of these tags (all when absent); at most `limit` runs (1,000).
   * @returns The runs.
   */
  list(filter: RunFilter = {}): RunRecord[] {
    return [...this.runs(filter)];
  }

  /**
   * Runs, newest first, with their output, read one at a time: however much
   * output the history holds, one run's is in memory at once.
   *
   * @param filter Only runs of these tags (all when absent); at most `limit` runs (1,000).
   * @returns The runs.
   */
  *runs(filter: RunFilter = {}): Generator<RunRecord> {
    for (const row of this.#select("*", filter)) yield toRecord(row as unknown as Row);
  }

  /**
   * Runs, newest first, without their output (never read): what a table of runs shows.
   *
   * @param filter Only runs of these tags (all when absent); at most `limit` runs (1,000).
   * @returns The runs.
   */
  summaries(filter: RunFilter = {}): RunSummary[] {
    return Array.from(
      this.#select(SUMMARY_COLUMNS, filter),
      (row) => toSummary(row as unknown as Row),
    );
  }

  /** The rows of the runs a filter names, newest first. */
  #select(columns: string, filter: RunFilter): Iterable<Record<string, unknown>> {
    const limit = filter.limit ?? 1000;
    if (filter.tags === undefined) {
      return this.#db.prepare(
        `SELECT ${columns} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?`,
      ).iterate(limit);
    }
    if (filter.tags.length === 0) return [];
    const marks = filter.tags.map(() => "?").join(", ");
    return this.#db.prepare(
      `SELECT ${columns} FROM runs WHERE tag IN (${marks}) ORDER BY started_at DESC, id DESC LIMIT ?`,
    ).iterate(...filter.tags, limit);
  }

  /**
   * One run by id.
   *
   * @param id The run id.
   * @returns The run, or null.
   */
  get(id: string): RunRecord | null {
    const row = this.#db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as unknown as
      | Row
      | undefined;
    return row ? toRecord(row) : null;
  }

  /**
   * The open database, for the stores that share its file (the dashboard link's
   * spool), so that koid keeps one database.
   */
  get database(): DatabaseSync {
    return this.#db;
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}

/**
 * The largest file checked when opened: the quick check reads every page (about
 * a second per GiB from the page cache), and koid schedules nothing until it is
 * done. Damage in a larger file is found when SQLite reaches it.
 */
const CHECK_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Runs SQLite's quick check, which reads every page, over a read-only connection
 * to an existing, non-empty file of at most {@linkcode CHECK_MAX_BYTES}: a damaged
 * file fails it, or makes SQLite throw SQLITE_CORRUPT or SQLITE_NOTADB.
 */
function checkFile(path: string): void {
  try {
    const size = Deno.statSync(path).size;
    if (size === 0 || size > CHECK_MAX_BYTES) return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const rows = db.prepare("PRAGMA quick_check").all() as { quick_check?: unknown }[];
    const found = rows.map((row) => String(row.quick_check));
    if (found.length !== 1 || found[0] !== "ok") {
      throw new CorruptDatabaseError(`quick_check found damage: ${found.slice(0, 3).join("; ")}`);
    }
  } finally {
    db.close();
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * Gives a table made before Koi stored output as bytes ({@linkcode encodeOutput})
 * its `output` column: the history's `runs`, whose older rows keep their output
 * in `chunks`, and the report spool, whose older end reports keep it in their JSON.
 * Readers find it where it is.
 *
 * @param db koid's database.
 * @param table The table.
 */
export function addOutputColumn(db: DatabaseSync, table: "runs" | "dashboard_spool"): void {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name?: unknown }[];
  if (!columns.some((column) => column.name === "output")) {
    db.exec(`ALTER TABLE ${table} ADD COLUMN output BLOB`);
  }
}

function toSummary(row: Omit<Row, "chunks" | "output">): RunSummary {
  return {
    id: row.id,
    tag: row.tag,
    name: row.name,
    section: row.section,
    trigger: row.trigger as Trigger,
    args: JSON.parse(row.args),
    scheduledFor: iso(row.scheduled_for),
    startedAt: iso(row.started_at)!,
    finishedAt: iso(row.finished_at),
    durationMs: row.finished_at === null ? null : row.finished_at - row.started_at,
    exitCode: row.exit_code,
    signal: row.signal,
    status: row.status as RunStatus,
    error: row.error,
    outputBytes: row.output_bytes,
  };
}

function toRecord(row: Row): RunRecord {
  const chunks = row.output
    ? decodeOutput(row.output)
    : (JSON.parse(row.chunks) as [OutputChunk["stream"], string][]).map((
      [stream, text],
    ) => ({ stream, text }));
  // In RunRecord's order, which `koitab history --json` prints.
  const { outputBytes, ...summary } = toSummary(row);
  return { ...summary, output: chunks.map((c) => c.text).join(""), chunks, outputBytes };
}
