/**
 * The fault-injection suite: koid as a process, each fault of its own files done
 * to it on purpose, and each case asserting that the scheduled job still starts on
 * time and that nothing recorded before the fault is lost unless the fault itself
 * destroyed it.
 *
 * koid runs with libfaketime preloaded, its clock starting 10 s before a minute
 * and running 10 times faster, so that a scheduled run comes in about a second.
 * The cases that need root (a small tmpfs for a full disk, a read-only bind mount,
 * a throwaway user) skip with a message without it, as does the whole suite
 * without libfaketime. A clock stepped back and forward is daemon_test.ts's (the
 * injected clock).
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { FAKETIME_LIBRARY, Koid, withKoid, withKoiDir } from "./_koid.ts";
import { TestDashboard } from "./_dashboard.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { type KoidProblem, writeKoidState } from "../lib/koid_state.ts";
import { koiPaths } from "../lib/koidir.ts";
import { writeDashboardConfig } from "../lib/link/config.ts";
import { base64url, newDashboardId } from "../lib/protocol/keys.ts";
import { History, type RunRecord, type RunStart } from "../lib/runs/history.ts";

const isRoot = Deno.uid() === 0;

/** koid's clock: 10 s before 10:01, ten times faster (a minute lasts 6 s). */
const FAKETIME = "@2025-06-01 10:00:50 x10";

/**
 * A scheduled run starts within this of its minute: 10 fake seconds, one real
 * second, room for a busy test machine.
 */
const ON_TIME_MS = 10_000;

const KOITAB = `HOME=$DIR
"boot" @reboot echo booted
"tick" * * * * * echo tick
`;

/** Skips a case, saying why, when libfaketime is missing. */
function noFaketime(): boolean {
  if (FAKETIME_LIBRARY !== null) return false;
  console.log("skipped: libfaketime is not installed (apt-get install faketime)");
  return true;
}

/** The runs in a history, oldest first, read as `koitab history` reads them. */
function runsIn(path: string): RunRecord[] {
  const history = new History(path, { readOnly: true, check: true });
  try {
    return history.list({ limit: 100_000 }).reverse();
  } finally {
    history.close();
  }
}

/** Asserts a run was scheduled, and started within {@linkcode ON_TIME_MS} of its minute. */
function assertOnTime(run: RunRecord | undefined): void {
  assert(run !== undefined, "no run");
  assertEquals(run.trigger, "schedule");
  assert(run.scheduledFor !== null, "no scheduled time");
  const late = Date.parse(run.startedAt) - Date.parse(run.scheduledFor);
  assert(late >= 0 && late <= ON_TIME_MS, `started ${late} ms after ${run.scheduledFor}`);
}

/** The id of the first scheduled run of "tick" koid logs as started. */
async function tickStarted(koid: Koid): Promise<string> {
  return (await koid.waitFor(/^koid: "tick" started \(run (\S+), schedule, pid/))[1]!;
}

async function ended(koid: Koid, id: string): Promise<void> {
  await koid.waitFor(new RegExp(`^koid: "tick" ended \\(run ${id}\\): exit 0 after`));
}

/** Three runs recorded before the fault, as a koid before this one would have. */
function seed(path: string): void {
  const history = new History(path);
  for (const id of ["old1", "old2", "old3"]) {
    const start: RunStart = {
      id,
      tag: "jold",
      name: "old",
      section: null,
      trigger: "schedule",
      args: {},
      scheduledFor: Date.parse("2025-05-31T09:00:00Z"),
      startedAt: Date.parse("2025-05-31T09:00:00Z"),
    };
    history.recordStarts([start]);
    history.recordEnd(id, "jold", {
      finishedAt: start.startedAt + 1000,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      chunks: [{ stream: "stdout", text: `${id}\n` }],
      outputBytes: 5,
    });
  }
  history.close();
}

const OLD = [["old1", "succeeded"], ["old2", "succeeded"], ["old3", "succeeded"]];

/** `koitab history` in a KOI_DIR: its exit code, and what it said on stderr. */
async function koitabHistory(dir: string): Promise<{ code: number; stderr: string }> {
  const result = await runEntry("koitab", ["history"], { env: { KOI_DIR: dir, TZ: "UTC" } });
  return { code: result.code, stderr: result.stderr };
}

/** Runs a system tool; one that is not installed fails as a tool would, saying so on stderr. */
function run(command: string, args: string[]): { success: boolean; stderr: Uint8Array } {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).outputSync();
  } catch (error) {
    return { success: false, stderr: new TextEncoder().encode((error as Error).message) };
  }
}

/**
 * A tmpfs of `size` mounted on a fresh directory for `fn`, unmounted after; false
 * (and a message) when mounting is not permitted here.
 */
async function withTmpfs(size: string, fn: (mount: string) => Promise<void>): Promise<boolean> {
  if (!isRoot) {
    console.log("skipped: mounting a tmpfs to fill needs root, as CI runs");
    return false;
  }
  const mount = await Deno.makeTempDir({ prefix: "koi_tmpfs_" });
  const mounted = run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", mount]);
  if (!mounted.success) {
    console.log(
      `skipped: cannot mount a tmpfs here (${new TextDecoder().decode(mounted.stderr).trim()})`,
    );
    await Deno.remove(mount);
    return false;
  }
  try {
    await fn(mount);
  } finally {
    if (!run("umount", [mount]).success) run("umount", ["-l", mount]);
    await Deno.remove(mount, { recursive: true });
  }
  return true;
}

/** koid's line for a full disk, whatever SQLite called it ("disk I/O error" for its -shm). */
const FULL = /^koid: cannot write \S+ .*; to fix: free space on the file system holding /;

/**
 * Frees the disk `fill()` filled, waits for koid to record again and stops it;
 * checks it said the disk was full once.
 *
 * @returns The runs recorded.
 */
async function freeSpace(koid: Koid, mount: string, dir: string): Promise<RunRecord[]> {
  await Deno.remove(`${mount}/filler`);
  await koid.waitFor(/^koid: \S+ can be written again: recording resumes/);
  assertEquals((await koid.exit("SIGTERM")).code, 0);
  const said = koid.lines.filter((line) => line.startsWith(`koid: cannot write ${dir}/history.db`));
  assertEquals(said.length, 1, koid.lines.join("\n"));
  return runsIn(`${dir}/history.db`);
}

/** A KOI_DIR with the suite's koitab in `parent`. */
async function koiDirIn(parent: string): Promise<string> {
  const dir = `${parent}/koi`;
  await Deno.mkdir(dir, { mode: 0o700 });
  await Deno.writeTextFile(`${dir}/koitab`, KOITAB.replaceAll("$DIR", dir));
  return dir;
}

/** Fills the file system holding `path` to the last byte, with the file `path`. */
function fill(path: string): void {
  const file = Deno.openSync(path, { write: true, create: true });
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 9, 1]) {
      const chunk = new Uint8Array(size);
      try {
        while (true) file.writeSync(chunk);
      } catch {
        // Full at this size: try smaller pieces.
      }
    }
  } finally {
    file.close();
  }
}

/** Runs one koid under the fake clock for `fn`, which ends it. */
function withFakeKoid(dir: string, fn: (koid: Koid) => Promise<void>): Promise<void> {
  return withKoid(dir, [], fn, { faketime: FAKETIME });
}

// ---------------------------------------------------------------------------
// history.db damaged: moved aside, never deleted.

async function corruptCase(damage: (path: string) => void): Promise<void> {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    const path = `${dir}/history.db`;
    seed(path);
    damage(path);
    const damaged = await Deno.readFile(path);
    await withFakeKoid(dir, async (koid) => {
      const loud = await koid.waitFor(/^koid: (\S+) IS CORRUPT \((.+)\): moved it aside to (\S+) /);
      assertEquals(loud[1], path);
      const aside = loud[3]!;
      const id = await tickStarted(koid);
      await ended(koid, id);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      assertEquals(koid.lines.filter((line) => line.includes("IS CORRUPT")).length, 1);
      // Nothing deleted: the damaged file is there, byte for byte.
      assertEquals(await Deno.readFile(aside), damaged);
      const runs = runsIn(path);
      assertEquals(runs.map((r) => [r.name, r.status]), [["boot", "succeeded"], [
        "tick",
        "succeeded",
      ]]);
      assertOnTime(runs[1]);
      const { code, stderr } = await koitabHistory(dir);
      assertEquals(code, 0);
      assert(
        new RegExp(
          `^koitab: koid found the history corrupt at \\S+ and moved it aside to ${aside}: the runs before then are in it \\(recover them with "sqlite3 ${aside} \\.recover"\\); delete it once you no longer need it\\n$`,
        ).test(stderr),
        stderr,
      );
    });
  });
}

Deno.test("faults: a history.db whose first bytes were overwritten is moved aside, and the next scheduled run is on time", async () => {
  await corruptCase((path) => {
    const file = Deno.openSync(path, { write: true });
    file.writeSync(new TextEncoder().encode("garbage garbage garbage garbage!"));
    file.close();
  });
});

Deno.test("faults: a truncated history.db is moved aside, and the next scheduled run is on time", async () => {
  await corruptCase((path) => {
    const history = new History(path);
    for (let i = 0; i < 100; i++) {
      history.recordStarts([{
        id: `pad${i}`,
        tag: "jpad",
        name: "pad",
        section: null,
        trigger: "cli",
        args: {},
        scheduledFor: null,
        startedAt: i,
      }]);
    }
    history.close();
    const file = Deno.openSync(path, { write: true });
    file.truncateSync(Math.floor(Deno.statSync(path).size / 2));
    file.close();
  });
});

Deno.test("faults: history.db deleted while koid runs is started afresh, and the next scheduled run is on time and recorded", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(`${dir}/history.db${suffix}`);
      const id = await tickStarted(koid);
      await ended(koid, id);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      assertEquals(
        koid.lines.filter((line) => line.includes("was deleted while koid ran")),
        [
          `koid: ${dir}/history.db was deleted while koid ran: starting a fresh one (the runs it held went with it)`,
        ],
      );
      // The boot run went with the deleted file; the tick is in the fresh one.
      const runs = runsIn(`${dir}/history.db`);
      assertEquals(runs.map((r) => [r.id, r.status]), [[id, "succeeded"]]);
      assertOnTime(runs[0]);
    });
  });
});

Deno.test("faults: a read-only history.db means running unrecorded, said once, until it is writable again", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    const path = `${dir}/history.db`;
    seed(path);
    // As root, modes do not stop writes: a read-only bind mount of the file does. (As its
    // owner, koid would make a file of mode 0444 its 0600 again.)
    if (!isRoot) {
      console.log("skipped: a read-only bind mount needs root, as CI runs");
      return;
    }
    if (!run("mount", ["--bind", path, path]).success) {
      console.log("skipped: cannot bind-mount here");
      return;
    }
    if (!run("mount", ["-o", "remount,ro,bind", path]).success) {
      run("umount", [path]);
      console.log("skipped: cannot remount a bind mount read-only here");
      return;
    }
    let readOnly = true;
    const writable = () => {
      if (!readOnly) return;
      readOnly = false;
      run("umount", [path]);
    };
    try {
      await withFakeKoid(dir, async (koid) => {
        await koid.waitFor(/^koid: cannot write \S+ \(attempt to write a readonly database\)/);
        const id = await tickStarted(koid);
        await ended(koid, id);
        const { stderr } = await koitabHistory(dir);
        assert(
          stderr.startsWith(
            `koitab: koid cannot write ${dir}/history.db since 2025-06-01T10:00:5`,
          ) && stderr.includes("(attempt to write a readonly database)"),
          stderr,
        );
        writable();
        await koid.waitFor(/^koid: \S+ can be written again: recording resumes/);
        assertEquals((await koid.exit("SIGTERM")).code, 0);
        assertEquals(koid.lines.filter((line) => line.includes("cannot write")).length, 1);
        const runs = runsIn(path);
        assertEquals(runs.map((r) => [r.id, r.status]).slice(0, 3), OLD);
        assertEquals(runs.slice(3).map((r) => [r.name, r.status]), [["boot", "succeeded"], [
          "tick",
          "succeeded",
        ]]);
        assertOnTime(runs[4]);
      });
    } finally {
      writable();
    }
  });
});

// ---------------------------------------------------------------------------
// A full disk: a small tmpfs, filled.

Deno.test("faults: a disk full at start (history.db there): jobs run on time, unrecorded until space is freed, then recorded", async () => {
  if (noFaketime()) return;
  await withTmpfs("8m", async (mount) => {
    const dir = await koiDirIn(mount);
    seed(`${dir}/history.db`);
    // A koid before: it leaves its state file, which a full disk can still have rewritten.
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
    });
    fill(`${mount}/filler`);
    await withFakeKoid(dir, async (koid) => {
      const id = await tickStarted(koid);
      await ended(koid, id);
      await koid.waitFor(FULL);
      const { stderr } = await koitabHistory(dir);
      assert(
        stderr.includes(`koitab: koid cannot write ${dir}/history.db since `) &&
          stderr.includes(`to fix: free space on the file system holding ${dir}`),
        stderr,
      );
      // The koid before ran "boot" on the real clock, this one "tick" on its fake one (earlier).
      const runs = await freeSpace(koid, mount, dir);
      assertEquals(runs.map((r) => [r.id, r.status]).slice(0, 3), OLD);
      assertEquals(runs.slice(3).map((r) => [r.name, r.status]), [["tick", "succeeded"], [
        "boot",
        "succeeded",
      ]]);
      assertOnTime(runs[3]);
    });
  });
});

Deno.test("faults: a disk full before koid ever started: no crash, jobs run on time, recorded once space is freed", async () => {
  if (noFaketime()) return;
  await withTmpfs("4m", async (mount) => {
    const dir = await koiDirIn(mount);
    fill(`${mount}/filler`);
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(FULL);
      const id = await tickStarted(koid);
      await ended(koid, id);
      const runs = await freeSpace(koid, mount, dir);
      assertEquals(runs.map((r) => [r.name, r.status]), [["boot", "succeeded"], [
        "tick",
        "succeeded",
      ]]);
      assertOnTime(runs[1]);
    });
  });
});

Deno.test("faults: a disk that fills while koid runs: the next run is on time, said once, recorded when space is back", async () => {
  if (noFaketime()) return;
  await withTmpfs("8m", async (mount) => {
    const dir = await koiDirIn(mount);
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      fill(`${mount}/filler`);
      const id = await tickStarted(koid);
      await ended(koid, id);
      await koid.waitFor(FULL);
      const runs = await freeSpace(koid, mount, dir);
      assertEquals(runs.map((r) => [r.name, r.status]), [["boot", "succeeded"], [
        "tick",
        "succeeded",
      ]]);
      assertOnTime(runs[1]);
    });
  });
});

// ---------------------------------------------------------------------------
// koid killed hard, again and again, while it writes.

Deno.test("faults: koid killed with SIGKILL during writes 50 times in a row: the history always opens, every run recorded or marked interrupted", async () => {
  const jobs = Array.from({ length: 10 }, (_, i) => `"j${i}" @reboot echo ${i}`).join("\n");
  await withKoiDir(`HOME=$DIR\n${jobs}\n`, async (dir) => {
    const started = new Set<string>();
    const finished = new Set<string>();
    const collect = (koid: Koid) => {
      for (const line of koid.lines) {
        const start = /^koid: "j\d+" started \(run (\S+),/.exec(line);
        if (start) started.add(start[1]!);
        const end = /^koid: "j\d+" ended \(run (\S+)\): exit 0/.exec(line);
        if (end) finished.add(end[1]!);
      }
    };
    for (let kill = 0; kill < 50; kill++) {
      // @reboot jobs run again only in a new boot: forgetting the last one makes each start one.
      await Deno.remove(`${dir}/last-boot`).catch(() => {});
      const koid = new Koid(dir);
      try {
        await koid.waitFor(/^koid: "j\d+" started /);
        // A random moment among the 10 starts, ends and their writes.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 80));
      } finally {
        await koid.exit("SIGKILL");
      }
      collect(koid);
    }
    await Deno.remove(`${dir}/last-boot`).catch(() => {});
    await withKoid(dir, [], async (koid) => {
      await koid.waitForCount(/^koid: "j\d+" ended /, 10);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      collect(koid);
    });
    assert(started.size >= 10 && finished.size >= 10, `${started.size} ${finished.size}`);
    // Opens, and passes SQLite's quick check.
    const runs = new Map(runsIn(`${dir}/history.db`).map((r) => [r.id, r]));
    for (const id of finished) assertEquals(runs.get(id)?.status, "succeeded", `run ${id}`);
    for (const id of started) {
      const status = runs.get(id)?.status;
      assert(status === "succeeded" || status === "interrupted", `run ${id}: ${status}`);
    }
    assertEquals([...runs.values()].filter((r) => r.status === "running"), []);
    // The kills did land while runs were going, not only before or after them.
    const interrupted = [...runs.values()].filter((r) => r.status === "interrupted").length;
    console.log(`${started.size} runs started, ${finished.size} ended, ${interrupted} interrupted`);
    assert(interrupted > 0, "no kill landed during a run");
  });
});

// ---------------------------------------------------------------------------
// The koitab, KOI_DIR, the link files and the jobs' user.

Deno.test("faults: a koitab swapped for binary garbage while koid runs: the last good table runs on time", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      await writeFileAtomic(`${dir}/koitab`, crypto.getRandomValues(new Uint8Array(65536)));
      const id = await tickStarted(koid);
      await ended(koid, id);
      await koid.waitFor(
        /^koid: the koitab has \d+ error\(s\): keeping the last good table \(2 jobs\)$/,
      );
      const { stderr } = await koitabHistory(dir);
      assert(
        /^koitab: the koitab has \d+ error\(s\): keeping the last good table \(2 jobs\); fix it with koitab -e\n$/
          .test(stderr),
        stderr,
      );
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const runs = runsIn(`${dir}/history.db`);
      assertEquals(runs.map((r) => r.name), ["boot", "tick"]);
      assertOnTime(runs[1]);
    });
  });
});

Deno.test("faults: KOI_DIR removed while koid runs: made again, the last table runs on time and is recorded there", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      await Deno.remove(dir, { recursive: true });
      const id = await tickStarted(koid);
      await ended(koid, id);
      assert(
        koid.lines.includes(
          `koid: KOI_DIR ${dir} disappeared: koid keeps running the last koitab it read (2 jobs) and makes ${dir} again so runs are recorded; install a koitab there (koitab -e) to change the jobs`,
        ),
        koid.lines.join("\n"),
      );
      assertEquals((Deno.statSync(dir).mode! & 0o777).toString(8), "700");
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const runs = runsIn(`${dir}/history.db`);
      assertEquals(runs.map((r) => [r.id, r.status]), [[id, "succeeded"]]);
      assertOnTime(runs[0]);
    });
  });
});

Deno.test("faults: link files turned to garbage while koid runs: said once, and the next run is on time", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      await writeFileAtomic(`${dir}/dashboard.json`, "\u0000{not json");
      await writeFileAtomic(`${dir}/apikey`, "\u00ff\u00fe");
      await koid.waitFor(/^koid: dashboard: cannot use the dashboard link: /);
      const id = await tickStarted(koid);
      await ended(koid, id);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      assertEquals(
        koid.lines.filter((line) => line.includes("cannot use the dashboard")).length,
        1,
      );
      const runs = runsIn(`${dir}/history.db`);
      assertEquals(runs.map((r) => [r.name, r.status]), [["boot", "succeeded"], [
        "tick",
        "succeeded",
      ]]);
      assertOnTime(runs[1]);
    });
  });
});

Deno.test("faults: a burst of 100 SIGHUPs is one reload, said once; the next run is on time", async () => {
  if (noFaketime()) return;
  await withKoiDir(KOITAB, async (dir) => {
    await withFakeKoid(dir, async (koid) => {
      await koid.waitFor(/^koid: "boot" ended /);
      for (let i = 0; i < 100; i++) koid.child.kill("SIGHUP");
      const id = await tickStarted(koid);
      await ended(koid, id);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const said = koid.lines.filter((line) => line.startsWith("koid: SIGHUP"));
      // All before the minute: one reload; a few may land after it, asking for the next.
      assert(said.length >= 1 && said.length <= 2, said.join("\n"));
      const runs = runsIn(`${dir}/history.db`);
      assertEquals(runs.map((r) => [r.name, r.status]), [["boot", "succeeded"], [
        "tick",
        "succeeded",
      ]]);
      assertOnTime(runs[1]);
    });
  });
});

Deno.test("faults: the jobs' user deleted from /etc/passwd while koid runs: said once, jobs run on as its uid, on time", async () => {
  if (noFaketime()) return;
  if (!isRoot) {
    console.log("skipped: creating and deleting a user needs root, as CI runs");
    return;
  }
  const name = `koitest${crypto.getRandomValues(new Uint32Array(1))[0]! % 100000}`;
  const home = await Deno.makeTempDir({ prefix: "koi_home_" });
  const added = run("useradd", ["-M", "-d", home, "-s", "/bin/sh", name]);
  if (!added.success) {
    console.log(`skipped: useradd failed (${new TextDecoder().decode(added.stderr).trim()})`);
    await Deno.remove(home);
    return;
  }
  try {
    const uid = Number(
      new TextDecoder().decode(new Deno.Command("id", { args: ["-u", name] }).outputSync().stdout)
        .trim(),
    );
    await Deno.chown(home, uid, null);
    await withKoiDir(
      `HOME=${home}\n"boot" @reboot id -u\n"tick" * * * * * id -u\n`,
      async (dir) => {
        await Deno.writeTextFile(`${dir}/user`, `${name}\n`);
        await withFakeKoid(dir, async (koid) => {
          await koid.waitFor(
            new RegExp(`^koid: koid .* started \\(pid \\d+\\), jobs run as ${name}$`),
          );
          await koid.waitFor(/^koid: "boot" ended /);
          assert(run("userdel", [name]).success, "userdel");
          koid.child.kill("SIGHUP");
          await koid.waitFor(/is no longer in \/etc\/passwd: jobs keep running as uid/);
          const id = await tickStarted(koid);
          await ended(koid, id);
          koid.child.kill("SIGHUP");
          assertEquals((await koid.exit("SIGTERM")).code, 0);
          assertEquals(
            koid.lines.filter((line) => line.includes("is no longer in /etc/passwd")),
            [
              `koid: the jobs' user "${name}" is no longer in /etc/passwd: jobs keep running as uid ${uid}, gid ${uid}, as koid took them at start; if the user is gone for good, name another in ${dir}/user and restart koid`,
            ],
          );
          const [boot, tick] = runsIn(`${dir}/history.db`);
          assertEquals([boot!.status, boot!.output], ["succeeded", `${uid}\n`]);
          assertEquals([tick!.status, tick!.output], ["succeeded", `${uid}\n`]);
          assertOnTime(tick);
        });
      },
    );
  } finally {
    run("userdel", [name]);
    run("groupdel", [name]);
    await Deno.remove(home, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// What koitab says of it.

Deno.test("faults: koitab history and koitab -d say what koid works around, one line each; nothing once koid stopped", async () => {
  const dashboard = await TestDashboard.start();
  const dir = await Deno.makeTempDir({ prefix: "koi_state_" });
  try {
    const paths = koiPaths(dir);
    const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
    const keys = { id: newDashboardId(), apiKey: key(), runKey: key(), dataKey: key() };
    await dashboard.create(keys);
    await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
    const now = Date.now();
    const problems: KoidProblem[] = [
      { area: "history", since: now - 1000, line: "koid cannot write history.db: fix it" },
      { area: "manual", since: now - 1000, until: now + 60_000, line: "manual runs refused" },
      { area: "manual", since: now - 700_000, until: now - 1000, line: "over, not shown" },
    ];
    await writeKoidState(paths.koidState, { pid: 1, at: now, running: true, problems });
    const history = await runEntry("koitab", ["history"], { env: { KOI_DIR: dir } });
    assertEquals(history, {
      code: 0,
      stdout: "no runs recorded\n",
      stderr: "koitab: koid cannot write history.db: fix it\nkoitab: manual runs refused\n",
    });
    const status = await runEntry("koitab", ["-d"], { env: { KOI_DIR: dir } });
    assertEquals(status.code, 0);
    assertEquals(
      status.stdout.split("\n").filter((line) => line.startsWith("koid ")),
      ["koid       koid cannot write history.db: fix it", "koid       manual runs refused"],
    );
    await writeKoidState(paths.koidState, { pid: 1, at: now, running: false, problems });
    assertEquals((await runEntry("koitab", ["history"], { env: { KOI_DIR: dir } })).stderr, "");
  } finally {
    await dashboard.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faults: koitab history on a corrupt history.db says so and what koid does about it", async () => {
  await withKoiDir(null, async (dir) => {
    await Deno.writeTextFile(
      `${dir}/history.db`,
      "not a database, but long enough to be read as one",
    );
    assertEquals(await runEntry("koitab", ["history"], { env: { KOI_DIR: dir } }), {
      code: 1,
      stdout: "",
      stderr:
        `koitab: ${dir}/history.db is corrupt (file is not a database): koid moves it aside (nothing is deleted) and starts a fresh one when it next opens or writes it; restart koid to have it done now\n`,
    });
  });
});

Deno.test("faults: the suite's own check: a scheduled run that is late fails assertOnTime", () => {
  const late: RunRecord = {
    ...runRecord(),
    scheduledFor: "2025-06-01T10:01:00.000Z",
    startedAt: "2025-06-01T10:01:12.000Z",
  };
  let failed = false;
  try {
    assertOnTime(late);
  } catch {
    failed = true;
  }
  assert(failed, "a run 12 s late passed");
  assertOnTime({ ...late, startedAt: "2025-06-01T10:01:00.300Z" });
});

function runRecord(): RunRecord {
  return {
    id: "r",
    tag: "t",
    name: "tick",
    section: null,
    trigger: "schedule",
    args: {},
    scheduledFor: null,
    startedAt: "",
    finishedAt: null,
    durationMs: null,
    exitCode: 0,
    signal: null,
    status: "succeeded",
    error: null,
    output: "",
    chunks: [],
    outputBytes: 0,
  };
}
