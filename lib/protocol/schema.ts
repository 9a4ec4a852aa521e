/**
 * The dashboard API's shapes, and the checks that turn untrusted JSON into them.
 * Every field is checked for type, length and format before the server uses it;
 * a bad one throws a {@linkcode FieldError} naming it. Unknown fields of jobs and
 * reports are dropped (a newer koid may send more); pure logic, no I/O.
 *
 * @module
 */

import { ARG_TYPES, type ArgSpec, type ArgValue, fitsArgType } from "./arg_types.js";
import { fromBase64url } from "./keys.ts";
import type { OutputChunk, OutputStream } from "../output_cap.ts";
import type { RunStatus, Trigger } from "../runs/history.ts";
import {
  MAX_ARGS,
  MAX_COMMAND_BYTES,
  MAX_JOB_LIST_JSON_BYTES,
  MAX_JOBS,
  MAX_NAME_CHARS,
} from "../limits.ts";

export { MAX_JOBS };

/** A dashboard id: 16 to 64 characters of `A-Za-z0-9_-`. */
export const DASHBOARD_ID = /^[A-Za-z0-9_-]{16,64}$/;
/** A host name: 1 to 253 characters of `A-Za-z0-9._-`. */
export const HOST_NAME = /^[A-Za-z0-9._-]{1,253}$/;
/** A job tag, run id or manual-run id: 1 to 64 characters of `A-Za-z0-9_-`. */
export const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The most reports in one batch. */
export const MAX_REPORTS = 10_000;
/**
 * The largest manual-run payload the server queues, in UTF-8 bytes: it must fit
 * one Deno KV value (64 KiB) with room to spare. Far above any real request.
 */
export const MAX_QUEUED_PAYLOAD_BYTES = 16 * 1024;
/** The largest run start, as JSON characters, so it fits one KV value. */
const MAX_RECORD_CHARS = 20_000;
/**
 * The most bytes of a job in a job list beyond what the koitab's parser counts
 * (its tag, zone, next runs and line, and the commas between jobs).
 */
export const MAX_JOB_OVERHEAD_BYTES = 512;
/**
 * The largest job list, in bytes of JSON: the most a koitab's jobs may take
 * (`MAX_JOB_LIST_JSON_BYTES`) and the overhead of as many jobs as it may hold,
 * so that every table `koitab` installs, the server takes.
 */
export const MAX_JOB_LIST_BYTES = MAX_JOB_LIST_JSON_BYTES + MAX_JOBS * MAX_JOB_OVERHEAD_BYTES;
/** The latest instant accepted, in ms: the year 9999. */
const MAX_TIME = 253_402_300_799_999;

/** A job as koid lists it. */
export interface Job {
  tag: string;
  name: string | null;
  section: string | null;
  schedule: string;
  timezone: string | null;
  args: ArgSpec[];
  /** The next run times, ISO 8601. */
  next: string[];
  command: string;
  line: number;
}

/** A run's argument values. */
export type ArgValues = Record<string, ArgValue>;

/** What koid reports when a run starts. */
export interface RunStartInfo {
  id: string;
  tag: string;
  name: string | null;
  section: string | null;
  trigger: Trigger;
  args: ArgValues;
  scheduledFor: number | null;
  startedAt: number;
  manualId: string | null;
}

/** What koid reports when a run ends. */
export interface RunEndInfo {
  finishedAt: number;
  exitCode: number | null;
  signal: string | null;
  status: Exclude<RunStatus, "running">;
  error: string | null;
  outputBytes: number;
  /** The run's final output (koid's capped head and tail); it replaces what was streamed. */
  chunks: OutputChunk[];
}

/** The answer koid gives to a manual run. */
export type ManualAnswer = "refused" | "started";

/** One report in a batch from koid. */
export type Report =
  | { type: "start"; run: RunStartInfo }
  | { type: "output"; runId: string; seq: number; stream: OutputStream; text: string }
  | { type: "end"; runId: string; end: RunEndInfo }
  | {
    type: "manual";
    manualId: string;
    state: ManualAnswer;
    reason: string | null;
    runId: string | null;
  };

/** A run as the API shows it. */
export interface Run extends Omit<RunStartInfo, "id"> {
  id: string;
  host: string;
  finishedAt: number | null;
  exitCode: number | null;
  signal: string | null;
  status: RunStatus;
  error: string | null;
  outputBytes: number;
}

/** A dashboard's retention settings. */
export interface Settings {
  /** Runs kept per job. */
  retentionRuns: number;
  /** Days a run is kept. */
  retentionDays: number;
  /** Bytes of output kept per run. */
  outputLimit: number;
}

/** The settings of a new dashboard. */
export const DEFAULT_SETTINGS: Readonly<Settings> = {
  retentionRuns: 100,
  retentionDays: 30,
  outputLimit: 1024 * 1024,
};

/** The allowed range of each setting. */
export const SETTING_RANGES: Readonly<Record<keyof Settings, readonly [number, number]>> = {
  retentionRuns: [1, 10_000],
  retentionDays: [1, 3650],
  outputLimit: [1024, 16 * 1024 * 1024],
};

/**
 * Where a manual run stands: `queued` for its host, `claimed` by it, then koid's
 * answer; or `cancelled` from the page while still queued.
 */
export type ManualState = "queued" | "claimed" | ManualAnswer | "cancelled";

/** A manual run as the API shows it. */
export interface ManualRun {
  id: string;
  host: string;
  tag: string;
  queuedAt: number;
  state: ManualState;
  /** The values its payload asks for, as sent (koid checks them; the server cannot). */
  args: ArgValues;
  reason?: string;
  runId?: string;
}

/** A manual-run request: the signed payload text, its signature, and what it names. */
export interface ManualRequest {
  payload: string;
  signature: string;
  host: string;
  tag: string;
}

/** A field of a request that is missing, of the wrong type, or out of range. */
export class FieldError extends TypeError {
  /** The field's path in the request, such as `jobs[3].tag`. */
  readonly field: string;

  /**
   * Makes the error; its message names the field and says what is wrong.
   *
   * @param field The field's path.
   * @param problem What is wrong, such as `must be a string`.
   * @param value The value found, quoted in the message when given (even if undefined).
   */
  constructor(field: string, problem: string, ...value: [] | [unknown]) {
    const got = value.length > 0 ? ` (got ${quote(value[0])})` : "";
    super(`Invalid "${field}": ${problem}${got}`);
    this.name = "FieldError";
    this.field = field;
  }
}

function quote(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FieldError(field, "must be an object", value);
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new FieldError(field, "must be an array", value);
  if (value.length > max) throw new FieldError(field, `must have at most ${max} items`);
  return value;
}

function string(value: unknown, field: string, max: number, min = 0): string {
  if (typeof value !== "string") throw new FieldError(field, "must be a string", value);
  if (value.length < min || value.length > max) {
    throw new FieldError(field, `must be ${min} to ${max} characters`, value);
  }
  return value;
}

function nullableString(value: unknown, field: string, max: number): string | null {
  return value === null || value === undefined ? null : string(value, field, max);
}

function token(value: unknown, field: string, pattern = TOKEN, what = "1 to 64"): string {
  if (typeof value !== "string" || !pattern.test(value)) {
    const alphabet = pattern === HOST_NAME ? "A-Za-z0-9._-" : "A-Za-z0-9_-";
    throw new FieldError(field, `must be ${what} characters of ${alphabet}`, value);
  }
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new FieldError(field, `must be a whole number from ${min} to ${max}`, value);
  }
  return value;
}

function time(value: unknown, field: string): number {
  return integer(value, field, 0, MAX_TIME);
}

function oneOf<T extends string>(value: unknown, field: string, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    throw new FieldError(field, `must be one of ${choices.map((c) => `"${c}"`).join(", ")}`, value);
  }
  return value as T;
}

function fits(record: unknown, field: string): void {
  if (JSON.stringify(record).length > MAX_RECORD_CHARS) {
    throw new FieldError(field, `must be at most ${MAX_RECORD_CHARS} characters as JSON`);
  }
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const STREAMS = ["stdout", "stderr", "koi"] as const;

/**
 * An argument's value or default. A value fits any manual-run payload the server
 * queues (`MAX_QUEUED_PAYLOAD_BYTES`); a default fits any command.
 */
function argValue(value: unknown, field: string, maxChars: number): ArgValue {
  if (typeof value === "string") return string(value, field, maxChars);
  if (typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new FieldError(field, "must be a string, a finite number or a boolean", value);
}

function parseArgSpec(value: unknown, field: string): ArgSpec {
  const raw = object(value, field);
  const spec: ArgSpec = {
    name: string(raw.name, `${field}.name`, MAX_NAME_CHARS, 1),
    type: oneOf(raw.type, `${field}.type`, ARG_TYPES),
  };
  if (raw.default !== undefined) {
    const value = argValue(raw.default, `${field}.default`, MAX_COMMAND_BYTES);
    if (!fitsArgType(spec.type, value)) {
      throw new FieldError(
        `${field}.default`,
        `must be of the argument's type (${spec.type})`,
        value,
      );
    }
    spec.default = value;
  }
  return spec;
}

function command(value: unknown, field: string): string {
  const text = string(value, field, MAX_COMMAND_BYTES);
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_COMMAND_BYTES) {
    throw new FieldError(
      field,
      `must be at most ${MAX_COMMAND_BYTES} bytes of UTF-8 (got ${bytes})`,
    );
  }
  return text;
}

// The limits on a job are those of lib/limits.ts, which the koitab parser keeps:
// whatever koitab installs, the server takes. A job is stored in parts, so it
// needs no limit of its own beyond the job list's.
function parseJob(value: unknown, field: string): Job {
  const raw = object(value, field);
  return {
    tag: token(raw.tag, `${field}.tag`),
    name: nullableString(raw.name, `${field}.name`, MAX_NAME_CHARS),
    section: nullableString(raw.section, `${field}.section`, MAX_NAME_CHARS),
    schedule: string(raw.schedule, `${field}.schedule`, MAX_JOB_LIST_JSON_BYTES, 1),
    timezone: nullableString(raw.timezone, `${field}.timezone`, 100),
    args: array(raw.args ?? [], `${field}.args`, MAX_ARGS).map((arg, i) =>
      parseArgSpec(arg, `${field}.args[${i}]`)
    ),
    next: array(raw.next ?? [], `${field}.next`, 50).map((next, i) => {
      if (typeof next !== "string" || !ISO_8601.test(next)) {
        throw new FieldError(`${field}.next[${i}]`, "must be an ISO 8601 date and time", next);
      }
      return next;
    }),
    command: command(raw.command, `${field}.command`),
    line: integer(raw.line, `${field}.line`, 1, Number.MAX_SAFE_INTEGER),
  };
}

/**
 * Reads the body of `PUT /api/d/{id}/hosts/{host}/jobs`.
 *
 * @param body The parsed JSON body.
 * @returns The jobs, each tag once.
 * @throws {FieldError} If a field is missing or wrong, or a tag repeats.
 *
 * @example A tag must be a token
 * ```ts
 * import { FieldError, parseJobList } from "./schema.ts";
 *
 * try {
 *   parseJobList({ jobs: [{ tag: "j 1", schedule: "@daily", command: "true", line: 1 }] });
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "jobs[0].tag") throw error;
 * }
 * ```
 */
export function parseJobList(body: unknown): Job[] {
  const jobs = array(object(body, "body").jobs, "jobs", MAX_JOBS).map((job, i) =>
    parseJob(job, `jobs[${i}]`)
  );
  const tags = new Set<string>();
  jobs.forEach((job, i) => {
    if (tags.has(job.tag)) {
      throw new FieldError(`jobs[${i}].tag`, "repeats an earlier tag", job.tag);
    }
    tags.add(job.tag);
  });
  return jobs;
}

/**
 * Checks a run's argument values: at most 100, each a string, number or boolean.
 *
 * @param value The values; undefined or null for none.
 * @param field The field's path, for the error.
 * @returns The values.
 * @throws {FieldError} If they are not such an object.
 */
export function parseArgValues(value: unknown, field: string): ArgValues {
  const raw = object(value ?? {}, field);
  const entries = Object.entries(raw);
  if (entries.length > 100) throw new FieldError(field, "must have at most 100 entries");
  // fromEntries, not assignment: an argument named "__proto__" stays an argument.
  return Object.fromEntries(entries.map(([name, arg]) => {
    string(name, `${field} name`, 200, 1);
    return [name, argValue(arg, `${field}.${name}`, MAX_QUEUED_PAYLOAD_BYTES)];
  }));
}

function parseChunk(value: unknown, field: string): OutputChunk {
  const raw = object(value, field);
  return {
    stream: oneOf(raw.stream, `${field}.stream`, STREAMS),
    text: string(raw.text, `${field}.text`, Number.MAX_SAFE_INTEGER),
  };
}

function parseReport(value: unknown, field: string): Report {
  const raw = object(value, field);
  const type = oneOf(raw.type, `${field}.type`, ["start", "output", "end", "manual"] as const);
  if (type === "start") {
    const run = object(raw.run, `${field}.run`);
    const info: RunStartInfo = {
      id: token(run.id, `${field}.run.id`),
      tag: token(run.tag, `${field}.run.tag`),
      name: nullableString(run.name, `${field}.run.name`, 200),
      section: nullableString(run.section, `${field}.run.section`, 200),
      trigger: oneOf(
        run.trigger,
        `${field}.run.trigger`,
        ["schedule", "reboot", "manual"] as const,
      ),
      args: parseArgValues(run.args, `${field}.run.args`),
      scheduledFor: run.scheduledFor === null || run.scheduledFor === undefined
        ? null
        : time(run.scheduledFor, `${field}.run.scheduledFor`),
      startedAt: time(run.startedAt, `${field}.run.startedAt`),
      manualId: run.manualId === null || run.manualId === undefined
        ? null
        : token(run.manualId, `${field}.run.manualId`),
    };
    fits(info, `${field}.run`);
    return { type, run: info };
  }
  if (type === "output") {
    return {
      type,
      runId: token(raw.runId, `${field}.runId`),
      seq: integer(raw.seq, `${field}.seq`, 0, Number.MAX_SAFE_INTEGER),
      stream: oneOf(raw.stream, `${field}.stream`, STREAMS),
      text: string(raw.text, `${field}.text`, Number.MAX_SAFE_INTEGER),
    };
  }
  if (type === "end") {
    const end = object(raw.end, `${field}.end`);
    return {
      type,
      runId: token(raw.runId, `${field}.runId`),
      end: {
        finishedAt: time(end.finishedAt, `${field}.end.finishedAt`),
        exitCode: end.exitCode === null || end.exitCode === undefined
          ? null
          : integer(end.exitCode, `${field}.end.exitCode`, -(2 ** 31), 2 ** 32),
        signal: nullableString(end.signal, `${field}.end.signal`, 32),
        status: oneOf(
          end.status,
          `${field}.end.status`,
          ["succeeded", "failed", "killed", "interrupted", "not-started"] as const,
        ),
        error: nullableString(end.error, `${field}.end.error`, 4000),
        outputBytes: integer(
          end.outputBytes ?? 0,
          `${field}.end.outputBytes`,
          0,
          Number.MAX_SAFE_INTEGER,
        ),
        chunks: array(end.chunks ?? [], `${field}.end.chunks`, 1_000_000).map((chunk, i) =>
          parseChunk(chunk, `${field}.end.chunks[${i}]`)
        ),
      },
    };
  }
  const state = oneOf(raw.state, `${field}.state`, ["refused", "started"] as const);
  return {
    type,
    manualId: token(raw.manualId, `${field}.manualId`),
    state,
    reason: nullableString(raw.reason, `${field}.reason`, 4000),
    runId: raw.runId === null || raw.runId === undefined
      ? null
      : token(raw.runId, `${field}.runId`),
  };
}

/**
 * Reads the body of `POST /api/d/{id}/hosts/{host}/reports`.
 *
 * @param body The parsed JSON body.
 * @returns The reports, in order.
 * @throws {FieldError} If a field is missing or wrong.
 *
 * @example An output report
 * ```ts
 * import { parseReports } from "./schema.ts";
 *
 * const [report] = parseReports({
 *   reports: [{ type: "output", runId: "r1", seq: 0, stream: "stdout", text: "hi\n" }],
 * });
 * if (report?.type !== "output" || report.text !== "hi\n") throw new Error("parsed");
 * ```
 */
export function parseReports(body: unknown): Report[] {
  return array(object(body, "body").reports, "reports", MAX_REPORTS).map((report, i) =>
    parseReport(report, `reports[${i}]`)
  );
}

/**
 * Reads the body of `POST /api/dashboards`.
 *
 * @param body The parsed JSON body.
 * @returns The new dashboard's id and API key.
 * @throws {FieldError} If the id or the key is malformed.
 */
export function parseNewDashboard(body: unknown): { id: string; apiKey: string } {
  const raw = object(body, "body");
  const id = token(raw.id, "id", DASHBOARD_ID, "16 to 64");
  if (!isApiKey(raw.apiKey)) {
    throw new FieldError("apiKey", "must be 43 characters of base64url (32 bytes)");
  }
  return { id, apiKey: raw.apiKey };
}

/**
 * Whether a value has the form of an API key: 32 bytes, unpadded base64url.
 *
 * @param value The value.
 * @returns True for 43 characters of base64url.
 */
export function isApiKey(value: unknown): value is string {
  return typeof value === "string" && value.length === 43 && fromBase64url(value) !== null;
}

/**
 * Reads the body of `PATCH /api/d/{id}/settings`: any of the settings, each in
 * its range ({@linkcode SETTING_RANGES}); any other field is an error.
 *
 * @param body The parsed JSON body.
 * @returns The settings to change.
 * @throws {FieldError} If a field is unknown or out of range.
 *
 * @example Out of range
 * ```ts
 * import { FieldError, parseSettingsPatch } from "./schema.ts";
 *
 * if (parseSettingsPatch({ retentionDays: 7 }).retentionDays !== 7) throw new Error("7");
 * try {
 *   parseSettingsPatch({ outputLimit: 10 });
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "outputLimit") throw error;
 * }
 * ```
 */
export function parseSettingsPatch(body: unknown): Partial<Settings> {
  const raw = object(body, "body");
  const patch: Partial<Settings> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!Object.hasOwn(SETTING_RANGES, name)) {
      throw new FieldError(
        name,
        `is not a setting (${Object.keys(SETTING_RANGES).join(", ")})`,
      );
    }
    const [min, max] = SETTING_RANGES[name as keyof Settings];
    patch[name as keyof Settings] = integer(value, name, min, max);
  }
  return patch;
}

/**
 * Reads the body of `POST /api/d/{id}/manual`. The payload must be JSON naming
 * this dashboard, a host and a job tag; its signature cannot be checked here (the
 * server never has the run key), only its form.
 *
 * @param body The parsed JSON body.
 * @param dashboardId The dashboard the request was sent to.
 * @returns The request, with the host and tag its payload names.
 * @throws {FieldError} If the payload is not such JSON, or names another dashboard.
 *
 * @example The payload must name this dashboard
 * ```ts
 * import { FieldError, parseManualRequest } from "./schema.ts";
 *
 * const payload = JSON.stringify({ v: 1, dashboard: "other-dashboard-1", host: "web", tag: "j1" });
 * try {
 *   parseManualRequest({ payload, signature: "A".repeat(43) }, "this-dashboard-01");
 *   throw new Error("accepted");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "payload.dashboard") throw error;
 * }
 * ```
 */
export function parseManualRequest(body: unknown, dashboardId: string): ManualRequest {
  const raw = object(body, "body");
  const payload = string(raw.payload, "payload", MAX_QUEUED_PAYLOAD_BYTES, 2);
  if (new TextEncoder().encode(payload).length > MAX_QUEUED_PAYLOAD_BYTES) {
    throw new FieldError("payload", `must be at most ${MAX_QUEUED_PAYLOAD_BYTES} bytes`);
  }
  const signature = raw.signature;
  const mac = typeof signature === "string" ? fromBase64url(signature) : null;
  if (typeof signature !== "string" || mac === null || mac.length !== 32) {
    throw new FieldError("signature", "must be 43 characters of base64url (32 bytes)", signature);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (error) {
    throw new FieldError("payload", `must be JSON text: ${(error as Error).message}`);
  }
  const fields = object(parsed, "payload");
  if (fields.dashboard !== dashboardId) {
    throw new FieldError("payload.dashboard", "must name this dashboard", fields.dashboard);
  }
  return {
    payload,
    signature,
    host: token(fields.host, "payload.host", HOST_NAME, "1 to 253"),
    tag: token(fields.tag, "payload.tag"),
  };
}

/**
 * Checks a host name taken from a request path.
 *
 * @param value The path segment.
 * @returns The host name.
 * @throws {FieldError} If it is not 1 to 253 characters of `A-Za-z0-9._-`.
 */
export function parseHostName(value: string): string {
  return token(value, "host", HOST_NAME, "1 to 253");
}

/**
 * Checks a run id, job tag or manual-run id taken from a request.
 *
 * @param value The value.
 * @param field The field's name, for the error.
 * @returns The value.
 * @throws {FieldError} If it is not 1 to 64 characters of `A-Za-z0-9_-`.
 */
export function parseToken(value: string, field: string): string {
  return token(value, field);
}

/**
 * Reads a whole number from a query parameter.
 *
 * @param value The parameter's text, or null when absent.
 * @param field The parameter's name, for the error.
 * @param min The least value.
 * @param max The greatest value.
 * @returns The number, or null when absent.
 * @throws {FieldError} If it is not a whole number in range.
 */
export function parseQueryInteger(
  value: string | null,
  field: string,
  min: number,
  max: number,
): number | null {
  if (value === null) return null;
  const number = /^-?[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  return integer(Number.isNaN(number) ? value : number, field, min, max);
}
