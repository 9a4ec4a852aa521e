/**
 * The request each webhook kind sends for an alert: Koi's own JSON body for a
 * plain webhook, and that alert reshaped for Slack and Discord (incoming
 * webhooks: `{text}`, `{content}`) and ntfy (a JSON publish to the server's
 * root, the topic named in the body). Pure: no I/O.
 *
 * @module
 */

import {
  type AlertEvent,
  type AlertFacts,
  alertLink,
  detailLines,
  headline,
  linkWords,
} from "./alert.ts";
import type { WebhookChannel } from "./channel.ts";
import type { PostRequest } from "./http_post.ts";

/** The emoji each event's chat message starts with. */
const EMOJI: Readonly<Record<AlertEvent, string>> = {
  failed: "❌",
  recovered: "✅",
  missed: "⏰",
  "host-silent": "🔇",
  "host-back": "🔊",
  test: "🔔",
};

/** ntfy's tags (emoji short codes) and priority (1-5) for each event. */
const NTFY: Readonly<Record<AlertEvent, { tag: string; priority: number }>> = {
  failed: { tag: "x", priority: 4 },
  recovered: { tag: "white_check_mark", priority: 3 },
  missed: { tag: "alarm_clock", priority: 4 },
  "host-silent": { tag: "mute", priority: 4 },
  "host-back": { tag: "loud_sound", priority: 3 },
  test: { tag: "bell", priority: 3 },
};

/**
 * The plain webhook's body: the alert's facts and the link, in the documented
 * order; `runId`, `status`, `exitCode`, `signal`, `scheduledFor` and
 * `lastSeenAt` only where the event has them.
 *
 * @param facts The alert.
 * @param dashboardUrl The dashboard page's address.
 * @returns The body, as an object.
 */
export function webhookBody(facts: AlertFacts, dashboardUrl: string): Record<string, unknown> {
  const { at, ...rest } = facts;
  return { ...rest, at, url: alertLink(facts, dashboardUrl) };
}

/** Slack's `mrkdwn` text: `&`, `<` and `>` are its only special characters. */
function slackText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Discord's markdown, escaped, so a job's name is shown as written. */
function discordText(text: string): string {
  return text.replace(/[\\*_~`|>#[\]]/g, (ch) => `\\${ch}`);
}

/**
 * The request a channel posts for an alert.
 *
 * @param channel The channel: its kind and URL.
 * @param facts The alert.
 * @returns The URL, content type and body.
 *
 * @example Slack gets a line of text with a link
 * ```ts
 * import { webhookRequest } from "./presets.ts";
 *
 * const request = webhookRequest(
 *   { id: "c1", kind: "slack", url: "https://hooks.slack.com/services/T/B/X", createdAt: 0, dashboardUrl: "https://dash.example/d/abc" },
 *   { event: "test", dashboard: "abc", host: null, tag: null, name: null, section: null, at: 0 },
 * );
 * const text = JSON.parse(request.body).text;
 * if (text !== "🔔 Test alert from the Koi dashboard\n<https://dash.example/d/abc#/alerts|Open the alerts>") throw new Error(text);
 * ```
 */
export function webhookRequest(channel: WebhookChannel, facts: AlertFacts): PostRequest {
  const link = alertLink(facts, channel.dashboardUrl);
  const json = (body: unknown): PostRequest => ({
    url: channel.url,
    contentType: "application/json",
    body: JSON.stringify(body),
  });
  switch (channel.kind) {
    case "webhook":
      return json(webhookBody(facts, channel.dashboardUrl));
    case "slack":
      return json({
        text: `${EMOJI[facts.event]} ${slackText(headline(facts))}\n<${link}|${
          linkWords(facts.event)
        }>`,
      });
    case "discord":
      return json({
        content: `${EMOJI[facts.event]} ${discordText(headline(facts))}\n<${link}>`,
        allowed_mentions: { parse: [] },
      });
    case "ntfy": {
      const url = new URL(channel.url);
      const slash = url.pathname.lastIndexOf("/");
      const topic = decodeURIComponent(url.pathname.slice(slash + 1));
      url.pathname = url.pathname.slice(0, slash + 1);
      return {
        url: url.href,
        contentType: "application/json",
        body: JSON.stringify({
          topic,
          title: headline(facts),
          message: detailLines(facts).map(([label, value]) => `${label}: ${value}`).join("\n"),
          tags: [NTFY[facts.event].tag],
          priority: NTFY[facts.event].priority,
          click: link,
        }),
      };
    }
  }
}
