// @ts-check
/**
 * Which machines and jobs have their alerts muted, as the page last read them:
 * one list per sign-in, shared by the views. The jobs view marks a muted job's
 * row, the job page says so and mutes or unmutes it, the Alerts view lists and
 * changes them. The list is read at most every {@linkcode MUTES_REFRESH_MS} (a
 * mute changes rarely, and every open page refreshes every few seconds), and at
 * once after this page changed it.
 *
 * @module
 */

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Mute} Mute */

/** How old the list may be before a view's refresh reads it again, ms. */
export const MUTES_REFRESH_MS = 30_000;

/** The muted machines and jobs, read from the dashboard's API. */
export class MuteList {
  /** @type {Api} */
  #api;
  /** @type {readonly Mute[]} */
  #mutes = [];
  /** @type {Set<string>} `host` for a machine, `host\ntag` for a job. */
  #keys = new Set();
  #readAt = -Infinity;
  /** @type {Promise<void> | null} */
  #reading = null;
  #version = 0;

  /** @param {Api} api The dashboard's API. */
  constructor(api) {
    this.#api = api;
  }

  /** The mutes as last read: machines (`tag` null) and jobs. */
  get mutes() {
    return this.#mutes;
  }

  /** Changes each time the list read differs from the one before: views redraw on it. */
  get version() {
    return this.#version;
  }

  /**
   * What mutes a job's alerts: its machine, itself, or nothing.
   *
   * @param {string} host The job's machine.
   * @param {string} tag The job's tag.
   * @returns {"host" | "job" | null}
   */
  mutedFor(host, tag) {
    if (this.#keys.has(host)) return "host";
    return this.#keys.has(`${host}\n${tag}`) ? "job" : null;
  }

  /**
   * Reads the list again if it is older than `maxAgeMs`; reads at once share one call.
   *
   * @param {AbortSignal} [signal] Aborts the read.
   * @param {number} [maxAgeMs] How old the list may be.
   * @returns {Promise<void>}
   */
  refresh(signal, maxAgeMs = MUTES_REFRESH_MS) {
    if (this.#reading !== null) return this.#reading;
    if (Date.now() - this.#readAt < maxAgeMs) return Promise.resolve();
    this.#reading = this.#api.mutes(signal).then((mutes) => {
      this.#readAt = Date.now();
      const keys = new Set(mutes.map((m) => m.tag === null ? m.host : `${m.host}\n${m.tag}`));
      const same = keys.size === this.#keys.size && [...keys].every((key) => this.#keys.has(key));
      this.#mutes = mutes;
      this.#keys = keys;
      if (!same) this.#version++;
    }).finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  /**
   * Reads the list now, after any read already under way (which may predate a change).
   *
   * @param {AbortSignal} [signal] Aborts the read.
   * @returns {Promise<void>}
   */
  async reread(signal) {
    await this.#reading?.catch(() => {});
    this.#readAt = -Infinity;
    await this.refresh(signal, 0);
  }

  /**
   * Mutes or unmutes a machine (`tag` null) or a job, then reads the list again.
   *
   * @param {string} host The machine.
   * @param {string | null} tag The job, or null for the whole machine.
   * @param {boolean} muted Whether to mute.
   * @returns {Promise<void>}
   */
  async set(host, tag, muted) {
    await this.#api.setMute(host, tag, muted);
    await this.reread();
  }
}
