/**
 * What the koitab warnings (`koitabWarnings()`) need to know of this
 * machine: its accounts, from `/etc/passwd`, and whether a word is a command on a
 * job's PATH. Shared by `koitab`, which prints the warnings when a table is
 * installed or checked, and koid, which logs them when it loads a table put in
 * place by other means.
 *
 * @module
 */

import { CRON_PATH } from "./environment.ts";
import type { WarningContext } from "../koitab_warnings.ts";
import { parsePasswd } from "../users.ts";

/**
 * The warnings' context on this machine, its accounts read once now. Without a
 * readable `/etc/passwd`, the one account taken for granted is `root`.
 *
 * @param owner Who the table's jobs run as, for the messages.
 * @returns The context.
 */
export function machineWarningContext(owner: string): WarningContext {
  let users: Set<string>;
  try {
    users = new Set(parsePasswd(Deno.readTextFileSync("/etc/passwd")).map((user) => user.name));
  } catch {
    users = new Set(["root"]);
  }
  return { isUser: (name) => users.has(name), isCommand, owner, defaultPath: CRON_PATH };
}

/** Whether `name` is an executable file in a directory of `path`, as `sh` would find it. */
function isCommand(name: string, path: string): boolean {
  if (name.includes("/")) return true;
  return path.split(":").some((dir) => {
    try {
      const info = Deno.statSync(`${dir || "."}/${name}`);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}
