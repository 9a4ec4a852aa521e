// @ts-check
/**
 * The types of a job's arguments, in one table: what each accepts typed as text
 * (`koitab run --arg`, `koitab -d run --arg`, the page's form, a placeholder's
 * default) and as JSON (a signed manual run, which koid checks), its default when
 * none is declared, and its name for people. Every path that reads or checks a
 * value asks here, so each gives the same verdict; adding a type is one entry.
 * Plain JavaScript, so the page loads the very same code; no I/O.
 *
 * The verdicts are strict, as cron users expect: an int is decimal digits with
 * an optional `-`, in the safe-integer range (`05` is 5, `-0` is 0; `+5`, `1e3`,
 * ` 5` and `99999999999999999999` are not ints); a bool is `true` or `false`,
 * nothing else (`TRUE`, `yes` and `1` are not bools); a string is any text
 * without a NUL byte, up to 64 KiB of UTF-8.
 *
 * @module
 */

/**
 * The type of an argument: `string` (the default), `int` or `bool`.
 *
 * @typedef {"string" | "int" | "bool"} ArgType
 */

/**
 * An argument's value: a string, a whole number or a boolean, by its type.
 *
 * @typedef {string | number | boolean} ArgValue
 */

/**
 * One argument of a job, as its command declares it with a placeholder.
 *
 * @typedef {object} ArgSpec
 * @property {string} name The name, trimmed: `To Handle`, `Emoji 😃`.
 * @property {ArgType} type The type: `string` unless the placeholder says `int` or `bool`.
 * @property {ArgValue} [default] The value used when none is given; absent when
 *   the placeholder has none.
 */

/**
 * Why a value does not fit: `type` (not of the argument's type), `range` (a
 * whole number outside the safe-integer range), `nul` (a NUL byte) or `length`
 * (over 64 KiB).
 *
 * @typedef {"type" | "range" | "nul" | "length"} ArgProblem
 */

/**
 * The verdict on a value: the value to use, or why it does not fit, as the end
 * of a sentence that starts `argument "NAME" `: `must be a whole number, got "+5"`.
 *
 * @typedef {{ ok: true, value: ArgValue }
 *   | { ok: false, reason: ArgProblem, problem: string }} ArgVerdict
 */

/** The types, in the order people are told them. */
export const ARG_TYPES = /** @type {const} */ (["string", "int", "bool"]);

/** The most bytes (UTF-8) one string value may have. */
export const MAX_ARG_VALUE_BYTES = 64 * 1024;

/** The names of the types for people, as the page's form says them. */
const LABELS = { string: "text", int: "whole number", bool: "yes or no" };

const utf8 = new TextEncoder();

/**
 * Whether a text names an argument type.
 *
 * @param {unknown} text The text.
 * @returns {text is ArgType} True for `string`, `int` and `bool`.
 */
export function isArgType(text) {
  return typeof text === "string" && /** @type {readonly string[]} */ (ARG_TYPES).includes(text);
}

/**
 * An argument type's name for people: `text`, `whole number`, `yes or no`.
 *
 * @param {ArgType} type The type.
 * @returns {string} The name.
 */
export function argTypeLabel(type) {
  return LABELS[type];
}

/**
 * The value an argument takes when none is given and it declares no default:
 * false for a bool; none (the value is required) for a string or an int.
 *
 * @param {ArgType} type The type.
 * @returns {ArgValue | undefined} The value, or undefined when one is required.
 */
export function implicitDefault(type) {
  return type === "bool" ? false : undefined;
}

/**
 * The value an argument takes when none is given: its default, else its type's
 * {@linkcode implicitDefault}.
 *
 * @param {Pick<ArgSpec, "type" | "default">} spec The argument.
 * @returns {ArgValue | undefined} The value, or undefined when one is required.
 */
export function argDefault(spec) {
  return spec.default !== undefined ? spec.default : implicitDefault(spec.type);
}

/**
 * Reads a value typed as text for an argument of a type: the one verdict of
 * `koitab run`, `koitab -d run`, the page's form and a placeholder's default.
 *
 * @param {ArgType} type The argument's type.
 * @param {string} text The text as typed, untrimmed.
 * @returns {ArgVerdict} The typed value, or why the text is not one.
 *
 * @example
 * ```ts
 * import { argFromText } from "./arg_types.js";
 *
 * const five = argFromText("int", "05");
 * if (!five.ok || five.value !== 5) throw new Error(JSON.stringify(five));
 * const plus = argFromText("int", "+5");
 * if (plus.ok || plus.problem !== 'must be a whole number, got "+5"') throw new Error();
 * if (argFromText("bool", "TRUE").ok) throw new Error("TRUE");
 * ```
 */
export function argFromText(type, text) {
  switch (type) {
    case "int": {
      if (!/^-?[0-9]+$/.test(text)) return refused("type", type, text);
      const value = Number(text);
      // -0 is 0: no sign reaches the command or the payload.
      return Number.isSafeInteger(value) ? accepted(value + 0) : refused("range", type, text);
    }
    case "bool":
      if (text === "true" || text === "false") return accepted(text === "true");
      return refused("type", type, text);
    case "string":
      return stringVerdict(text);
  }
}

/**
 * Checks a value as JSON gives it (a signed manual run's) for an argument of a
 * type: an int must be a number that is a safe integer, a bool a boolean, a
 * string a string; text is not read as a number or a boolean.
 *
 * @param {ArgType} type The argument's type.
 * @param {unknown} value The value.
 * @returns {ArgVerdict} The value, or why it does not fit.
 *
 * @example
 * ```ts
 * import { argFromJson } from "./arg_types.js";
 *
 * if (!argFromJson("int", 5).ok || argFromJson("int", "5").ok) throw new Error();
 * const problem = argFromJson("string", 5);
 * if (problem.ok || problem.problem !== "must be a string, got 5") throw new Error();
 * ```
 */
export function argFromJson(type, value) {
  switch (type) {
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return refused("type", type, value);
      }
      return Number.isSafeInteger(value) ? accepted(value + 0) : refused("range", type, value);
    case "bool":
      return typeof value === "boolean" ? accepted(value) : refused("type", type, value);
    case "string":
      return typeof value === "string" ? stringVerdict(value) : refused("type", type, value);
  }
}

/**
 * Whether a value has its type's shape (a string, a safe integer, a boolean),
 * without the limits on a string's content: what a declared default must be.
 *
 * @param {ArgType} type The type.
 * @param {unknown} value The value.
 * @returns {value is ArgValue} True when it has the shape.
 */
export function fitsArgType(type, value) {
  switch (type) {
    case "int":
      return Number.isSafeInteger(value);
    case "bool":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
  }
}

/**
 * A value as it reads in a message: strings quoted (long ones cut), numbers and
 * booleans as written, anything else named.
 *
 * @param {unknown} value The value.
 * @returns {string} The text: `"+5"`, `1.5`, `an array`.
 */
export function describeValue(value) {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "bigint") return `${value}n`;
  return String(value);
}

/**
 * @param {ArgValue} value
 * @returns {ArgVerdict}
 */
function accepted(value) {
  return { ok: true, value };
}

/** What a value of each type must be, after `must be `. */
const WANTED = { string: "a string", int: "a whole number", bool: "true or false" };

/**
 * @param {"type" | "range"} reason
 * @param {ArgType} type
 * @param {unknown} value
 * @returns {ArgVerdict}
 */
function refused(reason, type, value) {
  return { ok: false, reason, problem: `must be ${WANTED[type]}, got ${describeValue(value)}` };
}

/**
 * A string value's verdict: no NUL byte, at most 64 KiB of UTF-8.
 *
 * @param {string} text
 * @returns {ArgVerdict}
 */
function stringVerdict(text) {
  if (text.includes("\0")) {
    return {
      ok: false,
      reason: "nul",
      problem: "contains a NUL byte, which no command line can carry",
    };
  }
  // Most values are far below the limit in any encoding: count bytes only near it.
  if (text.length * 3 > MAX_ARG_VALUE_BYTES) {
    const bytes = utf8.encode(text).length;
    if (bytes > MAX_ARG_VALUE_BYTES) {
      return {
        ok: false,
        reason: "length",
        problem: `is too long: ${bytes} bytes, the limit is ${MAX_ARG_VALUE_BYTES} (64 KiB)`,
      };
    }
  }
  return accepted(text);
}
