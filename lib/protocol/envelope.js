// @ts-check
/**
 * The encryption envelope: how a piece of job data (an output chunk, an
 * argument value, a command line) is sealed with the dashboard's data key
 * before it reaches the server, and opened again by koid, `koitab` and the
 * page, which all run this very file. Only Web Crypto.
 *
 * An envelope is the text `k1.IV.SEALED`: the version, then the 12 random bytes
 * of the AES-256-GCM initialisation vector, then the ciphertext followed by its
 * 16-byte tag, each in unpadded base64url, so it fits any JSON string. The
 * additional authenticated data binds it to where it belongs, so that one moved
 * to another dashboard, host, run or job, field or position does not open:
 *
 * ```text
 * AAD = str("k1") ‖ str(dashboard) ‖ str(host) ‖ str(scope) ‖ str(field) ‖ u64(seq)
 * str(s) = the 4-byte big-endian length of s in UTF-8, then those bytes
 * u64(n) = n as 8 bytes, big-endian
 * ```
 *
 * @module
 */

import { base64url, fromBase64url } from "./signing.js";

/** The version of the envelopes {@linkcode seal} makes: the text before the first dot. */
export const ENVELOPE_VERSION = "k1";

/**
 * What the page and `koitab` show in place of a text that does not open: the
 * same words everywhere, because the likely cause is the same.
 */
export const UNDECRYPTABLE_TEXT = "cannot be decrypted — changed on the server?";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Where a sealed value belongs; the envelope opens only with the very same
 * context it was sealed with.
 *
 * @typedef {object} EnvelopeContext
 * @property {string} dashboard The dashboard id.
 * @property {string} host The host the value comes from or goes to.
 * @property {string} scope What the value belongs to on that host: a run id, or a job tag.
 * @property {string} field Which of its values this is (`output`, `command`, `args.To`…).
 * @property {number} seq Its position among values of the same field (a chunk's number; 0 when
 *   there is only one), a whole number from 0 to 2^53 - 1.
 */

/**
 * Why an envelope did not open: `malformed` (not an envelope at all, or cut
 * short), `version` (an envelope of another version, from a newer Koi), or
 * `unauthentic` (changed, moved to another place, or sealed with another key).
 *
 * @typedef {"malformed" | "version" | "unauthentic"} EnvelopeFailure
 */

/** An envelope that does not open, and why; the message never holds the value. */
export class EnvelopeError extends Error {
  /**
   * Makes the error.
   *
   * @param {EnvelopeFailure} reason Why it does not open.
   * @param {string} message What failed, naming the field.
   */
  constructor(reason, message) {
    super(message);
    this.name = "EnvelopeError";
    /**
     * Why it does not open.
     *
     * @readonly
     * @type {EnvelopeFailure}
     */
    this.reason = reason;
  }
}

/**
 * The AES-256-GCM key for a data key: non-extractable, to seal and open with.
 *
 * @param {string} dataKey The data key, 32 bytes of unpadded base64url.
 * @returns {Promise<CryptoKey>} The key.
 * @throws {TypeError} If the data key is not 32 bytes of base64url.
 */
export async function importDataKey(dataKey) {
  const raw = fromBase64url(dataKey);
  if (raw === null || raw.length !== 32) {
    throw new TypeError("Cannot use the data key: it must be 32 bytes of base64url");
  }
  return await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/**
 * The additional authenticated data of an envelope: the context, each text
 * length-prefixed so that no two contexts give the same bytes.
 *
 * @param {EnvelopeContext} context Where the value belongs.
 * @returns {Uint8Array<ArrayBuffer>} `str("k1") ‖ str(dashboard) ‖ str(host) ‖ str(scope) ‖
 *   str(field) ‖ u64(seq)`.
 * @throws {TypeError} If a text is empty or not well-formed Unicode, or `seq` is not a whole
 *   number from 0 to 2^53 - 1.
 *
 * @example The exact bytes
 * ```ts
 * import { envelopeAad } from "./envelope.js";
 *
 * const aad = envelopeAad({ dashboard: "d", host: "h", scope: "r", field: "f", seq: 258 });
 * const expected = [0, 0, 0, 2, 107, 49, 0, 0, 0, 1, 100, 0, 0, 0, 1, 104, 0, 0, 0, 1, 114,
 *   0, 0, 0, 1, 102, 0, 0, 0, 0, 0, 0, 1, 2];
 * if (aad.join() !== expected.join()) throw new Error(aad.join());
 * ```
 */
export function envelopeAad(context) {
  const texts = [ENVELOPE_VERSION, context.dashboard, context.host, context.scope, context.field]
    .map((text, i) => {
      const name = ["version", "dashboard", "host", "scope", "field"][i];
      if (typeof text !== "string" || text === "") {
        throw new TypeError(`Cannot seal or open: the context's ${name} must be a non-empty text`);
      }
      const bytes = encoder.encode(text);
      if (decoder.decode(bytes) !== text) {
        throw new TypeError(
          `Cannot seal or open: the context's ${name} is not well-formed Unicode`,
        );
      }
      return bytes;
    });
  const seq = context.seq;
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new TypeError(
      `Cannot seal or open: the context's seq must be a whole number from 0, got ${seq}`,
    );
  }
  const length = texts.reduce((sum, bytes) => sum + 4 + bytes.length, 8);
  const aad = new Uint8Array(length);
  const view = new DataView(aad.buffer);
  let at = 0;
  for (const bytes of texts) {
    view.setUint32(at, bytes.length);
    aad.set(bytes, at + 4);
    at += 4 + bytes.length;
  }
  view.setUint32(at, Math.floor(seq / 2 ** 32));
  view.setUint32(at + 4, seq % 2 ** 32);
  return aad;
}

/**
 * Seals a value for its place: AES-256-GCM under the data key, with a fresh
 * random 96-bit IV and the context as additional authenticated data.
 *
 * @param {string | CryptoKey} dataKey The data key, or its {@linkcode importDataKey}.
 * @param {EnvelopeContext} context Where the value belongs.
 * @param {string | Uint8Array} value The value: text (sealed as UTF-8) or bytes.
 * @returns {Promise<string>} The envelope, `k1.IV.SEALED`, {@linkcode sealedLength} characters.
 * @throws {TypeError} If the key or the context is not usable.
 *
 * @example Sealed here, opened there with the same context
 * ```ts
 * import { seal, unsealText } from "./envelope.js";
 *
 * const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
 * const context = { dashboard: "Zm9vYmFyYmF6cXV4MTIzNA", host: "web1", scope: "r1",
 *   field: "output", seq: 0 };
 * const envelope = await seal(key, context, "hello");
 * if (!envelope.startsWith("k1.")) throw new Error(envelope);
 * if (await unsealText(key, context, envelope) !== "hello") throw new Error("open");
 * ```
 */
export async function seal(dataKey, context, value) {
  const key = typeof dataKey === "string" ? await importDataKey(dataKey) : dataKey;
  const additionalData = envelopeAad(context);
  const plaintext = typeof value === "string" ? encoder.encode(value) : value;
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData, tagLength: TAG_BYTES * 8 },
    key,
    // A copy: Web Crypto refuses a view of a SharedArrayBuffer, which a Uint8Array may be.
    new Uint8Array(plaintext),
  );
  return `${ENVELOPE_VERSION}.${base64url(iv)}.${base64url(new Uint8Array(sealed))}`;
}

/**
 * Opens an envelope sealed for this very context.
 *
 * @param {string | CryptoKey} dataKey The data key, or its {@linkcode importDataKey}.
 * @param {EnvelopeContext} context Where the value is expected to belong.
 * @param {string} envelope The envelope, as received.
 * @returns {Promise<Uint8Array<ArrayBuffer>>} The value's bytes.
 * @throws {EnvelopeError} If it is not an envelope, is of another version, or does not
 *   authenticate (changed, moved to another context, or sealed with another key).
 * @throws {TypeError} If the key or the context is not usable.
 */
export async function unseal(dataKey, context, envelope) {
  const key = typeof dataKey === "string" ? await importDataKey(dataKey) : dataKey;
  const additionalData = envelopeAad(context);
  const where = `"${context.field}" of ${context.scope}`;
  const parts = typeof envelope === "string" ? envelope.split(".") : [];
  if (parts.length === 3 && parts[0] !== ENVELOPE_VERSION && /^k[0-9]+$/.test(parts[0] ?? "")) {
    throw new EnvelopeError(
      "version",
      `Cannot decrypt ${where}: it is sealed in version ${
        parts[0]
      }, which this Koi does not know (upgrade Koi)`,
    );
  }
  const iv = canonicalBytes(parts[1]);
  const sealed = canonicalBytes(parts[2]);
  if (
    parts.length !== 3 || parts[0] !== ENVELOPE_VERSION || iv?.length !== IV_BYTES ||
    sealed === null || sealed.length < TAG_BYTES
  ) {
    throw new EnvelopeError("malformed", `Cannot decrypt ${where}: it is not an envelope`);
  }
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData, tagLength: TAG_BYTES * 8 },
      key,
      sealed,
    );
    return new Uint8Array(plaintext);
  } catch (error) {
    if (!(error instanceof DOMException && error.name === "OperationError")) throw error;
    throw new EnvelopeError(
      "unauthentic",
      `Cannot decrypt ${where}: it was changed or moved on the server, or sealed with another key`,
    );
  }
}

/**
 * Opens an envelope of text sealed for this very context.
 *
 * @param {string | CryptoKey} dataKey The data key, or its {@linkcode importDataKey}.
 * @param {EnvelopeContext} context Where the text is expected to belong.
 * @param {string} envelope The envelope, as received.
 * @returns {Promise<string>} The text.
 * @throws {EnvelopeError} As {@linkcode unseal} does, and as `malformed` when what it holds
 *   is not UTF-8.
 * @throws {TypeError} If the key or the context is not usable.
 */
export async function unsealText(dataKey, context, envelope) {
  const bytes = await unseal(dataKey, context, envelope);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new EnvelopeError(
      "malformed",
      `Cannot decrypt "${context.field}" of ${context.scope}: it holds bytes, not text`,
    );
  }
}

/**
 * The length of the envelope of a value of `bytes` bytes, in characters (ASCII,
 * so in bytes too, and in a JSON string): what a size limit must allow for.
 *
 * @param {number} bytes The value's length in bytes (UTF-8 for a text).
 * @returns {number} The envelope's length.
 * @throws {RangeError} If `bytes` is not a whole number from 0.
 *
 * @example An empty value, and 1 KiB
 * ```ts
 * import { sealedLength } from "./envelope.js";
 *
 * if (sealedLength(0) !== 42 || sealedLength(1024) !== 1407) throw new Error("length");
 * ```
 */
export function sealedLength(bytes) {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(
      `Cannot size an envelope of ${bytes} bytes: a whole number from 0 is needed`,
    );
  }
  return ENVELOPE_VERSION.length + 1 + base64urlLength(IV_BYTES) + 1 +
    base64urlLength(bytes + TAG_BYTES);
}

/**
 * Whether a value has the shape of an envelope of this version (it may still not
 * open): what the server can check of what it stores, never having the key.
 *
 * @param {unknown} value The value, as received.
 * @returns {value is string} True for `k1.` then 16 and at least 22 characters of base64url.
 *
 * @example
 * ```ts
 * import { isEnvelope } from "./envelope.js";
 *
 * if (!isEnvelope("k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA")) throw new Error("shape");
 * if (isEnvelope("plain text")) throw new Error("plain");
 * ```
 */
export function isEnvelope(value) {
  // No base64url text is 1 more than a multiple of 4 long; the rest of the envelope is 20.
  return typeof value === "string" && /^k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/.test(value) &&
    value.length % 4 !== 1;
}

/**
 * How many bytes the value in an envelope has, from the envelope's length alone
 * (the inverse of {@linkcode sealedLength}): what the server counts against a
 * limit of plain bytes, never having the key.
 *
 * @param {string} envelope An envelope ({@linkcode isEnvelope}).
 * @returns {number} The value's length in bytes.
 *
 * @example
 * ```ts
 * import { openedLength, sealedLength } from "./envelope.js";
 *
 * const envelope = "k1.AAAAAAAAAAAAAAAA." + "A".repeat(sealedLength(1024) - 20);
 * if (openedLength(envelope) !== 1024) throw new Error("length");
 * ```
 */
export function openedLength(envelope) {
  const sealed = envelope.length - (ENVELOPE_VERSION.length + 1 + base64urlLength(IV_BYTES) + 1);
  return Math.max(0, Math.floor(sealed * 3 / 4) - TAG_BYTES);
}

/** @param {number} bytes */
function base64urlLength(bytes) {
  return Math.floor(bytes / 3) * 4 + (bytes % 3 === 0 ? 0 : bytes % 3 + 1);
}

/**
 * The bytes of base64url text in its one canonical spelling, else null: a
 * changed character never decodes to the same bytes.
 *
 * @param {string | undefined} text
 */
function canonicalBytes(text) {
  if (text === undefined) return null;
  const bytes = fromBase64url(text);
  return bytes !== null && base64url(bytes) === text ? bytes : null;
}
