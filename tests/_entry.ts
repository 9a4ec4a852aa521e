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

/**
 * Starts an entry as `deno task ENTRY` would, with its task flags, in the project
 * root, stdin closed, stdout dropped (unless `stdout` says "piped") and stderr
 * piped (its log).
 *
 * @param entry The entry to start.
 * @param args Its command-line arguments.
 * @param env Its environment, over the inherited one.
 * @param stdout Whether its stdout is dropped or piped.
 * @returns The running process.
 */
export function spawnEntry(
  entry: Entry,
  args: string[],
  env: Record<string, string> = {},
  stdout: "null" | "piped" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags[entry], new URL(`${entry}.ts`, root).pathname, ...args],
    cwd: root.pathname,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout,
    stderr: "piped",
  }).spawn();
}

/**
 * Runs an entry on a pseudo-terminal (util-linux `script`), with its task flags,
 * answering each prompt as it appears, as a person would: when the output so far
 * ends with an answer's prompt, its text is typed. The child's stdout and stderr
 * both reach the terminal, so `output` holds both, with CR LF turned into LF.
 *
 * @param entry The entry to run.
 * @param args Its command-line arguments.
 * @param options Its environment, over the inherited one, and working directory.
 * @param answers Each prompt, in order, and what to type at it.
 * @returns Exit code and terminal output, or null when `script` is not installed.
 */
export async function runOnTerminal(
  entry: Entry,
  args: string[],
  options: { env: Record<string, string>; cwd?: string },
  answers: [prompt: string, typed: string][],
): Promise<{ code: number; output: string } | null> {
  if (!await Deno.stat("/usr/bin/script").then(() => true, () => false)) return null;
  const command = [Deno.execPath(), "run", ...flags[entry], new URL(`${entry}.ts`, root).pathname]
    .concat(args)
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("/usr/bin/script", {
    args: ["-qec", command, "/dev/null"],
    env: { ...options.env, NO_COLOR: "1" },
    cwd: options.cwd ?? root.pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  let output = "";
  const pending = [...answers];
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    output += text;
    const next = pending[0];
    if (next && output.endsWith(next[0])) {
      pending.shift();
      await writer.write(new TextEncoder().encode(next[1]));
    }
  }
  const { code } = await child.status;
  // The terminal stays open until the entry ends: an end of input would answer a prompt.
  await writer.close().catch(() => {});
  return { code, output: output.replaceAll("\r\n", "\n") };
}
