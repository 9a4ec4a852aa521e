// @ts-check
/**
 * One call to a dashboard's API as the page sends it: same-origin, the API key
 * as `Authorization: Bearer` and nothing else of the session (no cookies, no
 * referrer, nothing cached). `api.js` reads the answers; `start.js` sends the
 * page's first call for the jobs as described here, before the rest of the page
 * has loaded. It imports nothing, so that it loads at once.
 *
 * @module
 */

/** The path and entity tag of the first call for the jobs: every job (`JobsFeed`). */
export const FIRST_JOBS = Object.freeze({ path: "/jobs?since=0", ifNoneMatch: '"0"' });

/**
 * The path of the jobs view's first call for the jobs: every job, as
 * {@linkcode FIRST_JOBS}, or past 2,000 jobs the first jobs in the view's order
 * alone, more than a tall window shows (see the README's API).
 */
export const FIRST_SCREEN = Object.freeze({ path: "/jobs?since=0&first=100" });

/**
 * A call to the API as `fetch` takes it: its address and options.
 *
 * @param {string} id The dashboard id.
 * @param {string} apiKey Its API key.
 * @param {string} method The HTTP method.
 * @param {string} path The path after `/api/d/{id}`.
 * @param {{ body?: unknown, signal?: AbortSignal, ifNoneMatch?: string }} [options] A JSON
 *   body; an abort signal; the entity tag of the answer the page has.
 * @returns {{ url: string, init: RequestInit }}
 */
export function callRequest(id, apiKey, method, path, options = {}) {
  return {
    url: `/api/d/${encodeURIComponent(id)}${path}`,
    init: {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...(options.ifNoneMatch === undefined ? {} : { "if-none-match": options.ifNoneMatch }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal ? { signal: options.signal } : {}),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    },
  };
}

/**
 * Sends a call to the API.
 *
 * @param {string} id The dashboard id.
 * @param {string} apiKey Its API key.
 * @param {string} method The HTTP method.
 * @param {string} path The path after `/api/d/{id}`.
 * @param {{ body?: unknown, signal?: AbortSignal, ifNoneMatch?: string }} [options] A JSON
 *   body; an abort signal; the entity tag of the answer the page has.
 * @returns {Promise<Response>} The answer, as `fetch` gives it.
 */
export function sendCall(id, apiKey, method, path, options = {}) {
  const { url, init } = callRequest(id, apiKey, method, path, options);
  return fetch(url, init);
}
