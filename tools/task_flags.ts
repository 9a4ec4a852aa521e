/**
 * Reads each entry's permission flags from its `deno task` in deno.json, the one
 * place they are defined, so that `deno compile` bakes in exactly what
 * `deno task` runs with.
 *
 * @module
 */

/** The entry scripts that become executables, each run by the task of the same name. */
export const ENTRIES = ["koitab", "koid", "dashboard"] as const;

/**
 * V8's flags for an entry (`--v8-flags=--max-semi-space-size=1`): `deno compile`
 * takes the same flag and bakes it into the executable.
 */
const V8_FLAGS = /^--v8-flags=--[a-z0-9-]+(=[A-Za-z0-9.]+)?(,--[a-z0-9-]+(=[A-Za-z0-9.]+)?)*$/;

/** An entry's name. */
export type Entry = typeof ENTRIES[number];

/**
 * The runtime flags (`--allow-*`, `--deny-*`, `--unstable-*`, `--v8-flags=`) a
 * task passes to `deno run` before its entry script.
 *
 * @param task The task's command line, as written in deno.json.
 * @param entry The entry whose script the task must run (`koid` runs `koid.ts`).
 * @returns The flags, in the order written.
 * @throws {SyntaxError} If the task is not `deno run FLAGS… ENTRY.ts`, or grants `-A`.
 */
export function taskFlags(task: string, entry: string): string[] {
  const words = task.trim().split(/\s+/);
  const script = words.indexOf(`${entry}.ts`);
  if (words[0] !== "deno" || words[1] !== "run" || script < 0) {
    throw new SyntaxError(
      `Cannot read the flags of task "${entry}": expected "deno run FLAGS… ${entry}.ts"`,
    );
  }
  const flags = words.slice(2, script);
  for (const flag of flags) {
    if (flag === "-A" || flag === "--allow-all") {
      throw new SyntaxError(
        `Task "${entry}" grants every permission (${flag}): list the flags it needs`,
      );
    }
    if (!/^--(allow|deny|unstable)-[a-z-]+(=.+)?$/.test(flag) && !V8_FLAGS.test(flag)) {
      throw new SyntaxError(
        `Task "${entry}" has "${flag}" where only permission, unstable and V8 flags may stand`,
      );
    }
  }
  return flags;
}

/**
 * Every entry's flags, read from a deno.json text.
 *
 * @param denoJson The text of deno.json.
 * @returns The flags of each entry.
 */
export function entryFlags(denoJson: string): Record<Entry, string[]> {
  const tasks = (JSON.parse(denoJson) as { tasks?: Record<string, string> }).tasks ?? {};
  const flags = {} as Record<Entry, string[]>;
  for (const entry of ENTRIES) {
    const task = tasks[entry];
    if (typeof task !== "string") throw new SyntaxError(`deno.json has no task "${entry}"`);
    flags[entry] = taskFlags(task, entry);
  }
  return flags;
}
