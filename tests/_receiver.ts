/**
 * A loopback HTTP server standing in for every webhook service in alert tests:
 * it keeps each request it answers 2xx, and answers each path as told (200
 * unless set).
 *
 * @module
 */

/** A request the receiver took. */
export interface Received {
  path: string;
  contentType: string | null;
  body: string;
}

/** The receiver; {@linkcode Receiver.close} it after the test. */
export class Receiver {
  /** The requests answered 2xx, in order. */
  readonly received: Received[] = [];
  /** How each path answers; 200 unless set. */
  readonly answers = new Map<string, () => Response | Promise<Response>>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  /** Listens on a free port of 127.0.0.1. */
  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (request) => {
        const path = new URL(request.url).pathname;
        const body = await request.text();
        const answer = this.answers.get(path);
        const response = answer ? await answer() : new Response("ok");
        if (response.ok) {
          this.received.push({ path, contentType: request.headers.get("content-type"), body });
        }
        return response;
      },
    );
  }

  /** Its port. */
  get port(): number {
    return this.#server.addr.port;
  }

  /**
   * A URL of it.
   *
   * @param path The path.
   * @returns `http://127.0.0.1:PORT/path`.
   */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /**
   * The JSON bodies taken on a path (every path when none is given), in order.
   *
   * @param path The path.
   * @returns The bodies, parsed.
   */
  // deno-lint-ignore no-explicit-any
  bodies(path?: string): any[] {
    return this.received.filter((r) => path === undefined || r.path === path)
      .map((r) => JSON.parse(r.body));
  }

  /** Stops listening. */
  close(): Promise<void> {
    return this.#server.shutdown();
  }
}
