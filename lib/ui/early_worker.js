// @ts-check
/**
 * The first thing the dashboard page runs: a classic script, loaded `async`
 * ahead of every module, that starts the worker which will send the page's
 * first call for the jobs (`call_worker.js`). A worker takes a while to load
 * and start, and the page's modules take a while to come: started here, it is
 * ready by the time `start.js` has found the keys, instead of only starting
 * then. It leaves the worker for `start.js` on the page's global object (the one
 * thing a classic script and a module share), and sends nothing itself:
 * `start.js` decides whether there is a call to send, and ends the worker when
 * there is none. A worker that fails to load is taken back, so that `start.js`
 * does not wait on it.
 */

(() => {
  /** Where `start.js` finds the worker. */
  const EARLY_WORKER = "koiEarlyCallWorker";
  /** @type {any} */
  const page = globalThis;
  try {
    const worker = new Worker("/ui/call_worker.js", { type: "module" });
    worker.addEventListener("error", () => {
      if (page[EARLY_WORKER] === worker) delete page[EARLY_WORKER];
    }, { once: true });
    page[EARLY_WORKER] = worker;
  } catch {
    // No workers, or not allowed: start.js sends the call itself.
  }
})();
