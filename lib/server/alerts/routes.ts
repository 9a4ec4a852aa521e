/**
 * The alerts' part of the dashboard HTTP API: channels (add, list, remove,
 * test), mutes, and the alert history. Every call needs the dashboard's API
 * key; none waits on a delivery.
 *
 * @module
 */

import { newDelivery, publicAlert } from "./alert_store.ts";
import { parseNewChannel, publicChannel } from "./channel.ts";
import type { AlertEngine } from "./engine.ts";
import { HttpError, jsonResponse, noContent, readJsonBody } from "../http.ts";
import type { Context, Route } from "../server.ts";
import { parseHostName, parseQueryInteger, parseToken } from "../../protocol/schema.ts";

/** The largest body of an alerts call. */
const BODY_LIMIT = 64 * 1024;

/** What the routes need. */
export interface AlertRoutesOptions {
  engine: AlertEngine;
  now: () => number;
  /** Whether private destinations are allowed (else private IP addresses are refused as given). */
  allowPrivateDestinations: boolean;
  /** The server's public address, for links in alerts; else the caller's `Origin`, else the request's. */
  publicUrl: string | null;
}

/** The address a dashboard's page is at, for the links in its alerts. */
function dashboardUrl(context: Context, publicUrl: string | null): string {
  const id = context.dashboard.id;
  if (publicUrl !== null) return `${publicUrl}/d/${id}`;
  const origin = context.request.headers.get("origin");
  if (origin !== null && /^https?:\/\/[^/\s]+$/i.test(origin)) {
    try {
      return `${new URL(origin).origin}/d/${id}`;
    } catch {
      // Not a URL: the request's own address.
    }
  }
  return `${context.url.origin}/d/${id}`;
}

/**
 * The routes of channels, mutes and alerts.
 *
 * @param options The engine, the clock, and how destinations are judged.
 * @returns The routes, for the server's table.
 */
export function alertRoutes(options: AlertRoutesOptions): Route[] {
  const { engine, now } = options;
  const alerts = engine.alerts;
  const mute = (muted: boolean) => async (context: Context) => {
    const host = parseHostName(context.params.host!);
    const tag = context.params.tag === undefined ? null : parseToken(context.params.tag, "tag");
    await alerts.setMute(context.dashboard.id, host, tag, muted, now());
    return noContent();
  };
  return [
    {
      path: "/api/d/:id/channels",
      auth: true,
      methods: {
        async GET({ dashboard }) {
          const channels = await alerts.listChannels(dashboard.id);
          return jsonResponse(200, { channels: channels.map(publicChannel) });
        },
        async POST(context) {
          const body = await readJsonBody(context.request, BODY_LIMIT);
          const channel = parseNewChannel(body, options.allowPrivateDestinations);
          const url = dashboardUrl(context, options.publicUrl);
          const added = await alerts.addChannel(context.dashboard.id, channel, url, now());
          if (added === null) {
            throw new HttpError(409, "A dashboard has at most 20 channels: remove one first");
          }
          return jsonResponse(201, { channel: publicChannel(added) });
        },
      },
    },
    {
      path: "/api/d/:id/channels/:channel",
      auth: true,
      methods: {
        async DELETE({ params, dashboard }) {
          const channelId = parseToken(params.channel!, "channel");
          if (!await alerts.deleteChannel(dashboard.id, channelId)) {
            throw new HttpError(404, `No channel "${channelId}"`);
          }
          return noContent();
        },
      },
    },
    {
      path: "/api/d/:id/channels/:channel/test",
      auth: true,
      methods: {
        async POST({ params, dashboard }) {
          const channelId = parseToken(params.channel!, "channel");
          const channel = await alerts.getChannel(dashboard.id, channelId);
          const alert = channel === null ? null : await engine.test(dashboard.id, channelId);
          if (channel === null || alert === null) {
            throw new HttpError(404, `No channel "${channelId}"`);
          }
          const delivery = newDelivery(channel, alert.createdAt);
          return jsonResponse(202, { alert: publicAlert(alert, [delivery]) });
        },
      },
    },
    {
      path: "/api/d/:id/alerts",
      auth: true,
      methods: {
        async GET({ url, dashboard }) {
          const query = url.searchParams;
          const list = await alerts.listAlerts(dashboard.id, {
            limit: parseQueryInteger(query.get("limit"), "limit", 1, 500) ?? 50,
            before: parseQueryInteger(query.get("before"), "before", 0, Number.MAX_SAFE_INTEGER) ??
              undefined,
          });
          return jsonResponse(200, { alerts: list });
        },
      },
    },
    {
      path: "/api/d/:id/mutes",
      auth: true,
      methods: {
        async GET({ dashboard }) {
          return jsonResponse(200, { mutes: await alerts.listMutes(dashboard.id) });
        },
      },
    },
    {
      path: "/api/d/:id/mutes/:host",
      auth: true,
      methods: { PUT: mute(true), DELETE: mute(false) },
    },
    {
      path: "/api/d/:id/mutes/:host/:tag",
      auth: true,
      methods: { PUT: mute(true), DELETE: mute(false) },
    },
  ];
}
