/**
 * The link between this machine and a dashboard, as files under `$KOI_DIR`:
 * `dashboard.json` (`{id, server}`), `apikey`, `runkey` and `datakey`, each mode
 * 0600 and written atomically. `koitab -d` writes them; koid reads them. A link
 * made before Koi had a data key has no `datakey`: it cannot be derived without
 * the password, so `koitab -d join URL` (which asks for it) adds it.
 *
 * @module
 */

import { writeFileAtomic } from "../files.ts";
import type { KoiPaths } from "../koidir.ts";
import { DASHBOARD_ID } from "../protocol/wire.ts";
import { normalizeServer } from "./client.ts";

/** A linked dashboard and its keys. */
export interface DashboardConfig {
  /** The dashboard id. */
  readonly id: string;
  /** The server's base URL (`http://localhost:8080`). */
  readonly server: string;
  /** Sent to the server with every call. */
  readonly apiKey: string;
  /** Signs and checks manual runs; never sent. */
  readonly runKey: string;
  /**
   * Encrypts and decrypts what jobs say and are told (`envelope.js`); never sent.
   * Null for a link made before Koi had one ({@linkcode missingDataKey} says what to do).
   */
  readonly dataKey: string | null;
}

/** A link as `koitab -d new` and `join` write it: always with its data key. */
export type NewDashboardConfig = DashboardConfig & { readonly dataKey: string };

const KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * Reads the link, if there is one.
 *
 * @param paths The `KOI_DIR` paths.
 * @returns The link, or null when `dashboard.json` does not exist.
 * @throws {SyntaxError} If a file is malformed or a key file is missing; the message names it.
 */
export async function readDashboardConfig(paths: KoiPaths): Promise<DashboardConfig | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(paths.dashboard);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SyntaxError(`Cannot read ${paths.dashboard}: it is not JSON`);
  }
  const link = parsed as { id?: unknown; server?: unknown } | null;
  if (typeof link?.id !== "string" || !DASHBOARD_ID.test(link.id)) {
    throw new SyntaxError(`Cannot read ${paths.dashboard}: "id" is not a dashboard id`);
  }
  if (typeof link.server !== "string") {
    throw new SyntaxError(`Cannot read ${paths.dashboard}: "server" is not a URL`);
  }
  let server: string;
  try {
    server = normalizeServer(link.server);
  } catch (error) {
    throw new SyntaxError(`Cannot read ${paths.dashboard}: ${(error as Error).message}`);
  }
  return {
    id: link.id,
    server,
    apiKey: await readKey(paths.apiKey, "required"),
    runKey: await readKey(paths.runKey, "required"),
    dataKey: await readKey(paths.dataKey, "optional"),
  };
}

async function readKey(path: string, need: "required"): Promise<string>;
async function readKey(path: string, need: "optional"): Promise<string | null>;
async function readKey(path: string, need: "required" | "optional"): Promise<string | null> {
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (need === "optional") return null;
      throw new SyntaxError(`Cannot read ${path}: it is missing`);
    }
    throw error;
  }
  if (!KEY.test(text)) throw new SyntaxError(`Cannot read ${path}: it is not a key`);
  return text;
}

/**
 * What to say about a link without a data key: why it has none and how to add it.
 *
 * @param joinUrl The dashboard's URL, as `koitab -d join` takes it.
 * @returns The sentence, without a trailing period.
 *
 * @example
 * ```ts
 * import { missingDataKey } from "./config.ts";
 *
 * const text = missingDataKey("http://localhost:8080/d/Zm9vYmFyYmF6cXV4MTIzNA");
 * if (!text.includes('"koitab -d join http://localhost:8080/d/Zm9vYmFyYmF6cXV4MTIzNA"')) {
 *   throw new Error(text);
 * }
 * ```
 */
export function missingDataKey(joinUrl: string): string {
  return `this link was made before Koi had a data key, and it cannot be derived without the password: "koitab -d join ${joinUrl}" adds it (it asks for the password and keeps the link as it is)`;
}

/**
 * Writes the link: the three keys, then `dashboard.json` last, each atomically
 * and mode 0600, creating `KOI_DIR` (0700) if needed.
 *
 * @param paths The `KOI_DIR` paths.
 * @param config The link.
 * @returns When all four files are in place.
 */
export async function writeDashboardConfig(
  paths: KoiPaths,
  config: NewDashboardConfig,
): Promise<void> {
  await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.apiKey, `${config.apiKey}\n`, { mode: 0o600 });
  await writeFileAtomic(paths.runKey, `${config.runKey}\n`, { mode: 0o600 });
  await writeFileAtomic(paths.dataKey, `${config.dataKey}\n`, { mode: 0o600 });
  const link = JSON.stringify({ id: config.id, server: config.server }, null, 2);
  await writeFileAtomic(paths.dashboard, `${link}\n`, { mode: 0o600 });
}

/**
 * Removes the link: `dashboard.json` first, so koid stops using it, then the keys.
 *
 * @param paths The `KOI_DIR` paths.
 * @returns Whether any of the files existed.
 */
export async function deleteDashboardConfig(paths: KoiPaths): Promise<boolean> {
  let removed = false;
  for (const path of [paths.dashboard, paths.apiKey, paths.runKey, paths.dataKey]) {
    try {
      await Deno.remove(path);
      removed = true;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return removed;
}
