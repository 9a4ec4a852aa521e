/**
 * What koid says about its own state, kept in `$KOI_DIR/koid-state.json` so that
 * `koitab history` and `koitab -d` can explain a fault koid works around (a
 * history that cannot be written, manual runs refused, a vanished user) in one
 * line with its fix, even when the history itself cannot be read.
 *
 * koid writes the file at start, on every change, and at a clean stop. It is
 * always exactly {@linkcode KOID_STATE_BYTES} long, padded with blanks: on a full
 * disk, where no new file can be made, the old one's blocks are rewritten in place.
 *
 * @module
 */

import { writeAll, writeFileAtomic } from "./files.ts";

/** The size of the state file. */
export const KOID_STATE_BYTES = 4096;

/** What a problem concerns. */
export type KoidProblemArea = "history" | "spool" | "manual" | "user" | "koitab" | "koi-dir";

/** One thing koid works around, as it says it. */
export interface KoidProblem {
  readonly area: KoidProblemArea;
  /** Since when, ms since the epoch. */
  readonly since: number;
  /** When it ends by itself, if it does (ms since the epoch); past it, it is no longer shown. */
  readonly until?: number;
  /** What is wrong, what koid does about it, and the fix, in one line. */
  readonly line: string;
}

/** The content of the state file. */
export interface KoidState {
  /** koid's process id. */
  readonly pid: number;
  /** When the file was written, ms since the epoch. */
  readonly at: number;
  /** False once koid has stopped. */
  readonly running: boolean;
  /** What koid works around now. */
  readonly problems: readonly KoidProblem[];
}

const MAX_LINE = 600;

/** The file's bytes: the JSON, padded with blanks; problems that do not fit are left out. */
function encode(state: KoidState): Uint8Array {
  const encoder = new TextEncoder();
  let problems = state.problems.map((problem) => ({
    ...problem,
    line: problem.line.length > MAX_LINE ? `${problem.line.slice(0, MAX_LINE - 1)}…` : problem.line,
  }));
  let bytes = encoder.encode(JSON.stringify({ ...state, problems }));
  while (bytes.length >= KOID_STATE_BYTES && problems.length > 0) {
    problems = problems.slice(0, -1);
    bytes = encoder.encode(JSON.stringify({ ...state, problems }));
  }
  const padded = new Uint8Array(KOID_STATE_BYTES).fill(0x20);
  padded.set(bytes);
  padded[KOID_STATE_BYTES - 1] = 0x0a;
  return padded;
}

/**
 * Writes the state file: atomically where a new file can be made, else over the
 * old one in place (a full disk).
 *
 * @param path The file (`KoiPaths.koidState`).
 * @param state What koid says.
 * @returns When written.
 * @throws {Error} When neither way works.
 */
export async function writeKoidState(path: string, state: KoidState): Promise<void> {
  const bytes = encode(state);
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true });
    } catch {
      throw error;
    }
    try {
      await writeAll(file, bytes);
    } finally {
      file.close();
    }
  }
}

/**
 * Reads the state file. One that is missing, torn or not what koid writes counts
 * as none: it only ever adds lines to what `koitab` prints.
 *
 * @param path The file.
 * @returns The state, or null.
 *
 * @example
 * ```ts
 * import { readKoidState, writeKoidState } from "./koid_state.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * const problem = { area: "history" as const, since: 1, line: "cannot write history.db" };
 * await writeKoidState(`${dir}/koid-state.json`, {
 *   pid: 7,
 *   at: 2,
 *   running: true,
 *   problems: [problem],
 * });
 * const state = await readKoidState(`${dir}/koid-state.json`);
 * if (state?.problems[0]?.line !== "cannot write history.db") throw new Error("read");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function readKoidState(path: string): Promise<KoidState | null> {
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
  const state = value as Record<string, unknown> | null;
  if (
    typeof state?.pid !== "number" || typeof state.at !== "number" ||
    typeof state.running !== "boolean" || !Array.isArray(state.problems)
  ) {
    return null;
  }
  const problems: KoidProblem[] = [];
  for (const item of state.problems as Record<string, unknown>[]) {
    if (typeof item?.line !== "string" || typeof item.since !== "number") continue;
    if (typeof item.area !== "string") continue;
    problems.push({
      area: item.area as KoidProblemArea,
      since: item.since,
      ...(typeof item.until === "number" ? { until: item.until } : {}),
      line: item.line,
    });
  }
  return { pid: state.pid, at: state.at, running: state.running, problems };
}

/**
 * The lines to show for koid's state: those of the problems of a running koid
 * that have not ended, each made safe for a terminal.
 *
 * @param state The state read, or null.
 * @param now The current time.
 * @returns One line per problem.
 *
 * @example
 * ```ts
 * import { koidStateLines } from "./koid_state.ts";
 *
 * const state = {
 *   pid: 7,
 *   at: 0,
 *   running: true,
 *   problems: [
 *     { area: "manual" as const, since: 0, until: 10, line: "manual runs refused" },
 *     { area: "history" as const, since: 0, line: "cannot write history.db" },
 *   ],
 * };
 * const lines = koidStateLines(state, 20);
 * if (lines.join() !== "cannot write history.db") throw new Error(lines.join());
 * ```
 */
export function koidStateLines(state: KoidState | null, now: number): string[] {
  if (state === null || !state.running) return [];
  return state.problems
    .filter((problem) => problem.until === undefined || problem.until > now)
    // deno-lint-ignore no-control-regex
    .map((problem) => problem.line.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?"));
}
