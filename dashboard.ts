/**
 * `dashboard`: Koi's self-hostable dashboard server. Run with the permission flags
 * of `deno task dashboard` (see deno.json).
 *
 * @module
 */

import { CliError } from "./lib/cli/errors.ts";
import { startServer } from "./lib/server/server.ts";
import { preparePrivateDatabase, removeDatabase } from "./lib/files.ts";
import { VERSION } from "./lib/version.ts";

/** Where the store is when `--db` is not given. */
const DEFAULT_DB = "./koi-dashboard.db";

const HELP = `dashboard ${VERSION}: Koi's dashboard server

Usage:
  dashboard [--port N] [--hostname H] [--db PATH|URL] [--public-url URL]
            [--allow-private-destinations]
  dashboard --help | --version

Serves the dashboard page (at /d/ID, the URL "koitab -d new" prints) and its JSON API
(see "The dashboard HTTP API" in the README) until SIGINT or SIGTERM.

Options:
  --port N         the TCP port (default 8080; 0 picks a free one)
  --hostname H     the address to listen on (default 127.0.0.1: this machine only,
                   for safety; 0.0.0.0 listens on every interface, typically behind
                   a reverse proxy that adds TLS)
  --db PATH|URL    the Deno KV store: a file, for this one process only (default
                   ${DEFAULT_DB}), or the http(s):// URL of a self-hosted denokv
                   server, which several server instances can share; its access
                   token is read from DENO_KV_ACCESS_TOKEN
  --public-url URL the address people open the dashboard at (https://dash.example),
                   for the links in alerts; default: the address the page was
                   opened at when its alert channel was added
  --allow-private-destinations
                   let alert webhooks and SMTP servers be at private, loopback
                   or link-local addresses (a server of your own; a server that
                   hosts others' dashboards must not, or it opens its network)

Alerts to a server whose certificate comes from a private authority: add the
authority's certificate with DENO_CERT=/path/to/ca.pem.
`;

interface Options {
  port: number;
  hostname: string;
  db: string;
  publicUrl: string | null;
  allowPrivateDestinations: boolean;
}

function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    port: 8080,
    hostname: "127.0.0.1",
    db: DEFAULT_DB,
    publicUrl: null,
    allowPrivateDestinations: false,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (flag === "--allow-private-destinations") {
      options.allowPrivateDestinations = true;
      continue;
    }
    if (!["--port", "--hostname", "--db", "--public-url"].includes(flag)) {
      throw new CliError(`unknown option "${flag}"`, 2);
    }
    if (value === undefined || value === "") {
      throw new CliError(`${flag} needs a value`, 2);
    }
    if (flag === "--port") {
      const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(port <= 65535)) {
        throw new CliError(`--port needs a port number from 0 to 65535, got "${value}"`, 2);
      }
      options.port = port;
    } else if (flag === "--hostname") {
      options.hostname = value;
    } else if (flag === "--public-url") {
      options.publicUrl = publicUrl(value);
    } else {
      options.db = value;
    }
    i++;
  }
  return options;
}

/** The `--public-url` value: an http(s) origin, with no path, query or fragment. */
function publicUrl(value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // Said below.
  }
  if (
    url === null || !/^https?:$/.test(url.protocol) || url.username !== "" || url.password !== "" ||
    (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== ""
  ) {
    throw new CliError(
      `--public-url needs an http(s) address with no path, such as https://dash.example, got "${value}"`,
      2,
    );
  }
  return url.origin;
}

/**
 * Runs the dashboard server until SIGINT or SIGTERM.
 *
 * @param args The command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP.trimEnd());
    return 0;
  }
  if (args.includes("--version") || args.includes("-V")) {
    console.log(`dashboard ${VERSION}`);
    return 0;
  }
  let kv: Deno.Kv | undefined;
  /** The store file this start created, removed again if the start fails. */
  let createdDb: string | null = null;
  try {
    const options = parseOptions(args);
    try {
      if (isStoreFile(options.db) && preparePrivateDatabase(options.db)) createdDb = options.db;
      kv = await Deno.openKv(options.db);
    } catch (error) {
      throw new CliError(`cannot open the store "${options.db}": ${(error as Error).message}`);
    }
    let server;
    try {
      server = await startServer({
        kv,
        port: options.port,
        hostname: options.hostname,
        alerts: {
          allowPrivateDestinations: options.allowPrivateDestinations,
          publicUrl: options.publicUrl,
        },
      });
    } catch (error) {
      throw new CliError(
        `cannot listen on ${options.hostname}:${options.port}: ${
          error instanceof Deno.errors.AddrInUse
            ? "the port is in use by another program (stop it, or choose another with --port)"
            : (error as Error).message
        }`,
      );
    }
    createdDb = null;
    console.error(`dashboard: listening on ${server.url}`);
    const { promise: stopped, resolve } = Promise.withResolvers<Deno.Signal>();
    const onSigint = () => resolve("SIGINT");
    const onSigterm = () => resolve("SIGTERM");
    Deno.addSignalListener("SIGINT", onSigint);
    Deno.addSignalListener("SIGTERM", onSigterm);
    const signal = await stopped;
    Deno.removeSignalListener("SIGINT", onSigint);
    Deno.removeSignalListener("SIGTERM", onSigterm);
    console.error(`dashboard: ${signal}: stopping`);
    await server.shutdown();
    console.error("dashboard: stopped");
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`dashboard: ${error.message}`);
    return error.exitCode;
  } finally {
    kv?.close();
    // A failed start leaves nothing behind.
    if (createdDb !== null) await removeDatabase(createdDb);
  }
}

/** Whether `--db` names a file (not `:memory:` or a denokv URL). */
function isStoreFile(db: string): boolean {
  return db !== ":memory:" && !/^https?:\/\//i.test(db);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
