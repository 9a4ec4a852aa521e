/**
 * The installed job table: reading it, validating a new one, installing it
 * atomically (the previous one kept as `koitab.bak`), and removing it.
 *
 * @module
 */

import { machineWarningContext } from "../runs/warning_context.ts";
import { writeFileAtomic } from "../files.ts";
import type { KoiPaths } from "../koidir.ts";
import { formatKoitabError, type KoitabJob, parseKoitab } from "../koitab.ts";
import { formatKoitabWarning, koitabWarnings } from "../koitab_warnings.ts";
import { CliError } from "./errors.ts";

/**
 * The installed koitab's bytes, or null when there is none. Bytes, not text, so
 * that a table in another encoding is listed and backed up exactly as written.
 *
 * @param paths Where Koi keeps its files.
 * @returns The bytes.
 */
export async function readTable(paths: KoiPaths): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(paths.koitab);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new CliError(`cannot read ${paths.koitab}: ${(error as Error).message}`);
  }
}

/** A koitab that parsed without errors: its exact bytes and its jobs. */
export interface ValidTable {
  readonly bytes: Uint8Array;
  readonly jobs: KoitabJob[];
}

/**
 * Validates a koitab, printing every error as `koitab line N: …` on stderr.
 *
 * @param bytes The koitab, as read (UTF-8; any other bytes are kept but read as U+FFFD).
 * @param what How to name it in the final line (`"the edited koitab"`).
 * @param consequence What the errors mean for the command (`"nothing was installed"`), or
 * null when they mean nothing more (a check).
 * @returns The parsed table.
 * @throws {CliError} If any line is wrong.
 */
export function validateTable(
  bytes: Uint8Array,
  what: string,
  consequence: string | null = "nothing was installed",
): ValidTable {
  const { jobs, errors } = parseKoitab(new TextDecoder().decode(bytes));
  if (errors.length > 0) {
    for (const error of errors) console.error(formatKoitabError(error));
    const count = errors.length === 1 ? "1 error" : `${errors.length} errors`;
    throw new CliError(`${what} has ${count}${consequence === null ? "" : `; ${consequence}`}`);
  }
  return { bytes, jobs };
}

/**
 * Prints on stderr a warning for each line that is valid but almost surely not
 * what its author meant (`koitab line 3: warning: …`), with the fix. Warnings
 * change nothing: the table installs all the same.
 *
 * @param table The validated table.
 * @param owner Who its jobs run as, for the messages.
 */
export function printWarnings(table: ValidTable, owner: string): void {
  const warnings = koitabWarnings(table.jobs, machineWarningContext(owner));
  for (const warning of warnings) console.error(formatKoitabWarning(warning));
}

/**
 * Installs a validated koitab: the old one, if any, is kept as `koitab.bak`, then
 * the new text replaces it atomically with mode 0600.
 *
 * @param paths Where Koi keeps its files.
 * @param table The validated table.
 * @returns When the new table is in place.
 */
export async function installTable(paths: KoiPaths, table: ValidTable): Promise<void> {
  await ensureDir(paths.dir);
  const old = await readTable(paths);
  try {
    const options = { mode: 0o600, ...await ownerOf(paths.dir) };
    if (old !== null) await writeFileAtomic(paths.backup, old, options);
    await writeFileAtomic(paths.koitab, table.bytes, options);
  } catch (error) {
    throw new CliError(`cannot install ${paths.koitab}: ${(error as Error).message}`);
  }
}

/**
 * Removes the installed koitab, keeping it as `koitab.bak`.
 *
 * @param paths Where Koi keeps its files.
 * @returns False when there was no koitab.
 */
export async function removeTable(paths: KoiPaths): Promise<boolean> {
  const old = await readTable(paths);
  if (old === null) return false;
  try {
    await writeFileAtomic(paths.backup, old, { mode: 0o600, ...await ownerOf(paths.dir) });
    await Deno.remove(paths.koitab);
  } catch (error) {
    throw new CliError(`cannot remove ${paths.koitab}: ${(error as Error).message}`);
  }
  return true;
}

/**
 * Who KOI_DIR's files must belong to when root writes them: the owner of KOI_DIR,
 * whose koid reads and writes them (koitab -u alice, or sudo koitab). Nothing for
 * anyone else, whose files are their own.
 *
 * @param dir KOI_DIR.
 * @returns `{ owner }` for root, to spread into `writeFileAtomic()`'s options; `{}` for others.
 */
export async function ownerOf(dir: string): Promise<{ owner?: { uid: number; gid: number } }> {
  if (Deno.uid() !== 0) return {};
  const info = await Deno.stat(dir);
  return info.uid === null || info.gid === null ? {} : { owner: { uid: info.uid, gid: info.gid } };
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CliError(
      `cannot create ${dir}: ${(error as Error).message} (set KOI_DIR to a directory you own)`,
    );
  }
}
