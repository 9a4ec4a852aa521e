/**
 * Writing files so that readers see the old content or the new, never a torn mix:
 * write a temporary file beside the target, flush it, then rename it over.
 *
 * @module
 */

/**
 * Writes all of `bytes` to a file, pipe, terminal or connection, which may take
 * fewer at each write.
 *
 * @param to What to write to.
 * @param bytes What to write.
 * @returns When every byte is written.
 * @throws What the writer throws (a closed pipe, a full disk).
 *
 * @example
 * ```ts
 * import { writeAll } from "./files.ts";
 *
 * const got: number[] = [];
 * const slow = { write: (bytes: Uint8Array) => Promise.resolve(got.push(bytes[0]!) && 1) };
 * await writeAll(slow, new Uint8Array([1, 2, 3]));
 * if (got.join() !== "1,2,3") throw new Error(got.join());
 * ```
 */
export async function writeAll(
  to: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await to.write(bytes.subarray(written));
}

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** The file mode of the new file; 0o600 by default. */
  mode?: number;
  /** Who owns the new file (root writing a user's file); the writer by default. */
  owner?: { uid: number; gid: number };
}

/**
 * Replaces `path` with `data` atomically: a crash leaves either the old file or the
 * new one, whole.
 *
 * @param path The file to write.
 * @param data The new content.
 * @param options The new file's mode and owner.
 * @returns When the new content is in place.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = path.slice(slash + 1);
  const random = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = `${dir}/.${base}.${random}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode ?? 0o600 });
  try {
    await writeAll(file, bytes);
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  file.close();
  try {
    await Deno.chmod(temp, options.mode ?? 0o600);
    if (options.owner) await Deno.chown(temp, options.owner.uid, options.owner.gid);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/** The files SQLite keeps beside a database in WAL mode. */
const SQLITE_SIDE_FILES = ["-wal", "-shm"];

/**
 * Makes a SQLite database file private before it is opened: creates it empty
 * with mode 0600 when it is missing, and sets 0600 on it and on its `-wal` and
 * `-shm` files where they exist (left by an older version). SQLite gives the side
 * files it creates the database file's mode, so they stay 0600 too, whatever
 * the umask.
 *
 * @param path The database file.
 * @returns True when the file was created here (so a failed start can remove it).
 *
 * @example
 * ```ts
 * import { preparePrivateDatabase } from "./files.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * if (!preparePrivateDatabase(`${dir}/store.db`)) throw new Error("not created");
 * if ((Deno.statSync(`${dir}/store.db`).mode! & 0o777) !== 0o600) throw new Error("mode");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function preparePrivateDatabase(path: string): boolean {
  let created = false;
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    created = true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  for (const file of [path, ...SQLITE_SIDE_FILES.map((suffix) => path + suffix)]) {
    try {
      Deno.chmodSync(file, 0o600);
    } catch {
      // Missing, or another user's: tightening what an older version left is best effort.
    }
  }
  return created;
}

/**
 * Removes a SQLite database file and its side files, as a failed start does with
 * a database it created.
 *
 * @param path The database file.
 * @returns When all are gone.
 */
export async function removeDatabase(path: string): Promise<void> {
  for (const file of [path, ...SQLITE_SIDE_FILES.map((suffix) => path + suffix)]) {
    await Deno.remove(file).catch(() => {});
  }
}
