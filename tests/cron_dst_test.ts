/**
 * Clock-change tests for lib/cron.ts: exact run instants around the 2025 daylight-saving
 * changes in America/New_York, Europe/London, Europe/Berlin and Australia/Lord_Howe (a
 * 30-minute shift), and around bigger and smaller changes: Samoa skipping a day, Ust-Nera
 * and Casey moving 3 hours, Kwajalein repeating a day, Vostok going back 7 hours,
 * Istanbul moving 4 minutes. Koi's rule, cronie's, the same in every zone: a fixed-time
 * job whose wall time a change of under 3 hours forward skips runs once at the change,
 * and one that a change of up to 3 hours back repeats runs at the first pass only;
 * wildcard jobs (minute or hour starting with `*`) follow the wall clock, except that a
 * change of under 5 minutes catches them up too; beyond 3 hours every job follows the
 * wall clock. Every instant was worked out by hand from the zone's offsets and is
 * written out literally.
 *
 * @module
 */

import { classifyClockStep, CLOCK_JUMP_MINUTES, parseCron } from "../lib/cron.ts";
import { assertEquals } from "./_assert.ts";

const NEW_YORK = "America/New_York";
const LONDON = "Europe/London";
const LORD_HOWE = "Australia/Lord_Howe";
const APIA = "Pacific/Apia";
const UST_NERA = "Asia/Ust-Nera";
const CASEY = "Antarctica/Casey";
const KWAJALEIN = "Pacific/Kwajalein";
const VOSTOK = "Antarctica/Vostok";
const ISTANBUL = "Europe/Istanbul";

/** The first `count` runs strictly after `from`, as ISO strings without milliseconds. */
function runs(expression: string, timezone: string, from: string, count: number): string[] {
  const schedule = parseCron(expression, { timezone });
  const found: string[] = [];
  let after = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = schedule.next(after);
    if (next === null) break;
    found.push(iso(next));
    after = next;
  }
  return found;
}

/** Every run strictly after `from` and before `until`. */
function runsBetween(expression: string, timezone: string, from: string, until: string): string[] {
  const schedule = parseCron(expression, { timezone });
  const end = new Date(until).getTime();
  const found: string[] = [];
  let next = schedule.next(new Date(from));
  while (next !== null && next.getTime() < end) {
    found.push(iso(next));
    next = schedule.next(next);
  }
  return found;
}

function iso(date: Date): string {
  return date.toISOString().replace(".000Z", "Z");
}

/** The next run after `after`. */
function nextAfter(expression: string, timezone: string, after: string): string | null {
  const next = parseCron(expression, { timezone }).next(new Date(after));
  return next === null ? null : iso(next);
}

/** Each minute from `first` to `last` inclusive, as ISO strings. */
function everyMinute(first: string, last: string): string[] {
  const minutes: string[] = [];
  for (let t = Date.parse(first); t <= Date.parse(last); t += 60_000) {
    minutes.push(iso(new Date(t)));
  }
  return minutes;
}

// ---------------------------------------------------------------------------
// America/New_York, 2025-03-09: at 07:00Z clocks go from 01:59 EST to 03:00 EDT.

Deno.test("next() runs a fixed-time job skipped by spring forward once at the jump (New York)", () => {
  assertEquals(runs("30 2 * * *", NEW_YORK, "2025-03-08T00:00:00Z", 3), [
    "2025-03-08T07:30:00Z",
    "2025-03-09T07:00:00Z",
    "2025-03-10T06:30:00Z",
  ]);
  assertEquals(runs("0 2 * * *", NEW_YORK, "2025-03-08T12:00:00Z", 2), [
    "2025-03-09T07:00:00Z",
    "2025-03-10T06:00:00Z",
  ]);
});

Deno.test("next() runs a job with several skipped minutes only once at the jump (New York)", () => {
  assertEquals(runs("0,30 2 * * *", NEW_YORK, "2025-03-09T00:00:00Z", 3), [
    "2025-03-09T07:00:00Z",
    "2025-03-10T06:00:00Z",
    "2025-03-10T06:30:00Z",
  ]);
  assertEquals(runs("0,15,30,45 2 * * *", NEW_YORK, "2025-03-09T00:00:00Z", 2), [
    "2025-03-09T07:00:00Z",
    "2025-03-10T06:00:00Z",
  ]);
});

Deno.test("next() runs a skipped job that also matches the new wall time only once (New York)", () => {
  // 0 0-23: 01:00 EST, the 02:00 catch-up and 03:00 EDT together at 07:00Z, then 04:00 EDT.
  assertEquals(runs("0 0-23 * * *", NEW_YORK, "2025-03-09T05:30:00Z", 3), [
    "2025-03-09T06:00:00Z",
    "2025-03-09T07:00:00Z",
    "2025-03-09T08:00:00Z",
  ]);
  assertEquals(runs("0 2,3 * * *", NEW_YORK, "2025-03-09T06:00:00Z", 3), [
    "2025-03-09T07:00:00Z",
    "2025-03-10T06:00:00Z",
    "2025-03-10T07:00:00Z",
  ]);
  assertEquals(runs("30 1-3 * * *", NEW_YORK, "2025-03-09T06:00:00Z", 3), [
    "2025-03-09T06:30:00Z",
    "2025-03-09T07:00:00Z",
    "2025-03-09T07:30:00Z",
  ]);
});

Deno.test("next() runs a fixed-time job at the new wall time of the jump as usual (New York)", () => {
  assertEquals(runs("0 3 * * *", NEW_YORK, "2025-03-09T06:00:00Z", 2), [
    "2025-03-09T07:00:00Z",
    "2025-03-10T07:00:00Z",
  ]);
  assertEquals(runs("59 1 * * *", NEW_YORK, "2025-03-09T06:00:00Z", 2), [
    "2025-03-09T06:59:00Z",
    "2025-03-10T05:59:00Z",
  ]);
});

Deno.test("next() does not run the spring-forward catch-up again after the jump (New York)", () => {
  assertEquals(nextAfter("30 2 * * *", NEW_YORK, "2025-03-09T06:59:59Z"), "2025-03-09T07:00:00Z");
  assertEquals(nextAfter("30 2 * * *", NEW_YORK, "2025-03-09T07:00:00Z"), "2025-03-10T06:30:00Z");
  assertEquals(nextAfter("30 2 * * *", NEW_YORK, "2025-03-09T07:00:30Z"), "2025-03-10T06:30:00Z");
});

Deno.test("next() skips wall times that spring forward removes for wildcard jobs (New York)", () => {
  assertEquals(runs("15 * * * *", NEW_YORK, "2025-03-09T06:00:00Z", 3), [
    "2025-03-09T06:15:00Z",
    "2025-03-09T07:15:00Z",
    "2025-03-09T08:15:00Z",
  ]);
  // * 2 * * * does not run at all on 9 March.
  assertEquals(runs("* 2 * * *", NEW_YORK, "2025-03-09T05:00:00Z", 2), [
    "2025-03-10T06:00:00Z",
    "2025-03-10T06:01:00Z",
  ]);
  for (const expression of ["0 * * * *", "@hourly"]) {
    assertEquals(runs(expression, NEW_YORK, "2025-03-09T05:30:00Z", 3), [
      "2025-03-09T06:00:00Z",
      "2025-03-09T07:00:00Z",
      "2025-03-09T08:00:00Z",
    ]);
  }
  assertEquals(runs("*/15 * * * *", NEW_YORK, "2025-03-09T06:40:00Z", 3), [
    "2025-03-09T06:45:00Z",
    "2025-03-09T07:00:00Z",
    "2025-03-09T07:15:00Z",
  ]);
  assertEquals(runs("* * * * *", NEW_YORK, "2025-03-09T06:58:30Z", 3), [
    "2025-03-09T06:59:00Z",
    "2025-03-09T07:00:00Z",
    "2025-03-09T07:01:00Z",
  ]);
});

// ---------------------------------------------------------------------------
// America/New_York, 2025-11-02: at 06:00Z clocks go from 01:59 EDT back to 01:00 EST.

Deno.test("next() runs a fixed-time job in the repeated hour at the first pass only (New York)", () => {
  assertEquals(runs("30 1 * * *", NEW_YORK, "2025-11-02T04:00:00Z", 2), [
    "2025-11-02T05:30:00Z",
    "2025-11-03T06:30:00Z",
  ]);
  assertEquals(runs("0,30 1 * * *", NEW_YORK, "2025-11-02T04:00:00Z", 3), [
    "2025-11-02T05:00:00Z",
    "2025-11-02T05:30:00Z",
    "2025-11-03T06:00:00Z",
  ]);
  assertEquals(runs("59 1 * * *", NEW_YORK, "2025-11-02T04:00:00Z", 2), [
    "2025-11-02T05:59:00Z",
    "2025-11-03T06:59:00Z",
  ]);
  assertEquals(runs("0 2 * * *", NEW_YORK, "2025-11-02T04:00:00Z", 2), [
    "2025-11-02T07:00:00Z",
    "2025-11-03T07:00:00Z",
  ]);
});

Deno.test("next() skips the repeated 01:00 for an explicit hour list (New York)", () => {
  assertEquals(runs("0 0-23 * * *", NEW_YORK, "2025-11-02T04:30:00Z", 3), [
    "2025-11-02T05:00:00Z",
    "2025-11-02T07:00:00Z",
    "2025-11-02T08:00:00Z",
  ]);
  const firstHourOnly = runsBetween(
    "0-59 1 * * *",
    NEW_YORK,
    "2025-11-02T04:00:00Z",
    "2025-11-03T00:00:00Z",
  );
  assertEquals(firstHourOnly, everyMinute("2025-11-02T05:00:00Z", "2025-11-02T05:59:00Z"));
});

Deno.test("next() holds fixed-time jobs back when asked from inside the repeated hour (New York)", () => {
  assertEquals(nextAfter("30 1 * * *", NEW_YORK, "2025-11-02T06:10:00Z"), "2025-11-03T06:30:00Z");
  assertEquals(nextAfter("0 0-23 * * *", NEW_YORK, "2025-11-02T06:00:00Z"), "2025-11-02T07:00:00Z");
  assertEquals(nextAfter("0 0-23 * * *", NEW_YORK, "2025-11-02T05:59:59Z"), "2025-11-02T07:00:00Z");
  assertEquals(nextAfter("59 1 * * *", NEW_YORK, "2025-11-02T06:58:00Z"), "2025-11-03T06:59:00Z");
});

Deno.test("next() runs wildcard jobs in both passes of the repeated hour (New York)", () => {
  assertEquals(runs("30 * * * *", NEW_YORK, "2025-11-02T05:00:00Z", 3), [
    "2025-11-02T05:30:00Z",
    "2025-11-02T06:30:00Z",
    "2025-11-02T07:30:00Z",
  ]);
  assertEquals(runs("0 * * * *", NEW_YORK, "2025-11-02T04:30:00Z", 3), [
    "2025-11-02T05:00:00Z",
    "2025-11-02T06:00:00Z",
    "2025-11-02T07:00:00Z",
  ]);
  assertEquals(runs("*/15 * * * *", NEW_YORK, "2025-11-02T05:40:00Z", 6), [
    "2025-11-02T05:45:00Z",
    "2025-11-02T06:00:00Z",
    "2025-11-02T06:15:00Z",
    "2025-11-02T06:30:00Z",
    "2025-11-02T06:45:00Z",
    "2025-11-02T07:00:00Z",
  ]);
  assertEquals(nextAfter("30 * * * *", NEW_YORK, "2025-11-02T06:10:00Z"), "2025-11-02T06:30:00Z");
});

Deno.test("next() runs * 1 * * * 120 times on the day clocks go back (New York)", () => {
  const found = runsBetween("* 1 * * *", NEW_YORK, "2025-11-02T04:00:00Z", "2025-11-02T12:00:00Z");
  assertEquals(found.length, 120);
  assertEquals(found, everyMinute("2025-11-02T05:00:00Z", "2025-11-02T06:59:00Z"));
  assertEquals(nextAfter("* 1 * * *", NEW_YORK, "2025-11-02T06:59:00Z"), "2025-11-03T06:00:00Z");
});

// ---------------------------------------------------------------------------
// Europe/London, 2025-03-30: at 01:00Z clocks go from 00:59 GMT to 02:00 BST.
// Europe/London, 2025-10-26: at 01:00Z clocks go from 01:59 BST back to 01:00 GMT.

Deno.test("next() runs 01:30 and 01:00 at the jump when London springs forward", () => {
  assertEquals(runs("30 1 * * *", LONDON, "2025-03-29T12:00:00Z", 2), [
    "2025-03-30T01:00:00Z",
    "2025-03-31T00:30:00Z",
  ]);
  assertEquals(runs("0 1 * * *", LONDON, "2025-03-29T12:00:00Z", 2), [
    "2025-03-30T01:00:00Z",
    "2025-03-31T00:00:00Z",
  ]);
  assertEquals(runs("0 2 * * *", LONDON, "2025-03-29T12:00:00Z", 2), [
    "2025-03-30T01:00:00Z",
    "2025-03-31T01:00:00Z",
  ]);
  assertEquals(runs("0 1,2 * * *", LONDON, "2025-03-29T12:00:00Z", 3), [
    "2025-03-30T01:00:00Z",
    "2025-03-31T00:00:00Z",
    "2025-03-31T01:00:00Z",
  ]);
  // The wildcard * 1 * * * has no 01:00 hour on 30 March.
  assertEquals(nextAfter("* 1 * * *", LONDON, "2025-03-30T00:00:00Z"), "2025-03-31T00:00:00Z");
});

Deno.test("next() runs 01:30 and 01:00 at the first pass only when London falls back", () => {
  assertEquals(runs("30 1 * * *", LONDON, "2025-10-25T12:00:00Z", 2), [
    "2025-10-26T00:30:00Z",
    "2025-10-27T01:30:00Z",
  ]);
  assertEquals(runs("0 1 * * *", LONDON, "2025-10-25T12:00:00Z", 2), [
    "2025-10-26T00:00:00Z",
    "2025-10-27T01:00:00Z",
  ]);
  assertEquals(runs("0 2 * * *", LONDON, "2025-10-25T12:00:00Z", 2), [
    "2025-10-26T02:00:00Z",
    "2025-10-27T02:00:00Z",
  ]);
  assertEquals(
    runsBetween("* 1 * * *", LONDON, "2025-10-25T12:00:00Z", "2025-10-26T12:00:00Z"),
    everyMinute("2025-10-26T00:00:00Z", "2025-10-26T01:59:00Z"),
  );
});

Deno.test("next() runs */30 every real half hour across both London changes", () => {
  const halfHours = [
    "2025-03-30T00:00:00Z",
    "2025-03-30T00:30:00Z",
    "2025-03-30T01:00:00Z",
    "2025-03-30T01:30:00Z",
    "2025-03-30T02:00:00Z",
  ];
  assertEquals(runs("*/30 * * * *", LONDON, "2025-03-29T23:50:00Z", 5), halfHours);
  assertEquals(runs("*/30 * * * *", LONDON, "2025-10-25T23:50:00Z", 5), [
    "2025-10-26T00:00:00Z",
    "2025-10-26T00:30:00Z",
    "2025-10-26T01:00:00Z",
    "2025-10-26T01:30:00Z",
    "2025-10-26T02:00:00Z",
  ]);
});

Deno.test("next() runs a sparse wildcard job in both passes of the repeated hour (New York)", () => {
  // The next wall match after 01:30 EDT on 2 November is a year away, yet 01:00 EST comes first.
  assertEquals(runs("*/30 1 2 11 *", NEW_YORK, "2025-11-02T04:00:00Z", 5), [
    "2025-11-02T05:00:00Z",
    "2025-11-02T05:30:00Z",
    "2025-11-02T06:00:00Z",
    "2025-11-02T06:30:00Z",
    "2026-11-02T06:00:00Z",
  ]);
  assertEquals(runs("30 1 2 11 *", NEW_YORK, "2025-11-02T04:00:00Z", 2), [
    "2025-11-02T05:30:00Z",
    "2026-11-02T06:30:00Z",
  ]);
});

// Europe/Berlin, 2025-10-26: at 01:00Z clocks go from 02:59 CEST back to 02:00 CET.

Deno.test("next() runs an hour-restricted wildcard job in both passes east of UTC (Berlin)", () => {
  assertEquals(runs("*/30 2 * * *", "Europe/Berlin", "2025-10-25T23:50:00Z", 5), [
    "2025-10-26T00:00:00Z",
    "2025-10-26T00:30:00Z",
    "2025-10-26T01:00:00Z",
    "2025-10-26T01:30:00Z",
    "2025-10-27T01:00:00Z",
  ]);
  assertEquals(runs("30 2 * * *", "Europe/Berlin", "2025-10-25T23:50:00Z", 2), [
    "2025-10-26T00:30:00Z",
    "2025-10-27T01:30:00Z",
  ]);
});

// ---------------------------------------------------------------------------
// Australia/Lord_Howe, 2025-10-04T15:30Z: clocks go from 02:00 LHST (+10:30) to
// 02:30 LHDT (+11) on 5 October local time. 2025-04-05T15:00Z: clocks go from 02:00
// LHDT back to 01:30 LHST on 6 April local time.

Deno.test("next() runs a job skipped by Lord Howe's 30-minute jump at the jump", () => {
  assertEquals(runs("15 2 * * *", LORD_HOWE, "2025-10-03T12:00:00Z", 3), [
    "2025-10-03T15:45:00Z",
    "2025-10-04T15:30:00Z",
    "2025-10-05T15:15:00Z",
  ]);
  assertEquals(runs("0,15 2 * * *", LORD_HOWE, "2025-10-04T12:00:00Z", 3), [
    "2025-10-04T15:30:00Z",
    "2025-10-05T15:00:00Z",
    "2025-10-05T15:15:00Z",
  ]);
  // 0 0-23: 01:00 LHST, the 02:00 catch-up at the jump, then 03:00 LHDT.
  assertEquals(runs("0 0-23 * * *", LORD_HOWE, "2025-10-04T14:00:00Z", 3), [
    "2025-10-04T14:30:00Z",
    "2025-10-04T15:30:00Z",
    "2025-10-04T16:00:00Z",
  ]);
});

Deno.test("next() runs a Lord Howe job in the surviving half hour normally", () => {
  assertEquals(runs("45 2 * * *", LORD_HOWE, "2025-10-03T12:00:00Z", 3), [
    "2025-10-03T16:15:00Z",
    "2025-10-04T15:45:00Z",
    "2025-10-05T15:45:00Z",
  ]);
  // 02:30 LHDT is the wall time at the jump itself.
  assertEquals(runs("30 2 * * *", LORD_HOWE, "2025-10-04T12:00:00Z", 2), [
    "2025-10-04T15:30:00Z",
    "2025-10-05T15:30:00Z",
  ]);
});

Deno.test("next() follows Lord Howe's wall clock for wildcard jobs when it springs forward", () => {
  assertEquals(runs("*/15 * * * *", LORD_HOWE, "2025-10-04T14:50:00Z", 5), [
    "2025-10-04T15:00:00Z",
    "2025-10-04T15:15:00Z",
    "2025-10-04T15:30:00Z",
    "2025-10-04T15:45:00Z",
    "2025-10-04T16:00:00Z",
  ]);
  // 02:15 never exists that night: 01:15 LHST, then 03:15 LHDT.
  assertEquals(runs("15 * * * *", LORD_HOWE, "2025-10-04T14:00:00Z", 2), [
    "2025-10-04T14:45:00Z",
    "2025-10-04T16:15:00Z",
  ]);
  // Only 02:30-02:59 exist in hour 2.
  assertEquals(
    runsBetween("* 2 * * *", LORD_HOWE, "2025-10-04T12:00:00Z", "2025-10-04T18:00:00Z"),
    everyMinute("2025-10-04T15:30:00Z", "2025-10-04T15:59:00Z"),
  );
});

Deno.test("next() runs 45 1 * * * at the first 01:45 only when Lord Howe falls back", () => {
  assertEquals(runs("45 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 2), [
    "2025-04-05T14:45:00Z",
    "2025-04-06T15:15:00Z",
  ]);
  assertEquals(runs("30 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 2), [
    "2025-04-05T14:30:00Z",
    "2025-04-06T15:00:00Z",
  ]);
  assertEquals(runs("59 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 2), [
    "2025-04-05T14:59:00Z",
    "2025-04-06T15:29:00Z",
  ]);
  assertEquals(nextAfter("45 1 * * *", LORD_HOWE, "2025-04-05T15:00:00Z"), "2025-04-06T15:15:00Z");
});

Deno.test("next() runs Lord Howe jobs outside the repeated half hour once as usual", () => {
  // 01:15 comes only once: 01:15 LHDT, before the change.
  assertEquals(runs("15 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 2), [
    "2025-04-05T14:15:00Z",
    "2025-04-06T14:45:00Z",
  ]);
  assertEquals(runs("0 2 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 2), [
    "2025-04-05T15:30:00Z",
    "2025-04-06T15:30:00Z",
  ]);
  // 01:00 LHDT, then 02:00 and 03:00 LHST.
  assertEquals(runs("0 0-23 * * *", LORD_HOWE, "2025-04-05T13:30:00Z", 3), [
    "2025-04-05T14:00:00Z",
    "2025-04-05T15:30:00Z",
    "2025-04-05T16:30:00Z",
  ]);
  assertEquals(
    runsBetween("0-59 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", "2025-04-06T12:00:00Z"),
    everyMinute("2025-04-05T14:00:00Z", "2025-04-05T14:59:00Z"),
  );
});

Deno.test("next() runs Lord Howe wildcard jobs at each real quarter hour of both passes", () => {
  assertEquals(runs("*/15 * * * *", LORD_HOWE, "2025-04-05T14:20:00Z", 6), [
    "2025-04-05T14:30:00Z",
    "2025-04-05T14:45:00Z",
    "2025-04-05T15:00:00Z",
    "2025-04-05T15:15:00Z",
    "2025-04-05T15:30:00Z",
    "2025-04-05T15:45:00Z",
  ]);
  // Hour 1 lasts 90 real minutes: 01:00-01:59 LHDT, then 01:30-01:59 LHST.
  const hourOne = runsBetween(
    "* 1 * * *",
    LORD_HOWE,
    "2025-04-05T12:00:00Z",
    "2025-04-06T12:00:00Z",
  );
  assertEquals(hourOne.length, 90);
  assertEquals(hourOne, everyMinute("2025-04-05T14:00:00Z", "2025-04-05T15:29:00Z"));
});

Deno.test("next() runs an hour-restricted wildcard job in both passes at Lord Howe", () => {
  assertEquals(runs("*/30 1 * * *", LORD_HOWE, "2025-04-05T12:00:00Z", 4), [
    "2025-04-05T14:00:00Z",
    "2025-04-05T14:30:00Z",
    "2025-04-05T15:00:00Z",
    "2025-04-06T14:30:00Z",
  ]);
});

// ---------------------------------------------------------------------------
// Big clock changes. cronie compares the wall minute it wakes in with the last minute
// it handled: more than 180 minutes apart either way is a "clock jumped", after which
// it runs only the current minute's jobs and catches nothing up or holds nothing back.

Deno.test("classifyClockStep() draws cron's lines at 1, 5, 180 and -180 minutes", () => {
  const steps = [-1441, -181, -180, -179, -60, -1, 0, 1, 2, 5, 6, 61, 180, 181, 1441];
  assertEquals(steps.map((minutes) => `${minutes} ${classifyClockStep(minutes)}`), [
    "-1441 jump",
    "-181 jump",
    "-180 back",
    "-179 back",
    "-60 back",
    "-1 back",
    "0 back",
    "1 next",
    "2 late",
    "5 late",
    "6 forward",
    "61 forward",
    "180 forward",
    "181 jump",
    "1441 jump",
  ]);
  assertEquals(CLOCK_JUMP_MINUTES, 180);
});

// Pacific/Apia, 2011-12-30T10:00Z: 23:59 on 29 December (-10) is followed by 00:00 on
// 31 December (+14). 30 December never happened.

Deno.test("next() does not run a fixed-time job for the day Samoa skipped (Apia, 24 hours forward)", () => {
  // Noon on 28 and 29 December at -10, then noon on 31 December at +14.
  assertEquals(runs("0 12 * * *", APIA, "2011-12-28T00:00:00Z", 4), [
    "2011-12-28T22:00:00Z",
    "2011-12-29T22:00:00Z",
    "2011-12-30T22:00:00Z",
    "2011-12-31T22:00:00Z",
  ]);
  assertEquals(nextAfter("0 12 * * *", APIA, "2011-12-29T22:00:00Z"), "2011-12-30T22:00:00Z");
  assertEquals(runs("30 23 * * *", APIA, "2011-12-29T12:00:00Z", 2), [
    "2011-12-30T09:30:00Z", // 23:30 on 29 December, -10
    "2011-12-31T09:30:00Z", // 23:30 on 31 December, +14
  ]);
  // Midnight on 31 December is the minute the clocks jump to: it runs, once.
  assertEquals(runs("0 0,12 * * *", APIA, "2011-12-29T12:00:00Z", 3), [
    "2011-12-29T22:00:00Z",
    "2011-12-30T10:00:00Z",
    "2011-12-30T22:00:00Z",
  ]);
});

Deno.test("next() follows Samoa's wall clock across the skipped day for wildcard jobs (Apia)", () => {
  assertEquals(runs("0 */6 * * *", APIA, "2011-12-29T22:00:00Z", 3), [
    "2011-12-30T04:00:00Z", // 18:00 on 29 December, -10
    "2011-12-30T10:00:00Z", // 00:00 on 31 December, +14
    "2011-12-30T16:00:00Z", // 06:00 on 31 December
  ]);
  assertEquals(runs("30 * * * *", APIA, "2011-12-30T09:00:00Z", 2), [
    "2011-12-30T09:30:00Z",
    "2011-12-30T10:30:00Z",
  ]);
  assertEquals(runsBetween("* 12 * * *", APIA, "2011-12-30T00:00:00Z", "2011-12-31T00:00:00Z"), [
    ...everyMinute("2011-12-30T22:00:00Z", "2011-12-30T22:59:00Z"),
  ]);
});

// Asia/Ust-Nera, 1981-03-31T15:00Z: 00:00 on 1 April (+9) became 03:00 (+12). Three hours
// forward is a step of 181 minutes from 23:59: a clock jump, not a catch-up.

Deno.test("next() does not catch up a job skipped by Ust-Nera's 3-hour jump (1981)", () => {
  assertEquals(runs("30 1 * * *", UST_NERA, "1981-03-30T00:00:00Z", 2), [
    "1981-03-30T16:30:00Z", // 01:30 on 31 March, +9
    "1981-04-01T13:30:00Z", // 01:30 on 2 April, +12; none on 1 April
  ]);
  assertEquals(nextAfter("0 0 * * *", UST_NERA, "1981-03-31T00:00:00Z"), "1981-04-01T12:00:00Z");
  assertEquals(nextAfter("0 3 * * *", UST_NERA, "1981-03-31T00:00:00Z"), "1981-03-31T15:00:00Z");
  assertEquals(runs("30 * * * *", UST_NERA, "1981-03-31T14:00:00Z", 2), [
    "1981-03-31T14:30:00Z", // 23:30 on 31 March, +9
    "1981-03-31T15:30:00Z", // 03:30 on 1 April, +12
  ]);
});

// Antarctica/Casey moved between +8 and +11, three hours each way: on 2009-10-17T18:00Z
// from 02:00 to 05:00 (a jump, 181 minutes), on 2010-03-04T15:00Z from 02:00 back to
// 23:00 (-179 minutes: held back, as daylight saving ending is).

Deno.test("next() treats Casey's 3 hours forward as a jump and 3 hours back as a repeat to hold back", () => {
  assertEquals(runs("30 3 * * *", CASEY, "2009-10-17T00:00:00Z", 2), [
    "2009-10-18T16:30:00Z",
    "2009-10-19T16:30:00Z",
  ]);
  assertEquals(runs("30 23 * * *", CASEY, "2010-03-04T00:00:00Z", 2), [
    "2010-03-04T12:30:00Z", // 23:30 on 4 March, +11
    "2010-03-05T15:30:00Z", // not 23:30 again at +8 (15:30Z on 4 March)
  ]);
  assertEquals(runs("30 * * * *", CASEY, "2010-03-04T14:00:00Z", 2), [
    "2010-03-04T14:30:00Z", // 01:30 on 5 March, +11
    "2010-03-04T15:30:00Z", // 23:30 on 4 March, +8
  ]);
});

// Pacific/Kwajalein, 1969-09-30T13:00Z: 23:59 on 30 September (+11) was followed by 01:00
// on 30 September (-12), a step of 1379 minutes back. Cron starts over: the day's times
// come round again and run again, fixed-time jobs too.

Deno.test("next() runs a fixed-time job again on the day Kwajalein repeated (23 hours back)", () => {
  assertEquals(runs("0 12 * * *", KWAJALEIN, "1969-09-29T00:00:00Z", 4), [
    "1969-09-29T01:00:00Z", // noon on 29 September, +11
    "1969-09-30T01:00:00Z", // noon on 30 September, +11
    "1969-10-01T00:00:00Z", // noon on 30 September again, -12
    "1969-10-02T00:00:00Z",
  ]);
  assertEquals(runs("0 */6 * * *", KWAJALEIN, "1969-09-30T00:00:00Z", 6), [
    "1969-09-30T01:00:00Z", // 12:00, +11
    "1969-09-30T07:00:00Z", // 18:00, +11
    "1969-09-30T18:00:00Z", // 06:00, -12
    "1969-10-01T00:00:00Z", // 12:00
    "1969-10-01T06:00:00Z", // 18:00
    "1969-10-01T12:00:00Z", // 00:00 on 1 October
  ]);
});

// Antarctica/Vostok, 1994-01-31T17:00Z: 00:00 on 1 February (+7) became 17:00 on 31
// January (+0), seven hours back.

Deno.test("next() runs a fixed-time job again after Vostok's 7 hours back (1994)", () => {
  assertEquals(runs("0 20 * * *", VOSTOK, "1994-01-30T00:00:00Z", 4), [
    "1994-01-30T13:00:00Z",
    "1994-01-31T13:00:00Z", // 20:00 on 31 January, +7
    "1994-01-31T20:00:00Z", // 20:00 on 31 January again, +0
    "1994-02-01T20:00:00Z",
  ]);
});

// Europe/Istanbul, 1910-09-30T22:04Z: 23:59 on 30 September (+1:56:56, read as +1:56) was
// followed by 00:04 on 1 October (+2:00): a step of 5 minutes, which cron handles as
// waking late, catching up every job, wildcard ones too.

Deno.test("next() catches up wildcard jobs too after a change of a few minutes (Istanbul 1910)", () => {
  assertEquals(runs("2 * * * *", ISTANBUL, "1910-09-30T21:00:00Z", 3), [
    "1910-09-30T21:06:00Z", // 23:02, +1:56
    "1910-09-30T22:04:00Z", // 00:02 was skipped: caught up at 00:04
    "1910-09-30T23:02:00Z", // 01:02, +2:00
  ]);
  assertEquals(nextAfter("0 0 * * *", ISTANBUL, "1910-09-30T12:00:00Z"), "1910-09-30T22:04:00Z");
  assertEquals(runsBetween("* * * * *", ISTANBUL, "1910-09-30T22:01:00Z", "1910-09-30T22:07:00Z"), [
    "1910-09-30T22:02:00Z",
    "1910-09-30T22:03:00Z",
    "1910-09-30T22:04:00Z", // once, for 00:00 to 00:04
    "1910-09-30T22:05:00Z",
    "1910-09-30T22:06:00Z",
  ]);
});
