/**
 * The dashboard server's HTTP API, as koid and `koitab -d` call it: one typed
 * method per call, each bounded in time (a timeout that covers the whole answer,
 * body included) and in size (the body is read up to a limit), and every field of
 * every answer checked before it is used. A server that hangs, resets, answers
 * garbage or never stops answering costs a clear {@linkcode DashboardError},
 * nothing more.
 *
 * @module
 */

import { type ArgSpec, fitsArgType, isArgType } from "../protocol/arg_types.js";
import { BodyTooLargeError, readBody } from "../read_body.ts";

/** How long a call may take by default, answer included. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The largest answer read by default; the server's largest legitimate answers are far smaller. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/**
 * The largest answer to `GET /jobs`, which lists every host's jobs: one host's
 * list alone may take 13 MB (see `MAX_JOB_LIST_BYTES`), more with each job's view.
 */
export const MAX_JOBS_RESPONSE_BYTES = 256 * 1024 * 1024;

/** A dashboard id: 16 to 64 characters of base64url's alphabet. */
export const DASHBOARD_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A host name as the API accepts it. */
export const HOST_NAME = /^[A-Za-z0-9._-]{1,253}$/;

/** What went wrong with a call: no answer, no answer in time, an error status, or a bad answer. */
export type DashboardErrorKind = "network" | "timeout" | "status" | "answer";

/** A failed call to the dashboard server. Callers catch it to say what happened. */
export class DashboardError extends Error {
  /** Why the call failed. */
  readonly kind: DashboardErrorKind;
  /** The HTTP status, when the server answered with one. */
  readonly status: number | null;

  /**
   * @param message What failed, in one line.
   * @param kind Why.
   * @param status The HTTP status, if any.
   */
  constructor(message: string, kind: DashboardErrorKind, status: number | null = null) {
    super(message);
    this.name = "DashboardError";
    this.kind = kind;
    this.status = status;
  }
}

/** An argument of a job, as the API describes it. */
export type JobArg = Readonly<ArgSpec>;

/** A job as koid sends it: `PUT /api/d/{id}/hosts/{host}/jobs`. */
export interface Job {
  readonly tag: string;
  readonly name: string | null;
  readonly section: string | null;
  readonly schedule: string;
  readonly timezone: string;
  readonly args: readonly JobArg[];
  /** The next run times, ISO 8601; empty for `@manual` and `@reboot` jobs. */
  readonly next: readonly string[];
  readonly command: string;
  readonly line: number;
}

/** A job from `GET /api/d/{id}/jobs`: the fields `koitab -d run` uses, checked. */
export interface HostJob {
  readonly host: string;
  readonly tag: string;
  readonly name: string | null;
  readonly section: string | null;
  readonly schedule: string;
  readonly args: readonly JobArg[];
}

/** A host the dashboard has heard from. */
export interface DashboardHost {
  readonly host: string;
  readonly lastSeenAt: number | null;
  readonly jobCount: number;
  /** When and why the server refused the host's last job list (null from older servers). */
  readonly jobListRefused: { readonly at: number; readonly reason: string } | null;
}

/** `GET /api/d/{id}`: the fields Koi uses, checked. */
export interface DashboardInfo {
  readonly id: string;
  readonly createdAt: number;
  readonly hosts: readonly DashboardHost[];
}

/** The statuses of a run. */
export const RUN_STATUSES = [
  "running",
  "succeeded",
  "failed",
  "killed",
  "interrupted",
  "not-started",
] as const;

/** A run's state: the fields `koitab -d run` uses, checked. */
export interface RunState {
  readonly id: string;
  readonly status: typeof RUN_STATUSES[number];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly error: string | null;
}

/** One piece of a run's output on the server. */
export interface OutputRecord {
  readonly seq: number;
  readonly stream: "stdout" | "stderr" | "koi";
  readonly text: string;
}

/** A manual run's state on the server. */
export interface ManualState {
  readonly id: string;
  readonly state: "queued" | "claimed" | "refused" | "started" | "cancelled";
  readonly reason: string | null;
  readonly runId: string | null;
}

/**
 * A manual run handed to koid. The payload and signature are left unchecked here:
 * `checkManualRun()` judges them, so that a malformed one is refused with a reason.
 */
export interface ManualRequest {
  readonly manualId: string;
  readonly payload: unknown;
  readonly signature: unknown;
}

/** The start of a run, as reported. */
export interface StartReport {
  readonly type: "start";
  readonly run: {
    readonly id: string;
    readonly tag: string;
    readonly name: string | null;
    readonly section: string | null;
    readonly trigger: string;
    readonly args: Readonly<Record<string, unknown>>;
    readonly scheduledFor: number | null;
    readonly startedAt: number;
    readonly manualId?: string;
  };
}

/** A piece of a run's output, as it arrives. */
export interface OutputReport {
  readonly type: "output";
  readonly runId: string;
  readonly seq: number;
  readonly stream: "stdout" | "stderr" | "koi";
  readonly text: string;
}

/** The end of a run, with its final (capped) output. */
export interface EndReport {
  readonly type: "end";
  readonly runId: string;
  readonly end: {
    readonly finishedAt: number;
    readonly exitCode: number | null;
    readonly signal: string | null;
    readonly status: string;
    readonly error: string | null;
    readonly outputBytes: number;
    readonly chunks: readonly { readonly stream: string; readonly text: string }[];
  };
}

/** koid's answer to a manual run. */
export interface ManualReport {
  readonly type: "manual";
  readonly manualId: string;
  readonly state: "refused" | "started";
  readonly reason?: string;
  readonly runId?: string;
}

/** What koid reports: `POST /api/d/{id}/hosts/{host}/reports`. */
export type Report = StartReport | OutputReport | EndReport | ManualReport;

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call (the abort reason is thrown as is). */
  readonly signal?: AbortSignal;
  /** Overrides the client's timeout for this call. */
  readonly timeoutMs?: number;
  /** Overrides the client's largest answer for this call. */
  readonly maxResponseBytes?: number;
}

/** Where the client talks to, and its limits. */
export interface ClientOptions {
  /** The server's base URL, as {@linkcode normalizeServer} gives it. */
  readonly server: string;
  /** The dashboard id. */
  readonly id: string;
  /** The API key; sent as a bearer token, never logged. */
  readonly apiKey: string;
  /** How long a call may take, answer included (default 30 s). */
  readonly timeoutMs?: number;
  /** The largest answer read (default 8 MiB). */
  readonly maxResponseBytes?: number;
}

/**
 * A server base URL, checked and made canonical: http or https, no credentials,
 * query or fragment, no trailing slash.
 *
 * @param text The URL as given (`http://localhost:8080/`).
 * @returns The canonical URL (`http://localhost:8080`).
 * @throws {TypeError} If it is not such a URL.
 *
 * @example
 * ```ts
 * import { normalizeServer } from "./client.ts";
 *
 * if (normalizeServer("HTTP://Example.com:8080/koi/") !== "http://example.com:8080/koi") {
 *   throw new Error("normalized");
 * }
 * ```
 */
export function normalizeServer(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Cannot use the server URL "${text}": it is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Cannot use the server URL "${text}": it must start with http:// or https://`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new TypeError(
      `Cannot use the server URL "${text}": it must have no user, password, query or fragment`,
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * The page of a dashboard: `${server}/d/${id}`.
 *
 * @param server The server's canonical base URL.
 * @param id The dashboard id.
 * @returns The URL.
 */
export function dashboardUrl(server: string, id: string): string {
  return `${server}/d/${id}`;
}

/**
 * Splits a dashboard's page URL into its server and id.
 *
 * @param text The URL, `${server}/d/${id}`.
 * @returns The server's canonical base URL and the id.
 * @throws {TypeError} If it is not a dashboard URL.
 *
 * @example
 * ```ts
 * import { parseDashboardUrl } from "./client.ts";
 *
 * const { server, id } = parseDashboardUrl("https://koi.example.com/d/Zm9vYmFyYmF6cXV4MTIzNA");
 * if (server !== "https://koi.example.com" || id !== "Zm9vYmFyYmF6cXV4MTIzNA") throw new Error(id);
 * ```
 */
export function parseDashboardUrl(text: string): { server: string; id: string } {
  const match = /^(.*)\/d\/([^/?#]*)\/?$/.exec(text.trim());
  if (match === null || !DASHBOARD_ID.test(match[2]!)) {
    throw new TypeError(
      `Cannot read the dashboard URL "${text}": it must look like https://SERVER/d/ID`,
    );
  }
  return { server: normalizeServer(match[1]!), id: match[2]! };
}

/** A client of one dashboard on one server. */
export class DashboardClient {
  readonly #server: string;
  readonly #id: string;
  readonly #apiKey: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  /** @param options The server, dashboard id, API key and limits. */
  constructor(options: ClientOptions) {
    this.#server = normalizeServer(options.server);
    if (!DASHBOARD_ID.test(options.id)) {
      throw new TypeError(
        `Cannot use the dashboard id "${options.id}": it must be 16-64 of A-Za-z0-9_-`,
      );
    }
    this.#id = options.id;
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** The server's base URL. */
  get server(): string {
    return this.#server;
  }

  /** The dashboard's page. */
  get url(): string {
    return dashboardUrl(this.#server, this.#id);
  }

  /**
   * Creates the dashboard on the server: `POST /api/dashboards`. Only the API key is sent.
   *
   * @param options Signal and timeout.
   * @returns When the server has created it.
   */
  async create(options: CallOptions = {}): Promise<void> {
    const answer = await this.#call("POST", "/api/dashboards", {
      id: this.#id,
      apiKey: this.#apiKey,
    }, {
      ...options,
      auth: false,
    });
    if (answer.status === 409) {
      throw new DashboardError("the server already has a dashboard with this id", "status", 409);
    }
    this.#expectOk(answer);
  }

  /**
   * The dashboard and the hosts it knows: `GET /api/d/{id}`.
   *
   * @param options Signal and timeout.
   * @returns The checked fields.
   */
  async info(options: CallOptions = {}): Promise<DashboardInfo> {
    const body = this.#json(this.#expectOk(await this.#call("GET", "", undefined, options)));
    const hosts = array(body, "hosts").map((item, i) => {
      const host = object(item, `hosts[${i}]`);
      return {
        host: hostName(host, "host", `hosts[${i}].host`),
        lastSeenAt: nullable(host, "lastSeenAt", number, `hosts[${i}].lastSeenAt`),
        jobCount: count(host, "jobCount", `hosts[${i}].jobCount`),
        jobListRefused: optional(host, "jobListRefused", refusal, `hosts[${i}].jobListRefused`),
      };
    });
    return { id: string(body, "id"), createdAt: number(body, "createdAt"), hosts };
  }

  /**
   * Deletes the dashboard and all its data: `DELETE /api/d/{id}`.
   *
   * @param options Signal and timeout.
   * @returns When the server has deleted it.
   */
  async delete(options: CallOptions = {}): Promise<void> {
    this.#expectOk(await this.#call("DELETE", "", undefined, options));
  }

  /**
   * Replaces a host's job list: `PUT /api/d/{id}/hosts/{host}/jobs`.
   *
   * @param host The host.
   * @param jobs Its jobs.
   * @param options Signal and timeout.
   * @returns When the server has them.
   */
  async putJobs(host: string, jobs: readonly Job[], options: CallOptions = {}): Promise<void> {
    this.#expectOk(
      await this.#call("PUT", `/hosts/${encodeURIComponent(host)}/jobs`, { jobs }, options),
    );
  }

  /**
   * Every host's jobs: `GET /api/d/{id}/jobs`.
   *
   * @param options Signal and timeout.
   * @returns The checked fields of each job.
   */
  async jobs(options: CallOptions = {}): Promise<HostJob[]> {
    const answer = await this.#call("GET", "/jobs", undefined, {
      maxResponseBytes: MAX_JOBS_RESPONSE_BYTES,
      ...options,
    });
    const body = this.#json(this.#expectOk(answer));
    return array(body, "jobs").map((item, i) => {
      const job = object(item, `jobs[${i}]`);
      const where = (field: string) => `jobs[${i}].${field}`;
      return {
        host: hostName(job, "host", where("host")),
        tag: string(job, "tag", where("tag")),
        name: nullable(job, "name", string, where("name")),
        section: nullable(job, "section", string, where("section")),
        schedule: string(job, "schedule", where("schedule")),
        args: array(job, "args", where("args")).map((arg, j) =>
          jobArg(arg, `${where("args")}[${j}]`)
        ),
      };
    });
  }

  /**
   * Sends reports: `POST /api/d/{id}/hosts/{host}/reports`.
   *
   * @param host The host they come from.
   * @param reports The reports, in order.
   * @param options Signal and timeout.
   * @returns How many the server accepted (it ignores those it already has).
   */
  async postReports(
    host: string,
    reports: readonly Report[],
    options: CallOptions = {},
  ): Promise<number> {
    const path = `/hosts/${encodeURIComponent(host)}/reports`;
    const body = this.#json(this.#expectOk(await this.#call("POST", path, { reports }, options)));
    return count(body, "accepted");
  }

  /**
   * A run and its output after a sequence number: `GET /api/d/{id}/runs/{runId}?after=SEQ`.
   *
   * @param runId The run.
   * @param after Only chunks after this sequence number; null for all.
   * @param options Signal and timeout.
   * @returns The run's state and the chunks, in order.
   */
  async run(
    runId: string,
    after: number | null,
    options: CallOptions = {},
  ): Promise<{ run: RunState; output: OutputRecord[] }> {
    const query = after === null ? "" : `?after=${after}`;
    const answer = await this.#call(
      "GET",
      `/runs/${encodeURIComponent(runId)}${query}`,
      undefined,
      options,
    );
    const body = this.#json(this.#expectOk(answer));
    const run = object(body.run, "run");
    const status = string(run, "status", "run.status");
    if (!(RUN_STATUSES as readonly string[]).includes(status)) {
      throw invalid(`"run.status" is not a known status`);
    }
    const output = array(body, "output").map((item, i) => {
      const chunk = object(item, `output[${i}]`);
      const stream = string(chunk, "stream", `output[${i}].stream`);
      if (stream !== "stdout" && stream !== "stderr" && stream !== "koi") {
        throw invalid(`"output[${i}].stream" is not stdout, stderr or koi`);
      }
      return {
        seq: count(chunk, "seq", `output[${i}].seq`),
        stream,
        text: string(chunk, "text", `output[${i}].text`),
      } as OutputRecord;
    });
    return {
      run: {
        id: string(run, "id", "run.id"),
        status: status as RunState["status"],
        exitCode: nullable(run, "exitCode", integer, "run.exitCode"),
        signal: nullable(run, "signal", string, "run.signal"),
        error: nullable(run, "error", string, "run.error"),
      },
      output,
    };
  }

  /**
   * Queues a signed manual run: `POST /api/d/{id}/manual`.
   *
   * @param payload The payload text, exactly as signed.
   * @param signature Its signature.
   * @param options Signal and timeout.
   * @returns The manual run's id.
   */
  async postManual(payload: string, signature: string, options: CallOptions = {}): Promise<string> {
    const answer = await this.#call("POST", "/manual", { payload, signature }, options);
    return identifier(this.#json(this.#expectOk(answer)), "manualId");
  }

  /**
   * A manual run's state: `GET /api/d/{id}/manual/{manualId}`.
   *
   * @param manualId The manual run.
   * @param options Signal and timeout.
   * @returns Its checked state.
   */
  async manual(manualId: string, options: CallOptions = {}): Promise<ManualState> {
    const answer = await this.#call(
      "GET",
      `/manual/${encodeURIComponent(manualId)}`,
      undefined,
      options,
    );
    const manual = object(this.#json(this.#expectOk(answer)).manual, "manual");
    const state = string(manual, "state", "manual.state");
    if (!["queued", "claimed", "refused", "started", "cancelled"].includes(state)) {
      throw invalid(`"manual.state" is not queued, claimed, refused, started or cancelled`);
    }
    const runId = optional(manual, "runId", string, "manual.runId");
    if (state === "started" && runId === null) throw invalid(`"manual.runId" is missing`);
    return {
      id: string(manual, "id", "manual.id"),
      state: state as ManualState["state"],
      reason: optional(manual, "reason", string, "manual.reason"),
      runId,
    };
  }

  /**
   * Takes the manual runs queued for a host, waiting up to `waitSeconds` for one:
   * `GET /api/d/{id}/hosts/{host}/manual?wait=S`.
   *
   * @param host The host.
   * @param waitSeconds How long the server may hold the call (0: answer at once).
   * @param options Signal and timeout (which must exceed the wait).
   * @returns The runs, each with its id checked; payloads and signatures as received.
   */
  async pollManual(
    host: string,
    waitSeconds: number,
    options: CallOptions = {},
  ): Promise<ManualRequest[]> {
    const path = `/hosts/${encodeURIComponent(host)}/manual?wait=${waitSeconds}`;
    const body = this.#json(this.#expectOk(await this.#call("GET", path, undefined, options)));
    return array(body, "runs").map((item, i) => {
      const run = object(item, `runs[${i}]`);
      return {
        manualId: identifier(run, "manualId", `runs[${i}].manualId`),
        payload: run.payload,
        signature: run.signature,
      };
    });
  }

  #expectOk(answer: Answer): Answer {
    if (answer.status >= 200 && answer.status < 300) return answer;
    if (answer.status === 401) {
      throw new DashboardError(
        "the server refused the API key (a wrong password, or no such dashboard)",
        "status",
        401,
      );
    }
    if (answer.status >= 300 && answer.status < 400) {
      const location = answer.location === null ? "" : ` to ${clean(answer.location)}`;
      throw new DashboardError(
        `the server answered ${answer.status}, a redirect${location}: give the final URL`,
        "status",
        answer.status,
      );
    }
    throw new DashboardError(
      `the server answered ${answer.status}${serverMessage(answer.text)}`,
      "status",
      answer.status,
    );
  }

  #json(answer: Answer): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(answer.text);
    } catch {
      throw invalid("it is not JSON");
    }
    return object(value, "the answer");
  }

  async #call(
    method: string,
    path: string,
    body: unknown,
    options: CallOptions & { auth?: boolean },
  ): Promise<Answer> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const url = options.auth === false
      ? `${this.#server}${path}`
      : `${this.#server}/api/d/${this.#id}${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.auth !== false) headers.authorization = `Bearer ${this.#apiKey}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const seconds = `${Math.round(timeoutMs / 100) / 10} s`;
    const fail = (error: unknown): never => {
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout.aborted) {
        throw new DashboardError(`${this.#server} did not answer within ${seconds}`, "timeout");
      }
      if (error instanceof DashboardError) throw error;
      throw new DashboardError(`cannot reach ${this.#server}: ${networkReason(error)}`, "network");
    };
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        redirect: "manual",
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      return fail(error);
    }
    try {
      const text = await readLimited(response, options.maxResponseBytes ?? this.#maxBytes, signal);
      return { status: response.status, text, location: response.headers.get("location") };
    } catch (error) {
      return fail(error);
    }
  }
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly location: string | null;
}

/** Reads a body as UTF-8 text, refusing (and cancelling) past `maxBytes`. */
async function readLimited(
  response: Response,
  maxBytes: number,
  signal: AbortSignal,
): Promise<string> {
  try {
    return new TextDecoder().decode(await readBody(response, maxBytes, signal));
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    throw new DashboardError(
      `the server's answer is larger than ${maxBytes} bytes`,
      "answer",
      response.status,
    );
  }
}

/** The useful part of a fetch failure: "connection refused", not "fetch failed". */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  let text = cause instanceof Error
    ? cause.message
    : error instanceof Error
    ? error.message
    : String(error);
  const at = text.indexOf("client error (");
  if (at >= 0) text = text.slice(at).replace(/^client error \([^)]*\): /, "");
  return clean(text);
}

/** The `error` message of an error answer, cleaned for one log line. */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body?.error === "string" && body.error.trim()) return `: ${clean(body.error)}`;
  } catch {
    // Not JSON: the status alone says it.
  }
  return "";
}

/** Text from the server, made safe for one line of a log: no control characters, at most 200. */
function clean(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return plain.length > 200 ? `${plain.slice(0, 199)}…` : plain;
}

function invalid(what: string): DashboardError {
  return new DashboardError(`the server's answer is not valid: ${what}`, "answer");
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`${quote(what)} is not an object`);
  }
  return value as Record<string, unknown>;
}

function quote(what: string): string {
  return what === "the answer" ? what : `"${what}"`;
}

function array(body: Record<string, unknown>, key: string, what = key): unknown[] {
  const value = body[key];
  if (!Array.isArray(value)) throw invalid(`"${what}" is not an array`);
  return value;
}

function string(body: Record<string, unknown>, key: string, what = key): string {
  const value = body[key];
  if (typeof value !== "string") throw invalid(`"${what}" is not a string`);
  return value;
}

function number(body: Record<string, unknown>, key: string, what = key): number {
  const value = body[key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalid(`"${what}" is not a number`);
  }
  return value;
}

function integer(body: Record<string, unknown>, key: string, what = key): number {
  const value = body[key];
  if (!Number.isSafeInteger(value)) throw invalid(`"${what}" is not a whole number`);
  return value as number;
}

function count(body: Record<string, unknown>, key: string, what = key): number {
  const value = integer(body, key, what);
  if (value < 0) throw invalid(`"${what}" is negative`);
  return value;
}

function hostName(body: Record<string, unknown>, key: string, what = key): string {
  const value = string(body, key, what);
  if (!HOST_NAME.test(value)) throw invalid(`"${what}" is not a host name`);
  return value;
}

/** A short id from the server, used in URLs and reports. */
function identifier(body: Record<string, unknown>, key: string, what = key): string {
  const value = string(body, key, what);
  if (value.length === 0 || value.length > 200) throw invalid(`"${what}" is not 1-200 characters`);
  return value;
}

function nullable<T>(
  body: Record<string, unknown>,
  key: string,
  read: (body: Record<string, unknown>, key: string, what: string) => T,
  what: string,
): T | null {
  return body[key] === null ? null : read(body, key, what);
}

function optional<T>(
  body: Record<string, unknown>,
  key: string,
  read: (body: Record<string, unknown>, key: string, what: string) => T,
  what: string,
): T | null {
  return body[key] === undefined || body[key] === null ? null : read(body, key, what);
}

function refusal(
  body: Record<string, unknown>,
  key: string,
  what: string,
): { at: number; reason: string } {
  const value = object(body[key], what);
  return {
    at: number(value, "at", `${what}.at`),
    reason: clean(string(value, "reason", `${what}.reason`)),
  };
}

function jobArg(value: unknown, what: string): JobArg {
  const arg = object(value, what);
  const name = string(arg, "name", `${what}.name`);
  const type = string(arg, "type", `${what}.type`);
  if (!isArgType(type)) throw invalid(`"${what}.type" is not string, int or bool`);
  const given = arg.default;
  if (given === undefined || given === null) return { name, type };
  if (!fitsArgType(type, given)) throw invalid(`"${what}.default" is not a ${type}`);
  return { name, type, default: given };
}
