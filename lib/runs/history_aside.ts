/**
 * Moving a damaged database aside instead of deleting it: `history.db` and the
 * `-wal` and `-shm` files beside it are renamed to `history.db.corrupt-<time>`
 * (the `-wal` may hold the last runs), and found again by that name.
 *
 * @module
 */

/** The files SQLite keeps beside a database in WAL mode, in the order they are moved. */
const SIDE_FILES = ["-wal", "-shm"];

/** A database moved aside. */
export interface MovedAside {
  /** The moved database file (its `-wal` and `-shm`, if any, beside it). */
  readonly path: string;
  /** When it was moved, ms since the epoch (from its name). */
  readonly at: number;
}

/**
 * `20250601T100000Z`: ISO 8601's basic format, to the second, which sorts as
 * time does and needs no quoting in a shell.
 */
function stamp(at: number): string {
  return new Date(at).toISOString().slice(0, 19).replace(/[-:]/g, "") + "Z";
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Renames a database and its side files to `PATH.LABEL-TIME` (a `-2`, `-3`… is
 * added when that name is taken). The database goes first: should a side file
 * fail to move, the error says so and no fresh database may be started at
 * `path`, whose old `-wal` SQLite would otherwise apply to it.
 *
 * @param path The database file.
 * @param at The time for the name, ms since the epoch.
 * @param label What the name says about it: `corrupt` or `orphan`.
 * @returns The new path of the database file.
 * @throws {Error} When a file cannot be renamed (the database's stays where it was).
 *
 * @example
 * ```ts
 * import { findMovedAside, moveAside } from "./history_aside.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/history.db`, "damaged");
 * Deno.writeTextFileSync(`${dir}/history.db-wal`, "last runs");
 * const at = Date.parse("2025-06-01T10:00:00Z");
 * const moved = moveAside(`${dir}/history.db`, at);
 * if (moved !== `${dir}/history.db.corrupt-20250601T100000Z`) throw new Error(moved);
 * if (Deno.readTextFileSync(`${moved}-wal`) !== "last runs") throw new Error("wal");
 * const found = findMovedAside(`${dir}/history.db`);
 * if (found.length !== 1 || found[0]!.at !== at) throw new Error("found");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function moveAside(path: string, at: number, label = "corrupt"): string {
  const base = `${path}.${label}-${stamp(at)}`;
  let target = base;
  for (let n = 2; [target, ...SIDE_FILES.map((s) => target + s)].some(exists); n++) {
    target = `${base}-${n}`;
  }
  if (exists(path)) Deno.renameSync(path, target);
  for (const suffix of SIDE_FILES) {
    if (!exists(path + suffix)) continue;
    try {
      Deno.renameSync(path + suffix, target + suffix);
    } catch (error) {
      throw new Error(
        `moved ${path} to ${target} but not its ${suffix} file: ${(error as Error).message}`,
      );
    }
  }
  return target;
}

/**
 * The databases moved aside from `path` as corrupt, oldest first.
 *
 * @param path The database file.
 * @returns Each moved database and when it was moved; none when the directory cannot be read.
 */
export function findMovedAside(path: string): MovedAside[] {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const name = path.slice(slash + 1);
  const pattern = new RegExp(
    `^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.corrupt-` +
      `(\\d{4})(\\d\\d)(\\d\\d)T(\\d\\d)(\\d\\d)(\\d\\d)Z(-\\d+)?$`,
  );
  const found: MovedAside[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const match = pattern.exec(entry.name);
      if (!match) continue;
      const [, y, mo, d, h, mi, s] = match;
      found.push({
        path: `${dir}/${entry.name}`,
        at: Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`),
      });
    }
  } catch {
    return [];
  }
  return found.sort((a, b) => a.at - b.at || a.path.localeCompare(b.path));
}
