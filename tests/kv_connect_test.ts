/**
 * Deno's own remote KV client against the KV Connect fixture, each result compared
 * with what a local store gives for the same calls: the fixture must store, order
 * and check exactly as denokv does, or the multi-instance tests prove nothing.
 */

import { assert, assertEquals } from "./_assert.ts";
import { type KvConnectServer, startKvConnect } from "./_kv_connect.ts";
import { WireReader, WireWriter } from "./_protobuf.ts";

interface Setup {
  fixture: KvConnectServer;
  /** The store behind the fixture. */
  backing: Deno.Kv;
  /** Opens another remote client on the fixture; closed after the test. */
  connect(): Promise<Deno.Kv>;
}

/** Runs `fn` with a fixture and a remote client on it; unless told, no request may be refused. */
async function withFixture(
  fn: (remote: Deno.Kv, setup: Setup) => Promise<void>,
  expectRefusals = false,
): Promise<void> {
  const backing = await Deno.openKv(":memory:");
  const logs: string[] = [];
  const fixture = await startKvConnect({ kv: backing, log: (line) => logs.push(line) });
  const clients: Deno.Kv[] = [];
  const connect = async () => {
    Deno.env.set("DENO_KV_ACCESS_TOKEN", fixture.token);
    const client = await Deno.openKv(fixture.url);
    clients.push(client);
    return client;
  };
  try {
    await fn(await connect(), { fixture, backing, connect });
    if (!expectRefusals) assertEquals(fixture.refusals, []);
  } finally {
    for (const client of clients) client.close();
    await fixture.close();
    backing.close();
  }
}

/** Key parts of every type, with the edge cases of each type's order. */
const PARTS: Deno.KvKeyPart[] = [
  new Uint8Array(),
  new Uint8Array([0]),
  new Uint8Array([0, 0]),
  new Uint8Array([0, 1]),
  new Uint8Array([1]),
  new Uint8Array([0x7f]),
  new Uint8Array([0xff]),
  new Uint8Array([0xff, 0]),
  "",
  "\0",
  "\0a",
  "a",
  "a\0",
  "a\0b",
  "ab",
  "b",
  "é",
  "😀",
  "\uffff",
  -(2n ** 70n),
  -300n,
  -256n,
  -255n,
  -1n,
  0n,
  1n,
  255n,
  256n,
  2n ** 64n,
  2n ** 70n,
  -Infinity,
  -1e300,
  -1.5,
  -0,
  0,
  5e-324,
  1,
  2.5,
  1e300,
  Infinity,
  false,
  true,
];

/** Every part alone, and two-part keys under a few first parts. */
function sampleKeys(): Deno.KvKey[] {
  const keys: Deno.KvKey[] = PARTS.map((part) => [part]);
  for (const first of ["a", 1n, new Uint8Array([0]), true]) {
    for (const second of PARTS) keys.push([first, second]);
  }
  return keys;
}

function show(entries: Deno.KvEntry<unknown>[]): string {
  return Deno.inspect(entries.map((entry) => [entry.key, entry.value]), {
    depth: 5,
    iterableLimit: 10_000,
  });
}

Deno.test("remote list through the fixture orders, bounds, reverses and pages like a local store", async () => {
  await withFixture(async (remote) => {
    const local = await Deno.openKv(":memory:");
    try {
      const keys = sampleKeys();
      for (const [i, key] of keys.entries()) {
        await local.set(key, i);
        await remote.set(key, i);
      }
      const sorted = (await Array.fromAsync(local.list({ prefix: [] }))).map((entry) => entry.key);
      assertEquals(sorted.length, keys.length);
      const selectors: Deno.KvListSelector[] = [{ prefix: [] }];
      for (const first of ["a", 1n, new Uint8Array([0]), true]) {
        selectors.push({ prefix: [first] });
        selectors.push({ prefix: [first], start: [first, "a"] });
        selectors.push({ prefix: [first], end: [first, 0n] });
      }
      for (let i = 0; i < sorted.length; i += 23) {
        for (let j = i + 5; j < sorted.length; j += 41) {
          selectors.push({ start: sorted[i]!, end: sorted[j]! });
        }
      }
      let compared = 0;
      for (const selector of selectors) {
        for (const options of [{}, { reverse: true }, { limit: 1 }, { limit: 7, reverse: true }]) {
          for (const batchSize of [undefined, 3]) {
            const how = { ...options, ...batchSize && { batchSize } };
            const want = await Array.fromAsync(local.list(selector, how));
            const got = await Array.fromAsync(remote.list(selector, how));
            assertEquals(show(got), show(want), Deno.inspect({ selector, how }));
            compared++;
          }
        }
      }
      assert(compared > 150, `${compared}`);
      // A cursor taken from the fixture's answers resumes where the page ended.
      const pages: Deno.KvEntry<unknown>[] = [];
      let cursor: string | undefined;
      do {
        const page = remote.list({ prefix: [] }, {
          limit: 17,
          reverse: true,
          ...cursor && { cursor },
        });
        pages.push(...await Array.fromAsync(page));
        cursor = page.cursor === "" ? undefined : page.cursor;
      } while (cursor !== undefined && pages.length < keys.length * 2);
      assertEquals(
        show(pages),
        show(await Array.fromAsync(local.list({ prefix: [] }, { reverse: true }))),
      );
    } finally {
      local.close();
    }
  });
});

Deno.test("remote values round-trip through the fixture unchanged", async () => {
  await withFixture(async (remote) => {
    const values: unknown[] = [
      "text",
      "",
      "é😀",
      "x".repeat(60_000),
      0,
      -1.5,
      NaN,
      2n ** 100n,
      true,
      null,
      undefined,
      [1, "two", [3n]],
      { nested: { list: [1, 2], at: new Date(1_700_000_000_000) }, empty: {} },
      new Map<unknown, unknown>([["a", 1], [2n, { b: true }]]),
      new Set([1, "x"]),
      new Uint8Array([0, 1, 254, 255]),
      new Deno.KvU64(2n ** 64n - 1n),
    ];
    for (const [i, value] of values.entries()) await remote.set(["v", i], value);
    const got = await Array.fromAsync(remote.list({ prefix: ["v"] }));
    assertEquals(got.length, values.length);
    for (const [i, value] of values.entries()) {
      assertEquals(Deno.inspect(got[i]!.value), Deno.inspect(value), `value ${i}`);
      assertEquals(Deno.inspect((await remote.get(["v", i])).value), Deno.inspect(value));
    }
    // A set with an expiry is taken; the local store expires the value.
    await remote.set(["expiring"], "soon", { expireIn: 3_600_000 });
    assertEquals((await remote.get(["expiring"])).value, "soon");
    const many = await remote.getMany([["v", 0], ["missing"], ["v", 15]]);
    assertEquals(many.map((entry) => entry.value), [
      "text",
      null,
      new Uint8Array([0, 1, 254, 255]),
    ]);
    assertEquals(many[1]!.versionstamp, null);
  });
});

Deno.test("remote atomic writes: checks hold or fail the whole write, versionstamps increase", async () => {
  await withFixture(async (remote) => {
    const first = await remote.atomic()
      .check({ key: ["k"], versionstamp: null })
      .set(["k"], "one")
      .set(["other"], 1)
      .commit();
    assert(first.ok);
    const entry = await remote.get<string>(["k"]);
    assertEquals([entry.value, entry.versionstamp], ["one", first.versionstamp]);
    // The key exists now: a second "absent" check fails, and nothing of its write lands.
    const again = await remote.atomic()
      .check({ key: ["k"], versionstamp: null })
      .set(["k"], "two")
      .delete(["other"])
      .commit();
    assertEquals(again, { ok: false });
    assertEquals((await remote.get(["other"])).value, 1);
    const second = await remote.atomic().check(entry).set(["k"], "three").commit();
    assert(second.ok && second.versionstamp > first.versionstamp);
    // The versionstamp read before is stale now.
    assertEquals((await remote.atomic().check(entry).set(["k"], "four").commit()).ok, false);
    assertEquals((await remote.get(["k"])).value, "three");
    await remote.delete(["k"]);
    assertEquals(await remote.get(["k"]), { key: ["k"], value: null, versionstamp: null });
    const stamps: string[] = [];
    for (let i = 0; i < 20; i++) stamps.push((await remote.set(["n"], i)).versionstamp);
    assertEquals(stamps, [...stamps].sort());
    assertEquals(new Set(stamps).size, stamps.length);
    assert(stamps[0]! > second.versionstamp);
  });
});

Deno.test("remote sum, min and max change little-endian u64 values in the store", async () => {
  await withFixture(async (remote, { backing }) => {
    await remote.atomic().sum(["c"], 5n).sum(["c"], 2n ** 64n - 2n).min(["lo"], 9n).max(["hi"], 9n)
      .commit();
    await remote.atomic().min(["lo"], 4n).max(["hi"], 4n).commit();
    const [c, lo, hi] = await remote.getMany<Deno.KvU64[]>([["c"], ["lo"], ["hi"]]);
    // The sum wraps modulo 2^64, as denokv's does.
    assertEquals([c!.value!.value, lo!.value!.value, hi!.value!.value], [3n, 4n, 9n]);
    // Stored as a u64 behind the fixture, not as opaque bytes.
    const stored = await Array.fromAsync(backing.list({ prefix: [] }));
    assertEquals(stored.map((entry) => entry.value instanceof Deno.KvU64), [true, true, true]);
  });
});

Deno.test("concurrent checked read-modify-writes from two remote clients lose no update", async () => {
  await withFixture(async (remote, { connect }) => {
    const other = await connect();
    await remote.set(["count"], 0);
    let conflicts = 0;
    const increment = async (kv: Deno.Kv) => {
      for (let attempt = 0; attempt < 500; attempt++) {
        const entry = await kv.get<number>(["count"]);
        const result = await kv.atomic().check(entry).set(["count"], entry.value! + 1).commit();
        if (result.ok) return;
        conflicts++;
      }
      throw new Error("500 checked writes in a row failed");
    };
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => increment(i % 2 === 0 ? remote : other)),
    );
    assertEquals((await other.get(["count"])).value, 60);
    // The clients did race: some checks failed and were retried.
    assert(conflicts > 0, "no conflict: the test did not exercise concurrent checks");
  });
});

Deno.test("the fixture refuses what denokv refuses: more than 10 checks in one write", async () => {
  await withFixture(async (remote, { fixture }) => {
    const operation = remote.atomic();
    for (let i = 0; i < 11; i++) operation.check({ key: ["c", i], versionstamp: null });
    const error = await operation.set(["x"], 1).commit().then(() => null, (error) => error);
    assert(error instanceof Error && /too many checks/.test(error.message), `${error}`);
    assertEquals(fixture.refusals, ["too many checks"]);
  }, true);
});

/** Performs the metadata exchange by hand; returns the data path's headers. */
async function dataPathHeaders(fixture: KvConnectServer): Promise<Record<string, string>> {
  const response = await fetch(fixture.url, {
    method: "POST",
    headers: { authorization: `Bearer ${fixture.token}`, "content-type": "application/json" },
    body: JSON.stringify({ supportedVersions: [1, 2, 3] }),
  });
  const metadata = await response.json();
  assertEquals(metadata.version, 3);
  assertEquals(metadata.endpoints, [{ url: "/v2", consistency: "strong" }]);
  assertEquals(metadata.token, fixture.token);
  assert(Date.parse(metadata.expiresAt) > Date.now(), metadata.expiresAt);
  return {
    authorization: `Bearer ${metadata.token}`,
    "content-type": "application/x-protobuf",
    "x-denokv-version": "3",
    "x-denokv-database-id": metadata.databaseId,
  };
}

Deno.test("the fixture refuses loudly, with a 4xx and its reason, every message it does not implement", async () => {
  await withFixture(async (remote, { fixture }) => {
    const headers = await dataPathHeaders(fixture);
    const post = async (
      path: string,
      body: Uint8Array<ArrayBuffer>,
      extra: Record<string, string> = {},
    ) => {
      const response = await fetch(`${fixture.url}${path}`, {
        method: "POST",
        headers: { ...headers, ...extra },
        body,
      });
      return [response.status, await response.text()];
    };
    const key = new Uint8Array([2, 0x61, 0]);
    const mutation = (type: number, extra: (writer: WireWriter) => WireWriter = (w) => w) =>
      new WireWriter().message(
        2,
        extra(
          new WireWriter().bytes(1, key)
            .message(2, new WireWriter().bytes(1, new Uint8Array(8)).varint(2, 2))
            .varint(3, type),
        ),
      ).finish();
    const cases: [string, Uint8Array<ArrayBuffer>, Record<string, string>, number, string][] = [
      ["/v2/atomic_write", mutation(9), {}, 400, "mutation type 9 is not implemented"],
      [
        "/v2/atomic_write",
        mutation(3, (w) => w.bytes(5, new Uint8Array([1]))),
        {},
        400,
        "a sum with limits (of a V8 number) is not implemented by this fixture",
      ],
      [
        "/v2/atomic_write",
        new WireWriter().message(3, new WireWriter().bytes(1, new Uint8Array([1]))).finish(),
        {},
        400,
        "enqueue is not implemented by this fixture",
      ],
      [
        "/v2/snapshot_read",
        new WireWriter().message(1, new WireWriter().bytes(1, key).varint(9, 1)).finish(),
        {},
        400,
        "Cannot read ReadRange: field 9 (wire type 0) is not implemented",
      ],
      [
        "/v2/snapshot_read",
        new WireWriter()
          .message(1, new WireWriter().bytes(1, key).bytes(2, new Uint8Array([3])).varint(3, 5))
          .message(1, new WireWriter().bytes(1, key).bytes(2, new Uint8Array([3])).varint(3, 5))
          .finish(),
        {},
        400,
        "a snapshot read of several ranges wider than one key",
      ],
      ["/v2/snapshot_read", new Uint8Array([0x0a, 5, 1]), {}, 400, "runs past the end"],
      ["/v2/snapshot_read", new Uint8Array(), { "x-denokv-version": "1" }, 400, "x-denokv-version"],
      ["/v2/snapshot_read", new Uint8Array(), { authorization: "Bearer nope" }, 401, "token"],
      ["/v2/watch", new Uint8Array(), {}, 400, "watch is not implemented"],
      ["/v2/other", new Uint8Array(), {}, 404, "no such endpoint"],
    ];
    for (const [path, body, extra, status, reason] of cases) {
      const [gotStatus, text] = await post(path, body, extra);
      assertEquals(gotStatus, status, `${path}: ${text}`);
      assert((text as string).includes(reason), `${path}: "${text}" lacks "${reason}"`);
    }
    assertEquals(fixture.refusals.length, cases.length);
    // Deno's client, told no, fails the call instead of retrying it.
    const watch = remote.watch([["a"]]).getReader();
    const error = await watch.read().then(() => null, (error) => error);
    assert(error instanceof Error && /watch is not implemented/.test(error.message), `${error}`);
    // Nothing was written by the refused writes.
    assertEquals(await Array.fromAsync(remote.list({ prefix: [] })), []);
    // A metadata exchange without versions, or with the wrong token, is refused too.
    const bare = await fetch(fixture.url, {
      method: "POST",
      headers: { authorization: `Bearer ${fixture.token}` },
    });
    assertEquals([bare.status, await bare.text()], [
      400,
      "metadata exchange: the body is not JSON (protocol version 2 or 3)",
    ]);
    const wrong = await fetch(fixture.url, { method: "POST", body: "{}" });
    assertEquals(wrong.status, 401);
    await wrong.body?.cancel();
  }, true);
});

Deno.test("WireReader reads back what WireWriter writes, and rejects truncated or odd input", () => {
  const bytes = new WireWriter()
    .varint(1, 2 ** 40)
    .bool(2, true)
    .bytes(3, new Uint8Array([9, 8]))
    .message(4, new WireWriter())
    .varint(5, 0)
    .finish();
  const reader = new WireReader(bytes, "Test");
  assertEquals(reader.uint(reader.next()!), 2 ** 40);
  assertEquals(reader.bool(reader.next()!), true);
  assertEquals([...reader.bytes(reader.next()!)], [9, 8]);
  assertEquals(reader.bytes(reader.next()!).length, 0);
  assertEquals(reader.next(), null);
  // -1 as an int64: ten bytes of two's complement.
  const minusOne = new Uint8Array([
    0x08,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0x01,
  ]);
  const signed = new WireReader(minusOne, "Test");
  assertEquals(signed.int64(signed.next()!), -1n);
  const bad: [number[], string][] = [
    [[0x08], "a varint runs past the end"],
    [[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "longer than 64 bits"],
    [[0x12, 0x01], "field 2 runs past the end"],
    [[0x00], "field number 0"],
  ];
  for (const [input, message] of bad) {
    const wire = new WireReader(new Uint8Array(input), "Test");
    let error: unknown;
    try {
      const tag = wire.next()!;
      if (tag.wire === 0) wire.uint64(tag);
      else wire.bytes(tag);
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof SyntaxError && error.message.includes(message), `${error}`);
  }
  const wrongType = new WireReader(new Uint8Array([0x08, 1]), "Test");
  let error: unknown;
  try {
    wrongType.bytes(wrongType.next()!);
  } catch (caught) {
    error = caught;
  }
  assertEquals((error as Error).message, "Cannot read Test: field 1 has wire type 0, expected 2");
});
