/**
 * A small fake of the dashboard server, for the tests of koid's link and of
 * `koitab -d`: just enough of the HTTP API (README, "The dashboard HTTP API"),
 * kept in memory, on 127.0.0.1. It records what it receives, can be stopped and
 * started again on the same port (its state kept, as after an outage), and can be
 * told to misbehave.
 *
 * @module
 */

import type { Job, Report } from "../lib/protocol/wire.ts";
import { verifyRun } from "../lib/protocol/keys.ts";

/** A request as the fake received it. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly authorization: string | null;
}

/** A manual run queued on the fake. */
export interface QueuedManual {
  readonly manualId: string;
  readonly host: string;
  readonly payload: unknown;
  readonly signature: unknown;
  state: "queued" | "claimed" | "refused" | "started";
  reason?: string;
  runId?: string;
  /** For runs posted to `/manual`: whether the signature verified under `runKey`. */
  verified?: boolean;
}

/** A run as the fake keeps it, from the reports. */
export interface FakeRun {
  run: Record<string, unknown>;
  output: { seq: number; stream: string; text: string }[];
}

/** Decides a request's answer instead of the fake; null lets the fake answer. */
export type Misbehaviour = (
  request: Request,
  url: URL,
  body: unknown,
) => Promise<Response | null> | Response | null;

/** The fake server. */
export class FakeDashboard {
  /** Dashboard id → API key. */
  readonly dashboards = new Map<string, string>();
  readonly received: Received[] = [];
  /** Each accepted job list, in order. */
  readonly jobPuts: { host: string; jobs: Job[] }[] = [];
  /** Every report accepted as new, in the order received. */
  readonly reports: Report[] = [];
  /** Reports received again (already had): a retried batch. */
  duplicates = 0;
  readonly manuals = new Map<string, QueuedManual>();
  readonly runs = new Map<string, FakeRun>();
  /** The run key, when the fake should check `POST /manual` signatures (a test knows it). */
  runKey: string | null = null;
  misbehave: Misbehaviour | null = null;
  /** Job lists the fake says it refused, by host, as `GET /api/d/{id}` reports them. */
  readonly refusedJobLists = new Map<string, { at: number; reason: string }>();
  /** Called for each manual run posted, after it is queued: a test can play koid. */
  onManual: ((manual: QueuedManual) => void) | null = null;
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #port = 0;
  #waiters = new Set<() => void>();
  #release = new AbortController();
  #nextManual = 1;
  readonly #seenReports = new Set<string>();

  /**
   * Starts serving, on `port` (0: any free port; the last one used by default after a stop).
   *
   * @returns This fake.
   */
  start(port = this.#port): this {
    this.#release = new AbortController();
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.#port = this.#server.addr.port;
    return this;
  }

  /** The port it listens (or listened) on. */
  get port(): number {
    return this.#port;
  }

  /** Its base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Stops serving: releases held requests, then waits for every connection to close. */
  async stop(): Promise<void> {
    this.#release.abort();
    for (const wake of this.#waiters) wake();
    await this.#server?.shutdown();
    this.#server = null;
  }

  /** Resolves when the fake's state satisfies `done`, checked every 20 ms; fails after `ms`. */
  async until(done: () => boolean, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A signal that aborts when the fake stops: for held answers. */
  get released(): AbortSignal {
    return this.#release.signal;
  }

  /**
   * Queues a manual run for a host, as if posted, without checking it.
   *
   * @returns Its manual id.
   */
  queue(host: string, payload: unknown, signature: unknown): string {
    const manualId = `m${this.#nextManual++}`;
    this.manuals.set(manualId, { manualId, host, payload, signature, state: "queued" });
    for (const wake of this.#waiters) wake();
    return manualId;
  }

  /** Requests received for a path ending so, optionally with a method. */
  count(suffix: string, method?: string): number {
    return this.received.filter((r) => r.path.endsWith(suffix) && (!method || r.method === method))
      .length;
  }

  /** Adds a report as a server would: idempotently, updating runs and manual runs. */
  #accept(host: string, report: Report): boolean {
    const key = report.type === "start"
      ? `start ${report.run.id}`
      : report.type === "output"
      ? `output ${report.runId} ${report.seq}`
      : report.type === "end"
      ? `end ${report.runId}`
      : `manual ${report.manualId}`;
    if (this.#seenReports.has(key)) {
      this.duplicates++;
      return false;
    }
    this.#seenReports.add(key);
    this.reports.push(report);
    if (report.type === "start") {
      this.runs.set(report.run.id, {
        run: {
          ...report.run,
          host,
          status: "running",
          finishedAt: null,
          exitCode: null,
          signal: null,
          error: null,
          outputBytes: 0,
        },
        output: [],
      });
    } else if (report.type === "output") {
      this.runs.get(report.runId)?.output.push({
        seq: report.seq,
        stream: report.stream,
        text: report.text,
      });
    } else if (report.type === "end") {
      // As the server does: the end's chunks replace what was streamed, numbered from 0.
      const run = this.runs.get(report.runId);
      if (run) {
        const { chunks, ...end } = report.end;
        run.run = { ...run.run, ...end };
        run.output = chunks.map((chunk, seq) => ({ seq, stream: chunk.stream, text: chunk.text }));
      }
    } else {
      const manual = this.manuals.get(report.manualId);
      if (manual) {
        manual.state = report.state;
        if (report.reason !== null) manual.reason = report.reason;
        if (report.runId !== null) manual.runId = report.runId;
      }
    }
    return true;
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
    this.received.push({
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      body,
      authorization: request.headers.get("authorization"),
    });
    const override = await this.misbehave?.(request, url, body);
    if (override) return override;
    return await this.#route(request, url, body);
  }

  async #route(request: Request, url: URL, body: unknown): Promise<Response> {
    const json = (value: unknown, status = 200) => Response.json(value, { status });
    const error = (status: number, message: string) => json({ error: message }, status);
    const { method } = request;
    if (url.pathname === "/api/dashboards" && method === "POST") {
      const { id, apiKey } = body as { id: string; apiKey: string };
      if (this.dashboards.has(id)) return error(409, "the id exists");
      this.dashboards.set(id, apiKey);
      return json({ id }, 201);
    }
    const match = /^\/api\/d\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!match) return error(404, "no such route");
    const id = match[1]!;
    const rest = match[2] ?? "";
    const key = this.dashboards.get(id);
    if (key === undefined || request.headers.get("authorization") !== `Bearer ${key}`) {
      return error(401, "wrong API key");
    }
    if (rest === "" && method === "GET") {
      const names = [...this.jobPuts.map((put) => put.host), ...this.refusedJobLists.keys()];
      const hosts = [...new Set(names)].map((host) => ({
        host,
        lastSeenAt: 1_700_000_000_000,
        jobCount: this.jobPuts.findLast((put) => put.host === host)?.jobs.length ?? 0,
        jobListRefused: this.refusedJobLists.get(host) ?? null,
      }));
      return json({ id, createdAt: 1_700_000_000_000, settings: {}, hosts });
    }
    if (rest === "" && method === "DELETE") {
      this.dashboards.delete(id);
      return new Response(null, { status: 204 });
    }
    if (rest === "/jobs" && method === "GET") {
      const latest = new Map(this.jobPuts.map((put) => [put.host, put.jobs]));
      const jobs = [...latest].flatMap(([host, list]) =>
        list.map((job) => ({ ...job, host, lastRun: null }))
      );
      return json({ jobs });
    }
    const hostRoute = /^\/hosts\/([^/]+)\/(jobs|reports|manual)$/.exec(rest);
    if (hostRoute) {
      const host = decodeURIComponent(hostRoute[1]!);
      if (hostRoute[2] === "jobs" && method === "PUT") {
        this.jobPuts.push({ host, jobs: (body as { jobs: Job[] }).jobs });
        return new Response(null, { status: 204 });
      }
      if (hostRoute[2] === "reports" && method === "POST") {
        let accepted = 0;
        for (const report of (body as { reports: Report[] }).reports) {
          if (this.#accept(host, report)) accepted++;
        }
        return json({ accepted });
      }
      if (hostRoute[2] === "manual" && method === "GET") {
        const wait = Number(url.searchParams.get("wait") ?? "0");
        const deadline = Date.now() + wait * 1000;
        while (true) {
          const queued = [...this.manuals.values()].filter((m) =>
            m.host === host && m.state === "queued"
          );
          if (queued.length > 0 || Date.now() >= deadline || this.released.aborted) {
            for (const m of queued) m.state = "claimed";
            return json({
              runs: queued.map(({ manualId, payload, signature }) => ({
                manualId,
                payload,
                signature,
              })),
            });
          }
          await new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer);
              this.#waiters.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, deadline - Date.now());
            this.#waiters.add(wake);
          });
        }
      }
    }
    if (rest === "/manual" && method === "POST") {
      const { payload, signature } = body as { payload: string; signature: string };
      const host = (JSON.parse(payload) as { host: string }).host;
      const manualId = this.queue(host, payload, signature);
      const manual = this.manuals.get(manualId)!;
      if (this.runKey !== null) manual.verified = await verifyRun(this.runKey, payload, signature);
      this.onManual?.(manual);
      return json({ manualId }, 202);
    }
    const manualRoute = /^\/manual\/([^/]+)$/.exec(rest);
    if (manualRoute && method === "GET") {
      const manual = this.manuals.get(decodeURIComponent(manualRoute[1]!));
      if (!manual) return error(404, "no such manual run");
      const { manualId, host, state, reason, runId } = manual;
      return json({
        manual: {
          id: manualId,
          host,
          tag: "",
          queuedAt: 0,
          state,
          ...(reason === undefined ? {} : { reason }),
          ...(runId === undefined ? {} : { runId }),
        },
      });
    }
    const runRoute = /^\/runs\/([^/]+)$/.exec(rest);
    if (runRoute && method === "GET") {
      const run = this.runs.get(decodeURIComponent(runRoute[1]!));
      if (!run) return error(404, "no such run");
      const after = Number(url.searchParams.get("after") ?? "-1");
      return json({ run: run.run, output: run.output.filter((chunk) => chunk.seq > after) });
    }
    return error(404, "no such route");
  }
}

/** Misbehaviours, for `FakeDashboard.misbehave`. */
export const misbehaviours = {
  /** Never answers (until the fake stops). */
  hang: (fake: FakeDashboard) => (): Promise<Response> =>
    new Promise((resolve) => {
      fake.released.addEventListener("abort", () => resolve(new Response("late")), {
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
