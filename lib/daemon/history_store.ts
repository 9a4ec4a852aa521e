/**
 * koid's keeper of `history.db`. Records runs without ever throwing or making a
 * run wait: a corrupt file is moved aside and a fresh one started; a file that
 * cannot be written (disk full, read-only, permissions, gone) means holding the
 * records in memory, bounded, trying again on a backoff, and logging once per
 * change of state. The dashboard link's spool and signature store reach the same
 * database through it ({@linkcode DatabaseSource}).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { History, type RunEnd, type RunRecorder, type RunStart } from "../runs/history.ts";
import { moveAside } from "../runs/history_aside.ts";
import { classifyStoreError, faultFix, type StoreFault } from "../runs/store_fault.ts";

/** The store's state: writing, or not, and why. */
export type HistoryState =
  | { readonly kind: "ok" }
  | { readonly kind: "unwritable"; readonly fault: StoreFault; readonly since: number };

/** The users of the shared database besides the history, for their states. */
export type DatabaseArea = "spool" | "seen";

/** How the spool and the signature store reach koid's database. */
export interface DatabaseSource {
  /**
   * The open database.
   *
   * @returns It.
   * @throws {Error} When there is none, saying why.
   */
  database(): DatabaseSync;
  /**
   * Says how a use of the database went: an error (a corrupt file is then moved
   * aside) or null for success.
   *
   * @param area Who used it.
   * @param error What it threw, or null.
   */
  report(area: DatabaseArea, error: unknown): void;
  /**
   * When a fresh database replaced one that held data (moved aside as corrupt,
   * deleted or replaced while koid ran), ms since the epoch, or null.
   */
  readonly replacedAt: number | null;
}

/** A write the history could not take yet. */
type HeldWrite =
  | { readonly kind: "interrupted"; readonly at: number }
  | { readonly kind: "starts"; readonly starts: readonly RunStart[] }
  | { readonly kind: "end"; readonly id: string; readonly tag: string; readonly end: RunEnd };

/** The most writes held in memory while the history cannot be written. */
export const HELD_WRITES = 10_000;

/** The most output characters held in memory; ends beyond it are held without their output. */
export const HELD_OUTPUT_CHARS = 16 * 1024 * 1024;

/** At most this many databases are moved aside in one run of koid: more means a failing disk. */
const MAX_MOVES = 3;

/** How often, at most, the file is checked for having been deleted or replaced on a read. */
const IDENTITY_CHECK_MS = 1000;

/** What the store needs. */
export interface HistoryStoreOptions {
  /** The database file (`$KOI_DIR/history.db`). */
  readonly path: string;
  /** koid's log. */
  readonly log: (line: string) => void;
  /** The clock; `Date.now` by default. */
  readonly now?: () => number;
  /** Runs kept per job. */
  readonly retention?: number;
  /** The first retry delay (1 s), doubled on each failure up to `retryMaxMs` (60 s). */
  readonly retryMinMs?: number;
  /** The longest retry delay. */
  readonly retryMaxMs?: number;
  /** The uid koid runs as, for the fixes it suggests. */
  readonly uid?: number | null;
  /** Called after every change of state (for koid's state file). */
  readonly onChange?: () => void;
  /** Called with the runs an earlier koid left running, once they are marked interrupted. */
  readonly onInterrupted?: (ids: readonly string[], at: number) => void;
  /** The most writes held in memory ({@linkcode HELD_WRITES}). */
  readonly heldWrites?: number;
  /** The most output characters held in memory ({@linkcode HELD_OUTPUT_CHARS}). */
  readonly heldOutputChars?: number;
  /** Opens the history; tests pass one that fills up early. */
  readonly openHistory?: (path: string) => History;
}

interface FileIdentity {
  readonly dev: number;
  readonly ino: number | null;
}

/** koid's history database, kept writable or worked around. */
export class HistoryStore implements RunRecorder, DatabaseSource {
  readonly #options: HistoryStoreOptions;
  readonly #now: () => number;
  readonly #dir: string;
  #history: History | null = null;
  #identity: FileIdentity | null = null;
  #checkedAt = -Infinity;
  #state: HistoryState = { kind: "ok" };
  readonly #areas = new Map<DatabaseArea, { readonly fault: StoreFault; readonly since: number }>();
  readonly #held: HeldWrite[] = [];
  #heldChars = 0;
  #dropped = 0;
  #stripped = 0;
  /** Runs started and not yet recorded as ended: an end whose start is gone re-inserts it. */
  readonly #inFlight = new Map<string, RunStart>();
  #retry: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #replacedAt: number | null = null;
  readonly #moved: { path: string; at: number }[] = [];
  #closed = false;

  /** @param options The file, log and clock. */
  constructor(options: HistoryStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    const slash = options.path.lastIndexOf("/");
    this.#dir = slash > 0 ? options.path.slice(0, slash) : slash === 0 ? "/" : ".";
  }

  /** The store's state. */
  get state(): HistoryState {
    return this.#state;
  }

  /** The faults of the spool and the signature store, where their last use failed, and since when. */
  get areaFaults(): ReadonlyMap<
    DatabaseArea,
    { readonly fault: StoreFault; readonly since: number }
  > {
    return this.#areas;
  }

  /** The databases this koid moved aside as corrupt. */
  get movedAside(): readonly { readonly path: string; readonly at: number }[] {
    return this.#moved;
  }

  /** How many writes wait in memory. */
  get held(): number {
    return this.#held.length;
  }

  /** @inheritdoc */
  get replacedAt(): number | null {
    return this.#replacedAt;
  }

  /**
   * Opens the database and marks the runs an earlier koid left running as
   * interrupted. Never throws: a corrupt file is moved aside, and one that cannot
   * be opened leaves the store unwritable, trying again on a backoff.
   */
  open(): void {
    this.#write({ kind: "interrupted", at: this.#now() });
  }

  /**
   * Records runs that have started; never throws.
   *
   * @param starts The runs.
   */
  recordStarts(starts: readonly RunStart[]): void {
    if (starts.length === 0) return;
    for (const start of starts) this.#inFlight.set(start.id, start);
    this.#write({ kind: "starts", starts });
  }

  /**
   * Records how a run ended; never throws.
   *
   * @param id The run.
   * @param tag Its job, for retention.
   * @param end How it ended.
   */
  recordEnd(id: string, tag: string, end: RunEnd): void {
    this.#write({ kind: "end", id, tag, end });
  }

  /** @inheritdoc */
  database(): DatabaseSync {
    // Checked now and then for deletion; a closed one is opened unless a retry is already due.
    const due = this.#history !== null
      ? this.#now() - this.#checkedAt >= IDENTITY_CHECK_MS
      : this.#retry === undefined && !this.#closed;
    if (due) this.#connect();
    if (this.#history === null) {
      throw new Error(
        this.#state.kind === "unwritable"
          ? `${this.#options.path} is not open: ${this.#state.fault.message}`
          : `${this.#options.path} is not open`,
      );
    }
    return this.#history.database;
  }

  /** @inheritdoc */
  report(area: DatabaseArea, error: unknown): void {
    if (error === null) {
      if (this.#areas.delete(area)) this.#options.onChange?.();
      return;
    }
    const fault = classifyStoreError(error);
    if (fault.kind === "corrupt" && this.#history !== null) {
      this.#moveAside(fault);
      return;
    }
    const before = this.#areas.get(area);
    if (before?.fault.kind === fault.kind) return;
    this.#areas.set(area, { fault, since: this.#now() });
    this.#options.onChange?.();
  }

  /**
   * Writes what is held one last time, says what could not be, and closes.
   */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#held.length > 0 && !this.#flush()) {
      const runs = this.#held.filter((write) => write.kind !== "interrupted").length;
      if (runs > 0) {
        this.#options.log(
          `${runs} run record(s) held in memory could not be written to ${this.#options.path} before koid stopped: they are lost`,
        );
      }
    }
    this.#disconnect();
  }

  #write(write: HeldWrite): void {
    if (this.#held.length === 0 && this.#apply(write)) {
      this.#healthy();
      return;
    }
    this.#hold(write);
    this.#scheduleRetry();
  }

  /** Tries one write, on a fresh database if the file turns out corrupt; true when written. */
  #apply(write: HeldWrite): boolean {
    for (let tries = 0; tries < 2; tries++) {
      if (!this.#connect()) return false;
      try {
        this.#perform(this.#history!, write);
        return true;
      } catch (error) {
        const fault = classifyStoreError(error);
        if (fault.kind === "corrupt") {
          if (!this.#moveAside(fault)) return false;
          continue;
        }
        // The connection may be what is stuck (opened read-only, on a file since fixed).
        if (fault.kind !== "full" && fault.kind !== "busy") this.#disconnect();
        this.#unwritable(fault);
        return false;
      }
    }
    return false;
  }

  #perform(history: History, write: HeldWrite): void {
    switch (write.kind) {
      case "interrupted": {
        const ids = history.markInterrupted(write.at);
        if (ids.length > 0) {
          this.#options.log(
            `marked ${ids.length} run(s) left unfinished by a stopped koid as interrupted`,
          );
          this.#options.onInterrupted?.(ids, write.at);
        }
        return;
      }
      case "starts":
        history.recordStarts(write.starts);
        return;
      case "end": {
        if (!history.recordEnd(write.id, write.tag, write.end)) {
          // Its start went with a file deleted or moved aside since: record the run whole.
          const start = this.#inFlight.get(write.id);
          if (start !== undefined) {
            history.recordStarts([start]);
            history.recordEnd(write.id, write.tag, write.end);
          }
        }
        this.#inFlight.delete(write.id);
        return;
      }
    }
  }

  #hold(write: HeldWrite): void {
    if (this.#held.length >= (this.#options.heldWrites ?? HELD_WRITES)) {
      this.#dropped++;
      if (write.kind === "end") this.#inFlight.delete(write.id);
      return;
    }
    if (write.kind === "end") {
      const chars = write.end.chunks.reduce((sum, chunk) => sum + chunk.text.length, 0);
      if (this.#heldChars + chars > (this.#options.heldOutputChars ?? HELD_OUTPUT_CHARS)) {
        this.#stripped++;
        const note = "[koi: output not kept: history.db could not be written for a while]\n";
        write = { ...write, end: { ...write.end, chunks: [{ stream: "koi", text: note }] } };
      } else {
        this.#heldChars += chars;
      }
    }
    this.#held.push(write);
  }

  /** Writes the held writes in order; true when none is left. */
  #flush(): boolean {
    while (this.#held.length > 0) {
      const write = this.#held[0]!;
      if (!this.#apply(write)) return false;
      this.#held.shift();
      if (write.kind === "end") {
        this.#heldChars -= write.end.chunks.reduce((sum, chunk) => sum + chunk.text.length, 0);
      }
    }
    this.#heldChars = 0;
    return true;
  }

  #scheduleRetry(): void {
    if (this.#retry !== undefined || this.#closed) return;
    const min = this.#options.retryMinMs ?? 1000;
    const max = this.#options.retryMaxMs ?? 60_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.#attempt, 30));
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#attempt++;
      if (this.#flush() && this.#connect()) this.#healthy();
      else this.#scheduleRetry();
    }, delay);
  }

  /**
   * Makes sure the open database is the file at the path: opens it if none is,
   * starts a fresh one if it was deleted, follows it if it was replaced.
   *
   * @returns Whether a database is open.
   */
  #connect(): boolean {
    const { path, log } = this.#options;
    this.#checkedAt = this.#now();
    if (this.#history !== null) {
      const identity = this.#fileIdentity();
      if (identity !== null && sameFile(identity, this.#identity)) return true;
      this.#disconnect();
      this.#replacedAt = this.#now();
      if (identity === null) {
        // Side files a reader still holds would be applied to the fresh file: moved aside.
        const orphans = this.#moveOrphans();
        log(
          `${path} was deleted while koid ran: starting a fresh one (the runs it held went with it)${orphans}`,
        );
      } else {
        log(`${path} was replaced while koid ran: recording into the new file`);
      }
      this.#options.onChange?.();
    }
    try {
      this.#history = this.#options.openHistory?.(path) ??
        new History(path, {
          check: true,
          ...(this.#options.retention === undefined ? {} : { retention: this.#options.retention }),
        });
      this.#identity = this.#fileIdentity();
      return true;
    } catch (error) {
      this.#history = null;
      const fault = classifyStoreError(error);
      if (fault.kind === "corrupt") {
        if (this.#moveAside(fault)) return this.#connect();
        return false;
      }
      this.#unwritable(fault);
      return false;
    }
  }

  #fileIdentity(): FileIdentity | null {
    try {
      const info = Deno.statSync(this.#options.path);
      return { dev: info.dev, ino: info.ino };
    } catch {
      return null;
    }
  }

  #disconnect(): void {
    try {
      this.#history?.close();
    } catch {
      // Closing a connection to a damaged or vanished file: nothing more to lose.
    }
    this.#history = null;
    this.#identity = null;
  }

  #moveOrphans(): string {
    const { path } = this.#options;
    try {
      if (![`${path}-wal`, `${path}-shm`].some((file) => this.#exists(file))) return "";
      const target = moveAside(path, this.#now(), "orphan");
      return `; its leftover -wal and -shm are now ${target}-wal and -shm`;
    } catch (error) {
      return `; its leftover -wal could not be moved aside: ${(error as Error).message}`;
    }
  }

  #exists(path: string): boolean {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Moves a corrupt database aside and lets the next connect start a fresh one.
   *
   * @returns Whether it was moved.
   */
  #moveAside(fault: StoreFault): boolean {
    const { path, log } = this.#options;
    if (this.#moved.length >= MAX_MOVES) {
      this.#disconnect();
      this.#unwritable({
        kind: "io",
        message:
          `${fault.message}, after ${MAX_MOVES} fresh starts in this run of koid: the disk may be failing`,
      });
      return false;
    }
    const at = this.#now();
    let target: string;
    try {
      // Renamed while still open: closing then leaves the moved -wal where it is.
      target = moveAside(path, at);
    } catch (error) {
      this.#disconnect();
      this.#unwritable({
        kind: "corrupt",
        message: `${fault.message}, and it cannot be moved aside: ${(error as Error).message}`,
      });
      return false;
    }
    this.#disconnect();
    this.#moved.push({ path: target, at });
    this.#replacedAt = at;
    log(
      `${path} IS CORRUPT (${fault.message}): moved it aside to ${target} (with its -wal, if any) and started a fresh one; nothing was deleted, and runs recorded before may be recovered from it with "sqlite3 ${target} .recover"`,
    );
    this.#options.onChange?.();
    return true;
  }

  #unwritable(fault: StoreFault): void {
    this.#scheduleRetry();
    // SQLite says "disk I/O error" for a full disk where it maps shared memory: ask the disk.
    if (fault.kind === "io" || fault.kind === "other") fault = diagnose(this.#dir, fault);
    const previous = this.#state;
    if (previous.kind === "unwritable" && previous.fault.kind === fault.kind) return;
    this.#state = { kind: "unwritable", fault, since: this.#now() };
    this.#options.log(
      `cannot write ${this.#options.path} (${fault.message}): jobs run on, their records held in memory (up to ${
        this.#options.heldWrites ?? HELD_WRITES
      }) until it can be written; trying again with backoff; to fix: ${
        faultFix(fault.kind, this.#dir, this.#options.uid ?? null)
      }`,
    );
    this.#options.onChange?.();
  }

  #healthy(): void {
    this.#attempt = 0;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#state.kind === "ok") return;
    const lost = [
      this.#dropped > 0 ? `${this.#dropped} record(s) beyond what memory holds are lost` : "",
      this.#stripped > 0 ? `${this.#stripped} run(s) are kept without their output` : "",
    ].filter((part) => part !== "");
    this.#options.log(
      `${this.#options.path} can be written again: recording resumes, the records held meanwhile are written${
        lost.length > 0 ? `; ${lost.join(", ")}` : ""
      }`,
    );
    this.#dropped = 0;
    this.#stripped = 0;
    this.#state = { kind: "ok" };
    this.#options.onChange?.();
  }
}

/**
 * What writing a small file beside the database says about a vague fault: the
 * disk is full, read-only, closed to koid, or gone; else the fault as it was.
 */
function diagnose(dir: string, fault: StoreFault): StoreFault {
  const probe = `${dir}/.koid-probe-${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  try {
    const file = Deno.openSync(probe, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new Uint8Array(64 * 1024);
      for (let written = 0; written < bytes.length;) {
        written += file.writeSync(bytes.subarray(written));
      }
      file.syncSync();
    } finally {
      file.close();
    }
    return fault;
  } catch (error) {
    const found = classifyStoreError(error);
    if (found.kind === "io" || found.kind === "other") return fault;
    return { kind: found.kind, message: `${fault.message}: ${found.message}` };
  } finally {
    try {
      Deno.removeSync(probe);
    } catch {
      // Never made, or the directory is gone.
    }
  }
}

function sameFile(a: FileIdentity, b: FileIdentity | null): boolean {
  return b !== null && a.dev === b.dev && a.ino === b.ino;
}
