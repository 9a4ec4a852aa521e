// @ts-check
/**
 * The dashboard's key derivation and manual-run signing, in plain JavaScript so
 * that the browser page and Koi's own commands run the very same code: from the
 * password, an API key (sent to the server), a run key and a data key (never
 * sent), and the exact payload text a manual run signs. Only Web Crypto.
 *
 * @module
 */

/** PBKDF2 iterations: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const PBKDF2_ITERATIONS = 600_000;

const encoder = new TextEncoder();

/**
 * Derives the dashboard's three keys from its password: PBKDF2-HMAC-SHA256
 * salted with the dashboard id, once, then HKDF-SHA256 (empty salt) with a label
 * of each key's own into three independent keys, each 32 bytes in unpadded
 * base64url: the API key (`koi api key v1`, sent to the server), the run key
 * (`koi run key v1`, signs manual runs) and the data key (`koi data key v1`,
 * AES-256-GCM for `envelope.js`). The last two never leave the user's machines.
 *
 * @param {string} password The dashboard password.
 * @param {string} dashboardId The dashboard's random id (the salt).
 * @returns {Promise<{ apiKey: string, runKey: string, dataKey: string }>} The three keys.
 */
export async function deriveKeys(password, dashboardId) {
  const passwordKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const master = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: encoder.encode(`koi dashboard ${dashboardId}`),
      iterations: PBKDF2_ITERATIONS,
    },
    passwordKey,
    256,
  );
  const hkdfKey = await crypto.subtle.importKey("raw", master, "HKDF", false, ["deriveBits"]);
  /** @param {string} info */
  const expand = async (info) =>
    base64url(
      new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: encoder.encode(info) },
          hkdfKey,
          256,
        ),
      ),
    );
  return {
    apiKey: await expand("koi api key v1"),
    runKey: await expand("koi run key v1"),
    dataKey: await expand("koi data key v1"),
  };
}

/**
 * Signs a manual run's payload: HMAC-SHA256 over its exact UTF-8 bytes.
 *
 * @param {string | CryptoKey} runKey The run key, from {@linkcode deriveKeys}, or
 *   its {@linkcode hmacKey}.
 * @param {string} payload The payload, a JSON string, exactly as it will be sent.
 * @returns {Promise<string>} The signature, unpadded base64url.
 * @throws {TypeError} If the run key is not 32 bytes of base64url.
 */
export async function signRun(runKey, payload) {
  const key = typeof runKey === "string" ? await hmacKey(runKey) : runKey;
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(payload));
  return base64url(new Uint8Array(mac));
}

/**
 * The HMAC key for a run key: non-extractable, for signing only.
 *
 * @param {string} runKey The run key.
 * @returns {Promise<CryptoKey>} A key for HMAC-SHA256 signing.
 * @throws {TypeError} If the run key is not 32 bytes of base64url.
 */
export async function hmacKey(runKey) {
  const raw = fromBase64url(runKey);
  if (raw === null || raw.length !== 32) {
    throw new TypeError("Cannot use the run key: it must be 32 bytes of base64url");
  }
  return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
}

/**
 * The exact payload text a manual run signs, its keys in a fixed order:
 * `{"v":2,"dashboard":…,"host":…,"tag":…,"ts":…,"args":{…}}`. In version 2 each
 * argument value is an envelope, sealed before signing (`sealPayloadArgs()` in
 * `sealed.js`, which `manualPayload()` there calls for you).
 *
 * @param {{ v: number, dashboard: string, host: string, tag: string, ts: number,
 *   args: Readonly<Record<string, string | number | boolean>> }} payload The request.
 * @returns {string} The JSON text.
 */
export function payloadText(payload) {
  return JSON.stringify({
    v: payload.v,
    dashboard: payload.dashboard,
    host: payload.host,
    tag: payload.tag,
    ts: payload.ts,
    args: payload.args,
  });
}

/**
 * Unpadded base64url of some bytes.
 *
 * @param {Uint8Array} bytes The bytes.
 * @returns {string} The text.
 */
export function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The bytes of unpadded base64url text, or null when it is not base64url.
 *
 * @param {string} text The text.
 * @returns {Uint8Array<ArrayBuffer> | null} The bytes, or null.
 */
export function fromBase64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    return null;
  }
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
