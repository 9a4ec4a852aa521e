/**
 * The dashboard server's HTTP API, as koid and `koitab -d` call it: one typed
 * method per call, each bounded in time (a timeout that covers the whole answer,
 * body included) and in size (the body is read up to a limit), and every field of
 * every answer checked before it is used, by the contract's own checks
 * (`../protocol/answers.ts`). A server that hangs, resets, answers
 * garbage or never stops answering costs a clear {@linkcode DashboardError},
 * nothing more.
 *
 * @module
 */

import {
  type ChannelSummary,
  type DashboardSummary,
  type HostJob,
  type ManualStatus,
  parseAcceptedAnswer,
  parseChannelsAnswer,
  parseDashboardAnswer,
  parseJobsAnswer,
  parseManualAnswer,
  parseMutesAnswer,
  parsePollAnswer,
  parseQueuedAnswer,
  parseRunAnswer,
  type PolledManual,
  type RunAnswer,
} from "../protocol/answers.ts";
import type { Mute } from "../protocol/alerts.ts";
import { FieldError } from "../protocol/fields.ts";
import { DASHBOARD_ID, type Job, type Report } from "../protocol/wire.ts";
import { BodyTooLargeError, readBody } from "../read_body.ts";

export type { DashboardSummary, HostJob, ManualStatus, PolledManual, RunAnswer };

/** How long a call may take by default, answer included. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The largest answer read by default; the server's largest legitimate answers are far smaller. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/**
 * The largest answer to `GET /jobs`, which lists every host's jobs: one host's
 * list alone may take 13 MB (see `MAX_JOB_LIST_BYTES`), more with each job's view.
 */
export const MAX_JOBS_RESPONSE_BYTES = 256 * 1024 * 1024;

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
  async info(options: CallOptions = {}): Promise<DashboardSummary> {
    const answer = await this.#call("GET", "", undefined, options);
    const info = this.#read(answer, parseDashboardAnswer);
    return {
      ...info,
      hosts: info.hosts.map((host) =>
        host.jobListRefused === null ? host : {
          ...host,
          jobListRefused: { ...host.jobListRefused, reason: clean(host.jobListRefused.reason) },
        }
      ),
    };
  }

  /**
   * The dashboard's alert channels: `GET /api/d/{id}/channels`.
   *
   * @param options Signal and timeout.
   * @returns Each channel's kind and where it sends.
   */
  async channels(options: CallOptions = {}): Promise<ChannelSummary[]> {
    return this.#read(
      await this.#call("GET", "/channels", undefined, options),
      parseChannelsAnswer,
    );
  }

  /**
   * The hosts and jobs whose alerts are muted: `GET /api/d/{id}/mutes`.
   *
   * @param options Signal and timeout.
   * @returns The mutes.
   */
  async mutes(options: CallOptions = {}): Promise<Mute[]> {
    return this.#read(await this.#call("GET", "/mutes", undefined, options), parseMutesAnswer);
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
    return this.#read(answer, parseJobsAnswer);
  }

  /**
   * Sends reports: `POST /api/d/{id}/hosts/{host}/reports`.
   *
   * @param host The host they come from.
   * @param reports The reports, in order.
   * @param options Signal and timeout.
   * @returns How many the server took: repeated reports too (each is idempotent, stored once).
   */
  async postReports(
    host: string,
    reports: readonly Report[],
    options: CallOptions = {},
  ): Promise<number> {
    const path = `/hosts/${encodeURIComponent(host)}/reports`;
    return this.#read(await this.#call("POST", path, { reports }, options), parseAcceptedAnswer);
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
  ): Promise<RunAnswer> {
    const query = after === null ? "" : `?after=${after}`;
    const answer = await this.#call(
      "GET",
      `/runs/${encodeURIComponent(runId)}${query}`,
      undefined,
      options,
    );
    return this.#read(answer, parseRunAnswer);
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
    return this.#read(answer, parseQueuedAnswer);
  }

  /**
   * A manual run's state: `GET /api/d/{id}/manual/{manualId}`.
   *
   * @param manualId The manual run.
   * @param options Signal and timeout.
   * @returns Its checked state.
   */
  async manual(manualId: string, options: CallOptions = {}): Promise<ManualStatus> {
    const answer = await this.#call(
      "GET",
      `/manual/${encodeURIComponent(manualId)}`,
      undefined,
      options,
    );
    return this.#read(answer, parseManualAnswer);
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
  ): Promise<PolledManual[]> {
    const path = `/hosts/${encodeURIComponent(host)}/manual?wait=${waitSeconds}`;
    return this.#read(await this.#call("GET", path, undefined, options), parsePollAnswer);
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

  /** A successful answer's JSON body, checked by `parse`. */
  #read<T>(answer: Answer, parse: (body: unknown) => T): T {
    this.#expectOk(answer);
    let value: unknown;
    try {
      value = JSON.parse(answer.text);
    } catch {
      throw invalid("it is not JSON");
    }
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof FieldError) throw invalid(error.message);
      throw error;
    }
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
