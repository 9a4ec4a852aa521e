/**
 * A connection to a checked destination, for one delivery: made to the checked
 * address, upgraded to TLS against the destination's name, written to in full,
 * and closed when the delivery's time runs out or it ends.
 *
 * @module
 */

import { DeliveryError, networkFailure } from "./delivery_error.ts";
import { checkDestination, type DestinationPolicy } from "./destination.ts";

/** One delivery's connection and time limit. */
export interface Session {
  /** Aborts when the time runs out or the server stops. */
  readonly signal: AbortSignal;
  /**
   * Checks a destination and connects to the checked address.
   *
   * @returns The connection, and the name to verify a certificate against.
   */
  connect(host: string, port: number): Promise<{ conn: Deno.TcpConn; name: string }>;
  /**
   * Starts TLS on the connection, verifying the certificate against `name`
   * (also sent as SNI), with the system's roots and the extra ones configured.
   */
  startTls(conn: Deno.TcpConn, name: string): Promise<Deno.TlsConn>;
}

/** How connections are made. */
export interface ConnectionOptions {
  /** Which destinations are allowed. */
  readonly policy: DestinationPolicy;
  /** The whole delivery's time limit, ms. */
  readonly timeoutMs: number;
  /** Extra root certificates for TLS, PEM. */
  readonly caCerts?: readonly string[];
  /** Aborts the delivery (the server is stopping). */
  readonly signal?: AbortSignal;
}

/**
 * Runs one delivery: `fn` connects through the session; the connection is
 * closed when `fn` ends or the time runs out, and any failure becomes a
 * {@linkcode DeliveryError}.
 *
 * @param options The policy, time limit and roots.
 * @param fn The delivery.
 * @returns What `fn` returns.
 * @throws {DeliveryError} For every failure.
 */
export async function withSession<T>(
  options: ConnectionOptions,
  fn: (session: Session) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const open = new Set<Deno.Conn>();
  const close = () => {
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
    open.clear();
  };
  signal.addEventListener("abort", close, { once: true });
  try {
    return await fn({
      signal,
      async connect(host, port) {
        const { connectTo, name } = await checkDestination(host, options.policy);
        signal.throwIfAborted();
        const conn = await Deno.connect({ hostname: connectTo, port, signal });
        open.add(conn);
        return { conn, name };
      },
      async startTls(conn, name) {
        const caCerts = options.caCerts ?? [];
        const tls = await Deno.startTls(conn, {
          hostname: name,
          ...(caCerts.length > 0 ? { caCerts: [...caCerts] } : {}),
        });
        // The TLS connection owns the TCP one now: closing it closes both.
        open.delete(conn);
        open.add(tls);
        return tls;
      },
    });
  } catch (error) {
    if (error instanceof DeliveryError) throw error;
    throw networkFailure(signal.aborted ? signal.reason ?? error : error, options.timeoutMs);
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}
