// @ts-check
/**
 * Waiting and repeating, cancelled by an abort signal: the page refreshes what
 * it shows on a timer, and stops the moment the view changes.
 *
 * @module
 */

/**
 * Waits, unless aborted first.
 *
 * @param {number} ms How long.
 * @param {AbortSignal} signal Ends the wait early (rejecting).
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", done);
      resolve();
    }, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `task` now and then `ms` after each run ends, until aborted. A task that
 * throws is run again all the same, after `onError` is told.
 *
 * @param {(signal: AbortSignal) => Promise<void>} task The task.
 * @param {number} ms The pause between runs.
 * @param {AbortSignal} signal Stops it.
 * @param {(error: unknown) => void} onError Told when the task throws.
 * @returns {{ done: Promise<void>, now: () => void }} `done` settles when aborted; `now()`
 *   cuts the current pause short (or makes the running task run again at once).
 */
export function every(task, ms, signal, onError) {
  let wake = () => {};
  let again = false;
  const done = (async () => {
    while (!signal.aborted) {
      again = false;
      try {
        await task(signal);
      } catch (error) {
        if (signal.aborted) return;
        onError(error);
      }
      if (again) continue;
      const woken = new Promise((resolve) => wake = () => resolve(undefined));
      try {
        await Promise.race([sleep(ms, signal), woken]);
      } catch {
        return;
      }
    }
  })();
  return {
    done,
    now() {
      again = true;
      wake();
    },
  };
}
