/**
 * Everything the dashboard server keeps, in Deno KV: dashboards, hosts, job
 * lists, runs and their output, and manual runs. This module is the only one that
 * touches KV, but for the keys of alerts (`alerts/alert_store.ts`). Every key is
 * `[kind, dashboardId, ...]`, so one dashboard's data is found, and deleted, by
 * its id, and every call made for a dashboard reads and writes only keys with
 * its id.
 *
 * | key                                             | value                                    |
 * | ----------------------------------------------- | ---------------------------------------- |
 * | `["dash", id]`                                  | `{keyHash, createdAt, settings}`         |
 * | `["seen", id, host]`, `["jobCount", id, host]`  | last call (ms); jobs listed              |
 * | `["job", id, host, tag, part]`                  | a Job's JSON, in parts                   |
 * | `["jobsRefused", id, host]`                     | `{at, reason}` of a refused job list     |
 * | `["run", id, runId]`                            | Run, and which output it stored          |
 * | `["runAt", id, startedAt, runId]`               | null: an index, as are the next three    |
 * | `["runByHost", id, host, startedAt, runId]`     | null                                     |
 * | `["runByTag", id, tag, startedAt, runId]`       | null                                     |
 * | `["runByJob", id, host, tag, startedAt, runId]` | null                                     |
 * | `["jobRuns", id, host, tag]`                    | `{count, lastRunId, lastStartedAt, lastRun}` |
 * | `["hostRev", id, host]`                         | null, rewritten by each change of runs   |
 * | `["out", id, runId, gen, seq, part]`            | output bytes; gen 0 streamed, 1 final    |
 * | `["manual", id, manualId]`                      | manual run, with payload and signature   |
 * | `["manualByJob", id, host, tag, queuedAt, mId]` | null: an index of a job's manual runs    |
 * | `["queue", id, host, queuedAt, manualId]`       | null: a manual run waiting for its host  |
 * | `["viewRev", id]`                               | null: the jobs view's newest change      |
 * | `["hostViewRev", id, host]`                     | null: a host's newest change in it       |
 * | `["jobViewRev", id, host, tag]`                 | null: a job's (tag `""`: the whole list) |
 * | `["alert…", id, …]`                             | alerts' own: see `alerts/alert_store.ts` |
 *
 * The jobs view (every job with its newest run, and the hosts) changes with a job
 * list, a refusal of one, a run's start or end, and the deletion of a job's newest
 * run. Each such write also rewrites the `…ViewRev` keys it concerns, in the same
 * atomic write: their versionstamps, ordered as the writes committed, say what
 * changed since a reader's last look without reading any job ({@linkcode DashboardStore.viewChanges}).
 *
 * Concurrent writers, on this server instance or another sharing the store, are
 * kept apart by checked atomic writes (optimistic: read, check unchanged, write,
 * retry on a conflict), each with at most a few checks (a self-hosted denokv
 * allows 10). A host's runs, their counts and output all change under one key,
 * `hostRev`, so a whole batch of reports commits with one check.
 *
 * Deno KV limits a value to 64 KiB and an atomic write to 1000 mutations and
 * 800 KiB: output and jobs (a job's command alone may be 128 KiB) are split into
 * parts of at most 60,000 bytes, and long writes go in several batches, ordered
 * so a reader never sees half of one.
 *
 * @module
 */

import { base64url } from "../protocol/keys.ts";
import { ALERT_KEY_KINDS } from "./alerts/alert_store.ts";
import { capChunks, charBoundary, type OutputChunk, type OutputStream } from "../output_cap.ts";
import { isEnvelope, openedLength } from "../protocol/envelope.js";
import { addSeq, hasSeq, type SeqRanges, splitBytes } from "./chunks.ts";
import { parseArgValues } from "../protocol/schema.ts";
import {
  type ArgValues,
  type ClaimedManual,
  DEFAULT_SETTINGS,
  type HostInfo,
  type Job,
  type JobListRefused,
  type JobWithLastRun,
  type ManualRequest,
  type ManualRun,
  type OutputRecord,
  type Report,
  type Run,
  type RunStartInfo,
  type Settings,
} from "../protocol/wire.ts";

/** Every kind of key; a dashboard's data is every key `[kind, id, ...]`. */
export const KEY_KINDS = [
  "dash",
  "seen",
  "jobCount",
  "job",
  "jobsRefused",
  "run",
  "runAt",
  "runByHost",
  "runByTag",
  "runByJob",
  "jobRuns",
  "hostRev",
  "out",
  "manual",
  "manualByJob",
  "queue",
  "viewRev",
  "hostViewRev",
  "jobViewRev",
  ...ALERT_KEY_KINDS,
] as const;

const DAY_MS = 86_400_000;
const PART_BYTES = 60_000;
const MAX_MUTATIONS = 1000;
const MAX_BATCH_BYTES = 700_000;
const MAX_BATCH_KEY_BYTES = 70_000;
const MAX_ATTEMPTS = 50;
/** The most separate ranges of sequence numbers a run's streamed output may have. */
const MAX_SEQ_RANGES = 200;
/** How many runs' reports are read for one atomic step, and its budget of writes. */
const MAX_UNIT_RUNS = 80;
const MAX_UNIT_WRITES = 500;
const MAX_UNIT_BYTES = 300_000;
/** The most runs one step deletes to trim jobs to `retentionRuns`. */
const MAX_UNIT_TRIMS = 40;
/** Generations of a run's output: what was streamed, and the final chunks of its end. */
const STREAMED = 0;
const FINAL = 1;

/** A dashboard as stored. */
export interface Dashboard {
  id: string;
  /** The SHA-256 of the API key, unpadded base64url. */
  keyHash: string;
  createdAt: number;
  settings: Settings;
}

/** The stamp of a jobs view that never changed ({@linkcode DashboardStore.viewStamp}). */
export const NO_STAMP = "0";

/** Which jobs to read: whole hosts, and single jobs. */
export interface JobSelection {
  hosts: readonly string[];
  jobs: readonly { host: string; tag: string }[];
}

/** Where a job stands in the jobs view ({@linkcode DashboardStore.listJobPlaces}). */
export interface JobPlace {
  host: string;
  tag: string;
  section: string | null;
  line: number;
}

/** What changed in a dashboard's jobs view since a stamp ({@linkcode DashboardStore.viewChanges}). */
export interface ViewChanges {
  /** Hosts whose whole job list changed (or its refusal): each of their jobs is to be read. */
  hosts: string[];
  /** Jobs, on other hosts, whose newest run changed. */
  jobs: { host: string; tag: string }[];
}

/**
 * The jobs to read again for what changed: the hosts whose lists changed (and any
 * others asked for) whole, and the single jobs changed on the rest.
 *
 * @param changes What changed ({@linkcode DashboardStore.viewChanges}).
 * @param alsoWhole More hosts to read whole.
 * @returns The selection, each host once.
 */
export function changedSelection(
  changes: ViewChanges,
  alsoWhole: readonly string[] = [],
): JobSelection {
  const hosts = [...new Set([...changes.hosts, ...alsoWhole])];
  const whole = new Set(hosts);
  return { hosts, jobs: changes.jobs.filter(({ host }) => !whole.has(host)) };
}

/** Which of a job's manual runs to list. */
export interface ManualQuery {
  host: string;
  tag: string;
  /** The most manual runs, 1 to 500. */
  limit: number;
  /** Only those queued before this instant, ms. */
  before?: number | undefined;
}

/** What became of a request to cancel a manual run. */
export interface CancelOutcome {
  /** Whether it is cancelled now (also when it was before). */
  cancelled: boolean;
  /** The manual run as it is now; null if there is no such run. */
  manual: ManualRun | null;
}

/** Which runs to list. */
export interface RunQuery {
  host?: string | undefined;
  tag?: string | undefined;
  /** The most runs, 1 to 500. */
  limit: number;
  /** Only runs started before this instant, ms. */
  before?: number | undefined;
}

type DashboardRecord = Omit<Dashboard, "id">;
/** A run, with what its stored output takes: bytes, and which chunks. */
type StoredRun = Run & { storedBytes: number; seqs: SeqRanges };
type RunReport = Exclude<Report, { type: "manual" }>;
type ManualReport = Extract<Report, { type: "manual" }>;
/** The writes of one atomic step of a batch of reports, gathered before it commits. */
interface UnitPlan {
  accepted: number;
  /** The checked commit: run records, index entries, run counts. */
  writes: Write[];
  /** Output parts: in the commit when all fits in one atomic write, else before it. */
  before: Write[];
  /** Streamed output that ended runs no longer show: with the commit, or after it. */
  after: Write[];
  /** Prefixes with more keys to delete once committed. */
  leftovers: Deno.KvKey[];
  /** The run counts of the jobs touched, by tag. */
  stats: Map<string, JobRuns>;
  changedStats: Set<string>;
  startedTags: Set<string>;
  endedTags: Set<string>;
  /** The jobs whose newest run the jobs view shows differently: a run started or ended. */
  viewTags: Set<string>;
  /** The runs written. */
  touched: Set<string>;
}

/** What one atomic step of a batch of reports did. */
interface AppliedUnit {
  /** Reports accepted. */
  accepted: number;
  /** How many of the runs given were applied. */
  taken: number;
  /** Jobs with more runs than they keep still. */
  trims: Set<string>;
}
/** A manual run as stored: its arguments only in the signed payload. */
type StoredManual = Omit<ManualRun, "args"> & { payload: string; signature: string };
interface JobRuns {
  count: number;
  lastRunId: string;
  lastStartedAt: number;
  /**
   * The newest run as the API shows it, kept with each of its changes that shows
   * (its start, its end), so that listing jobs reads no run; absent in records
   * written before, or after the newest run was deleted (then the run is read).
   */
  lastRun?: Run;
}
interface ChunkHead {
  stream: OutputStream;
  parts: number;
  bytes: Uint8Array;
}
type Write =
  | { key: Deno.KvKey; value: unknown; size: number }
  | { key: Deno.KvKey; value?: undefined; size?: undefined };

const encoder = new TextEncoder();

/** A key's size: its strings are ids, hosts and tags, all ASCII (see schema.ts). */
function keySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) size += typeof part === "string" ? part.length + 2 : 10;
  return size;
}

/** A generous estimate of a JSON-like value's serialized size. */
function valueSize(value: unknown): number {
  return JSON.stringify(value).length * 2 + 32;
}

/** A run as the API shows it: its fields in the README's order, nothing internal. */
function publicRun(run: StoredRun): Run {
  return {
    id: run.id,
    host: run.host,
    tag: run.tag,
    name: run.name,
    section: run.section,
    trigger: run.trigger,
    args: run.args,
    scheduledFor: run.scheduledFor,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    exitCode: run.exitCode,
    signal: run.signal,
    status: run.status,
    error: run.error,
    outputBytes: run.outputBytes,
    manualId: run.manualId,
  };
}

function newRun(start: RunStartInfo, host: string): StoredRun {
  return {
    ...start,
    host,
    finishedAt: null,
    exitCode: null,
    signal: null,
    status: "running",
    error: null,
    outputBytes: 0,
    storedBytes: 0,
    seqs: [],
  };
}

/** A job's run count and newest run, once a run has started. */
function nextStats(last: JobRuns | null, start: RunStartInfo): JobRuns {
  const newest = last === null || last.lastStartedAt < start.startedAt ||
    (last.lastStartedAt === start.startedAt && last.lastRunId < start.id);
  const count = (last?.count ?? 0) + 1;
  return newest
    ? { count, lastRunId: start.id, lastStartedAt: start.startedAt }
    : { ...last, count };
}

/**
 * The final chunks of a run the store keeps, each with its `seq` (its index in
 * the end report, which a sealed chunk is bound to) and its plain bytes. Sealed
 * chunks are kept whole: the first ones while they fit half the limit, then the
 * last ones while the rest fits, as koid keeps a head and a tail; the `seq`s
 * skipped show where output was left out. Plain chunks are capped as koid caps.
 */
function finalChunks(
  chunks: readonly OutputChunk[],
  limit: number,
): { seq: number; chunk: OutputChunk; bytes: number }[] {
  if (!chunks.every((chunk) => isEnvelope(chunk.text))) {
    return capChunks(chunks, limit).map((chunk, seq) => ({
      seq,
      chunk,
      bytes: encoder.encode(chunk.text).length,
    }));
  }
  const sized = chunks.map((chunk, seq) => ({ seq, chunk, bytes: openedLength(chunk.text) }));
  const total = sized.reduce((sum, chunk) => sum + chunk.bytes, 0);
  if (total <= limit) return sized;
  const head: typeof sized = [];
  let used = 0;
  for (const chunk of sized) {
    if (used + chunk.bytes > limit / 2) break;
    head.push(chunk);
    used += chunk.bytes;
  }
  const tail: typeof sized = [];
  for (let i = sized.length - 1; i >= head.length; i--) {
    const chunk = sized[i]!;
    if (used + chunk.bytes > limit) break;
    tail.unshift(chunk);
    used += chunk.bytes;
  }
  return [...head, ...tail];
}

/** A manual run as the API shows it: the values its payload asks for, not the payload. */
function publicManual(stored: StoredManual): ManualRun {
  const { id, host, tag, queuedAt, state, reason, runId } = stored;
  const { args, ts } = payloadArgs(stored.payload);
  const manual: ManualRun = { id, host, tag, queuedAt, state, args };
  if (ts !== undefined) manual.ts = ts;
  if (reason !== undefined) manual.reason = reason;
  if (runId !== undefined) manual.runId = runId;
  return manual;
}

/**
 * The (sealed) argument values a payload asks for and its timestamp, which they
 * are bound to, when they are well-formed (else none: koid refuses such a
 * request anyway).
 */
function payloadArgs(payload: string): { args: ArgValues; ts?: number } {
  try {
    const parsed = JSON.parse(payload) as { args?: unknown; ts?: unknown };
    const args = parseArgValues(parsed.args, "args");
    return Number.isSafeInteger(parsed.ts) ? { args, ts: parsed.ts as number } : { args };
  } catch {
    return { args: {} };
  }
}

/** The dashboard server's store: one Deno KV, shared by any number of server instances. */
export class DashboardStore {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;

  /**
   * Makes the store.
   *
   * @param kv The open KV store; the caller closes it.
   * @param now The clock for stored times, ms since the epoch.
   */
  constructor(kv: Deno.Kv, now: () => number = Date.now) {
    this.#kv = kv;
    this.#now = now;
  }

  /**
   * Creates a dashboard with default settings.
   *
   * @param id The new dashboard's id.
   * @param keyHash The SHA-256 of its API key.
   * @returns False if a dashboard with that id exists.
   */
  async createDashboard(id: string, keyHash: string): Promise<boolean> {
    const record: DashboardRecord = {
      keyHash,
      createdAt: this.#now(),
      settings: { ...DEFAULT_SETTINGS },
    };
    const key = ["dash", id];
    const result = await this.#kv.atomic().check({ key, versionstamp: null }).set(key, record)
      .commit();
    return result.ok;
  }

  /**
   * A dashboard, or null when there is none with that id.
   *
   * @param id The dashboard id.
   * @returns The dashboard.
   */
  async getDashboard(id: string): Promise<Dashboard | null> {
    const entry = await this.#kv.get<DashboardRecord>(["dash", id]);
    if (entry.value === null) return null;
    // A dashboard stored before a setting existed has its default.
    return { id, ...entry.value, settings: { ...DEFAULT_SETTINGS, ...entry.value.settings } };
  }

  /**
   * Deletes a dashboard and every key of its data.
   *
   * @param id The dashboard id.
   */
  async deleteDashboard(id: string): Promise<void> {
    // The record first: from then on no call authenticates for this id.
    await this.#kv.delete(["dash", id]);
    for (const kind of KEY_KINDS) await this.#deletePrefix([kind, id]);
    await this.#kv.delete(["viewRev", id]);
  }

  /**
   * Changes some of a dashboard's settings.
   *
   * @param id The dashboard id.
   * @param patch The settings to change.
   * @returns All the settings after the change, or null if there is no such dashboard.
   */
  updateSettings(id: string, patch: Partial<Settings>): Promise<Settings | null> {
    return this.#transact("update the settings", async () => {
      const entry = await this.#kv.get<DashboardRecord>(["dash", id]);
      if (entry.value === null) return { value: null };
      const settings = { ...DEFAULT_SETTINGS, ...entry.value.settings, ...patch };
      const result = await this.#kv.atomic().check(entry)
        .set(entry.key, { ...entry.value, settings }).commit();
      return result.ok ? { value: settings } : null;
    });
  }

  /**
   * Records a call from a host.
   *
   * @param id The dashboard id.
   * @param host The host.
   */
  async touchHost(id: string, host: string): Promise<void> {
    await this.#kv.set(["seen", id, host], this.#now());
  }

  /**
   * When each host of a dashboard last called.
   *
   * @param id The dashboard id.
   * @returns Each host's last call, ms, by name; hosts never heard from are absent.
   */
  async lastSeen(id: string): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for await (const entry of this.#kv.list<number>({ prefix: ["seen", id] })) {
      seen.set(entry.key[2] as string, entry.value);
    }
    return seen;
  }

  /**
   * A dashboard's hosts, by name.
   *
   * @param id The dashboard id.
   * @returns The hosts.
   */
  async listHosts(id: string): Promise<HostInfo[]> {
    const hosts = new Map<string, HostInfo>();
    const host = (name: string) => {
      let info = hosts.get(name);
      if (info === undefined) {
        info = { host: name, lastSeenAt: null, jobCount: 0, jobListRefused: null };
        hosts.set(name, info);
      }
      return info;
    };
    for (const [name, at] of await this.lastSeen(id)) host(name).lastSeenAt = at;
    for await (const entry of this.#kv.list<number>({ prefix: ["jobCount", id] })) {
      host(entry.key[2] as string).jobCount = entry.value;
    }
    for await (const entry of this.#kv.list<JobListRefused>({ prefix: ["jobsRefused", id] })) {
      host(entry.key[2] as string).jobListRefused = entry.value;
    }
    return [...hosts.values()].sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
  }

  /**
   * Records that a host's job list was refused: the list kept is out of date.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param reason Why, as the server answered.
   */
  async refuseJobs(id: string, host: string, reason: string): Promise<void> {
    const refused: JobListRefused = { at: this.#now(), reason: reason.slice(0, 1000) };
    await this.#write([
      recordWrite(["jobsRefused", id, host], refused),
      ...viewWrites(id, host, [WHOLE_LIST]),
    ]);
  }

  /**
   * Replaces a host's job list, in as many atomic batches as its size needs, and
   * forgets a refusal of an earlier one.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param jobs The new list, each tag once.
   */
  async replaceJobs(id: string, host: string, jobs: readonly Job[]): Promise<void> {
    // Each write of a list is stamped: a job whose parts a reader finds from two
    // writes (the list was replaced in several batches meanwhile) is left out.
    const stamp = base64url(crypto.getRandomValues(new Uint8Array(9)));
    const parts = new Map<string, number>();
    const writes: Write[] = jobs.flatMap((job) => {
      const jobParts = jobWrites(["job", id, host, job.tag], job, stamp);
      parts.set(job.tag, jobParts.length);
      return jobParts;
    });
    for await (const entry of this.#kv.list({ prefix: ["job", id, host] })) {
      const [, , , tag, part] = entry.key;
      const kept = parts.get(tag as string);
      // A key of four parts is a job as stored before jobs were split.
      if (kept === undefined || typeof part !== "number" || part >= kept) {
        writes.push({ key: entry.key });
      }
    }
    for await (const entry of this.#kv.list({ prefix: ["jobViewRev", id, host] })) {
      const tag = entry.key[3] as string;
      if (tag !== WHOLE_LIST && !parts.has(tag)) writes.push({ key: entry.key });
    }
    writes.push({ key: ["jobCount", id, host], value: jobs.length, size: 16 });
    writes.push({ key: ["seen", id, host], value: this.#now(), size: 16 });
    writes.push({ key: ["jobsRefused", id, host] });
    // Last, so in the last batch: a reader told of the change finds the whole list.
    writes.push(...viewWrites(id, host, [WHOLE_LIST]));
    await this.#write(writes);
  }

  /**
   * Every job of a dashboard, or those selected, by host and line, each with its
   * newest run.
   *
   * @param id The dashboard id.
   * @param only Which hosts' jobs and which single jobs to read; all when absent.
   * @returns The jobs.
   */
  async listJobs(id: string, only?: JobSelection): Promise<JobWithLastRun[]> {
    const stats = new Map<string, JobRuns>();
    const jobs: { host: string; job: Job }[] = [];
    const readJobs = (selector: Deno.KvListSelector) => this.#readJobs(selector, jobs);
    const readStats = async (prefix: Deno.KvKey) => {
      for await (const entry of this.#kv.list<JobRuns>({ prefix }, BULK_READ)) {
        stats.set(`${entry.key[2] as string}/${entry.key[3] as string}`, entry.value);
      }
    };
    const scopes = only === undefined ? [[id]] : only.hosts.map((host) => [id, host]);
    const single = only?.jobs ?? [];
    await Promise.all([
      ...scopes.map((scope) => readJobs({ prefix: ["job", ...scope] })),
      ...scopes.map((scope) => readStats(["jobRuns", ...scope])),
      // A job's parts, and the job as stored whole before jobs were split (a key of four).
      ...single.map(({ host, tag }) =>
        readJobs({ start: ["job", id, host, tag], end: ["job", id, host, tag, true] })
      ),
      (async () => {
        const found = await this.#getValues<JobRuns>(
          single.map(({ host, tag }) => ["jobRuns", id, host, tag]),
        );
        single.forEach(({ host, tag }, i) => {
          if (found[i] != null) stats.set(`${host}/${tag}`, found[i]!);
        });
      })(),
    ]);
    const newest = (host: string, job: Job) => stats.get(`${host}/${job.tag}`);
    // Runs whose record the job's count does not hold: read them.
    const runs = await this.#getRuns(
      id,
      jobs.flatMap(({ host, job }) => {
        const last = newest(host, job);
        return last !== undefined && last.lastRun?.id !== last.lastRunId ? [last.lastRunId] : [];
      }),
    );
    jobs.sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : a.job.line - b.job.line);
    return jobs.map(({ host, job }) => {
      const last = newest(host, job);
      const kept = last?.lastRun?.id === last?.lastRunId ? last?.lastRun : undefined;
      const read = last === undefined ? undefined : runs.get(last.lastRunId);
      return { ...job, host, lastRun: kept ?? (read === undefined ? null : publicRun(read)) };
    });
  }

  /**
   * Where every job of a dashboard stands in the jobs view: its section, host and
   * line, without its newest run (what {@linkcode listJobs} reads besides). A
   * page's first screen of rows is picked with it.
   *
   * @param id The dashboard id.
   * @returns Every job's place, in no particular order.
   */
  async listJobPlaces(id: string): Promise<JobPlace[]> {
    const jobs: { host: string; job: Job }[] = [];
    await this.#readJobs({ prefix: ["job", id] }, jobs);
    return jobs.map(({ host, job }) => ({
      host,
      tag: job.tag,
      section: job.section,
      line: job.line,
    }));
  }

  /** Reads the jobs a selector of `["job", …]` keys holds, each put back together from its parts. */
  async #readJobs(
    selector: Deno.KvListSelector,
    into: { host: string; job: Job }[],
  ): Promise<void> {
    const reader = new JobReader();
    for await (const entry of this.#kv.list<StoredJobPart | Job>(selector, BULK_READ)) {
      const job = reader.take(entry.key, entry.value);
      if (job !== null) into.push({ host: entry.key[2] as string, job });
    }
  }

  /**
   * The stamp of the newest change of a dashboard's jobs view: a versionstamp,
   * or `"0"` before any. Stamps compare as strings, in the order of the changes.
   *
   * @param id The dashboard id.
   * @returns The stamp.
   */
  async viewStamp(id: string): Promise<string> {
    return (await this.#kv.get(["viewRev", id])).versionstamp ?? NO_STAMP;
  }

  /**
   * What changed in a dashboard's jobs view after `since`: hosts whose whole list
   * is to be read again, and single jobs. Every change up to the stamp
   * {@linkcode viewStamp} gave before this call is in it; later ones may be.
   *
   * @param id The dashboard id.
   * @param since A stamp from {@linkcode viewStamp}.
   * @returns The hosts and jobs changed.
   */
  async viewChanges(id: string, since: string): Promise<ViewChanges> {
    const hosts: string[] = [];
    for await (const entry of this.#kv.list({ prefix: ["hostViewRev", id] })) {
      if (entry.versionstamp > since) hosts.push(entry.key[2] as string);
    }
    const changes: ViewChanges = { hosts: [], jobs: [] };
    await Promise.all(hosts.map(async (host) => {
      const tags: string[] = [];
      for await (const entry of this.#kv.list({ prefix: ["jobViewRev", id, host] })) {
        if (entry.versionstamp > since) tags.push(entry.key[3] as string);
      }
      if (tags.includes(WHOLE_LIST)) changes.hosts.push(host);
      else changes.jobs.push(...tags.map((tag) => ({ host, tag })));
    }));
    return changes;
  }

  /**
   * Records a batch of reports from a host: each run's reports in order, and in
   * one atomic write when they fit. Each report is idempotent: a run starts once
   * per id, output is kept once per `(runId, seq)`, a run ends once, and a manual
   * run's answer is kept once. Reports naming a run or manual run this host does
   * not have are skipped.
   *
   * @param id The dashboard id.
   * @param host The reporting host.
   * @param reports The reports.
   * @param settings The dashboard's settings (output limit and retention).
   * @returns How many reports are accepted: recorded now or by an earlier copy of
   * the batch, or output past the run's limit, which is dropped.
   */
  async applyReports(
    id: string,
    host: string,
    reports: readonly Report[],
    settings: Settings,
  ): Promise<number> {
    const groups = new Map<string, RunReport[]>();
    const answers: ManualReport[] = [];
    for (const report of reports) {
      if (report.type === "manual") {
        answers.push(report);
        continue;
      }
      const runId = report.type === "start" ? report.run.id : report.runId;
      const group = groups.get(runId);
      if (group === undefined) groups.set(runId, [report]);
      else group.push(report);
    }
    let accepted = 0;
    let pending = [...groups];
    let trims = new Set<string>();
    while (pending.length > 0 || trims.size > 0) {
      const unit = await this.#applyRunUnit(id, host, pending, trims, settings);
      accepted += unit.accepted;
      pending = pending.slice(unit.taken);
      trims = unit.trims;
    }
    for (const answer of answers) {
      if (await this.#answerManual(id, host, answer)) accepted++;
    }
    if (groups.size === 0) await this.touchHost(id, host);
    return accepted;
  }

  /**
   * Applies the reports of as many of `groups`' runs as fit in one atomic write,
   * and trims the jobs whose runs ended to `retentionRuns`. Every write to a
   * host's runs changes its `hostRev` key and checks it unchanged since reading:
   * one check covers all the runs, counts and output of the step.
   */
  #applyRunUnit(
    id: string,
    host: string,
    groups: readonly (readonly [string, readonly RunReport[]])[],
    trimTags: ReadonlySet<string>,
    settings: Settings,
  ): Promise<AppliedUnit> {
    return this.#transact("record a batch of reports", async () => {
      const window = groups.slice(0, MAX_UNIT_RUNS);
      const [rev, runs] = await Promise.all([
        this.#kv.get(["hostRev", id, host]),
        this.#getRuns(id, window.map(([runId]) => runId)),
      ]);
      const tags = new Set(trimTags);
      for (const [runId, reports] of window) {
        const run = runs.get(runId);
        if (run !== undefined) tags.add(run.tag);
        for (const report of reports) if (report.type === "start") tags.add(report.run.tag);
      }
      const plan: UnitPlan = {
        accepted: 0,
        writes: [],
        before: [],
        after: [],
        leftovers: [],
        stats: await this.#getJobRuns(id, host, tags),
        changedStats: new Set(),
        startedTags: new Set(),
        endedTags: new Set(trimTags),
        viewTags: new Set(),
        touched: new Set(),
      };
      let taken = 0;
      for (const [runId, reports] of window) {
        const bytes = plan.writes.reduce((sum, write) => sum + (write.size ?? 0), 0);
        if (taken > 0 && (plan.writes.length > MAX_UNIT_WRITES || bytes > MAX_UNIT_BYTES)) break;
        taken++;
        await this.#planRun(plan, id, host, runId, runs.get(runId) ?? null, reports, settings);
      }
      const trims = new Set<string>();
      let room = MAX_UNIT_TRIMS;
      for (const tag of plan.endedTags) {
        const { doomed, again } = await this.#planTrim(plan, id, host, tag, settings, room);
        room -= doomed;
        if (again) trims.add(tag);
      }
      for (const tag of plan.changedStats) {
        plan.writes.push(recordWrite(["jobRuns", id, host, tag], plan.stats.get(tag)!));
      }
      if (plan.viewTags.size > 0) plan.writes.push(...viewWrites(id, host, plan.viewTags));
      plan.writes.push({ key: rev.key, value: null, size: 8 });
      plan.writes.push({ key: ["seen", id, host], value: this.#now(), size: 16 });
      const { writes, before, after } = plan;
      if (await this.#commitChecked([rev], writes, { before, after }) === null) return null;
      for (const prefix of plan.leftovers) await this.#deletePrefix(prefix);
      return { value: { accepted: plan.accepted, taken, trims } };
    });
  }

  /** Adds one run's reports to a step: its new state, and its output's writes. */
  async #planRun(
    plan: UnitPlan,
    id: string,
    host: string,
    runId: string,
    found: StoredRun | null,
    reports: readonly RunReport[],
    settings: Settings,
  ): Promise<void> {
    plan.touched.add(runId);
    let run = found;
    /** Whether what the API shows of the run changed: it started or ended. */
    let shows = false;
    const streamedPrefix = ["out", id, runId, STREAMED];
    let streamed: Write[] = [];
    for (const report of reports) {
      if (report.type === "start") {
        if (run !== null) {
          if (run.host === host) plan.accepted++;
          continue;
        }
        run = newRun(report.run, host);
        const { startedAt, tag } = report.run;
        plan.stats.set(tag, nextStats(plan.stats.get(tag) ?? null, report.run));
        plan.changedStats.add(tag);
        plan.startedTags.add(tag);
        plan.viewTags.add(tag);
        shows = true;
        for (const key of runIndexKeys(id, host, tag, startedAt, runId)) {
          plan.writes.push({ key, value: null, size: 8 });
        }
        plan.accepted++;
        continue;
      }
      if (run === null || run.host !== host) continue;
      plan.accepted++;
      if (run.status !== "running") {
        // Ended: the final output replaced what was streamed; a repeated end only
        // makes sure no streamed output is left behind.
        if (report.type === "end") plan.leftovers.push(streamedPrefix);
        continue;
      }
      if (report.type === "output") {
        const room = settings.outputLimit - run.storedBytes;
        if (hasSeq(run.seqs, report.seq) || room <= 0) continue;
        const seqs = addSeq(run.seqs, report.seq);
        // A pathological order of sequence numbers stops the live view, not the run.
        if (seqs.length > MAX_SEQ_RANGES) continue;
        const encoded = encoder.encode(report.text);
        if (isEnvelope(report.text)) {
          // A sealed chunk is kept whole or not at all; live output stops at the first that
          // does not fit (the final output comes with the end). Its plain bytes count.
          const plain = openedLength(report.text);
          if (plain > room) {
            run = { ...run, storedBytes: settings.outputLimit };
            continue;
          }
          streamed.push(...chunkWrites(streamedPrefix, report.seq, report.stream, encoded));
          run = { ...run, seqs, storedBytes: run.storedBytes + plain };
          continue;
        }
        const kept = encoded.subarray(0, charBoundary(encoded, room));
        streamed.push(...chunkWrites(streamedPrefix, report.seq, report.stream, kept));
        run = { ...run, seqs, storedBytes: run.storedBytes + kept.length };
        continue;
      }
      let storedBytes = 0;
      for (const { seq, chunk, bytes } of finalChunks(report.end.chunks, settings.outputLimit)) {
        const encoded = encoder.encode(chunk.text);
        storedBytes += bytes;
        plan.before.push(...chunkWrites(["out", id, runId, FINAL], seq, chunk.stream, encoded));
      }
      // The final output replaces the streamed: this batch's is never written, and
      // what earlier batches stored goes as the run ends.
      streamed = [];
      if ((found?.seqs.length ?? 0) > 0) {
        const old = await Array.fromAsync(
          this.#kv.list({ prefix: streamedPrefix }, { limit: MAX_MUTATIONS }),
        );
        plan.after.push(...old.map((entry) => ({ key: entry.key })));
        if (old.length === MAX_MUTATIONS) plan.leftovers.push(streamedPrefix);
      }
      const { chunks: _, ...fields } = report.end;
      run = { ...run, ...fields, storedBytes, seqs: [] };
      plan.endedTags.add(run.tag);
      plan.viewTags.add(run.tag);
      shows = true;
    }
    // A chunk shows only once all its parts are there (see getRunOutput), so its
    // parts may go ahead of the commit when the step is too large for one write.
    plan.before.push(...streamed);
    if (run === null || run === found) return;
    plan.writes.push(recordWrite(["run", id, runId], run));
    const stats = plan.stats.get(run.tag);
    if (shows && stats?.lastRunId === runId) {
      plan.stats.set(run.tag, { ...stats, lastRun: publicRun(run) });
      plan.changedStats.add(run.tag);
    }
  }

  /**
   * Adds to a step the deletion of a job's oldest runs beyond `retentionRuns`, at
   * most `room` of them, never its newest.
   *
   * @returns How many runs it deletes, and whether the job needs another step.
   */
  async #planTrim(
    plan: UnitPlan,
    id: string,
    host: string,
    tag: string,
    settings: Settings,
    room: number,
  ): Promise<{ doomed: number; again: boolean }> {
    const stats = plan.stats.get(tag);
    const excess = (stats?.count ?? 0) - settings.retentionRuns;
    if (stats === undefined || excess <= 0) return { doomed: 0, again: false };
    if (room <= 0) return { doomed: 0, again: true };
    const oldest = await Array.fromAsync(
      this.#kv.list({ prefix: ["runByJob", id, host, tag] }, { limit: Math.min(excess, room) }),
    );
    // A run written in this step is deleted in the next one, not while it is written
    // (and runs this step starts are not even listed yet).
    const deferred = plan.startedTags.has(tag) ||
      oldest.some((entry) => plan.touched.has(entry.key[5] as string));
    const doomed = oldest.filter((entry) =>
      entry.key[5] !== stats.lastRunId && !plan.touched.has(entry.key[5] as string)
    );
    const again = excess > doomed.length && (deferred || doomed.length > 0);
    if (doomed.length === 0) return { doomed: 0, again };
    const outputs = await Promise.all(doomed.map((entry) =>
      Array.fromAsync(
        this.#kv.list({ prefix: ["out", id, entry.key[5]!] }, { limit: MAX_MUTATIONS }),
      )
    ));
    for (const [i, entry] of doomed.entries()) {
      const runId = entry.key[5] as string;
      plan.writes.push({ key: ["run", id, runId] });
      for (const key of runIndexKeys(id, host, tag, entry.key[4] as number, runId)) {
        plan.writes.push({ key });
      }
      // The output first: should the step fail, nothing is left without its run.
      plan.before.push(...outputs[i]!.map((output) => ({ key: output.key })));
      if (outputs[i]!.length === MAX_MUTATIONS) plan.leftovers.push(["out", id, runId]);
    }
    plan.stats.set(tag, { ...stats, count: stats.count - doomed.length });
    plan.changedStats.add(tag);
    return { doomed: doomed.length, again };
  }

  /** The run counts of a host's jobs, by tag. */
  async #getJobRuns(
    id: string,
    host: string,
    tags: Iterable<string>,
  ): Promise<Map<string, JobRuns>> {
    const tagList = [...tags];
    const stats = await this.#getValues<JobRuns>(tagList.map((tag) => ["jobRuns", id, host, tag]));
    return new Map(tagList.flatMap((tag, i) => stats[i] === null ? [] : [[tag, stats[i]!]]));
  }

  /** Deletes a run with its output and index entries, keeping its job's run count right. */
  async #deleteRun(id: string, runId: string): Promise<void> {
    const found = await this.#kv.get<StoredRun>(["run", id, runId]);
    if (found.value === null) return;
    const { host, tag } = found.value;
    const byJob = ["runByJob", id, host, tag];
    await this.#transact("delete a run", async () => {
      const [run, stats, rev] = await this.#kv.getMany<[StoredRun, JobRuns, null]>([
        ["run", id, runId],
        ["jobRuns", id, host, tag],
        ["hostRev", id, host],
      ]);
      if (run.value === null) return { value: undefined };
      const { startedAt } = run.value;
      const output = await Array.fromAsync(
        this.#kv.list({ prefix: ["out", id, runId] }, { limit: MAX_MUTATIONS }),
      );
      const writes: Write[] = [
        { key: run.key },
        ...runIndexKeys(id, host, tag, startedAt, runId).map((key) => ({ key })),
      ];
      const count = (stats.value?.count ?? 1) - 1;
      if (stats.value === null || count <= 0) {
        writes.push({ key: stats.key });
      } else if (stats.value.lastRunId !== runId) {
        writes.push(recordWrite(stats.key, { ...stats.value, count }));
      } else {
        let newest: Deno.KvKey | undefined;
        for await (const entry of this.#kv.list({ prefix: byJob }, { reverse: true, limit: 2 })) {
          if (entry.key[5] !== runId) newest ??= entry.key;
        }
        writes.push(
          newest === undefined ? { key: stats.key } : recordWrite(stats.key, {
            count,
            lastRunId: newest[5] as string,
            lastStartedAt: newest[4] as number,
          }),
        );
      }
      if (stats.value?.lastRunId === runId) writes.push(...viewWrites(id, host, [tag]));
      writes.push({ key: rev.key, value: null, size: 8 });
      const versionstamp = await this.#commitChecked([rev, run, stats], writes, {
        before: output.map((entry) => ({ key: entry.key })),
      });
      if (versionstamp === null) return null;
      if (output.length === MAX_MUTATIONS) await this.#deletePrefix(["out", id, runId]);
      return { value: undefined };
    });
  }

  /**
   * Lists runs, newest first. A page never splits the runs that share a start
   * time, so asking again with `before` set to the last run's start misses none:
   * a full page leaves off its last runs when they share their start with runs
   * beyond the limit, and holds more than `limit` runs only when all of them
   * share one start.
   *
   * @param id The dashboard id.
   * @param query Filters and paging.
   * @returns The runs.
   */
  async listRuns(id: string, query: RunQuery): Promise<Run[]> {
    const prefix: Deno.KvKey = query.host !== undefined && query.tag !== undefined
      ? ["runByJob", id, query.host, query.tag]
      : query.host !== undefined
      ? ["runByHost", id, query.host]
      : query.tag !== undefined
      ? ["runByTag", id, query.tag]
      : ["runAt", id];
    const read = async (selector: Deno.KvListSelector, limit?: number) =>
      (await Array.fromAsync(this.#kv.list(selector, { reverse: true, ...limit && { limit } })))
        .map((entry) => ({
          startedAt: entry.key[prefix.length] as number,
          runId: entry.key[prefix.length + 1] as string,
        }));
    let page = await read(
      query.before === undefined ? { prefix } : { prefix, end: [...prefix, query.before] },
      query.limit + 1,
    );
    if (page.length > query.limit) {
      const cut = page[query.limit]!.startedAt;
      let keep = query.limit;
      while (keep > 0 && page[keep - 1]!.startedAt === cut) keep--;
      page = keep > 0 ? page.slice(0, keep) : await read({ prefix: [...prefix, cut] });
    }
    const runs = await this.#getRuns(id, page.map((entry) => entry.runId));
    return page.flatMap(({ runId }) => {
      const run = runs.get(runId);
      return run === undefined ? [] : [publicRun(run)];
    });
  }

  /**
   * A run and its output: the final chunks once it has ended, else what was
   * streamed so far.
   *
   * @param id The dashboard id.
   * @param runId The run id.
   * @param after Only chunks with a greater `seq`; null for all.
   * @returns The run and its chunks, or null if there is no such run.
   */
  async getRunOutput(
    id: string,
    runId: string,
    after: number | null,
  ): Promise<{ run: Run; output: OutputRecord[] } | null> {
    const entry = await this.#kv.get<StoredRun>(["run", id, runId]);
    if (entry.value === null) return null;
    const prefix = ["out", id, runId, entry.value.status === "running" ? STREAMED : FINAL];
    const selector = after === null ? { prefix } : { prefix, start: [...prefix, after + 1] };
    const output: OutputRecord[] = [];
    let current: { seq: number; stream: OutputStream; parts: number; bytes: Uint8Array[] } | null =
      null;
    const flush = () => {
      if (current === null || current.bytes.length !== current.parts) return;
      const bytes = new Uint8Array(current.bytes.reduce((sum, part) => sum + part.length, 0));
      let at = 0;
      for (const part of current.bytes) {
        bytes.set(part, at);
        at += part.length;
      }
      output.push({
        seq: current.seq,
        stream: current.stream,
        text: new TextDecoder().decode(bytes),
      });
    };
    for await (const part of this.#kv.list<ChunkHead>(selector)) {
      const seq = part.key[4] as number;
      const index = part.key[5] as number;
      if (index === 0) {
        flush();
        current = {
          seq,
          stream: part.value.stream,
          parts: part.value.parts,
          bytes: [part.value.bytes],
        };
      } else if (current?.seq === seq && index === current.bytes.length && index < current.parts) {
        current.bytes.push(part.value.bytes);
      }
    }
    flush();
    return { run: publicRun(entry.value), output };
  }

  /**
   * Queues a manual run for the host its payload names.
   *
   * @param id The dashboard id.
   * @param request The checked request.
   * @returns The new manual run's id.
   */
  async queueManual(id: string, request: ManualRequest): Promise<string> {
    const manualId = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const queuedAt = this.#now();
    const manual: StoredManual = {
      id: manualId,
      host: request.host,
      tag: request.tag,
      queuedAt,
      state: "queued",
      payload: request.payload,
      signature: request.signature,
    };
    const result = await this.#kv.atomic()
      .check({ key: ["manual", id, manualId], versionstamp: null })
      .set(["manual", id, manualId], manual)
      .set(["manualByJob", id, request.host, request.tag, queuedAt, manualId], null)
      .set(["queue", id, request.host, queuedAt, manualId], null)
      .commit();
    if (!result.ok) throw new Error("Cannot queue a manual run: its random id exists");
    return manualId;
  }

  /**
   * A manual run, or null when there is none with that id.
   *
   * @param id The dashboard id.
   * @param manualId The manual run's id.
   * @returns The manual run.
   */
  async getManual(id: string, manualId: string): Promise<ManualRun | null> {
    const entry = await this.#kv.get<StoredManual>(["manual", id, manualId]);
    return entry.value === null ? null : publicManual(entry.value);
  }

  /**
   * A job's manual runs, newest first, in every state.
   *
   * @param id The dashboard id.
   * @param query The job, and paging.
   * @returns The manual runs.
   */
  async listManual(id: string, query: ManualQuery): Promise<ManualRun[]> {
    const prefix: Deno.KvKey = ["manualByJob", id, query.host, query.tag];
    const selector = query.before === undefined
      ? { prefix }
      : { prefix, end: [...prefix, query.before] };
    const entries = await Array.fromAsync(
      this.#kv.list<null>(selector, { reverse: true, limit: query.limit }),
    );
    const manuals = await this.#getValues<StoredManual>(
      entries.map((entry) => ["manual", id, entry.key[5] as string]),
    );
    return manuals.flatMap((manual) => manual === null ? [] : [publicManual(manual)]);
  }

  /**
   * Cancels a manual run still queued, in one atomic step with the claim's
   * checks: once cancelled, no host can claim it; once claimed, it cannot be
   * cancelled.
   *
   * @param id The dashboard id.
   * @param manualId The manual run.
   * @returns Whether it is cancelled (also when it was already), and the run as it
   * is now: null if there is no such run.
   */
  cancelManual(id: string, manualId: string): Promise<CancelOutcome> {
    return this.#transact<CancelOutcome>("cancel a manual run", async () => {
      const manual = await this.#kv.get<StoredManual>(["manual", id, manualId]);
      if (manual.value === null) return { value: { cancelled: false, manual: null } };
      if (manual.value.state !== "queued") {
        const cancelled = manual.value.state === "cancelled";
        return { value: { cancelled, manual: publicManual(manual.value) } };
      }
      const next: StoredManual = { ...manual.value, state: "cancelled" };
      const result = await this.#kv.atomic()
        .check(manual)
        .set(manual.key, next)
        .delete(["queue", id, next.host, next.queuedAt, manualId])
        .commit();
      return result.ok ? { value: { cancelled: true, manual: publicManual(next) } } : null;
    });
  }

  /**
   * Hands a host the manual runs queued for it, oldest first, each one once: a
   * run is claimed in one atomic step with checks, so of several concurrent
   * callers only one gets it.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param max The most runs to claim.
   * @returns The claimed runs.
   */
  async claimManual(id: string, host: string, max = 50): Promise<ClaimedManual[]> {
    const claimed: ClaimedManual[] = [];
    const queued = await Array.fromAsync(
      this.#kv.list<null>({ prefix: ["queue", id, host] }, { limit: max }),
    );
    for (const entry of queued) {
      const manualId = entry.key[4] as string;
      const manual = await this.#kv.get<StoredManual>(["manual", id, manualId]);
      const operation = this.#kv.atomic().check(entry).check(manual).delete(entry.key);
      if (manual.value?.state === "queued") {
        operation.set(manual.key, { ...manual.value, state: "claimed" });
      }
      const result = await operation.commit();
      if (result.ok && manual.value?.state === "queued") {
        const { payload, signature } = manual.value;
        claimed.push({ manualId, payload, signature });
      }
    }
    return claimed;
  }

  /**
   * Puts claimed manual runs back in their queue, as they were: for runs claimed
   * for a host that was gone before it got them.
   *
   * @param id The dashboard id.
   * @param manualIds The runs.
   */
  async releaseManual(id: string, manualIds: readonly string[]): Promise<void> {
    for (const manualId of manualIds) {
      await this.#transact("release a manual run", async () => {
        const manual = await this.#kv.get<StoredManual>(["manual", id, manualId]);
        if (manual.value?.state !== "claimed") return { value: undefined };
        const { host, queuedAt } = manual.value;
        const result = await this.#kv.atomic()
          .check(manual)
          .set(manual.key, { ...manual.value, state: "queued" })
          .set(["queue", id, host, queuedAt, manualId], null)
          .commit();
        return result.ok ? { value: undefined } : null;
      });
    }
  }

  #answerManual(id: string, host: string, answer: ManualReport): Promise<boolean> {
    return this.#transact("record a manual run's answer", async () => {
      const manual = await this.#kv.get<StoredManual>(["manual", id, answer.manualId]);
      if (manual.value === null || manual.value.host !== host) return { value: false };
      // A late duplicate never takes a run back to an earlier state.
      if (manual.value.state === "refused" || manual.value.state === "started") {
        return { value: true };
      }
      const next: StoredManual = { ...manual.value, state: answer.state };
      if (answer.reason !== null) next.reason = answer.reason;
      if (answer.runId !== null) next.runId = answer.runId;
      const result = await this.#kv.atomic()
        .check(manual)
        .set(manual.key, next)
        .delete(["queue", id, host, manual.value.queuedAt, answer.manualId])
        .commit();
      return result.ok ? { value: true } : null;
    });
  }

  /**
   * Every dashboard and host with a manual run waiting.
   *
   * @returns The pairs, each once.
   */
  async queuedHosts(): Promise<{ id: string; host: string }[]> {
    const seen = new Set<string>();
    const hosts: { id: string; host: string }[] = [];
    for await (const entry of this.#kv.list({ prefix: ["queue"] })) {
      const id = entry.key[1] as string;
      const host = entry.key[2] as string;
      if (seen.has(`${id}/${host}`)) continue;
      seen.add(`${id}/${host}`);
      hosts.push({ id, host });
    }
    return hosts;
  }

  /**
   * Applies a dashboard's age limit: deletes its runs that started, and its
   * manual runs queued, more than `retentionDays` ago.
   *
   * @param id The dashboard id.
   * @param settings Its settings.
   */
  async pruneDashboard(id: string, settings: Settings): Promise<void> {
    const cutoff = this.#now() - settings.retentionDays * DAY_MS;
    while (true) {
      const old = await Array.fromAsync(
        this.#kv.list({ prefix: ["runAt", id], end: ["runAt", id, cutoff] }, { limit: 500 }),
      );
      for (const entry of old) await this.#deleteRun(id, entry.key[3] as string);
      if (old.length < 500) break;
    }
    const writes: Write[] = [];
    for await (const entry of this.#kv.list<StoredManual>({ prefix: ["manual", id] })) {
      if (entry.value.queuedAt >= cutoff) continue;
      const { host, tag, queuedAt } = entry.value;
      writes.push({ key: entry.key });
      writes.push({ key: ["queue", id, host, queuedAt, entry.value.id] });
      writes.push({ key: ["manualByJob", id, host, tag, queuedAt, entry.value.id] });
    }
    await this.#write(writes);
  }

  /**
   * Every dashboard.
   *
   * @returns The dashboards, by id.
   */
  async listDashboards(): Promise<Dashboard[]> {
    const dashboards: Dashboard[] = [];
    for await (const entry of this.#kv.list<DashboardRecord>({ prefix: ["dash"] })) {
      const settings = { ...DEFAULT_SETTINGS, ...entry.value.settings };
      dashboards.push({ id: entry.key[1] as string, ...entry.value, settings });
    }
    return dashboards;
  }

  /**
   * Runs by id, as the API shows them; those not found are left out.
   *
   * @param id The dashboard id.
   * @param runIds The runs.
   * @returns The runs found, in the order asked, each once.
   */
  async getRuns(id: string, runIds: readonly string[]): Promise<Run[]> {
    const runs = await this.#getRuns(id, runIds);
    return [...runs.values()].map(publicRun);
  }

  /** Applies every dashboard's age limit ({@linkcode pruneDashboard}). */
  async pruneAll(): Promise<void> {
    for await (const entry of this.#kv.list<DashboardRecord>({ prefix: ["dash"] })) {
      await this.pruneDashboard(entry.key[1] as string, entry.value.settings);
    }
  }

  /** Runs by id. */
  async #getRuns(id: string, runIds: readonly string[]): Promise<Map<string, StoredRun>> {
    const unique = [...new Set(runIds)];
    const runs = await this.#getValues<StoredRun>(unique.map((runId) => ["run", id, runId]));
    return new Map(unique.flatMap((runId, i) => runs[i] === null ? [] : [[runId, runs[i]!]]));
  }

  /** The values of many keys, null where absent: ten keys a read, the most Deno KV takes. */
  async #getValues<T>(keys: readonly Deno.KvKey[]): Promise<(T | null)[]> {
    const groups: Deno.KvKey[][] = [];
    for (let i = 0; i < keys.length; i += 10) groups.push(keys.slice(i, i + 10));
    const entries = await Promise.all(groups.map((group) => this.#kv.getMany<T[]>(group)));
    return entries.flat().map((entry) => entry.value);
  }

  /** Deletes every key under a prefix, 1000 at a time. */
  async #deletePrefix(prefix: Deno.KvKey): Promise<void> {
    while (true) {
      const entries = await Array.fromAsync(this.#kv.list({ prefix }, { limit: MAX_MUTATIONS }));
      if (entries.length === 0) return;
      await this.#write(entries.map((entry) => ({ key: entry.key })));
    }
  }

  /**
   * Commits `writes` if the `checks` pass: `before` and `after` in the same atomic
   * write when everything fits in one; else `before` in batches first, then the
   * checked commit, then `after` in batches if it succeeded.
   *
   * @returns The versionstamp of the checked commit, or null if a check failed.
   */
  async #commitChecked(
    checks: readonly Deno.AtomicCheck[],
    writes: readonly Write[],
    { before = [], after = [] }: { before?: readonly Write[]; after?: readonly Write[] } = {},
  ): Promise<string | null> {
    const all = [...before, ...writes, ...after];
    const inOne = batch(all).length <= 1;
    if (!inOne) await this.#write(before);
    const operation = this.#kv.atomic();
    for (const check of checks) operation.check(check);
    for (const write of inOne ? all : writes) mutate(operation, write);
    const result = await operation.commit();
    if (!result.ok) return null;
    if (!inOne) await this.#write(after);
    return result.versionstamp;
  }

  /** Applies writes in order, in as few atomic batches as Deno KV's limits allow. */
  async #write(writes: readonly Write[]): Promise<void> {
    for (const group of batch(writes)) {
      const operation = this.#kv.atomic();
      for (const write of group) mutate(operation, write);
      if (!(await operation.commit()).ok) {
        throw new Error("Cannot write to the store: an unchecked write failed");
      }
    }
  }

  /**
   * Runs a read-check-write step until its checks pass: `step` returns null when
   * its commit failed because another writer came first.
   */
  async #transact<T>(what: string, step: () => Promise<{ value: T } | null>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const done = await step();
      if (done !== null) return done.value;
    }
    throw new Error(`Cannot ${what}: other writers kept changing it`);
  }
}

/** Splits writes, in order, into groups that each fit one atomic write. */
function batch(writes: readonly Write[]): Write[][] {
  const groups: Write[][] = [];
  let group: Write[] = [];
  let bytes = 0;
  let keyBytes = 0;
  for (const write of writes) {
    const key = keySize(write.key);
    const size = key + (write.size ?? 0);
    if (
      group.length > 0 &&
      (group.length === MAX_MUTATIONS - 10 || bytes + size > MAX_BATCH_BYTES ||
        keyBytes + key > MAX_BATCH_KEY_BYTES)
    ) {
      groups.push(group);
      group = [];
      bytes = keyBytes = 0;
    }
    group.push(write);
    bytes += size;
    keyBytes += key;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function mutate(operation: Deno.AtomicOperation, write: Write): void {
  if (write.size === undefined) operation.delete(write.key);
  else operation.set(write.key, write.value);
}

/**
 * How a listing of many entries is read: 500 at a time rather than Deno KV's 100,
 * a third less time for a dashboard's every job (denokv allows 1,000 per read).
 */
const BULK_READ: Deno.KvListOptions = { batchSize: 500 };

/** The tag that stands for a host's whole job list in `["jobViewRev", id, host, tag]`. */
const WHOLE_LIST = "";

/**
 * The writes that mark a change of the jobs view: of the dashboard's, the host's,
 * and the jobs' (`WHOLE_LIST` for the host's list). The values say nothing; what
 * counts is the versionstamp each gets.
 */
function viewWrites(id: string, host: string, tags: Iterable<string>): Write[] {
  const keys: Deno.KvKey[] = [["viewRev", id], ["hostViewRev", id, host]];
  for (const tag of tags) keys.push(["jobViewRev", id, host, tag]);
  return keys.map((key) => ({ key, value: null, size: 8 }));
}

/** A write of a small record: a run, a job's run count. */
function recordWrite(key: Deno.KvKey, value: unknown): Write {
  return { key, value, size: valueSize(value) };
}

/**
 * The writes that store one chunk as parts of at most {@linkcode PART_BYTES}; the
 * first part holds the stream and the count of parts, so a reader shows the chunk
 * only once all of them are there.
 */
function chunkWrites(
  prefix: Deno.KvKey,
  seq: number,
  stream: OutputStream,
  bytes: Uint8Array,
): Write[] {
  // Copies, not views: KV would store a view's whole underlying buffer.
  const parts = splitBytes(bytes, PART_BYTES).map((part) => part.slice());
  return parts.map((part, index) => ({
    key: [...prefix, seq, index],
    value: index === 0 ? { stream, parts: parts.length, bytes: part } : { bytes: part },
    size: part.length + 64,
  }));
}

/** A part of a stored job's JSON; the first also says how many parts there are. */
interface StoredJobPart {
  stamp: string;
  bytes: Uint8Array;
  parts?: number;
}

/** The writes that store a job's JSON as parts of at most {@linkcode PART_BYTES}. */
function jobWrites(prefix: Deno.KvKey, job: Job, stamp: string): Write[] {
  const parts = splitBytes(encoder.encode(JSON.stringify(job)), PART_BYTES).map((part) =>
    part.slice()
  );
  return parts.map((bytes, index) => ({
    key: [...prefix, index],
    value: index === 0 ? { stamp, parts: parts.length, bytes } : { stamp, bytes },
    size: bytes.length + 64,
  }));
}

/** Puts jobs back together from their parts, read in key order. */
class JobReader {
  #key = "";
  #pieces: Uint8Array[] = [];
  #first: StoredJobPart | null = null;

  /** Takes the next entry; returns a job when this entry completes one. */
  take(key: Deno.KvKey, value: StoredJobPart | Job): Job | null {
    if (key.length === 4) return value as Job; // A job stored whole, before parts.
    const part = value as StoredJobPart;
    const job = JSON.stringify(key.slice(0, 4));
    if (key[4] === 0) {
      this.#key = job;
      this.#first = part;
      this.#pieces = [part.bytes];
    } else if (job === this.#key && part.stamp === this.#first?.stamp) {
      this.#pieces.push(part.bytes);
    } else {
      this.#first = null;
      return null;
    }
    if (this.#first === null || this.#pieces.length !== this.#first.parts) return null;
    this.#first = null;
    const bytes = new Uint8Array(this.#pieces.reduce((sum, piece) => sum + piece.length, 0));
    let at = 0;
    for (const piece of this.#pieces) {
      bytes.set(piece, at);
      at += piece.length;
    }
    return JSON.parse(new TextDecoder().decode(bytes)) as Job;
  }
}

/** The index entries of a run, for listing by start, host, tag and job. */
function runIndexKeys(
  id: string,
  host: string,
  tag: string,
  startedAt: number,
  runId: string,
): Deno.KvKey[] {
  return [
    ["runAt", id, startedAt, runId],
    ["runByHost", id, host, startedAt, runId],
    ["runByTag", id, tag, startedAt, runId],
    ["runByJob", id, host, tag, startedAt, runId],
  ];
}
