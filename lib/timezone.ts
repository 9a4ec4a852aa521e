/**
 * Time-zone offsets and their transitions, found once per zone and year through
 * `Intl` and cached, so that schedule arithmetic never calls `Intl` per step.
 *
 * @module
 */

/** A moment when a zone's UTC offset changes. Offsets are in milliseconds east of UTC. */
export interface ZoneTransition {
  /** The instant of the change, in ms since the epoch. */
  readonly at: number;
  /** The offset just before the change. */
  readonly before: number;
  /** The offset from the change on. */
  readonly after: number;
}

/** One UTC calendar year of a zone: its offset at the start and its transitions. */
export interface ZoneYear {
  /** The year's number. */
  readonly year: number;
  /** The first instant of the year (UTC), in ms since the epoch. */
  readonly start: number;
  /** The first instant of the next year (UTC). */
  readonly end: number;
  /** The offset at `start`, unless a transition happens exactly then. */
  readonly startOffset: number;
  /** The year's offset changes, in order. */
  readonly transitions: readonly ZoneTransition[];
  /**
   * A change in the day before `start` that set the clocks back, so that the wall
   * times it repeats may reach into this year; otherwise null.
   */
  readonly backwardChangeBefore: ZoneTransition | null;
}

/** A time zone's name and its offsets. Obtain one with {@linkcode zoneInfo}. */
export interface ZoneInfo {
  /** The zone's name, as given. */
  readonly name: string;
  /** The year holding instant `t` (ms since the epoch). */
  yearContaining(t: number): ZoneYear;
  /** The zone's UTC offset at instant `t`, in ms. */
  offsetAt(t: number): number;
  /** The year numbered `year` (UTC calendar). */
  yearNumbered(year: number): ZoneYear;
  /** The zone's only offset, when it never changes (UTC, `Etc/GMT+5`, `+05:30`); else null. */
  readonly fixedOffset: number | null;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** How far apart the offset is sampled; no zone changes offset twice within a week. */
const SAMPLE_MS = 7 * DAY_MS;
/** Zones that never change offset, as `Intl` names them. */
const FIXED_ZONE = /^(UTC|Etc\/(UTC|GMT([+-]\d{1,2})?)|[+-]\d{2}(:?\d{2})?)$/;

const zones = new Map<string, ZoneInfo>();

/**
 * The IANA names of UTC, lower-cased. A zone named so needs no `Intl`: loading
 * ICU's zone data costs a process ~5 MiB of resident memory (koid on a UTC server
 * never does).
 */
const UTC_NAMES = new Set([
  "utc",
  "uct",
  "gmt",
  "gmt0",
  "gmt+0",
  "gmt-0",
  "greenwich",
  "universal",
  "zulu",
].flatMap((name) => [name, `etc/${name}`]));

/** Where the system's zone file is linked from, as glibc and ICU read it. */
const ZONEINFO_LINK = /^(?:\.\.)?\/usr\/share\/zoneinfo\/(.+)$/;

let localZone: string | undefined;

/**
 * The machine's local zone, as `Intl` sees it, found once per process (as ICU
 * does). A machine on UTC (`TZ` naming UTC, or unset with `/etc/localtime` linked
 * to UTC's file) is told without asking `Intl`, when this process may read both.
 *
 * @returns An IANA zone name: `"UTC"` on a machine on UTC.
 */
export function localTimeZone(): string {
  return localZone ??= systemOnUtc() ? "UTC" : new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Whether `TZ` or `/etc/localtime` says UTC; false when unsure or not allowed to look. */
function systemOnUtc(): boolean {
  try {
    const permissions = Deno.permissions;
    if (permissions.querySync({ name: "env", variable: "TZ" }).state !== "granted") return false;
    const tz = Deno.env.get("TZ");
    if (tz !== undefined) return UTC_NAMES.has(tz.replace(/^:/, "").toLowerCase());
    if (permissions.querySync({ name: "read", path: "/etc/localtime" }).state !== "granted") {
      return false;
    }
    const match = ZONEINFO_LINK.exec(Deno.readLinkSync("/etc/localtime"));
    return match !== null && UTC_NAMES.has(match[1]!.toLowerCase());
  } catch {
    return false;
  }
}

/**
 * The offsets of an IANA time zone, cached for the life of the process.
 *
 * @param name An IANA zone name; the machine's local zone when absent.
 * @returns The zone's offsets and transitions.
 * @throws {RangeError} If `Intl` does not know the zone.
 */
export function zoneInfo(name: string = localTimeZone()): ZoneInfo {
  let zone = zones.get(name);
  if (zone === undefined) {
    zone = UTC_NAMES.has(name.toLowerCase()) ? new UtcZone(name) : new IntlZone(name);
    zones.set(name, zone);
  }
  return zone;
}

/** UTC under one of its names: offset 0, always. */
class UtcZone implements ZoneInfo {
  readonly name: string;
  readonly fixedOffset = 0;
  readonly #years = new Map<number, ZoneYear>();

  constructor(name: string) {
    this.name = name;
  }

  offsetAt(): number {
    return 0;
  }

  yearContaining(t: number): ZoneYear {
    return this.yearNumbered(utcYear(t));
  }

  yearNumbered(year: number): ZoneYear {
    let info = this.#years.get(year);
    if (info === undefined) {
      const start = utcYearStart(year);
      info = {
        year,
        start,
        end: utcYearStart(year + 1),
        startOffset: 0,
        transitions: [],
        backwardChangeBefore: null,
      };
      this.#years.set(year, info);
    }
    return info;
  }
}

class IntlZone implements ZoneInfo {
  readonly name: string;
  readonly fixedOffset: number | null;
  readonly #format: Intl.DateTimeFormat;
  readonly #years = new Map<number, ZoneYear>();
  /** The year asked for last: schedules of one zone mostly ask for the same one. */
  #last: ZoneYear | undefined;

  constructor(name: string) {
    try {
      this.#format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
        era: "short",
      });
    } catch {
      throw new RangeError(
        `Unknown time zone "${name}": use an IANA name such as "UTC" or "Europe/London"`,
      );
    }
    this.name = name;
    const resolved = this.#format.resolvedOptions().timeZone;
    this.fixedOffset = FIXED_ZONE.test(resolved) ? this.#intlOffset(0) : null;
  }

  offsetAt(t: number): number {
    const year = this.yearContaining(t);
    let offset = year.startOffset;
    for (const change of year.transitions) {
      if (change.at > t) break;
      offset = change.after;
    }
    return offset;
  }

  yearContaining(t: number): ZoneYear {
    const last = this.#last;
    if (last !== undefined && t >= last.start && t < last.end) return last;
    return this.#last = this.yearNumbered(utcYear(t));
  }

  yearNumbered(year: number): ZoneYear {
    let info = this.#years.get(year);
    if (info === undefined) {
      info = this.#scanYear(year);
      this.#years.set(year, info);
    }
    return info;
  }

  /**
   * Asks `Intl` for the offset at `t`, rounded down to a whole minute: cron reads the
   * wall clock at each real minute and ignores its seconds, so an old offset such as
   * Monrovia's -0:44:30 acts as -0:45.
   */
  #intlOffset(t: number): number {
    const parts: Record<string, string> = {};
    for (const part of this.#format.formatToParts(t)) parts[part.type] = part.value;
    const year = Number(parts.year) * (parts.era === "BC" || parts.era === "B" ? -1 : 1);
    const wall = Date.UTC(
      year,
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour),
      Number(parts.minute),
      Number(parts.second),
    );
    const date = new Date(wall);
    if (year >= 0 && year < 100) date.setUTCFullYear(year);
    return Math.floor((date.getTime() - Math.floor(t / 1000) * 1000) / MINUTE_MS) * MINUTE_MS;
  }

  /** Samples the year weekly and pins every change of offset to the minute. */
  #scanYear(year: number): ZoneYear {
    const start = utcYearStart(year);
    const end = utcYearStart(year + 1);
    const transitions: ZoneTransition[] = [];
    const startOffset = this.#intlOffset(start - MINUTE_MS);
    let previous = start - MINUTE_MS;
    let previousOffset = startOffset;
    for (let probe = start; previous < end - MINUTE_MS; probe += SAMPLE_MS) {
      const at = Math.min(probe, end - MINUTE_MS);
      const offset = this.#intlOffset(at);
      if (offset !== previousOffset) {
        transitions.push(this.#pinChange(previous, at, previousOffset, offset));
        previousOffset = offset;
      }
      previous = at;
    }
    // A backward change just before the year can repeat wall times into it.
    const dayBefore = this.#intlOffset(start - DAY_MS);
    const backwardChangeBefore = dayBefore > startOffset
      ? this.#pinChange(start - DAY_MS, start - MINUTE_MS, dayBefore, startOffset)
      : null;
    return { year, start, end, startOffset, transitions, backwardChangeBefore };
  }

  /** Bisects (low, high], whole minutes apart, to the first minute with offset `after`. */
  #pinChange(low: number, high: number, before: number, after: number): ZoneTransition {
    while (high - low > MINUTE_MS) {
      const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
      if (this.#intlOffset(middle) === before) low = middle;
      else high = middle;
    }
    return { at: high, before, after };
  }
}

/** The UTC calendar year of instant `t`, without making a Date (H. Hinnant's algorithm). */
function utcYear(t: number): number {
  const z = Math.floor(t / DAY_MS) + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) -
      Math.floor(dayOfEra / 146096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) -
    Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  return yearOfEra + era * 400 + (monthIndex >= 10 ? 1 : 0);
}

function utcYearStart(year: number): number {
  const date = new Date(Date.UTC(2000, 0, 1));
  date.setUTCFullYear(year);
  return date.getTime();
}

const wallFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * An instant as the wall clock of a zone shows it: `2026-11-28 09:30 EST`.
 *
 * @param date The instant.
 * @param zone An IANA zone name.
 * @returns Date, time to the minute, and the zone's abbreviation or offset.
 */
export function formatWallTime(date: Date, zone: string): string {
  let format = wallFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
    wallFormats.set(zone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(date)) parts[part.type] = part.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}
