/**
 * What koid's link last heard about this machine's job list, kept in
 * `$KOI_DIR/link-state.json` so that `koitab -d` can say the dashboard's list
 * is out of date, and why, whichever server refused it (an older one, too).
 * koid writes the file when the server refuses the job list and removes it when
 * a list is taken; `koitab -d` reads it.
 *
 * @module
 */

import { writeFileAtomic } from "../files.ts";
import type { KoiPaths } from "../koidir.ts";

/** A job list the dashboard refused. */
export interface JobListRefusal {
  /** The dashboard that refused it. */
  readonly dashboard: string;
  /** This machine's name toward it. */
  readonly host: string;
  /** When, in ms since the epoch. */
  readonly at: number;
  /** Why, as the server said (`the server answered 400: …`). */
  readonly reason: string;
}

/**
 * Records that the dashboard refused this machine's job list.
 *
 * @param paths The `KOI_DIR` paths.
 * @param refusal Which dashboard, when and why.
 * @returns When the file is written (atomically, mode 0600).
 */
export async function writeJobListRefusal(
  paths: KoiPaths,
  refusal: JobListRefusal,
): Promise<void> {
  await writeFileAtomic(paths.linkState, JSON.stringify({ jobListRefused: refusal }) + "\n");
}

/**
 * Forgets a refusal: the dashboard took a job list.
 *
 * @param paths The `KOI_DIR` paths.
 * @returns When the file is gone.
 */
export async function clearJobListRefusal(paths: KoiPaths): Promise<void> {
  try {
    await Deno.remove(paths.linkState);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * The refusal koid recorded, if any. A file that cannot be read or is not what
 * koid writes counts as none: it only ever adds a line to `koitab -d`.
 *
 * @param paths The `KOI_DIR` paths.
 * @returns The refusal, or null.
 */
export async function readJobListRefusal(paths: KoiPaths): Promise<JobListRefusal | null> {
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(paths.linkState));
  } catch {
    return null;
  }
  const refusal = (value as { jobListRefused?: Record<string, unknown> } | null)?.jobListRefused;
  if (
    typeof refusal?.dashboard !== "string" || typeof refusal.host !== "string" ||
    typeof refusal.at !== "number" || typeof refusal.reason !== "string"
  ) {
    return null;
  }
  return {
    dashboard: refusal.dashboard,
    host: refusal.host,
    at: refusal.at,
    reason: refusal.reason,
  };
}
