// @ts-check
/**
 * How the dashboard page starts, before the rest of it has loaded: the page
 * loads this module first (its own `<script>`, ahead of `app.js`), which finds
 * the keys kept for the dashboard of the address (`session.js`) and, when the
 * view asked for lists the jobs, sends the first call for them (`request.js`).
 * Every job is the largest answer the page reads (about 6.3 MiB at 10,000 jobs):
 * it comes while the page's other modules load instead of after them, received by
 * a worker (`call_worker.js`) so that the page's main thread is free for them.
 * The jobs view asks first, itself, for `FIRST_SCREEN`: every job up to 2,000, or
 * on a bigger dashboard its first screen of rows alone, a small answer it draws at
 * once; then every job, through the worker, once that has come (asked together,
 * the two would share the server's reads). `app.js` takes the keys and the answers
 * from here: the keys are looked up once and each call is sent once, with the
 * same key and headers as every other call. Without kept keys nothing is sent:
 * the sign-in form asks for the password.
 *
 * @module
 */

import { callRequest, FIRST_JOBS, FIRST_SCREEN } from "./request.js";
import { loadSession } from "./session.js";

/** @typedef {import("./session.js").Session} Session */

/**
 * A view of the page, as its address's fragment names it (`#/…`).
 *
 * @typedef {{ name: "jobs" } | { name: "job", host: string, tag: string } |
 *   { name: "run", runId: string } | { name: "alerts" } | { name: "unknown" }} View
 */

/**
 * How the page starts: the keys kept for its dashboard (`"expired"` for a device
 * sign-in that ran out, null for none), and the first call for the jobs, sent
 * when there are keys and the view lists the jobs.
 *
 * @typedef {object} Start
 * @property {Session | "expired" | null} found The keys kept, as `loadSession` gives them.
 * @property {Promise<Response> | null} firstJobs The first call for the jobs, sent; or null.
 * @property {Promise<Response | null> | null} firstScreen The jobs view's first screen of
 *   rows: the answer of a big dashboard's first call, which has them alone; null when that
 *   answer had every job, or when the view is another (or there are no keys).
 */

const DASHBOARD_PATH = /^\/d\/([A-Za-z0-9_-]{16,64})\/?$/;

/**
 * The view a fragment names, or null for a fragment that names none (the skip
 * link's `#main`): `#/` the jobs, `#/job/HOST/TAG` a job, `#/run/ID` a run,
 * `#/alerts` the alerts; any other `#/…` is unknown.
 *
 * @param {string} hash The fragment, `location.hash`.
 * @returns {View | null}
 */
export function viewOf(hash) {
  if (hash !== "" && hash !== "#" && !hash.startsWith("#/")) return null;
  /** @type {string[]} */
  let parts;
  try {
    parts = hash.slice(2).split("/").filter((part) => part !== "").map(decodeURIComponent);
  } catch {
    return { name: "unknown" }; // A broken escape.
  }
  const [first, second, third] = parts;
  if (first === undefined) return { name: "jobs" };
  if (first === "job" && second !== undefined && third !== undefined && parts.length === 3) {
    return { name: "job", host: second, tag: third };
  }
  if (first === "run" && second !== undefined && parts.length === 2) {
    return { name: "run", runId: second };
  }
  if (first === "alerts" && parts.length === 1) return { name: "alerts" };
  return { name: "unknown" };
}

/**
 * Whether a view lists the jobs as it opens (the jobs, a job's page and the
 * alerts do, from the page's shared copy: `JobsFeed`).
 *
 * @param {View | null} view The view.
 * @returns {boolean}
 */
export function listsJobs(view) {
  return view?.name === "jobs" || view?.name === "job" || view?.name === "alerts";
}

/** The dashboard id of the page's address (`/d/{id}`), or null for another address. */
export const dashboardId = DASHBOARD_PATH.exec(location.pathname)?.[1] ?? null;

/**
 * Sends a call from a worker (`call_worker.js`), which receives the answer off
 * the page's main thread; from here where there are no workers, or the worker
 * does not start.
 *
 * @param {Worker | null} worker The worker, started; null for none.
 * @param {{ url: string, init: RequestInit }} call The call, as `request.js` makes it.
 * @returns {Promise<Response>} The answer, as `fetch` would give it.
 */
function sendFromWorker(worker, call) {
  if (worker === null) return fetch(call.url, call.init);
  return new Promise((resolve, reject) => {
    worker.addEventListener("message", ({ data }) => {
      if (data.failed) {
        reject(new TypeError("The call for the jobs failed"));
        return;
      }
      /** @type {Record<string, string>} */
      const headers = {};
      if (data.contentType !== null) headers["content-type"] = data.contentType;
      if (data.etag !== null) headers.etag = data.etag;
      const bodiless = data.status === 204 || data.status === 304;
      resolve(
        new Response(bodiless ? null : data.body, {
          status: data.status,
          statusText: data.statusText,
          headers,
        }),
      );
    }, { once: true });
    // The worker could not start: nothing was sent, so the page sends it.
    worker.addEventListener("error", () => resolve(fetch(call.url, call.init)), { once: true });
    worker.postMessage(call);
  });
}

/** Where `early_worker.js` leaves the worker it started, on the page's global object. */
const EARLY_WORKER = "koiEarlyCallWorker";

/**
 * The worker that sends the first call for the jobs: the one `early_worker.js`
 * started as the page began, or one started now (a page whose early script did
 * not run, or whose early worker failed). The early worker is taken once, and
 * ended when there is no call to send.
 *
 * @param {boolean} listing Whether the view lists the jobs, so that there may be a call.
 * @returns {Worker | null} The worker; null when the view lists no jobs, where there are no
 *   workers, or where one cannot start.
 */
function takeWorker(listing) {
  /** @type {any} */
  const page = globalThis;
  const early = page[EARLY_WORKER] instanceof Worker ? page[EARLY_WORKER] : null;
  delete page[EARLY_WORKER];
  if (!listing) {
    early?.terminate();
    return null;
  }
  if (early !== null) return early;
  try {
    return new Worker(new URL("./call_worker.js", import.meta.url), { type: "module" });
  } catch {
    return null; // No workers, or not allowed: the page sends the call itself.
  }
}

/**
 * Finds the keys and sends the first call for the jobs, when it should.
 *
 * @param {string} id The dashboard id.
 * @returns {Promise<Start>}
 */
async function begin(id) {
  const view = viewOf(location.hash);
  const listing = listsJobs(view);
  // Started as the page began (or now), while the keys are looked up; ended at once when
  // there are none.
  const worker = takeWorker(listing);
  // A worker whose script does not load says so once, maybe before it is given the call.
  let workerFailed = false;
  worker?.addEventListener("error", () => workerFailed = true, { once: true });
  const found = await loadSession(id, Date.now());
  if (found === null || found === "expired" || !listing) {
    worker?.terminate();
    return { found, firstJobs: null, firstScreen: null };
  }
  const ifNoneMatch = FIRST_JOBS.ifNoneMatch;
  const send = (/** @type {string} */ path) => {
    if (workerFailed) worker?.terminate();
    return sendFromWorker(
      workerFailed ? null : worker,
      callRequest(id, found.keys.apiKey, "GET", path, { ifNoneMatch }),
    );
  };
  /** @type {Promise<Response>} */
  let firstJobs;
  /** @type {Promise<Response | null> | null} */
  let firstScreen = null;
  if (view?.name === "jobs") {
    // Every job, or on a big dashboard the first screen of rows alone (no ETag): then
    // every job next, through the worker. The first call is the page's own: at most
    // 2,000 jobs, and the worker's script may still be coming.
    const call = callRequest(id, found.keys.apiKey, "GET", FIRST_SCREEN.path, { ifNoneMatch });
    const first = fetch(call.url, call.init);
    const screenOnly = (/** @type {Response} */ response) =>
      response.ok && !response.headers.has("etag");
    firstScreen = first.then((response) => screenOnly(response) ? response : null);
    firstJobs = first.then((response) => screenOnly(response) ? send(FIRST_JOBS.path) : response);
  } else firstJobs = send(FIRST_JOBS.path);
  firstJobs.finally(() => worker?.terminate()).catch(() => {});
  // Read by the first view (`Api.jobChanges`, `Api.firstScreen`), which reports a failure.
  firstScreen?.catch(() => {});
  return { found, firstJobs, firstScreen };
}

/** How the page starts; null when the address names no dashboard. */
export const start = dashboardId === null ? null : begin(dashboardId);
