/**
 * The checks that turn the untrusted JSON of requests into the API's shapes
 * (`./wire.ts`), as the dashboard server reads them. Every field is checked for
 * type, length and format before the server uses it; a bad one throws a
 * {@linkcode FieldError} naming it. Unknown fields of jobs and reports are dropped
 * (a newer koid may send more); pure logic, no I/O.
 *
 * @module
 */

import { ARG_TYPES, type ArgSpec, MAX_ARG_VALUE_BYTES } from "./arg_types.js";
import {
  asArray,
  asEnvelope,
  asHostName,
  asInteger,
  asNullableEnvelope,
  asNullableInteger,
  asNullableString,
  asObject,
  asOneOf,
  asString,
  asTime,
  asToken,
  FieldError,
} from "./fields.ts";
import { fromBase64url } from "./keys.ts";
import {
  type ArgValues,
  DASHBOARD_ID,
  type Job,
  type ManualRequest,
  MAX_QUEUED_PAYLOAD_BYTES,
  MAX_REPORTS,
  OUTPUT_STREAMS,
  type OutputChunk,
  type Report,
  RUN_STATUSES,
  RUN_TRIGGERS,
  type RunStartInfo,
  SETTING_RANGES,
  type Settings,
} from "./wire.ts";
import {
  MAX_ARGS,
  MAX_COMMAND_BYTES,
  MAX_JOB_LIST_JSON_BYTES,
  MAX_JOBS,
  MAX_NAME_CHARS,
} from "../limits.ts";

export { FieldError };

/**
 * The largest run start, as JSON characters, so it fits one KV value: the sealed
 * values of the largest payload the server queues, and the rest of the run.
 */
const MAX_RECORD_CHARS = MAX_QUEUED_PAYLOAD_BYTES + 4096;

/** The most bytes of an `error` or a refusal reason, sealed: 4,000 characters of UTF-8. */
const MAX_NOTE_BYTES = 4000 * 3;

function fits(record: unknown, field: string): void {
  if (JSON.stringify(record).length > MAX_RECORD_CHARS) {
    throw new FieldError(field, `must be at most ${MAX_RECORD_CHARS} characters as JSON`);
  }
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Reads an argument of a job, as a job list gives it: its default, if any, of
 * its type.
 *
 * @param value The argument, as sent.
 * @param field The field's path, for the error.
 * @returns The argument.
 * @throws {FieldError} If a field is missing or wrong.
 */
export function parseArgSpec(value: unknown, field: string): ArgSpec {
  const raw = asObject(value, field);
  const spec: ArgSpec = {
    name: asString(raw.name, `${field}.name`, MAX_NAME_CHARS, 1),
    type: asOneOf(raw.type, `${field}.type`, ARG_TYPES),
  };
  // Sealed by koid (the JSON of a value of its type): its type is checked where it opens.
  if (raw.default !== undefined) {
    spec.default = asEnvelope(raw.default, `${field}.default`, MAX_COMMAND_BYTES);
  }
  return spec;
}

// The limits on a job are those of lib/limits.ts, which the koitab parser keeps:
// whatever koitab installs, the server takes. A job is stored in parts, so it
// needs no limit of its own beyond the job list's.
function parseJob(value: unknown, field: string): Job {
  const raw = asObject(value, field);
  return {
    tag: asToken(raw.tag, `${field}.tag`),
    name: asNullableString(raw.name, `${field}.name`, MAX_NAME_CHARS),
    section: asNullableString(raw.section, `${field}.section`, MAX_NAME_CHARS),
    schedule: asString(raw.schedule, `${field}.schedule`, MAX_JOB_LIST_JSON_BYTES, 1),
    timezone: asNullableString(raw.timezone, `${field}.timezone`, 100),
    args: asArray(raw.args ?? [], `${field}.args`, MAX_ARGS).map((arg, i) =>
      parseArgSpec(arg, `${field}.args[${i}]`)
    ),
    next: asArray(raw.next ?? [], `${field}.next`, 50).map((next, i) => {
      if (typeof next !== "string" || !ISO_8601.test(next)) {
        throw new FieldError(`${field}.next[${i}]`, "must be an ISO 8601 date and time", next);
      }
      return next;
    }),
    command: asEnvelope(raw.command, `${field}.command`, MAX_COMMAND_BYTES),
    line: asInteger(raw.line, `${field}.line`, 1, Number.MAX_SAFE_INTEGER),
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
  const jobs = asArray(asObject(body, "body").jobs, "jobs", MAX_JOBS).map((job, i) =>
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
 * Checks a run's argument values: at most 100, each sealed (an envelope).
 *
 * @param value The values; undefined or null for none.
 * @param field The field's path, for the error.
 * @returns The values.
 * @throws {FieldError} If they are not such an object.
 */
export function parseArgValues(value: unknown, field: string): ArgValues {
  const raw = asObject(value ?? {}, field);
  const entries = Object.entries(raw);
  if (entries.length > 100) throw new FieldError(field, "must have at most 100 entries");
  // fromEntries, not assignment: an argument named "__proto__" stays an argument.
  return Object.fromEntries(entries.map(([name, arg]) => {
    asString(name, `${field} name`, 200, 1);
    // A value's JSON: at most 64 KiB of text, each byte escaped at worst as \u00XX.
    return [name, asEnvelope(arg, `${field}.${name}`, MAX_ARG_VALUE_BYTES * 6 + 2)];
  }));
}

function parseChunk(value: unknown, field: string): OutputChunk {
  const raw = asObject(value, field);
  return {
    stream: asOneOf(raw.stream, `${field}.stream`, OUTPUT_STREAMS),
    text: asEnvelope(raw.text, `${field}.text`, Number.MAX_SAFE_INTEGER),
  };
}

function parseReport(value: unknown, field: string): Report {
  const raw = asObject(value, field);
  const type = asOneOf(raw.type, `${field}.type`, ["start", "output", "end", "manual"] as const);
  if (type === "start") {
    const run = asObject(raw.run, `${field}.run`);
    const info: RunStartInfo = {
      id: asToken(run.id, `${field}.run.id`),
      tag: asToken(run.tag, `${field}.run.tag`),
      name: asNullableString(run.name, `${field}.run.name`, 200),
      section: asNullableString(run.section, `${field}.run.section`, 200),
      trigger: asOneOf(
        run.trigger,
        `${field}.run.trigger`,
        RUN_TRIGGERS,
      ),
      args: parseArgValues(run.args, `${field}.run.args`),
      scheduledFor: run.scheduledFor === null || run.scheduledFor === undefined
        ? null
        : asTime(run.scheduledFor, `${field}.run.scheduledFor`),
      startedAt: asTime(run.startedAt, `${field}.run.startedAt`),
      manualId: run.manualId === null || run.manualId === undefined
        ? null
        : asToken(run.manualId, `${field}.run.manualId`),
    };
    fits(info, `${field}.run`);
    return { type, run: info };
  }
  if (type === "output") {
    return {
      type,
      runId: asToken(raw.runId, `${field}.runId`),
      seq: asInteger(raw.seq, `${field}.seq`, 0, Number.MAX_SAFE_INTEGER),
      stream: asOneOf(raw.stream, `${field}.stream`, OUTPUT_STREAMS),
      text: asEnvelope(raw.text, `${field}.text`, Number.MAX_SAFE_INTEGER),
    };
  }
  if (type === "end") {
    const end = asObject(raw.end, `${field}.end`);
    return {
      type,
      runId: asToken(raw.runId, `${field}.runId`),
      end: {
        finishedAt: asTime(end.finishedAt, `${field}.end.finishedAt`),
        exitCode: asNullableInteger(end.exitCode, `${field}.end.exitCode`, -(2 ** 31), 2 ** 32),
        signal: asNullableString(end.signal, `${field}.end.signal`, 32),
        status: asOneOf(
          end.status,
          `${field}.end.status`,
          RUN_STATUSES.filter((status) => status !== "running"),
        ),
        error: asNullableEnvelope(end.error, `${field}.end.error`, MAX_NOTE_BYTES),
        outputBytes: asInteger(
          end.outputBytes ?? 0,
          `${field}.end.outputBytes`,
          0,
          Number.MAX_SAFE_INTEGER,
        ),
        chunks: asArray(end.chunks ?? [], `${field}.end.chunks`, 1_000_000).map((chunk, i) =>
          parseChunk(chunk, `${field}.end.chunks[${i}]`)
        ),
      },
    };
  }
  const state = asOneOf(raw.state, `${field}.state`, ["refused", "started"] as const);
  return {
    type,
    manualId: asToken(raw.manualId, `${field}.manualId`),
    state,
    reason: asNullableEnvelope(raw.reason, `${field}.reason`, MAX_NOTE_BYTES),
    runId: raw.runId === null || raw.runId === undefined
      ? null
      : asToken(raw.runId, `${field}.runId`),
  };
}

/**
 * Reads the body of `POST /api/d/{id}/hosts/{host}/reports`.
 *
 * @param body The parsed JSON body.
 * @returns The reports, in order.
 * @throws {FieldError} If a field is missing or wrong.
 *
 * @example An output report: its text sealed, plain text refused
 * ```ts
 * import { FieldError, parseReports } from "./schema.ts";
 *
 * const text = "k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAA";
 * const output = { type: "output", runId: "r1", seq: 0, stream: "stdout", text };
 * const [report] = parseReports({ reports: [output] });
 * if (report?.type !== "output" || report.text !== text) throw new Error("parsed");
 * try {
 *   parseReports({ reports: [{ ...output, text: "hi\n" }] });
 *   throw new Error("plain text taken");
 * } catch (error) {
 *   if (!(error instanceof FieldError) || error.field !== "reports[0].text") throw error;
 * }
 * ```
 */
export function parseReports(body: unknown): Report[] {
  return asArray(asObject(body, "body").reports, "reports", MAX_REPORTS).map((report, i) =>
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
  const raw = asObject(body, "body");
  const id = raw.id;
  if (typeof id !== "string" || !DASHBOARD_ID.test(id)) {
    throw new FieldError("id", "must be 16 to 64 characters of A-Za-z0-9_-", id);
  }
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
  const raw = asObject(body, "body");
  const patch: Partial<Settings> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!Object.hasOwn(SETTING_RANGES, name)) {
      throw new FieldError(
        name,
        `is not a setting (${Object.keys(SETTING_RANGES).join(", ")})`,
      );
    }
    const [min, max] = SETTING_RANGES[name as keyof Settings];
    patch[name as keyof Settings] = asInteger(value, name, min, max);
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
  const raw = asObject(body, "body");
  const payload = asString(raw.payload, "payload", MAX_QUEUED_PAYLOAD_BYTES, 2);
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
  const fields = asObject(parsed, "payload");
  if (fields.dashboard !== dashboardId) {
    throw new FieldError("payload.dashboard", "must name this dashboard", fields.dashboard);
  }
  const request = {
    payload,
    signature,
    host: asHostName(fields.host, "payload.host"),
    tag: asToken(fields.tag, "payload.tag"),
  };
  // Sealed before signing: a client that forgot sends no value in plain to be queued.
  parseArgValues(fields.args, "payload.args");
  return request;
}

/**
 * Checks a host name taken from a request path.
 *
 * @param value The path segment.
 * @returns The host name.
 * @throws {FieldError} If it is not 1 to 253 characters of `A-Za-z0-9._-`.
 */
export function parseHostName(value: string): string {
  return asHostName(value, "host");
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
  return asToken(value, field);
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
  return asInteger(Number.isNaN(number) ? value : number, field, min, max);
}
