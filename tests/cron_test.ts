/**
 * Conformance tests for lib/cron.ts: syntax errors and their exact wording, the edge
 * syntax cron accepts, cron's day rule, and next() across months, leap years and
 * Koi's day extensions. Every expected run is a literal instant worked out by hand.
 *
 * @module
 */

import { CRON_NICKNAMES, CronSchedule, CronSyntaxError, parseCron } from "../lib/cron.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";

/** The first `count` runs of `expression` strictly after `from`, as ISO strings. */
function runs(expression: string, from: string, count: number, timezone = "UTC"): string[] {
  const schedule = parseCron(expression, { timezone });
  const found: string[] = [];
  let after = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = schedule.next(after);
    if (next === null) break;
    found.push(next.toISOString());
    after = next;
  }
  return found;
}

/** Midnight UTC on each of the given dates (`2025-01-31`), as ISO strings. */
function midnights(...dates: string[]): string[] {
  return dates.map((date) => `${date}T00:00:00.000Z`);
}

function assertSyntaxError(
  expression: string,
  field: CronSyntaxError["field"],
  message: string,
): void {
  const error = assertThrows(
    () => parseCron(expression, { timezone: "UTC" }),
    CronSyntaxError,
    `parseCron(${JSON.stringify(expression)})`,
  );
  assertEquals(
    { field: error.field, message: error.message },
    { field, message },
    `parseCron(${JSON.stringify(expression)})`,
  );
}

// ---------------------------------------------------------------------------
// Syntax errors

Deno.test("CronSyntaxError is a SyntaxError named CronSyntaxError", () => {
  const error = assertThrows(() => parseCron("0 25 * * *"), CronSyntaxError);
  assert(error instanceof SyntaxError);
  assertEquals(error.name, "CronSyntaxError");
  assertEquals(error.field, "hour");
  assertEquals(error.message, 'bad hour "25" (0-23)');
});

Deno.test("parseCron() rejects values out of each field's range", () => {
  assertSyntaxError("60 * * * *", "minute", 'bad minute "60" (0-59)');
  assertSyntaxError("0 24 * * *", "hour", 'bad hour "24" (0-23)');
  assertSyntaxError("0 25 * * *", "hour", 'bad hour "25" (0-23)');
  assertSyntaxError("0 0 0 * *", "day-of-month", 'bad day-of-month "0" (1-31)');
  assertSyntaxError("0 0 32 * *", "day-of-month", 'bad day-of-month "32" (1-31)');
  assertSyntaxError("0 0 * 0 *", "month", 'bad month "0" (1-12 or jan-dec)');
  assertSyntaxError("0 0 * 13 *", "month", 'bad month "13" (1-12 or jan-dec)');
  assertSyntaxError("0 0 * * 8", "day-of-week", 'bad day-of-week "8" (0-7 or sun-sat)');
});

Deno.test("parseCron() rejects a range bound out of range even when no step reaches it", () => {
  assertSyntaxError("0-61/31 * * * *", "minute", 'bad minute "61" (0-59)');
  assertSyntaxError("0-60/30 * * * *", "minute", 'bad minute "60" (0-59)');
  assertSyntaxError("0 20-24 * * *", "hour", 'bad hour "24" (0-23)');
  assertSyntaxError("0 0 0-5 * *", "day-of-month", 'bad day-of-month "0" (1-31)');
  assertSyntaxError("0 0 * * 1-8", "day-of-week", 'bad day-of-week "8" (0-7 or sun-sat)');
});

Deno.test("parseCron() rejects a step on a single value", () => {
  assertSyntaxError(
    "5/10 * * * *",
    "minute",
    'bad minute "5/10" (a step needs * or a range before it, as in 5-59/10)',
  );
  assertSyntaxError(
    "0 3/2 * * *",
    "hour",
    'bad hour "3/2" (a step needs * or a range before it, as in 3-23/2)',
  );
  assertSyntaxError(
    "0 0 1/5 * *",
    "day-of-month",
    'bad day-of-month "1/5" (a step needs * or a range before it, as in 1-31/5)',
  );
  assertSyntaxError(
    "0 0 * jan/2 *",
    "month",
    'bad month "jan/2" (a step needs * or a range before it, as in jan-12/2)',
  );
  assertSyntaxError(
    "0 0 * * 1/2",
    "day-of-week",
    'bad day-of-week "1/2" (a step needs * or a range before it, as in 1-7/2)',
  );
});

Deno.test("parseCron() rejects reversed ranges instead of wrapping around", () => {
  const why = "(the range runs backwards; cron does not wrap around)";
  assertSyntaxError("10-5 * * * *", "minute", `bad minute "10-5" ${why}`);
  // The "range ending on Sunday" reading belongs to day-of-week only.
  assertSyntaxError("30-0 * * * *", "minute", `bad minute "30-0" ${why}`);
  assertSyntaxError("0 22-2 * * *", "hour", `bad hour "22-2" ${why}`);
  assertSyntaxError("0 0 31-1 * *", "day-of-month", `bad day-of-month "31-1" ${why}`);
  assertSyntaxError("0 0 * dec-jan *", "month", `bad month "dec-jan" ${why}`);
  assertSyntaxError("0 0 * * 7-1", "day-of-week", `bad day-of-week "7-1" ${why}`);
  assertSyntaxError("0 0 * * fri-mon", "day-of-week", `bad day-of-week "fri-mon" ${why}`);
});

Deno.test("parseCron() rejects a step of 0 and steps that are not whole numbers", () => {
  assertSyntaxError("*/0 * * * *", "minute", 'bad minute "*/0" (a step must be 1 or more)');
  assertSyntaxError("0 1-5/0 * * *", "hour", 'bad hour "1-5/0" (a step must be 1 or more)');
  assertSyntaxError(
    "*/ * * * *",
    "minute",
    'bad minute "*/" (a step must be a whole number, as in */15)',
  );
  assertSyntaxError(
    "*/x * * * *",
    "minute",
    'bad minute "*/x" (a step must be a whole number, as in */15)',
  );
  assertSyntaxError(
    "*/-1 * * * *",
    "minute",
    'bad minute "*/-1" (a step must be a whole number, as in */15)',
  );
  assertSyntaxError("*/5/2 * * * *", "minute", 'bad minute "*/5/2" (only one step is allowed)');
});

Deno.test("parseCron() rejects a range with more than one dash", () => {
  assertSyntaxError("1-2-3 * * * *", "minute", 'bad minute "1-2-3" (a range has one -, as in 1-5)');
});

Deno.test("parseCron() rejects empty items in a list", () => {
  assertSyntaxError("1,,2 * * * *", "minute", 'bad minute "1,,2" (empty item in a list)');
  assertSyntaxError("1, * * * *", "minute", 'bad minute "1," (empty item in a list)');
  assertSyntaxError("0 ,1 * * *", "hour", 'bad hour ",1" (empty item in a list)');
  assertSyntaxError("0 0 * * mon,", "day-of-week", 'bad day-of-week "mon," (empty item in a list)');
});

Deno.test("parseCron() rejects full names and names in numeric fields", () => {
  assertSyntaxError("0 0 * January *", "month", 'bad month "January" (1-12 or jan-dec)');
  assertSyntaxError("0 0 * * Sunday", "day-of-week", 'bad day-of-week "Sunday" (0-7 or sun-sat)');
  assertSyntaxError("0 0 * * tues", "day-of-week", 'bad day-of-week "tues" (0-7 or sun-sat)');
  assertSyntaxError("jan * * * *", "minute", 'bad minute "jan" (0-59)');
  assertSyntaxError("0 mon * * *", "hour", 'bad hour "mon" (0-23)');
  assertSyntaxError("0 0 mon * *", "day-of-month", 'bad day-of-month "mon" (1-31)');
  assertSyntaxError("0 0 * mon *", "month", 'bad month "mon" (1-12 or jan-dec)');
  assertSyntaxError("0 0 * * jan", "day-of-week", 'bad day-of-week "jan" (0-7 or sun-sat)');
});

Deno.test("parseCron() rejects malformed numbers and stray characters", () => {
  assertSyntaxError("*5 * * * *", "minute", 'bad minute "*5" (0-59)');
  assertSyntaxError("** * * * *", "minute", 'bad minute "**" (0-59)');
  assertSyntaxError("0x10 * * * *", "minute", 'bad minute "0x10" (0-59)');
  assertSyntaxError("+5 * * * *", "minute", 'bad minute "+5" (0-59)');
  assertSyntaxError("5a * * * *", "minute", 'bad minute "5a" (0-59)');
  assertSyntaxError("-5 * * * *", "minute", 'bad minute "-5" (0-59)');
  assertSyntaxError("1- * * * *", "minute", 'bad minute "1-" (0-59)');
  assertSyntaxError("0 0 15W * *", "day-of-month", 'bad day-of-month "15W" (1-31)');
  assertSyntaxError("0 0 ? * *", "day-of-month", 'bad day-of-month "?" (1-31)');
});

Deno.test("parseCron() rejects cronie's random ~ and says it is not supported", () => {
  const why = `cronie's random "~" is not supported: write the value to use`;
  assertSyntaxError("0 1~5 * * *", "hour", `bad hour "1~5" (${why})`);
  assertSyntaxError("~ * * * *", "minute", `bad minute "~" (${why})`);
  assertSyntaxError("0 0 * * 1,mon~fri", "day-of-week", `bad day-of-week "mon~fri" (${why})`);
  assertSyntaxError("0 0 ~15 * *", "day-of-month", `bad day-of-month "~15" (${why})`);
});

Deno.test("parseCron() accepts L only in day-of-month, nL and n#k only in day-of-week", () => {
  assertSyntaxError("L * * * *", "minute", 'bad minute "L" (0-59)');
  assertSyntaxError("0 0 5L * *", "day-of-month", 'bad day-of-month "5L" (1-31)');
  assertSyntaxError("0 0 1#2 * *", "day-of-month", 'bad day-of-month "1#2" (1-31)');
  assertSyntaxError("0 0 * L *", "month", 'bad month "L" (1-12 or jan-dec)');
  assertSyntaxError("0 0 * * L", "day-of-week", 'bad day-of-week "L" (0-7 or sun-sat)');
  assertSyntaxError("0 0 * * 8L", "day-of-week", 'bad day-of-week "8" (0-7 or sun-sat)');
  assertSyntaxError("0 0 * * 1-5L", "day-of-week", 'bad day-of-week "5L" (0-7 or sun-sat)');
  assertSyntaxError("0 0 * * 8#1", "day-of-week", 'bad day-of-week "8" (0-7 or sun-sat)');
  assertSyntaxError(
    "0 0 * * 5#6",
    "day-of-week",
    'bad day-of-week "5#6" (the week after # must be 1-5)',
  );
  assertSyntaxError(
    "0 0 * * fri#0",
    "day-of-week",
    'bad day-of-week "fri#0" (the week after # must be 1-5)',
  );
  assertSyntaxError(
    "0 0 * * fri#",
    "day-of-week",
    'bad day-of-week "fri#" (the week after # must be 1-5)',
  );
});

Deno.test("parseCron() rejects unknown @ words, case-sensitively, and @reboot", () => {
  const allowed =
    "(use five fields, or @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)";
  for (const word of ["@reboot", "@manual", "@every", "@Daily", "@DAILY", "@", "@5m"]) {
    assertSyntaxError(word, "schedule", `bad time specifier "${word}" ${allowed}`);
  }
});

Deno.test("parseCron() rejects too few fields, naming the first missing one", () => {
  const why = "cron needs five fields (minute hour day-of-month month day-of-week)";
  assertSyntaxError("", "minute", `missing minute: ${why}`);
  assertSyntaxError("   ", "minute", `missing minute: ${why}`);
  assertSyntaxError("*", "hour", `missing hour: ${why}`);
  assertSyntaxError("* *", "day-of-month", `missing day-of-month: ${why}`);
  assertSyntaxError("* * *", "month", `missing month: ${why}`);
  assertSyntaxError("0 0 * *", "day-of-week", `missing day-of-week: ${why}`);
});

Deno.test("parseCron() rejects seconds and year fields", () => {
  const why = "cron has five (minute hour day-of-month month day-of-week), with no seconds or year";
  assertSyntaxError("0 0 0 * * *", "schedule", `too many fields (6): ${why}`);
  assertSyntaxError("0 0 0 * * * 2025", "schedule", `too many fields (7): ${why}`);
  // The "six stars" typo from cron's own docs.
  assertSyntaxError("30 11 * * * *", "schedule", `too many fields (6): ${why}`);
});

Deno.test("parseCron() reports the first bad field", () => {
  assertSyntaxError("99 99 99 99 99", "minute", 'bad minute "99" (0-59)');
  assertSyntaxError("0 99 99 99 99", "hour", 'bad hour "99" (0-23)');
  assertSyntaxError("0 0 * 99 99", "month", 'bad month "99" (1-12 or jan-dec)');
});

Deno.test("parseCron() throws RangeError for an unknown time zone", () => {
  const error = assertThrows(
    () => parseCron("* * * * *", { timezone: "Mars/Olympus_Mons" }),
    RangeError,
  );
  assert(!(error instanceof CronSyntaxError));
  assert(error.message.includes('"Mars/Olympus_Mons"'), error.message);
});

// ---------------------------------------------------------------------------
// Accepted edge syntax

Deno.test("parseCron() reads sat-sun, fri-sun and 5-0 as ranges ending on Sunday", () => {
  // 2025-01-01 is a Wednesday.
  assertEquals(runs("0 12 * * sat-sun", "2025-01-01T00:00:00Z", 4), [
    "2025-01-04T12:00:00.000Z",
    "2025-01-05T12:00:00.000Z",
    "2025-01-11T12:00:00.000Z",
    "2025-01-12T12:00:00.000Z",
  ]);
  const fridayToSunday = [
    "2025-01-03T12:00:00.000Z",
    "2025-01-04T12:00:00.000Z",
    "2025-01-05T12:00:00.000Z",
    "2025-01-10T12:00:00.000Z",
  ];
  assertEquals(runs("0 12 * * fri-sun", "2025-01-01T00:00:00Z", 4), fridayToSunday);
  assertEquals(runs("0 12 * * 5-0", "2025-01-01T00:00:00Z", 4), fridayToSunday);
  assertEquals(runs("0 12 * * 5-7", "2025-01-01T00:00:00Z", 4), fridayToSunday);
});

Deno.test("parseCron() treats 0 and 7 both as Sunday", () => {
  const sundays = midnights("2025-01-05", "2025-01-12", "2025-01-19");
  for (
    const expression of ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * SUN", "0 0 * * */7"]
  ) {
    assertEquals(runs(expression, "2025-01-01T00:00:00Z", 3), sundays, expression);
  }
  // 6-7 is Saturday and Sunday; 1-7/2 is Monday, Wednesday, Friday, Sunday.
  assertEquals(
    runs("0 0 * * 6-7", "2025-01-01T00:00:00Z", 3),
    midnights("2025-01-04", "2025-01-05", "2025-01-11"),
  );
  assertEquals(
    runs("0 0 * * 1-7/2", "2025-01-01T00:00:00Z", 4),
    midnights("2025-01-03", "2025-01-05", "2025-01-06", "2025-01-08"),
  );
  // */2 gives 0, 2, 4, 6: Sunday, Tuesday, Thursday, Saturday.
  assertEquals(
    runs("0 0 * * */2", "2025-01-01T00:00:00Z", 4),
    midnights("2025-01-02", "2025-01-04", "2025-01-05", "2025-01-07"),
  );
});

Deno.test("parseCron() accepts a step larger than the field's span", () => {
  assertEquals(runs("*/60 * * * *", "2025-01-01T10:00:00Z", 3), [
    "2025-01-01T11:00:00.000Z",
    "2025-01-01T12:00:00.000Z",
    "2025-01-01T13:00:00.000Z",
  ]);
  assertEquals(
    runs("0 */24 * * *", "2025-01-01T10:00:00Z", 2),
    midnights("2025-01-02", "2025-01-03"),
  );
  assertEquals(
    runs("0 0 */31 * *", "2025-01-01T10:00:00Z", 2),
    midnights("2025-02-01", "2025-03-01"),
  );
  assertEquals(
    runs("0 0 1 */12 *", "2025-01-01T10:00:00Z", 2),
    midnights("2026-01-01", "2027-01-01"),
  );
});

Deno.test("parseCron() accepts 0-7 as every day of the week", () => {
  assertEquals(
    runs("0 0 * * 0-7", "2025-01-01T00:00:00Z", 7),
    midnights(
      "2025-01-02",
      "2025-01-03",
      "2025-01-04",
      "2025-01-05",
      "2025-01-06",
      "2025-01-07",
      "2025-01-08",
    ),
  );
});

Deno.test("parseCron() accepts month and weekday names in any case, also in ranges", () => {
  assertEquals(
    runs("0 0 1 JAN-mar *", "2025-03-02T00:00:00Z", 4),
    midnights("2026-01-01", "2026-02-01", "2026-03-01", "2027-01-01"),
  );
  assertEquals(
    runs("0 0 1 jan-dec/5 *", "2025-01-01T00:00:00Z", 4),
    midnights("2025-06-01", "2025-11-01", "2026-01-01", "2026-06-01"),
  );
  assertEquals(
    runs("0 0 * * Mon,FRI,wEd", "2025-01-01T00:00:00Z", 4),
    midnights("2025-01-03", "2025-01-06", "2025-01-08", "2025-01-10"),
  );
  assertEquals(
    runs("0 0 1 Feb,aug *", "2025-01-01T00:00:00Z", 3),
    midnights("2025-02-01", "2025-08-01", "2026-02-01"),
  );
});

Deno.test("parseCron() accepts leading zeros", () => {
  assertEquals(runs("007 07 01 01 *", "2025-01-01T00:00:00Z", 2), [
    "2025-01-01T07:07:00.000Z",
    "2026-01-01T07:07:00.000Z",
  ]);
  assertEquals(runs("00 00 * * 007", "2025-01-01T00:00:00Z", 1), midnights("2025-01-05"));
});

Deno.test("parseCron() anchors a stepped range at its start", () => {
  assertEquals(runs("5-59/20 * * * *", "2025-01-01T10:00:00Z", 4), [
    "2025-01-01T10:05:00.000Z",
    "2025-01-01T10:25:00.000Z",
    "2025-01-01T10:45:00.000Z",
    "2025-01-01T11:05:00.000Z",
  ]);
  // */7 restarts every hour: :56 then :00.
  assertEquals(runs("*/7 * * * *", "2025-01-01T10:50:00Z", 3), [
    "2025-01-01T10:56:00.000Z",
    "2025-01-01T11:00:00.000Z",
    "2025-01-01T11:07:00.000Z",
  ]);
  // */5 in hours restarts at midnight: 20:00 then 00:00.
  assertEquals(runs("0 */5 * * *", "2025-01-01T16:00:00Z", 2), [
    "2025-01-01T20:00:00.000Z",
    "2025-01-02T00:00:00.000Z",
  ]);
});

Deno.test("parseCron() accepts mixed lists of values, ranges and steps", () => {
  assertEquals(runs("1-5,*/20 * * * *", "2025-01-01T10:00:00Z", 8), [
    "2025-01-01T10:01:00.000Z",
    "2025-01-01T10:02:00.000Z",
    "2025-01-01T10:03:00.000Z",
    "2025-01-01T10:04:00.000Z",
    "2025-01-01T10:05:00.000Z",
    "2025-01-01T10:20:00.000Z",
    "2025-01-01T10:40:00.000Z",
    "2025-01-01T11:00:00.000Z",
  ]);
});

Deno.test("parseCron() accepts tabs and runs of blanks between fields and trims the ends", () => {
  const schedule = parseCron("  30\t 4  * *\t*  ", { timezone: "UTC" });
  assertEquals(schedule.expression, "30\t 4  * *\t*");
  assertEquals(schedule.next(new Date("2025-01-01T00:00:00Z")), new Date("2025-01-01T04:30:00Z"));
});

// ---------------------------------------------------------------------------
// Schedule properties

Deno.test("parseCron() records the expression and the time zone", () => {
  const schedule = parseCron("0 9 * * 1", { timezone: "America/New_York" });
  assert(schedule instanceof CronSchedule);
  assertEquals(schedule.expression, "0 9 * * 1");
  assertEquals(schedule.timezone, "America/New_York");
  assertEquals(parseCron("@daily", { timezone: "UTC" }).expression, "@daily");
  assertEquals(parseCron("@daily", { timezone: "UTC" }).timezone, "UTC");
});

Deno.test("parseCron() defaults to the machine's local time zone", () => {
  assertEquals(
    parseCron("* * * * *").timezone,
    new Intl.DateTimeFormat().resolvedOptions().timeZone,
  );
});

Deno.test("parseCron() marks jobs with * at the start of minute or hour as wildcard", () => {
  const wildcard = [
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "15 */2 * * *",
    "*,5 3 * * *",
    "0 *,3 * * *",
    "* 2 * * *",
    "@hourly",
  ];
  const fixed = [
    "0 0 * * *",
    "0 0-23 * * *",
    "0-59 0-23 * * *",
    "5,* 3 * * *",
    "0 0 */2 * *",
    "0 0 * * */2",
    "30 2 * * *",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
  ];
  for (const expression of wildcard) {
    assertEquals(parseCron(expression, { timezone: "UTC" }).wildcard, true, expression);
  }
  for (const expression of fixed) {
    assertEquals(parseCron(expression, { timezone: "UTC" }).wildcard, false, expression);
  }
});

Deno.test("parseCron() expands each @ word to its five fields", () => {
  assertEquals(CRON_NICKNAMES, {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
  });
  const pairs: [string, string, number][] = [
    ["@yearly", "0 0 1 1 *", 3],
    ["@annually", "0 0 1 1 *", 3],
    ["@monthly", "0 0 1 * *", 14],
    ["@weekly", "0 0 * * 0", 60],
    ["@daily", "0 0 * * *", 400],
    ["@midnight", "0 0 * * *", 400],
    ["@hourly", "0 * * * *", 9000],
  ];
  for (const [word, fields, count] of pairs) {
    for (const timezone of ["UTC", "America/New_York"]) {
      const expected = runs(fields, "2025-01-01T00:00:00Z", count, timezone);
      assertEquals(runs(word, "2025-01-01T00:00:00Z", count, timezone), expected, word);
      assertEquals(expected.length, count, fields);
    }
  }
  assertEquals(runs("@weekly", "2025-01-01T00:00:00Z", 2), midnights("2025-01-05", "2025-01-12"));
  assertEquals(runs("@hourly", "2025-01-01T00:30:00Z", 2), [
    "2025-01-01T01:00:00.000Z",
    "2025-01-01T02:00:00.000Z",
  ]);
  assertEquals(runs("@yearly", "2025-01-01T00:00:00Z", 2), midnights("2026-01-01", "2027-01-01"));
});

Deno.test("parseCron() accepts an @ word with blanks around it", () => {
  const schedule = parseCron(" @monthly\t", { timezone: "UTC" });
  assertEquals(schedule.expression, "@monthly");
  assertEquals(schedule.next(new Date("2025-01-15T00:00:00Z")), new Date("2025-02-01T00:00:00Z"));
});

// ---------------------------------------------------------------------------
// next(): whole minutes, strictly after

Deno.test("next() ignores the seconds of its argument", () => {
  const everyMinute = parseCron("* * * * *", { timezone: "UTC" });
  assertEquals(
    everyMinute.next(new Date("2025-06-01T10:00:30Z")),
    new Date("2025-06-01T10:01:00Z"),
  );
  assertEquals(
    everyMinute.next(new Date("2025-06-01T10:00:59.999Z")),
    new Date("2025-06-01T10:01:00Z"),
  );
  assertEquals(
    everyMinute.next(new Date("2025-06-01T09:59:59.999Z")),
    new Date("2025-06-01T10:00:00Z"),
  );
  // Before 1970 the instant is negative: seconds still round down, not toward zero.
  assertEquals(
    everyMinute.next(new Date("1969-12-31T23:58:30Z")),
    new Date("1969-12-31T23:59:00Z"),
  );
  assertEquals(
    everyMinute.next(new Date("1969-12-31T23:59:59.999Z")),
    new Date("1970-01-01T00:00:00Z"),
  );
  const hourly = parseCron("0 * * * *", { timezone: "UTC" });
  assertEquals(hourly.next(new Date("2025-06-01T10:00:30Z")), new Date("2025-06-01T11:00:00Z"));
});

Deno.test("next() returns a time strictly after its argument", () => {
  const schedule = parseCron("30 10 * * *", { timezone: "UTC" });
  assertEquals(
    schedule.next(new Date("2025-06-01T10:30:00Z")),
    new Date("2025-06-02T10:30:00Z"),
  );
  assertEquals(
    schedule.next(new Date("2025-06-01T10:29:59.999Z")),
    new Date("2025-06-01T10:30:00Z"),
  );
  const everyMinute = parseCron("* * * * *", { timezone: "UTC" });
  assertEquals(
    everyMinute.next(new Date("2025-06-01T10:00:00Z")),
    new Date("2025-06-01T10:01:00Z"),
  );
});

Deno.test("next() returns whole minutes with no seconds or milliseconds", () => {
  const schedule = parseCron("*/5 * * * *", { timezone: "Europe/London" });
  let after = new Date("2025-06-01T10:02:17.345Z");
  for (let i = 0; i < 100; i++) {
    const next = schedule.next(after)!;
    assertEquals(next.getTime() % 60_000, 0, next.toISOString());
    after = new Date(next.getTime() + 13_457);
  }
});

Deno.test("next() of * * * * * is always the next whole minute, in any zone", () => {
  const afters = [
    "2025-03-09T06:59:30Z",
    "2025-11-02T05:59:59.999Z",
    "2025-06-01T10:00:00Z",
    // Liberia kept an offset of -00:44:30 until 1972.
    "1971-06-01T00:00:00Z",
    "1971-06-01T12:34:56.789Z",
  ];
  for (const timezone of ["UTC", "America/New_York", "Africa/Monrovia", "Asia/Kolkata", "+05:45"]) {
    const schedule = parseCron("* * * * *", { timezone });
    for (const after of afters) {
      const time = new Date(after).getTime();
      assertEquals(
        schedule.next(new Date(after))?.toISOString(),
        new Date(Math.floor(time / 60_000) * 60_000 + 60_000).toISOString(),
        `${timezone} after ${after}`,
      );
    }
  }
});

Deno.test("next() throws RangeError for an invalid date", () => {
  const schedule = parseCron("* * * * *", { timezone: "UTC" });
  assertThrows(() => schedule.next(new Date(Number.NaN)), RangeError);
  assertThrows(() => schedule.next(new Date("not a date")), RangeError);
  const never = parseCron("0 0 30 2 *", { timezone: "UTC" });
  assertThrows(() => never.next(new Date(Number.NaN)), RangeError);
});

Deno.test("next() does not change the date it is given", () => {
  const after = new Date("2025-06-01T10:00:30Z");
  parseCron("* * * * *", { timezone: "UTC" }).next(after);
  assertEquals(after.toISOString(), "2025-06-01T10:00:30.000Z");
});

// ---------------------------------------------------------------------------
// Never-firing expressions

Deno.test("next() returns null at once for expressions that can never fire", () => {
  const never = [
    "0 0 30 2 *",
    "0 0 31 2 *",
    "0 0 30,31 2 *",
    "0 0 31 4 *",
    "0 0 31 4,6,9,11 *",
    "* * 31 2,4,6,9,11 *",
    "0 0 31 feb-apr/2 *",
    // */30 is the 1st and the 31st, both required with the fifth Monday: never in February.
    "0 0 */30 2 mon#5",
  ];
  for (const expression of never) {
    const schedule = parseCron(expression, { timezone: "America/New_York" });
    assertEquals(schedule.possible, false, expression);
    const start = performance.now();
    assertEquals(schedule.next(new Date("2025-01-01T00:00:00Z")), null, expression);
    assertEquals(schedule.next(new Date("1970-01-01T00:00:00Z")), null, expression);
    const elapsed = performance.now() - start;
    assert(elapsed < 50, `${expression}: next() took ${elapsed.toFixed(1)} ms`);
  }
});

Deno.test("parseCron() marks rare but possible expressions as possible", () => {
  for (
    const expression of ["0 0 29 2 *", "0 0 L 2 *", "0 0 * 2 mon#5", "0 0 31 * *", "0 0 30 2 1"]
  ) {
    assertEquals(parseCron(expression, { timezone: "UTC" }).possible, true, expression);
  }
});

// ---------------------------------------------------------------------------
// next() across months and years

Deno.test("next() finds 29 February only in leap years", () => {
  assertEquals(
    runs("0 0 29 2 *", "2025-01-01T00:00:00Z", 3),
    midnights("2028-02-29", "2032-02-29", "2036-02-29"),
  );
  // 2100 is not a leap year.
  assertEquals(
    runs("0 0 29 2 *", "2096-03-01T00:00:00Z", 2),
    midnights("2104-02-29", "2108-02-29"),
  );
  // 2000 is.
  assertEquals(
    runs("0 0 29 2 *", "1997-01-01T00:00:00Z", 2),
    midnights("2000-02-29", "2004-02-29"),
  );
});

Deno.test("next() skips months too short for the day", () => {
  assertEquals(
    runs("0 0 31 * *", "2025-01-31T00:00:00Z", 7),
    midnights(
      "2025-03-31",
      "2025-05-31",
      "2025-07-31",
      "2025-08-31",
      "2025-10-31",
      "2025-12-31",
      "2026-01-31",
    ),
  );
  assertEquals(
    runs("0 0 30 * *", "2025-01-30T00:00:00Z", 3),
    midnights("2025-03-30", "2025-04-30", "2025-05-30"),
  );
});

Deno.test("next() crosses the end of a year", () => {
  assertEquals(runs("59 23 31 12 *", "2025-12-31T23:59:00Z", 2), [
    "2026-12-31T23:59:00.000Z",
    "2027-12-31T23:59:00.000Z",
  ]);
  assertEquals(runs("* * * * *", "2025-12-31T23:58:00Z", 3), [
    "2025-12-31T23:59:00.000Z",
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:01:00.000Z",
  ]);
  assertEquals(
    runs("0 0 1 1 *", "2025-06-15T00:00:00Z", 3),
    midnights("2026-01-01", "2027-01-01", "2028-01-01"),
  );
});

Deno.test("next() reads L in day-of-month as the last day of each month", () => {
  assertEquals(
    runs("0 0 L * *", "2024-01-01T00:00:00Z", 14),
    midnights(
      "2024-01-31",
      "2024-02-29",
      "2024-03-31",
      "2024-04-30",
      "2024-05-31",
      "2024-06-30",
      "2024-07-31",
      "2024-08-31",
      "2024-09-30",
      "2024-10-31",
      "2024-11-30",
      "2024-12-31",
      "2025-01-31",
      "2025-02-28",
    ),
  );
  assertEquals(
    runs("0 0 L 2 *", "2099-01-01T00:00:00Z", 3),
    midnights("2099-02-28", "2100-02-28", "2101-02-28"),
  );
  assertEquals(
    runs("0 0 1,L * *", "2025-01-01T00:00:00Z", 4),
    midnights("2025-01-31", "2025-02-01", "2025-02-28", "2025-03-01"),
  );
});

Deno.test("next() reads 5L in day-of-week as the last Friday of each month", () => {
  const lastFridays = midnights(
    "2025-01-31",
    "2025-02-28",
    "2025-03-28",
    "2025-04-25",
    "2025-05-30",
  );
  assertEquals(runs("0 0 * * 5L", "2025-01-01T00:00:00Z", 5), lastFridays);
  // Last Sunday, written with 7 and with 0.
  const lastSundays = midnights("2025-01-26", "2025-02-23", "2025-03-30");
  assertEquals(runs("0 0 * * 7L", "2025-01-01T00:00:00Z", 3), lastSundays);
  assertEquals(runs("0 0 * * 0L", "2025-01-01T00:00:00Z", 3), lastSundays);
});

Deno.test("next() reads fri#2 in day-of-week as the second Friday of each month", () => {
  const secondFridays = midnights("2025-01-10", "2025-02-14", "2025-03-14", "2025-04-11");
  assertEquals(runs("0 0 * * fri#2", "2025-01-01T00:00:00Z", 4), secondFridays);
  assertEquals(runs("0 0 * * 5#2", "2025-01-01T00:00:00Z", 4), secondFridays);
  // Fifth Sundays of 2025; 7#5 and sun#5 alike.
  const fifthSundays = midnights("2025-03-30", "2025-06-29", "2025-08-31", "2025-11-30");
  assertEquals(runs("0 0 * * 7#5", "2025-01-01T00:00:00Z", 4), fifthSundays);
  assertEquals(runs("0 0 * * SUN#5", "2025-01-01T00:00:00Z", 4), fifthSundays);
  // The first and third Monday.
  assertEquals(
    runs("0 0 * * mon#1,mon#3", "2025-01-01T00:00:00Z", 4),
    midnights("2025-01-06", "2025-01-20", "2025-02-03", "2025-02-17"),
  );
});

Deno.test("next() waits decades for a fifth Monday in February", () => {
  // 29 February is a Monday in 2016, 2044, 2072, and then not until 2112 (2100 is not leap).
  assertEquals(
    runs("0 0 * 2 mon#5", "2016-03-01T00:00:00Z", 3),
    midnights("2044-02-29", "2072-02-29", "2112-02-29"),
  );
  assertEquals(runs("0 0 * 2 fri#5", "2093-01-01T00:00:00Z", 1), midnights("2104-02-29"));
  // The same search through decades of daylight-saving changes: midnight EST is 05:00Z.
  assertEquals(runs("0 0 * 2 mon#5", "2016-03-01T00:00:00Z", 3, "America/New_York"), [
    "2044-02-29T05:00:00.000Z",
    "2072-02-29T05:00:00.000Z",
    "2112-02-29T05:00:00.000Z",
  ]);
});

// ---------------------------------------------------------------------------
// The day rule (cron-semantics §2)

Deno.test("next() fires on either day field when both are restricted", () => {
  // 0 0 13 * 5: every Friday and every 13th, not Friday the 13th.
  assertEquals(
    runs("0 0 13 * 5", "2025-06-01T00:00:00Z", 8),
    midnights(
      "2025-06-06",
      "2025-06-13",
      "2025-06-20",
      "2025-06-27",
      "2025-07-04",
      "2025-07-11",
      "2025-07-13",
      "2025-07-18",
    ),
  );
  // 30 4 1,15 * 5: the 1st, the 15th and every Friday.
  assertEquals(runs("30 4 1,15 * 5", "2025-08-01T05:00:00Z", 9), [
    "2025-08-08T04:30:00.000Z",
    "2025-08-15T04:30:00.000Z",
    "2025-08-22T04:30:00.000Z",
    "2025-08-29T04:30:00.000Z",
    "2025-09-01T04:30:00.000Z",
    "2025-09-05T04:30:00.000Z",
    "2025-09-12T04:30:00.000Z",
    "2025-09-15T04:30:00.000Z",
    "2025-09-19T04:30:00.000Z",
  ]);
  // 0 0 1-7 * 1: days 1-7 and every Monday, not the first Monday.
  assertEquals(
    runs("0 0 1-7 * 1", "2025-05-31T00:00:00Z", 12),
    midnights(
      "2025-06-01",
      "2025-06-02",
      "2025-06-03",
      "2025-06-04",
      "2025-06-05",
      "2025-06-06",
      "2025-06-07",
      "2025-06-09",
      "2025-06-16",
      "2025-06-23",
      "2025-06-30",
      "2025-07-01",
    ),
  );
  // 1-31 is not a star, so OR with Monday: every day.
  assertEquals(
    runs("0 0 1-31 * 1", "2025-01-01T00:00:00Z", 3),
    midnights("2025-01-02", "2025-01-03", "2025-01-04"),
  );
  // 29 February or any Monday in February.
  assertEquals(
    runs("0 0 29 2 1", "2028-02-20T00:00:00Z", 4),
    midnights("2028-02-21", "2028-02-28", "2028-02-29", "2029-02-05"),
  );
  // 0-7 is not a star either.
  assertEquals(
    runs("0 0 13 * 0-7", "2025-01-01T00:00:00Z", 2),
    midnights("2025-01-02", "2025-01-03"),
  );
});

Deno.test("parseCron() treats */7 in day-of-week as a star", () => {
  // 0 0 1-7 * */7: both must match, so the first Sunday of each month.
  assertEquals(
    runs("0 0 1-7 * */7", "2025-01-01T00:00:00Z", 7),
    midnights(
      "2025-01-05",
      "2025-02-02",
      "2025-03-02",
      "2025-04-06",
      "2025-05-04",
      "2025-06-01",
      "2025-07-06",
    ),
  );
});

Deno.test("parseCron() treats */2 in day-of-month as a star", () => {
  // 0 0 */2 * 1: both must match, so Mondays on odd-numbered days.
  assertEquals(
    runs("0 0 */2 * 1", "2025-01-01T00:00:00Z", 7),
    midnights(
      "2025-01-13",
      "2025-01-27",
      "2025-02-03",
      "2025-02-17",
      "2025-03-03",
      "2025-03-17",
      "2025-03-31",
    ),
  );
});

Deno.test("parseCron() treats any day field starting with * as a star", () => {
  // *,5 covers every day and is a star, so AND with Monday: Mondays only.
  assertEquals(
    runs("0 0 *,5 * 1", "2025-01-01T00:00:00Z", 3),
    midnights("2025-01-06", "2025-01-13", "2025-01-20"),
  );
  assertEquals(
    runs("0 0 * * 1", "2025-01-01T00:00:00Z", 3),
    midnights("2025-01-06", "2025-01-13", "2025-01-20"),
  );
  // A star day-of-week with a restricted day-of-month: the 13th only.
  assertEquals(
    runs("0 0 13 * *", "2025-01-01T00:00:00Z", 2),
    midnights("2025-01-13", "2025-02-13"),
  );
  // */7,5 is Sunday and Friday, and a star: the 13th when it is a Sunday or a Friday.
  assertEquals(
    runs("0 0 13 * */7,5", "2025-01-01T00:00:00Z", 3),
    midnights("2025-04-13", "2025-06-13", "2025-07-13"),
  );
});

Deno.test("parseCron() counts L, nL and n#k as restricted day fields", () => {
  // L with a restricted weekday: the last day or any Monday.
  assertEquals(
    runs("0 0 L * 1", "2025-01-01T00:00:00Z", 6),
    midnights("2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-01-31", "2025-02-03"),
  );
  // L with */7 (a star): the last day of the month when it is a Sunday.
  assertEquals(
    runs("0 0 L * */7", "2025-01-01T00:00:00Z", 2),
    midnights("2025-08-31", "2025-11-30"),
  );
  // 5L with a restricted day-of-month: the 1st or the last Friday.
  assertEquals(
    runs("0 0 1 * 5L", "2024-12-31T12:00:00Z", 6),
    midnights("2025-01-01", "2025-01-31", "2025-02-01", "2025-02-28", "2025-03-01", "2025-03-28"),
  );
  // fri#2 with a restricted day-of-month: the 13th or the second Friday.
  assertEquals(
    runs("0 0 13 * fri#2", "2025-01-01T00:00:00Z", 6),
    midnights("2025-01-10", "2025-01-13", "2025-02-13", "2025-02-14", "2025-03-13", "2025-03-14"),
  );
  // fri#2 with */2 (a star): the second Friday when it falls on an odd day.
  assertEquals(
    runs("0 0 */2 * fri#2", "2025-01-01T00:00:00Z", 3),
    midnights("2025-04-11", "2025-05-09", "2025-06-13"),
  );
});
