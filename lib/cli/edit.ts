/**
 * `koitab -e`: edit a copy of the table in the user's editor, then validate and
 * install it; on errors, offer to edit again, as crontab does.
 *
 * @module
 */

import type { KoiPaths } from "../koidir.ts";
import { CliError } from "./errors.ts";
import { askLine } from "./prompt.ts";
import { installTable, printWarnings, readTable, validateTable } from "./table.ts";

/** What `koitab -e` needs from its environment. */
export interface EditOptions {
  /** The editor command line: `$VISUAL`, else `$EDITOR`, else `vi`. May hold arguments. */
  readonly editor: string;
  /** The table owner's name, for `no koitab for USER`. */
  readonly owner: string;
}

/**
 * Runs the edit session.
 *
 * @param paths Where Koi keeps its files.
 * @param options The editor and the owner's name.
 * @returns The exit status: 0 when installed or unchanged.
 * @throws {CliError} When the editor fails, or the edit is invalid and not retried.
 */
export async function editTable(paths: KoiPaths, options: EditOptions): Promise<number> {
  const current = await readTable(paths);
  if (current === null) console.error(`no koitab for ${options.owner} - using an empty one`);
  const dir = await Deno.makeTempDir({ prefix: "koitab." });
  const file = `${dir}/koitab`;
  await Deno.writeFile(file, current ?? new Uint8Array(), { mode: 0o600 });
  const cleanUp = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  while (true) {
    // An mtime still at 0 afterwards means the editor never saved.
    await Deno.utime(file, 0, 0);
    const status = await runEditor(options.editor, file);
    if (!status.success) {
      await cleanUp();
      const how = status.signal === null
        ? `exited with status ${status.code}`
        : `was killed by ${status.signal}`;
      throw new CliError(`"${options.editor}" ${how}; nothing was installed`);
    }
    const info = await Deno.stat(file).catch(() => null);
    if (info === null || !info.isFile) {
      await cleanUp();
      throw new CliError("the edited koitab is no longer a regular file; nothing was installed");
    }
    if ((info.mtime?.getTime() ?? 0) === 0) {
      await cleanUp();
      console.error("koitab: no changes made to koitab");
      return 0;
    }
    const bytes = await Deno.readFile(file);
    try {
      const table = validateTable(bytes, "the edited koitab");
      printWarnings(table, options.owner);
      await installTable(paths, table);
      await cleanUp();
      console.error("koitab: installing new koitab");
      return 0;
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      console.error(`koitab: ${error.message}`);
      if (!Deno.stdin.isTerminal()) {
        throw new CliError(`no terminal to ask about a retry; your edits are in ${file}`);
      }
      if (!await askRetry()) throw new CliError(`edits left in ${file}`);
    }
  }
}

async function askRetry(): Promise<boolean> {
  while (true) {
    const answer = await askLine("Do you want to retry the same edit? (y/n) ");
    if (answer === "y") return true;
    if (answer === "n" || answer === null) return false;
    console.log("Enter Y or N");
  }
}

async function runEditor(editor: string, file: string): Promise<Deno.CommandStatus> {
  try {
    // The editor string may hold arguments, as crontab allows; the file is passed as $1.
    return await new Deno.Command("/bin/sh", {
      args: ["-c", `${editor} "$1"`, "koitab-editor", file],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
  } catch (error) {
    throw new CliError(`cannot start the editor "${editor}": ${(error as Error).message}`);
  }
}
