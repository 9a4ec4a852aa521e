/**
 * The real dashboard server for the tests of koid's link and of `koitab -d`:
 * `startServer()` in process on an in-memory Deno KV, behind a front on
 * 127.0.0.1 that records every request and can be told to misbehave, as a rogue
 * or failing server would. Nothing of the API is kept here: what the server
 * stored is read back through its API, with the same client koid uses.
 *
 * The front can be stopped and started again on the same port (an outage: the
 * server and its store keep their state), answer in place of the server (hang,
 * 500, garbage, huge or endless answers), or hand a host manual runs the server
 * never queued (a rogue server's forged, replayed or malformed requests).
 *
 * @module
 */

import { DashboardClient } from "../lib/link/client.ts";
import type { Job, ManualReport, Report } from "../lib/protocol/wire.ts";
import { type DashboardServer, startServer } from "../lib/server/server.ts";
import { openJob } from "../lib/protocol/sealed.js";
import { openReports } from "./_sealed.ts";

/** A request as the front received it, and the status it was answered with. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly authorization: string | null;
  /**
   * The body with what koid sealed opened (reports and job lists of a dashboard
   * created with its data key), for the tests that check what koid said; else
   * the body itself.
   */
  opened: unknown;
  /** The answer's status; 0 while unanswered. */
  status: number;
  /** Whether the server answered it (rather than the front misbehaving in its place). */
  served: boolean;
}

/** Decides a request's answer instead of the server; null lets the server answer. */
export type Misbehaviour = (
  request: Request,
  url: URL,
  body: unknown,
) => Promise<Response | null> | Response | null;

/** A dashboard's id and API key, and its data key to open what koid seals. */
export interface DashboardKeys {
  readonly id: string;
  readonly apiKey: string;
  readonly dataKey?: string;
}

/** A manual run a rogue front hands out, never queued on the server. */
interface Injected {
  readonly manualId: string;
  readonly host: string;
  readonly payload: unknown;
  readonly signature: unknown;
}

/** The real server behind a recording, tampering front. */
export class TestDashboard {
  readonly kv: Deno.Kv;
  readonly server: DashboardServer;
  /** Every request the front received, in order. */
  readonly received: Received[] = [];
  /** Set to answer requests in place of the server. */
  misbehave: Misbehaviour | null = null;
  readonly #keys = new Map<string, string>();
  readonly #dataKeys = new Map<string, string>();
  #front: Deno.HttpServer<Deno.NetAddr> | null = null;
  #port = 0;
  #release = new AbortController();
  #injected: Injected[] = [];
  #injectedWake = new Set<() => void>();
  #nextInjected = 1;

  private constructor(kv: Deno.Kv, server: DashboardServer) {
    this.kv = kv;
    this.server = server;
  }

  /**
   * Starts the server and its front.
   *
   * @param now The server's clock, ms since the epoch.
   * @returns The running dashboard.
   */
  static async start(now?: () => number): Promise<TestDashboard> {
    const kv = await Deno.openKv(":memory:");
    const server = await startServer({
      kv,
      port: 0,
      pruneEveryMs: 0,
      recheckMs: 100,
      log: () => {},
      ...(now === undefined ? {} : { now }),
    });
    return new TestDashboard(kv, server).start();
  }

  /**
   * Starts the front, on `port` (0: any free port; the last one used by default).
   *
   * @returns This dashboard.
   */
  start(port = this.#port): this {
    this.#release = new AbortController();
    this.#front = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.#port = this.#front.addr.port;
    return this;
  }

  /** The front's port. */
  get port(): number {
    return this.#port;
  }

  /** The front's base URL: what koid and koitab are given. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** A signal that aborts when the front stops: for answers it holds. */
  get released(): AbortSignal {
    return this.#release.signal;
  }

  /** Stops the front only (an outage): held answers end, the server keeps its state. */
  async stop(): Promise<void> {
    this.#release.abort();
    for (const wake of this.#injectedWake) wake();
    await this.#front?.shutdown();
    this.#front = null;
  }

  /** Stops the front and the server, and closes the store. */
  async close(): Promise<void> {
    if (this.#front !== null) await this.stop();
    await this.server.shutdown();
    this.kv.close();
  }

  /**
   * Creates a dashboard on the server, as `koitab -d new` would.
   *
   * @param keys Its id and API key.
   */
  async create(keys: DashboardKeys): Promise<void> {
    this.#keys.set(keys.id, keys.apiKey);
    if (keys.dataKey !== undefined) this.#dataKeys.set(keys.id, keys.dataKey);
    await new DashboardClient({ server: this.server.url, id: keys.id, apiKey: keys.apiKey })
      .create();
  }

  /**
   * The API of a dashboard this test created, straight to the server (not
   * through the front), with the client koid and koitab use.
   *
   * @param id The dashboard id.
   * @returns The client.
   */
  client(id: string): DashboardClient {
    const apiKey = this.#keys.get(id);
    if (apiKey === undefined) throw new Error(`no dashboard ${id} was created in this test`);
    return new DashboardClient({ server: this.server.url, id, apiKey, timeoutMs: 5000 });
  }

  /**
   * Resolves when `done` holds, checked every 20 ms; fails after `ms`.
   *
   * @param done The condition, possibly asking the server.
   * @param what What is awaited, for the failure.
   * @param ms How long to wait.
   */
  async until(done: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!await done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Requests received for a path ending so, optionally with a method. */
  count(suffix: string, method?: string): number {
    return this.received.filter((r) => r.path.endsWith(suffix) && (!method || r.method === method))
      .length;
  }

  /** Each job list the server took (it answered 204), in order, with its host. */
  get jobPuts(): { host: string; jobs: Job[] }[] {
    return this.received.filter((r) => r.served && r.method === "PUT" && r.status === 204).map((
      r,
    ) => ({
      host: decodeURIComponent(r.path.split("/").at(-2)!),
      jobs: (r.opened as { jobs: Job[] }).jobs,
    }));
  }

  /** Every report of the batches the server took (it answered 200), in the order sent. */
  get reports(): Report[] {
    return this.#reportBatches().flatMap((r) => (r.opened as { reports: Report[] }).reports);
  }

  /**
   * Reports sent again after the server took them once (a batch retried): each
   * report is once per run id (start, end), `(runId, seq)` (output) or manual id.
   */
  get duplicates(): number {
    const keys = this.reports.map((r) =>
      r.type === "start"
        ? `start ${r.run.id}`
        : r.type === "output"
        ? `output ${r.runId} ${r.seq}`
        : r.type === "end"
        ? `end ${r.runId}`
        : `manual ${r.manualId}`
    );
    return keys.length - new Set(keys).size;
  }

  /** koid's answer to a manual run, as reported to the server; undefined before it answers. */
  answer(manualId: string): ManualReport | undefined {
    return this.reports.find((r): r is ManualReport =>
      r.type === "manual" && r.manualId === manualId
    );
  }

  /**
   * Hands a host a manual run the server never queued, with its next poll, as a
   * rogue server could: any payload, any signature.
   *
   * @returns The manual id it is handed out with.
   */
  inject(host: string, payload: unknown, signature: unknown): string {
    const manualId = `rogue${this.#nextInjected++}`;
    this.#injected.push({ manualId, host, payload, signature });
    for (const wake of this.#injectedWake) wake();
    return manualId;
  }

  #reportBatches(): Received[] {
    return this.received.filter((r) =>
      r.served && r.method === "POST" && r.path.endsWith("/reports") && r.status === 200
    );
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const text = await request.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const received: Received = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      body,
      opened: await this.#open(url, body),
      authorization: request.headers.get("authorization"),
      status: 0,
      served: false,
    };
    this.received.push(received);
    const answer = await this.misbehave?.(request, url, body) ??
      await this.#injectedRuns(request, url, received) ??
      await this.#forward(request, url, text, received);
    received.status = answer.status;
    return answer;
  }

  /** A body with koid's sealed fields opened, when this test gave the dashboard's data key. */
  async #open(url: URL, body: unknown): Promise<unknown> {
    const [, id, host, what] = /^\/api\/d\/([^/]+)\/hosts\/([^/]+)\/(reports|jobs)$/
      .exec(url.pathname) ?? [];
    const dataKey = this.#dataKeys.get(id ?? "");
    if (dataKey === undefined || typeof body !== "object" || body === null) return body;
    const name = decodeURIComponent(host!);
    try {
      if (what === "reports") {
        const { reports } = body as { reports: Report[] };
        return { ...body, reports: await openReports(dataKey, id!, name, reports) };
      }
      const { jobs } = body as { jobs: Job[] };
      return {
        ...body,
        jobs: await Promise.all(jobs.map(async (job) => {
          const { host: _, ...opened } = await openJob(dataKey, id!, { ...job, host: name });
          return opened;
        })),
      };
    } catch {
      return body; // Not what koid sends: the server judges it.
    }
  }

  /** A host's poll answered with the runs injected for it; null when there are none. */
  async #injectedRuns(request: Request, url: URL, received: Received): Promise<Response | null> {
    const host = /\/hosts\/([^/]+)\/manual$/.exec(url.pathname)?.[1];
    if (request.method !== "GET" || host === undefined) return null;
    const take = () => {
      const runs = this.#injected.filter((run) => run.host === decodeURIComponent(host));
      this.#injected = this.#injected.filter((run) => !runs.includes(run));
      return runs;
    };
    let runs = take();
    if (runs.length === 0) {
      // Held by the server meanwhile: an injection ends the wait, as a queued run would.
      const injected = new AbortController();
      const wake = () => injected.abort();
      this.#injectedWake.add(wake);
      try {
        const answer = await this.#forward(
          request,
          url,
          "",
          received,
          AbortSignal.any([request.signal, injected.signal]),
        );
        if (!injected.signal.aborted) return answer;
      } finally {
        this.#injectedWake.delete(wake);
      }
      runs = take();
    }
    return Response.json({
      runs: runs.map(({ manualId, payload, signature }) => ({ manualId, payload, signature })),
    });
  }

  async #forward(
    request: Request,
    url: URL,
    text: string,
    received: Received,
    signal: AbortSignal = request.signal,
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    for (const name of ["authorization", "content-type", "if-none-match"]) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    try {
      const answer = await fetch(`${this.server.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        signal: AbortSignal.any([signal, this.released]),
        ...(text === "" ? {} : { body: text }),
      });
      const bytes = await answer.arrayBuffer();
      received.served = true;
      // 204 and 304 carry no body.
      return new Response(bytes.byteLength === 0 ? null : bytes, {
        status: answer.status,
        headers: answer.headers,
      });
    } catch (error) {
      if (signal.aborted) return new Response(null, { status: 499 });
      return Response.json({ error: `the front is stopping: ${error}` }, { status: 503 });
    }
  }
}

/** Misbehaviours, for `TestDashboard.misbehave`. */
export const misbehaviours = {
  /** Never answers (until the front stops). */
  hang: (dashboard: TestDashboard) => (): Promise<Response> =>
    new Promise((resolve) => {
      dashboard.released.addEventListener("abort", () => resolve(new Response("late")), {
        once: true,
      });
    }),
  /** A 500 with an HTML body. */
  error500: () => new Response("<h1>Internal Server Error</h1>", { status: 500 }),
  /** A 503, JSON. */
  unavailable: () => Response.json({ error: "down for maintenance" }, { status: 503 }),
  /** 200 with a body that is not JSON. */
  garbage: () => new Response('{"accepted": 1, "runs": [', { status: 200 }),
  /** 200 with JSON of the wrong shape. */
  wrongShape: () => Response.json({ accepted: "all", runs: "none", jobs: 5 }),
  /** 200 with a 50 MB body, made as it is read. */
  huge: () => {
    const piece = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 50 * 1024 * 1024) return controller.close();
          sent += piece.length;
          controller.enqueue(piece);
        },
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    );
  },
  /** 200 with a body that never ends: a byte every 50 ms. */
  endless: () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => {
            try {
              controller.enqueue(new TextEncoder().encode(" "));
            } catch {
              clearInterval(timer);
            }
          }, 50);
        },
        cancel() {
          clearInterval(timer);
        },
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    );
  },
};

/**
 * Serves connection resets on a port: each connection is read from, then closed
 * without an answer.
 *
 * @returns A function that stops it.
 */
export function serveResets(port: number): () => Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const connections = new Set<Deno.Conn>();
  const accepting = (async () => {
    try {
      for await (const connection of listener) {
        connections.add(connection);
        connection.read(new Uint8Array(4096)).catch(() => null).finally(() => {
          connections.delete(connection);
          try {
            connection.close();
          } catch {
            // Already closed.
          }
        });
      }
    } catch {
      // The listener was closed.
    }
  })();
  return async () => {
    listener.close();
    for (const connection of connections) {
      try {
        connection.close();
      } catch {
        // Already closed.
      }
    }
    await accepting;
  };
}
