/**
 * What went wrong with a SQLite store, in the few kinds koid acts on differently:
 * a corrupt file is moved aside, every other fault means running without
 * recording and trying again. Pure: errors in, a kind and a fix out.
 *
 * @module
 */

/**
 * The kind of a store fault:
 * - `corrupt`: not a database, or a damaged one (SQLITE_NOTADB, SQLITE_CORRUPT, a failed check).
 * - `full`: no room on the file system (SQLITE_FULL, ENOSPC, EDQUOT).
 * - `read-only`: a read-only file system or file (SQLITE_READONLY, EROFS).
 * - `denied`: the file or its directory may not be written by this user (SQLITE_PERM, EACCES).
 * - `missing`: the directory is gone (ENOENT, SQLITE_CANTOPEN).
 * - `io`: the disk failed a read or write (SQLITE_IOERR, EIO).
 * - `busy`: another process holds the database locked (SQLITE_BUSY, SQLITE_LOCKED).
 * - `other`: anything else.
 */
export type StoreFaultKind =
  | "corrupt"
  | "full"
  | "read-only"
  | "denied"
  | "missing"
  | "io"
  | "busy"
  | "other";

/** A classified store error. */
export interface StoreFault {
  readonly kind: StoreFaultKind;
  /** The error's message, as SQLite or the system said it. */
  readonly message: string;
}

/** A database found damaged by a check SQLite itself does not fail on (`PRAGMA quick_check`). */
export class CorruptDatabaseError extends Error {
  /** @param message What the check found. */
  constructor(message: string) {
    super(message);
    this.name = "CorruptDatabaseError";
  }
}

/** SQLite's primary result codes (the low byte of an extended code). */
const SQLITE_CODES: Record<number, StoreFaultKind> = {
  3: "denied", // SQLITE_PERM
  5: "busy", // SQLITE_BUSY
  6: "busy", // SQLITE_LOCKED
  8: "read-only", // SQLITE_READONLY
  10: "io", // SQLITE_IOERR
  11: "corrupt", // SQLITE_CORRUPT
  13: "full", // SQLITE_FULL
  14: "missing", // SQLITE_CANTOPEN
  23: "denied", // SQLITE_AUTH
  26: "corrupt", // SQLITE_NOTADB
};

/**
 * SQLite's messages for those codes (`sqlite3_errstr`), and the system's, for the
 * errors `node:sqlite` raises without a code (those of `exec`) and Deno's file errors.
 */
const MESSAGES: [RegExp, StoreFaultKind][] = [
  [/file is not a database|database disk image is malformed/i, "corrupt"],
  [
    /database or disk is full|no space left on device|disk quota exceeded|os error (28|122)\b/i,
    "full",
  ],
  [/readonly database|read-only file system|os error 30\b/i, "read-only"],
  [/access permission denied|permission denied|os error (1|13)\b/i, "denied"],
  [/unable to open database file|no such file or directory|os error 2\b/i, "missing"],
  [/disk i\/o error|input\/output error|os error 5\b/i, "io"],
  [/database is locked|database table is locked/i, "busy"],
];

/**
 * Classifies an error from `node:sqlite` or from the file system.
 *
 * @param error What was thrown.
 * @returns Its kind and message.
 *
 * @example Codes first, then messages
 * ```ts
 * import { classifyStoreError } from "./store_fault.ts";
 *
 * const full = Object.assign(new Error("database or disk is full"), { errcode: 13 });
 * if (classifyStoreError(full).kind !== "full") throw new Error("full");
 * if (classifyStoreError(new Error("file is not a database")).kind !== "corrupt") {
 *   throw new Error("corrupt");
 * }
 * ```
 */
export function classifyStoreError(error: unknown): StoreFault {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof CorruptDatabaseError) return { kind: "corrupt", message };
  const code = (error as { errcode?: unknown } | null)?.errcode;
  if (typeof code === "number") {
    const kind = SQLITE_CODES[code & 0xff];
    if (kind !== undefined) return { kind, message };
  }
  if (error instanceof Deno.errors.PermissionDenied) return { kind: "denied", message };
  if (error instanceof Deno.errors.NotFound) return { kind: "missing", message };
  for (const [pattern, kind] of MESSAGES) {
    if (pattern.test(message)) return { kind, message };
  }
  return { kind: "other", message };
}

/**
 * What to do about a fault, in a few words for a log line or `koitab history`.
 *
 * @param kind The fault's kind.
 * @param dir The directory holding the store (`KOI_DIR`).
 * @param uid The uid koid runs as.
 * @returns The fix, starting with a verb.
 *
 * @example
 * ```ts
 * import { faultFix } from "./store_fault.ts";
 *
 * if (!faultFix("full", "/var/lib/koi", 0).startsWith("free space")) throw new Error("fix");
 * ```
 */
export function faultFix(kind: StoreFaultKind, dir: string, uid: number | null): string {
  switch (kind) {
    case "corrupt":
      return `nothing to do: koid moves a corrupt history.db aside (nothing is deleted) and starts a fresh one`;
    case "full":
      return `free space on the file system holding ${dir}`;
    case "read-only":
      return `make ${dir} and the files in it writable again (a file system mounted read-only, or a file mode)`;
    case "denied":
      return `let uid ${uid ?? "of koid"} write ${dir} and the files in it (chown or chmod)`;
    case "missing":
      return `make sure ${dir} exists and uid ${uid ?? "of koid"} may write in it`;
    case "io":
      return `check the disk holding ${dir} (dmesg shows the errors)`;
    case "busy":
      return `close what holds ${dir}/history.db locked (a sqlite3 shell, a backup tool)`;
    case "other":
      return `see the message; koid keeps trying`;
  }
}
