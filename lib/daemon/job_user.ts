/**
 * Who koid's jobs run as, while koid runs. The user is taken from `$KOI_DIR/user`
 * at start or, when the user named there does not exist yet, as soon as it does
 * (runs due before then are recorded as not started, with the fix). Then it is
 * checked each minute: a user deleted from `/etc/passwd`, or a file changed to
 * name another, is logged once, and jobs keep running as the user koid took,
 * as the last good koitab keeps running; only if that user's uid now belongs to
 * someone else are runs refused, rather than run as them.
 *
 * @module
 */

import type { KoiPaths } from "../koidir.ts";
import { chooseRunUser, type RunUser } from "../runs/run_user.ts";
import { readPasswd, type UserAccount } from "../users.ts";

/** What the jobs' user needs from koid and the system. */
export interface JobUserOptions {
  readonly paths: KoiPaths;
  /** The uid koid runs as. */
  readonly uid: number;
  /** koid's log: one line per change of state. */
  readonly log: (line: string) => void;
  /** Called after every change of state (for koid's state file). */
  readonly onChange?: () => void;
  /** The accounts of `/etc/passwd`; read from it by default. */
  readonly readAccounts?: () => Promise<UserAccount[]>;
  /** The text of `/etc/group`; read from it by default. */
  readonly readGroups?: () => Promise<string>;
}

/** The jobs' user and its state. */
export class JobUser {
  readonly #options: JobUserOptions;
  #user: RunUser | null = null;
  /** The user file's text the user was taken from. */
  #named: string | null = null;
  /** Why no run can start now, or null. */
  #refusal: string | null = null;
  /** What is wrong but lets runs go on, or null. */
  #notice: string | null = null;
  /** Whether the user is gone from the password file (its groups are then those read at start). */
  #gone = false;
  #warning: string | null = null;
  #checking: Promise<void> = Promise.resolve();

  /** @param options The paths, koid's uid and log. */
  constructor(options: JobUserOptions) {
    this.#options = options;
  }

  /**
   * Takes the jobs' user at koid's start. A user that does not exist is not an
   * error: runs are refused, and {@linkcode JobUser.check} takes it once it exists.
   *
   * @returns When done.
   * @throws {Error} When the user file cannot be read, names a user koid cannot
   * become, or could be rewritten by someone other than root (koid as root).
   */
  async start(): Promise<void> {
    const named = await this.#readUserFile();
    const accounts = await this.#accounts();
    if (!exists(named, accounts)) {
      this.#set("refusal", missing(named!, this.#options.paths.user));
      return;
    }
    await this.#take(named, accounts);
  }

  /**
   * Checks the user against the user file and `/etc/passwd` (each minute, and
   * when the file changes), and logs a change of state.
   *
   * @returns When done; never throws.
   */
  check(): Promise<void> {
    // One check at a time: the minute, SIGHUP and a file event may ask together.
    this.#checking = this.#checking.then(() => this.#check()).catch(() => {});
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { paths } = this.#options;
    let named: string | null;
    let accounts: UserAccount[];
    try {
      named = await this.#readUserFile();
      accounts = await this.#accounts();
    } catch (error) {
      if (this.#user !== null) {
        this.#set("notice", `cannot check the jobs' user: ${(error as Error).message}`);
      }
      return;
    }
    if (this.#user === null) {
      if (!exists(named, accounts)) {
        this.#set("refusal", missing(named!, paths.user));
        return;
      }
      try {
        await this.#take(named, accounts);
        this.#options.log(
          `the jobs' user is ${this.#user!.name} now: jobs run as ${this.#user!.name}`,
        );
        this.#options.onChange?.();
      } catch (error) {
        this.#set("refusal", `${(error as Error).message}: no job runs until it is fixed`);
      }
      return;
    }
    const user = this.#user;
    const byUid = accounts.find((account) => account.uid === user.uid);
    const byName = accounts.find((account) => account.name === user.name);
    this.#gone = byName === undefined;
    if (byUid !== undefined && byUid.name !== user.name) {
      this.#set(
        "refusal",
        `uid ${user.uid} of the jobs' user "${user.name}" now belongs to "${byUid.name}": runs are refused rather than run as ${byUid.name}; name the jobs' user in ${paths.user} and restart koid`,
      );
    } else if (byName === undefined) {
      this.#set(
        "notice",
        `the jobs' user "${user.name}" is no longer in /etc/passwd: jobs keep running as uid ${user.uid}, gid ${user.gid}, as koid took them at start; if the user is gone for good, name another in ${paths.user} and restart koid`,
      );
    } else if (byName.uid !== user.uid) {
      this.#set(
        "notice",
        `the jobs' user "${user.name}" now has uid ${byName.uid}: jobs keep running as uid ${user.uid} until koid restarts`,
      );
    } else if ((named ?? "") !== (this.#named ?? "")) {
      this.#set(
        "notice",
        `${paths.user} now names ${
          named ? `"${named}"` : "no user"
        }: jobs keep running as ${user.name} until koid restarts`,
      );
    } else {
      this.#set(null, "");
    }
  }

  /** The user, or why no run can start now: what the runner takes at each start. */
  current(): RunUser | string {
    if (this.#refusal !== null) return this.#refusal;
    return this.#gone ? { ...this.#user!, inPasswd: false } : this.#user!;
  }

  /** The user koid took, or null before it could. */
  get user(): RunUser | null {
    return this.#user;
  }

  /** A warning about the user taken (jobs running as root by default), or null. */
  get warning(): string | null {
    return this.#warning;
  }

  /** What is wrong with the jobs' user, in one line with the fix; null when nothing is. */
  get problem(): string | null {
    return this.#refusal ?? this.#notice;
  }

  async #take(named: string | null, accounts: UserAccount[]): Promise<void> {
    const groups = await (this.#options.readGroups?.() ??
      Deno.readTextFile("/etc/group").catch(() => ""));
    const choice = chooseRunUser(named, accounts, this.#options.uid, groups);
    if (choice.user.switchUser) await checkUserFileOwnership(this.#options.paths);
    this.#user = choice.user;
    this.#named = named;
    this.#warning = choice.warning;
    this.#refusal = null;
    this.#notice = null;
  }

  async #readUserFile(): Promise<string | null> {
    try {
      return (await Deno.readTextFile(this.#options.paths.user)).trim() || null;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw new Error(`cannot read ${this.#options.paths.user}: ${(error as Error).message}`);
    }
  }

  async #accounts(): Promise<UserAccount[]> {
    return await (this.#options.readAccounts?.() ?? readPasswd().catch(() => []));
  }

  /** Moves to a state, logging it if it is a change. */
  #set(kind: "refusal" | "notice" | null, line: string): void {
    const before = this.problem;
    this.#refusal = kind === "refusal" ? line : null;
    this.#notice = kind === "notice" ? line : null;
    if (this.problem === before) return;
    if (this.problem !== null) this.#options.log(this.problem);
    else if (this.#user !== null) {
      this.#options.log(`the jobs' user ${this.#user.name} is as koid took it at start again`);
    }
    this.#options.onChange?.();
  }
}

/** Whether the user file names an existing user, or none (koid's own user). */
function exists(named: string | null, accounts: readonly UserAccount[]): boolean {
  return named === null ||
    accounts.some((account) =>
      account.name === named || (/^[0-9]+$/.test(named) && account.uid === Number(named))
    );
}

function missing(named: string, file: string): string {
  return `the user "${named}" named in ${file} does not exist: no job runs until it does (create the user, or name another there; koid checks each minute)`;
}

/**
 * As root, koid lets `$KOI_DIR/user` choose who jobs run as only when no one but root
 * can change that choice: the file and KOI_DIR must be root's and not writable by
 * others, or their owner could name any user, root included.
 *
 * @param paths The `KOI_DIR` paths.
 * @returns When both are root's alone.
 * @throws {Error} Saying which is not, and what to do.
 */
export async function checkUserFileOwnership(paths: KoiPaths): Promise<void> {
  for (const path of [paths.dir, paths.user]) {
    const info = await Deno.stat(path);
    if (info.uid !== 0 || ((info.mode ?? 0) & 0o022) !== 0) {
      throw new Error(
        `as root, koid takes the jobs' user from ${paths.user} only if root owns it and ${paths.dir} and no one else can write them, ` +
          `but ${path} is ${info.uid !== 0 ? `owned by uid ${info.uid}` : "writable by others"}: ` +
          `run koid as the jobs' user instead (User= in its systemd unit), or give ${paths.dir} to root`,
      );
    }
  }
}
