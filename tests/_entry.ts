/**
 * Runs an entry script as `deno task ENTRY` would, with exactly the permission
 * flags its task (and so its compiled executable) has, and captures the result.
 *
 * @module
 */

import { type Entry, entryFlags } from "../tools/task_flags.ts";

/** What a finished entry process did. */
export interface EntryResult {
  code: number;
  stdout: string;
  stderr: string;
}

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));

/**
 * Runs `deno run FLAGS ENTRY.ts ...args` in the project root.
 *
 * @param entry The entry to run.
 * @param args Its command-line arguments.
 * @param options Environment (replacing the inherited one when `clearEnv`), stdin text, cwd.
 * @returns Exit code and output.
 */
export async function runEntry(
  entry: Entry,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<EntryResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags[entry], new URL(`${entry}.ts`, root).pathname, ...args],
    cwd: options.cwd ?? root.pathname,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
