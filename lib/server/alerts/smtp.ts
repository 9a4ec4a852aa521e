/**
 * A small SMTP client for alert mail (RFC 5321): one message per connection,
 * over implicit TLS, STARTTLS, or plain text to this machine only; AUTH PLAIN or
 * LOGIN; the connection made to a checked address (see `destination.ts`). Reply
 * codes keep their SMTP meaning: 4xx may pass and is retried, 5xx is not.
 *
 * @module
 */

import type { SmtpSecurity } from "../../protocol/alerts.ts";
import { type ConnectionOptions, withSession } from "./connection.ts";
import { writeAll } from "../../files.ts";
import { DeliveryError, oneLine } from "./delivery_error.ts";
import { addressKind, parseIp } from "./destination.ts";

/** How the connection is secured: implicit TLS, STARTTLS, or none (this machine only). */
export type { SmtpSecurity } from "../../protocol/alerts.ts";

/** The SMTP server an email channel sends through. */
export interface SmtpServer {
  readonly host: string;
  readonly port: number;
  readonly tls: SmtpSecurity;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

/** One message: its envelope and its text (headers and body, CRLF lines). */
export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
  readonly data: string;
}

/** The longest reply read, in bytes. */
const MAX_REPLY_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Reply {
  code: number;
  lines: string[];
}

/** Reads replies from a connection, line by line. */
class ReplyReader {
  #buffer = new Uint8Array(0);
  conn: Deno.Conn;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Whether bytes were received that no reply has taken yet. */
  get pending(): boolean {
    return this.#buffer.length > 0;
  }

  async #line(): Promise<string> {
    while (true) {
      const end = this.#buffer.indexOf(10);
      if (end >= 0) {
        const line = decoder.decode(this.#buffer.subarray(0, end)).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      if (this.#buffer.length > MAX_REPLY_BYTES) {
        throw new DeliveryError("the SMTP server's reply is too long", true);
      }
      const chunk = new Uint8Array(4096);
      const read = await this.conn.read(chunk);
      if (read === null) throw new DeliveryError("the SMTP server closed the connection", true);
      const next = new Uint8Array(this.#buffer.length + read);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, read), this.#buffer.length);
      this.#buffer = next;
    }
  }

  async reply(): Promise<Reply> {
    const lines: string[] = [];
    let size = 0;
    while (true) {
      const line = await this.#line();
      size += line.length;
      const match = /^([2-5][0-9]{2})([ -]|$)(.*)$/.exec(line);
      if (match === null) throw new DeliveryError(`not an SMTP reply: ${oneLine(line)}`, true);
      lines.push(match[3]!);
      if (match[2] !== "-") return { code: Number(match[1]), lines };
      if (size > MAX_REPLY_BYTES) throw new DeliveryError("the SMTP reply is too long", true);
    }
  }
}

/** The error for an unexpected reply to `what`: 4xx is retried, 5xx is not. */
function replyFailure(what: string, reply: Reply): DeliveryError {
  const text = oneLine(reply.lines.join(" "));
  return new DeliveryError(`SMTP ${what}: ${reply.code} ${text}`.trimEnd(), reply.code < 500);
}

/** Whether an address is this machine's: where plain SMTP is allowed. */
function isLoopback(address: string): boolean {
  const bytes = parseIp(address);
  return bytes !== null && addressKind(bytes) === "loopback";
}

/**
 * Sends one message.
 *
 * @param server The SMTP server, its security and credentials.
 * @param envelope The sender, the recipients and the message text.
 * @param options The destination policy, the time limit and extra roots.
 * @throws {DeliveryError} When the server refuses something (4xx retried, 5xx
 * not), the destination is refused, or the connection fails or times out.
 */
export function sendMail(
  server: SmtpServer,
  envelope: Envelope,
  options: ConnectionOptions,
): Promise<void> {
  return withSession(options, async (session) => {
    const tcp = await session.connect(server.host, server.port);
    const remote = (tcp.conn.remoteAddr as Deno.NetAddr).hostname;
    if (server.tls === "none" && !isLoopback(remote)) {
      throw new DeliveryError(
        `refused: plain SMTP (no TLS) goes to this machine only, and ${server.host} is ${remote}`,
        false,
      );
    }
    let conn: Deno.Conn = server.tls === "tls"
      ? await session.startTls(tcp.conn, tcp.name)
      : tcp.conn;
    const reader = new ReplyReader(conn);
    const send = async (line: string) => {
      await writeAll(conn, encoder.encode(`${line}\r\n`));
      return await reader.reply();
    };
    const expect = async (what: string, line: string, ...codes: number[]) => {
      const reply = await send(line);
      if (!codes.includes(reply.code)) throw replyFailure(what, reply);
      return reply;
    };
    const greeting = await reader.reply();
    if (greeting.code !== 220) throw replyFailure("greeting", greeting);
    const local = (tcp.conn.localAddr as Deno.NetAddr).hostname;
    const helo = local.includes(":") ? `[IPv6:${local}]` : `[${local}]`;
    let extensions = (await expect("EHLO", `EHLO ${helo}`, 250)).lines.slice(1);
    if (server.tls === "starttls") {
      if (!extensions.some((line) => /^STARTTLS\b/i.test(line))) {
        throw new DeliveryError(`SMTP: ${server.host} does not offer STARTTLS`, false);
      }
      await expect("STARTTLS", "STARTTLS", 220);
      // Bytes sent before the handshake would be read as if protected by it.
      if (reader.pending) throw new DeliveryError("SMTP: data before the TLS handshake", false);
      conn = await session.startTls(tcp.conn, tcp.name);
      reader.conn = conn;
      extensions = (await expect("EHLO", `EHLO ${helo}`, 250)).lines.slice(1);
    }
    if (server.user !== undefined) {
      await authenticate(server.user, server.password ?? "", extensions, expect);
    }
    await expect("MAIL FROM", `MAIL FROM:<${envelope.from}>`, 250);
    for (const to of envelope.to) await expect(`RCPT TO <${to}>`, `RCPT TO:<${to}>`, 250, 251);
    await expect("DATA", "DATA", 354);
    await writeAll(conn, encoder.encode(dotStuffed(envelope.data)));
    const accepted = await reader.reply();
    if (accepted.code !== 250) throw replyFailure("message", accepted);
    await send("QUIT").catch(() => {});
  });
}

/** AUTH PLAIN when offered, else AUTH LOGIN. */
async function authenticate(
  user: string,
  password: string,
  extensions: readonly string[],
  expect: (what: string, line: string, ...codes: number[]) => Promise<Reply>,
): Promise<void> {
  const offered = extensions.find((line) => /^AUTH[ =]/i.test(line))?.slice(5).toUpperCase()
    .split(/\s+/) ?? [];
  const base64 = (text: string) => {
    const bytes = encoder.encode(text);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary);
  };
  try {
    if (offered.includes("PLAIN")) {
      await expect("AUTH PLAIN", `AUTH PLAIN ${base64(`\0${user}\0${password}`)}`, 235);
    } else if (offered.includes("LOGIN")) {
      await expect("AUTH LOGIN", "AUTH LOGIN", 334);
      await expect("AUTH LOGIN", base64(user), 334);
      await expect("AUTH LOGIN", base64(password), 235);
    } else {
      throw new DeliveryError(
        "SMTP: the server offers neither AUTH PLAIN nor AUTH LOGIN (is TLS on?)",
        false,
      );
    }
  } catch (error) {
    // The reply to a refused login never holds what was sent, but say it plainly.
    if (error instanceof DeliveryError && /^SMTP AUTH/.test(error.message)) {
      throw new DeliveryError(error.message.replace(/^SMTP AUTH \w+/, "SMTP login"), error.retry);
    }
    throw error;
  }
}

/** The message with every line ending CRLF, leading dots doubled, and the final dot. */
export function dotStuffed(data: string): string {
  const lines = data.replace(/\r?\n/g, "\n").replace(/\n$/, "").split("\n");
  return `${lines.map((line) => line.startsWith(".") ? `.${line}` : line).join("\r\n")}\r\n.\r\n`;
}
