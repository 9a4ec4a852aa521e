// @ts-check
/**
 * The page's copy of every job and host, kept up to date with what changed only
 * (`GET /jobs?since=CURSOR`, see the README's API): a refresh where nothing
 * changed is a bodiless 304; a run that ended brings that one job. The views
 * share one copy for the whole sign-in, so going back to the jobs shows them at
 * once.
 *
 * @module
 */

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("./api.js").HostInfo} HostInfo */

/** The most characters of host names one call asks for again; the rest wait for the next. */
const MAX_STALE_CHARS = 4000;
/**
 * How long after a job's view runs out (`refreshAt`) its host's jobs are asked for
 * again: a job that runs then is sent anyway with its run's start, within this.
 */
const STALE_GRACE_MS = 10_000;

/**
 * A job's key in the feed: its host and tag.
 *
 * @param {Pick<JobRow, "host" | "tag">} job The job.
 * @returns {string}
 */
export function jobKey(job) {
  return `${job.host}/${job.tag}`;
}

/** Every job and host of a dashboard, as of the last {@linkcode JobsFeed.update}. */
export class JobsFeed {
  /** @type {Map<string, Map<string, JobRow>>} Each host's jobs, by tag. */
  #byHost = new Map();
  /** @type {JobRow[] | null} Every job by host and line; null until asked for again. */
  #sorted = null;
  /** @type {readonly HostInfo[]} */
  #hosts = [];
  /** @type {Map<string, number>} Each host's soonest `refreshAt`, ms. */
  #refreshAt = new Map();
  #cursor = "0";
  /** @type {Promise<Set<string> | null> | null} */
  #pending = null;

  /** @param {Api} api The dashboard's API. */
  constructor(api) {
    /** @readonly */
    this.api = api;
  }

  /** Whether the feed has had its first answer. */
  get loaded() {
    return this.#cursor !== "0";
  }

  /**
   * Every job, by host and line, each with its last run and view.
   *
   * @returns {readonly JobRow[]}
   */
  get jobs() {
    this.#sorted ??= [...this.#byHost.keys()].sort().flatMap((host) =>
      [...(this.#byHost.get(host)?.values() ?? [])].sort((a, b) => a.line - b.line)
    );
    return this.#sorted;
  }

  /**
   * Every host, by name, with whether it is connected.
   *
   * @returns {readonly HostInfo[]}
   */
  get hosts() {
    return this.#hosts;
  }

  /**
   * Asks the server what changed; one call at a time, shared by concurrent callers.
   *
   * @returns {Promise<Set<string> | null>} The keys of the jobs that changed, came or went
   *   (see {@linkcode jobKey}); null when any may have (the first answer, or a whole new
   *   copy). Empty when no job changed (the hosts may have).
   * @throws {import("./api.js").ApiError} When the call fails.
   */
  update() {
    this.#pending ??= this.#update().finally(() => this.#pending = null);
    return this.#pending;
  }

  /** @returns {Promise<Set<string> | null>} */
  async #update() {
    const now = Date.now();
    // The longest stale first; what does not fit in one call goes in the next ones.
    const stale = [];
    let length = 0;
    for (const [host, at] of [...this.#refreshAt].sort((a, b) => a[1] - b[1])) {
      length += host.length + 1;
      if (at + STALE_GRACE_MS > now || length > MAX_STALE_CHARS) break;
      stale.push(host);
    }
    const cursor = this.#cursor;
    const answer = await this.api.jobChanges(cursor, cursor === "0" ? [] : stale);
    if (answer === null) return new Set();
    this.#cursor = answer.cursor;
    if (answer.hosts !== null) this.#hosts = answer.hosts;
    /** @type {Set<string> | null} */
    const changed = answer.full ? null : new Set();
    if (answer.full) this.#byHost.clear();
    /** @type {Set<string>} */
    const touched = new Set(answer.replaced);
    for (const host of answer.replaced) {
      for (const job of this.#byHost.get(host)?.values() ?? []) changed?.add(jobKey(job));
      this.#byHost.delete(host);
    }
    for (const job of answer.jobs) {
      let jobs = this.#byHost.get(job.host);
      if (jobs === undefined) {
        jobs = new Map();
        this.#byHost.set(job.host, jobs);
      }
      jobs.set(job.tag, job);
      changed?.add(jobKey(job));
      touched.add(job.host);
    }
    if (answer.full) this.#refreshAt.clear();
    for (const host of answer.full ? this.#byHost.keys() : touched) {
      let soonest = Infinity;
      for (const job of this.#byHost.get(host)?.values() ?? []) {
        if (job.refreshAt !== null) soonest = Math.min(soonest, Date.parse(job.refreshAt));
      }
      if (soonest === Infinity) this.#refreshAt.delete(host);
      else this.#refreshAt.set(host, soonest);
    }
    if (changed === null || changed.size > 0) this.#sorted = null;
    return changed;
  }
}
