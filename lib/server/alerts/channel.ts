/**
 * Alert channels: where a dashboard's alerts go (a webhook, Slack, Discord,
 * ntfy, or email through an SMTP server), the checks that turn an API request
 * into one, and what the API shows of one (never the SMTP password, nor a whole
 * webhook URL, which is often a secret itself). Pure: no I/O.
 *
 * @module
 */

import { FieldError } from "../../protocol/schema.ts";
import { literalRefusal } from "./destination.ts";
import {
  CHANNEL_KINDS,
  type ChannelKind,
  type PublicChannel,
  type SmtpSecurity,
  type WebhookKind,
} from "../../protocol/alerts.ts";

export {
  CHANNEL_KINDS,
  type ChannelKind,
  type PublicChannel,
  type WebhookKind,
} from "../../protocol/alerts.ts";

/** The most channels a dashboard may have. */
export const MAX_CHANNELS = 20;

/** The SMTP server of an email channel, as stored (with its password). */
export interface SmtpSettings {
  host: string;
  port: number;
  tls: SmtpSecurity;
  user: string | null;
  password: string | null;
  from: string;
}

/** What every channel has. */
interface ChannelBase {
  id: string;
  createdAt: number;
  /** The dashboard page's address (`https://dash.example/d/ID`), for the links in alerts. */
  dashboardUrl: string;
}

/** A channel that posts to a URL. */
export interface WebhookChannel extends ChannelBase {
  kind: WebhookKind;
  url: string;
}

/** A channel that sends email. */
export interface EmailChannel extends ChannelBase {
  kind: "email";
  to: string[];
  smtp: SmtpSettings;
}

/** A channel, as stored. */
export type Channel = WebhookChannel | EmailChannel;

/** A channel as a request asks for it, before it has an id. */
export type NewChannel =
  | Omit<WebhookChannel, keyof ChannelBase>
  | Omit<EmailChannel, keyof ChannelBase>;

/** A host name, or an IP address (IPv6 in brackets or not). */
const HOST =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^\[?[0-9A-Fa-f:.]{2,45}\]?$/;
/** An email address as alerts use it: no display name, no quotes, nothing that could end a line. */
const ADDRESS =
  /^(?=.{3,254}$)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_URL_CHARS = 2000;
const MAX_RECIPIENTS = 20;

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FieldError(field, "must be an object", value);
  }
  return value as Record<string, unknown>;
}

function only(raw: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  for (const name of Object.keys(raw)) {
    if (!allowed.includes(name)) {
      const where = field === "body" ? name : `${field}.${name}`;
      throw new FieldError(where, `is not a field here (${allowed.join(", ")})`);
    }
  }
}

function address(value: unknown, field: string): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw new FieldError(field, "must be an email address such as ops@example.com", value);
  }
  return value;
}

function credential(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.length < 1 || value.length > 500) {
    throw new FieldError(field, "must be 1 to 500 characters");
  }
  // Never quoted back: it may be a password.
  if (/[\0\r\n]/.test(value)) throw new FieldError(field, "must not hold a NUL or a line break");
  return value;
}

/**
 * Reads the body of `POST /api/d/{id}/channels`: `{kind, url}` for a webhook,
 * Slack, Discord or ntfy channel (an `http:` or `https:` URL), or
 * `{kind: "email", to, smtp: {host, port, tls, user?, password?, from}}`, where
 * `to` is one address or a list, and `tls` is `"starttls"`, `"tls"` or `"none"`
 * (plain SMTP, which only a server on this machine may take).
 *
 * @param body The parsed JSON body.
 * @param allowPrivate Whether the server allows private destinations; when not,
 * an IP address in a private range is refused now (names are checked at send time).
 * @returns The channel to add.
 * @throws {FieldError} If a field is missing, unknown or wrong.
 *
 * @example Only http(s) URLs
 * ```ts
 * import { parseNewChannel } from "./channel.ts";
 *
 * const channel = parseNewChannel({ kind: "slack", url: "https://hooks.slack.com/services/T/B/X" }, false);
 * if (channel.kind !== "slack") throw new Error(channel.kind);
 * try {
 *   parseNewChannel({ kind: "webhook", url: "file:///etc/passwd" }, false);
 *   throw new Error("accepted");
 * } catch (error) {
 *   if ((error as Error).message !== 'Invalid "url": must be an http: or https: URL (got "file:///etc/passwd")') throw error;
 * }
 * ```
 */
export function parseNewChannel(body: unknown, allowPrivate: boolean): NewChannel {
  const raw = object(body, "body");
  const kind = raw.kind;
  if (!CHANNEL_KINDS.includes(kind as ChannelKind)) {
    throw new FieldError(
      "kind",
      `must be one of ${CHANNEL_KINDS.map((k) => `"${k}"`).join(", ")}`,
      kind,
    );
  }
  if (kind !== "email") {
    only(raw, "body", ["kind", "url"]);
    return { kind: kind as WebhookKind, url: webhookUrl(raw.url, allowPrivate) };
  }
  only(raw, "body", ["kind", "to", "smtp"]);
  const list = typeof raw.to === "string" ? raw.to.split(",").map((part) => part.trim()) : raw.to;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_RECIPIENTS) {
    throw new FieldError("to", `must be an address, or a list of 1 to ${MAX_RECIPIENTS}`, raw.to);
  }
  const to = list.map((item, i) => address(item, Array.isArray(raw.to) ? `to[${i}]` : "to"));
  const smtp = object(raw.smtp, "smtp");
  only(smtp, "smtp", ["host", "port", "tls", "user", "password", "from"]);
  if (typeof smtp.host !== "string" || !HOST.test(smtp.host)) {
    throw new FieldError("smtp.host", "must be a host name or IP address", smtp.host);
  }
  const port = smtp.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new FieldError("smtp.port", "must be a port number from 1 to 65535", port);
  }
  const tls = smtp.tls;
  if (tls !== "starttls" && tls !== "tls" && tls !== "none") {
    throw new FieldError("smtp.tls", 'must be "starttls", "tls" or "none"', tls);
  }
  const refusal = literalRefusal(smtp.host, allowPrivate);
  if (refusal !== null) throw new FieldError("smtp.host", refusal);
  const user = credential(smtp.user, "smtp.user");
  const password = credential(smtp.password, "smtp.password");
  if (password !== null && user === null) {
    throw new FieldError("smtp.user", "must be given with smtp.password");
  }
  return {
    kind: "email",
    to,
    smtp: { host: smtp.host, port, tls, user, password, from: address(smtp.from, "smtp.from") },
  };
}

function webhookUrl(value: unknown, allowPrivate: boolean): string {
  if (typeof value !== "string" || value.length > MAX_URL_CHARS) {
    throw new FieldError("url", `must be a URL of at most ${MAX_URL_CHARS} characters`, value);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new FieldError("url", "must be an http: or https: URL", value);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new FieldError("url", "must be an http: or https: URL", value);
  }
  if (url.hash !== "") throw new FieldError("url", "must have no #fragment", value);
  const refusal = literalRefusal(url.hostname, allowPrivate);
  if (refusal !== null) throw new FieldError("url", refusal);
  return url.href;
}

/**
 * A channel as the API shows it: a webhook's URL cut short (its path often is
 * the secret), an email channel's server without its password.
 *
 * @param channel The stored channel.
 * @returns What the API shows.
 *
 * @example
 * ```ts
 * import { publicChannel } from "./channel.ts";
 *
 * const shown = publicChannel({
 *   id: "c1",
 *   kind: "slack",
 *   url: "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
 *   createdAt: 0,
 *   dashboardUrl: "https://dash.example/d/abc",
 * });
 * if (shown.target !== "https://hooks.slack.com/services/T0…") throw new Error(shown.target);
 * ```
 */
export function publicChannel(channel: Channel): PublicChannel {
  const { id, createdAt } = channel;
  if (channel.kind !== "email") {
    return { id, kind: channel.kind, createdAt, target: channelTarget(channel) };
  }
  const { password, ...smtp } = channel.smtp;
  return {
    id,
    kind: "email",
    createdAt,
    target: channelTarget(channel),
    to: channel.to,
    smtp: { ...smtp, password: password !== null },
  };
}

/** The visible start of a URL path: enough to tell channels apart, not to use one. */
const SHOWN_PATH_CHARS = 12;

/**
 * Where a channel sends, in words safe to show and log: a URL's origin and the
 * start of its path, or an email channel's recipients and server.
 *
 * @param channel The channel.
 * @returns The words.
 */
export function channelTarget(channel: Channel): string {
  if (channel.kind === "email") {
    return `${channel.to.join(", ")} via ${channel.smtp.host}:${channel.smtp.port}`;
  }
  const url = new URL(channel.url);
  const path = url.pathname;
  const shown = path.length > SHOWN_PATH_CHARS + 1 ? `${path.slice(0, SHOWN_PATH_CHARS)}…` : path;
  return `${url.protocol}//${url.host}${shown === "/" ? "" : shown}`;
}
