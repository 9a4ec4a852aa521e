/**
 * The dashboard HTTP server: routes, authentication, request parsing and size
 * limits, JSON errors. What is stored, and how, is the store's business
 * ({@linkcode DashboardStore}); the long-poll is {@linkcode ManualPoller}'s.
 *
 * @module
 */

import { fromBase64url, hashApiKey, timingSafeEqual } from "../protocol/keys.ts";
import { errorResponse, HttpError, jsonResponse, noContent, readJsonBody } from "./http.ts";
import { ConnectionDigests, hostStates, jobsAnswer, type JobsFeed } from "./jobs_feed.ts";
import { Listings } from "./listing.ts";
import { dashboardPage, homePage, pageFileResponse } from "../page/page.ts";
import { Periodic } from "./periodic.ts";
import { ManualPoller } from "./poll.ts";
import {
  FieldError,
  parseHostName,
  parseJobList,
  parseManualRequest,
  parseNewDashboard,
  parseQueryInteger,
  parseReports,
  parseSettingsPatch,
  parseToken,
} from "../protocol/schema.ts";
import { type Dashboard, DashboardStore } from "./store.ts";
import { AlertEngine } from "./alerts/engine.ts";
import { alertRoutes } from "./alerts/routes.ts";
import type { Resolver } from "./alerts/destination.ts";
import {
  BODY_LIMIT,
  DASHBOARD_ID,
  LARGE_BODY_LIMIT,
  MAX_JOB_LIST_BYTES,
  MAX_WAIT_SECONDS,
} from "../protocol/wire.ts";

/**
 * A host is connected while it polls for manual runs: koid starts a long-poll
 * at least every {@linkcode MAX_WAIT_SECONDS}, so a host unheard of for longer,
 * with some slack for the network, is not connected.
 */
export const CONNECTED_WITHIN_MS = MAX_WAIT_SECONDS * 1000 + 10_000;

/** How to run the server. */
export interface ServerOptions {
  /** The open store; the caller closes it after {@linkcode DashboardServer.shutdown}. */
  kv: Deno.Kv;
  /** The TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** The address to listen on. Default `127.0.0.1`, this machine only. */
  hostname?: string;
  /** The clock for stored times, ms since the epoch. */
  now?: () => number;
  /** How often waiting long-polls look at the store for runs queued elsewhere. Default 1000. */
  recheckMs?: number;
  /** How often old runs (and alerts) are pruned, ms; 0 never. Default hourly, and once at start. */
  pruneEveryMs?: number;
  /** Where log lines go. Default stderr, prefixed `dashboard: `. */
  log?: (line: string) => void;
  /** How alerts are found and sent. */
  alerts?: AlertOptions;
}

/** How alerts are found and sent. */
export interface AlertOptions {
  /** Whether webhooks and SMTP servers may be at private, loopback or link-local addresses. */
  allowPrivateDestinations?: boolean;
  /** The server's public address (`https://dash.example`), for the links in alerts. */
  publicUrl?: string | null;
  /** Extra root certificates for HTTPS and SMTP over TLS, PEM. */
  caCerts?: readonly string[];
  /** How often to look for missed runs and silent hosts, ms; 0 never. Default 10 s. */
  checkEveryMs?: number;
  /** How often to look at the queue of deliveries, ms; 0 never. Default 2 s. */
  deliverEveryMs?: number;
  /** A delivery's time limit, ms. Default 20 s. */
  deliveryTimeoutMs?: number;
  /** Resolves destination names; default Deno.resolveDns. */
  resolve?: Resolver;
}

/** A running server. */
export interface DashboardServer {
  /** Its base URL, such as `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Ends waiting long-polls, finishes requests in flight and stops listening; once. */
  shutdown(): Promise<void>;
}

/** What a route's handler gets. */
export interface Context {
  request: Request;
  url: URL;
  params: Record<string, string>;
  dashboard: Dashboard;
  /** Aborted when the client goes away or the server stops. */
  signal: AbortSignal;
}

/** A route's handler for one method. */
export type Handler = (context: Context) => Promise<Response>;

/** A route: its path, whether it needs the dashboard's key, and its handlers. */
export interface Route {
  /** Segments; `:name` matches any one segment. */
  path: string;
  /** Whether the call is under `/api/d/{id}` and needs the dashboard's key. */
  auth: boolean;
  methods: Partial<Record<string, Handler>>;
}

/** The hash compared with for an unknown dashboard, so it costs what a known one does. */
const NO_HASH = new Uint8Array(32);

/**
 * Starts the dashboard server.
 *
 * @param options The store, address and clock.
 * @returns The running server.
 *
 * @example Creating a dashboard on a server in memory
 * ```ts
 * import { startServer } from "./server.ts";
 *
 * const kv = await Deno.openKv(":memory:");
 * const server = await startServer({ kv, port: 0, pruneEveryMs: 0 });
 * const response = await fetch(`${server.url}/api/dashboards`, {
 *   method: "POST",
 *   body: JSON.stringify({ id: "Zm9vYmFyYmF6cXV4MTIzNA", apiKey: "k".repeat(43) }),
 * });
 * const body = await response.json();
 * await server.shutdown();
 * kv.close();
 * if (response.status !== 201 || body.id !== "Zm9vYmFyYmF6cXV4MTIzNA") throw new Error("create");
 * ```
 */
export async function startServer(options: ServerOptions): Promise<DashboardServer> {
  const log = options.log ?? ((line: string) => console.error(`dashboard: ${line}`));
  const store = new DashboardStore(options.kv, options.now);
  const poller = new ManualPoller(store, options.recheckMs ?? 1000, log);
  const stopping = new AbortController();
  const now = options.now ?? Date.now;
  const alertOptions = options.alerts ?? {};
  const engine = new AlertEngine({
    kv: options.kv,
    store,
    now,
    log,
    connectedMs: CONNECTED_WITHIN_MS,
    pruneEveryMs: options.pruneEveryMs ?? 3_600_000,
    ...alertOptions,
  });
  const feed: JobsFeed = {
    store,
    now,
    connectedWithinMs: CONNECTED_WITHIN_MS,
    connections: new ConnectionDigests(),
    listings: new Listings(),
  };
  const routes = [
    ...apiRoutes(poller, engine, feed),
    ...alertRoutes({
      engine,
      now,
      allowPrivateDestinations: alertOptions.allowPrivateDestinations ?? false,
      publicUrl: alertOptions.publicUrl ?? null,
    }),
  ];

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const match = matchRoute(routes, url.pathname);
    if (match === null) return errorResponse(404, "Not found");
    const { route, params } = match;
    const allowed = Object.keys(route.methods);
    const handle = route.methods[request.method];
    if (handle === undefined) {
      return errorResponse(405, `Method ${request.method} is not allowed here`, {
        allow: allowed.join(", "),
      });
    }
    try {
      const dashboard = route.auth ? await authenticate(store, request, params.id!) : null;
      return await handle({
        request,
        url,
        params,
        dashboard: dashboard!,
        signal: stopping.signal,
      });
    } catch (error) {
      if (error instanceof HttpError) {
        return errorResponse(error.status, error.message, error.headers);
      }
      if (error instanceof FieldError) return errorResponse(400, error.message);
      // The route's pattern, not the path: no ids or keys in the log.
      log(`internal error in ${request.method} ${route.path}: ${(error as Error).stack ?? error}`);
      return errorResponse(500, "internal error");
    }
  };

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: options.port ?? 8080,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: resolve,
    onError: (error) => {
      log(`internal error: ${(error as Error).stack ?? error}`);
      return errorResponse(500, "internal error");
    },
  }, handler);
  const address = await listening;
  const pruner = new Periodic(options.pruneEveryMs ?? 3_600_000, async () => {
    try {
      await store.pruneAll();
    } catch (error) {
      log(`cannot prune old runs: ${(error as Error).message}`);
    }
  });
  engine.start();
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    shutdown() {
      stopped ??= (async () => {
        stopping.abort();
        await server.shutdown();
        await poller.close();
        await pruner.stop();
        await engine.stop();
      })();
      return stopped;
    },
  };
}

/** The API's routes, the two pages, and the files the pages load. */
function apiRoutes(poller: ManualPoller, engine: AlertEngine, feed: JobsFeed): Route[] {
  const { store, now } = feed;
  const host = (context: Context) => parseHostName(context.params.host!);
  return [
    {
      path: "/",
      auth: false,
      methods: { GET: () => Promise.resolve(homePage()) },
    },
    {
      path: "/d/:id",
      auth: false,
      methods: {
        GET: ({ params }) =>
          Promise.resolve(
            DASHBOARD_ID.test(params.id!) ? dashboardPage() : errorResponse(404, "Not found"),
          ),
      },
    },
    {
      path: "/ui/:file",
      auth: false,
      methods: { GET: ({ request, params }) => pageFileResponse("ui", params.file!, request) },
    },
    {
      path: "/protocol/:file",
      auth: false,
      methods: {
        GET: ({ request, params }) => pageFileResponse("protocol", params.file!, request),
      },
    },
    {
      path: "/api/dashboards",
      auth: false,
      methods: {
        async POST({ request }) {
          const { id, apiKey } = parseNewDashboard(await readJsonBody(request, BODY_LIMIT));
          if (!await store.createDashboard(id, await hashApiKey(apiKey))) {
            throw new HttpError(409, `A dashboard with id "${id}" exists`);
          }
          return jsonResponse(201, { id });
        },
      },
    },
    {
      path: "/api/d/:id",
      auth: true,
      methods: {
        async GET({ dashboard }) {
          const { id, createdAt, settings } = dashboard;
          const hosts = hostStates(await store.listHosts(id), now(), {
            connectedMs: CONNECTED_WITHIN_MS,
            silentMs: settings.hostSilentSeconds * 1000,
          });
          return jsonResponse(200, { id, createdAt, settings, hosts });
        },
        async DELETE({ dashboard }) {
          await store.deleteDashboard(dashboard.id);
          await engine.alerts.forgetDashboard(dashboard.id);
          return noContent();
        },
      },
    },
    {
      path: "/api/d/:id/settings",
      auth: true,
      methods: {
        async PATCH({ request, dashboard }) {
          const patch = parseSettingsPatch(await readJsonBody(request, BODY_LIMIT));
          const settings = await store.updateSettings(dashboard.id, patch);
          if (settings === null) throw unauthorized();
          return jsonResponse(200, { settings });
        },
      },
    },
    {
      path: "/api/d/:id/hosts/:host/jobs",
      auth: true,
      methods: {
        async PUT(context) {
          const name = host(context);
          let jobs;
          try {
            jobs = parseJobList(await readJsonBody(context.request, MAX_JOB_LIST_BYTES));
          } catch (error) {
            // The page and koitab -d say that the list shown is out of date, and why.
            if (error instanceof FieldError || error instanceof HttpError) {
              await store.refuseJobs(context.dashboard.id, name, error.message);
            }
            throw error;
          }
          await store.replaceJobs(context.dashboard.id, name, jobs);
          return noContent();
        },
      },
    },
    {
      path: "/api/d/:id/jobs",
      auth: true,
      methods: {
        GET: ({ request, url, dashboard }) =>
          jobsAnswer(feed, dashboard, request, url.searchParams),
      },
    },
    {
      path: "/api/d/:id/hosts/:host/reports",
      auth: true,
      methods: {
        async POST(context) {
          const name = host(context);
          const reports = parseReports(await readJsonBody(context.request, LARGE_BODY_LIMIT));
          const { id, settings } = context.dashboard;
          const accepted = await store.applyReports(id, name, reports, settings);
          // Before the answer: koid sends the batch again until answered, so no end is
          // stored without its alert raised.
          await engine.reportsStored(id, name, reports);
          return jsonResponse(200, { accepted });
        },
      },
    },
    {
      path: "/api/d/:id/runs",
      auth: true,
      methods: {
        async GET({ url, dashboard }) {
          const query = url.searchParams;
          const hostName = query.get("host");
          const tag = query.get("tag");
          const runs = await store.listRuns(dashboard.id, {
            host: hostName === null ? undefined : parseHostName(hostName),
            tag: tag === null ? undefined : parseToken(tag, "tag"),
            limit: parseQueryInteger(query.get("limit"), "limit", 1, 500) ?? 50,
            before: parseQueryInteger(query.get("before"), "before", 0, Number.MAX_SAFE_INTEGER) ??
              undefined,
          });
          return jsonResponse(200, { runs });
        },
      },
    },
    {
      path: "/api/d/:id/runs/:runId",
      auth: true,
      methods: {
        async GET({ url, params, dashboard }) {
          const runId = parseToken(params.runId!, "runId");
          const after = parseQueryInteger(
            url.searchParams.get("after"),
            "after",
            0,
            Number.MAX_SAFE_INTEGER,
          );
          const found = await store.getRunOutput(dashboard.id, runId, after);
          if (found === null) throw new HttpError(404, `No run "${runId}"`);
          return jsonResponse(200, found);
        },
      },
    },
    {
      path: "/api/d/:id/manual",
      auth: true,
      methods: {
        async GET({ url, dashboard }) {
          const query = url.searchParams;
          const manual = await store.listManual(dashboard.id, {
            host: parseHostName(query.get("host") ?? ""),
            tag: parseToken(query.get("tag") ?? "", "tag"),
            limit: parseQueryInteger(query.get("limit"), "limit", 1, 500) ?? 50,
            before: parseQueryInteger(query.get("before"), "before", 0, Number.MAX_SAFE_INTEGER) ??
              undefined,
          });
          return jsonResponse(200, { manual });
        },
        async POST({ request, dashboard }) {
          const body = await readJsonBody(request, BODY_LIMIT);
          const manual = parseManualRequest(body, dashboard.id);
          const manualId = await store.queueManual(dashboard.id, manual);
          poller.queued(dashboard.id, manual.host);
          return jsonResponse(202, { manualId });
        },
      },
    },
    {
      path: "/api/d/:id/manual/:manualId",
      auth: true,
      methods: {
        async GET({ params, dashboard }) {
          const manualId = parseToken(params.manualId!, "manualId");
          const manual = await store.getManual(dashboard.id, manualId);
          if (manual === null) throw new HttpError(404, `No manual run "${manualId}"`);
          return jsonResponse(200, { manual });
        },
        async DELETE({ params, dashboard }) {
          const manualId = parseToken(params.manualId!, "manualId");
          const { cancelled, manual } = await store.cancelManual(dashboard.id, manualId);
          if (manual === null) throw new HttpError(404, `No manual run "${manualId}"`);
          if (!cancelled) {
            throw new HttpError(
              409,
              `The manual run is ${manual.state} already: only a queued one can be cancelled`,
            );
          }
          return jsonResponse(200, { manual });
        },
      },
    },
    {
      path: "/api/d/:id/hosts/:host/manual",
      auth: true,
      methods: {
        async GET(context) {
          const name = host(context);
          const waitMs = parseWait(context.url.searchParams.get("wait"));
          await store.touchHost(context.dashboard.id, name);
          // Only a poll that waits needs to know the client left.
          const signal = waitMs === 0
            ? context.signal
            : AbortSignal.any([context.signal, context.request.signal]);
          const runs = await poller.poll(context.dashboard.id, name, waitMs, signal);
          return jsonResponse(200, { runs });
        },
      },
    },
  ];
}

function parseWait(value: string | null): number {
  if (value === null) return 0;
  const seconds = /^[0-9]{1,2}(\.[0-9]{1,3})?$/.test(value) ? Number(value) : NaN;
  if (!(seconds <= MAX_WAIT_SECONDS)) {
    throw new FieldError(
      "wait",
      `must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`,
      value,
    );
  }
  return seconds * 1000;
}

function matchRoute(
  routes: readonly Route[],
  pathname: string,
): { route: Route; params: Record<string, string> } | null {
  const segments = pathname.split("/");
  for (const route of routes) {
    const pattern = route.path.split("/");
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, i) => {
      const segment = segments[i]!;
      if (!part.startsWith(":")) return part === segment;
      params[part.slice(1)] = segment;
      return segment.length > 0;
    });
    if (matches) return { route, params };
  }
  return null;
}

function unauthorized(): HttpError {
  return new HttpError(401, "Unknown dashboard or wrong API key", {
    "www-authenticate": 'Bearer realm="koi"',
  });
}

/**
 * The dashboard a call is for, if its `Authorization: Bearer KEY` is that
 * dashboard's key: the key's SHA-256 compared in constant time with the stored
 * one. An unknown dashboard costs the same and gets the same 401.
 */
async function authenticate(
  store: DashboardStore,
  request: Request,
  id: string,
): Promise<Dashboard> {
  const header = request.headers.get("authorization") ?? "";
  const key = /^Bearer +(\S+) *$/i.exec(header)?.[1] ?? "";
  const dashboard = DASHBOARD_ID.test(id) ? await store.getDashboard(id) : null;
  const given = fromBase64url(await hashApiKey(key))!;
  const expected = dashboard === null ? null : fromBase64url(dashboard.keyHash);
  const matches = timingSafeEqual(given, expected ?? NO_HASH);
  if (dashboard === null || expected === null || key === "" || !matches) throw unauthorized();
  return dashboard;
}
