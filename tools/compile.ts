/**
 * `deno task compile`: builds each entry as a standalone executable for Linux and
 * macOS on x86_64 and aarch64, with the permission flags of its `deno task`.
 *
 * Usage: `deno task compile [--dry-run] [--target TRIPLE]…`
 *
 * @module
 */

import { ENTRIES, type Entry, entryFlags } from "./task_flags.ts";

/** The platforms Koi ships executables for. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/**
 * Files an executable reads at run time besides its modules, embedded with
 * `--include`: the dashboard server and `koitab -d open` serve the web page's
 * files from `lib/ui` and `lib/protocol`.
 */
export const INCLUDES: Readonly<Record<Entry, readonly string[]>> = {
  koitab: ["lib/ui", "lib/protocol"],
  koid: [],
  dashboard: ["lib/ui", "lib/protocol"],
};

/**
 * The `deno compile` argument lists that build every entry for the given targets.
 *
 * @param denoJson The text of deno.json, which holds each entry's flags.
 * @param targets The target triples to build for.
 * @returns One argument list (after `deno`) per executable.
 */
export function compileCommands(denoJson: string, targets: readonly string[]): string[][] {
  const flags = entryFlags(denoJson);
  return targets.flatMap((target) =>
    ENTRIES.map((entry) => [
      "compile",
      ...flags[entry],
      ...INCLUDES[entry].flatMap((path) => ["--include", path]),
      "--target",
      target,
      "--output",
      `dist/${entry}-${target}`,
      `${entry}.ts`,
    ])
  );
}

async function main(args: string[]): Promise<number> {
  const dryRun = args.includes("--dry-run");
  const targets = args.flatMap((arg, i) => args[i - 1] === "--target" ? [arg] : []);
  const denoJson = await Deno.readTextFile("deno.json");
  for (const command of compileCommands(denoJson, targets.length ? targets : TARGETS)) {
    console.log(`deno ${command.join(" ")}`);
    if (dryRun) continue;
    const { code } = await new Deno.Command("deno", { args: command }).spawn().status;
    if (code !== 0) {
      console.error(`compile: "deno ${command.join(" ")}" failed with exit code ${code}`);
      return code;
    }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
