// @ts-check
/**
 * Job commands, opened as they are needed. The jobs call brings every job's
 * command sealed (`k1.…`), and opening ten thousand of them takes the page about
 * a second of its main thread: so the jobs view first opens those it shows, and
 * the feed the rest a chunk at a time when the page is idle. Each command is
 * opened once while koid sends the same envelope for it.
 *
 * @module
 */

/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {(callback: () => void, options: { timeout: number }) => number} IdleRequest */

/** How many commands are opened at a time, between two looks at the page's other work. */
export const CHUNK = 200;

/**
 * Resolves when the page is next idle (within a second however busy it is), or a
 * task later where there is no `requestIdleCallback`.
 *
 * @returns {Promise<void>}
 */
export function whenIdle() {
  // Not in every browser (nor in Deno, where the page's pure parts are tested).
  const scope = /** @type {{ requestIdleCallback?: IdleRequest }} */ (
    /** @type {unknown} */ (globalThis)
  );
  return new Promise((resolve) => {
    if (scope.requestIdleCallback) scope.requestIdleCallback(() => resolve(), { timeout: 1000 });
    else setTimeout(resolve, 0);
  });
}

/**
 * Resolves a task later: what the page was asked meanwhile comes first.
 *
 * @returns {Promise<void>}
 */
export function nextTask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The commands of a dashboard's jobs, each opened once while its envelope stays the same. */
export class Commands {
  /** @type {Map<string, { envelope: string, text: string }>} Opened, by job key. */
  #opened = new Map();
  /** @type {Map<string, Promise<string>>} Being opened, by job key and envelope. */
  #opening = new Map();
  /** @type {(job: JobRow) => Promise<string>} */
  #open;

  /**
   * @param {(job: JobRow) => Promise<string>} open Opens one job's command (`Api.openCommand`).
   */
  constructor(open) {
    this.#open = open;
  }

  /**
   * A job's command in plain text, or null while it is not opened.
   *
   * @param {Pick<JobRow, "host" | "tag" | "command">} job The job, as the feed holds it.
   * @returns {string | null}
   */
  text(job) {
    const found = this.#opened.get(jobKey(job));
    return found?.envelope === job.command ? found.text : null;
  }

  /**
   * Opens the commands of these jobs that are not opened yet, {@linkcode CHUNK} at a
   * time, waiting for `pause()` before each chunk but the first.
   *
   * @param {readonly JobRow[]} jobs The jobs.
   * @param {() => Promise<void>} [pause] What to wait for between chunks.
   * @returns {Promise<string[]>} Their commands, in order.
   */
  async open(jobs, pause = nextTask) {
    /** @type {string[]} */
    const texts = [];
    for (let at = 0; at < jobs.length; at += CHUNK) {
      const chunk = jobs.slice(at, at + CHUNK);
      if (at > 0 && chunk.some((job) => this.text(job) === null)) await pause();
      texts.push(...await Promise.all(chunk.map((job) => this.#openOne(job))));
    }
    return texts;
  }

  /**
   * Forgets the commands of jobs no longer listed.
   *
   * @param {readonly JobRow[]} jobs Every job listed now.
   */
  keepOnly(jobs) {
    if (this.#opened.size === 0) return;
    const listed = new Set(jobs.map(jobKey));
    for (const key of this.#opened.keys()) {
      if (!listed.has(key)) this.#opened.delete(key);
    }
  }

  /**
   * @param {JobRow} job
   * @returns {Promise<string>}
   */
  #openOne(job) {
    const known = this.text(job);
    if (known !== null) return Promise.resolve(known);
    const key = jobKey(job);
    const id = `${key}\n${job.command}`;
    let pending = this.#opening.get(id);
    if (pending === undefined) {
      pending = this.#open(job).then((text) => {
        this.#opened.set(key, { envelope: job.command, text });
        return text;
      }).finally(() => this.#opening.delete(id));
      this.#opening.set(id, pending);
    }
    return pending;
  }
}

/**
 * A job's key in the feed: its host and tag.
 *
 * @param {Pick<JobRow, "host" | "tag">} job The job.
 * @returns {string}
 */
export function jobKey(job) {
  return `${job.host}/${job.tag}`;
}
