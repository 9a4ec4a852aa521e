// @ts-check
/**
 * The page's copy of every job and host, kept up to date with what changed only
 * (`GET /jobs?since=CURSOR`, see the README's API): a refresh where nothing
 * changed is a bodiless 304; a run that ended brings that one job. The views
 * share one copy for the whole sign-in, so going back to the jobs shows them at
 * once. The jobs' commands stay sealed in it until opened (`commands.js`): those
 * a view asks for at once, the rest when the page is idle.
 *
 * @module
 */

import { CHUNK, Commands, jobKey, whenIdle } from "./commands.js";

export { jobKey };

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
/** Up to this many jobs changed, their commands are opened before the update resolves. */
const EAGER_COMMANDS = 200;

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
  #commands;
  /** @type {Promise<void> | null} Opening the commands in idle time. */
  #idleOpening = null;
  /** Whether every command was opened at the last look, and no job came since. */
  #allOpened = false;
  /** @type {() => Promise<void>} */
  #idle;

  /**
   * @param {Api} api The dashboard's API.
   * @param {() => Promise<void>} [idle] Resolves when the page is idle: commands not asked
   *   for are opened then, a chunk at a time.
   */
  constructor(api, idle = whenIdle) {
    /** @readonly */
    this.api = api;
    this.#commands = new Commands((job) => api.openCommand(job));
    this.#idle = idle;
  }

  /**
   * A job's command in plain text, or null while it is still sealed: the jobs
   * of {@linkcode jobs} hold their commands as received (`k1.…`).
   *
   * @param {Pick<JobRow, "host" | "tag" | "command">} job A job of {@linkcode jobs}.
   * @returns {string | null}
   */
  command(job) {
    return this.#commands.text(job);
  }

  /**
   * Opens these jobs' commands now, ahead of those opened in idle time.
   *
   * @param {readonly JobRow[]} jobs Jobs of {@linkcode jobs}.
   * @returns {Promise<string[]>} Their commands in plain text, in order.
   */
  openCommands(jobs) {
    return this.#commands.open(jobs);
  }

  /**
   * Whether every job's command is opened.
   *
   * @param {readonly JobRow[]} [jobs] Which jobs; all of {@linkcode jobs} when absent.
   * @returns {boolean}
   */
  commandsOpened(jobs = this.jobs) {
    return jobs.every((job) => this.#commands.text(job) !== null);
  }

  /**
   * These jobs with their commands opened.
   *
   * @param {readonly JobRow[]} jobs Jobs of {@linkcode jobs}.
   * @returns {Promise<JobRow[]>} Copies, each `command` in plain text.
   */
  async withCommands(jobs) {
    const texts = await this.openCommands(jobs);
    return jobs.map((job, i) => ({ ...job, command: /** @type {string} */ (texts[i]) }));
  }

  /** Whether the feed has had its first answer. */
  get loaded() {
    return this.#cursor !== "0";
  }

  /**
   * The jobs view's first screen of rows (`Api.firstScreen`), to draw while every
   * job comes: null once the feed has its first answer, or when there is none.
   *
   * @returns {Promise<import("./api.js").FirstJobs | null>}
   */
  async firstScreen() {
    if (this.loaded) return null;
    const screen = await this.api.firstScreen();
    return this.loaded ? null : screen;
  }

  /**
   * Every job, by host and line, each with its last run and view, its command
   * sealed (see {@linkcode command}).
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
    if (answer.full) this.#commands.keepOnly(this.jobs);
    // A few jobs changed: their commands now, so their rows show them at once.
    if (!answer.full && answer.jobs.length <= EAGER_COMMANDS) await this.openCommands(answer.jobs);
    if (answer.jobs.length > 0) this.#allOpened = false;
    if (!this.#allOpened) this.#openInIdleTime();
    return changed;
  }

  /** Opens every command not yet opened, a chunk each time the page is idle. */
  #openInIdleTime() {
    this.#idleOpening ??= (async () => {
      for (;;) {
        await this.#idle();
        const sealed = [];
        for (const job of this.jobs) {
          if (this.#commands.text(job) === null) sealed.push(job);
          if (sealed.length === CHUNK) break;
        }
        if (sealed.length === 0) {
          // Until the next update brings a job.
          this.#allOpened = true;
          return;
        }
        await this.#commands.open(sealed);
      }
    })().catch(() => {
      // The next update tries again; a view waiting for a command is told by its own call.
    }).finally(() => this.#idleOpening = null);
  }
}
