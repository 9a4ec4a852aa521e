// @ts-check
/**
 * How the page words times, durations, run outcomes and argument values. Pure:
 * the current time and the time zone are passed in, so the same code runs in
 * the browser and in Deno's tests.
 *
 * @module
 */

import { argFromText } from "../protocol/arg_types.js";

/** @typedef {import("../protocol/arg_types.js").ArgType} ArgType */
/** @typedef {import("../protocol/arg_types.js").ArgValue} ArgValue */
/** @typedef {import("../protocol/wire.ts").Run} Run */
/** @typedef {import("../protocol/wire.ts").JobState} JobState */

/**
 * A duration in words a person reads at a glance: `35 ms`, `4.2 s`, `12 s`,
 * `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
 *
 * @param {number} ms The duration, in milliseconds.
 * @returns {string} The duration in words.
 */
export function formatDuration(ms) {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 10_000) return `${(Math.floor(value / 100) / 10).toFixed(1)} s`;
  const seconds = Math.floor(value / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/**
 * How far an instant is from now, in words: `in 3 min`, `5 s ago`, `now`.
 *
 * @param {number} at The instant, ms since the epoch.
 * @param {number} now The current instant.
 * @returns {string} The relative time.
 */
export function formatRelative(at, now) {
  const delta = at - now;
  const distance = Math.abs(delta);
  if (distance < 1000) return "now";
  /** @type {[number, string][]} */
  const units = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "min"], [1000, "s"]];
  let text = "";
  for (const [size, unit] of units) {
    if (distance >= size) {
      text = `${Math.floor(distance / size)} ${unit}`;
      break;
    }
  }
  return delta > 0 ? `in ${text}` : `${text} ago`;
}

/** @type {Map<string, Intl.DateTimeFormat>} */
const formatters = new Map();

/**
 * A date formatter, made once per locale and options: making one costs far more
 * than using it, and a table of thousands of jobs formats thousands of times.
 *
 * @param {string} key What tells these options from others, cheap to make.
 * @param {string} locale The locale.
 * @param {() => Intl.DateTimeFormatOptions} options The options.
 * @returns {Intl.DateTimeFormat}
 */
function formatter(key, locale, options) {
  let made = formatters.get(key);
  if (made === undefined) {
    made = new Intl.DateTimeFormat(locale, options());
    formatters.set(key, made);
  }
  return made;
}

/**
 * An instant as the viewer's clock shows it: the time alone when it is today,
 * else with the day (and the year when not this year).
 *
 * @param {number} at The instant, ms since the epoch.
 * @param {number} now The current instant, to decide what "today" is.
 * @param {{ timeZone?: string, seconds?: boolean }} [options] The zone (default the
 *   viewer's) and whether to show seconds.
 * @returns {string} The local time.
 */
export function formatTime(at, now, options = {}) {
  const zone = options.timeZone === undefined ? {} : { timeZone: options.timeZone };
  const where = options.timeZone ?? "";
  const days = formatter(`day ${where}`, "en-CA", () => ({ ...zone, dateStyle: "short" }));
  /** @type {Intl.DateTimeFormatOptions} */
  const clock = {
    ...zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    ...(options.seconds ? { second: "2-digit" } : {}),
  };
  const kind = `${where} ${options.seconds ? "s" : ""}`;
  const [day, today] = [days.format(at), days.format(now)];
  if (day === today) return formatter(`clock ${kind}`, "en-GB", () => clock).format(at);
  const sameYear = day.slice(0, 4) === today.slice(0, 4);
  return formatter(`dated ${kind} ${sameYear ? "" : "y"}`, "en-GB", () => ({
    ...clock,
    weekday: "short",
    day: "numeric",
    month: "short",
    ...(sameYear ? {} : { year: "numeric" }),
  })).format(at);
}

/**
 * Makes the date formatters a table of jobs uses ({@linkcode formatTime} in the
 * viewer's zone): the first one made loads the locale's data, which takes tens
 * of milliseconds, better spent while the page waits for the jobs than once
 * they have come.
 *
 * @param {number} now The current instant.
 */
export function warmFormatters(now) {
  const dayMs = 86_400_000;
  for (const at of [now, now + 2 * dayMs, now + 400 * dayMs]) formatTime(at, now);
  formatTime(now, now, { seconds: true });
}

/**
 * A run's duration: finished minus started, or so far for a running one.
 *
 * @param {Pick<Run, "startedAt" | "finishedAt">} run The run.
 * @param {number} now The current instant.
 * @returns {number} The duration, ms.
 */
export function runDuration(run, now) {
  return (run.finishedAt ?? now) - run.startedAt;
}

/**
 * A run's outcome: a state for the page's badges, one word, and the words in full.
 *
 * @param {Pick<Run, "status" | "exitCode" | "signal" | "error">} run The run.
 * @returns {{ state: JobState, word: string, text: string }} The outcome.
 */
export function runOutcome(run) {
  switch (run.status) {
    case "running":
      return { state: "running", word: "running", text: "running" };
    case "succeeded":
      return { state: "ok", word: "ok", text: "ok" };
    case "failed":
      return {
        state: "failed",
        word: "failed",
        text: run.exitCode === null ? "failed" : `failed, exit code ${run.exitCode}`,
      };
    case "killed":
      return {
        state: "failed",
        word: "killed",
        text: run.signal ? `killed by ${run.signal}` : "killed",
      };
    case "interrupted":
      return {
        state: "failed",
        word: "interrupted",
        text: "interrupted (Koi stopped on its machine)",
      };
    case "not-started":
      return { state: "failed", word: "not started", text: "did not start" };
  }
}

/**
 * A run's exit code as the page shows it: the number, the signal that ended
 * it, or a dash.
 *
 * @param {Pick<Run, "exitCode" | "signal">} run The run.
 * @returns {string}
 */
export function exitWords(run) {
  if (run.exitCode !== null) return String(run.exitCode);
  return run.signal ?? "–";
}

/** The words for each job state, as the badges show them. */
export const STATE_WORDS = /** @type {const} */ ({
  ok: "ok",
  failed: "failed",
  running: "running",
  late: "late",
  never: "never run",
});

/**
 * How a run was started, in words.
 *
 * @param {Run["trigger"]} trigger The trigger.
 * @returns {string} `scheduled`, `at boot` or `by hand`.
 */
export function triggerWords(trigger) {
  return trigger === "schedule" ? "scheduled" : trigger === "reboot" ? "at boot" : "by hand";
}

/**
 * A run's arguments as `name=value` words, strings quoted only when they would
 * be ambiguous (empty, or holding spaces or quotes).
 *
 * @param {Readonly<Record<string, string | number | boolean>>} args The values.
 * @returns {string[]} One word per argument, in the order given.
 */
export function argumentWords(args) {
  return Object.entries(args).map(([name, value]) =>
    `${name}=${
      typeof value === "string" && (value === "" || /[\s"'\\]/.test(value))
        ? JSON.stringify(value)
        : String(value)
    }`
  );
}

/**
 * Reads what was typed into an argument's field with the verdict every path
 * gives the same text (`argFromText()`, shared with koid and `koitab`), and words
 * a refusal for the field: `Type a whole number, such as 42`.
 *
 * @param {ArgType} type The argument's type.
 * @param {string} text The field's text, as typed.
 * @returns {{ value: ArgValue } | { problem: string }} The value, or what is wrong.
 */
export function readArgumentField(type, text) {
  const verdict = argFromText(type, text);
  if (verdict.ok) return { value: verdict.value };
  const limit = Number.MAX_SAFE_INTEGER.toLocaleString("en-US");
  switch (verdict.reason) {
    case "range":
      return {
        problem: `Too ${
          text.startsWith("-") ? "small" : "big"
        }: type a whole number from -${limit} to ${limit}`,
      };
    case "type":
      if (type === "bool") return { problem: "Choose yes or no" };
      // The same verdict as everywhere (refused), with the reason in view.
      if (text.trim() !== text && argFromText(type, text.trim()).ok) {
        return { problem: "Remove the spaces around the number" };
      }
      return { problem: "Type a whole number, such as 42" };
    default: {
      const problem = verdict.problem.replace(/^is /, "");
      return { problem: problem[0]?.toUpperCase() + problem.slice(1) };
    }
  }
}

/**
 * The viewer's time zone, as the browser knows it.
 *
 * @returns {string} An IANA zone name, such as `Europe/Berlin`.
 */
export function viewerZone() {
  return formatter("viewer", "en-US", () => ({})).resolvedOptions().timeZone;
}

/**
 * A zone's offset from UTC at an instant, in words: `UTC`, `UTC+1`, `UTC-3:30`.
 *
 * @param {string} zone The IANA zone.
 * @param {number} at The instant.
 * @returns {string} The offset.
 */
export function zoneOffset(zone, at) {
  const name = formatter(`offset ${zone}`, "en-US", () => ({
    timeZone: zone,
    timeZoneName: "shortOffset",
  })).formatToParts(at).find((part) => part.type === "timeZoneName")?.value ?? "GMT";
  return name === "GMT" || name === "GMT+0" ? "UTC" : name.replace(/^GMT/, "UTC");
}

/**
 * Whether two zones show the same clock time at an instant (then the page need
 * not name a job's zone beside the viewer's).
 *
 * @param {string} a A zone.
 * @param {string} b Another.
 * @param {number} at The instant.
 * @returns {boolean}
 */
export function zonesAgree(a, b, at) {
  try {
    return a === b || zoneOffset(a, at) === zoneOffset(b, at);
  } catch {
    return false; // A zone this browser does not know: name it.
  }
}
