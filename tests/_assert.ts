/**
 * The few assertions Koi's tests need, written here so the tests have no dependencies.
 *
 * @module
 */

/** A failed assertion. */
export class AssertionError extends Error {
  /** @param message What was expected and what was found. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Formats a value for a failure message: dates as ISO strings, the rest as Deno shows them. */
function show(value: unknown): string {
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  }
  return Deno.inspect(value, { depth: 10, iterableLimit: 500, strAbbreviateSize: 2000 });
}

/** Structural equality: primitives by `Object.is`, dates by time, arrays and plain objects by their entries. */
function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  return keysA.every((key) => Object.hasOwn(recordB, key) && equal(recordA[key], recordB[key]));
}

/**
 * Fails unless `condition` is truthy.
 *
 * @param condition The value that must be truthy.
 * @param message What the failure means.
 */
export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/**
 * Fails unless `actual` and `expected` are structurally equal.
 *
 * @param actual The value found.
 * @param expected The value wanted.
 * @param message Context for the failure, put before the two values.
 */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (equal(actual, expected)) return;
  const context = message === undefined ? "" : `${message}\n`;
  throw new AssertionError(
    `${context}Values are not equal.\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`,
  );
}

/**
 * Fails unless `fn` throws an instance of `errorClass`; returns what it threw.
 *
 * @param fn The code expected to throw.
 * @param errorClass The class the thrown value must be an instance of.
 * @param message Context for the failure.
 * @returns The thrown error.
 */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  errorClass: new (...args: never[]) => E,
  message?: string,
): E {
  const context = message === undefined ? "" : `${message}: `;
  try {
    fn();
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw new AssertionError(
      `${context}Expected ${errorClass.name} to be thrown, but got ${show(error)}`,
    );
  }
  throw new AssertionError(`${context}Expected ${errorClass.name} to be thrown, but nothing was`);
}
