/**
 * `GET /api/d/{id}/jobs`, whose cost follows what changed, not what exists.
 *
 * - Without `since`: every job, with an `ETag` of the jobs view's stamp and the
 *   instant its first job changes by time alone. A request naming it in
 *   `If-None-Match` is answered 304, from one read of the store, until either moves.
 * - With `since=CURSOR` (what the page calls every few seconds): only what changed
 *   since the answer that gave the cursor (`since=0`: everything), with the hosts
 *   only when they changed, and a new cursor. The jobs of hosts named in
 *   `stale=h1,h2` come again whole (the page names those whose jobs' `refreshAt`
 *   has passed). Unchanged, it is a 304 when `If-None-Match` names the cursor.
 *
 * - With `since=0&first=N` (the jobs view's first call): the `since=0` answer
 *   while the dashboard has at most {@linkcode WHOLE_UP_TO} jobs. Past that,
 *   the first N jobs in the jobs view's order (`protocol/job_order.js`), how many
 *   there are in all, and every host (a `FirstJobs`, without an `ETag`): the page
 *   draws its first screen of rows from it, then asks for every job. Reading
 *   10,000 jobs holds a browser's thread for a few hundred milliseconds; 100 of
 *   them, a few.
 *
 * Which hosts are connected, and which silent (quiet for the dashboard's
 * `hostSilentSeconds`), is a matter of time (a host goes quiet by not calling), so
 * it is read from every host's last call; each instance does so once per
 * dashboard per {@linkcode CONNECTION_STEP_MS}, for the state at the step's start.
 * A refresh then reads two keys of the store, whatever the number of jobs and hosts.
 *
 * Every job's `late` depends on the dashboard's `missedGraceSeconds`, which the
 * cursor and the `ETag` name: an answer made with another grace is answered with
 * every job again (`full`), so a change of the setting reaches every page at its
 * next refresh, with no write to the jobs view.
 *
 * Every job (a page's first call, or `GET /jobs` without `since`) is the costly
 * answer: at 10,000 jobs the store takes a few hundred milliseconds to list them.
 * Each instance keeps each dashboard's listing ({@linkcode Listings}, in
 * `listing.ts`) and brings it up to date with what changed since: the jobs of
 * the hosts whose lists changed, the jobs whose newest run did, and the views
 * that time changed.
 *
 * @module
 */

import { FieldError, parseHostName } from "../protocol/schema.ts";
import { base64url } from "../protocol/keys.ts";
import type {
  HostInfo,
  HostState,
  JobChanges,
  JobRow,
  JobWithLastRun,
  Settings,
} from "../protocol/wire.ts";
import { ifNoneMatch, jsonResponse, jsonTextResponse, notModified } from "./http.ts";
import { listedRow, viewJob } from "./job_view.ts";
import type { Listings } from "./listing.ts";
import { changedSelection, type Dashboard, type DashboardStore } from "./store.ts";

/** When a host counts as connected, and when as silent, ms. */
export interface HostLimits {
  /** A host is connected while its last call is at most this old. */
  connectedMs: number;
  /** A host is silent once its last call is at least this old (`hostSilentSeconds`). */
  silentMs: number;
}

/** How a jobs answer is made. */
export interface JobsFeed {
  store: DashboardStore;
  /** The clock, ms since the epoch. */
  now: () => number;
  /** A host is connected while its last call is at most this old, ms. */
  connectedWithinMs: number;
  /** This instance's digests of the hosts' connections. */
  connections: ConnectionDigests;
  /** This instance's listings of every job. */
  listings: Listings;
}

/** How often the page's hosts' connections are worked out again, ms. */
export const CONNECTION_STEP_MS = 10_000;
/** The most dashboards whose digests an instance keeps. */
const MAX_DIGESTS = 10_000;

/**
 * Digests of which hosts of a dashboard are connected, and when the others were
 * last seen, as of the start of each {@linkcode CONNECTION_STEP_MS}: one look at the
 * hosts per dashboard per step, however many pages refresh.
 */
export class ConnectionDigests {
  readonly #digests = new Map<
    string,
    { step: number; silentMs: number; digest: Promise<string> }
  >();

  /**
   * The digest of a dashboard's connections at the start of the current step.
   *
   * @param feed The store, clock and rule.
   * @param id The dashboard id.
   * @param silentMs When a host is silent: the dashboard's `hostSilentSeconds`, ms.
   * @returns The digest, and the instant it holds for (the step's start), ms.
   */
  async digest(
    feed: JobsFeed,
    id: string,
    silentMs: number,
  ): Promise<{ digest: string; at: number }> {
    const step = Math.floor(feed.now() / CONNECTION_STEP_MS);
    const at = step * CONNECTION_STEP_MS;
    let entry = this.#digests.get(id);
    // A change of the silent time changes the digest within the step, like a host.
    if (entry?.step !== step || entry.silentMs !== silentMs) {
      const limits = { connectedMs: feed.connectedWithinMs, silentMs };
      const digest = feed.store.lastSeen(id).then((seen) => connectionDigest(seen, at, limits));
      entry = { step, silentMs, digest };
      if (this.#digests.size >= MAX_DIGESTS) this.#digests.clear();
      this.#digests.set(id, entry);
      // A failed look is not kept: the next request looks again.
      digest.catch(() => this.#digests.get(id) === entry && this.#digests.delete(id));
    }
    return { digest: await entry.digest, at };
  }
}

/** The most hosts one `stale` may name. */
export const MAX_STALE_HOSTS = 1000;

/**
 * A cursor: the jobs view's stamp, a digest of the hosts' connections, and the
 * `missedGraceSeconds` its jobs' states were worked out with.
 */
const CURSOR = /^(0|[0-9a-f]{20})\.([A-Za-z0-9_-]{16})\.([0-9]{1,9})$/;

/**
 * Hosts with whether each is connected and whether silent.
 *
 * @param hosts The hosts as stored.
 * @param now The current instant, ms.
 * @param limits When a host is connected, and when silent.
 * @returns The hosts, each with `connected` and `silent`.
 *
 * @example Heard from 40 s ago: neither connected nor yet silent
 * ```ts
 * import { hostStates } from "./jobs_feed.ts";
 *
 * const host = { host: "web1", lastSeenAt: 0, jobCount: 1, jobListRefused: null };
 * const [state] = hostStates([host], 40_000, { connectedMs: 35_000, silentMs: 300_000 });
 * if (state!.connected || state!.silent) throw new Error(JSON.stringify(state));
 * ```
 */
export function hostStates(
  hosts: readonly HostInfo[],
  now: number,
  limits: HostLimits,
): HostState[] {
  return hosts.map((info) => ({ ...info, ...hostState(info.lastSeenAt, now, limits) }));
}

/** Whether a host last heard from at `lastSeenAt` is connected, and whether silent, at `now`. */
function hostState(
  lastSeenAt: number | null,
  now: number,
  limits: HostLimits,
): { connected: boolean; silent: boolean } {
  return {
    connected: lastSeenAt !== null && now - lastSeenAt <= limits.connectedMs,
    silent: lastSeenAt !== null && now - lastSeenAt >= limits.silentMs,
  };
}

/**
 * Answers `GET /api/d/{id}/jobs` (see the module's summary).
 *
 * @param feed The store and clock.
 * @param dashboard The dashboard, authenticated, with its settings as just read.
 * @param request The request, for `If-None-Match`.
 * @param query Its query: `since` and `stale`.
 * @returns The response: 200 or 304.
 * @throws {FieldError} For a malformed `since` or `stale`.
 */
export async function jobsAnswer(
  feed: JobsFeed,
  dashboard: Pick<Dashboard, "id" | "settings">,
  request: Request,
  query: URLSearchParams,
): Promise<Response> {
  const { id, settings } = dashboard;
  const since = query.get("since");
  const first = query.get("first");
  if (first !== null) {
    if (since !== "0") throw new FieldError("first", "goes only with since=0", first);
    const count = parseFirst(first);
    // Counted here; a whole answer reads the hosts again, after the stamp its cursor names,
    // so that they are no older than it.
    const hosts = await feed.store.listHosts(id);
    if (hosts.reduce((sum, host) => sum + host.jobCount, 0) > WHOLE_UP_TO) {
      return await firstJobs(feed, id, settings, count, hosts);
    }
  }
  const known = ifNoneMatch(request.headers.get("if-none-match"));
  if (since === null) return await allJobs(feed, id, settings, known);
  const cursor = since === "0" ? null : CURSOR.exec(since);
  if (since !== "0" && cursor === null) {
    throw new FieldError("since", "must be 0 or the cursor of an earlier answer", since);
  }
  const stale = parseStale(query.get("stale"));
  const silentMs = settings.hostSilentSeconds * 1000;
  const [stamp, { digest: connections, at: connectedAt }] = await Promise.all([
    feed.store.viewStamp(id),
    feed.connections.digest(feed, id, silentMs),
  ]);
  const time = feed.now();
  const grace = String(settings.missedGraceSeconds);
  const next = `${stamp}.${connections}.${grace}`;
  const sinceStamp = cursor?.[1];
  if (next === since && stale.length === 0) {
    if (known.includes(next)) return notModified(`"${next}"`);
    const same: JobChanges = { cursor: next, full: false, jobs: [], replaced: [], hosts: null };
    return jsonResponse(200, same, { etag: `"${next}"` });
  }
  // A cursor from a store that was since replaced (or made up) gets everything, and
  // so does one whose jobs' states were worked out with another grace.
  const full = sinceStamp === undefined || sinceStamp > stamp || cursor?.[3] !== grace;
  const listHosts = async () =>
    hostStates(await feed.store.listHosts(id), connectedAt, {
      connectedMs: feed.connectedWithinMs,
      silentMs,
    });
  if (full) {
    // Every job: from this instance's listing at this stamp, or listed now. The JSON is
    // that of a `JobChanges`, in its order of fields.
    const [listing, hosts] = await Promise.all([
      feed.listings.listing(feed.store, id, stamp, time, settings),
      listHosts(),
    ]);
    const body = `{"cursor":${JSON.stringify(next)},"full":true,"jobs":${listing.json},` +
      `"replaced":[],"hosts":${JSON.stringify(hosts)}}`;
    return jsonTextResponse(200, body, { etag: `"${next}"` });
  }
  const changes = sinceStamp === stamp
    ? { hosts: [], jobs: [] }
    : await feed.store.viewChanges(id, sinceStamp);
  const selection = changedSelection(changes, stale);
  const jobs = await feed.store.listJobs(id, selection);
  const answer: JobChanges = {
    cursor: next,
    full,
    jobs: withViews(jobs, time, settings),
    replaced: selection.hosts,
    hosts: changes.hosts.length > 0 || cursor?.[2] !== connections ? await listHosts() : null,
  };
  return jsonResponse(200, answer, { etag: `"${next}"` });
}

/** The most jobs `first` may ask for. */
export const MAX_FIRST_JOBS = 500;

/**
 * Up to this many jobs, `since=0&first=N` is answered with every job: a page reads
 * them (about 1.3 MB) in about the time it takes to ask again.
 */
export const WHOLE_UP_TO = 2000;

/** The first jobs in the jobs view's order, how many there are, and every host. */
async function firstJobs(
  feed: JobsFeed,
  id: string,
  settings: Settings,
  count: number,
  hosts: readonly HostInfo[],
): Promise<Response> {
  const silentMs = settings.hostSilentSeconds * 1000;
  const stamp = await feed.store.viewStamp(id);
  const time = feed.now();
  const { json, total } = await feed.listings.firstRows(
    feed.store,
    id,
    stamp,
    time,
    settings,
    count,
  );
  const states = hostStates(hosts, time, { connectedMs: feed.connectedWithinMs, silentMs });
  // The JSON of a `FirstJobs`, in its order of fields.
  return jsonTextResponse(
    200,
    `{"jobs":${json},"total":${total},"hosts":${JSON.stringify(states)}}`,
  );
}

function parseFirst(value: string): number {
  const count = /^[1-9][0-9]{0,3}$/.test(value) ? Number(value) : NaN;
  if (!(count <= MAX_FIRST_JOBS)) {
    throw new FieldError("first", `must be a number of jobs from 1 to ${MAX_FIRST_JOBS}`, value);
  }
  return count;
}

/**
 * Every job; 304 while the stamp and the grace hold and no job's view has changed
 * with time. The tag is `STAMP.UNTIL.GRACE`: the view's stamp, the first instant a
 * job's view changes by time (or `never`), and the `missedGraceSeconds` used.
 */
async function allJobs(
  feed: JobsFeed,
  id: string,
  settings: Settings,
  known: string[],
): Promise<Response> {
  const stamp = await feed.store.viewStamp(id);
  const time = feed.now();
  const grace = String(settings.missedGraceSeconds);
  for (const tag of known) {
    const [tagStamp, until, tagGrace] = tag.split(".");
    if (
      tagStamp === stamp && tagGrace === grace && (until === "never" || time < Number(until))
    ) {
      return notModified(`"${tag}"`);
    }
  }
  const { json, until } = await feed.listings.listing(feed.store, id, stamp, time, settings);
  const etag = `"${stamp}.${until === Infinity ? "never" : until}.${grace}"`;
  return jsonTextResponse(200, `{"jobs":${json}}`, { etag });
}

/** The jobs with their views, as the dashboard's grace makes them. */
function withViews(
  jobs: readonly JobWithLastRun[],
  time: number,
  settings: Settings,
): JobRow[] {
  const graceMs = settings.missedGraceSeconds * 1000;
  return jobs.map((job) => listedRow(job, viewJob(job, job.lastRun, time, graceMs)));
}

function parseStale(value: string | null): string[] {
  if (value === null || value === "") return [];
  const hosts = value.split(",");
  if (hosts.length > MAX_STALE_HOSTS) {
    throw new FieldError("stale", `must name at most ${MAX_STALE_HOSTS} hosts`);
  }
  return [...new Set(hosts.map((host) => parseHostName(host)))];
}

/**
 * A digest of which hosts are connected, which silent, and when the others were
 * last seen: it changes when the page's hosts would, and not with each call of a
 * connected host.
 */
async function connectionDigest(
  seen: ReadonlyMap<string, number>,
  now: number,
  limits: HostLimits,
): Promise<string> {
  let text = "";
  for (const [host, at] of seen) {
    const { connected, silent } = hostState(at, now, limits);
    text += `${host}\t${connected ? "+" : silent ? `${at}!` : at}\n`;
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest, 0, 12));
}
