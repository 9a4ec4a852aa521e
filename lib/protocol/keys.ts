/**
 * The dashboard's keys. From the dashboard password, derived locally and never
 * sent anywhere: an API key (sent to the server; it grants access), a run key
 * (never sent; it signs manual runs) and a data key (never sent; it encrypts
 * what a job says or is told, see `envelope.js`). The derivation and signing live in
 * `signing.js`, which the dashboard page loads too, so a browser runs
 * exactly the same code; this module adds what only Koi's own side needs.
 *
 * @module
 */

import * as signing from "./signing.js";
import { base64url, fromBase64url, hmacKey } from "./signing.js";

export { base64url, fromBase64url, PBKDF2_ITERATIONS } from "./signing.js";

/** The three keys derived from a dashboard password, each 32 bytes in unpadded base64url. */
export interface DashboardKeys {
  /** Sent to the dashboard server with every call; the server stores only its hash. */
  readonly apiKey: string;
  /** Signs manual runs; never leaves the user's machines or browser. */
  readonly runKey: string;
  /** Encrypts job data for the server to store (AES-256-GCM); never leaves them either. */
  readonly dataKey: string;
}

const encoder = new TextEncoder();

/**
 * Derives the API key, the run key and the data key from a password:
 * PBKDF2-HMAC-SHA256 (600,000 iterations) salted with the dashboard id, once,
 * then HKDF-SHA256 into three independent keys, each 32 bytes in unpadded
 * base64url.
 *
 * @param password The dashboard password.
 * @param dashboardId The dashboard's random id (the salt).
 * @returns The three keys.
 *
 * @example The keys differ, and the same inputs give the same keys
 * ```ts
 * import { deriveKeys } from "@koi/koi";
 *
 * const a = await deriveKeys("correct horse battery staple", "Zm9vYmFyYmF6cXV4MTIzNA");
 * const b = await deriveKeys("correct horse battery staple", "Zm9vYmFyYmF6cXV4MTIzNA");
 * if (new Set([a.apiKey, a.runKey, a.dataKey]).size !== 3) throw new Error("keys");
 * if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error("not repeatable");
 * if (!/^[A-Za-z0-9_-]{43}$/.test(a.dataKey)) throw new Error(a.dataKey);
 * ```
 */
export function deriveKeys(password: string, dashboardId: string): Promise<DashboardKeys> {
  return signing.deriveKeys(password, dashboardId);
}

/**
 * Signs a manual run's payload: HMAC-SHA256 over its exact UTF-8 bytes.
 *
 * @param runKey The run key, from {@linkcode deriveKeys}.
 * @param payload The payload, a JSON string, exactly as it will be sent.
 * @returns The signature, unpadded base64url.
 * @throws {TypeError} If the run key is not 32 bytes of base64url.
 */
export function signRun(runKey: string, payload: string): Promise<string> {
  return signing.signRun(runKey, payload);
}

/**
 * Checks a manual run's signature. The MAC is computed here and compared with
 * the given one in constant time; anything malformed is simply invalid.
 *
 * @param runKey The local run key.
 * @param payload The payload, exactly as received.
 * @param signature The signature, as received.
 * @returns True only if `signature` is the HMAC of `payload` under `runKey`.
 *
 * @example A changed payload does not verify
 * ```ts
 * import { deriveKeys, signRun, verifyRun } from "@koi/koi";
 *
 * const { runKey } = await deriveKeys("correct horse battery staple", "Zm9vYmFyYmF6cXV4MTIzNA");
 * const signature = await signRun(runKey, '{"tag":"j1"}');
 * if (!await verifyRun(runKey, '{"tag":"j1"}', signature)) throw new Error("valid");
 * if (await verifyRun(runKey, '{"tag":"j2"}', signature)) throw new Error("tampered");
 * ```
 */
export async function verifyRun(
  runKey: string,
  payload: string,
  signature: string,
): Promise<boolean> {
  const given = fromBase64url(signature);
  if (given === null || given.length !== 32) return false;
  const key = await hmacKey(runKey);
  const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
  return timingSafeEqual(expected, given);
}

/**
 * Compares two byte arrays in time that depends only on their length.
 *
 * @param a One array.
 * @param b The other.
 * @returns True when they hold the same bytes.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/**
 * The SHA-256 of an API key, as the server stores it: unpadded base64url.
 *
 * @param apiKey The API key.
 * @returns Its hash.
 */
export async function hashApiKey(apiKey: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(apiKey))));
}

/**
 * A new random dashboard id: 16 random bytes, unpadded base64url (22 characters).
 *
 * @returns The id.
 */
export function newDashboardId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}
