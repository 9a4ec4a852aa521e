/**
 * Tests for lib/daemon/job_user.ts: the jobs' user while koid runs, over a
 * temporary KOI_DIR and a password file the test edits.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { JobUser } from "../lib/daemon/job_user.ts";
import { koiPaths } from "../lib/koidir.ts";
import type { UserAccount } from "../lib/users.ts";

/** koid "runs as" uid 4242 here, so the user named is taken without switching (no root needed). */
const UID = 4242;

function account(name: string, uid = UID): UserAccount {
  return { name, uid, gid: uid, home: `/home/${name}`, shell: "/bin/sh" };
}

async function withJobUser(
  userFile: string | null,
  fn: (context: {
    jobUser: JobUser;
    accounts: UserAccount[];
    log: string[];
    writeUserFile: (text: string) => Promise<void>;
    file: string;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_user_" });
  const paths = koiPaths(dir);
  if (userFile !== null) await Deno.writeTextFile(paths.user, userFile);
  const accounts: UserAccount[] = [account("alice")];
  const log: string[] = [];
  const jobUser = new JobUser({
    paths,
    uid: UID,
    log: (line) => log.push(line),
    readAccounts: () => Promise.resolve([...accounts]),
    readGroups: () => Promise.resolve(""),
  });
  try {
    await fn({
      jobUser,
      accounts,
      log,
      writeUserFile: (text) => Deno.writeTextFile(paths.user, text),
      file: paths.user,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JobUser: a user deleted from /etc/passwd leaves jobs running as it, said once; back, said once", async () => {
  await withJobUser("alice\n", async ({ jobUser, accounts, log, file }) => {
    await jobUser.start();
    assertEquals(jobUser.problem, null);
    accounts.length = 0;
    await jobUser.check();
    await jobUser.check();
    assertEquals(log, [
      `the jobs' user "alice" is no longer in /etc/passwd: jobs keep running as uid 4242, gid 4242, as koid took them at start; if the user is gone for good, name another in ${file} and restart koid`,
    ]);
    const current = jobUser.current();
    assert(typeof current !== "string" && current.uid === UID, String(current));
    accounts.push(account("alice"));
    await jobUser.check();
    assertEquals(log.at(-1), "the jobs' user alice is as koid took it at start again");
    assertEquals(jobUser.problem, null);
  });
});

Deno.test("JobUser: a uid given to someone else refuses runs rather than run as them", async () => {
  await withJobUser("alice\n", async ({ jobUser, accounts, log, file }) => {
    await jobUser.start();
    accounts.splice(0, 1, account("mallory"));
    await jobUser.check();
    const refusal =
      `uid 4242 of the jobs' user "alice" now belongs to "mallory": runs are refused rather than run as mallory; name the jobs' user in ${file} and restart koid`;
    assertEquals(log, [refusal]);
    assertEquals(jobUser.current(), refusal);
  });
});

Deno.test("JobUser: a user file changed while koid runs is said once; the user koid took stays", async () => {
  await withJobUser("alice\n", async ({ jobUser, accounts, log, writeUserFile, file }) => {
    await jobUser.start();
    accounts.push(account("bob", 4343));
    await writeUserFile("ghost\n");
    await jobUser.check();
    await jobUser.check();
    assertEquals(log, [
      `${file} now names "ghost": jobs keep running as alice until koid restarts`,
    ]);
    assertEquals((jobUser.current() as { name: string }).name, "alice");
  });
});

Deno.test("JobUser: a user that does not exist at start refuses runs until it does, then is taken", async () => {
  await withJobUser("carol\n", async ({ jobUser, accounts, log, file }) => {
    await jobUser.start();
    const refusal =
      `the user "carol" named in ${file} does not exist: no job runs until it does (create the user, or name another there; koid checks each minute)`;
    assertEquals(jobUser.current(), refusal);
    assertEquals(jobUser.user, null);
    await jobUser.check();
    assertEquals(log, [refusal]);
    accounts.push(account("carol"));
    await jobUser.check();
    assertEquals(log.at(-1), "the jobs' user is carol now: jobs run as carol");
    assertEquals((jobUser.current() as { name: string }).name, "carol");
    assertEquals(jobUser.problem, null);
  });
});
