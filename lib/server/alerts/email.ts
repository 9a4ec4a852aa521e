/**
 * The email an alert sends: one plain-text message with a clear subject
 * (`[Koi] Backup failed on web1 (exit 2)`), the details as labelled lines, and
 * the link. Headers are encoded (RFC 2047) when a name is not plain ASCII, and
 * the body is base64 then. Pure: no I/O.
 *
 * @module
 */

import { type AlertFacts, alertLink, detailLines, headline, linkWords } from "./alert.ts";
import type { EmailChannel } from "./channel.ts";
import type { Envelope } from "./smtp.ts";

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Whether text is printable ASCII, so it may stand in a header or a 7bit body as it is. */
function plainAscii(text: string, allowNewlines = false): boolean {
  return (allowNewlines ? /^[\x20-\x7e\n]*$/ : /^[\x20-\x7e]*$/).test(text);
}

/**
 * A header's value: as it is when plain ASCII, else as RFC 2047 encoded words of
 * UTF-8, each at most 75 characters, on folded lines.
 *
 * @param text The value.
 * @returns The value to write after `Name: `.
 *
 * @example
 * ```ts
 * import { encodeHeader } from "./email.ts";
 *
 * if (encodeHeader("Backup failed") !== "Backup failed") throw new Error("ascii");
 * if (encodeHeader("Sauvegarde échouée") !== "=?UTF-8?B?U2F1dmVnYXJkZSDDqWNob3XDqWU=?=") throw new Error("encoded");
 * ```
 */
export function encodeHeader(text: string): string {
  if (plainAscii(text)) return text;
  const words: string[] = [];
  let piece = "";
  for (const ch of text.replace(/[\r\n]+/g, " ")) {
    // 45 bytes of UTF-8 make 60 of base64: 72 with the markers.
    if (encoder.encode(piece + ch).length > 45) {
      words.push(piece);
      piece = "";
    }
    piece += ch;
  }
  if (piece !== "") words.push(piece);
  return words.map((word) => `=?UTF-8?B?${base64(encoder.encode(word))}?=`).join("\r\n ");
}

/** An RFC 5322 date: `Sun, 01 Mar 2026 02:31:05 +0000`. */
function mailDate(at: number): string {
  const date = new Date(at);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${days[date.getUTCDay()]}, ${two(date.getUTCDate())} ${
    months[date.getUTCMonth()]
  } ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${
    two(date.getUTCSeconds())
  } +0000`;
}

/**
 * The subject and text of an alert's email.
 *
 * @param facts The alert.
 * @param dashboardUrl The dashboard page's address.
 * @returns The subject and the body, with `\n` lines.
 *
 * @example
 * ```ts
 * import { emailText } from "./email.ts";
 *
 * const { subject } = emailText({
 *   event: "failed", dashboard: "abc", host: "web1", tag: "j1", name: "Backup", section: null,
 *   runId: "r1", status: "failed", exitCode: 2, signal: null, scheduledFor: null, at: 0,
 * }, "https://dash.example/d/abc");
 * if (subject !== "[Koi] Backup failed on web1 (exit 2)") throw new Error(subject);
 * ```
 */
export function emailText(
  facts: AlertFacts,
  dashboardUrl: string,
): { subject: string; body: string } {
  const line = headline(facts);
  const details = detailLines(facts);
  const width = Math.max(...details.map(([label]) => label.length)) + 2;
  const body = [
    `${line}.`,
    "",
    ...details.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`),
    "",
    `${linkWords(facts.event)}: ${alertLink(facts, dashboardUrl)}`,
    "",
    "-- ",
    `Sent by the Koi dashboard at ${dashboardUrl}.`,
    "Mute this job or machine, or change where alerts go, under Alerts on the page.",
    "",
  ].join("\n");
  return { subject: `[Koi] ${line}`, body };
}

/**
 * An alert's whole email: envelope and message, headers and body with CRLF
 * lines. The `Message-ID` is the same on every try of one delivery, so a
 * mailbox can drop a copy sent twice.
 *
 * @param channel The email channel: its recipients and sender.
 * @param facts The alert.
 * @param ids The alert's and channel's ids, for the `Message-ID`.
 * @param now The time of sending, for the `Date` header.
 * @returns The envelope, ready for `sendMail`.
 */
export function alertEmail(
  channel: EmailChannel,
  facts: AlertFacts,
  ids: { alertId: string; channelId: string },
  now: number,
): Envelope {
  const { subject, body } = emailText(facts, channel.dashboardUrl);
  const domain = channel.smtp.from.slice(channel.smtp.from.lastIndexOf("@") + 1);
  const ascii = plainAscii(body, true);
  const encoded = ascii
    ? body
    : (base64(encoder.encode(body)).match(/.{1,76}/g) ?? []).join("\n") + "\n";
  const headers = [
    `From: Koi <${channel.smtp.from}>`,
    `To: ${channel.to.join(", ")}`,
    `Subject: ${encodeHeader(subject)}`,
    `Date: ${mailDate(now)}`,
    `Message-ID: <${ids.alertId}.${ids.channelId}@${domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Transfer-Encoding: ${ascii ? "7bit" : "base64"}`,
    "Auto-Submitted: auto-generated",
  ];
  const data = `${headers.join("\r\n")}\r\n\r\n${encoded.replaceAll("\n", "\r\n")}`;
  return { from: channel.smtp.from, to: channel.to, data };
}
