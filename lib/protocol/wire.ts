/**
 * What crosses the wire between koid, `koitab -d`, the dashboard server and the
 * page: the API's shapes, the closed sets of values (run statuses, triggers,
 * output streams), the forms of ids, and the limits. Declared once here; the
 * checks that turn untrusted JSON into these shapes are `./schema.ts` (requests,
 * as the server reads them) and `./answers.ts` (answers, as the client reads
 * them). Types and constants only.
 *
 * @module
 */

import type { ArgSpec, ArgValue } from "./arg_types.js";
import type { OutputChunk, OutputStream } from "../output_cap.ts";
import { MAX_JOB_LIST_JSON_BYTES, MAX_JOBS } from "../limits.ts";
import { sealedLength } from "./envelope.js";

export type { ArgSpec, ArgValue, OutputChunk, OutputStream };

/** A dashboard id: 16 to 64 characters of `A-Za-z0-9_-` (Koi makes 22 random ones). */
export const DASHBOARD_ID = /^[A-Za-z0-9_-]{16,64}$/;
/** A host name: 1 to 253 characters of `A-Za-z0-9._-`. */
export const HOST_NAME = /^[A-Za-z0-9._-]{1,253}$/;
/** A job tag, run id or manual-run id: 1 to 64 characters of `A-Za-z0-9_-`. */
export const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The streams of a run's output; `koi` marks Koi's own notes. */
export const OUTPUT_STREAMS = [
  "stdout",
  "stderr",
  "koi",
] as const satisfies readonly OutputStream[];

/** How a run ended, or that it has not. */
export const RUN_STATUSES = [
  "running",
  "succeeded",
  "failed",
  "killed",
  "interrupted",
  "not-started",
] as const;

/** A run's status. */
export type RunStatus = typeof RUN_STATUSES[number];

/**
 * What started a run koid reports: its schedule, koid's start in a new boot
 * (`@reboot`), or a manual run from the dashboard.
 */
export const RUN_TRIGGERS = ["schedule", "reboot", "manual"] as const;

/** What started a run koid reports. */
export type RunTrigger = typeof RUN_TRIGGERS[number];

/** The most reports in one batch. */
export const MAX_REPORTS = 10_000;

/** The largest body of most calls, in bytes. */
export const BODY_LIMIT = 1024 * 1024;

/** The largest body of a batch of reports, in bytes. (A job list may take {@linkcode MAX_JOB_LIST_BYTES}.) */
export const LARGE_BODY_LIMIT = 8 * 1024 * 1024;

/** The longest long-poll for manual runs, in seconds. */
export const MAX_WAIT_SECONDS = 25;

/**
 * The largest manual-run payload the server queues, in UTF-8 bytes: room for
 * 16 KiB of argument values once sealed (4/3 of them, and each envelope's
 * overhead), and it must fit one Deno KV value (64 KiB) with room to spare. Far
 * above any real request.
 */
export const MAX_QUEUED_PAYLOAD_BYTES: number = sealedLength(16 * 1024) + 1024;

/**
 * The most bytes of a job in a job list beyond what the koitab's parser counts
 * (its tag, zone, next runs and line, and the commas between jobs).
 */
export const MAX_JOB_OVERHEAD_BYTES = 512;

/**
 * The fewest bytes an argument with a default takes in a koitab's JSON
 * (`{"name":"a","type":"int","default":0}`, with its comma): so a koitab holds at
 * most `MAX_JOB_LIST_JSON_BYTES / 38` sealed defaults.
 */
const MIN_DEFAULT_ARG_BYTES = 38;

/**
 * The largest job list, in bytes of JSON: the most a koitab's jobs may take
 * (`MAX_JOB_LIST_JSON_BYTES`) once sealed (each command and default an envelope:
 * 4/3 of its bytes plus {@linkcode sealedLength}`(0)`), and the overhead of as many
 * jobs as it may hold, so that every table `koitab` installs, the server takes.
 */
export const MAX_JOB_LIST_BYTES: number = sealedLength(MAX_JOB_LIST_JSON_BYTES) +
  (MAX_JOBS + Math.floor(MAX_JOB_LIST_JSON_BYTES / MIN_DEFAULT_ARG_BYTES)) * sealedLength(0) +
  MAX_JOBS * MAX_JOB_OVERHEAD_BYTES;

/** A job as koid lists it: `PUT /api/d/{id}/hosts/{host}/jobs`. */
export interface Job {
  /** Its identity on the dashboard (see `KoitabJob.tag`): kept across edits of its schedule. */
  readonly tag: string;
  /** Its name in the koitab, or null. */
  readonly name: string | null;
  /** Its `[Section]`, or null. */
  readonly section: string | null;
  /** Five fields or an `@` word, as the koitab has it. */
  readonly schedule: string;
  /** The job's zone (koid sends the zone it runs the job in); null for the server's. */
  readonly timezone: string | null;
  /** The arguments its command declares; each `default` is sealed (an envelope). */
  readonly args: readonly ArgSpec[];
  /** The next run times, ISO 8601; empty for `@manual` and `@reboot` jobs. */
  readonly next: readonly string[];
  /** The command, its `{{…}}` placeholders unfilled: sealed (an envelope) by koid. */
  readonly command: string;
  /** Its line in the koitab. */
  readonly line: number;
}

/** A run's argument values, by name. */
export type ArgValues = Record<string, ArgValue>;

/** What koid reports when a run starts. */
export interface RunStartInfo {
  /** The run's id, unique and time-ordered. */
  readonly id: string;
  /** Its job's tag. */
  readonly tag: string;
  /** Its job's name, or null. */
  readonly name: string | null;
  /** Its job's section, or null. */
  readonly section: string | null;
  /** What started it. */
  readonly trigger: RunTrigger;
  /**
   * The argument values it ran with (none for scheduled runs: defaults apply);
   * each sealed by koid (an envelope).
   */
  readonly args: ArgValues;
  /** The minute it was due, ms, for scheduled runs; else null. */
  readonly scheduledFor: number | null;
  /** When it started, ms. */
  readonly startedAt: number;
  /** The manual run this run answers, or null. */
  readonly manualId: string | null;
}

/** What koid reports when a run ends. */
export interface RunEndInfo {
  /** When it ended, ms. */
  readonly finishedAt: number;
  /** Its exit code; null when killed by a signal or never started. */
  readonly exitCode: number | null;
  /** The signal that ended it (`SIGTERM`), or null. */
  readonly signal: string | null;
  /** How it ended. */
  readonly status: Exclude<RunStatus, "running">;
  /** Why it never started, or was interrupted, sealed (an envelope); else null. */
  readonly error: string | null;
  /** Every byte the job wrote, kept or not. */
  readonly outputBytes: number;
  /** The run's final output (koid's capped head and tail); it replaces what was streamed. */
  readonly chunks: readonly OutputChunk[];
}

/** The answer koid gives to a manual run. */
export type ManualAnswer = "refused" | "started";

/** A run's start: once per run id. */
export interface StartReport {
  /** The kind of report. */
  readonly type: "start";
  /** The run, as it started. */
  readonly run: RunStartInfo;
}

/** A piece of a run's output as it arrives: once per `(runId, seq)`. */
export interface OutputReport {
  /** The kind of report. */
  readonly type: "output";
  /** The run it is output of. */
  readonly runId: string;
  /** Its place in the run's output: 0, 1, 2… without gaps. */
  readonly seq: number;
  /** The stream it came from; `koi` for Koi's own note. */
  readonly stream: OutputStream;
  /** The text, sealed (an envelope). */
  readonly text: string;
}

/** A run's end, with its final output. */
export interface EndReport {
  /** The kind of report. */
  readonly type: "end";
  /** The run that ended. */
  readonly runId: string;
  /** How it ended, with its final output. */
  readonly end: RunEndInfo;
}

/** koid's answer to a manual run. */
export interface ManualReport {
  /** The kind of report. */
  readonly type: "manual";
  /** The manual run answered. */
  readonly manualId: string;
  /** koid's answer. */
  readonly state: ManualAnswer;
  /** Why koid refused it, sealed (an envelope); null when started. */
  readonly reason: string | null;
  /** The run it started; null when refused. */
  readonly runId: string | null;
}

/**
 * One report in a batch from koid: `POST /api/d/{id}/hosts/{host}/reports`. Each
 * is idempotent, so a retried batch never duplicates anything.
 */
export type Report = StartReport | OutputReport | EndReport | ManualReport;

/** A run as the API shows it. */
export interface Run extends Omit<RunStartInfo, "id"> {
  /** The run's id. */
  readonly id: string;
  /** The host that ran it. */
  readonly host: string;
  /** When it ended, ms; null while it runs. */
  readonly finishedAt: number | null;
  /** Its exit code, or null. */
  readonly exitCode: number | null;
  /** The signal that ended it, or null. */
  readonly signal: string | null;
  /** How it ended, or `running`. */
  readonly status: RunStatus;
  /** Why it never started, or was interrupted; else null. */
  readonly error: string | null;
  /** Every byte it wrote, kept or not. */
  readonly outputBytes: number;
}

/** A chunk of a run's output, as the API shows it. */
export interface OutputRecord {
  /** Its place in the output: streamed chunks keep koid's numbers; final ones are numbered from 0. */
  readonly seq: number;
  /** The stream it came from. */
  readonly stream: OutputStream;
  /** The text. */
  readonly text: string;
}

/** A dashboard's settings: retention, and when alerts call a run missed or a host silent. */
export interface Settings {
  /** Runs kept per job. */
  retentionRuns: number;
  /** Days a run is kept. */
  retentionDays: number;
  /** Bytes of output kept per run. */
  outputLimit: number;
  /** Seconds after its due time a scheduled run may take to start before it is missed. */
  missedGraceSeconds: number;
  /** Seconds without a word from a host before it is silent. */
  hostSilentSeconds: number;
}

/** The settings of a new dashboard. */
export const DEFAULT_SETTINGS: Readonly<Settings> = {
  retentionRuns: 100,
  retentionDays: 30,
  outputLimit: 1024 * 1024,
  missedGraceSeconds: 60,
  hostSilentSeconds: 300,
};

/** The allowed range of each setting. */
export const SETTING_RANGES: Readonly<Record<keyof Settings, readonly [number, number]>> = {
  retentionRuns: [1, 10_000],
  retentionDays: [1, 3650],
  outputLimit: [1024, 16 * 1024 * 1024],
  missedGraceSeconds: [60, 86_400],
  hostSilentSeconds: [60, 604_800],
};

/** A job list the server refused. */
export interface JobListRefused {
  /** When, ms since the epoch. */
  readonly at: number;
  /** Why: the error the server answered with. */
  readonly reason: string;
}

/** A host of a dashboard. */
export interface HostInfo {
  /** Its name. */
  host: string;
  /** The last call from this host, ms; null if it only ever had jobs listed. */
  lastSeenAt: number | null;
  /** How many jobs its last list holds. */
  jobCount: number;
  /**
   * When and why the server refused the host's last job list, so the list it
   * shows is out of date; null when it took the last one.
   */
  jobListRefused: JobListRefused | null;
}

/** A host as `GET /api/d/{id}` lists it: connected while it polls for manual runs. */
export interface HostState extends HostInfo {
  /** Whether it was heard from within the last 35 seconds (its long-poll lasts 25). */
  readonly connected: boolean;
  /** Whether it has been quiet for the dashboard's `hostSilentSeconds`: alerts call it silent. */
  readonly silent: boolean;
}

/** `GET /api/d/{id}`: the dashboard and the hosts it knows. */
export interface DashboardInfo {
  /** The dashboard id. */
  readonly id: string;
  /** When it was created, ms. */
  readonly createdAt: number;
  /** Its retention settings. */
  readonly settings: Settings;
  /** The hosts it knows, by name. */
  readonly hosts: readonly HostState[];
}

/** A job's state on the page. */
export type JobState = "ok" | "failed" | "running" | "late" | "never";

/** The fields the jobs call adds to each job. */
export interface JobView {
  /** The schedule in words: "every 5 minutes". */
  readonly description: string;
  /** The run the job owes: the first due time after its last run, ISO 8601, or null. */
  readonly due: string | null;
  /**
   * Its next run by its schedule from now, ISO 8601: worked out by the server,
   * since the times koid sent run out when its host goes quiet. Null for `@manual`
   * and `@reboot` jobs, and for schedules with no date to come (`0 0 31 2 *`).
   */
  readonly nextRun: string | null;
  /** Whether its last run went well, or it is running, late, or never ran. */
  readonly state: JobState;
  /**
   * When this view next changes by time alone, ISO 8601: its next run passes, or
   * it becomes late (its due time plus the dashboard's `missedGraceSeconds`). Null
   * if never (a `@manual` job). Until then, only a new job list, a run, or a
   * change of the grace changes it.
   */
  readonly refreshAt: string | null;
}

/** A job with its host and its newest run. */
export interface JobWithLastRun extends Job {
  /** The host whose koitab has it. */
  readonly host: string;
  /** Its newest run, or null. */
  readonly lastRun: Run | null;
}

/**
 * A job's newest run as `GET /api/d/{id}/jobs` lists it: its {@linkcode Run}
 * without the host and tag, which are always its job's (the row's `host` and
 * `tag`). Its `name` and `section` stay: the run's own, recorded as it started.
 */
export type ListedRun = Omit<Run, "host" | "tag">;

/**
 * A job as `GET /api/d/{id}/jobs` lists it: without the `next` times koid sent
 * (its view's `nextRun` and `due` say what the page needs of them), its newest
 * run a {@linkcode ListedRun}.
 */
export interface JobRow extends Omit<JobWithLastRun, "next" | "lastRun">, JobView {
  /** Its newest run, without the host and tag (the row's), or null. */
  readonly lastRun: ListedRun | null;
}

/**
 * `GET /api/d/{id}/jobs?since=CURSOR`: what changed in the jobs view since the
 * answer that gave the cursor.
 */
export interface JobChanges {
  /** The cursor for the next call: `STAMP.CONNECTIONS.GRACE`, opaque to clients. */
  readonly cursor: string;
  /** Whether `jobs` is every job (a first call, an unknown cursor, a new grace). */
  readonly full: boolean;
  /** The jobs that changed, and every job of the hosts in `replaced`. */
  readonly jobs: readonly JobRow[];
  /** Hosts whose jobs come whole in `jobs`: a job of theirs not in it is gone. */
  readonly replaced: readonly string[];
  /** Every host, when any changed (also whether connected or silent); else null. */
  readonly hosts: readonly HostState[] | null;
}

/**
 * `GET /api/d/{id}/jobs?since=0&first=N` past 2,000 jobs (up to that, the
 * `since=0` answer, a {@linkcode JobChanges}): the jobs view's first screen of
 * rows, which the page draws at once before it asks for every job.
 */
export interface FirstJobs {
  /** The first N jobs (or all, when fewer) in the jobs view's order: by section, host, line. */
  readonly jobs: readonly JobRow[];
  /** How many jobs there are in all. */
  readonly total: number;
  /** Every host, with whether it is connected or silent. */
  readonly hosts: readonly HostState[];
}

/**
 * Where a manual run stands: `queued` for its host, `claimed` by it, then koid's
 * answer; or `cancelled` from the page while still queued.
 */
export type ManualState = "queued" | "claimed" | ManualAnswer | "cancelled";

/** The states of a manual run. */
export const MANUAL_STATES = [
  "queued",
  "claimed",
  "refused",
  "started",
  "cancelled",
] as const satisfies readonly ManualState[];

/** A manual run as the API shows it. */
export interface ManualRun {
  /** The manual run's id. */
  readonly id: string;
  /** The host its payload names. */
  readonly host: string;
  /** The job tag its payload names. */
  readonly tag: string;
  /** When it was queued, ms. */
  readonly queuedAt: number;
  /** Where it stands. */
  readonly state: ManualState;
  /** The values its payload asks for, as sent: sealed (koid opens and checks them). */
  readonly args: ArgValues;
  /** The payload's timestamp, ms: the `seq` its sealed values are bound to. */
  ts?: number;
  /** koid's reason, once it refused the run: sealed. */
  reason?: string;
  /** The run koid started, once it started it. */
  runId?: string;
}

/** A manual-run request: the signed payload text, its signature, and what it names. */
export interface ManualRequest {
  /** The payload text, exactly as signed. */
  readonly payload: string;
  /** Its signature, unpadded base64url (the server cannot check it). */
  readonly signature: string;
  /** The host the payload names. */
  readonly host: string;
  /** The job tag the payload names. */
  readonly tag: string;
}

/**
 * A manual run handed to its host by the long-poll
 * (`GET /api/d/{id}/hosts/{host}/manual`): the payload and signature as queued.
 */
export interface ClaimedManual {
  /** The manual run's id. */
  readonly manualId: string;
  /** The payload text, as queued. */
  readonly payload: string;
  /** Its signature, as queued. */
  readonly signature: string;
}
