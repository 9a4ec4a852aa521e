// @ts-check
/**
 * A dedicated worker that sends calls to the API and hands back their answers'
 * bytes: the page's first calls for the jobs (about 6.3 MiB at 10,000 jobs), so
 * that receiving them takes the worker's thread, not the page's, which meanwhile
 * loads and runs the page's modules (`early_worker.js` starts it as the page
 * begins; `start.js`, where that did not run, and ends it after its last call).
 * Each call comes in a message, as `request.js` makes it, the API key in its
 * `Authorization` header (never in an address), and is answered in turn; the
 * answer's bytes go back transferred, not copied.
 * It imports nothing, so that it starts at once.
 *
 * @module
 */

/**
 * The worker's side of its messages (the DOM library types `globalThis` as a window).
 *
 * @type {{ postMessage(message: unknown, transfer?: Transferable[]): void,
 *   addEventListener(type: "message", listener: (event: MessageEvent) => void): void }}
 */
const scope = /** @type {any} */ (globalThis);

scope.addEventListener("message", async (event) => {
  /** @type {{ url: string, init: RequestInit }} */
  const { url, init } = event.data;
  try {
    const response = await fetch(url, init);
    const body = await response.arrayBuffer();
    scope.postMessage({
      status: response.status,
      statusText: response.statusText,
      contentType: response.headers.get("content-type"),
      etag: response.headers.get("etag"),
      body,
    }, [body]);
  } catch {
    scope.postMessage({ failed: true });
  }
});
