/**
 * Tests for lib/daemon/scheduler.ts, driven by explicit instants: which runs come
 * due when over whole days, in koitab order, cron's rules for waking late and for the
 * clock moving forward or back (by up to 3 hours, and by more), daylight-saving days
 * in two zones and the day Samoa skipped, replacing the table mid-day, and a
 * 10,000-job table checked minute by minute against a brute-force matcher. Every
 * instant is written out in UTC.
 *
 * @module
 */

import { type DueRun, Scheduler } from "../lib/daemon/scheduler.ts";
import { type KoitabJob, parseKoitab } from "../lib/koitab.ts";
import { assert, assertEquals } from "./_assert.ts";

const MINUTE = 60_000;

/** The jobs of a koitab that must have no errors. */
function jobsOf(text: string): KoitabJob[] {
  const { jobs, errors } = parseKoitab(text);
  assertEquals(errors, [], "koitab errors");
  return jobs;
}

/** `2025-06-01T09:15Z` for an instant on a whole minute. */
function iso(time: number): string {
  assertEquals(time % MINUTE, 0, `${new Date(time).toISOString()} is not on a whole minute`);
  return new Date(time).toISOString().slice(0, 16) + "Z";
}

/** The instant of `2025-06-01T09:15Z` (or with seconds and milliseconds). */
function at(text: string): number {
  const time = Date.parse(text);
  assert(!Number.isNaN(time), `bad instant ${text}`);
  return time;
}

/** A run as `2025-06-01T09:15Z command`. */
function show(run: DueRun): string {
  return `${iso(run.scheduledFor)} ${run.job.command}`;
}

/**
 * Steps the scheduler to each `nextDue()` before `until`, taking what is due there;
 * checks that nothing is due a millisecond earlier and that every run taken is for
 * that instant.
 */
function drive(scheduler: Scheduler, until: number): string[] {
  const fired: string[] = [];
  for (let due = scheduler.nextDue(); due !== null && due < until; due = scheduler.nextDue()) {
    assertEquals(scheduler.takeDue(due - 1), [], `runs a millisecond before ${iso(due)}`);
    const runs = scheduler.takeDue(due);
    assert(runs.length > 0, `nextDue() said ${iso(due)} but takeDue() found nothing`);
    for (const run of runs) {
      assertEquals(run.scheduledFor, due, `a run taken at ${iso(due)}`);
      fired.push(show(run));
    }
  }
  return fired;
}

/** The fire times of each job (by command) between `from` (exclusive) and `until`. */
function firesByJob(
  text: string,
  localZone: string,
  from: number,
  until: number,
): Record<string, string[]> {
  const jobs = jobsOf(text);
  const scheduler = new Scheduler(jobs, localZone, from);
  const byJob: Record<string, string[]> = {};
  for (const job of jobs) byJob[job.command] = [];
  for (const fire of drive(scheduler, until)) {
    const [time, command] = fire.split(" ") as [string, string];
    byJob[command]!.push(time);
  }
  return byJob;
}

/** `count` consecutive hourly instants from `first`, as {@linkcode iso} strings. */
function hourly(first: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => iso(at(first) + i * 60 * MINUTE));
}

// ---------------------------------------------------------------------------
// A whole day

const DAY_TABLE = `# a small table
*/15 9-10 * * * quarter
0 12 * * * noon
@manual by-hand
30 23 * * * late
@reboot at-boot
`;

Deno.test("Scheduler fires a small table at exactly its times across a whole day (UTC)", () => {
  const scheduler = new Scheduler(jobsOf(DAY_TABLE), "UTC", at("2025-06-01T00:00Z"));
  assertEquals(scheduler.size, 3, "only the three time-scheduled jobs are in the heap");
  assertEquals(scheduler.nextDue(), at("2025-06-01T09:00Z"));
  assertEquals(drive(scheduler, at("2025-06-02T00:00Z")), [
    "2025-06-01T09:00Z quarter",
    "2025-06-01T09:15Z quarter",
    "2025-06-01T09:30Z quarter",
    "2025-06-01T09:45Z quarter",
    "2025-06-01T10:00Z quarter",
    "2025-06-01T10:15Z quarter",
    "2025-06-01T10:30Z quarter",
    "2025-06-01T10:45Z quarter",
    "2025-06-01T12:00Z noon",
    "2025-06-01T23:30Z late",
  ]);
  assertEquals(scheduler.nextDue(), at("2025-06-02T09:00Z"), "the next day starts over");
  assertEquals(scheduler.size, 3);
});

Deno.test("Scheduler reads jobs without CRON_TZ in the local zone it is given", () => {
  // Asia/Tokyo is UTC+9 all year: 09:00 there is 00:00 UTC.
  const scheduler = new Scheduler(jobsOf(DAY_TABLE), "Asia/Tokyo", at("2025-05-31T15:00Z"));
  assertEquals(drive(scheduler, at("2025-06-01T15:00Z")), [
    "2025-06-01T00:00Z quarter",
    "2025-06-01T00:15Z quarter",
    "2025-06-01T00:30Z quarter",
    "2025-06-01T00:45Z quarter",
    "2025-06-01T01:00Z quarter",
    "2025-06-01T01:15Z quarter",
    "2025-06-01T01:30Z quarter",
    "2025-06-01T01:45Z quarter",
    "2025-06-01T03:00Z noon",
    "2025-06-01T14:30Z late",
  ]);
});

Deno.test("Scheduler never schedules @manual, @reboot or impossible jobs", () => {
  const scheduler = new Scheduler(
    jobsOf("@manual a\n@reboot b\n0 0 30 2 * never\n@manual {{x, int, 1}} c\n"),
    "UTC",
    at("2025-06-01T00:00Z"),
  );
  assertEquals(scheduler.size, 0);
  assertEquals(scheduler.nextDue(), null);
  assertEquals(scheduler.takeDue(at("2030-01-01T00:00Z")), []);
  assertEquals(new Scheduler([], "UTC", 0).nextDue(), null);
});

Deno.test("Scheduler counts runs strictly after `from`, ignoring its seconds", () => {
  const jobs = jobsOf("* * * * * every\n");
  assertEquals(
    new Scheduler(jobs, "UTC", at("2025-06-01T10:00Z")).nextDue(),
    at("2025-06-01T10:01Z"),
  );
  assertEquals(
    new Scheduler(jobs, "UTC", at("2025-06-01T10:00:59.999Z")).nextDue(),
    at("2025-06-01T10:01Z"),
  );
  assertEquals(
    new Scheduler(jobs, "UTC", at("2025-06-01T10:00Z") - 1).nextDue(),
    at("2025-06-01T10:00Z"),
    "a millisecond before the minute makes the minute itself due",
  );
});

Deno.test("Scheduler.takeDue() before anything is due takes nothing and changes nothing", () => {
  const scheduler = new Scheduler(jobsOf("0 * * * * hourly\n"), "UTC", at("2025-06-01T10:00Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T10:59:59.999Z")), []);
  assertEquals(scheduler.nextDue(), at("2025-06-01T11:00Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T11:00:30Z")).map(show), [
    "2025-06-01T11:00Z hourly",
  ]);
  assertEquals(scheduler.takeDue(at("2025-06-01T11:00:45Z")), [], "a run is taken once");
  assertEquals(scheduler.nextDue(), at("2025-06-01T12:00Z"));
});

// ---------------------------------------------------------------------------
// Koitab order

Deno.test("Scheduler returns the jobs due in the same minute in koitab order", () => {
  // The lines are in an order unlike their first fire times, so the heap has to
  // order them by line, not by when they were pushed or last fired.
  const text = `0 */2 * * * b-even-hours
*/30 * * * * c-half-hours
5 * * * * d-five-past
0 * * * * e-hours
CRON_TZ=Asia/Kolkata
30 * * * * f-kolkata-half
*/10 * * * * g-tens
`;
  const scheduler = new Scheduler(jobsOf(text), "UTC", at("2025-06-01T09:00Z"));
  assertEquals(drive(scheduler, at("2025-06-01T11:01Z")), [
    "2025-06-01T09:05Z d-five-past",
    "2025-06-01T09:10Z g-tens",
    "2025-06-01T09:20Z g-tens",
    "2025-06-01T09:30Z c-half-hours",
    "2025-06-01T09:30Z g-tens",
    "2025-06-01T09:40Z g-tens",
    "2025-06-01T09:50Z g-tens",
    "2025-06-01T10:00Z b-even-hours",
    "2025-06-01T10:00Z c-half-hours",
    "2025-06-01T10:00Z e-hours",
    "2025-06-01T10:00Z f-kolkata-half", // 15:30 in Kolkata (UTC+5:30)
    "2025-06-01T10:00Z g-tens",
    "2025-06-01T10:05Z d-five-past",
    "2025-06-01T10:10Z g-tens",
    "2025-06-01T10:20Z g-tens",
    "2025-06-01T10:30Z c-half-hours",
    "2025-06-01T10:30Z g-tens",
    "2025-06-01T10:40Z g-tens",
    "2025-06-01T10:50Z g-tens",
    "2025-06-01T11:00Z c-half-hours",
    "2025-06-01T11:00Z e-hours",
    "2025-06-01T11:00Z f-kolkata-half",
    "2025-06-01T11:00Z g-tens",
  ]);
});

Deno.test("Scheduler keeps identical lines apart and in order", () => {
  const scheduler = new Scheduler(
    jobsOf("* * * * * same\n* * * * * same\n* * * * * other\n* * * * * same\n"),
    "UTC",
    at("2025-06-01T10:00Z"),
  );
  const runs = scheduler.takeDue(at("2025-06-01T10:01Z"));
  assertEquals(runs.map((run) => run.job.line), [1, 2, 3, 4]);
  assertEquals(runs.map((run) => run.job.command), ["same", "same", "other", "same"]);
});

// ---------------------------------------------------------------------------
// Waking late and clock changes: cron's main loop (cronie cron.c), keyed on how far
// the minute of a wake is from the last minute handled.

/**
 * Wakes the scheduler at each whole minute after the one it last woke in, up to and
 * including `last`, as the daemon does; returns what it started at each.
 */
function everyMinuteUntil(scheduler: Scheduler, first: number, last: number): string[] {
  const fired: string[] = [];
  for (let minute = first; minute <= last; minute += MINUTE) {
    fired.push(...scheduler.takeDue(minute).map(show));
  }
  return fired;
}

Deno.test("Scheduler woken 3 minutes late runs each missed minute once, in time order", () => {
  const scheduler = new Scheduler(
    jobsOf("*/2 * * * * even\n* * * * * every\n"),
    "UTC",
    at("2025-06-01T10:00Z"),
  );
  assertEquals(scheduler.nextDue(), at("2025-06-01T10:01Z"));
  // Due at 10:01, woken at 10:04:20.
  assertEquals(scheduler.takeDue(at("2025-06-01T10:04:20Z")).map(show), [
    "2025-06-01T10:01Z every",
    "2025-06-01T10:02Z even",
    "2025-06-01T10:02Z every",
    "2025-06-01T10:03Z every",
    "2025-06-01T10:04Z even",
    "2025-06-01T10:04Z every",
  ]);
  assertEquals(scheduler.clockChange, null, "a late wake is not a clock change");
  assertEquals(scheduler.nextDue(), at("2025-06-01T10:05Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T10:04:59Z")), [], "nothing twice");
  assertEquals(scheduler.takeDue(at("2025-06-01T10:05Z")).map(show), ["2025-06-01T10:05Z every"]);
});

Deno.test("Scheduler catches up every job 5 minutes on, and only fixed-time jobs 6 minutes on", () => {
  const table = "* * * * * every\n3 10 * * * fixed\n";
  const from = at("2025-06-01T10:00Z");
  const five = new Scheduler(jobsOf(table), "UTC", from);
  assertEquals(five.takeDue(at("2025-06-01T10:05:30Z")).map(show), [
    "2025-06-01T10:01Z every",
    "2025-06-01T10:02Z every",
    "2025-06-01T10:03Z every",
    "2025-06-01T10:03Z fixed",
    "2025-06-01T10:04Z every",
    "2025-06-01T10:05Z every",
  ]);
  const six = new Scheduler(jobsOf(table), "UTC", from);
  assertEquals(six.takeDue(at("2025-06-01T10:06:30Z")).map(show), [
    "2025-06-01T10:03Z fixed",
    "2025-06-01T10:06Z every",
  ]);
  assertEquals(six.clockChange, {
    step: "forward",
    from: at("2025-06-01T10:00Z"),
    to: at("2025-06-01T10:06Z"),
  });
  assertEquals(six.nextDue(), at("2025-06-01T10:07Z"));
});

Deno.test("Scheduler after 2 hours gone at once runs each missed fixed-time run, and wildcard jobs for now", () => {
  const scheduler = new Scheduler(
    jobsOf("*/30 * * * * halves\n0 9-17 * * * office\n0,30 11 * * * twice\n15 12 * * * later\n"),
    "UTC",
    at("2025-06-01T10:02Z"),
  );
  // The clock was set forward (or the machine slept) from 10:02 to 12:07:30.
  assertEquals(scheduler.takeDue(at("2025-06-01T12:07:30Z")).map(show), [
    "2025-06-01T11:00Z office",
    "2025-06-01T11:00Z twice",
    "2025-06-01T11:30Z twice",
    "2025-06-01T12:00Z office",
  ]);
  assertEquals(scheduler.clockChange, {
    step: "forward",
    from: at("2025-06-01T10:02Z"),
    to: at("2025-06-01T12:07Z"),
  });
  assertEquals(scheduler.nextDue(), at("2025-06-01T12:15Z"));
  assertEquals(drive(scheduler, at("2025-06-01T13:01Z")), [
    "2025-06-01T12:15Z later",
    "2025-06-01T12:30Z halves",
    "2025-06-01T13:00Z halves",
    "2025-06-01T13:00Z office",
  ]);
});

Deno.test("Scheduler woken an hour on runs a wildcard job due in the current minute", () => {
  const scheduler = new Scheduler(jobsOf("0 * * * * hourly\n"), "UTC", at("2025-06-01T09:59Z"));
  assertEquals(scheduler.nextDue(), at("2025-06-01T10:00Z"));
  // 10:00 is missed (a wildcard job is not caught up); 11:00 is the current minute.
  assertEquals(scheduler.takeDue(at("2025-06-01T11:00:20Z")).map(show), [
    "2025-06-01T11:00Z hourly",
  ]);
  assertEquals(scheduler.nextDue(), at("2025-06-01T12:00Z"));
});

Deno.test("Scheduler catches up 180 minutes on, and treats 181 minutes on as a jump", () => {
  const table = "30 10 * * * ten-thirty\n1 12 * * * twelve-oh-one\n* * * * * every\n";
  const from = at("2025-06-01T09:00Z");
  const catchUp = new Scheduler(jobsOf(table), "UTC", from);
  assertEquals(catchUp.takeDue(at("2025-06-01T12:00:10Z")).map(show), [
    "2025-06-01T10:30Z ten-thirty",
    "2025-06-01T12:00Z every",
  ]);
  assertEquals(catchUp.clockChange?.step, "forward");
  const jump = new Scheduler(jobsOf(table), "UTC", from);
  assertEquals(jump.takeDue(at("2025-06-01T12:01:10Z")).map(show), [
    "2025-06-01T12:01Z twelve-oh-one",
    "2025-06-01T12:01Z every",
  ]);
  assertEquals(jump.clockChange, {
    step: "jump",
    from: at("2025-06-01T09:00Z"),
    to: at("2025-06-01T12:01Z"),
  });
  assertEquals(jump.nextDue(), at("2025-06-01T12:02Z"));
});

Deno.test("Scheduler after the clock jumps 4 hours forward runs only the current minute's jobs", () => {
  const scheduler = new Scheduler(
    jobsOf("0 11 * * * eleven\n0 14 * * * two\n*/15 * * * * quarters\n0 18 * * * six\n"),
    "UTC",
    at("2025-06-01T10:00Z"),
  );
  assertEquals(scheduler.takeDue(at("2025-06-01T14:00:30Z")).map(show), [
    "2025-06-01T14:00Z two",
    "2025-06-01T14:00Z quarters",
  ]);
  assertEquals(scheduler.clockChange?.step, "jump");
  assertEquals(everyMinuteUntil(scheduler, at("2025-06-01T14:01Z"), at("2025-06-01T18:00Z")), [
    "2025-06-01T14:15Z quarters",
    "2025-06-01T14:30Z quarters",
    ...["14:45", "15:00", "15:15", "15:30", "15:45", "16:00", "16:15", "16:30", "16:45"]
      .map((time) => `2025-06-01T${time}Z quarters`),
    ...["17:00", "17:15", "17:30", "17:45"].map((time) => `2025-06-01T${time}Z quarters`),
    "2025-06-01T18:00Z quarters",
    "2025-06-01T18:00Z six",
  ]);
  assertEquals(scheduler.clockChange, null);
});

const BACK_TABLE =
  "*/30 * * * * halves\n0 * * * * hourly\n30 10 * * * ten-thirty\n5 12 * * * noon-five\n";

Deno.test("Scheduler after the clock goes back 2 hours holds fixed-time jobs back and lets wildcard jobs follow", () => {
  const scheduler = new Scheduler(jobsOf(BACK_TABLE), "UTC", at("2025-06-01T09:58:30Z"));
  assertEquals(everyMinuteUntil(scheduler, at("2025-06-01T09:59Z"), at("2025-06-01T12:00Z")), [
    "2025-06-01T10:00Z halves",
    "2025-06-01T10:00Z hourly",
    "2025-06-01T10:30Z halves",
    "2025-06-01T10:30Z ten-thirty",
    "2025-06-01T11:00Z halves",
    "2025-06-01T11:00Z hourly",
    "2025-06-01T11:30Z halves",
    "2025-06-01T12:00Z halves",
    "2025-06-01T12:00Z hourly",
  ]);
  // Set back from 12:00:30 to 10:00:30: the current minute's wildcard jobs run at once.
  assertEquals(scheduler.takeDue(at("2025-06-01T10:00:30Z")).map(show), [
    "2025-06-01T10:00Z halves",
    "2025-06-01T10:00Z hourly",
  ]);
  assertEquals(scheduler.clockChange, {
    step: "back",
    from: at("2025-06-01T12:00Z"),
    to: at("2025-06-01T10:00Z"),
  });
  // 10:30 does not run ten-thirty again; 12:00 runs wildcard jobs again; 12:05 is new.
  assertEquals(everyMinuteUntil(scheduler, at("2025-06-01T10:01Z"), at("2025-06-01T12:10Z")), [
    "2025-06-01T10:30Z halves",
    "2025-06-01T11:00Z halves",
    "2025-06-01T11:00Z hourly",
    "2025-06-01T11:30Z halves",
    "2025-06-01T12:00Z halves",
    "2025-06-01T12:00Z hourly",
    "2025-06-01T12:05Z noon-five",
  ]);
  assertEquals(scheduler.clockChange, null, "reported once, when the clock went back");
});

Deno.test("Scheduler after the clock goes back 4 hours starts over, so fixed-time jobs run again", () => {
  const scheduler = new Scheduler(jobsOf(BACK_TABLE), "UTC", at("2025-06-01T09:58:30Z"));
  everyMinuteUntil(scheduler, at("2025-06-01T09:59Z"), at("2025-06-01T14:00Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T10:00:30Z")).map(show), [
    "2025-06-01T10:00Z halves",
    "2025-06-01T10:00Z hourly",
  ]);
  assertEquals(scheduler.clockChange, {
    step: "jump",
    from: at("2025-06-01T14:00Z"),
    to: at("2025-06-01T10:00Z"),
  });
  const again = everyMinuteUntil(scheduler, at("2025-06-01T10:01Z"), at("2025-06-01T12:10Z"));
  assertEquals(again.filter((run) => !run.endsWith("halves") && !run.endsWith("hourly")), [
    "2025-06-01T10:30Z ten-thirty",
    "2025-06-01T12:05Z noon-five",
  ]);
});

Deno.test("Scheduler holds back after 180 minutes back, and starts over after 181", () => {
  for (
    const [back, step, repeated] of [
      ["2025-06-01T10:00:30Z", "back", []],
      ["2025-06-01T09:59:30Z", "jump", ["2025-06-01T10:30Z ten-thirty"]],
    ] as const
  ) {
    const scheduler = new Scheduler(jobsOf(BACK_TABLE), "UTC", at("2025-06-01T10:28:30Z"));
    everyMinuteUntil(scheduler, at("2025-06-01T10:29Z"), at("2025-06-01T13:00Z"));
    scheduler.takeDue(at(back));
    assertEquals(scheduler.clockChange?.step, step, back);
    const fixed = everyMinuteUntil(scheduler, at(back) + MINUTE, at("2025-06-01T11:00Z"))
      .filter((run) => run.endsWith("ten-thirty"));
    assertEquals(fixed, [...repeated], back);
  }
});

Deno.test("Scheduler ignores the clock going back less than a minute, but not more", () => {
  const scheduler = new Scheduler(jobsOf("* * * * * every\n"), "UTC", at("2025-06-01T11:58:30Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T11:59Z")).map(show), ["2025-06-01T11:59Z every"]);
  assertEquals(scheduler.takeDue(at("2025-06-01T12:00Z")).map(show), ["2025-06-01T12:00Z every"]);
  assertEquals(scheduler.takeDue(at("2025-06-01T11:59:01Z")), [], "59 seconds back");
  assertEquals(scheduler.clockChange, null);
  assertEquals(scheduler.takeDue(at("2025-06-01T12:00:02Z")), [], "12:00 already ran");
  assertEquals(scheduler.takeDue(at("2025-06-01T12:01Z")).map(show), ["2025-06-01T12:01Z every"]);
  // 61 seconds back: the wall clock reads 12:00 again, and wildcard jobs follow it.
  assertEquals(scheduler.takeDue(at("2025-06-01T11:59:59Z")).map(show), [
    "2025-06-01T11:59Z every",
  ]);
  assertEquals(scheduler.clockChange?.step, "back");
});

// ---------------------------------------------------------------------------
// Daylight saving time (README, "Daylight saving time and other clock changes"). The
// local zone is Tokyo, so every job below runs in its CRON_TZ, not in the local zone.

const NEW_YORK_TABLE = `CRON_TZ=America/New_York
30 2 * * * fixed-2-30
30 1 * * * fixed-1-30
0 0-23 * * * fixed-hours
15 * * * * wild-15
* 2 * * * wild-2
`;

Deno.test("Scheduler on America/New_York's spring-forward day (2025-03-09)", () => {
  // 00:00 EST = 05:00Z; at 07:00Z (02:00 EST) clocks jump to 03:00 EDT; the next
  // midnight (EDT) is 04:00Z.
  const fires = firesByJob(
    NEW_YORK_TABLE,
    "Asia/Tokyo",
    at("2025-03-09T05:00Z") - 1,
    at("2025-03-10T04:00Z"),
  );
  assertEquals(fires["fixed-2-30"], ["2025-03-09T07:00Z"], "02:30 was skipped: once at the jump");
  assertEquals(fires["fixed-1-30"], ["2025-03-09T06:30Z"]);
  assertEquals(fires["fixed-hours"], [
    "2025-03-09T05:00Z", // 00:00 EST
    "2025-03-09T06:00Z", // 01:00 EST
    "2025-03-09T07:00Z", // 02:00 skipped and 03:00 EDT: once
    ...hourly("2025-03-09T08:00Z", 20), // 04:00 EDT ... 23:00 EDT
  ]);
  assertEquals(fires["fixed-hours"]!.length, 23);
  assertEquals(fires["wild-15"], hourly("2025-03-09T05:15Z", 23), "no 02:15");
  assertEquals(fires["wild-15"]!.slice(0, 4), [
    "2025-03-09T05:15Z",
    "2025-03-09T06:15Z",
    "2025-03-09T07:15Z",
    "2025-03-09T08:15Z",
  ]);
  assertEquals(fires["wild-2"], [], "wildcard job: the 2 o'clock hour does not exist");
});

Deno.test("Scheduler on America/New_York's fall-back day (2025-11-02)", () => {
  // 00:00 EDT = 04:00Z; at 06:00Z (02:00 EDT) clocks go back to 01:00 EST; the next
  // midnight (EST) is 05:00Z.
  const fires = firesByJob(
    NEW_YORK_TABLE,
    "Asia/Tokyo",
    at("2025-11-02T04:00Z") - 1,
    at("2025-11-03T05:00Z"),
  );
  assertEquals(fires["fixed-2-30"], ["2025-11-02T07:30Z"], "02:30 EST");
  assertEquals(fires["fixed-1-30"], ["2025-11-02T05:30Z"], "01:30 EDT only, not 01:30 EST");
  assertEquals(fires["fixed-hours"], [
    "2025-11-02T04:00Z", // 00:00 EDT
    "2025-11-02T05:00Z", // 01:00 EDT (not again at 01:00 EST, 06:00Z)
    ...hourly("2025-11-02T07:00Z", 22), // 02:00 EST ... 23:00 EST
  ]);
  assertEquals(fires["wild-15"], hourly("2025-11-02T04:15Z", 25), "01:15 EDT and 01:15 EST");
  assertEquals(fires["wild-15"]!.slice(1, 4), [
    "2025-11-02T05:15Z",
    "2025-11-02T06:15Z",
    "2025-11-02T07:15Z",
  ]);
  const wild2 = fires["wild-2"]!;
  assertEquals(wild2.length, 60, "02:00-02:59 EST");
  assertEquals([wild2[0], wild2[59]], ["2025-11-02T07:00Z", "2025-11-02T07:59Z"]);
});

const LONDON_TABLE = `CRON_TZ=Europe/London
30 1 * * * fixed-1-30
0 0-23 * * * fixed-hours
15 * * * * wild-15
* 1 * * * wild-1
`;

Deno.test("Scheduler on Europe/London's spring-forward day (2025-03-30)", () => {
  // 00:00 GMT = 00:00Z; at 01:00Z (01:00 GMT) clocks jump to 02:00 BST; the next
  // midnight (BST) is 23:00Z.
  const fires = firesByJob(
    LONDON_TABLE,
    "Asia/Tokyo",
    at("2025-03-30T00:00Z") - 1,
    at("2025-03-30T23:00Z"),
  );
  assertEquals(fires["fixed-1-30"], ["2025-03-30T01:00Z"], "01:30 was skipped: once at the jump");
  assertEquals(
    fires["fixed-hours"],
    hourly("2025-03-30T00:00Z", 23),
    "01:00 skipped, 02:00 BST once",
  );
  assertEquals(fires["wild-15"], hourly("2025-03-30T00:15Z", 23), "no 01:15");
  assertEquals(fires["wild-1"], [], "wildcard job: the 1 o'clock hour does not exist");
});

Deno.test("Scheduler on Europe/London's fall-back day (2025-10-26)", () => {
  // 00:00 BST = 23:00Z the day before; at 01:00Z (02:00 BST) clocks go back to
  // 01:00 GMT; the next midnight (GMT) is 00:00Z.
  const fires = firesByJob(
    LONDON_TABLE,
    "Asia/Tokyo",
    at("2025-10-25T23:00Z") - 1,
    at("2025-10-27T00:00Z"),
  );
  assertEquals(fires["fixed-1-30"], ["2025-10-26T00:30Z"], "01:30 BST only");
  assertEquals(fires["fixed-hours"], [
    "2025-10-25T23:00Z", // 00:00 BST
    "2025-10-26T00:00Z", // 01:00 BST (not again at 01:00 GMT, 01:00Z)
    ...hourly("2025-10-26T02:00Z", 22), // 02:00 GMT ... 23:00 GMT
  ]);
  assertEquals(fires["wild-15"], hourly("2025-10-25T23:15Z", 25), "01:15 BST and 01:15 GMT");
  const wild1 = fires["wild-1"]!;
  assertEquals(wild1.length, 120, "01:00-01:59 BST, then 01:00-01:59 GMT");
  assertEquals([wild1[0], wild1[59], wild1[60], wild1[119]], [
    "2025-10-26T00:00Z",
    "2025-10-26T00:59Z",
    "2025-10-26T01:00Z",
    "2025-10-26T01:59Z",
  ]);
});

Deno.test("Scheduler applies the DST rule in the local zone too (no CRON_TZ)", () => {
  const fires = firesByJob(
    "30 2 * * * fixed\n15 * * * * wild\n",
    "America/New_York",
    at("2025-03-09T05:00Z") - 1,
    at("2025-03-10T04:00Z"),
  );
  assertEquals(fires["fixed"], ["2025-03-09T07:00Z"]);
  assertEquals(fires["wild"], hourly("2025-03-09T05:15Z", 23));
});

Deno.test("Scheduler follows Samoa across the day it skipped (Pacific/Apia, 2011-12-30)", () => {
  // 23:59 on 29 December (-10) was followed by 00:00 on 31 December (+14) at 10:00Z:
  // a clock jump, so nothing of 30 December runs, fixed-time or wildcard.
  const fires = firesByJob(
    "0 12 * * * noon\n0 0 * * * midnight\n0 */6 * * * six-hourly\n",
    "Pacific/Apia",
    at("2011-12-29T10:00Z") - 1,
    at("2011-12-31T10:00Z"),
  );
  assertEquals(fires["noon"], ["2011-12-29T22:00Z", "2011-12-30T22:00Z"]);
  assertEquals(fires["midnight"], ["2011-12-29T10:00Z", "2011-12-30T10:00Z"]);
  assertEquals(fires["six-hourly"], [
    "2011-12-29T10:00Z", // 00:00 on 29 December, -10
    "2011-12-29T16:00Z",
    "2011-12-29T22:00Z",
    "2011-12-30T04:00Z", // 18:00 on 29 December
    "2011-12-30T10:00Z", // 00:00 on 31 December, +14
    "2011-12-30T16:00Z",
    "2011-12-30T22:00Z",
    "2011-12-31T04:00Z",
  ]);
});

// ---------------------------------------------------------------------------
// Replacing the table

Deno.test("Scheduler.load() mid-day counts the new table from the last minute handled", () => {
  const scheduler = new Scheduler(
    jobsOf("0 * * * * kept\n30 * * * * removed\n@reboot boot\n"),
    "UTC",
    at("2025-06-01T09:00Z"),
  );
  assertEquals(drive(scheduler, at("2025-06-01T10:10Z")), [
    "2025-06-01T09:30Z removed",
    "2025-06-01T10:00Z kept",
  ]);
  assertEquals(scheduler.takeDue(at("2025-06-01T10:10Z")), []);
  scheduler.load(jobsOf("*/20 * * * * added\n0 * * * * kept\n15 10 * * * added-at-10-15\n"));
  assertEquals(scheduler.size, 3);
  assertEquals(drive(scheduler, at("2025-06-01T11:31Z")), [
    "2025-06-01T10:15Z added-at-10-15",
    "2025-06-01T10:20Z added",
    "2025-06-01T10:40Z added",
    "2025-06-01T11:00Z added",
    "2025-06-01T11:00Z kept",
    "2025-06-01T11:20Z added",
  ]);
});

Deno.test("Scheduler.load() before a wake lets the new table decide that wake's runs", () => {
  // As the daemon reloads: at a new minute, before taking what is due.
  const scheduler = new Scheduler(jobsOf("0 * * * * old\n"), "UTC", at("2025-06-01T10:30Z"));
  assertEquals(scheduler.takeDue(at("2025-06-01T10:59Z")), []);
  scheduler.load(jobsOf("0 * * * * new\n* * * * * every\n"));
  assertEquals(scheduler.takeDue(at("2025-06-01T11:00Z")).map(show), [
    "2025-06-01T11:00Z new",
    "2025-06-01T11:00Z every",
  ]);
  // Woken 3 minutes late after a reload: the new table's missed minutes are caught up.
  scheduler.load(jobsOf("* * * * * every\n2 11 * * * two-past\n"));
  assertEquals(scheduler.takeDue(at("2025-06-01T11:03:05Z")).map(show), [
    "2025-06-01T11:01Z every",
    "2025-06-01T11:02Z every",
    "2025-06-01T11:02Z two-past",
    "2025-06-01T11:03Z every",
  ]);
});

Deno.test("Scheduler.load() with an empty table leaves nothing due", () => {
  const scheduler = new Scheduler(jobsOf("* * * * * every\n"), "UTC", at("2025-06-01T10:00Z"));
  scheduler.load([]);
  assertEquals(scheduler.size, 0);
  assertEquals(scheduler.nextDue(), null);
  assertEquals(scheduler.takeDue(at("2025-06-01T10:05Z")), []);
});

// ---------------------------------------------------------------------------
// 10,000 jobs against a brute-force matcher

/** The values a cron field (no names, no `?`) allows between `min` and `max`. */
function fieldValues(field: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  for (const term of field.split(",")) {
    const [range, stepText] = term.split("/") as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    let low: number;
    let high: number;
    if (range === "*") {
      [low, high] = [min, max];
    } else if (range.includes("-")) {
      [low, high] = range.split("-").map(Number) as [number, number];
    } else {
      low = high = Number(range);
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return values;
}

/** A brute-force matcher for five fields, read in a zone at a fixed UTC offset. */
function matcher(schedule: string, offsetMinutes: number): (time: number) => boolean {
  const [m, h, dom, mon, dow] = schedule.split(" ") as [string, string, string, string, string];
  const minutes = fieldValues(m, 0, 59);
  const hours = fieldValues(h, 0, 23);
  const days = fieldValues(dom, 1, 31);
  const months = fieldValues(mon, 1, 12);
  const weekdays = fieldValues(dow, 0, 6);
  const domStar = dom.startsWith("*");
  const dowStar = dow.startsWith("*");
  return (time) => {
    const wall = new Date(time + offsetMinutes * MINUTE);
    if (!minutes.has(wall.getUTCMinutes()) || !hours.has(wall.getUTCHours())) return false;
    if (!months.has(wall.getUTCMonth() + 1)) return false;
    const dayOk = days.has(wall.getUTCDate());
    const weekdayOk = weekdays.has(wall.getUTCDay());
    // cron: when both day fields are restricted, either may match.
    return domStar || dowStar ? dayOk && weekdayOk : dayOk || weekdayOk;
  };
}

/** A varied five-field expression for job `i`. */
function expressionFor(i: number): string {
  switch (i % 8) {
    case 0:
      return `${i % 60} ${i % 24} * * *`;
    case 1:
      return `*/${1 + (i % 30)} * * * *`;
    case 2:
      return `${i % 60} * * * *`;
    case 3:
      return `${i % 7}-${40 + (i % 7)}/${1 + (i % 9)} ${i % 3 === 0 ? "*" : "0,23"} * * *`;
    case 4:
      return `*/${2 + (i % 13)} ${i % 24}-23 * * *`;
    case 5:
      return `${i % 60} ${i % 24} * * ${i % 7}`;
    case 6:
      return `${i % 60} * ${1 + (i % 31)} * *`;
    default:
      return `${i % 60},${(i + 30) % 60} */${1 + (i % 5)} ${1 + (i % 31)} ${1 + (i % 12)} ${
        i % 7
      },${(i + 3) % 7}`;
  }
}

Deno.test("Scheduler with 10,000 jobs returns exactly the due jobs, in koitab order, for every minute of 2 hours", () => {
  const zones = [
    { name: "UTC", offset: 0, header: "" },
    { name: "Asia/Kathmandu", offset: 5 * 60 + 45, header: "CRON_TZ=Asia/Kathmandu\n" },
    { name: "Atlantic/Cape_Verde", offset: -60, header: "CRON_TZ=Atlantic/Cape_Verde\n" },
  ];
  const count = 10_000;
  let text = "";
  for (let i = 0; i < count; i++) {
    const zone = zones[Math.floor((i * zones.length) / count)]!;
    if (i === 0 || zone !== zones[Math.floor(((i - 1) * zones.length) / count)]) {
      text += zone.header;
    }
    text += `${expressionFor(i)} job-${i}\n`;
  }
  const jobs = jobsOf(text);
  assertEquals(jobs.length, count);
  const matches = jobs.map((job, i) => {
    const zone = zones[Math.floor((i * zones.length) / count)]!;
    assertEquals(job.timezone, zone.name === "UTC" ? null : zone.name);
    return matcher(job.schedule, zone.offset);
  });

  // 23:30Z to 01:30Z: UTC crosses a day and a month (June into July), Cape Verde
  // (UTC-1) crosses its midnight at 01:00Z, Kathmandu is at +5:45.
  const from = at("2025-06-30T23:30Z");
  const until = from + 120 * MINUTE;
  const scheduler = new Scheduler(jobs, "UTC", from);
  assertEquals(scheduler.size, count);

  let total = 0;
  for (let minute = from + MINUTE; minute <= until; minute += MINUTE) {
    const expected: number[] = [];
    for (let i = 0; i < count; i++) if (matches[i]!(minute)) expected.push(jobs[i]!.line);
    assert(expected.length > 0, "every minute has some job (*/1)");
    assertEquals(scheduler.nextDue(), minute, `nextDue() after ${iso(minute - MINUTE)}`);
    const runs = scheduler.takeDue(minute);
    assert(runs.every((run) => run.scheduledFor === minute), `scheduledFor at ${iso(minute)}`);
    assertEquals(runs.map((run) => run.job.line), expected, `jobs due at ${iso(minute)}`);
    total += runs.length;
  }
  assert(total > 50_000, `a busy table: ${total} runs`);
  assertEquals(scheduler.size, count);
});
