/**
 * `koitab history [NAME] [--json]`: the runs koid and `koitab run` recorded, newest first.
 *
 * @module
 */

import { History, type RunRecord } from "../runs/history.ts";
import type { KoiPaths } from "../koidir.ts";
import { formatWallTime } from "../timezone.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob } from "../job_name.ts";

/**
 * Reads the recorded runs, newest first.
 *
 * @param paths Where Koi keeps its files.
 * @param name Only runs of the job with this name, `Section/Name` or tag.
 * @returns The runs; none when koid has recorded nothing yet.
 */
export function readHistory(paths: KoiPaths, name: string | null): RunRecord[] {
  try {
    Deno.statSync(paths.history);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new CliError(`cannot read ${paths.history}: ${(error as Error).message}`);
  }
  let history: History;
  try {
    history = new History(paths.history, { readOnly: true });
  } catch (error) {
    throw new CliError(`cannot open ${paths.history}: ${(error as Error).message}`);
  }
  try {
    const runs = history.list({ limit: 100_000 });
    if (name === null) return runs;
    return runs.filter((run) => namesJob(run, name));
  } finally {
    history.close();
  }
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
