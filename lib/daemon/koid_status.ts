/**
 * koid's account of the faults it works around, gathered from the history store,
 * the jobs' user and the daemon into `$KOI_DIR/koid-state.json`, each in one line
 * with its fix, for `koitab history` and `koitab -d`.
 *
 * @module
 */

import { type KoidProblem, writeKoidState } from "../koid_state.ts";
import { faultFix } from "../runs/store_fault.ts";
import type { HistoryStore } from "./history_store.ts";
import type { JobUser } from "./job_user.ts";
import { SEEN_KEEP_MS } from "./spool.ts";

/** Where koid's state comes from. */
export interface KoidStatusSources {
  /** The state file (`KoiPaths.koidState`). */
  readonly path: string;
  /** `KOI_DIR`, for the fixes. */
  readonly dir: string;
  /** The uid koid runs as, for the fixes. */
  readonly uid: number | null;
  readonly store: HistoryStore;
  readonly jobUser: JobUser;
  /** The daemon's problems (a table kept over a broken one, a vanished `KOI_DIR`). */
  readonly daemonProblems: () => readonly KoidProblem[];
  /** koid's log, for a state file that cannot be written (once per change). */
  readonly log: (line: string) => void;
  /** The clock; `Date.now` by default. */
  readonly now?: () => number;
}

/** Writes koid's state file whenever something in it changes. */
export class KoidStatus {
  readonly #sources: KoidStatusSources;
  readonly #now: () => number;
  /** When each problem without its own time was first seen. */
  readonly #since = new Map<string, number>();
  #writing: Promise<void> = Promise.resolve();
  #queued = false;
  #writeError: string | null = null;
  #stopped = false;

  /** @param sources The store, user, daemon and file. */
  constructor(sources: KoidStatusSources) {
    this.#sources = sources;
    this.#now = sources.now ?? (() => Date.now());
  }

  /** The problems as koid would write them now. */
  problems(): KoidProblem[] {
    const { store, jobUser, dir, uid } = this.#sources;
    const now = this.#now();
    const iso = (time: number) => new Date(time).toISOString();
    const problems: KoidProblem[] = [];
    const state = store.state;
    if (state.kind === "unwritable") {
      problems.push({
        area: "history",
        since: state.since,
        line: `koid cannot write ${dir}/history.db since ${
          iso(state.since)
        } (${state.fault.message}): jobs run on, and their records wait in memory until it can be written; to fix: ${
          faultFix(state.fault.kind, dir, uid)
        }`,
      });
    }
    const spool = store.areaFaults.get("spool");
    if (spool !== undefined) {
      problems.push({
        area: "spool",
        since: spool.since,
        line: `koid cannot spool its reports to the dashboard since ${
          iso(spool.since)
        } (${spool.fault.message}): they are sent from memory while the dashboard is reachable; to fix: ${
          faultFix(spool.fault.kind, dir, uid)
        }`,
      });
    }
    const seen = store.areaFaults.get("seen");
    if (seen !== undefined) {
      problems.push({
        area: "manual",
        since: seen.since,
        line: `manual runs are refused since ${
          iso(seen.since)
        }: koid cannot record their signatures (${seen.fault.message}), so it cannot rule out a replay; scheduled jobs go on; to fix: ${
          faultFix(seen.fault.kind, dir, uid)
        }`,
      });
    }
    const replaced = store.replacedAt;
    if (replaced !== null && now < replaced + SEEN_KEEP_MS) {
      problems.push({
        area: "manual",
        since: replaced,
        until: replaced + SEEN_KEEP_MS,
        line: `manual runs are refused until ${
          iso(replaced + SEEN_KEEP_MS)
        }: koid's record of accepted manual runs started afresh at ${
          iso(replaced)
        } (history.db was moved aside, deleted or replaced), so it cannot rule out a replay before then; nothing to do`,
      });
    }
    const user = jobUser.problem;
    if (user !== null) problems.push({ area: "user", since: this.#firstSeen(user), line: user });
    problems.push(...this.#sources.daemonProblems());
    for (const line of [...this.#since.keys()]) {
      if (line !== user) this.#since.delete(line);
    }
    return problems;
  }

  #firstSeen(line: string): number {
    const since = this.#since.get(line) ?? this.#now();
    this.#since.set(line, since);
    return since;
  }

  /**
   * Writes the file soon, with the state as it is then.
   *
   * @returns When written (or found impossible, logged).
   */
  changed(): Promise<void> {
    if (this.#queued || this.#stopped) return this.#writing;
    this.#queued = true;
    this.#writing = this.#writing.then(() => {
      this.#queued = false;
      return this.#write(true);
    });
    return this.#writing;
  }

  /**
   * Says koid has stopped: the problems it worked around are its no longer.
   *
   * @returns When written.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#writing;
    await this.#write(false);
  }

  async #write(running: boolean): Promise<void> {
    const { path, log } = this.#sources;
    try {
      await writeKoidState(path, {
        pid: Deno.pid,
        at: this.#now(),
        running,
        problems: running ? this.problems() : [],
      });
      this.#writeError = null;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.#writeError) {
        log(
          `cannot write ${path} (${message}): koitab cannot show what koid works around; the log says it all`,
        );
      }
      this.#writeError = message;
    }
  }
}
