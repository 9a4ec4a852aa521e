/**
 * Each dashboard's listing of every job with its view, kept by a server
 * instance and brought up to date with what changed, so that a page's first
 * call for the jobs costs what changed since the last one, not what exists.
 *
 * A listing is kept under the jobs view's stamp it is up to date with: every
 * change to the view up to that stamp is in it (see `DashboardStore.viewStamp`).
 * A request that read a newer stamp is answered after reading only the hosts
 * whose job lists changed and the jobs whose newest run did
 * (`DashboardStore.viewChanges`), through this instance or another on the store.
 * Each job's view (its state, next run, whether late) is worked out again only
 * once its `refreshAt` has passed, or for every job when the dashboard's grace
 * changed or the clock went back. Concurrent requests for a dashboard are taken
 * in turn, the later ones reusing what the first read.
 *
 * A store with no change recorded (stamp `"0"`) is listed afresh each time, and
 * so is one whose stamp is older than the listing's (a store put back from a
 * copy). Many changed hosts at once are read in one listing of every job.
 *
 * @module
 */

import type { JobWithLastRun, Settings } from "../protocol/wire.ts";
import { compareJobs } from "../protocol/job_order.js";
import { listedRow, viewJob } from "./job_view.ts";
import { changedSelection, type DashboardStore, NO_STAMP } from "./store.ts";

/** What a listing reads from the store. */
export type ListingStore = Pick<DashboardStore, "listJobs" | "viewChanges" | "listJobPlaces">;

/** A listing as a request is answered with it. */
export interface ListingAnswer {
  /** Every job with its view, by host and line: a JSON array. */
  json: string;
  /** The first instant a job's view changes by time alone, ms; Infinity for never. */
  until: number;
}

/** A page's first screen of rows, as a request is answered with it. */
export interface FirstRowsAnswer {
  /** The first jobs in the jobs view's order, with their views: a JSON array. */
  json: string;
  /** How many jobs there are in all. */
  total: number;
}

/** One job of a listing, with its view as JSON. */
interface ListedJob {
  job: JobWithLastRun;
  /** The job and its view, as JSON. */
  json: string;
  /** When its view changes by time alone, ms; Infinity for never. */
  refreshAt: number;
}

/** A dashboard's listing. */
interface Listing {
  /** The view stamp every change up to which is in it. */
  stamp: string;
  /** The `missedGraceSeconds` the views were worked out with, ms. */
  graceMs: number;
  /** The latest instant a view was worked out for, ms: an earlier request works them out again. */
  latest: number;
  /** Each host's jobs, by tag. */
  hosts: Map<string, Map<string, ListedJob>>;
  /** The first `refreshAt` of its jobs. */
  until: number;
  /** The whole JSON array, once asked for since the last change. */
  json: string | null;
  /** Its jobs in the jobs view's order, once asked for since the last change. */
  ordered: ListedJob[] | null;
  /** The characters of its jobs' JSON. */
  chars: number;
}

/** How many bytes of listings an instance keeps, over all dashboards (an estimate). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/**
 * What a listing holds per character of its jobs' JSON: the JSON, the whole array
 * made of it, and the jobs as objects (measured: 24.7 MiB of heap for the 7.3 MiB
 * of 10,000 jobs).
 */
const BYTES_PER_CHAR = 3.5;

/**
 * Changed hosts past this share of a listing's hosts are read with every job, in
 * one listing of the store, rather than host by host.
 */
const RELIST_SHARE = 1 / 4;

/**
 * Each dashboard's listing of every job with its view, on this instance (see
 * the module's summary), the least recently used forgotten first beyond
 * `maxBytes`.
 */
export class Listings {
  /** Each dashboard's listing as its last request leaves it; null once one failed. */
  readonly #listings = new Map<string, Promise<Listing | null>>();
  /** The estimated bytes of each listing kept, the least recently used first. */
  readonly #bytes = new Map<string, number>();
  #total = 0;

  /** @param maxBytes The most bytes kept, over all dashboards (an estimate). */
  constructor(readonly maxBytes: number = MAX_LISTING_BYTES) {}

  /**
   * Every job of a dashboard with its view, as JSON: the kept listing, brought up
   * to date, or a new one.
   *
   * @param store The store.
   * @param id The dashboard id.
   * @param stamp Its view stamp, just read from the store.
   * @param time The current instant, ms.
   * @param settings Its settings (the grace).
   * @returns The JSON array and the first instant a view changes by time.
   */
  listing(
    store: ListingStore,
    id: string,
    stamp: string,
    time: number,
    settings: Settings,
  ): Promise<ListingAnswer> {
    return this.#read(wantedOf(store, id, stamp, time, settings), answerOf);
  }

  /**
   * The first `count` jobs of a dashboard in the jobs view's order, with their
   * views, as JSON: a page's first screen of rows, sent ahead of every job. From
   * the kept listing, brought up to date, where this instance keeps one; else read
   * for these jobs alone (every job's place, then these jobs and their newest runs),
   * which costs a fraction of listing them all.
   *
   * @param store The store.
   * @param id The dashboard id.
   * @param stamp Its view stamp, just read from the store.
   * @param time The current instant, ms.
   * @param settings Its settings (the grace).
   * @param count How many jobs, at most.
   * @returns The JSON array and the number of jobs in all.
   */
  async firstRows(
    store: ListingStore,
    id: string,
    stamp: string,
    time: number,
    settings: Settings,
    count: number,
  ): Promise<FirstRowsAnswer> {
    const wanted = wantedOf(store, id, stamp, time, settings);
    const kept = stamp === NO_STAMP ? null : await this.#listings.get(id);
    if (kept != null) {
      return this.#read(wanted, (listing) => {
        const jobs = ordered(listing);
        const rows = jobs.slice(0, count).map((listed) => listed.json);
        return { json: `[${rows.join(",")}]`, total: jobs.length };
      });
    }
    const places = await store.listJobPlaces(id);
    const first = places.sort(compareJobs).slice(0, count);
    const jobs = await store.listJobs(id, { hosts: [], jobs: first });
    const rows = jobs.sort(compareJobs).map((job) => listedJob(job, time, wanted.graceMs).json);
    return { json: `[${rows.join(",")}]`, total: places.length };
  }

  /**
   * Reads a dashboard's listing, brought up to date (or made), with `read`: in turn
   * with the other requests for it, so that what is read is the listing as of
   * this request.
   */
  #read<T>(wanted: Wanted, read: (listing: Listing) => T): Promise<T> {
    const { id, stamp } = wanted;
    if (stamp === NO_STAMP) return listAll(wanted).then(read);
    const previous = this.#listings.get(id) ?? Promise.resolve(null);
    const updated = previous.then(async (kept) => {
      const listing = kept !== null && kept.stamp <= stamp
        ? await bringUpToDate(kept, wanted)
        : await listAll(wanted);
      return { listing, answer: read(listing) };
    });
    const next = updated.then(({ listing }) => listing, () => null);
    this.#listings.set(id, next);
    next.then((listing) => {
      if (this.#listings.get(id) !== next) return;
      if (listing === null) this.#forget(id);
      else this.#keep(id, listing.chars * BYTES_PER_CHAR);
    });
    return updated.then(({ answer }) => answer);
  }

  /** Counts a dashboard's listing as the most recently used, and forgets the oldest beyond the cap. */
  #keep(id: string, bytes: number): void {
    this.#total += bytes - (this.#bytes.get(id) ?? 0);
    this.#bytes.delete(id);
    this.#bytes.set(id, bytes);
    for (const other of [...this.#bytes.keys()]) {
      if (this.#total <= this.maxBytes) return;
      this.#forget(other);
    }
  }

  /** Forgets a dashboard's listing. */
  #forget(id: string): void {
    this.#total -= this.#bytes.get(id) ?? 0;
    this.#bytes.delete(id);
    this.#listings.delete(id);
  }
}

/** What a request wants a listing of: a dashboard's jobs as of a stamp, an instant and a grace. */
interface Wanted {
  store: ListingStore;
  id: string;
  stamp: string;
  time: number;
  graceMs: number;
}

/** What a request wants of a dashboard's listing. */
function wantedOf(
  store: ListingStore,
  id: string,
  stamp: string,
  time: number,
  settings: Settings,
): Wanted {
  return { store, id, stamp, time, graceMs: settings.missedGraceSeconds * 1000 };
}

/** A listing of every job, read from the store. */
async function listAll({ store, id, stamp, time, graceMs }: Wanted): Promise<Listing> {
  const listing: Listing = {
    stamp,
    graceMs,
    latest: time,
    hosts: new Map(),
    until: Infinity,
    json: null,
    ordered: null,
    chars: 0,
  };
  for (const job of await store.listJobs(id)) put(listing, job, time);
  return listing;
}

/** Brings a kept listing up to what a request wants. */
async function bringUpToDate(listing: Listing, wanted: Wanted): Promise<Listing> {
  const { store, id, stamp, time, graceMs } = wanted;
  // Every view again for another grace, or for an instant before those worked out.
  const anew = graceMs !== listing.graceMs || time < listing.latest;
  listing.graceMs = graceMs;
  if (listing.stamp < stamp) {
    const changes = await store.viewChanges(id, listing.stamp);
    if (changes.hosts.length > Math.max(1, listing.hosts.size * RELIST_SHARE)) {
      return await listAll(wanted);
    }
    const selection = changedSelection(changes);
    const jobs = await store.listJobs(id, selection);
    // A changed host's list comes whole: a job of its not in it is gone.
    for (const host of selection.hosts) {
      for (const tag of [...listing.hosts.get(host)?.keys() ?? []]) remove(listing, host, tag);
    }
    for (const job of jobs) put(listing, job, time);
    listing.stamp = stamp;
    listing.json = null;
  }
  if (anew) revalue(listing, time, () => true);
  else if (time >= listing.until) revalue(listing, time, (listed) => listed.refreshAt <= time);
  listing.latest = time;
  return listing;
}

/** Works out again the views of the jobs `which` picks, as of `time`. */
function revalue(listing: Listing, time: number, which: (listed: ListedJob) => boolean): void {
  const due: JobWithLastRun[] = [];
  for (const jobs of listing.hosts.values()) {
    for (const listed of jobs.values()) if (which(listed)) due.push(listed.job);
  }
  for (const job of due) put(listing, job, time);
  listing.until = Infinity;
  for (const jobs of listing.hosts.values()) {
    for (const listed of jobs.values()) listing.until = Math.min(listing.until, listed.refreshAt);
  }
}

/** Adds a job to a listing, or replaces it, with its view as of `time`. */
function put(listing: Listing, job: JobWithLastRun, time: number): void {
  const listed = listedJob(job, time, listing.graceMs);
  remove(listing, job.host, job.tag);
  let jobs = listing.hosts.get(job.host);
  if (jobs === undefined) {
    jobs = new Map();
    listing.hosts.set(job.host, jobs);
  }
  jobs.set(job.tag, listed);
  listing.chars += listed.json.length;
  listing.until = Math.min(listing.until, listed.refreshAt);
  listing.json = null;
  listing.ordered = null;
}

/** A job with its view as of `time`, as JSON, and when that view changes by time alone. */
function listedJob(job: JobWithLastRun, time: number, graceMs: number): ListedJob {
  const view = viewJob(job, job.lastRun, time, graceMs);
  const refreshAt = view.refreshAt === null ? Infinity : Date.parse(view.refreshAt);
  return { job, json: JSON.stringify(listedRow(job, view)), refreshAt };
}

/** Takes a job out of a listing, if it is there. */
function remove(listing: Listing, host: string, tag: string): void {
  const jobs = listing.hosts.get(host);
  const listed = jobs?.get(tag);
  if (jobs === undefined || listed === undefined) return;
  jobs.delete(tag);
  if (jobs.size === 0) listing.hosts.delete(host);
  listing.chars -= listed.json.length;
  listing.json = null;
  listing.ordered = null;
}

/** A listing's JSON, by host and line, and the first instant a view changes. */
function answerOf(listing: Listing): ListingAnswer {
  if (listing.json === null) {
    const rows: string[] = [];
    for (const host of [...listing.hosts.keys()].sort()) {
      const jobs = [...listing.hosts.get(host)!.values()].sort((a, b) => a.job.line - b.job.line);
      for (const listed of jobs) rows.push(listed.json);
    }
    listing.json = `[${rows.join(",")}]`;
  }
  return { json: listing.json, until: listing.until };
}

/** A listing's jobs in the jobs view's order. */
function ordered(listing: Listing): ListedJob[] {
  if (listing.ordered === null) {
    const jobs: ListedJob[] = [];
    for (const byTag of listing.hosts.values()) jobs.push(...byTag.values());
    listing.ordered = jobs.sort((a, b) => compareJobs(a.job, b.job));
  }
  return listing.ordered;
}
