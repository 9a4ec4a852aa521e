/**
 * One HTTP/1.1 POST to a checked destination, written by hand over a TCP (and
 * TLS) connection so that the connection goes to the address that was checked
 * (see `destination.ts`), while TLS verifies the certificate against the URL's
 * name. Redirects are never followed: a 3xx is a failure like any other answer
 * outside 2xx.
 *
 * @module
 */

import { type ConnectionOptions, withSession } from "./connection.ts";
import { writeAll } from "../../files.ts";
import { DeliveryError, oneLine } from "./delivery_error.ts";
import { VERSION } from "../../version.ts";

/** The most bytes of an answer's head that are read. */
const MAX_HEAD_BYTES = 16 * 1024;
/** The most characters of an error answer's body kept for the alert history. */
const MAX_REASON_CHARS = 200;

/** A request to post. */
export interface PostRequest {
  /** An `http:` or `https:` URL; user and password in it go out as Basic authorization. */
  readonly url: string;
  /** The `Content-Type`. */
  readonly contentType: string;
  /** The body. */
  readonly body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Posts a body and reads the answer's status.
 *
 * @param request The URL, type and body.
 * @param options The destination policy, the time limit and extra roots.
 * @returns The status, when it is 2xx.
 * @throws {DeliveryError} For any other answer (retried for 5xx and 429, not for
 * other 4xx or 3xx), a refused destination, a timeout or a failed connection.
 */
export function postOnce(request: PostRequest, options: ConnectionOptions): Promise<number> {
  const url = new URL(request.url);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Promise.reject(new DeliveryError(`cannot post to a ${url.protocol} URL`, false));
  }
  const https = url.protocol === "https:";
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  return withSession(options, async (session) => {
    const tcp = await session.connect(url.hostname, port);
    const conn = https ? await session.startTls(tcp.conn, tcp.name) : tcp.conn;
    const body = encoder.encode(request.body);
    await writeAll(conn, encoder.encode(requestHead(url, request.contentType, body.length)));
    await writeAll(conn, body);
    const answer = await readAnswer(conn);
    if (answer.status >= 200 && answer.status < 300) return answer.status;
    throw statusFailure(answer);
  });
}

/** The request line and headers. */
function requestHead(url: URL, contentType: string, length: number): string {
  const lines = [
    `POST ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    `User-Agent: Koi-dashboard/${VERSION}`,
    `Content-Type: ${contentType}`,
    `Content-Length: ${length}`,
    "Connection: close",
  ];
  if (url.username !== "" || url.password !== "") {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    const pair = encoder.encode(`${user}:${password}`);
    lines.push(`Authorization: Basic ${btoa(String.fromCharCode(...pair))}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  /** The body bytes that came with the head. */
  start: Uint8Array;
}

/** Reads the status line and headers, and whatever of the body came with them. */
async function readAnswer(conn: Deno.Conn): Promise<Answer> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  while (true) {
    const read = await conn.read(buffer.subarray(length));
    if (read === null) {
      throw new DeliveryError(
        length === 0 ? "the server closed the connection without answering" : "a cut-off answer",
        true,
      );
    }
    length += read;
    const end = headEnd(buffer.subarray(0, length));
    if (end >= 0) {
      const [statusLine, ...headerLines] = decoder.decode(buffer.subarray(0, end)).split("\r\n");
      const match = /^HTTP\/1\.[01] ([0-9]{3})(?: |$)/.exec(statusLine!);
      if (match === null) throw new DeliveryError("the answer is not HTTP/1.1", true);
      const headers = new Map<string, string>();
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
      }
      return { status: Number(match[1]), headers, start: buffer.slice(end + 4, length) };
    }
    if (length === buffer.length) throw new DeliveryError("the answer's head is too long", true);
  }
}

/** Where the blank line after the headers starts, or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** The error for an answer outside 2xx, with the start of its body as the reason. */
function statusFailure(answer: Answer): DeliveryError {
  const { status, headers } = answer;
  let text = decoder.decode(answer.start);
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    text = text.replace(/^[0-9A-Fa-f]+[^\r\n]*\r\n/, "").replace(/\r\n0\r\n[\s\S]*$/, "");
  }
  const reason = oneLine(text).slice(0, MAX_REASON_CHARS);
  const said = reason === "" ? "" : `: ${reason}`;
  if (status >= 300 && status < 400) {
    const location = headers.has("location") ? " (redirects are not followed)" : "";
    return new DeliveryError(`HTTP ${status}${location}`, false);
  }
  if (status === 429) {
    return new DeliveryError(`HTTP 429${said}`, true, retryAfterMs(headers.get("retry-after")));
  }
  return new DeliveryError(`HTTP ${status}${said}`, status >= 500);
}

/** `Retry-After` in ms: seconds, or an HTTP date; null when absent or unreadable. */
function retryAfterMs(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (/^[0-9]{1,7}$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
