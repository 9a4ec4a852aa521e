/**
 * A koitab schedule in plain words, for people who do not read cron: "every 5
 * minutes", "at 03:15 on weekdays". Pure logic. Schedules it cannot put simply
 * are described field by field, never wrongly.
 *
 * @module
 */

import { CRON_NICKNAMES, DAY_NAMES, MONTH_NAMES } from "./cron.ts";
import { scheduleKind } from "./protocol/job_kind.js";

const MONTHS = [
  "",
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ORDINALS = ["", "first", "second", "third", "fourth", "fifth"];

/**
 * Describes a schedule as written in a koitab.
 *
 * @param schedule Five cron fields, or an `@` word (`@manual`, `@reboot` included).
 * @returns The schedule in words.
 *
 * @example
 * ```ts
 * import { describeSchedule } from "./describe.ts";
 *
 * if (describeSchedule("*\/5 * * * *") !== "every 5 minutes") throw new Error();
 * if (describeSchedule("15 3 * * 1-5") !== "at 03:15 on weekdays") throw new Error();
 * if (describeSchedule("30 2 * * *") !== "every day at 02:30") throw new Error();
 * if (describeSchedule("@manual") !== "only when started by hand") throw new Error();
 * ```
 */
export function describeSchedule(schedule: string): string {
  const text = schedule.trim();
  const kind = scheduleKind(text);
  if (kind === "manual") return "only when started by hand";
  if (kind === "reboot") return "once per boot, at koid's first start";
  if (text === "@hourly") return "every hour";
  const fields = (CRON_NICKNAMES[text] ?? text).split(/[ \t]+/);
  if (fields.length !== 5) return text;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [
    string,
    string,
    string,
    string,
    string,
  ];
  const time = describeTime(minute, hour);
  const days = describeDays(dayOfMonth, dayOfWeek);
  const months = describeMonths(month);
  if (!days && !months) return time.startsWith("at ") ? `every day ${time}` : time;
  return [time, days, months].filter(Boolean).join(" ");
}

function isNumber(text: string): boolean {
  return /^[0-9]+$/.test(text);
}

function pad(value: string | number): string {
  return String(value).padStart(2, "0");
}

function describeTime(minute: string, hour: string): string {
  if (minute === "*" && hour === "*") return "every minute";
  const everyMinutes = /^\*\/([0-9]+)$/.exec(minute);
  if (everyMinutes && hour === "*") {
    return everyMinutes[1] === "1" ? "every minute" : `every ${Number(everyMinutes[1])} minutes`;
  }
  if (isNumber(minute)) {
    const at = `:${pad(Number(minute))}`;
    if (hour === "*") return Number(minute) === 0 ? "every hour" : `every hour at ${at}`;
    const everyHours = /^\*\/([0-9]+)$/.exec(hour);
    if (everyHours) return `every ${Number(everyHours[1])} hours at ${at}`;
    const range = /^([0-9]+)-([0-9]+)$/.exec(hour);
    if (range) {
      return `every hour from ${pad(Number(range[1]))}${at} to ${pad(Number(range[2]))}${at}`;
    }
    if (/^[0-9]+(,[0-9]+)*$/.test(hour)) {
      const times = hour.split(",").map((h) => `${pad(Number(h))}${at}`);
      return `at ${list(times)}`;
    }
  }
  if (/^[0-9]+(,[0-9]+)*$/.test(minute) && isNumber(hour)) {
    return `at ${list(minute.split(",").map((m) => `${pad(Number(hour))}:${pad(Number(m))}`))}`;
  }
  return `at minute ${minute} of hour ${hour}`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

function ordinal(n: number): string {
  const suffix = n % 10 === 1 && n !== 11
    ? "st"
    : n % 10 === 2 && n !== 12
    ? "nd"
    : n % 10 === 3 && n !== 13
    ? "rd"
    : "th";
  return `${n}${suffix}`;
}

function nameOf(text: string, names: readonly string[]): number | null {
  if (isNumber(text)) return Number(text);
  const index = names.indexOf(text.toLowerCase());
  // Index 0 of the month names is a blank placeholder, never a match.
  return index >= 0 && names[index] !== "" ? index : null;
}

function describeWeekdays(field: string): string | null {
  const terms = field.split(",");
  const words: string[] = [];
  for (const term of terms) {
    const last = /^(.+)[lL]$/.exec(term);
    const nth = /^(.+)#([1-5])$/.exec(term);
    const range = /^([^-]+)-([^-]+)$/.exec(term);
    if (nth) {
      const day = nameOf(nth[1]!, DAY_NAMES);
      if (day === null) return null;
      words.push(`the ${ORDINALS[Number(nth[2])]} ${DAYS[day % 7]} of the month`);
    } else if (last && !term.includes("-")) {
      const day = nameOf(last[1]!, DAY_NAMES);
      if (day === null) return null;
      words.push(`the last ${DAYS[day % 7]} of the month`);
    } else if (range) {
      const from = nameOf(range[1]!, DAY_NAMES);
      const to = nameOf(range[2]!, DAY_NAMES);
      if (from === null || to === null) return null;
      if (from === 1 && to === 5) words.push("weekdays");
      else if ((from === 6 && (to === 0 || to === 7))) words.push("weekends");
      else words.push(`${DAYS[from % 7]} to ${DAYS[to % 7]}`);
    } else {
      const day = nameOf(term, DAY_NAMES);
      if (day === null) return null;
      words.push(DAYS[day % 7]!);
    }
  }
  const joined = list(words);
  return joined === "Saturday and Sunday" || joined === "Sunday and Saturday" ? "weekends" : joined;
}

function describeMonthDays(field: string): string | null {
  const words: string[] = [];
  for (const term of field.split(",")) {
    if (term === "L" || term === "l") words.push("the last day");
    else if (isNumber(term)) words.push(`the ${ordinal(Number(term))}`);
    else if (/^[0-9]+-[0-9]+$/.test(term)) {
      const [from, to] = term.split("-").map(Number) as [number, number];
      words.push(`the ${ordinal(from)} to the ${ordinal(to)}`);
    } else return null;
  }
  return `${list(words)} of the month`;
}

function describeDays(dayOfMonth: string, dayOfWeek: string): string {
  const anyDate = dayOfMonth === "*";
  const anyWeekday = dayOfWeek === "*";
  if (anyDate && anyWeekday) return "";
  const dates = anyDate ? null : describeMonthDays(dayOfMonth);
  const weekdays = anyWeekday ? null : describeWeekdays(dayOfWeek);
  if (anyDate) return weekdays ? `on ${weekdays}` : `on day-of-week ${dayOfWeek}`;
  if (anyWeekday) return dates ? `on ${dates}` : `on day-of-month ${dayOfMonth}`;
  const dateText = dates ?? `day-of-month ${dayOfMonth}`;
  const weekdayText = weekdays ?? `day-of-week ${dayOfWeek}`;
  // cron's day rule: both restricted means either; a field starting with * means both.
  const either = !dayOfMonth.startsWith("*") && !dayOfWeek.startsWith("*");
  return either
    ? `on ${dateText}, and on ${weekdayText}`
    : `on ${dateText} if it is ${weekdayText}`;
}

function describeMonths(field: string): string {
  if (field === "*") return "";
  const words: string[] = [];
  for (const term of field.split(",")) {
    const range = /^([^-/]+)-([^-/]+)$/.exec(term);
    if (range) {
      const from = nameOf(range[1]!, MONTH_NAMES);
      const to = nameOf(range[2]!, MONTH_NAMES);
      if (from === null || to === null) return `in month ${field}`;
      words.push(`${MONTHS[from]} to ${MONTHS[to]}`);
    } else {
      const month = nameOf(term, MONTH_NAMES);
      if (month === null || month < 1 || month > 12) return `in month ${field}`;
      words.push(MONTHS[month]!);
    }
  }
  return `in ${list(words)}`;
}
