/**
 * Who jobs run as: the user named in `$KOI_DIR/user`, or whoever runs koid.
 *
 * @module
 */

import { memberGroups, type UserAccount } from "../users.ts";

/** The user jobs run as, and whether koid must switch to it. */
export interface RunUser {
  readonly name: string;
  readonly home: string;
  readonly uid: number;
  readonly gid: number;
  /** The primary gid and the supplementary groups the group file gives the user. */
  readonly groups: readonly number[];
  /** True when koid runs as root and the jobs' user is someone else. */
  readonly switchUser: boolean;
  /**
   * False when the user has been deleted from the password file since koid took
   * it: its groups are then the ones read then, not looked up by name.
   */
  readonly inPasswd?: boolean;
}

/** The outcome of choosing the run user: the user, and a warning to log if any. */
export interface RunUserChoice {
  readonly user: RunUser;
  readonly warning: string | null;
}

/**
 * Chooses the run user.
 *
 * @param userFile The trimmed text of `$KOI_DIR/user`, or null when there is none.
 * @param accounts The password file's accounts.
 * @param uid The uid koid runs as.
 * @param groupFile The text of `/etc/group`, for the user's supplementary groups.
 * @returns The user, with a warning when jobs would run as root by default.
 * @throws {Error} When the named user does not exist, or koid cannot become it.
 */
export function chooseRunUser(
  userFile: string | null,
  accounts: readonly UserAccount[],
  uid: number,
  groupFile = "",
): RunUserChoice {
  const self = accounts.find((account) => account.uid === uid);
  if (userFile === null || userFile === "") {
    const user = self
      ? {
        name: self.name,
        home: self.home,
        uid,
        gid: self.gid,
        groups: [self.gid, ...memberGroups(groupFile, self.name)],
        switchUser: false,
      }
      : { name: String(uid), home: "/", uid, gid: uid, groups: [uid], switchUser: false };
    const warning = uid === 0
      ? "jobs run as root because $KOI_DIR/user names no user; write a user name there to run them as that user"
      : null;
    return { user, warning };
  }
  const account = accounts.find((a) => a.name === userFile) ??
    (/^[0-9]+$/.test(userFile) ? accounts.find((a) => a.uid === Number(userFile)) : undefined);
  if (!account) throw new Error(`the user "${userFile}" named in $KOI_DIR/user does not exist`);
  if (uid !== 0 && account.uid !== uid) {
    throw new Error(
      `koid runs as ${
        self?.name ?? uid
      } and cannot run jobs as "${account.name}": run koid as root or as ${account.name}`,
    );
  }
  return {
    user: {
      name: account.name,
      home: account.home,
      uid: account.uid,
      gid: account.gid,
      groups: [account.gid, ...memberGroups(groupFile, account.name)],
      switchUser: account.uid !== uid,
    },
    warning: null,
  };
}
