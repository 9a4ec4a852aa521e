/**
 * Tests for lib/daemon/daemon.ts: the loop driven by a fake clock and a runner that
 * only records, over a temporary KOI_DIR. Each test starts `run()`, steps the clock
 * from one wake to the next, and checks exactly which runs were started at each step
 * and what was logged.
 *
 * @module
 */

import { type Clock, wallClock } from "../lib/daemon/clock.ts";
import { koitabWarnings } from "../lib/koitab_warnings.ts";
import { Daemon } from "../lib/daemon/daemon.ts";
import type { RunRequest } from "../lib/daemon/runner.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { type KoiPaths, koiPaths } from "../lib/koidir.ts";
import type { KoitabJob } from "../lib/koitab.ts";
import { assert, assertEquals } from "./_assert.ts";

const MINUTE = 60_000;

/** The instant of `2025-06-01T10:00:30Z`; `HH:MM[:SS]` alone means that time on 2025-06-01. */
function at(text: string): number {
  const time = Date.parse(/^\d\d:\d\d/.test(text) ? `2025-06-01T${text}Z` : text);
  assert(!Number.isNaN(time), `bad instant ${text}`);
  return time;
}

/** `HH:MM` (or `HH:MM:SS` off the minute) of an instant on 2025-06-01, UTC. */
function hhmm(time: number): string {
  const text = new Date(time).toISOString();
  assertEquals(text.slice(0, 10), "2025-06-01", `${text} is not on the test day`);
  return time % MINUTE === 0 ? text.slice(11, 16) : text.slice(11, 19);
}

/** Lets the daemon's loop run until it waits again (no real time passes). */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface Sleep {
  readonly until: number;
  readonly wake: () => void;
}

/**
 * A clock whose time moves only when the test says. `sleepUntil` records the
 * instant asked for and waits until the test wakes it ({@linkcode FakeClock.wake})
 * or the signal aborts.
 */
class FakeClock implements Clock {
  time: number;
  /** Every instant the daemon asked to sleep until, in order. */
  readonly sleeps: number[] = [];
  #sleep: Sleep | null = null;

  constructor(start: number) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleepUntil(until: number, signal: AbortSignal): Promise<void> {
    this.sleeps.push(until);
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        signal.removeEventListener("abort", wake);
        if (this.#sleep === sleep) this.#sleep = null;
        resolve();
      };
      const sleep: Sleep = { until, wake };
      this.#sleep = sleep;
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  /** The instant the daemon is sleeping until, or null when it is not asleep. */
  get sleepingUntil(): number | null {
    return this.#sleep?.until ?? null;
  }

  /** Sets the time to `time` and ends the current sleep (early, on time or late). */
  wake(time: number): void {
    const sleep = this.#sleep;
    assert(sleep !== null, "the daemon is not sleeping");
    this.time = time;
    sleep.wake();
  }
}

/** A started run as the test reads it: `trigger command HH:MM` (`-` without a scheduled time). */
function describe(request: RunRequest): string {
  const when = request.scheduledFor === null ? "-" : hhmm(request.scheduledFor);
  return `${request.trigger} ${request.job.command} ${when}`;
}

/** A daemon over a temporary KOI_DIR, with a fake clock, a recording runner and a log. */
class Harness {
  readonly clock: FakeClock;
  readonly paths: KoiPaths;
  readonly daemon: Daemon;
  readonly log: string[] = [];
  /** Each `startAll` call's requests. */
  readonly batches: RunRequest[][] = [];
  /** Each table handed to `onTable`, as its commands. */
  readonly tables: string[][] = [];
  /** The boot id the daemon is told; null as where the system gives none; an Error to fail. */
  bootId: string | null | Error;
  /** How often the daemon said it made KOI_DIR again. */
  recreated = 0;
  #seen = 0;
  #done: Promise<void> | null = null;
  #finished = false;

  private constructor(dir: string, start: number, bootId: string | null | Error) {
    this.bootId = bootId;
    this.clock = new FakeClock(start);
    this.paths = koiPaths(dir);
    let nextId = 0;
    this.daemon = new Daemon({
      paths: this.paths,
      clock: this.clock,
      runner: {
        startAll: (requests: readonly RunRequest[]) => {
          this.batches.push([...requests]);
          return requests.map(() => `run-${++nextId}`);
        },
      },
      localZone: "UTC",
      log: (line) => this.log.push(line),
      onTable: (jobs: readonly KoitabJob[]) => this.tables.push(jobs.map((job) => job.command)),
      // A machine whose one account is root, and whose commands are those of /usr/bin.
      warnings: (jobs) =>
        koitabWarnings(jobs, {
          isUser: (name) => name === "root",
          isCommand: (name) => name.startsWith("/usr/bin/"),
          owner: "alice",
          defaultPath: "/usr/bin:/bin",
        }),
      bootId: () =>
        this.bootId instanceof Error ? Promise.reject(this.bootId) : Promise.resolve(this.bootId),
      onDirRecreated: () => this.recreated++,
    });
  }

  /**
   * A harness whose koitab holds `koitab` (none when null); the daemon is not started.
   * With `dir`, over that KOI_DIR (as a koid restarted over the same state).
   */
  static async create(
    start: string,
    koitab: string | null,
    options: { dir?: string; bootId?: string | null | Error } = {},
  ): Promise<Harness> {
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "koid_test_" });
    const harness = new Harness(
      dir,
      at(start),
      options.bootId === undefined ? "boot-1" : options.bootId,
    );
    if (koitab !== null) await harness.write(koitab);
    return harness;
  }

  /** Replaces the koitab as `koitab -e` does (a new file renamed over the old). */
  write(text: string): Promise<void> {
    return writeFileAtomic(this.paths.koitab, text);
  }

  /** Starts `run()` and waits until the daemon first sleeps; returns what it started. */
  async start(): Promise<string[]> {
    this.#done = this.daemon.run().finally(() => {
      this.#finished = true;
    });
    await this.#settle();
    return this.started();
  }

  /** What was started since the last call, one string per request. */
  started(): string[] {
    const fresh = this.batches.slice(this.#seen);
    this.#seen = this.batches.length;
    return fresh.flat().map(describe);
  }

  /** Wakes the daemon at the instant it asked for; returns what it started then. */
  step(): Promise<string[]> {
    const until = this.clock.sleepingUntil;
    assert(until !== null, "the daemon is not sleeping");
    return this.wakeAt(until);
  }

  /** Wakes the daemon at `time` (before, at or after the instant it asked for). */
  async wakeAt(time: number): Promise<string[]> {
    this.clock.wake(time);
    await this.#settle();
    return this.started();
  }

  /** Waits until the daemon sleeps again or `run()` has returned. */
  async #settle(): Promise<void> {
    // The start reads and writes $KOI_DIR/last-boot: real file I/O takes a few turns.
    for (let i = 0; i < 500; i++) {
      await tick();
      if (this.clock.sleepingUntil !== null || this.#finished) return;
    }
    throw new Error("the daemon neither slept nor returned");
  }

  /** Whether `run()` has returned. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Stops the daemon, waits for `run()` and removes the directory (unless kept). */
  async close(options: { keepDir?: boolean } = {}): Promise<void> {
    this.daemon.stop();
    if (this.#done !== null) await this.#done;
    if (!options.keepDir) await Deno.remove(this.paths.dir, { recursive: true });
  }
}

/** Runs `body` with a harness, closing it whatever happens. */
async function withDaemon(
  start: string,
  koitab: string | null,
  body: (harness: Harness) => Promise<void>,
): Promise<void> {
  const harness = await Harness.create(start, koitab);
  try {
    await body(harness);
  } finally {
    await harness.close();
  }
}

// ---------------------------------------------------------------------------

Deno.test("Daemon runs @reboot jobs once at start, nothing in the start minute, then each due run", async () => {
  const table = `@reboot boot
* * * * * every
*/2 * * * * even
@manual by-hand
0 11 * * * eleven
@reboot boot-too
`;
  await withDaemon("10:58:30", table, async (h) => {
    assertEquals(await h.start(), ["reboot boot -", "reboot boot-too -"]);
    assertEquals(h.batches.length, 1, "the @reboot jobs start together");
    assertEquals(h.batches[0]!.map((r) => [r.values, r.scheduledFor]), [[{}, null], [{}, null]]);
    assertEquals(h.log, [`loaded ${h.paths.koitab}: 6 job(s)`]);
    assertEquals(h.tables, [["boot", "every", "even", "by-hand", "eleven", "boot-too"]]);
    assertEquals(h.daemon.jobs.length, 6);
    // 10:58 is the start minute: `* * * * *` and `*/2` do not run for it.
    assertEquals(h.clock.sleepingUntil, at("10:59"));
    assertEquals(await h.step(), ["schedule every 10:59"]);
    assertEquals(h.clock.sleepingUntil, at("11:00"));
    assertEquals(await h.step(), [
      "schedule every 11:00",
      "schedule even 11:00",
      "schedule eleven 11:00",
    ]);
    assertEquals(await h.step(), ["schedule every 11:01"]);
    assertEquals(await h.step(), ["schedule every 11:02", "schedule even 11:02"]);
    const last = h.batches.at(-1)!;
    assertEquals(last.map((r) => r.scheduledFor), [at("11:02"), at("11:02")]);
    assertEquals(last.map((r) => r.values), [{}, {}]);
    assertEquals(last.map((r) => r.job.line), [2, 3]);
    assertEquals(h.batches.length, 5, "one startAll per wake with due runs");
    assertEquals(h.log.length, 1, "nothing more logged");
    assertEquals(h.clock.sleeps, [at("10:59"), at("11:00"), at("11:01"), at("11:02"), at("11:03")]);
  });
});

Deno.test("Daemon started exactly on a minute does not run that minute's jobs", async () => {
  await withDaemon("11:00", "* * * * * every\n0 * * * * hourly\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(h.clock.sleepingUntil, at("11:01"));
    assertEquals(await h.step(), ["schedule every 11:01"]);
  });
});

Deno.test("Daemon sleeps until the next due run or the next minute, whichever is first", async () => {
  await withDaemon("10:00:30", "0 12 * * * noon\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(h.clock.sleepingUntil, at("10:01"), "a minute boundary though nothing is due");
    assertEquals(await h.step(), []);
    assertEquals(h.clock.sleepingUntil, at("10:02"));
    // An early wake in the middle of the minute: back to sleep until the same boundary.
    assertEquals(await h.wakeAt(at("10:01:40")), []);
    assertEquals(h.clock.sleepingUntil, at("10:02"));
    assertEquals(h.clock.sleeps, [at("10:01"), at("10:02"), at("10:02")]);
    for (let i = 0; i < 118; i++) assertEquals(await h.step(), []);
    assertEquals(h.clock.sleepingUntil, at("12:00"));
    assertEquals(await h.step(), ["schedule noon 12:00"]);
  });
});

Deno.test("Daemon with no jobs at all still wakes each minute (to check the koitab)", async () => {
  await withDaemon("10:00:30", "@manual by-hand\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), []);
    assertEquals(h.clock.sleeps, [at("10:01"), at("10:02"), at("10:03")]);
  });
});

Deno.test("Daemon applies a koitab change written mid-minute from the next minute, not before", async () => {
  await withDaemon("10:58:10", "* * * * * every\n0 * * * * hourly-old\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:59"]);
    assertEquals(await h.wakeAt(at("10:59:20")), [], "an early wake: nothing due");
    await h.write("* * * * * every\n0 * * * * hourly-new\n@reboot boot-new\n");
    // Woken again within the same minute: the new table is not read yet.
    assertEquals(await h.wakeAt(at("10:59:45")), []);
    assertEquals(h.daemon.jobs.map((job) => job.command), ["every", "hourly-old"]);
    assertEquals(h.log, [`loaded ${h.paths.koitab}: 2 job(s)`]);
    assertEquals(h.clock.sleepingUntil, at("11:00"));
    // 11:00: the jobs due at the boundary come from the new table.
    assertEquals(await h.step(), ["schedule every 11:00", "schedule hourly-new 11:00"]);
    assertEquals(h.log, [
      `loaded ${h.paths.koitab}: 2 job(s)`,
      `reloaded ${h.paths.koitab}: 3 job(s)`,
    ]);
    assertEquals(h.tables, [["every", "hourly-old"], ["every", "hourly-new", "boot-new"]]);
    assertEquals(h.daemon.jobs.map((job) => job.command), ["every", "hourly-new", "boot-new"]);
    assertEquals(await h.step(), ["schedule every 11:01"], "@reboot jobs do not run on a reload");
    assertEquals(h.log.length, 2, "an unchanged file is not read again");
  });
});

Deno.test("Daemon applies a change written just before a boundary at that boundary", async () => {
  await withDaemon("10:00:30", "5 10 * * * at-ten-five\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), []);
    assertEquals(h.clock.sleepingUntil, at("10:03"));
    // Moved from 10:05 to 10:03 while asleep until 10:03; the old 10:05 no longer runs.
    await h.write("3 10 * * * at-ten-three\n");
    assertEquals(await h.step(), ["schedule at-ten-three 10:03"]);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), [], "10:05: the old job is gone");
  });
});

Deno.test("Daemon keeps the last good table when the new one has errors, and says why", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    await h.write("* * * * * replaced\n0 25 * * * bad-hour\n* * * * * * seconds\n");
    assertEquals(await h.step(), ["schedule every 10:02"], "the old job keeps running");
    assertEquals(h.log, [
      `loaded ${h.paths.koitab}: 1 job(s)`,
      'koitab line 2: bad hour "25" (0-23)',
      'koitab line 3: too many fields: cron has five (minute hour day-of-month month day-of-week), with no seconds or year, so "*" would start the command',
      "the koitab has 2 error(s): keeping the last good table (1 jobs)",
    ]);
    assertEquals(h.tables, [["every"]], "onTable is not called for a bad table");
    assertEquals(h.daemon.jobs.map((job) => job.command), ["every"]);
    assertEquals(await h.step(), ["schedule every 10:03"]);
    assertEquals(h.log.length, 4, "the same bad file is reported once");
    await h.write("*/2 * * * * fixed\n");
    assertEquals(await h.step(), ["schedule fixed 10:04"]);
    assertEquals(h.log.at(-1), `reloaded ${h.paths.koitab}: 1 job(s)`);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), ["schedule fixed 10:06"]);
  });
});

Deno.test("Daemon started with a bad koitab runs nothing until it is fixed", async () => {
  await withDaemon("10:00:30", "@reboot boot\n* * * * * every\n61 * * * * bad\n", async (h) => {
    assertEquals(await h.start(), [], "not even @reboot jobs");
    assertEquals(h.log, [
      'koitab line 3: bad minute "61" (0-59)',
      "the koitab has 1 error(s): no jobs run until it is fixed",
    ]);
    assertEquals(h.daemon.jobs, []);
    assertEquals(await h.step(), []);
    await h.write("@reboot boot\n* * * * * every\n");
    assertEquals(await h.step(), ["schedule every 10:02"]);
    assertEquals(h.log.at(-1), `reloaded ${h.paths.koitab}: 2 job(s)`);
  });
});

Deno.test("Daemon.requestReload() re-reads a koitab whose size, mtime and inode did not change", async () => {
  await withDaemon("10:00:30", "* * * * * aaa\n", async (h) => {
    const before = await Deno.stat(h.paths.koitab);
    assertEquals(await h.start(), []);
    // Rewritten in place, same size, mtime put back: invisible to the minute's check.
    await Deno.writeTextFile(h.paths.koitab, "* * * * * bbb\n");
    await Deno.utime(h.paths.koitab, before.atime ?? before.mtime!, before.mtime!);
    const after = await Deno.stat(h.paths.koitab);
    assertEquals(
      [after.size, after.mtime?.getTime(), after.ino],
      [before.size, before.mtime?.getTime(), before.ino],
      "test setup: the file looks unchanged",
    );
    assertEquals(await h.step(), ["schedule aaa 10:01"]);
    assertEquals(h.log.length, 1);
    h.daemon.requestReload();
    assertEquals(await h.wakeAt(at("10:01:30")), [], "a reload applies from the next minute");
    assertEquals(h.daemon.jobs.map((job) => job.command), ["aaa"]);
    assertEquals(await h.step(), ["schedule bbb 10:02"]);
    assertEquals(h.log, [
      `loaded ${h.paths.koitab}: 1 job(s)`,
      `reloaded ${h.paths.koitab}: 1 job(s)`,
    ]);
    assertEquals(await h.step(), ["schedule bbb 10:03"]);
    assertEquals(h.log.length, 2, "one request, one reload");
  });
});

Deno.test("Daemon.requestReload() of an unchanged table does not run a minute twice", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    h.daemon.requestReload();
    assertEquals(await h.step(), ["schedule every 10:02"]);
    assertEquals(await h.step(), ["schedule every 10:03"]);
  });
});

Deno.test("Daemon without a koitab has no jobs and says so, then picks one up when installed", async () => {
  await withDaemon("10:00:30", null, async (h) => {
    const missing = `no koitab at ${h.paths.koitab}: no jobs until one is installed (koitab -e)`;
    assertEquals(await h.start(), []);
    assertEquals(h.log, [missing]);
    assertEquals(h.daemon.jobs, []);
    assertEquals(h.tables, [[]]);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), []);
    assertEquals(h.log, [missing], "said once");
    await h.write("* * * * * every\n@reboot boot\n");
    assertEquals(await h.step(), ["schedule every 10:03"]);
    assertEquals(h.log, [missing, `reloaded ${h.paths.koitab}: 2 job(s)`]);
    await Deno.remove(h.paths.koitab);
    assertEquals(await h.step(), [], "removed: no jobs from the next minute");
    assertEquals(h.log, [missing, `reloaded ${h.paths.koitab}: 2 job(s)`, missing]);
    assertEquals(h.daemon.jobs, []);
    assertEquals(await h.step(), []);
    assertEquals(h.log.length, 3);
  });
});

Deno.test("Daemon holds fixed-time jobs back when the clock goes back 2 hours, and lets wildcard jobs follow", async () => {
  const table = "* * * * * every\n0 * * * * hourly\n30 10 * * * ten-thirty\n";
  await withDaemon("09:58:30", table, async (h) => {
    assertEquals(await h.start(), []);
    const before: string[] = [];
    for (let minute = 0; minute < 122; minute++) before.push(...await h.step());
    assertEquals(h.clock.sleepingUntil, at("12:01"));
    assert(before.includes("schedule ten-thirty 10:30"));
    // The clock is set back to 10:00:30 while koid sleeps: the wildcard jobs of 10:00 run.
    assertEquals(await h.wakeAt(at("10:00:30")), ["schedule every 10:00", "schedule hourly 10:00"]);
    assertEquals(
      h.log.at(-1),
      "the clock went back from 2025-06-01 12:00 UTC to 2025-06-01 10:00 UTC: fixed-time jobs wait until it passes 2025-06-01 12:00 UTC again, wildcard jobs follow it, as cron does",
    );
    assertEquals(h.clock.sleepingUntil, at("10:01"));
    assertEquals(await h.step(), ["schedule every 10:01"]);
    const after: string[] = [];
    for (let minute = 2; minute <= 60; minute++) after.push(...await h.step());
    assertEquals(after.filter((run) => !run.startsWith("schedule every")), [
      "schedule hourly 11:00",
    ]);
    assertEquals(after.length, 60, "every minute from 10:02 to 11:00, and hourly at 11:00");
    assertEquals(h.log.length, 2, "logged once");
  });
});

Deno.test("Daemon starts over when the clock goes back 4 hours: fixed-time jobs run again", async () => {
  const table = "0 * * * * hourly\n30 10 * * * ten-thirty\n";
  await withDaemon("10:28:30", table, async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), []);
    assertEquals(await h.step(), ["schedule ten-thirty 10:30"]);
    // Asleep until 10:31; the clock is set back to 06:29:30 meanwhile.
    assertEquals(h.clock.sleepingUntil, at("10:31"));
    assertEquals(await h.wakeAt(at("06:29:30")), []);
    assertEquals(
      h.log.at(-1),
      "the clock went back from 2025-06-01 10:30 UTC to 2025-06-01 06:29 UTC, more than 3 hours: counting every job's next run from now, as cron does",
    );
    const again: string[] = [];
    while (h.clock.sleepingUntil! <= at("10:30")) again.push(...await h.step());
    assertEquals(again, [
      "schedule hourly 07:00",
      "schedule hourly 08:00",
      "schedule hourly 09:00",
      "schedule hourly 10:00",
      "schedule ten-thirty 10:30",
    ]);
  });
});

Deno.test("Daemon runs only the current minute's jobs when the clock jumps 4 hours forward", async () => {
  const table = "* * * * * every\n0 * * * * hourly\n30 12 * * * lunch\n0 14 * * * two\n";
  await withDaemon("10:00:30", table, async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    // Asleep until 10:02; the clock is set forward to 14:00:30 meanwhile.
    assertEquals(await h.wakeAt(at("14:00:30")), [
      "schedule every 14:00",
      "schedule hourly 14:00",
      "schedule two 14:00",
    ]);
    assertEquals(
      h.log.at(-1),
      "the clock jumped from 2025-06-01 10:01 UTC to 2025-06-01 14:00 UTC, more than 3 hours: missed runs are not replayed, as in cron",
    );
    assertEquals(h.clock.sleepingUntil, at("14:01"));
    assertEquals(await h.step(), ["schedule every 14:01"]);
  });
});

Deno.test("Daemon starts the fixed-time runs missed when the clock moves 2 hours forward", async () => {
  const table = "* * * * * every\n0 * * * * hourly\n30 11 * * * half-eleven\n0 9-17 * * * office\n";
  await withDaemon("10:00:30", table, async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    // Asleep until 10:02; woken at 12:01:10 (the clock set forward, or a suspended machine).
    assertEquals(await h.wakeAt(at("12:01:10")), [
      "schedule office 11:00",
      "schedule half-eleven 11:30",
      "schedule office 12:00",
      "schedule every 12:01",
    ]);
    assertEquals(h.batches.length, 2, "in one startAll");
    assertEquals(
      h.log.at(-1),
      "the clock moved on from 2025-06-01 10:01 UTC to 2025-06-01 12:01 UTC at once (set forward, or the machine slept): starting the fixed-time runs missed in between, not the wildcard ones, as cron does",
    );
    assertEquals(await h.step(), ["schedule every 12:02"]);
  });
});

Deno.test("Daemon ignores the clock going back less than a minute (no minute runs twice)", async () => {
  await withDaemon("11:58:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 11:59"]);
    assertEquals(await h.step(), ["schedule every 12:00"]);
    assertEquals(await h.wakeAt(at("11:59:40")), []);
    assertEquals(h.clock.sleepingUntil, at("12:00"));
    assertEquals(await h.step(), [], "12:00 already ran");
    assertEquals(await h.step(), ["schedule every 12:01"]);
    assertEquals(h.log.length, 1);
  });
});

Deno.test("Daemon woken 3 minutes late starts each missed minute's runs at once", async () => {
  await withDaemon("10:00:30", "* * * * * every\n*/2 * * * * even\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    // Asleep until 10:02; woken at 10:04:10 (a busy machine).
    assertEquals(await h.wakeAt(at("10:04:10")), [
      "schedule every 10:02",
      "schedule even 10:02",
      "schedule every 10:03",
      "schedule every 10:04",
      "schedule even 10:04",
    ]);
    assertEquals(h.batches.length, 2, "in one startAll");
    assertEquals(h.clock.sleepingUntil, at("10:05"));
    assertEquals(await h.step(), ["schedule every 10:05"]);
  });
});

Deno.test("Daemon.stop() ends run() while it sleeps", async () => {
  const h = await Harness.create("10:00:30", "* * * * * every\n");
  try {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    assert(!h.finished);
    h.daemon.stop();
    await tick();
    assert(h.finished, "run() returned");
    assertEquals(h.clock.sleepingUntil, null);
    assertEquals(h.started(), []);
  } finally {
    await h.close();
  }
});

Deno.test("Daemon.stop() before run() makes run() return after the @reboot jobs", async () => {
  const h = await Harness.create("10:00:30", "@reboot boot\n* * * * * every\n");
  try {
    h.daemon.stop();
    assertEquals(await h.start(), ["reboot boot -"]);
    assert(h.finished, "run() returned");
    assertEquals(h.clock.sleeps, [], "it never slept");
  } finally {
    await h.close();
  }
});

Deno.test("Daemon keeps the last good table when a reloaded one has a command too long to run", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    await h.write(`* * * * * echo ${"x".repeat(131_067)}\n`);
    assertEquals(await h.step(), ["schedule every 10:01"], "the old job keeps running");
    assertEquals(h.log.slice(1), [
      "koitab line 1: command too long: 131072 bytes, at most 131071 (the most Linux passes to sh -c as one argument)",
      "the koitab has 1 error(s): keeping the last good table (1 jobs)",
    ]);
  });
});

// @reboot: once per boot of the machine, per KOI_DIR.

/** Starts a daemon over `dir` in boot `bootId`, returns what it started and logged, and stops it. */
async function startOnce(
  dir: string,
  bootId: string | null | Error,
  koitab: string | null = null,
): Promise<{ started: string[]; log: string[] }> {
  const h = await Harness.create("10:00:30", koitab, { dir, bootId });
  try {
    return { started: await h.start(), log: h.log };
  } finally {
    await h.close({ keepDir: true });
  }
}

/** A temporary KOI_DIR holding `koitab`, removed after `fn`. */
async function withKoiDir(koitab: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koid_boot_test_" });
  try {
    await writeFileAtomic(`${dir}/koitab`, koitab);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("@reboot jobs run at koid's first start in a boot, not at a restart in the same boot, and again in a new boot", async () => {
  const table = "@reboot boot\n* * * * * every\n";
  await withKoiDir(table, async (dir) => {
    const paths = koiPaths(dir);
    const loaded = `loaded ${paths.koitab}: 2 job(s)`;
    // A fresh KOI_DIR: its first start runs them, and writes the boot down.
    assertEquals(await startOnce(dir, "boot-A"), { started: ["reboot boot -"], log: [loaded] });
    assertEquals(await Deno.readTextFile(paths.lastBoot), "boot-A\n");
    assertEquals((await Deno.stat(paths.lastBoot)).mode! & 0o777, 0o600);
    // systemctl restart koid, an upgrade: the same boot.
    assertEquals(await startOnce(dir, "boot-A"), {
      started: [],
      log: [
        loaded,
        "@reboot jobs already ran in this boot (boot-A): they run again after a restart",
      ],
    });
    assertEquals(await startOnce(dir, "boot-A"), {
      started: [],
      log: [
        loaded,
        "@reboot jobs already ran in this boot (boot-A): they run again after a restart",
      ],
    });
    // The machine restarted.
    assertEquals(await startOnce(dir, "boot-B"), { started: ["reboot boot -"], log: [loaded] });
    assertEquals(await Deno.readTextFile(paths.lastBoot), "boot-B\n");
    assertEquals(await startOnce(dir, "boot-B"), {
      started: [],
      log: [
        loaded,
        "@reboot jobs already ran in this boot (boot-B): they run again after a restart",
      ],
    });
  });
});

Deno.test("@reboot: each KOI_DIR keeps its own boot; a table without @reboot jobs logs nothing about them", async () => {
  await withKoiDir("@reboot first\n", async (one) => {
    await withKoiDir("@reboot second\n* * * * * every\n", async (two) => {
      assertEquals((await startOnce(one, "boot-A")).started, ["reboot first -"]);
      assertEquals((await startOnce(two, "boot-A")).started, ["reboot second -"]);
      assertEquals((await startOnce(one, "boot-A")).started, []);
      assertEquals((await startOnce(two, "boot-A")).started, []);
    });
  });
  await withKoiDir("* * * * * every\n", async (dir) => {
    const loaded = `loaded ${koiPaths(dir).koitab}: 1 job(s)`;
    assertEquals(await startOnce(dir, "boot-A"), { started: [], log: [loaded] });
    assertEquals(await startOnce(dir, "boot-A"), { started: [], log: [loaded] });
    assertEquals(await startOnce(dir, null), { started: [], log: [loaded] });
  });
});

Deno.test("@reboot: a boot in which the table had no @reboot line still counts; one added later waits for the next boot", async () => {
  await withKoiDir("* * * * * every\n", async (dir) => {
    assertEquals((await startOnce(dir, "boot-A")).started, []);
    await writeFileAtomic(`${dir}/koitab`, "@reboot added\n");
    assertEquals((await startOnce(dir, "boot-A")).started, [], "added during this boot");
    assertEquals((await startOnce(dir, "boot-B")).started, ["reboot added -"]);
  });
  // No koitab at all counts too, as cron's lock file is made with no crontab.
  const dir = await Deno.makeTempDir({ prefix: "koid_boot_test_" });
  try {
    assertEquals(await startOnce(dir, "boot-A"), {
      started: [],
      log: [`no koitab at ${koiPaths(dir).koitab}: no jobs until one is installed (koitab -e)`],
    });
    assertEquals(await Deno.readTextFile(koiPaths(dir).lastBoot), "boot-A\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("@reboot: a table with errors at start does not use up the boot; the start after its fix runs them", async () => {
  await withKoiDir("@reboot boot\n61 * * * * bad\n", async (dir) => {
    const paths = koiPaths(dir);
    assertEquals((await startOnce(dir, "boot-A")).started, []);
    await assertMissing(paths.lastBoot);
    await writeFileAtomic(paths.koitab, "@reboot boot\n");
    assertEquals((await startOnce(dir, "boot-A")).started, ["reboot boot -"]);
    assertEquals((await startOnce(dir, "boot-A")).started, []);
  });
});

Deno.test("@reboot: where the system gives no boot id, they run at every start, and the log says why", async () => {
  await withKoiDir("@reboot boot\n", async (dir) => {
    const expected = {
      started: ["reboot boot -"],
      log: [
        `loaded ${koiPaths(dir).koitab}: 1 job(s)`,
        "cannot tell which boot this is: @reboot jobs run at every start of koid",
      ],
    };
    assertEquals(await startOnce(dir, null), expected);
    assertEquals(await startOnce(dir, null), expected);
    await assertMissing(koiPaths(dir).lastBoot);
  });
});

Deno.test("@reboot: a boot id reader that fails counts as no boot id", async () => {
  await withKoiDir("@reboot boot\n", async (dir) => {
    assertEquals(await startOnce(dir, new Error("sysctl: unknown oid")), {
      started: ["reboot boot -"],
      log: [
        `loaded ${koiPaths(dir).koitab}: 1 job(s)`,
        "cannot tell which boot this is: @reboot jobs run at every start of koid",
      ],
    });
    await assertMissing(koiPaths(dir).lastBoot);
  });
});

/** Fails unless nothing exists at `path`. */
async function assertMissing(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  throw new Error(`${path} exists`);
}

// Faults: none of them may stop a scheduled job from starting on time.

Deno.test("Daemon keeps every job on time through the clock set back an hour, then forward an hour", async () => {
  const table = "* * * * * every\n0 * * * * hourly\n15 10 * * * quarter\n45 10 * * * late\n";
  await withDaemon("10:10:30", table, async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:11"]);
    // Asleep until 10:12; the clock is set back an hour meanwhile.
    assertEquals(await h.wakeAt(at("09:11:40")), ["schedule every 09:11"]);
    const back: string[] = [];
    while (h.clock.sleepingUntil! <= at("10:16")) back.push(...await h.step());
    // Wildcard jobs (a * in the minute or hour) follow the clock: hourly runs at 10:00, which
    // this koid had not seen; the fixed-time job waits and runs once, on time.
    assertEquals(back.filter((run) => !run.startsWith("schedule every")), [
      "schedule hourly 10:00",
      "schedule quarter 10:15",
    ]);
    assertEquals(back.length, 67, "every minute from 09:12 to 10:16, hourly and quarter");
    // Asleep until 10:17; the clock is set forward an hour meanwhile: the fixed-time run
    // missed in between starts, the wildcard ones only for the current minute.
    assertEquals(await h.wakeAt(at("11:17:10")), ["schedule late 10:45", "schedule every 11:17"]);
    assertEquals(await h.step(), ["schedule every 11:18"]);
    assertEquals(h.log.slice(1), [
      "the clock went back from 2025-06-01 10:11 UTC to 2025-06-01 09:11 UTC: fixed-time jobs wait until it passes 2025-06-01 10:11 UTC again, wildcard jobs follow it, as cron does",
      "the clock moved on from 2025-06-01 10:16 UTC to 2025-06-01 11:17 UTC at once (set forward, or the machine slept): starting the fixed-time runs missed in between, not the wildcard ones, as cron does",
    ]);
  });
});

Deno.test("Daemon takes a burst of 100 reload requests as one, and runs on time", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    const fresh = Array.from({ length: 100 }, () => h.daemon.requestReload());
    assertEquals([fresh[0], fresh.slice(1).some((first) => first)], [true, false]);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    assertEquals(await h.step(), ["schedule every 10:02"]);
    assertEquals(h.log, [
      `loaded ${h.paths.koitab}: 1 job(s)`,
      `reloaded ${h.paths.koitab}: 1 job(s)`,
    ]);
    assertEquals(h.daemon.requestReload(), true, "a new request after the reload");
  });
});

Deno.test("Daemon keeps the last table when KOI_DIR is removed, makes it again, and takes the next koitab installed", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    await Deno.remove(h.paths.dir, { recursive: true });
    assertEquals(await h.step(), ["schedule every 10:02"]);
    const line =
      `KOI_DIR ${h.paths.dir} disappeared: koid keeps running the last koitab it read (1 jobs) and makes ${h.paths.dir} again so runs are recorded; install a koitab there (koitab -e) to change the jobs`;
    assertEquals(h.log.slice(1), [line]);
    assertEquals((Deno.statSync(h.paths.dir).mode! & 0o777).toString(8), "700");
    assertEquals(h.recreated, 1);
    assertEquals(h.daemon.problems, [{ area: "koi-dir", since: at("10:02"), line }]);
    assertEquals(await h.step(), ["schedule every 10:03"]);
    assertEquals(h.log.length, 2, "said once");
    await h.write("* * * * * new\n");
    assertEquals(await h.step(), ["schedule new 10:04"]);
    assertEquals(h.daemon.problems, []);
  });
});

Deno.test("Daemon logs a loaded table's warnings after the line saying it loaded it, at most 10", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    assertEquals(h.log, [`loaded ${h.paths.koitab}: 1 job(s)`], "no warning, no line");
    await h.write("0 3 * * * root /usr/bin/backup\n* * * * * every\n5 * * * * date +%Y\n");
    assertEquals(await h.step(), ["schedule every 10:01"], "warnings change nothing");
    assertEquals(h.log.slice(1), [
      `reloaded ${h.paths.koitab}: 3 job(s)`,
      'koitab line 1: warning: "root" is a user, not a command: this line is written for /etc/crontab, with a user column; a koitab\'s jobs run as alice, so remove "root"',
      'koitab line 3: warning: cron ends the command at the first "%" of "date +%Y" (a date format) and sends the rest as its input: write \\% for each literal %',
    ]);
    await h.write("0 3 * * * root /usr/bin/backup\n".repeat(12));
    await h.step();
    const warnings = h.log.filter((line) => line.includes(": warning: "));
    assertEquals(warnings.length, 2 + 10);
    assertEquals(h.log.at(-1), "… and 2 more (koitab --check shows them all)");
  });
});

Deno.test("Daemon keeps the last good table when the koitab becomes garbage, and logs at most 10 of its errors", async () => {
  await withDaemon("10:00:30", "* * * * * every\n", async (h) => {
    assertEquals(await h.start(), []);
    // Bytes of every value but NUL, in lines: thousands of errors.
    let seed = 7;
    const bytes = Uint8Array.from({ length: 64 * 1024 }, (_, i) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return i % 40 === 39 ? 10 : 1 + (seed % 255);
    });
    await writeFileAtomic(h.paths.koitab, bytes);
    assertEquals(await h.step(), ["schedule every 10:01"]);
    const errors = h.log.filter((line) => line.startsWith("koitab line "));
    assertEquals(errors.length, 10);
    assert(/^… and [0-9]+ more \(koitab -l shows them all\)$/.test(h.log.at(-2)!), h.log.at(-2));
    assert(
      /^the koitab has [0-9]+ error\(s\): keeping the last good table \(1 jobs\)$/.test(
        h.log.at(-1)!,
      ),
      h.log.at(-1),
    );
    assertEquals(h.daemon.problems.map((problem) => problem.area), ["koitab"]);
    // Garbage with a NUL byte: one error.
    await writeFileAtomic(h.paths.koitab, new Uint8Array([1, 2, 0, 3, 10]));
    assertEquals(await h.step(), ["schedule every 10:02"]);
    assertEquals(
      h.log.at(-2),
      "koitab line 1: not text: a NUL byte (a koitab is UTF-8 text, not a binary or UTF-16 file)",
    );
    assertEquals(await h.step(), ["schedule every 10:03"]);
  });
});

Deno.test("Daemon idle, its next run hours away, sets exactly one timer a minute, and its minute's checks ride on it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koid_test_" });
  const paths = koiPaths(dir);
  // Due at 15:00 and tomorrow; a boot job and a manual one, which never wake the daemon.
  await writeFileAtomic(
    paths.koitab,
    "0 15 * * * later\n30 9 * * * tomorrow\n@reboot boot\n@manual by-hand\n",
  );
  let time = at("10:00:30");
  /** Each timer the clock set, in ms, and the one running. */
  const timers: number[] = [];
  /** Each timer that ran out, in ms. */
  const fired: number[] = [];
  let pending: { ms: number; fire: () => void } | null = null;
  const clock = wallClock({
    now: () => time,
    wait: (ms, signal) =>
      new Promise<void>((resolve) => {
        timers.push(ms);
        const fire = () => {
          pending = null;
          resolve();
        };
        pending = { ms, fire };
        signal.addEventListener("abort", fire, { once: true });
      }),
  });
  const minutes: string[] = [];
  const started: string[] = [];
  const daemon = new Daemon({
    paths,
    clock,
    runner: {
      startAll: (requests: readonly RunRequest[]) => {
        started.push(...requests.map(describe));
        return requests.map((_, i) => `run-${i}`);
      },
    },
    localZone: "UTC",
    log: () => {},
    bootId: () => Promise.resolve(null),
    onMinute: () => minutes.push(hhmm(time)),
  });
  const done = daemon.run();
  try {
    // Each timer runs out exactly: the time moves on by what it was set for.
    while (!started.some((run) => run.startsWith("schedule"))) {
      for (let i = 0; i < 500 && pending === null; i++) await tick();
      const timer = pending as { ms: number; fire: () => void } | null;
      assert(timer !== null, "the daemon set no timer");
      time += timer.ms;
      fired.push(timer.ms);
      timer.fire();
      await tick();
    }
  } finally {
    daemon.stop();
    await done;
    await Deno.remove(dir, { recursive: true });
  }
  // 10:00:30 to 15:00: a first timer of 30 s to 10:01, then one a minute, none more;
  // the last one set waits for 15:01.
  assertEquals(fired.length, 1 + 4 * 60 + 59);
  assertEquals(fired[0], 30_000);
  assertEquals(fired.slice(1).every((ms) => ms === MINUTE), true);
  assertEquals(timers, [...fired, MINUTE]);
  assertEquals(minutes.length, fired.length);
  assertEquals([minutes[0], minutes.at(-1)], ["10:01", "15:00"]);
  assertEquals(started, ["reboot boot -", "schedule later 15:00"]);
});
