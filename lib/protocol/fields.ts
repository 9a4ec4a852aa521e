/**
 * The checks of single fields of untrusted JSON, shared by the server's reading
 * of requests (`./schema.ts`) and the client's reading of answers
 * (`./answers.ts`): each returns the field's value typed, or throws a
 * {@linkcode FieldError} naming the field and saying what is wrong. Pure.
 *
 * @module
 */

import { HOST_NAME, TOKEN } from "./wire.ts";
import { isEnvelope, sealedLength } from "./envelope.js";

/** The latest instant accepted, in ms: the year 9999. */
export const MAX_TIME = 253_402_300_799_999;

/** A field that is missing, of the wrong type, or out of range. */
export class FieldError extends TypeError {
  /** The field's path, such as `jobs[3].tag`. */
  readonly field: string;

  /**
   * Makes the error; its message names the field and says what is wrong.
   *
   * @param field The field's path.
   * @param problem What is wrong, such as `must be a string`.
   * @param value The value found, quoted in the message when given (even if undefined).
   */
  constructor(field: string, problem: string, ...value: [] | [unknown]) {
    const got = value.length > 0 ? ` (got ${quote(value[0])})` : "";
    super(`Invalid "${field}": ${problem}${got}`);
    this.name = "FieldError";
    this.field = field;
  }
}

function quote(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A field that must be a JSON object.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @returns The object.
 * @throws {FieldError} If it is not an object (an array is not).
 */
export function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FieldError(field, "must be an object", value);
  }
  return value as Record<string, unknown>;
}

/**
 * A field that must be an array of at most `max` items.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param max The most items.
 * @returns The array.
 * @throws {FieldError} If it is not an array, or too long.
 */
export function asArray(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new FieldError(field, "must be an array", value);
  if (value.length > max) throw new FieldError(field, `must have at most ${max} items`);
  return value;
}

/**
 * A field that must be a string of `min` to `max` UTF-16 units.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param max The most characters.
 * @param min The fewest characters.
 * @returns The string.
 * @throws {FieldError} If it is not a string, or its length is out of range.
 *
 * @example
 * ```ts
 * import { asString, FieldError } from "./fields.ts";
 *
 * if (asString("web", "host", 253) !== "web") throw new Error();
 * try {
 *   asString(7, "run.name", 200);
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError)) throw error;
 *   if (error.message !== 'Invalid "run.name": must be a string (got 7)') throw error;
 * }
 * ```
 */
export function asString(value: unknown, field: string, max: number, min = 0): string {
  if (typeof value !== "string") throw new FieldError(field, "must be a string", value);
  if (value.length < min || value.length > max) {
    throw new FieldError(field, `must be ${min} to ${max} characters`, value);
  }
  return value;
}

/**
 * A field that is a string or null; absent counts as null.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param max The most characters.
 * @returns The string, or null.
 * @throws {FieldError} If it is neither.
 */
export function asNullableString(value: unknown, field: string, max: number): string | null {
  return value === null || value === undefined ? null : asString(value, field, max);
}

/**
 * A field that must be a token: a job tag, run id or manual-run id ({@linkcode TOKEN}).
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @returns The token.
 * @throws {FieldError} If it is not 1 to 64 characters of `A-Za-z0-9_-`.
 */
export function asToken(value: unknown, field: string): string {
  if (typeof value !== "string" || !TOKEN.test(value)) {
    throw new FieldError(field, "must be 1 to 64 characters of A-Za-z0-9_-", value);
  }
  return value;
}

/**
 * A field that must be a host name ({@linkcode HOST_NAME}).
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @returns The host name.
 * @throws {FieldError} If it is not 1 to 253 characters of `A-Za-z0-9._-`.
 */
export function asHostName(value: unknown, field: string): string {
  if (typeof value !== "string" || !HOST_NAME.test(value)) {
    throw new FieldError(field, "must be 1 to 253 characters of A-Za-z0-9._-", value);
  }
  return value;
}

/**
 * A field that must be a whole number from `min` to `max`.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param min The least value.
 * @param max The greatest value.
 * @returns The number.
 * @throws {FieldError} If it is not such a number.
 */
export function asInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new FieldError(field, `must be a whole number from ${min} to ${max}`, value);
  }
  return value;
}

/**
 * A field that is a whole number from `min` to `max`, or null; absent counts as null.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param min The least value.
 * @param max The greatest value.
 * @returns The number, or null.
 * @throws {FieldError} If it is neither.
 */
export function asNullableInteger(
  value: unknown,
  field: string,
  min: number,
  max: number,
): number | null {
  return value === null || value === undefined ? null : asInteger(value, field, min, max);
}

/**
 * A field that must be an instant: ms since the epoch, from 1970 to the year 9999.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @returns The instant.
 * @throws {FieldError} If it is not one.
 */
export function asTime(value: unknown, field: string): number {
  return asInteger(value, field, 0, MAX_TIME);
}

/**
 * A field that must be one of a closed set of strings.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param choices The allowed values.
 * @returns The value, typed.
 * @throws {FieldError} If it is not one of them; the message lists them.
 */
export function asOneOf<T extends string>(value: unknown, field: string, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    throw new FieldError(field, `must be one of ${choices.map((c) => `"${c}"`).join(", ")}`, value);
  }
  return value as T;
}

/**
 * A field that must hold a sealed value (`./envelope.js`): the server never has
 * the key, so it checks the shape, and refuses plain text, which a client that
 * forgot to seal would send. The message never quotes the value.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param maxBytes The most bytes the sealed value may have.
 * @returns The envelope.
 * @throws {FieldError} If it is not an envelope, or seals more than `maxBytes`.
 *
 * @example
 * ```ts
 * import { asEnvelope, FieldError } from "./fields.ts";
 *
 * try {
 *   asEnvelope("echo secret", "jobs[0].command", 100);
 *   throw new Error("taken");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.message.includes("secret")) throw error;
 * }
 * ```
 */
export function asEnvelope(value: unknown, field: string, maxBytes: number): string {
  if (typeof value !== "string") throw new FieldError(field, "must be a string", value);
  if (!isEnvelope(value)) {
    throw new FieldError(
      field,
      "must be sealed with the data key (an envelope k1.IV.SEALED), not plain text",
    );
  }
  if (value.length > sealedLength(maxBytes)) {
    throw new FieldError(field, `must seal at most ${maxBytes} bytes`);
  }
  return value;
}

/**
 * A field that must be null or hold a sealed value, as {@linkcode asEnvelope}.
 *
 * @param value The value.
 * @param field The field's path, for the error.
 * @param maxBytes The most bytes the sealed value may have.
 * @returns The envelope, or null.
 * @throws {FieldError} If it is neither null nor such an envelope.
 */
export function asNullableEnvelope(
  value: unknown,
  field: string,
  maxBytes: number,
): string | null {
  return value === null || value === undefined ? null : asEnvelope(value, field, maxBytes);
}
