/**
 * The server's HTTP plumbing: request bodies read as a stream and cut off at a
 * size limit, JSON parsing with the reason for a failure, and the JSON and error
 * responses with their security headers. (The page's responses are `page/`'s.)
 *
 * @module
 */

import { BodyTooLargeError, readBody } from "../read_body.ts";

/** An error the server turns into a JSON error response with its status. */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Extra response headers, such as `Allow` for a 405. */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * Makes the error.
   *
   * @param status The HTTP status.
   * @param message What is wrong, for the client.
   * @param headers Extra response headers.
   */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

const API_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

/**
 * Reads a request's body as JSON, never holding more than `limit` bytes: a
 * `Content-Length` over the limit is refused before reading, and a streamed body
 * is cancelled as soon as it passes the limit.
 *
 * @param request The request.
 * @param limit The most bytes accepted.
 * @returns The parsed JSON.
 * @throws {HttpError} 413 over the limit; 400 for an empty body, text that is
 * not UTF-8, or text that is not JSON (the message says why).
 *
 * @example Bad JSON is a 400 that says why
 * ```ts
 * import { HttpError, readJsonBody } from "./http.ts";
 *
 * const request = new Request("http://x/", { method: "POST", body: "{nope" });
 * try {
 *   await readJsonBody(request, 1024);
 *   throw new Error("parsed");
 * } catch (error) {
 *   if (!(error instanceof HttpError) || error.status !== 400) throw error;
 * }
 * ```
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readBody(request, limit);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new HttpError(413, error.message);
    throw error;
  }
  if (bytes.length === 0) throw new HttpError(400, "The body is empty: a JSON object is expected");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "The body is not UTF-8 text");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `The body is not JSON: ${(error as Error).message}`);
  }
}

/**
 * A JSON response.
 *
 * @param status The HTTP status.
 * @param body The value to send as JSON.
 * @param headers Extra headers, such as an `ETag`.
 * @returns The response.
 */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return jsonTextResponse(status, JSON.stringify(body), headers);
}

/**
 * A JSON response of JSON text already made, with the API's headers.
 *
 * @param status The status.
 * @param json The body: JSON text.
 * @param headers More headers.
 * @returns The response.
 */
export function jsonTextResponse(
  status: number,
  json: string,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return new Response(json, { status, headers: { ...API_HEADERS, ...headers } });
}

/**
 * A 304: the client's copy, named by its `ETag`, is still the answer.
 *
 * @param etag The entity tag, quoted.
 * @returns The response, without a body.
 */
export function notModified(etag: string): Response {
  return new Response(null, { status: 304, headers: { ...API_HEADERS, etag } });
}

/**
 * The entity tags an `If-None-Match` header names, without quotes or `W/`.
 *
 * @param header The header's value, or null.
 * @returns The tags; empty for none (and for `*`, which no API answer uses).
 *
 * @example Weak and strong tags, in a list
 * ```ts
 * import { ifNoneMatch } from "./http.ts";
 *
 * const tags = ifNoneMatch('W/"a.1", "b"');
 * if (tags.join() !== "a.1,b") throw new Error(tags.join());
 * ```
 */
export function ifNoneMatch(header: string | null): string[] {
  return [...(header ?? "").matchAll(/(?:W\/)?"([^"]*)"/g)].map((match) => match[1]!);
}

/**
 * An empty response (204), with the API's headers.
 *
 * @returns The response.
 */
export function noContent(): Response {
  return new Response(null, { status: 204, headers: API_HEADERS });
}

/**
 * The JSON error response `{"error": message}`.
 *
 * @param status The HTTP status.
 * @param message What is wrong.
 * @param headers Extra headers.
 * @returns The response.
 */
export function errorResponse(
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { ...API_HEADERS, ...headers },
  });
}
