/**
 * A dashboard made over the API, as `koitab -d new` makes one: an id and an API
 * key posted to `POST /api/dashboards`. For the tests and benches that drive a
 * real server.
 *
 * @module
 */

import { base64url, newDashboardId } from "../lib/protocol/keys.ts";

/** A dashboard made on a server: its id, its API key, and the headers that carry it. */
export interface NewDashboard {
  id: string;
  apiKey: string;
  headers: Record<string, string>;
}

/**
 * Makes a dashboard on the server at `url`.
 *
 * @param url The server's base URL.
 * @param keys The id and API key to use; fresh random ones by default.
 * @returns The dashboard.
 * @throws {Error} Unless the server answers `201`.
 */
export async function createDashboard(
  url: string,
  keys: { id?: string; apiKey?: string } = {},
): Promise<NewDashboard> {
  const id = keys.id ?? newDashboardId();
  const apiKey = keys.apiKey ?? base64url(crypto.getRandomValues(new Uint8Array(32)));
  const response = await fetch(`${url}/api/dashboards`, {
    method: "POST",
    body: JSON.stringify({ id, apiKey }),
  });
  await response.body?.cancel();
  if (response.status !== 201) throw new Error(`cannot create a dashboard: ${response.status}`);
  return { id, apiKey, headers: { authorization: `Bearer ${apiKey}` } };
}

/**
 * Calls the dashboard's API with its key, for what no client method does
 * (alert channels, mutes), and gives the answer's status.
 *
 * @param url The server's base URL.
 * @param dashboard The dashboard's id and API key.
 * @param method The HTTP method.
 * @param path The path under `/api/d/{id}`.
 * @param body A body to send as JSON.
 * @returns The status.
 */
export async function callApi(
  url: string,
  dashboard: { id: string; apiKey: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<number> {
  const response = await fetch(`${url}/api/d/${dashboard.id}${path}`, {
    method,
    headers: { authorization: `Bearer ${dashboard.apiKey}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await response.body?.cancel();
  return response.status;
}
