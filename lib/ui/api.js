// @ts-check
/**
 * The page's side of the dashboard HTTP API (README, "The dashboard HTTP API"):
 * each call carries the API key as `Authorization: Bearer`, and nothing else
 * about the session leaves the browser (where the keys are kept is
 * `session.js`'s business).
 *
 * @module
 */

/** @typedef {import("../protocol/wire.ts").Run} Run */
/** @typedef {import("../protocol/wire.ts").ListedRun} ListedRun A job's last run, as listed. */
/** @typedef {import("../protocol/wire.ts").ManualRun} ManualRun */
/** @typedef {import("../protocol/wire.ts").Settings} Settings */
/** @typedef {import("../protocol/wire.ts").HostState} HostInfo */
/** @typedef {import("../protocol/alerts.ts").PublicChannel} Channel */
/** @typedef {import("../protocol/alerts.ts").PublicAlert} Alert */
/** @typedef {import("../protocol/alerts.ts").Mute} Mute */
/** @typedef {import("../protocol/wire.ts").OutputRecord} OutputRecord */
/** @typedef {import("../protocol/wire.ts").JobView} JobView */
/** @typedef {import("../protocol/wire.ts").JobRow} JobRow A job as the jobs call lists it. */
/** @typedef {import("../protocol/wire.ts").JobChanges} JobChanges What changed in the jobs since a cursor. */
/** @typedef {import("../protocol/wire.ts").FirstJobs} FirstJobs The jobs view's first screen of rows. */

import { FIRST_JOBS, sendCall } from "./request.js";
import { importDataKey } from "../protocol/envelope.js";
import {
  contexts,
  openJob,
  openManualRun,
  openOutput,
  openRun,
  openText,
} from "../protocol/sealed.js";

export { UNDECRYPTABLE_TEXT } from "../protocol/sealed.js";

/** A call the server refused or could not answer. */
export class ApiError extends Error {
  /**
   * @param {string} message What failed.
   * @param {number | null} status The HTTP status; null when no answer came.
   */
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    /** @readonly */
    this.status = status;
  }
}

/**
 * Whether a listed job has argument defaults, which are sealed.
 *
 * @param {JobRow} job The job, as received.
 * @returns {boolean}
 */
function holdsSealedDefaults(job) {
  return job.args.some((arg) => arg.default !== undefined);
}

/**
 * Whether a run has argument values or an error, which are sealed.
 *
 * @param {ListedRun} run The run, as received.
 * @returns {boolean}
 */
function holdsSealedRunValues(run) {
  return run.error !== null || Object.keys(run.args).length > 0;
}

/**
 * Whether a listed job holds sealed values beyond its command: argument defaults, or
 * its last run's argument values or error.
 *
 * @param {JobRow} job The job, as received.
 * @returns {boolean}
 */
function holdsSealedValues(job) {
  return holdsSealedDefaults(job) || (job.lastRun !== null && holdsSealedRunValues(job.lastRun));
}

/**
 * The API of one dashboard, called with its API key. What the server holds
 * sealed (commands, argument values and defaults, errors, output, refusals) is
 * opened here, with the data key, before the page sees it (but for the jobs'
 * commands, which the page opens as it shows them: {@linkcode Api.openCommand}):
 * each value that does not open reads {@linkcode UNDECRYPTABLE_TEXT} in its place.
 */
export class Api {
  /** @type {Promise<Response> | null} The first call for the jobs, until read. */
  #firstJobs;
  /** @type {Promise<Response | null> | null} The first screen of rows' answer, until read. */
  #firstScreen;

  /**
   * @param {string} id The dashboard id.
   * @param {string} apiKey Its API key.
   * @param {string | CryptoKey} dataKey Its data key, to open and seal with (never sent).
   * @param {Promise<Response> | null} [firstJobs] The first call for the jobs, already sent
   *   with this API key (`start.js`): the first {@linkcode jobChanges} reads its answer
   *   instead of asking again.
   * @param {Promise<Response | null> | null} [firstScreen] The jobs view's first screen of
   *   rows, as `start.js` had it (null where the first answer had every job), for
   *   {@linkcode firstScreen}.
   */
  constructor(id, apiKey, dataKey, firstJobs = null, firstScreen = null) {
    /** @readonly */
    this.id = id;
    /** @readonly */
    this.apiKey = apiKey;
    /**
     * The data key, imported once: importing it for each value would cost more than
     * opening it.
     *
     * @readonly
     * @type {Promise<CryptoKey>}
     */
    this.key = typeof dataKey === "string" ? importDataKey(dataKey) : Promise.resolve(dataKey);
    /**
     * Jobs' argument defaults opened, by host, tag and their envelopes: koid sends the
     * same envelopes while a job is unchanged, so each is opened once.
     *
     * @type {Map<string, JobRow["args"]>}
     */
    this.opened = new Map();
    this.#firstJobs = firstJobs;
    this.#firstScreen = firstScreen;
  }

  /**
   * A job as listed, its argument defaults and last run opened; its command stays
   * sealed, for {@linkcode openCommand} when it is shown (`JobsFeed`).
   *
   * @param {JobRow} job The job, as received.
   * @returns {Promise<JobRow>} The job, its defaults and last run in plain text.
   */
  async openJob(job) {
    let args = job.args;
    if (holdsSealedDefaults(job)) {
      const key = JSON.stringify([job.host, job.tag, job.args]);
      let opened = this.opened.get(key);
      if (opened === undefined) {
        const { host, tag } = job;
        opened = (await openJob(await this.key, this.id, { host, tag, args })).args;
        this.opened.set(key, opened);
      }
      args = opened;
    }
    const run = job.lastRun;
    /** @type {ListedRun | null} */
    let lastRun = run;
    if (run !== null && holdsSealedRunValues(run)) {
      // Listed without its host and tag, which are the job's: its values are sealed
      // for its host, the row's.
      const { host: _host, ...opened } = await openRun(await this.key, this.id, {
        ...run,
        host: job.host,
      });
      lastRun = opened;
    }
    return args === job.args && lastRun === run ? job : { ...job, args, lastRun };
  }

  /**
   * A job's command, opened.
   *
   * @param {Pick<JobRow, "host" | "tag" | "command">} job The job, as received.
   * @returns {Promise<string>} Its command line, or {@linkcode UNDECRYPTABLE_TEXT}.
   */
  async openCommand(job) {
    return await openText(
      await this.key,
      contexts(this.id, job.host).command(job.tag),
      job.command,
    );
  }

  /**
   * Calls the API.
   *
   * @param {string} method The HTTP method.
   * @param {string} path The path after `/api/d/{id}`.
   * @param {{ body?: unknown, signal?: AbortSignal, ifNoneMatch?: string }} [options] A JSON
   *   body; an abort signal; the entity tag of the answer the page has.
   * @returns {Promise<any>} The answer's JSON; null for a 304 (the page's answer holds).
   * @throws {ApiError} When the server answers with an error, or not at all.
   */
  async call(method, path, options = {}) {
    return await this.#read(sendCall(this.id, this.apiKey, method, path, options), options.signal);
  }

  /**
   * Reads a call's answer.
   *
   * @param {Promise<Response>} sent The call, sent.
   * @param {AbortSignal} [signal] Its abort signal.
   * @returns {Promise<any>} The answer's JSON; null for a 304 or a 204.
   * @throws {ApiError} When the server answers with an error, or not at all.
   */
  async #read(sent, signal) {
    /** @type {Response} */
    let response;
    try {
      response = await sent;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError("Cannot reach the dashboard server", null);
    }
    // 304: the page's answer holds; 204: nothing to say.
    if (response.status === 304 || response.status === 204) return null;
    /** @type {any} */
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      if (signal?.aborted) throw error;
      if (response.ok) throw new ApiError("The server's answer is not JSON", response.status);
    }
    if (!response.ok) {
      const reason = typeof body?.error === "string" ? body.error : response.statusText;
      throw new ApiError(reason || `HTTP ${response.status}`, response.status);
    }
    return body;
  }

  /**
   * The dashboard: its settings and hosts.
   *
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<{ id: string, createdAt: number, settings: Settings, hosts: HostInfo[] }>}
   */
  info(signal) {
    return this.call("GET", "", signal ? { signal } : {});
  }

  /**
   * What changed in the jobs since an earlier answer: see `JobsFeed`, which keeps them.
   * Their commands are still sealed ({@linkcode openCommand}).
   *
   * @param {string} cursor The earlier answer's cursor; `"0"` for every job.
   * @param {readonly string[]} stale Hosts whose jobs to send whole (their views ran out).
   * @returns {Promise<JobChanges | null>} The changes; null when there are none.
   */
  async jobChanges(cursor, stale) {
    const query = new URLSearchParams({ since: cursor });
    if (stale.length > 0) query.set("stale", stale.join(","));
    const path = `/jobs?${query}`;
    const ifNoneMatch = `"${cursor}"`;
    // The first call may have gone out before the page loaded: its answer, once.
    const first = this.#firstJobs;
    this.#firstJobs = null;
    /** @type {JobChanges | null} */
    const changes = first !== null && path === FIRST_JOBS.path &&
        ifNoneMatch === FIRST_JOBS.ifNoneMatch
      ? await this.#read(first)
      : await this.call("GET", path, { ifNoneMatch });
    if (changes === null) return null;
    if (changes.full) this.opened.clear();
    return { ...changes, jobs: await this.#openJobs(changes.jobs) };
  }

  /**
   * The jobs view's first screen of rows, as `start.js` asked for it: read once,
   * and only then; null when it was not asked for, or did not come (the call for
   * every job, which follows it, reports what went wrong). Their commands are
   * still sealed ({@linkcode openCommand}).
   *
   * @returns {Promise<FirstJobs | null>}
   */
  async firstScreen() {
    const sent = this.#firstScreen;
    this.#firstScreen = null;
    if (sent === null) return null;
    try {
      const response = await sent;
      if (response === null) return null;
      /** @type {FirstJobs | null} */
      const screen = await this.#read(Promise.resolve(response));
      return screen === null ? null : { ...screen, jobs: await this.#openJobs(screen.jobs) };
    } catch {
      return null;
    }
  }

  /**
   * Jobs as listed, their argument defaults and last runs opened ({@linkcode openJob}).
   *
   * @param {readonly JobRow[]} listed The jobs, as received.
   * @returns {Promise<JobRow[]>}
   */
  async #openJobs(listed) {
    // Most jobs hold nothing sealed but their command: they are kept as they came.
    const jobs = listed.slice();
    await Promise.all(
      jobs.flatMap((job, i) =>
        holdsSealedValues(job) ? [this.openJob(job).then((opened) => jobs[i] = opened)] : []
      ),
    );
    return jobs;
  }

  /**
   * A job's runs, newest first.
   *
   * @param {{ host: string, tag: string, limit?: number, before?: number }} query Which runs.
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<Run[]>}
   */
  async runs(query, signal) {
    const params = new URLSearchParams({ host: query.host, tag: query.tag });
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.before !== undefined) params.set("before", String(query.before));
    /** @type {Run[]} */
    const runs = (await this.call("GET", `/runs?${params}`, signal ? { signal } : {})).runs;
    const key = await this.key;
    return await Promise.all(runs.map((run) => openRun(key, this.id, run)));
  }

  /**
   * A run and its output: all of it, or the chunks after `after`.
   *
   * @param {string} runId The run.
   * @param {number | null} after The last chunk already had, or null for all.
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<{ run: Run, output: OutputRecord[] }>}
   */
  async run(runId, after, signal) {
    const query = after === null ? "" : `?after=${after}`;
    /** @type {{ run: Run, output: OutputRecord[] }} */
    const answer = await this.call(
      "GET",
      `/runs/${encodeURIComponent(runId)}${query}`,
      signal ? { signal } : {},
    );
    // Chunk by chunk: output stays live, each chunk opened as it comes.
    const key = await this.key;
    const run = await openRun(key, this.id, answer.run);
    return { run, output: await openOutput(key, this.id, answer.run, answer.output) };
  }

  /**
   * Queues a signed manual run.
   *
   * @param {string} payload The payload text, exactly as signed.
   * @param {string} signature Its signature.
   * @returns {Promise<string>} The manual-run id.
   */
  async postManual(payload, signature) {
    return (await this.call("POST", "/manual", { body: { payload, signature } })).manualId;
  }

  /**
   * A job's manual runs, newest first, in every state.
   *
   * @param {{ host: string, tag: string, limit?: number, before?: number }} query Which.
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<ManualRun[]>}
   */
  async manualRuns(query, signal) {
    const params = new URLSearchParams({ host: query.host, tag: query.tag });
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.before !== undefined) params.set("before", String(query.before));
    /** @type {ManualRun[]} */
    const manual = (await this.call("GET", `/manual?${params}`, signal ? { signal } : {}))
      .manual;
    const key = await this.key;
    return await Promise.all(manual.map((run) => openManualRun(key, this.id, run)));
  }

  /**
   * Cancels a manual run its host has not taken yet.
   *
   * @param {string} manualId The manual run.
   * @returns {Promise<ManualRun>} The run, cancelled.
   * @throws {ApiError} 409 once its host has taken it.
   */
  async cancelManual(manualId) {
    const manual = (await this.call("DELETE", `/manual/${encodeURIComponent(manualId)}`)).manual;
    return await openManualRun(await this.key, this.id, manual);
  }

  /**
   * Changes some of the dashboard's settings.
   *
   * @param {Partial<Settings>} patch The settings to change.
   * @returns {Promise<Settings>} All the settings after the change.
   */
  async patchSettings(patch) {
    return (await this.call("PATCH", "/settings", { body: patch })).settings;
  }

  /**
   * Where alerts go.
   *
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<Channel[]>}
   */
  async channels(signal) {
    return (await this.call("GET", "/channels", signal ? { signal } : {})).channels;
  }

  /**
   * Adds a channel: `{kind, url}`, or `{kind: "email", to, smtp}`.
   *
   * @param {Record<string, unknown>} channel The channel, as the API takes it.
   * @returns {Promise<Channel>} The channel added.
   */
  async addChannel(channel) {
    return (await this.call("POST", "/channels", { body: channel })).channel;
  }

  /**
   * Removes a channel.
   *
   * @param {string} channelId The channel.
   * @returns {Promise<void>}
   */
  async removeChannel(channelId) {
    await this.call("DELETE", `/channels/${encodeURIComponent(channelId)}`);
  }

  /**
   * Sends a test alert to a channel.
   *
   * @param {string} channelId The channel.
   * @returns {Promise<Alert>} The test alert, its delivery to come.
   */
  async testChannel(channelId) {
    return (await this.call("POST", `/channels/${encodeURIComponent(channelId)}/test`)).alert;
  }

  /**
   * The alerts raised, newest first, with each channel's delivery.
   *
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<Alert[]>}
   */
  async alerts(signal) {
    return (await this.call("GET", "/alerts", signal ? { signal } : {})).alerts;
  }

  /**
   * The machines and jobs whose alerts are muted.
   *
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<Mute[]>}
   */
  async mutes(signal) {
    return (await this.call("GET", "/mutes", signal ? { signal } : {})).mutes;
  }

  /**
   * Mutes or unmutes a machine's alerts (`tag` null) or a job's.
   *
   * @param {string} host The machine.
   * @param {string | null} tag The job, or null for all of the machine's.
   * @param {boolean} muted Whether to mute.
   * @returns {Promise<void>}
   */
  async setMute(host, tag, muted) {
    const path = `/mutes/${encodeURIComponent(host)}${
      tag === null ? "" : `/${encodeURIComponent(tag)}`
    }`;
    await this.call(muted ? "PUT" : "DELETE", path);
  }

  /**
   * Where a manual run stands.
   *
   * @param {string} manualId The manual-run id.
   * @param {AbortSignal} [signal] Cancels the call.
   * @returns {Promise<ManualRun>}
   */
  async manual(manualId, signal) {
    const path = `/manual/${encodeURIComponent(manualId)}`;
    const manual = (await this.call("GET", path, signal ? { signal } : {})).manual;
    return await openManualRun(await this.key, this.id, manual);
  }
}
