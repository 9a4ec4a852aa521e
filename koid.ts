/**
 * `koid`: the daemon that runs the koitab's jobs exactly as cron would. Run with
 * the permission flags of `deno task koid` (see deno.json).
 *
 * @module
 */

import { VERSION } from "./lib/version.ts";

const HELP = `koid ${VERSION}: run the jobs of the koitab, as cron does

Usage:
  koid --help       show this help
  koid --version    show the version

Running jobs comes with issue 4.
`;

/**
 * Runs `koid` with the given arguments.
 *
 * @param args The command-line arguments, without the program name.
 * @returns The process exit code.
 */
export function main(args: string[]): number {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP.trimEnd());
    return 0;
  }
  if (args.includes("--version") || args.includes("-V")) {
    console.log(`koid ${VERSION}`);
    return 0;
  }
  console.error("koid: not there yet: running jobs arrives with issue 4 (see --help)");
  return 2;
}

if (import.meta.main) Deno.exit(main(Deno.args));
