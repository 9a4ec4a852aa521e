/**
 * `koitab history [NAME] [--json]`: the runs koid and `koitab run` recorded, newest first.
 *
 * @module
 */

import { History, type RunSummary } from "../runs/history.ts";
import { findMovedAside } from "../runs/history_aside.ts";
import { classifyStoreError, faultFix } from "../runs/store_fault.ts";
import type { KoiPaths } from "../koidir.ts";
import { koidStateLines, readKoidState } from "../koid_state.ts";
import { formatWallTime } from "../timezone.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob } from "../job_name.ts";

/** The most runs `koitab history` reads. */
const MOST_RUNS = 100_000;

/**
 * Reads the recorded runs, newest first, without their output: what the table
 * shows, however much output the history holds.
 *
 * @param paths Where Koi keeps its files.
 * @param name Only runs of the job with this name, `Section/Name` or tag.
 * @returns The runs; none when koid has recorded nothing yet.
 * @throws {CliError} When the history cannot be read, saying why and what to do.
 */
export function readHistory(paths: KoiPaths, name: string | null): RunSummary[] {
  return readingHistory(paths, (history) => {
    const runs = history.summaries({ limit: MOST_RUNS });
    return name === null ? runs : runs.filter((run) => namesJob(run, name));
  }) ?? [];
}

/**
 * Writes runs {@linkcode readHistory} gave with their output, as a JSON array,
 * exactly as `JSON.stringify(runs, null, 2)` would, one run at a time: memory
 * holds one run's output, not the whole history's.
 *
 * @param paths Where Koi keeps its files.
 * @param name The job name `runs` were read for, or null for every run.
 * @param runs The runs, as `readHistory(paths, name)` gave them.
 * @param write Writes a piece of the text.
 * @returns When all is written.
 * @throws {CliError} When the history cannot be read, saying why and what to do.
 */
export async function writeHistoryJson(
  paths: KoiPaths,
  name: string | null,
  runs: readonly RunSummary[],
  write: (text: string) => Promise<void>,
): Promise<void> {
  let first = true;
  const history = runs.length === 0 ? null : openHistory(paths);
  if (history !== null) {
    try {
      // For a name, only its jobs' runs are read.
      const wanted = new Set(runs.map((run) => run.id));
      const filter = name === null
        ? { limit: MOST_RUNS }
        : { limit: MOST_RUNS, tags: [...new Set(runs.map((run) => run.tag))] };
      const reading = history.runs(filter); // A generator: it reads at each next().
      // Only the history's errors are said to be its: one writing stdout is not.
      for (
        let next = ofHistory(paths, () => reading.next());
        !next.done;
        next = ofHistory(paths, () => reading.next())
      ) {
        if (!wanted.has(next.value.id)) continue;
        const text = JSON.stringify(next.value, null, 2).replaceAll("\n", "\n  ");
        await write(`${first ? "[\n  " : ",\n  "}${text}`);
        first = false;
      }
    } finally {
      history.close();
    }
  }
  await write(first ? "[]\n" : "\n]\n");
}

/** The history opened for reading; null when koid has recorded nothing yet. */
function openHistory(paths: KoiPaths): History | null {
  try {
    Deno.statSync(paths.history);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw unreadable(paths, error);
  }
  return ofHistory(paths, () => new History(paths.history, { readOnly: true }));
}

/** `read` over the history opened for reading; null when there is none yet. */
function readingHistory<T>(paths: KoiPaths, read: (history: History) => T): T | null {
  const history = openHistory(paths);
  if (history === null) return null;
  try {
    return ofHistory(paths, () => read(history));
  } finally {
    history.close();
  }
}

/** What `fn` gives; what it throws, said as the history's fault ({@linkcode unreadable}). */
function ofHistory<T>(paths: KoiPaths, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw unreadable(paths, error);
  }
}

/** Why the history cannot be read, in one line with the fix. */
function unreadable(paths: KoiPaths, error: unknown): CliError {
  const fault = classifyStoreError(error);
  if (fault.kind === "corrupt") {
    return new CliError(
      `${paths.history} is corrupt (${fault.message}): koid moves it aside (nothing is deleted) and starts a fresh one when it next opens or writes it; restart koid to have it done now`,
    );
  }
  const fix = fault.kind === "denied"
    ? `run koitab as koid's user or as root`
    : faultFix(fault.kind, paths.dir, Deno.uid());
  return new CliError(`cannot read ${paths.history} (${fault.message}): ${fix}`);
}

/**
 * What `koitab history` says before the runs: what koid works around now (from
 * its state file), and each history koid moved aside as corrupt, with what to do.
 *
 * @param paths Where Koi keeps its files.
 * @param now The current time.
 * @returns One line per thing to know.
 */
export async function historyNotes(paths: KoiPaths, now: number): Promise<string[]> {
  const notes = koidStateLines(await readKoidState(paths.koidState), now);
  for (const moved of findMovedAside(paths.history)) {
    notes.push(
      `koid found the history corrupt at ${
        new Date(moved.at).toISOString()
      } and moved it aside to ${moved.path}: the runs before then are in it (recover them with "sqlite3 ${moved.path} .recover"); delete it once you no longer need it`,
    );
  }
  return notes;
}

/**
 * The runs as a table for people.
 *
 * @param runs The runs, newest first.
 * @param zone The zone to show start times in.
 * @returns One line per run under a heading, or a sentence when there are none.
 */
export function formatHistory(runs: readonly RunSummary[], zone: string): string {
  if (runs.length === 0) return "no runs recorded\n";
  const rows = runs.map((run) => [
    formatWallTime(new Date(run.startedAt), zone),
    jobLabel(run),
    run.trigger,
    outcome(run),
    run.durationMs === null ? "-" : `${(run.durationMs / 1000).toFixed(1)}s`,
    run.id,
  ]);
  const table = [["STARTED", "JOB", "TRIGGER", "RESULT", "TIME", "RUN"], ...rows];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n") + "\n";
}

function outcome(run: RunSummary): string {
  switch (run.status) {
    case "running":
      return "running";
    case "succeeded":
      return "ok";
    case "failed":
      return `exit ${run.exitCode}`;
    case "killed":
      return run.signal ?? "killed";
    case "interrupted":
      return "interrupted";
    case "not-started":
      return "not started";
  }
}
