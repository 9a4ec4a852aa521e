/**
 * Cron expressions: parsing the five time fields into a schedule, and finding the
 * next run of that schedule in any IANA time zone as classic cron (cronie) would
 * fire it, through daylight-saving and other clock changes too; and cron's rule for
 * a clock that moved other than by one minute, which the daemon shares. Pure
 * logic: no I/O, no clock of its own.
 *
 * One deliberate difference: where several skipped minutes of one job match at a
 * forward change (`0,30 2 * * *` when 02:00-02:59 is skipped, or `0 0-23 * * *`,
 * whose skipped 02:00 lands on the 03:00 the clocks move to), cron (Debian's and
 * cronie) starts the job once per matching minute, one copy after another in the
 * seconds after the change; Koi starts it once, at the change.
 *
 * @module
 */

import { type ZoneInfo, zoneInfo, type ZoneTransition, type ZoneYear } from "./timezone.ts";

/** The five fields of a cron expression, named as cron names them in its errors. */
export type CronField = "minute" | "hour" | "day-of-month" | "month" | "day-of-week";

/**
 * A cron expression that classic cron would reject, or that Koi cannot schedule.
 *
 * `field` names the field at fault, or is `"schedule"` when the expression as a
 * whole is wrong (wrong number of fields, an unknown `@` word).
 *
 * @example Catching a bad hour
 * ```ts
 * import { CronSyntaxError, parseCron } from "@koi/koi";
 *
 * try {
 *   parseCron("0 25 * * *");
 * } catch (error) {
 *   if (!(error instanceof CronSyntaxError)) throw error;
 *   if (error.field !== "hour") throw new Error("wrong field");
 *   if (error.message !== 'bad hour "25" (0-23)') throw new Error(error.message);
 * }
 * ```
 */
export class CronSyntaxError extends SyntaxError {
  /** The field at fault, or `"schedule"` for the expression as a whole. */
  readonly field: CronField | "schedule";

  /**
   * Creates the error.
   *
   * @param message What is wrong, starting with the field: `bad hour "25" (0-23)`.
   * @param field The field at fault, or `"schedule"`.
   */
  constructor(message: string, field: CronField | "schedule") {
    super(message);
    this.name = "CronSyntaxError";
    this.field = field;
  }
}

/** Options for {@linkcode parseCron}. */
export interface CronOptions {
  /**
   * The IANA time zone the fields are read in (`"Europe/London"`, `"UTC"`).
   * Defaults to the machine's local zone.
   */
  timezone?: string;
}

/** The `@` words cron accepts in place of the five fields, and what each stands for. */
export const CRON_NICKNAMES: Readonly<Record<string, string>> = Object.freeze({
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
});

/**
 * How cron's main loop treats its wall clock reading a minute other than the one
 * after the last minute it handled (cronie `cron.c`, `timeDiff` and `wakeupKind`):
 *
 * - `"next"`: the minute after. Its jobs run.
 * - `"late"`: 2 to 5 minutes after (cron woke late). Every job runs for each minute
 *   missed, then for the current one.
 * - `"forward"`: 6 to 180 minutes after (the clock was set forward, daylight saving
 *   began). Wildcard jobs run for the current minute only; fixed-time jobs run for
 *   each minute missed as well.
 * - `"back"`: the same minute or up to 180 minutes before (the clock was set back,
 *   daylight saving ended). Only wildcard jobs run, for the current minute; fixed-time
 *   jobs wait until the clock passes the last minute handled.
 * - `"jump"`: more than 180 minutes after or before ("clock jumped"). Cron starts
 *   over from the current minute: its jobs run, missed minutes are not caught up, and
 *   minutes it sees again run again.
 *
 * A zone's change of offset by D minutes is a step of 1 + D: a forward change of
 * exactly 3 hours is a jump (181), a backward change of exactly 3 hours is not (-179).
 */
export type ClockStep = "next" | "late" | "forward" | "back" | "jump";

/** The widest step, in minutes either way, that cron still catches up or holds back. */
export const CLOCK_JUMP_MINUTES = 180;

/**
 * Classifies a step of cron's wall clock as cron's main loop does.
 *
 * @param minutes The minute the clock reads now, less the last minute handled.
 * @returns How cron treats the step; see {@linkcode ClockStep}.
 *
 * @example Daylight saving time begins, and Samoa skips a day
 * ```ts
 * import { classifyClockStep } from "./cron.ts";
 *
 * // 01:59 EST, then 03:00 EDT: 61 minutes on.
 * if (classifyClockStep(61) !== "forward") throw new Error();
 * // 23:59 on 29 December 2011, then 00:00 on 31 December.
 * if (classifyClockStep(1 + 24 * 60) !== "jump") throw new Error();
 * ```
 */
export function classifyClockStep(minutes: number): ClockStep {
  if (minutes === 1) return "next";
  if (minutes > CLOCK_JUMP_MINUTES || minutes < -CLOCK_JUMP_MINUTES) return "jump";
  if (minutes > 5) return "forward";
  return minutes > 0 ? "late" : "back";
}

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
const MAX_DATE_MS = 8.64e15;
/** A schedule that can fire at all fires within one 400-year Gregorian cycle. */
const SEARCH_MONTHS = 400 * 12 * 3;

interface FieldSpec {
  readonly name: CronField;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** How the allowed values read in an error: `0-23`, `1-12 or jan-dec`. */
  readonly allowed: string;
}

/** The month names cron accepts, at their month's number (index 0 is unused). */
export const MONTH_NAMES = [
  "",
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
] as const;
/** The weekday names cron accepts, at their weekday's number (Sunday is 0). */
export const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59, allowed: "0-59" },
  { name: "hour", min: 0, max: 23, allowed: "0-23" },
  { name: "day-of-month", min: 1, max: 31, allowed: "1-31" },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES, allowed: "1-12 or jan-dec" },
  { name: "day-of-week", min: 0, max: 7, names: DAY_NAMES, allowed: "0-7 or sun-sat" },
];

/** What one field's text parsed into. */
interface ParsedField {
  /** bit v set when value v matches (values 0-59 fit in a plain array). */
  readonly values: boolean[];
  /** The text starts with `*`: cron's DOM_STAR / DOW_STAR / wildcard test. */
  readonly star: boolean;
  /** `L` in day-of-month. */
  lastDay: boolean;
  /** `5L` in day-of-week: index = weekday. */
  readonly lastWeekday: boolean[];
  /** `fri#2` in day-of-week: bit n-1 of entry [weekday] for the n-th such day. */
  readonly nthWeekday: number[];
}

function fail(field: FieldSpec, text: string, why: string): never {
  throw new CronSyntaxError(`bad ${field.name} "${text}" (${why})`, field.name);
}

function parseValue(field: FieldSpec, text: string, term: string): number {
  let value: number;
  if (/^[0-9]+$/.test(text)) {
    value = Number(text);
  } else {
    const index = field.names?.indexOf(text.toLowerCase() as never) ?? -1;
    if (index < 0 || text.length !== 3) fail(field, text === "" ? term : text, field.allowed);
    value = index;
  }
  if (value < field.min || value > field.max) fail(field, text, field.allowed);
  return value;
}

function parseStep(field: FieldSpec, text: string, term: string): number {
  if (!/^[0-9]+$/.test(text)) fail(field, term, "a step must be a whole number, as in */15");
  const step = Number(text);
  if (step < 1) fail(field, term, "a step must be 1 or more");
  return step;
}

function parseField(field: FieldSpec, text: string): ParsedField {
  const parsed: ParsedField = {
    values: new Array(field.max + 1).fill(false),
    star: text.startsWith("*"),
    lastDay: false,
    lastWeekday: new Array(7).fill(false),
    nthWeekday: new Array(7).fill(0),
  };
  for (const term of text.split(",")) {
    if (term === "") fail(field, text, "empty item in a list");
    // No value before the - or /: not a cron term at all (`//`, `--full`).
    if (term.startsWith("-") || term.startsWith("/")) fail(field, term, field.allowed);
    if (term.includes("~")) {
      fail(field, term, `cronie's random "~" is not supported: write the value to use`);
    }
    if (field.name === "day-of-month" && (term === "L" || term === "l")) {
      parsed.lastDay = true;
      continue;
    }
    if (field.name === "day-of-week") {
      const nth = /^([^#]+)#(.*)$/.exec(term);
      if (nth) {
        const day = parseValue(field, nth[1]!, term) % 7;
        if (!/^[1-5]$/.test(nth[2]!)) fail(field, term, "the week after # must be 1-5");
        parsed.nthWeekday[day]! |= 1 << (Number(nth[2]) - 1);
        continue;
      }
      const last = /^(.+)[lL]$/.exec(term);
      if (last && !term.includes("-") && !term.includes("/")) {
        parsed.lastWeekday[parseValue(field, last[1]!, term) % 7] = true;
        continue;
      }
    }
    const [range, stepText, extra] = term.split("/");
    if (extra !== undefined) fail(field, term, "only one step is allowed");
    const step = stepText === undefined ? 1 : parseStep(field, stepText, term);
    let low: number;
    let high: number;
    if (range === "*") {
      low = field.min;
      high = field.max;
    } else {
      const bounds = range!.split("-");
      if (bounds.length > 2) fail(field, term, "a range has one -, as in 1-5");
      if (bounds.length === 1 && stepText !== undefined) {
        fail(
          field,
          term,
          `a step needs * or a range before it, as in ${range}-${field.max}/${step}`,
        );
      }
      low = parseValue(field, bounds[0]!, term);
      high = bounds.length === 2 ? parseValue(field, bounds[1]!, term) : low;
      // cronie reads a range that ends on Sunday as ending on 7: sat-sun, fri-sun.
      if (field.name === "day-of-week" && high === 0 && low > 0) high = 7;
      if (low > high) fail(field, term, "the range runs backwards; cron does not wrap around");
    }
    for (let value = low; value <= high; value += step) parsed.values[value] = true;
  }
  if (field.name === "day-of-week" && (parsed.values[0] || parsed.values[7])) {
    parsed.values[0] = parsed.values[7] = true;
  }
  return parsed;
}

/**
 * A table where table[i] is the first v >= i with values[v] set, or -1;
 * table[length] is -1.
 */
function nextTable(values: readonly boolean[], length: number): Int8Array {
  const table = new Int8Array(length + 1);
  table[length] = -1;
  for (let i = length - 1; i >= 0; i--) table[i] = values[i] ? i : table[i + 1]!;
  return table;
}

/** The most tables kept; past it the cache starts afresh. */
const MAX_TABLES = 4096;

/**
 * Field tables by field and text (`m5`, `h*\/2`, `d1 *`), shared by every schedule
 * with that field: 10,000 schedules hold a few hundred tables, not 50,000. Tables
 * are never written after they are made.
 */
const tables = new Map<string, Int8Array | Int32Array>();

function sharedTable<T extends Int8Array | Int32Array>(key: string, make: () => T): T {
  let table = tables.get(key) as T | undefined;
  if (table === undefined) {
    table = make();
    if (tables.size >= MAX_TABLES) tables.clear();
    tables.set(key, table);
  }
  return table;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function monthLength(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
    dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/**
 * A parsed cron expression bound to a time zone. Create one with
 * {@linkcode parseCron}; ask it for run times with {@linkcode CronSchedule.next}.
 */
export class CronSchedule {
  /** The expression as given, trimmed (`"*\/5 * * * *"`, `"@hourly"`). */
  readonly expression: string;
  /** The IANA zone the fields are read in. */
  readonly timezone: string;
  /**
   * Whether cron treats this as a wildcard job: its minute or hour field starts
   * with `*` (so `@hourly` too). Wildcard jobs follow the wall clock through
   * daylight-saving changes; fixed-time jobs are caught up or held back.
   */
  readonly wildcard: boolean;
  /** Whether the schedule can ever fire (`0 0 30 2 *` cannot). */
  readonly possible: boolean;

  readonly #minutes: Int8Array;
  readonly #hours: Int8Array;
  readonly #months: Int8Array;
  /** Matching days of a month, bit d-1 for day d, at [startWeekday * 4 + length - 28]. */
  readonly #days: Int32Array;
  readonly #zone: ZoneInfo;
  /** The zone year last searched in. */
  #year: ZoneYear | undefined;
  /** The stretch of constant offset last searched in, and how it began. */
  #segmentStart = Number.NaN;
  #segmentEnd = Number.NaN;
  #segmentOffset = 0;
  #segmentChange: ZoneTransition | undefined;
  /** Whether this job catches up, at the change, wall minutes the change skipped. */
  #segmentCatchUp = false;
  /** Until when wall times the change repeated do not fire this job again. */
  #segmentHeldUntil = 0;
  /** The month last searched in: its year and number, first day (days since the epoch), length and matching days. */
  #monthYear = 0;
  #monthNumber = 0;
  #monthFirst = Number.NaN;
  #monthLength = 0;
  #monthDays = 0;
  #searchedFrom = Number.NaN;
  #searchedTo = Number.NaN;

  /** @internal Use {@linkcode parseCron}. */
  constructor(
    expression: string,
    fields: readonly ParsedField[],
    zone: ZoneInfo,
    texts: readonly string[],
  ) {
    const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [
      ParsedField,
      ParsedField,
      ParsedField,
      ParsedField,
      ParsedField,
    ];
    this.expression = expression;
    this.timezone = zone.name;
    this.wildcard = minute.star || hour.star;
    const [minuteText, hourText, dayText, monthText, weekdayText] = texts;
    // Tables depend on their fields' text alone: schedules share them.
    this.#minutes = sharedTable(`m${minuteText}`, () => nextTable(minute.values, 60));
    this.#hours = sharedTable(`h${hourText}`, () => nextTable(hour.values, 24));
    this.#months = sharedTable(`M${monthText}`, () => nextTable(month.values, 13));
    this.#days = sharedTable(
      `d${dayText} ${weekdayText}`,
      () => dayTable(dayOfMonth, dayOfWeek),
    );
    this.#zone = zone;
    this.possible = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].some((m) =>
      month.values[m] &&
      [28, 29, 30, 31].some((length) =>
        (m === 2 ? length <= 29 : length === monthLength(2001, m)) &&
        [0, 1, 2, 3, 4, 5, 6].some((weekday) => this.#days[weekday * 4 + length - 28] !== 0)
      )
    );
  }

  /**
   * The first time this schedule fires strictly after `after`, on a whole minute,
   * or `null` when it can never fire.
   *
   * Changes of the zone's offset follow cronie's rule for its own clock (see
   * {@linkcode ClockStep}), applied in every zone: after a forward change of 5
   * minutes to under 3 hours, a fixed-time job whose wall time was skipped runs at
   * the instant of the change; after a smaller one, any job does; after a backward
   * change of up to 3 hours, a fixed-time job does not run again at a repeated wall
   * time. Beyond 3 hours either way, every job follows the wall clock: skipped times
   * never run, repeated ones run again. Where cron would start a job once for each
   * skipped minute that matches, Koi starts it once.
   *
   * @param after The instant to search from; any seconds are ignored.
   * @returns The next run, or `null` if the expression can never fire.
   * @throws {RangeError} If `after` is an invalid date.
   *
   * @example Every fifteen minutes
   * ```ts
   * import { parseCron } from "@koi/koi";
   *
   * const schedule = parseCron("*\/15 * * * *", { timezone: "UTC" });
   * const next = schedule.next(new Date("2026-03-01T10:07:30Z"));
   * if (next?.toISOString() !== "2026-03-01T10:15:00.000Z") throw new Error(String(next));
   * ```
   */
  next(after: Date): Date | null {
    const time = after.getTime();
    if (Number.isNaN(time)) throw new RangeError("Cannot find the next run after an invalid date");
    if (!this.possible) return null;
    const found = this.#nextInstant(Math.floor(time / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
    // Past the last instant a Date can hold (year 275760), nothing can fire.
    return Number.isNaN(found) || found > MAX_DATE_MS ? null : new Date(found);
  }

  /** The first run at or after instant `t` (whole minutes, ms since the epoch), or NaN. */
  #nextInstant(t: number): number {
    const fixed = this.#zone.fixedOffset;
    if (fixed !== null) {
      const wall = this.#nextWall(Math.ceil((t + fixed) / MINUTE_MS));
      return wall * MINUTE_MS - fixed;
    }
    // The last wall search: no wall minute in [#searchedFrom, #searchedTo) matches,
    // and #searchedTo does. Sparse schedules cross many offset changes before they
    // fire; each crossing then costs no new search.
    this.#searchedFrom = NaN;
    for (let guard = 0; guard < 4000; guard++) {
      if (!(t >= this.#segmentStart && t < this.#segmentEnd)) this.#enterSegment(t);
      const change = this.#segmentChange;
      const offset = this.#segmentOffset;
      const end = this.#segmentEnd;

      if (this.#segmentCatchUp && change !== undefined && t === change.at) {
        // Clocks moved forward at t: run once now if any skipped wall minute matched.
        const skipped = this.#search(Math.ceil((change.at + change.before) / MINUTE_MS));
        if (skipped < (change.at + change.after) / MINUTE_MS) return t;
      }
      // Clocks went back: wall times already seen do not fire this job again.
      const heldUntil = this.#segmentHeldUntil;
      if (t < heldUntil) {
        t = Math.ceil(heldUntil / MINUTE_MS) * MINUTE_MS;
        if (t >= end) {
          t = end;
          continue;
        }
      }

      const wall = this.#search(Math.ceil((t + offset) / MINUTE_MS));
      if (Number.isNaN(wall)) return NaN;
      const found = wall * MINUTE_MS - offset;
      if (found < end) return found;
      t = end;
    }
    return NaN;
  }

  /** Makes the stretch of constant offset holding instant `t` the one searched in. */
  #enterSegment(t: number): void {
    let year = this.#year;
    if (year === undefined || t < year.start || t >= year.end) {
      // Searches run forward: the year after the one in hand needs no date maths.
      year = this.#year = year !== undefined && t === year.end
        ? this.#zone.yearNumbered(year.year + 1)
        : this.#zone.yearContaining(t);
    }
    // After transition k, or from the year's start.
    const changes = year.transitions;
    let k = -1;
    while (k + 1 < changes.length && changes[k + 1]!.at <= t) k++;
    const change = k >= 0 ? changes[k]! : undefined;
    this.#segmentChange = change;
    this.#segmentStart = change ? change.at : year.start;
    this.#segmentEnd = k + 1 < changes.length ? changes[k + 1]!.at : year.end;
    this.#segmentOffset = change ? change.after : year.startOffset;
    // At the year's start, a change in the last day of the year before can still hold
    // wall times back.
    const previous = change ?? year.backwardChangeBefore;
    const step = previous === null ? "next" : zoneChangeStep(previous);
    this.#segmentCatchUp = step === "late" || (step === "forward" && !this.wildcard);
    this.#segmentHeldUntil = previous !== null && step === "back" && !this.wildcard
      ? previous.at + previous.before - previous.after
      : this.#segmentStart;
  }

  /** {@linkcode CronSchedule.#nextWall}, remembering the last answer within one `next()`. */
  #search(from: number): number {
    if (from >= this.#searchedFrom && from <= this.#searchedTo) return this.#searchedTo;
    this.#searchedFrom = from;
    this.#searchedTo = this.#nextWall(from);
    return this.#searchedTo;
  }

  /** The first matching wall-clock minute at or after `from` (minutes since the epoch), or NaN. */
  #nextWall(from: number): number {
    const fromDay = Math.floor(from / DAY_MINUTES);
    const minuteOfDay = from - fromDay * DAY_MINUTES;
    let hour = Math.floor(minuteOfDay / 60);
    let minute = minuteOfDay - hour * 60;
    let year: number;
    let month: number;
    let day: number;
    if (fromDay >= this.#monthFirst && fromDay < this.#monthFirst + this.#monthLength) {
      year = this.#monthYear;
      month = this.#monthNumber;
      day = fromDay - this.#monthFirst + 1;
    } else {
      // Civil date of `fromDay` (H. Hinnant's algorithm, inverted).
      const z = fromDay + 719468;
      const era = Math.floor(z / 146097);
      const dayOfEra = z - era * 146097;
      const yearOfEra = Math.floor(
        (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) -
          Math.floor(dayOfEra / 146096)) / 365,
      );
      const dayOfYear = dayOfEra -
        (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
      const mp = Math.floor((5 * dayOfYear + 2) / 153);
      day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
      month = mp < 10 ? mp + 3 : mp - 9;
      year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    }

    const months = this.#months;
    const hours = this.#hours;
    const minutes = this.#minutes;
    for (let guard = 0; guard < SEARCH_MONTHS; guard++) {
      const nextMonth = months[month]!;
      if (nextMonth !== month) {
        if (nextMonth < 0) {
          year++;
          month = months[1]!;
        } else {
          month = nextMonth;
        }
        day = 1;
        hour = 0;
        minute = 0;
      }
      if (month !== this.#monthNumber || year !== this.#monthYear) this.#enterMonth(year, month);
      const mask = day > 31 ? 0 : this.#monthDays & (-1 << (day - 1));
      if (mask === 0) {
        month++;
        day = 1;
        hour = 0;
        minute = 0;
        continue;
      }
      const matchingDay = 32 - Math.clz32(mask & -mask);
      if (matchingDay !== day) {
        day = matchingDay;
        hour = 0;
        minute = 0;
      }
      const nextHour = hours[hour]!;
      if (nextHour < 0) {
        day++;
        hour = 0;
        minute = 0;
        continue;
      }
      if (nextHour !== hour) {
        hour = nextHour;
        minute = 0;
      }
      const nextMinute = minutes[minute]!;
      if (nextMinute < 0) {
        hour++;
        minute = 0;
        continue;
      }
      return (this.#monthFirst + day - 1) * DAY_MINUTES + hour * 60 + nextMinute;
    }
    return NaN;
  }

  /** Makes `year`-`month` the month the search works in, with its matching days. */
  #enterMonth(year: number, month: number): void {
    const first = daysFromCivil(year, month, 1);
    const length = monthLength(year, month);
    const startWeekday = (((first + 4) % 7) + 7) % 7;
    this.#monthYear = year;
    this.#monthNumber = month;
    this.#monthFirst = first;
    this.#monthLength = length;
    this.#monthDays = this.#days[startWeekday * 4 + length - 28]!;
  }
}

/** How cron treats the step its wall clock takes when a zone's offset changes. */
function zoneChangeStep(change: ZoneTransition): ClockStep {
  return classifyClockStep(1 + (change.after - change.before) / MINUTE_MS);
}

/** Days 1, 8, 15, 22 and 29: one weekday's days in a month whose 1st is that weekday. */
const EVERY_SEVENTH_DAY = 0x10204081;

/** Matching days per (weekday of the 1st, month length), from cron's day rule. */
function dayTable(dayOfMonth: ParsedField, dayOfWeek: ParsedField): Int32Array {
  let dates = 0;
  for (let day = 1; day <= 31; day++) if (dayOfMonth.values[day]) dates |= 1 << (day - 1);
  const table = new Int32Array(7 * 4);
  const both = dayOfMonth.star || dayOfWeek.star;
  for (let startWeekday = 0; startWeekday < 7; startWeekday++) {
    for (let length = 28; length <= 31; length++) {
      const inMonth = length === 31 ? 0x7fffffff : (1 << length) - 1;
      let byDate = dates & inMonth;
      if (dayOfMonth.lastDay) byDate |= 1 << (length - 1);
      let byWeekday = 0;
      for (let weekday = 0; weekday < 7; weekday++) {
        // The first day of the month (0-based) that falls on this weekday.
        const first = (weekday - startWeekday + 7) % 7;
        if (dayOfWeek.values[weekday]) byWeekday |= EVERY_SEVENTH_DAY << first;
        const weeks = dayOfWeek.nthWeekday[weekday]!;
        if (weeks !== 0) byWeekday |= nthDays(weeks, first);
        if (dayOfWeek.lastWeekday[weekday]) {
          byWeekday |= 1 << (first + 7 * Math.floor((length - 1 - first) / 7));
        }
      }
      byWeekday &= inMonth;
      table[startWeekday * 4 + length - 28] = both ? byDate & byWeekday : byDate | byWeekday;
    }
  }
  return table;
}

/** The days (0-based bits) of the weeks in `weeks` (bit n-1 for the n-th) from day `first`. */
function nthDays(weeks: number, first: number): number {
  let days = 0;
  for (let week = 0; week < 5; week++) {
    if (weeks & (1 << week) && first + 7 * week < 31) days |= 1 << (first + 7 * week);
  }
  return days;
}

/**
 * Parses a classic five-field cron expression, or one of cron's `@` words, into a
 * schedule.
 *
 * Fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
 * `jan`-`dec`) and day of week (0-7 or `sun`-`sat`, 0 and 7 both Sunday), each a
 * list of `*`, values, ranges `a-b` and steps `*\/n` or `a-b/n`. When both day
 * fields are restricted a day matches if either does; when either starts with
 * `*` both must. Koi's extensions: `L` in day of month (the last day), and `5L`
 * (the last Friday) or `fri#2` (the second Friday) in day of week.
 *
 * @param expression Five fields, or `@yearly`, `@annually`, `@monthly`,
 * `@weekly`, `@daily`, `@midnight` or `@hourly`.
 * @param options The time zone to read the fields in; the local zone by default.
 * @returns The schedule, ready for {@linkcode CronSchedule.next}.
 * @throws {CronSyntaxError} If cron would reject the expression; the message
 * names the field, the bad text and what is allowed: `bad hour "25" (0-23)`.
 * @throws {RangeError} If the time zone is not a known IANA zone.
 *
 * @example Weekdays at 09:30 in New York
 * ```ts
 * import { parseCron } from "@koi/koi";
 *
 * const schedule = parseCron("30 9 * * mon-fri", { timezone: "America/New_York" });
 * // Friday 2026-03-06 after 09:30 -> Monday 2026-03-09 09:30 EDT (13:30 UTC).
 * const next = schedule.next(new Date("2026-03-06T15:00:00Z"));
 * if (next?.toISOString() !== "2026-03-09T13:30:00.000Z") throw new Error(String(next));
 * ```
 */
export function parseCron(expression: string, options: CronOptions = {}): CronSchedule {
  const zone = zoneInfo(options.timezone);
  const trimmed = expression.trim();
  let text = trimmed;
  if (text.startsWith("@")) {
    const expanded = CRON_NICKNAMES[text];
    if (expanded === undefined) {
      throw new CronSyntaxError(
        `bad time specifier "${text}" (use five fields, or @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`,
        "schedule",
      );
    }
    text = expanded;
  }
  const parts = text === "" ? [] : text.split(/[ \t]+/);
  if (parts.length < 5) {
    // A line that is no cron entry at all is named by its first bad field, as cron
    // names it: `// Prod crontab` has a bad minute, not a missing month.
    parts.forEach((part, i) => parseField(FIELDS[i]!, part));
    const missing = FIELDS[parts.length]!.name;
    throw new CronSyntaxError(
      `missing ${missing}: cron needs five fields (minute hour day-of-month month day-of-week)`,
      missing,
    );
  }
  if (parts.length > 5) {
    throw new CronSyntaxError(
      `too many fields (${parts.length}): cron has five (minute hour day-of-month month day-of-week), with no seconds or year`,
      "schedule",
    );
  }
  const fields = FIELDS.map((field, i) => parseField(field, parts[i]!));
  return new CronSchedule(trimmed, fields, zone, parts);
}
