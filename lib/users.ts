/**
 * Users as the password file describes them: name, uid, gid, home and shell. The
 * parsing is pure; {@linkcode readPasswd} is the one read of `/etc/passwd`.
 *
 * @module
 */

/** One account from the password file. */
export interface UserAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/**
 * Parses the text of a password file (`name:x:uid:gid:gecos:home:shell` lines).
 * Comments and malformed lines are skipped.
 *
 * @param text The file's text.
 * @returns The accounts, in file order.
 */
export function parsePasswd(text: string): UserAccount[] {
  const accounts: UserAccount[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length < 7) continue;
    const [name, , uid, gid, , home, shell] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!/^[0-9]+$/.test(uid) || !/^[0-9]+$/.test(gid) || name === "") continue;
    accounts.push({ name, uid: Number(uid), gid: Number(gid), home, shell });
  }
  return accounts;
}

/**
 * Reads `/etc/passwd`.
 *
 * @returns The accounts it lists.
 */
export async function readPasswd(): Promise<UserAccount[]> {
  return parsePasswd(await Deno.readTextFile("/etc/passwd"));
}

/**
 * The groups that list `user` as a member in a group file (`name:x:gid:a,b,c`).
 *
 * @param text The group file's text.
 * @param user The user name.
 * @returns The gids of the groups naming the user, in file order.
 */
export function memberGroups(text: string, user: string): number[] {
  const gids: number[] = [];
  for (const line of text.split("\n")) {
    const [name, , gid, members] = line.split(":");
    if (!name || gid === undefined || !/^[0-9]+$/.test(gid) || members === undefined) continue;
    if (members.split(",").map((m) => m.trim()).includes(user)) gids.push(Number(gid));
  }
  return gids;
}

/**
 * Whether a user may enter (search) a directory, from its owner, group and mode,
 * as the kernel decides for a process that is not root.
 *
 * @param dir The directory's stat.
 * @param uid The user's uid.
 * @param gids The user's primary and supplementary gids.
 * @returns True when the user's execute (search) bit is set.
 */
export function mayEnter(
  dir: Pick<Deno.FileInfo, "uid" | "gid" | "mode" | "isDirectory">,
  uid: number,
  gids: readonly number[],
): boolean {
  if (!dir.isDirectory || dir.mode === null) return false;
  if (uid === 0) return true;
  if (dir.uid === uid) return (dir.mode & 0o100) !== 0;
  if (dir.gid !== null && gids.includes(dir.gid)) return (dir.mode & 0o010) !== 0;
  return (dir.mode & 0o001) !== 0;
}
