/**
 * `koitab -d open`: the dashboard page served from this installation on
 * 127.0.0.1, with its API calls forwarded to the dashboard's server. The server
 * then never delivers a line of the code that sees the password; it still
 * answers every API call, as it does for koid.
 *
 * @module
 */

import { dashboardPage, pageFilePath, pageFileResponse } from "../page/page.ts";
import { MAX_JOBS_RESPONSE_BYTES } from "../link/client.ts";

/** The largest request body forwarded: the page sends nothing larger (the server's own limit). */
export const MAX_FORWARDED_REQUEST_BYTES = 1024 * 1024;

/** The largest answer forwarded: the API's largest, the list of every host's jobs. */
export const MAX_FORWARDED_RESPONSE_BYTES = MAX_JOBS_RESPONSE_BYTES;

/**
 * How long the server may take to start answering (a long-poll lasts 25 s at
 * most), and then may pause between two parts of its answer.
 */
export const FORWARD_TIMEOUT_MS = 60_000;

/** The request headers the page's calls need; cookies and the like stay here. */
const REQUEST_HEADERS = ["authorization", "content-type", "accept", "if-none-match"];

/** The answer headers the page reads or the browser should obey. */
const RESPONSE_HEADERS = [
  "content-type",
  "cache-control",
  "etag",
  "allow",
  "retry-after",
  "www-authenticate",
];

/** Where `koitab -d open` serves, and for which dashboard. */
export interface LocalPageOptions {
  /** The dashboard server's base URL, as `normalizeServer` gives it. */
  readonly server: string;
  /** The dashboard id: the page is served for it alone, and only its API is forwarded. */
  readonly id: string;
  /** The port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** See {@linkcode FORWARD_TIMEOUT_MS}; tests shorten it. */
  readonly timeoutMs?: number;
  /** Where problems go (the server unreachable, a page file unreadable). */
  readonly log: (line: string) => void;
}

/** A running local page server. */
export interface LocalPage {
  /** The dashboard's page on it: `http://127.0.0.1:PORT/d/ID`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops listening, after the calls in flight; once. */
  shutdown(): Promise<void>;
}

/**
 * Serves the dashboard page from this installation on 127.0.0.1: `/d/ID` and
 * the files under `/ui/` and `/protocol/` from the local copy (`/` leads to
 * `/d/ID`), and `/api/d/ID` and below forwarded to the server, streamed both
 * ways with status and the headers that matter. Requests naming another host
 * than 127.0.0.1 or localhost are refused, so a web site cannot reach it by
 * pointing its own name at 127.0.0.1.
 *
 * @param options The server, the dashboard, the port.
 * @returns The running local server.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 */
export async function serveLocalPage(options: LocalPageOptions): Promise<LocalPage> {
  const timeoutMs = options.timeoutMs ?? FORWARD_TIMEOUT_MS;
  const api = `/api/d/${options.id}`;
  let port = options.port;
  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const host = request.headers.get("host");
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return jsonError(421, `This serves 127.0.0.1:${port} only, not "${host}"`);
    }
    const path = url.pathname;
    if (path === api || path.startsWith(`${api}/`)) {
      return await forward(request, `${options.server}${path}${url.search}`, timeoutMs);
    }
    const file = pageFilePath(path);
    const isPage = path === "/" || path === `/d/${options.id}` || file !== null;
    if (!isPage) return jsonError(404, "Not found");
    if (request.method !== "GET") {
      return jsonError(405, `Method ${request.method} is not allowed here`, { allow: "GET" });
    }
    if (path === "/") {
      return new Response(null, { status: 303, headers: { location: `/d/${options.id}` } });
    }
    if (file === null) return dashboardPage();
    try {
      return await pageFileResponse(file.folder, file.name, request);
    } catch (error) {
      options.log(`cannot read the page's file ${file.folder}/${file.name}: ${error}`);
      return jsonError(500, "The page's file cannot be read from this installation");
    }
  };
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port,
    onListen: resolve,
    onError: (error) => {
      // A forwarded answer cut off while it streamed: said in a line, not as a crash.
      options.log(
        error instanceof CutOff
          ? error.message
          : `internal error: ${(error as Error).stack ?? error}`,
      );
      return jsonError(500, "internal error");
    },
  }, handler);
  port = (await listening).port;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/d/${options.id}`,
    port,
    shutdown: () => stopped ??= server.shutdown(),
  };
}

/**
 * Forwards one API call: the body streamed up (at most
 * {@linkcode MAX_FORWARDED_REQUEST_BYTES}), the answer streamed back (at most
 * {@linkcode MAX_FORWARDED_RESPONSE_BYTES}), with a time limit on the wait for
 * the answer and on every pause in either body.
 */
async function forward(request: Request, target: string, timeoutMs: number): Promise<Response> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_FORWARDED_REQUEST_BYTES) {
    await request.body?.cancel();
    return jsonError(413, `The body is larger than ${MAX_FORWARDED_REQUEST_BYTES} bytes`);
  }
  const watchdog = new Watchdog(timeoutMs);
  const headers = new Headers();
  for (const name of REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  let tooLarge = false;
  const body = request.body === null ? null : bounded(
    request.body,
    MAX_FORWARDED_REQUEST_BYTES,
    watchdog,
    () => tooLarge = true,
  );
  const what = `the answer to ${request.method} ${new URL(target).pathname}`;
  let answer: Response;
  try {
    answer = await fetch(target, {
      method: request.method,
      headers,
      body,
      redirect: "manual",
      signal: watchdog.signal,
    });
  } catch (error) {
    watchdog.stop();
    if (tooLarge) {
      return jsonError(413, `The body is larger than ${MAX_FORWARDED_REQUEST_BYTES} bytes`);
    }
    const server = new URL(target).origin;
    return watchdog.signal.aborted
      ? jsonError(504, `The dashboard server ${server} did not answer in ${timeoutMs / 1000} s`)
      : jsonError(502, `Cannot reach the dashboard server ${server}: ${(error as Error).message}`);
  }
  watchdog.restart();
  const kept = new Headers({ "x-content-type-options": "nosniff" });
  for (const name of RESPONSE_HEADERS) {
    const value = answer.headers.get(name);
    if (value !== null) kept.set(name, value);
  }
  if (answer.body === null) watchdog.stop();
  const streamed = answer.body === null
    ? null
    : bounded(answer.body, MAX_FORWARDED_RESPONSE_BYTES, watchdog, () => {}, what);
  return new Response(streamed, { status: answer.status, headers: kept });
}

/** A forwarded body cut off: too large, or stalled. */
class CutOff extends Error {
  override name = "CutOff";
}

/**
 * A body passed on chunk by chunk, cut off with a {@linkcode CutOff} past
 * `maxBytes` or when the watchdog fires; each chunk restarts the watchdog, and
 * the end stops it.
 */
function bounded(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  watchdog: Watchdog,
  onTooLarge: () => void,
  what = "the request's body",
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let total = 0;
  const cut = async (controller: ReadableStreamDefaultController, reason: string) => {
    watchdog.stop();
    await reader.cancel().catch(() => {});
    controller.error(new CutOff(`cut off ${what}: ${reason}`));
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), watchdog.fired]);
      } catch (error) {
        await cut(
          controller,
          error instanceof DOMException && error.name === "TimeoutError"
            ? `nothing more came for ${watchdog.ms / 1000} s`
            : (error as Error).message,
        );
        return;
      }
      if (chunk.done) {
        watchdog.stop();
        controller.close();
        return;
      }
      total += chunk.value.length;
      if (total > maxBytes) {
        onTooLarge();
        await cut(controller, `it is larger than ${maxBytes} bytes`);
        return;
      }
      watchdog.restart();
      controller.enqueue(chunk.value);
    },
    async cancel(reason) {
      watchdog.stop();
      await reader.cancel(reason);
    },
  });
}

/** A time limit that can be restarted: it aborts its signal, and rejects `fired`, when it ends. */
class Watchdog {
  readonly #controller = new AbortController();
  /** The time allowed, ms. */
  readonly ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Rejects when the time is up. */
  readonly fired: Promise<never>;
  #fire!: (error: Error) => void;

  constructor(ms: number) {
    this.ms = ms;
    this.fired = new Promise<never>((_, reject) => this.#fire = reject);
    this.fired.catch(() => {});
    this.restart();
  }

  /** Aborted when the time is up. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Starts the time again. */
  restart(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const error = new DOMException(`no answer in ${this.ms} ms`, "TimeoutError");
      this.#controller.abort(error);
      this.#fire(error);
    }, this.ms);
  }

  /** Stops it for good. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}

function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}
