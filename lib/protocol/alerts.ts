/**
 * Alerts as the dashboard API shows them: the events an alert can be for, its
 * facts (only fields that stay plain text on the server: never a command, an
 * argument value or output), the kinds of channel, and what the API shows of a
 * channel, an alert and its deliveries, and a mute. The server's alert engine
 * and the page share these shapes. Types and constants only.
 *
 * @module
 */

import type { RunStatus } from "./wire.ts";

/** Every event an alert can be for. */
export const ALERT_EVENTS = [
  "failed",
  "recovered",
  "missed",
  "host-silent",
  "host-back",
  "test",
] as const;

/** An event an alert can be for. */
export type AlertEvent = typeof ALERT_EVENTS[number];

/** An alert's facts: the webhook body's fields but the link, in its order. */
export interface AlertFacts {
  event: AlertEvent;
  /** The dashboard id. */
  dashboard: string;
  /** The host; null for a test. */
  host: string | null;
  /** The job's tag, name and section; null for host events and tests. */
  tag: string | null;
  name: string | null;
  section: string | null;
  /** For `failed` and `recovered`: the run, and how it ended. */
  runId?: string;
  status?: Exclude<RunStatus, "running">;
  exitCode?: number | null;
  signal?: string | null;
  /** The run's due time (`failed`, `recovered`: null when not scheduled; `missed`), ms. */
  scheduledFor?: number | null;
  /** For host events: when the host was last heard from before it went silent, ms. */
  lastSeenAt?: number;
  /**
   * When it happened, ms: the run's end, the due time plus the grace, the last
   * word plus the silent time, the host's return, the test's request.
   */
  at: number;
}

/** Every kind of channel: a JSON webhook, its presets for chat services, and email. */
export const CHANNEL_KINDS = ["webhook", "slack", "discord", "ntfy", "email"] as const;

/** A kind of channel. */
export type ChannelKind = typeof CHANNEL_KINDS[number];

/** The kinds that post to a URL. */
export type WebhookKind = Exclude<ChannelKind, "email">;

/** How an email channel reaches its SMTP server: implicit TLS, STARTTLS, or plain (loopback only). */
export type SmtpSecurity = "tls" | "starttls" | "none";

/** An email channel's SMTP server as the API shows it: whether it has a password, never the password. */
export interface PublicSmtpSettings {
  host: string;
  port: number;
  tls: SmtpSecurity;
  user: string | null;
  password: boolean;
  from: string;
}

/** A channel as the API shows it: never the SMTP password, nor a whole webhook URL. */
export type PublicChannel =
  | { id: string; kind: WebhookKind; createdAt: number; target: string }
  | {
    id: string;
    kind: "email";
    createdAt: number;
    target: string;
    to: string[];
    smtp: PublicSmtpSettings;
  };

/** A delivery as the API shows it. */
export interface PublicDelivery {
  channel: string;
  kind: ChannelKind;
  target: string;
  /** `pending` (not tried yet, or to be tried again), `sent`, or `failed` (given up). */
  state: "pending" | "sent" | "failed";
  attempts: number;
  error: string | null;
  sentAt: number | null;
  nextAttemptAt: number | null;
}

/** An alert as the API shows it: its facts, its words, when it was raised, and its deliveries. */
export type PublicAlert = AlertFacts & {
  id: string;
  createdAt: number;
  /** The alert in one line, as a subject says it: `Backup failed on web1 (exit 2)`. */
  summary: string;
  deliveries: PublicDelivery[];
};

/** A mute: a whole host (`tag` null), or one job. */
export interface Mute {
  host: string;
  tag: string | null;
  at: number;
}
