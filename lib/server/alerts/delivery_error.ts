/**
 * Why a delivery of an alert failed, and whether trying again later may help.
 *
 * @module
 */

/**
 * A failed delivery: its message goes into the alert history as it is, so it
 * never holds a secret (no password, no full webhook URL).
 *
 * @example A refused destination is not retried
 * ```ts
 * import { DeliveryError } from "./delivery_error.ts";
 *
 * const error = new DeliveryError("refused: 10.0.0.7 is a private address", false);
 * if (error.retry) throw new Error("retried");
 * ```
 */
export class DeliveryError extends Error {
  /** Whether the failure may pass (a timeout, a 5xx, a refused connection). */
  readonly retry: boolean;
  /** The least wait before trying again, ms, when the destination said (`Retry-After`). */
  readonly retryAfterMs: number | null;

  /**
   * Makes the error.
   *
   * @param message What failed, for the alert history.
   * @param retry Whether to try again later.
   * @param retryAfterMs The least wait the destination asked for, ms.
   */
  constructor(message: string, retry: boolean, retryAfterMs: number | null = null) {
    super(message);
    this.name = "DeliveryError";
    this.retry = retry;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The delivery error for a failed network call: timeouts and refused, reset or
 * unreachable connections may pass; a certificate that does not verify will not.
 *
 * @param error What the call threw.
 * @param timeoutMs The call's time limit, for the message.
 * @returns The error to record.
 */
export function networkFailure(error: unknown, timeoutMs: number): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const timedOut = new DeliveryError(
    `timed out after ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`,
    true,
  );
  if (
    error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")
  ) {
    return timedOut;
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new DeliveryError("connection refused", true);
  }
  if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) {
    return new DeliveryError("connection reset", true);
  }
  if (error instanceof Deno.errors.TimedOut) return timedOut;
  const message = (error as Error)?.message ?? String(error);
  if (error instanceof Deno.errors.InvalidData || /certificate|tls|handshake/i.test(message)) {
    return new DeliveryError(`TLS failed: ${oneLine(message)}`, false);
  }
  return new DeliveryError(oneLine(message), true);
}

/**
 * A message on one line (runs of white space become one space), at most 300
 * characters.
 *
 * @param text The message.
 * @returns It, flattened and cut.
 */
export function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
