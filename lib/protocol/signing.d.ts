/**
 * Types of `signing.js`, the key derivation and signing shared by the dashboard
 * page and Koi's own commands.
 *
 * @module
 */

/** PBKDF2 iterations: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export declare const PBKDF2_ITERATIONS: number;

/**
 * Derives the dashboard's three keys from its password: PBKDF2 once, then HKDF
 * with a label of each key's own.
 *
 * @param password The dashboard password.
 * @param dashboardId The dashboard's random id (the salt).
 * @returns The API key, the run key and the data key, each 32 bytes in unpadded base64url.
 */
export declare function deriveKeys(
  password: string,
  dashboardId: string,
): Promise<{ apiKey: string; runKey: string; dataKey: string }>;

/**
 * Signs a manual run's payload: HMAC-SHA256 over its exact UTF-8 bytes.
 *
 * @param runKey The run key, or its {@linkcode hmacKey}.
 * @param payload The payload, exactly as it will be sent.
 * @returns The signature, unpadded base64url.
 */
export declare function signRun(runKey: string | CryptoKey, payload: string): Promise<string>;

/**
 * The HMAC key for a run key: non-extractable, for signing only.
 *
 * @param runKey The run key.
 * @returns A key for HMAC-SHA256 signing.
 */
export declare function hmacKey(runKey: string): Promise<CryptoKey>;

/**
 * The exact payload text a manual run signs, its keys in a fixed order.
 *
 * @param payload The request.
 * @returns The JSON text.
 */
export declare function payloadText(payload: {
  v: 1;
  dashboard: string;
  host: string;
  tag: string;
  ts: number;
  args: Readonly<Record<string, string | number | boolean>>;
}): string;

/**
 * Unpadded base64url of some bytes.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export declare function base64url(bytes: Uint8Array): string;

/**
 * The bytes of unpadded base64url text, or null when it is not base64url.
 *
 * @param text The text.
 * @returns The bytes, or null.
 */
export declare function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null;
