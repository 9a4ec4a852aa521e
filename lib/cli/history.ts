/**
 * `koitab history [NAME] [--json]`: the runs koid and `koitab run` recorded, newest first.
 *
 * @module
 */

import { History, type RunRecord } from "../runs/history.ts";
import { findMovedAside } from "../runs/history_aside.ts";
import { classifyStoreError, faultFix } from "../runs/store_fault.ts";
import type { KoiPaths } from "../koidir.ts";
import { koidStateLines, readKoidState } from "../koid_state.ts";
import { formatWallTime } from "../timezone.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob } from "../job_name.ts";

/**
 * Reads the recorded runs, newest first.
 *
 * @param paths Where Koi keeps its files.
 * @param name Only runs of the job with this name, `Section/Name` or tag.
 * @returns The runs; none when koid has recorded nothing yet.
 * @throws {CliError} When the history cannot be read, saying why and what to do.
 */
export function readHistory(paths: KoiPaths, name: string | null): RunRecord[] {
  try {
    Deno.statSync(paths.history);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw unreadable(paths, error);
  }
  let history: History;
  try {
    history = new History(paths.history, { readOnly: true });
  } catch (error) {
    throw unreadable(paths, error);
  }
  try {
    const runs = history.list({ limit: 100_000 });
    if (name === null) return runs;
    return runs.filter((run) => namesJob(run, name));
  } catch (error) {
    throw unreadable(paths, error);
  } finally {
    history.close();
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
export function formatHistory(runs: readonly RunRecord[], zone: string): string {
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

function outcome(run: RunRecord): string {
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
