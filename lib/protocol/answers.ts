/**
 * The checks that turn the dashboard server's untrusted answers into the API's
 * shapes (`./wire.ts`), as koid and `koitab -d` read them: the fields they use,
 * each checked with the same field checks the server makes of requests
 * (`./fields.ts`, `./schema.ts`), so client and server agree on what is valid.
 * Fields a client does not use are left unread, so a newer server may add more.
 * A bad field throws a {@linkcode FieldError} naming it. Pure logic, no I/O.
 *
 * @module
 */

import {
  asArray,
  asHostName,
  asInteger,
  asNullableInteger,
  asNullableString,
  asObject,
  asOneOf,
  asString,
  asTime,
  asToken,
  FieldError,
  MAX_TIME,
} from "./fields.ts";
import { parseArgSpec } from "./schema.ts";
import {
  type DashboardInfo,
  type HostInfo,
  type JobListRefused,
  type JobRow,
  MANUAL_STATES,
  type ManualRun,
  MAX_REPORTS,
  OUTPUT_STREAMS,
  type OutputRecord,
  type Run,
  RUN_STATUSES,
} from "./wire.ts";
import { MAX_ARGS, MAX_NAME_CHARS } from "../limits.ts";
import { CHANNEL_KINDS, type ChannelKind, type Mute } from "./alerts.ts";

/** The dashboard and its hosts, as `GET /api/d/{id}` gives them: the fields Koi uses. */
export interface DashboardSummary extends Pick<DashboardInfo, "id" | "createdAt"> {
  readonly hosts: readonly HostInfo[];
}

/** A job from `GET /api/d/{id}/jobs`: the fields `koitab -d run` uses. */
export type HostJob = Pick<JobRow, "host" | "tag" | "name" | "section" | "schedule" | "args">;

/** A run's state, as `koitab -d run` follows it. */
export type RunState = Pick<Run, "id" | "status" | "exitCode" | "signal" | "error">;

/** A run and its output after a sequence number: `GET /api/d/{id}/runs/{runId}`. */
export interface RunAnswer {
  readonly run: RunState;
  readonly output: readonly OutputRecord[];
}

/** A manual run's state, as `koitab -d run` waits on it. */
export interface ManualStatus extends Pick<ManualRun, "id" | "state"> {
  /** koid's reason when it refused the run, else null. */
  readonly reason: string | null;
  /** The run it started, when started; else null. */
  readonly runId: string | null;
}

/**
 * A manual run handed to koid by the long-poll. The payload and signature are
 * left unchecked: koid's `checkManualRun()` judges them, so that a malformed one
 * is refused with a reason, not dropped.
 */
export interface PolledManual {
  readonly manualId: string;
  readonly payload: unknown;
  readonly signature: unknown;
}

/**
 * Reads the answer to `GET /api/d/{id}`.
 *
 * @param body The parsed JSON answer.
 * @returns The dashboard's id, creation time and hosts.
 * @throws {FieldError} If a field it uses is missing or wrong.
 *
 * @example A host's name must be a host name
 * ```ts
 * import { FieldError } from "./fields.ts";
 * import { parseDashboardAnswer } from "./answers.ts";
 *
 * const host = { host: "web 1", lastSeenAt: null, jobCount: 0, jobListRefused: null };
 * try {
 *   parseDashboardAnswer({ id: "Zm9vYmFyYmF6cXV4MTIzNA", createdAt: 0, hosts: [host] });
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "hosts[0].host") throw error;
 * }
 * ```
 */
export function parseDashboardAnswer(body: unknown): DashboardSummary {
  const raw = asObject(body, "the answer");
  return {
    id: asString(raw.id, "id", 64, 1),
    createdAt: asTime(raw.createdAt, "createdAt"),
    hosts: asArray(raw.hosts, "hosts", Number.MAX_SAFE_INTEGER).map((item, i) => {
      const host = asObject(item, `hosts[${i}]`);
      const field = (name: string) => `hosts[${i}].${name}`;
      return {
        host: asHostName(host.host, field("host")),
        lastSeenAt: asNullableInteger(host.lastSeenAt, field("lastSeenAt"), 0, MAX_TIME),
        jobCount: asInteger(host.jobCount, field("jobCount"), 0, Number.MAX_SAFE_INTEGER),
        // Absent from servers older than the refusal record.
        jobListRefused: host.jobListRefused === undefined || host.jobListRefused === null
          ? null
          : refusal(host.jobListRefused, field("jobListRefused")),
      };
    }),
  };
}

function refusal(value: unknown, field: string): JobListRefused {
  const raw = asObject(value, field);
  return {
    at: asTime(raw.at, `${field}.at`),
    reason: asString(raw.reason, `${field}.reason`, Number.MAX_SAFE_INTEGER),
  };
}

/**
 * Reads the answer to `GET /api/d/{id}/jobs`.
 *
 * @param body The parsed JSON answer.
 * @returns Each job's host, tag, name, section, schedule and arguments.
 * @throws {FieldError} If a field it uses is missing or wrong.
 */
export function parseJobsAnswer(body: unknown): HostJob[] {
  const raw = asObject(body, "the answer");
  return asArray(raw.jobs, "jobs", Number.MAX_SAFE_INTEGER).map((item, i) => {
    const job = asObject(item, `jobs[${i}]`);
    const field = (name: string) => `jobs[${i}].${name}`;
    return {
      host: asHostName(job.host, field("host")),
      tag: asToken(job.tag, field("tag")),
      name: asNullableString(job.name, field("name"), MAX_NAME_CHARS),
      section: asNullableString(job.section, field("section"), MAX_NAME_CHARS),
      schedule: asString(job.schedule, field("schedule"), Number.MAX_SAFE_INTEGER, 1),
      args: asArray(job.args, field("args"), MAX_ARGS).map((arg, j) =>
        parseArgSpec(arg, `${field("args")}[${j}]`)
      ),
    };
  });
}

/**
 * Reads the answer to `POST /api/d/{id}/hosts/{host}/reports`.
 *
 * @param body The parsed JSON answer.
 * @returns How many reports the server took, repeated ones included (each is stored once).
 * @throws {FieldError} If `accepted` is not a count of a batch's reports.
 */
export function parseAcceptedAnswer(body: unknown): number {
  return asInteger(asObject(body, "the answer").accepted, "accepted", 0, MAX_REPORTS);
}

/**
 * Reads the answer to `GET /api/d/{id}/runs/{runId}`.
 *
 * @param body The parsed JSON answer.
 * @returns The run's state and its output chunks.
 * @throws {FieldError} If a field it uses is missing or wrong.
 *
 * @example A status outside the closed set is refused
 * ```ts
 * import { FieldError } from "./fields.ts";
 * import { parseRunAnswer } from "./answers.ts";
 *
 * const run = { id: "r1", status: "exploded", exitCode: null, signal: null, error: null };
 * try {
 *   parseRunAnswer({ run, output: [] });
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "run.status") throw error;
 * }
 * ```
 */
export function parseRunAnswer(body: unknown): RunAnswer {
  const raw = asObject(body, "the answer");
  const run = asObject(raw.run, "run");
  return {
    run: {
      id: asToken(run.id, "run.id"),
      status: asOneOf(run.status, "run.status", RUN_STATUSES),
      exitCode: asNullableInteger(run.exitCode, "run.exitCode", -(2 ** 31), 2 ** 32),
      signal: asNullableString(run.signal, "run.signal", 32),
      error: asNullableString(run.error, "run.error", Number.MAX_SAFE_INTEGER),
    },
    output: asArray(raw.output, "output", Number.MAX_SAFE_INTEGER).map((item, i) => {
      const chunk = asObject(item, `output[${i}]`);
      return {
        seq: asInteger(chunk.seq, `output[${i}].seq`, 0, Number.MAX_SAFE_INTEGER),
        stream: asOneOf(chunk.stream, `output[${i}].stream`, OUTPUT_STREAMS),
        text: asString(chunk.text, `output[${i}].text`, Number.MAX_SAFE_INTEGER),
      };
    }),
  };
}

/**
 * Reads the answer to `POST /api/d/{id}/manual`.
 *
 * @param body The parsed JSON answer.
 * @returns The id of the queued manual run.
 * @throws {FieldError} If `manualId` is not a token.
 */
export function parseQueuedAnswer(body: unknown): string {
  return asToken(asObject(body, "the answer").manualId, "manualId");
}

/**
 * Reads the answer to `GET /api/d/{id}/manual/{manualId}`.
 *
 * @param body The parsed JSON answer.
 * @returns The manual run's state, koid's reason and the run it started.
 * @throws {FieldError} If a field is wrong, or a started run names no run.
 */
export function parseManualAnswer(body: unknown): ManualStatus {
  const manual = asObject(asObject(body, "the answer").manual, "manual");
  const state = asOneOf(manual.state, "manual.state", MANUAL_STATES);
  const runId = manual.runId === undefined || manual.runId === null
    ? null
    : asToken(manual.runId, "manual.runId");
  if (state === "started" && runId === null) {
    throw new FieldError("manual.runId", "must name the run a started manual run started");
  }
  return {
    id: asToken(manual.id, "manual.id"),
    state,
    reason: asNullableString(manual.reason, "manual.reason", Number.MAX_SAFE_INTEGER),
    runId,
  };
}

/**
 * Reads the answer to koid's long-poll, `GET /api/d/{id}/hosts/{host}/manual`.
 *
 * @param body The parsed JSON answer.
 * @returns The runs handed out, each with its id checked and its payload and
 * signature as received.
 * @throws {FieldError} If `runs` is not a list of objects with a manual id.
 */
export function parsePollAnswer(body: unknown): PolledManual[] {
  const raw = asObject(body, "the answer");
  return asArray(raw.runs, "runs", Number.MAX_SAFE_INTEGER).map((item, i) => {
    const run = asObject(item, `runs[${i}]`);
    return {
      manualId: asToken(run.manualId, `runs[${i}].manualId`),
      payload: run.payload,
      signature: run.signature,
    };
  });
}

/** What `koitab -d` shows of an alert channel: its kind and where it sends, as the API says it. */
export interface ChannelSummary {
  readonly kind: ChannelKind;
  readonly target: string;
}

/**
 * Reads the answer to `GET /api/d/{id}/channels`.
 *
 * @param body The parsed JSON answer.
 * @returns Each channel's kind and target (a URL's origin and the start of its
 * path, or an email channel's recipients and server).
 * @throws {FieldError} If a channel's kind or target is missing or wrong.
 */
export function parseChannelsAnswer(body: unknown): ChannelSummary[] {
  const raw = asObject(body, "the answer");
  return asArray(raw.channels, "channels", Number.MAX_SAFE_INTEGER).map((item, i) => {
    const channel = asObject(item, `channels[${i}]`);
    return {
      kind: asOneOf(channel.kind, `channels[${i}].kind`, CHANNEL_KINDS),
      target: asString(channel.target, `channels[${i}].target`, 2048),
    };
  });
}

/**
 * Reads the answer to `GET /api/d/{id}/mutes`.
 *
 * @param body The parsed JSON answer.
 * @returns Each mute: a host (`tag` null) or one of its jobs, and since when.
 * @throws {FieldError} If a mute's host, tag or time is missing or wrong.
 */
export function parseMutesAnswer(body: unknown): Mute[] {
  const raw = asObject(body, "the answer");
  return asArray(raw.mutes, "mutes", Number.MAX_SAFE_INTEGER).map((item, i) => {
    const mute = asObject(item, `mutes[${i}]`);
    return {
      host: asHostName(mute.host, `mutes[${i}].host`),
      tag: mute.tag === null ? null : asToken(mute.tag, `mutes[${i}].tag`),
      at: asTime(mute.at, `mutes[${i}].at`),
    };
  });
}
