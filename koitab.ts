/**
 * `koitab`: edit, check and install the job table, like crontab(1), with Koi's
 * extras. Run with the permission flags of `deno task koitab` (see deno.json).
 *
 * @module
 */

import { VERSION } from "./lib/version.ts";

const HELP = `koitab ${VERSION}: edit and check Koi's job table (a crontab with extras)

Usage:
  koitab --help       show this help
  koitab --version    show the version

The job table itself (koitab -e, -l, -r, FILE, --check, --next) comes with issue 3.
`;

/**
 * Runs `koitab` with the given arguments.
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
    console.log(`koitab ${VERSION}`);
    return 0;
  }
  console.error("koitab: not there yet: editing the job table arrives with issue 3 (see --help)");
  return 2;
}

if (import.meta.main) Deno.exit(main(Deno.args));
