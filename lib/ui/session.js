// @ts-check
/**
 * Where the page keeps a dashboard's keys between page loads, never the
 * password: for this tab only (`sessionStorage`, the default: closing the tab
 * forgets them), or, when the user asks, on this device for some days
 * (IndexedDB), with the run key as a non-extractable `CryptoKey` (scripts can
 * sign with it, never read it out) and the API key as it is (it has to go out
 * in a header). Signing out forgets both, and tells the page's other tabs.
 *
 * @module
 */

import { hmacKey } from "../protocol/signing.js";
import { importDataKey } from "../protocol/envelope.js";

/**
 * The keys a signed-in page holds: the API key as text (it goes in a header),
 * the run key as text or as a non-extractable HMAC key, the data key as text or
 * as a non-extractable AES-GCM key.
 *
 * @typedef {{ apiKey: string, runKey: string | CryptoKey, dataKey: string | CryptoKey }} Keys
 */

/**
 * Keys found for a dashboard: where they were kept, and until when.
 *
 * @typedef {object} Session
 * @property {Keys} keys The keys.
 * @property {number | null} expiresAt When a device sign-in ends (ms); null for a tab's.
 */

/** The choices of how long to stay signed in on a device, in days. */
export const REMEMBER_DAYS = /** @type {const} */ ([1, 7, 30]);

const DAY_MS = 86_400_000;
const DATABASE = "koi-dashboard";
const STORE = "keys";
/** Tells the page's other tabs that a dashboard's device sign-in was forgotten. */
const CHANNEL = "koi-dashboard-session";

/** @param {string} id */
const tabKey = (id) => `koi.dashboard.${id}`;

/**
 * The keys kept for a dashboard: this tab's first, else this device's. A device
 * sign-in past its time is deleted, and reported as `"expired"`.
 *
 * @param {string} id The dashboard id.
 * @param {number} now The current instant.
 * @returns {Promise<Session | "expired" | null>} The keys, `"expired"`, or null.
 */
export async function loadSession(id, now) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(tabKey(id)) ?? "null");
    if (
      typeof saved?.apiKey === "string" && typeof saved?.runKey === "string" &&
      typeof saved?.dataKey === "string"
    ) {
      const keys = { apiKey: saved.apiKey, runKey: saved.runKey, dataKey: saved.dataKey };
      return { keys, expiresAt: null };
    }
  } catch {
    // Storage unavailable or garbled: look on the device.
  }
  /** @type {any} */
  let record = null;
  try {
    record = await request((store) => store.get(id), "readonly");
  } catch {
    return null; // No IndexedDB here (a private window may have none): not signed in.
  }
  if (
    typeof record?.apiKey !== "string" || !(record?.runKey instanceof CryptoKey) ||
    typeof record?.expiresAt !== "number"
  ) {
    return null;
  }
  if (record.expiresAt <= now) {
    await forgetDevice(id);
    return "expired";
  }
  // Kept by a page from before the data key: it cannot open what the server holds.
  if (!(record.dataKey instanceof CryptoKey)) {
    await forgetDevice(id);
    return null;
  }
  const keys = { apiKey: record.apiKey, runKey: record.runKey, dataKey: record.dataKey };
  return { keys, expiresAt: record.expiresAt };
}

/**
 * Keeps the keys for this tab, until it closes or the user signs out.
 *
 * @param {string} id The dashboard id.
 * @param {{ apiKey: string, runKey: string, dataKey: string }} keys The keys, as derived.
 * @returns {Session} The session.
 */
export function keepForTab(id, keys) {
  const kept = { apiKey: keys.apiKey, runKey: keys.runKey, dataKey: keys.dataKey };
  try {
    sessionStorage.setItem(tabKey(id), JSON.stringify(kept));
  } catch {
    // Storage unavailable: the session lasts as long as the page.
  }
  return { keys: kept, expiresAt: null };
}

/**
 * Keeps the keys on this device for `days`: the run key turned into a
 * non-extractable HMAC key and the data key into a non-extractable AES-GCM key
 * first, so that what is stored cannot be read back as text by any script; the
 * API key as it is.
 *
 * @param {string} id The dashboard id.
 * @param {{ apiKey: string, runKey: string, dataKey: string }} keys The keys, as derived.
 * @param {number} days How long.
 * @param {number} now The current instant.
 * @returns {Promise<Session>} The session, holding the non-extractable run key.
 * @throws {Error} If this browser cannot store them (no IndexedDB), saying so.
 */
export async function keepOnDevice(id, keys, days, now) {
  const runKey = await hmacKey(keys.runKey);
  const dataKey = await importDataKey(keys.dataKey);
  const expiresAt = now + days * DAY_MS;
  try {
    await request((store) =>
      store.put({ apiKey: keys.apiKey, runKey, dataKey, savedAt: now, expiresAt }, id)
    );
  } catch {
    throw new Error(
      'this browser cannot keep them on this device (a private window?): untick "Stay signed in"',
    );
  }
  return { keys: { apiKey: keys.apiKey, runKey, dataKey }, expiresAt };
}

/**
 * Forgets a dashboard's keys: this tab's, and this device's (telling the other
 * tabs, which then sign out if they used them).
 *
 * @param {string} id The dashboard id.
 * @returns {Promise<void>}
 */
export async function forgetKeys(id) {
  try {
    sessionStorage.removeItem(tabKey(id));
  } catch {
    // Nothing was kept.
  }
  await forgetDevice(id);
  try {
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage({ forgotten: id });
    channel.close();
  } catch {
    // No other tabs to tell.
  }
}

/**
 * Calls `onForgotten` when another tab forgets this dashboard's device sign-in.
 *
 * @param {string} id The dashboard id.
 * @param {() => void} onForgotten Told once per time.
 */
export function watchForgotten(id, onForgotten) {
  try {
    new BroadcastChannel(CHANNEL).addEventListener("message", (event) => {
      if (event.data?.forgotten === id) onForgotten();
    });
  } catch {
    // No BroadcastChannel: other tabs notice when the stored keys are gone.
  }
}

/** @param {string} id */
async function forgetDevice(id) {
  try {
    await request((store) => store.delete(id));
  } catch {
    // No IndexedDB: nothing was kept.
  }
}

/**
 * Runs one request on the keys store, in a transaction of its own.
 *
 * @param {(store: IDBObjectStore) => IDBRequest} make Makes the request.
 * @param {IDBTransactionMode} [mode] The transaction's mode.
 * @returns {Promise<any>} The request's result, once its transaction is done.
 */
async function request(make, mode = "readwrite") {
  const database = await new Promise((resolve, reject) => {
    const opening = indexedDB.open(DATABASE, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode);
      const made = make(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(made.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    database.close();
  }
}
