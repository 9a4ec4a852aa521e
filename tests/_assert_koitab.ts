/**
 * Tiny assertions for the koitab and argument tests, so they need no dependency.
 *
 * @module
 */

function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length &&
      a.every((byte, i) => byte === b[i]);
  }
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  const bRecord = b as Record<string, unknown>;
  const aRecord = a as Record<string, unknown>;
  return aKeys.every((key) => Object.hasOwn(b, key) && equal(aRecord[key], bRecord[key]));
}

/**
 * Throws unless `actual` and `expected` are structurally equal: same own keys
 * (an absent key differs from one set to `undefined`), equal values.
 */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  if (equal(actual, expected)) return;
  const show = (value: unknown) => Deno.inspect(value, { depth: 10, strAbbreviateSize: 1000 });
  throw new Error(
    `${message ? `${message}: ` : ""}values differ\nactual:   ${show(actual)}\nexpected: ${
      show(expected)
    }`,
  );
}

/** Throws unless `fn` throws an instance of `ErrorClass`, with exactly `message` if given. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  message?: string,
): E {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ErrorClass)) {
      throw new Error(`expected ${ErrorClass.name}, got ${Deno.inspect(error)}`);
    }
    if (message !== undefined && error.message !== message) {
      throw new Error(
        `expected message ${JSON.stringify(message)}, got ${JSON.stringify(error.message)}`,
      );
    }
    return error;
  }
  throw new Error(`expected ${ErrorClass.name} to be thrown, nothing was`);
}
