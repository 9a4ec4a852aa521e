/**
 * A small KV Connect server over a local Deno KV, so that Deno's own remote KV
 * client (`Deno.openKv("http://…")`) talks to something real in tests, as it would
 * to a self-hosted denokv. It speaks the protocol as the denokv repository writes
 * it down (`proto/kv-connect.md`, `proto/schema/datapath.proto`): the metadata
 * exchange (versions 2 and 3), snapshot reads and atomic writes with checks,
 * set, delete, sum, min, max and expiry.
 *
 * Keys stay the bytes the client encoded: each is stored as the local key
 * `[bytes]`, whose encoding keeps byte order, so ranges, `reverse` and `limit`
 * come out as denokv's SQLite (which compares keys with memcmp) gives them. A value
 * is stored as denokv's value kinds: V8-serialized bytes, never decoded, as
 * `{v8: bytes}`; plain bytes as a `Uint8Array`; a little-endian u64 as a
 * `Deno.KvU64`, so the local store does the sums. A commit's checks and mutations
 * go to the local store as one checked atomic write: the local store serializes
 * commits and compares the checks inside each, so concurrent writers need no lock
 * here, and its versionstamps (10 bytes, increasing with each commit) are the ones
 * the client sees.
 *
 * Everything else is refused loudly: enqueues, `watch`, versionstamped keys, sums
 * with limits, unknown fields or paths, denokv's limits exceeded. A refusal answers
 * 4xx (Deno's client retries a 5xx for ever, which would hang a test instead of
 * failing it), is logged, and is kept in `refusals` for the test to check.
 *
 * Run on its own (for the load bench), it prints `kv connect: listening on URL`
 * and serves an in-memory store until SIGTERM or SIGINT:
 *
 * ```sh
 * DENO_KV_ACCESS_TOKEN=… deno run --unstable-kv --allow-net=127.0.0.1 --allow-env tests/_kv_connect.ts
 * ```
 *
 * @module
 */

import { type FieldTag, WireError, WireReader, WireWriter } from "./_protobuf.ts";
import { timingSafeEqual } from "../lib/protocol/keys.ts";

/** denokv's limits (`proto/limits.rs`). */
const LIMITS = {
  writeKeyBytes: 100 * 1024,
  readKeyBytes: 100 * 1024 + 1,
  valueBytes: 1024 ** 3,
  readRanges: 10,
  readEntries: 1000,
  checks: 10,
  mutations: 1000,
  totalMutationBytes: 819_200,
};

/** `ValueEncoding`. */
const VE_V8 = 1;
const VE_LE64 = 2;
const VE_BYTES = 3;
/** `MutationType`. */
const M_SET = 1;
const M_DELETE = 2;
const M_SUM = 3;
const M_MAX = 4;
const M_MIN = 5;
/** `SnapshotReadStatus.SR_SUCCESS`, `AtomicWriteStatus.AW_SUCCESS`, `AW_CHECK_FAILURE`. */
const SR_SUCCESS = 1;
const AW_SUCCESS = 1;
const AW_CHECK_FAILURE = 2;

/** The data path's base, as denokv serves it. */
const ENDPOINT = "/v2";
const PROTOCOL_VERSIONS = [2, 3];

/** How to run the fixture. */
export interface KvConnectOptions {
  /** The local store behind it; the caller closes it after `close()`. */
  kv: Deno.Kv;
  /** The access token clients must present. Default: a random one. */
  token?: string;
  /** The TCP port on 127.0.0.1; default 0, a free one. */
  port?: number;
  /** Where refusals are logged. Default stderr. */
  log?: (line: string) => void;
}

/** A running fixture. */
export interface KvConnectServer {
  /** The URL to give `Deno.openKv`, such as `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The access token, for `DENO_KV_ACCESS_TOKEN`. */
  readonly token: string;
  /** Every request refused, as the message it was answered with. */
  readonly refusals: string[];
  /** Requests served, by kind, and how many atomic writes failed a check. */
  readonly served: {
    metadata: number;
    snapshotRead: number;
    atomicWrite: number;
    checkFailures: number;
  };
  /** Stops serving; once. */
  close(): Promise<void>;
}

/** A request the fixture does not serve: answered with `status` and the message. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface ReadRange {
  start: Bytes;
  end: Bytes;
  limit: number;
  reverse: boolean;
}

/** Bytes on their own buffer, as requests and the wire writer give them. */
type Bytes = Uint8Array<ArrayBuffer>;

type StoredValue = { v8: Bytes } | Bytes | Deno.KvU64;

interface Mutation {
  key: Bytes;
  type: number;
  value: { data: Bytes; encoding: number } | null;
  expireAtMs: bigint;
  sumLimits: boolean;
}

interface Check {
  key: Bytes;
  versionstamp: Bytes;
}

/**
 * Starts the fixture on 127.0.0.1.
 *
 * @param options The local store, token and port.
 * @returns The running fixture.
 *
 * @example Deno's remote client over the fixture
 * ```ts ignore
 * const local = await Deno.openKv(":memory:");
 * const fixture = await startKvConnect({ kv: local });
 * Deno.env.set("DENO_KV_ACCESS_TOKEN", fixture.token);
 * const remote = await Deno.openKv(fixture.url);
 * await remote.set(["a"], 1);
 * remote.close();
 * await fixture.close();
 * local.close();
 * ```
 */
export async function startKvConnect(options: KvConnectOptions): Promise<KvConnectServer> {
  const kv = options.kv;
  const token = options.token ?? randomToken();
  const log = options.log ?? ((line: string) => console.error(`kv connect: ${line}`));
  const databaseId = crypto.randomUUID();
  const refusals: string[] = [];
  const served = { metadata: 0, snapshotRead: 0, atomicWrite: 0, checkFailures: 0 };

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method !== "POST") throw new Refusal(405, `${request.method} ${path}`);
    if (path === "/") {
      served.metadata++;
      return metadata(request, token, databaseId);
    }
    authenticateDataPath(request, token, databaseId);
    const body = new Uint8Array(await request.arrayBuffer());
    if (path === `${ENDPOINT}/snapshot_read`) {
      served.snapshotRead++;
      return protobufResponse(await snapshotRead(kv, decodeSnapshotRead(body)));
    }
    if (path === `${ENDPOINT}/atomic_write`) {
      served.atomicWrite++;
      const { ok, output } = await atomicWrite(kv, decodeAtomicWrite(body));
      if (!ok) served.checkFailures++;
      return protobufResponse(output);
    }
    if (path === `${ENDPOINT}/watch`) {
      throw new Refusal(400, "watch is not implemented by this fixture (Koi does not watch)");
    }
    throw new Refusal(404, `no such endpoint: ${path}`);
  };

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: resolve,
  }, async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      const refusal = error instanceof Refusal
        ? error
        : new Refusal(400, `${error instanceof WireError ? "" : "failed: "}${error}`);
      refusals.push(refusal.message);
      log(`refused ${request.method} ${new URL(request.url).pathname}: ${refusal.message}`);
      return new Response(refusal.message, {
        status: refusal.status,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
  });
  const address = await listening;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    token,
    refusals,
    served,
    close() {
      closed ??= server.shutdown();
      return closed;
    },
  };
}

function randomToken(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(24)));
}

/** Whether `authorization` is `Bearer TOKEN`, compared in constant time. */
function bearerMatches(authorization: string | null, token: string): boolean {
  const given = /^Bearer (.*)$/i.exec(authorization ?? "")?.[1] ?? "";
  return timingSafeEqual(new TextEncoder().encode(given), new TextEncoder().encode(token));
}

/** The metadata exchange: the client's versions in, the endpoint and token out. */
async function metadata(request: Request, token: string, databaseId: string): Promise<Response> {
  if (!bearerMatches(request.headers.get("authorization"), token)) {
    throw new Refusal(401, "metadata exchange: invalid access token");
  }
  let body: unknown;
  try {
    body = JSON.parse(await request.text());
  } catch {
    throw new Refusal(400, "metadata exchange: the body is not JSON (protocol version 2 or 3)");
  }
  const versions = (body as { supportedVersions?: unknown } | null)?.supportedVersions;
  if (!Array.isArray(versions) || !versions.every((v) => Number.isInteger(v))) {
    throw new Refusal(400, "metadata exchange: supportedVersions is not an array of integers");
  }
  const version = Math.max(...PROTOCOL_VERSIONS.filter((v) => versions.includes(v)));
  if (version === -Infinity) {
    throw new Refusal(400, `metadata exchange: no common protocol version in [${versions}]`);
  }
  return Response.json({
    version,
    databaseId,
    endpoints: [{ url: ENDPOINT, consistency: "strong" }],
    token,
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
  });
}

/** The headers every data path request must carry. */
function authenticateDataPath(request: Request, token: string, databaseId: string): void {
  const headers = request.headers;
  if (!bearerMatches(headers.get("authorization"), token)) {
    throw new Refusal(401, "data path: invalid access token");
  }
  const version = headers.get("x-denokv-version");
  if (!PROTOCOL_VERSIONS.map(String).includes(version ?? "")) {
    throw new Refusal(400, `data path: x-denokv-version is "${version}", expected 2 or 3`);
  }
  if (headers.get("x-denokv-database-id") !== databaseId) {
    throw new Refusal(400, "data path: x-denokv-database-id is not this database's id");
  }
  if (headers.get("content-type") !== "application/x-protobuf") {
    throw new Refusal(400, `data path: content-type is "${headers.get("content-type")}"`);
  }
}

function protobufResponse(message: WireWriter): Response {
  return new Response(message.finish(), {
    headers: { "content-type": "application/x-protobuf" },
  });
}

function decodeSnapshotRead(body: Bytes): ReadRange[] {
  const reader = new WireReader(body, "SnapshotRead");
  const ranges: ReadRange[] = [];
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field !== 1) throw reader.unknown(tag);
    ranges.push(decodeReadRange(reader.bytes(tag)));
  }
  if (ranges.length > LIMITS.readRanges) throw new Refusal(400, "too many read ranges");
  let entries = 0;
  for (const range of ranges) {
    if (range.limit <= 0) throw new Refusal(400, `invalid read range limit ${range.limit}`);
    if (Math.max(range.start.length, range.end.length) > LIMITS.readKeyBytes) {
      throw new Refusal(400, "a read range key is too long");
    }
    entries += range.limit;
  }
  if (entries > LIMITS.readEntries) throw new Refusal(400, "read ranges ask for too many entries");
  return ranges;
}

function decodeReadRange(bytes: Bytes): ReadRange {
  const reader = new WireReader(bytes, "ReadRange");
  const range: ReadRange = {
    start: new Uint8Array(),
    end: new Uint8Array(),
    limit: 0,
    reverse: false,
  };
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field === 1) range.start = reader.bytes(tag);
    else if (tag.field === 2) range.end = reader.bytes(tag);
    else if (tag.field === 3) range.limit = int32(reader, tag);
    else if (tag.field === 4) range.reverse = reader.bool(tag);
    else throw reader.unknown(tag);
  }
  return range;
}

function int32(reader: WireReader, tag: FieldTag): number {
  const value = reader.int64(tag);
  if (value < -(2n ** 31n) || value >= 2n ** 31n) {
    throw new WireError(`Cannot read field ${tag.field}: ${value} is not an int32`);
  }
  return Number(value);
}

/** Whether a range holds exactly one key: `[key, key + 0x00)`, as `get` asks. */
function isSingleKey(range: ReadRange): boolean {
  const { start, end } = range;
  return end.length === start.length + 1 && end[start.length] === 0 &&
    start.every((byte, i) => end[i] === byte);
}

function compareBytes(a: Bytes, b: Bytes): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Reads the ranges from one snapshot: a range in one local read (`batchSize` is
 * its limit, so the local list is one snapshot read too), several single keys in
 * one `getMany`. Several wider ranges have no one local snapshot; Deno's client
 * never asks for them.
 */
async function snapshotRead(kv: Deno.Kv, ranges: ReadRange[]): Promise<WireWriter> {
  let entries: Deno.KvEntryMaybe<StoredValue>[][];
  if (ranges.length === 1) {
    const range = ranges[0]!;
    entries = compareBytes(range.start, range.end) >= 0 ? [[]] : [
      await Array.fromAsync(
        kv.list<StoredValue>({ start: [range.start], end: [range.end] }, {
          limit: range.limit,
          reverse: range.reverse,
          batchSize: range.limit,
        }),
      ),
    ];
  } else if (ranges.every(isSingleKey)) {
    const found = await kv.getMany<StoredValue[]>(ranges.map((range) => [range.start]));
    entries = found.map((entry) => entry.versionstamp === null ? [] : [entry]);
  } else {
    throw new Refusal(400, "a snapshot read of several ranges wider than one key");
  }
  const output = new WireWriter();
  for (const range of entries) {
    const values = new WireWriter();
    for (const entry of range) {
      const { data, encoding } = encodeValue(entry.value);
      values.message(
        1,
        new WireWriter()
          .bytes(1, entry.key[0] as Bytes)
          .bytes(2, data)
          .varint(3, encoding)
          .bytes(4, fromHex(entry.versionstamp!)),
      );
    }
    output.message(1, values);
  }
  return output.bool(4, true).varint(8, SR_SUCCESS);
}

/** A stored value as the wire gives it: its bytes and their encoding. */
function encodeValue(value: StoredValue | null): { data: Bytes; encoding: number } {
  if (value instanceof Uint8Array) return { data: value, encoding: VE_BYTES };
  if (value instanceof Deno.KvU64) {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigUint64(0, value.value, true);
    return { data, encoding: VE_LE64 };
  }
  if (value !== null && value.v8 instanceof Uint8Array) return { data: value.v8, encoding: VE_V8 };
  throw new Refusal(400, "the local store holds a value this fixture did not write");
}

function decodeAtomicWrite(body: Bytes): { checks: Check[]; mutations: Mutation[] } {
  const reader = new WireReader(body, "AtomicWrite");
  const checks: Check[] = [];
  const mutations: Mutation[] = [];
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field === 1) checks.push(decodeCheck(reader.bytes(tag)));
    else if (tag.field === 2) mutations.push(decodeMutation(reader.bytes(tag)));
    else if (tag.field === 3) throw new Refusal(400, "enqueue is not implemented by this fixture");
    else throw reader.unknown(tag);
  }
  if (checks.length > LIMITS.checks) throw new Refusal(400, "too many checks");
  if (mutations.length > LIMITS.mutations) throw new Refusal(400, "too many mutations");
  let total = 0;
  for (const check of checks) {
    if (check.key.length > LIMITS.readKeyBytes) throw new Refusal(400, "a check key is too long");
    if (check.versionstamp.length !== 0 && check.versionstamp.length !== 10) {
      throw new Refusal(400, `a check has a ${check.versionstamp.length}-byte versionstamp`);
    }
    total += check.key.length;
  }
  for (const mutation of mutations) {
    if (mutation.key.length > LIMITS.writeKeyBytes) throw new Refusal(400, "a key is too long");
    const size = mutation.value?.data.length ?? 0;
    if (size > LIMITS.valueBytes) throw new Refusal(400, "a value is too long");
    total += mutation.key.length + size;
  }
  if (total > LIMITS.totalMutationBytes) throw new Refusal(400, "the atomic write is too large");
  return { checks, mutations };
}

function decodeCheck(bytes: Bytes): Check {
  const reader = new WireReader(bytes, "Check");
  const check: Check = { key: new Uint8Array(), versionstamp: new Uint8Array() };
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field === 1) check.key = reader.bytes(tag);
    else if (tag.field === 2) check.versionstamp = reader.bytes(tag);
    else throw reader.unknown(tag);
  }
  return check;
}

function decodeMutation(bytes: Bytes): Mutation {
  const reader = new WireReader(bytes, "Mutation");
  const mutation: Mutation = {
    key: new Uint8Array(),
    type: 0,
    value: null,
    expireAtMs: 0n,
    sumLimits: false,
  };
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field === 1) mutation.key = reader.bytes(tag);
    else if (tag.field === 2) mutation.value = decodeKvValue(reader.bytes(tag));
    else if (tag.field === 3) mutation.type = reader.uint(tag);
    else if (tag.field === 4) mutation.expireAtMs = reader.int64(tag);
    else if (tag.field === 5 || tag.field === 6) {
      mutation.sumLimits ||= reader.bytes(tag).length > 0;
    } else if (tag.field === 7) mutation.sumLimits ||= reader.bool(tag);
    else throw reader.unknown(tag);
  }
  return mutation;
}

function decodeKvValue(bytes: Bytes): { data: Bytes; encoding: number } {
  const reader = new WireReader(bytes, "KvValue");
  const value = { data: new Uint8Array(), encoding: 0 };
  for (let tag = reader.next(); tag !== null; tag = reader.next()) {
    if (tag.field === 1) value.data = reader.bytes(tag);
    else if (tag.field === 2) value.encoding = reader.uint(tag);
    else throw reader.unknown(tag);
  }
  return value;
}

/** A wire value as stored locally; copies, since the request's buffer is a view. */
function storedValue(value: { data: Bytes; encoding: number }): StoredValue {
  const data = value.data.slice();
  if (value.encoding === VE_V8) return { v8: data };
  if (value.encoding === VE_BYTES) return data;
  if (value.encoding === VE_LE64 && data.length === 8) {
    return new Deno.KvU64(new DataView(data.buffer).getBigUint64(0, true));
  }
  throw new Refusal(400, `a value has encoding ${value.encoding} with ${data.length} bytes`);
}

function u64Operand(mutation: Mutation, name: string): bigint {
  if (mutation.sumLimits) {
    throw new Refusal(400, "a sum with limits (of a V8 number) is not implemented by this fixture");
  }
  const value = mutation.value === null ? null : storedValue(mutation.value);
  if (!(value instanceof Deno.KvU64)) {
    throw new Refusal(400, `${name} of a value that is not a little-endian u64`);
  }
  return value.value;
}

/** Applies the checks and mutations as one local checked atomic write. */
async function atomicWrite(
  kv: Deno.Kv,
  write: { checks: Check[]; mutations: Mutation[] },
): Promise<{ ok: boolean; output: WireWriter }> {
  const operation = kv.atomic();
  for (const check of write.checks) {
    operation.check({
      key: [check.key.slice()],
      versionstamp: check.versionstamp.length === 0 ? null : toHex(check.versionstamp),
    });
  }
  for (const mutation of write.mutations) {
    const key = [mutation.key.slice()];
    const expireAt = mutation.expireAtMs === -1n ? 0n : mutation.expireAtMs;
    if (expireAt < 0n) throw new Refusal(400, `invalid expiry ${mutation.expireAtMs}`);
    if (expireAt > 0n && mutation.type !== M_SET) {
      throw new Refusal(400, `an expiry on mutation type ${mutation.type} is not implemented`);
    }
    if (mutation.type === M_SET) {
      if (mutation.value === null) throw new Refusal(400, "a set without a value");
      const value = storedValue(mutation.value);
      if (expireAt === 0n) operation.set(key, value);
      else operation.set(key, value, { expireIn: Math.max(0, Number(expireAt) - Date.now()) });
    } else if (mutation.type === M_DELETE) {
      operation.delete(key);
    } else if (mutation.type === M_SUM) {
      operation.sum(key, u64Operand(mutation, "sum"));
    } else if (mutation.type === M_MIN) {
      operation.min(key, u64Operand(mutation, "min"));
    } else if (mutation.type === M_MAX) {
      operation.max(key, u64Operand(mutation, "max"));
    } else {
      throw new Refusal(400, `mutation type ${mutation.type} is not implemented by this fixture`);
    }
  }
  const result = await operation.commit();
  return {
    ok: result.ok,
    output: result.ok
      ? new WireWriter().varint(1, AW_SUCCESS).bytes(2, fromHex(result.versionstamp))
      : new WireWriter().varint(1, AW_CHECK_FAILURE),
  };
}

function toHex(bytes: Bytes): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Bytes {
  return Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));
}

if (import.meta.main) {
  const kv = await Deno.openKv(":memory:");
  const token = Deno.env.get("DENO_KV_ACCESS_TOKEN");
  const fixture = await startKvConnect({ kv, ...token && { token } });
  console.error(`kv connect: listening on ${fixture.url}`);
  const { promise: stop, resolve } = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGTERM", () => resolve());
  Deno.addSignalListener("SIGINT", () => resolve());
  await stop;
  await fixture.close();
  kv.close();
  console.error(`kv connect: stopped; ${fixture.refusals.length} requests refused`);
  Deno.exit(fixture.refusals.length === 0 ? 0 : 1);
}
