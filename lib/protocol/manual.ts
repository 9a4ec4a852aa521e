/**
 * Manual runs: the payload a browser or `koitab -d run` signs, and the checks koid
 * makes before it runs anything. Pure logic: the clock, the keys, the koitab's
 * jobs and the record of seen requests are passed in.
 *
 * A rogue dashboard server can show, delay or drop requests, but cannot make koid
 * run anything the local koitab does not define: every check below is made
 * against local state, and only the checked values reach the local command.
 *
 * @module
 */

import { ArgumentError, fillArgs } from "../args.ts";
import { argFromJson, type ArgValue } from "./arg_types.js";
import { EnvelopeError } from "./envelope.js";
import { verifyRun } from "./keys.ts";
import { contexts, openValue } from "./sealed.js";

export { payloadText } from "./signing.js";
import type { KoitabJob } from "../koitab.ts";

/** The format version of manual-run payloads: 2 since argument values are sealed. */
export const PAYLOAD_VERSION = 2;

/** How far a request's timestamp may be from koid's clock, either way. */
export const FRESHNESS_MS = 5 * 60_000;

/** The largest payload koid reads. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

/** What a manual-run request says, signed as JSON with the run key. */
export interface ManualPayload {
  /** Always {@linkcode PAYLOAD_VERSION}. */
  readonly v: 2;
  /** The dashboard the request is for. */
  readonly dashboard: string;
  /** The host that must run it. */
  readonly host: string;
  /** The job's tag. */
  readonly tag: string;
  /** When it was signed, ms since the epoch; unique per request. */
  readonly ts: number;
  /**
   * Argument values by argument name, each sealed (`sealPayloadArgs()` in
   * `./sealed.js`): the JSON of a string, a whole number or a boolean.
   */
  readonly args: Readonly<Record<string, string>>;
}

/** What koid knows locally, against which a request is checked. */
export interface ManualContext {
  /** The run key from `$KOI_DIR/runkey`. */
  readonly runKey: string;
  /** The data key from `$KOI_DIR/datakey`, or its `importDataKey()`. */
  readonly dataKey: string | CryptoKey;
  /** This koid's dashboard id. */
  readonly dashboardId: string;
  /** This koid's host name. */
  readonly host: string;
  /** The jobs of the local koitab in force. */
  readonly jobs: readonly KoitabJob[];
  /** The current instant, ms since the epoch. */
  readonly now: number;
  /** Whether a request with this signature was accepted before (kept across restarts). */
  readonly seen: (signature: string) => boolean;
}

/** The verdict on a request: the job and its checked values, or why it is refused. */
export type ManualVerdict =
  | {
    readonly ok: true;
    readonly job: KoitabJob;
    readonly values: Record<string, ArgValue>;
    readonly payload: ManualPayload;
  }
  | { readonly ok: false; readonly reason: string };

function refuse(reason: string): ManualVerdict {
  return { ok: false, reason };
}

/**
 * Checks a manual-run request. All must hold: the signature verifies under the
 * local run key; the payload names this dashboard and this host; its timestamp is
 * within 5 minutes of now and the request was never accepted before; the tag
 * names a local `@manual` job; each argument value opens with the local data key
 * for this dashboard, host, tag and timestamp (the signature covers the sealed
 * values, checked first); the argument names and types match the local
 * definition and pass `fillArgs()`.
 *
 * @param request The payload text and signature, as received.
 * @param context What koid knows locally.
 * @returns The job to run with its values, or the reason for refusing.
 */
export async function checkManualRun(
  request: { readonly payload: unknown; readonly signature: unknown },
  context: ManualContext,
): Promise<ManualVerdict> {
  const { payload: text, signature } = request;
  if (typeof text !== "string" || typeof signature !== "string") {
    return refuse("the request has no payload text or no signature");
  }
  if (new TextEncoder().encode(text).length > MAX_PAYLOAD_BYTES) {
    return refuse("the payload is larger than 1 MiB");
  }
  if (!await verifyRun(context.runKey, text, signature)) {
    return refuse("the signature does not verify under this machine's run key");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse("the payload is not JSON");
  }
  const shape = payloadShape(parsed);
  if (typeof shape === "string") return refuse(shape);
  const payload = shape;
  if (payload.dashboard !== context.dashboardId) {
    return refuse(`the request is for another dashboard ("${payload.dashboard}")`);
  }
  if (payload.host !== context.host) {
    return refuse(`the request is for another host ("${payload.host}")`);
  }
  if (Math.abs(context.now - payload.ts) > FRESHNESS_MS) {
    return refuse(
      `the request was signed at ${
        new Date(payload.ts).toISOString()
      }, more than 5 minutes from now`,
    );
  }
  if (context.seen(signature)) return refuse("the request was already received once (a replay)");
  const job = context.jobs.find((candidate) => candidate.tag === payload.tag);
  if (job === undefined) return refuse(`no job with tag "${payload.tag}" in the local koitab`);
  if (job.kind !== "manual") {
    return refuse(`the job with tag "${payload.tag}" is not an @manual job`);
  }
  const values: Record<string, ArgValue> = {};
  const at = contexts(context.dashboardId, context.host);
  for (const [name, envelope] of Object.entries(payload.args)) {
    const spec = job.args.find((arg) => arg.name === name);
    if (spec === undefined) return refuse(`the job has no argument "${name}"`);
    let value: ArgValue;
    try {
      value = await openValue(
        context.dataKey,
        at.payloadArg(payload.tag, name, payload.ts),
        envelope,
      );
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      return refuse(
        `argument "${name}" does not decrypt with this machine's data key (${error.reason}): it was changed or moved on the server, or sealed with another key`,
      );
    }
    // As JSON gives it: an int must be a number, a bool a boolean, never text.
    const verdict = argFromJson(spec.type, value);
    if (!verdict.ok) return refuse(`argument "${name}" ${verdict.problem}`);
    values[name] = verdict.value;
  }
  try {
    fillArgs(job, values);
  } catch (error) {
    if (error instanceof ArgumentError) return refuse(error.message);
    throw error;
  }
  return { ok: true, job, values, payload };
}

/** The payload if it has the right shape, else what is wrong with it. */
function payloadShape(value: unknown): ManualPayload | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "the payload is not a JSON object";
  }
  const p = value as Record<string, unknown>;
  if (p.v !== PAYLOAD_VERSION) {
    return `the payload's version is not ${PAYLOAD_VERSION} (sent by an older Koi, which does not seal argument values: upgrade it)`;
  }
  for (const field of ["dashboard", "host", "tag"] as const) {
    if (typeof p[field] !== "string") return `the payload's "${field}" is not a string`;
  }
  if (typeof p.ts !== "number" || !Number.isSafeInteger(p.ts)) {
    return `the payload's "ts" is not a whole number of milliseconds`;
  }
  const args = p.args;
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return `the payload's "args" is not an object`;
  }
  for (const [name, arg] of Object.entries(args)) {
    if (typeof arg !== "string") return `argument "${name}" is not sealed (not an envelope)`;
  }
  return p as unknown as ManualPayload;
}
