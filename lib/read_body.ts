/**
 * Reading an HTTP body up to a limit, never holding more: the one bounded read
 * the dashboard server uses on requests and its client on answers.
 *
 * @module
 */

/** A body larger than the limit it was read with. */
export class BodyTooLargeError extends RangeError {
  /** The limit, in bytes. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param limit The limit, in bytes.
   */
  constructor(limit: number) {
    super(`The body is larger than ${limit} bytes`);
    this.name = "BodyTooLargeError";
    this.limit = limit;
  }
}

/**
 * Reads a request's or response's body, never holding more than `limit` bytes: a
 * `Content-Length` over the limit is refused before reading, and a streamed body
 * is cancelled as soon as it passes the limit (or when `signal` aborts).
 *
 * @param message The request or response.
 * @param limit The most bytes accepted.
 * @param signal Cancels the read; its reason is thrown.
 * @returns The body's bytes (none for no body).
 * @throws {BodyTooLargeError} Over the limit.
 *
 * @example A body over the limit is refused
 * ```ts
 * import { BodyTooLargeError, readBody } from "./read_body.ts";
 *
 * const bytes = await readBody(new Response("12345"), 5);
 * if (bytes.length !== 5) throw new Error("read");
 * try {
 *   await readBody(new Response("123456"), 5);
 *   throw new Error("read past the limit");
 * } catch (error) {
 *   if (!(error instanceof BodyTooLargeError)) throw error;
 * }
 * ```
 */
export async function readBody(
  message: Request | Response,
  limit: number,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const body = message.body;
  if (body === null) return new Uint8Array(0);
  const declared = message.headers.get("content-length");
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > limit) {
    await body.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  const reader = body.getReader();
  // Deno ends a fetch's read when its signal aborts; this makes sure of it.
  const cancel = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (signal?.aborted) throw signal.reason;
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new BodyTooLargeError(limit);
      }
      parts.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}
