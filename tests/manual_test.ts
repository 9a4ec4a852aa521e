import { assertEquals } from "./_assert.ts";
import { deriveKeys, signRun } from "../lib/protocol/keys.ts";
import { parseKoitab } from "../lib/koitab.ts";
import {
  checkManualRun,
  FRESHNESS_MS,
  type ManualContext,
  type ManualVerdict,
  payloadText,
} from "../lib/protocol/manual.ts";
import { contexts, sealValue } from "../lib/protocol/sealed.js";
import { type PlainPayload, sealedPayload } from "./_sealed.ts";

const DASHBOARD = "Zm9vYmFyYmF6cXV4MTIzNA";
const { runKey, dataKey } = await deriveKeys("correct horse battery staple", DASHBOARD);
const { jobs } = parseKoitab(`[Admin]
"Say Hi" @manual ~/tweet.sh {{To Handle}} {{Delay, int, 0}} {{Emoji 😃, bool}}
"Nightly" 0 3 * * * backup.sh
"Plain" @manual echo plain
`);
const [sayHi, nightly] = jobs as [typeof jobs[0], typeof jobs[0]];
const NOW = Date.parse("2026-11-28T12:00:00Z");

function context(seen: string[] = []): ManualContext {
  return {
    runKey,
    dataKey,
    dashboardId: DASHBOARD,
    host: "web1",
    jobs,
    now: NOW,
    seen: (signature) => seen.includes(signature),
  };
}

function payload(overrides: Partial<PlainPayload> = {}): PlainPayload {
  return {
    v: 2,
    dashboard: DASHBOARD,
    host: "web1",
    tag: sayHi.tag,
    ts: NOW - 1000,
    args: { "To Handle": "'; rm -rf ~ #", Delay: 5, "Emoji 😃": true },
    ...overrides,
  };
}

function sealed(plain: PlainPayload): Promise<string> {
  return sealedPayload(dataKey, plain);
}

async function signed(text: string): Promise<{ payload: string; signature: string }> {
  return { payload: text, signature: await signRun(runKey, text) };
}

function reason(verdict: ManualVerdict): string {
  return verdict.ok ? "ok" : verdict.reason;
}

Deno.test("checkManualRun() accepts a signed, fresh request for a local @manual job, values typed", async () => {
  const verdict = await checkManualRun(await signed(await sealed(payload())), context());
  assertEquals(verdict.ok, true);
  if (!verdict.ok) return;
  assertEquals(verdict.job.tag, sayHi.tag);
  assertEquals(verdict.values, { "To Handle": "'; rm -rf ~ #", Delay: 5, "Emoji 😃": true });
});

Deno.test("checkManualRun() refuses a payload changed after signing", async () => {
  const good = await signed(await sealed(payload()));
  const cases = [
    good.payload.replace(/"k1\.(.)/, (_, c) => `"k1.${c === "A" ? "B" : "A"}`), // tampered argument
    good.payload.replace(sayHi.tag, nightly.tag), // swapped tag
    good.payload.replace('"web1"', '"web2"'), // another host
    ` ${good.payload}`, // even whitespace
  ];
  for (const text of cases) {
    assertEquals(
      reason(await checkManualRun({ payload: text, signature: good.signature }, context())),
      "the signature does not verify under this machine's run key",
    );
  }
});

Deno.test("checkManualRun() refuses requests for another dashboard or host, even when signed", async () => {
  assertEquals(
    reason(await checkManualRun(await signed(await sealed(payload({ host: "db1" }))), context())),
    'the request is for another host ("db1")',
  );
  assertEquals(
    reason(
      await checkManualRun(await signed(await sealed(payload({ dashboard: "other" }))), context()),
    ),
    'the request is for another dashboard ("other")',
  );
});

Deno.test("checkManualRun() refuses timestamps more than 5 minutes from now, either way", async () => {
  for (const ts of [NOW - FRESHNESS_MS - 1, NOW + FRESHNESS_MS + 1, NOW - 6 * 60_000]) {
    assertEquals(
      reason(await checkManualRun(await signed(await sealed(payload({ ts }))), context())),
      `the request was signed at ${new Date(ts).toISOString()}, more than 5 minutes from now`,
    );
  }
  for (const ts of [NOW - FRESHNESS_MS, NOW + FRESHNESS_MS]) {
    assertEquals(
      reason(await checkManualRun(await signed(await sealed(payload({ ts }))), context())),
      "ok",
    );
  }
});

Deno.test("checkManualRun() refuses a replay of an accepted request", async () => {
  const request = await signed(await sealed(payload()));
  assertEquals(
    reason(await checkManualRun(request, context([request.signature]))),
    "the request was already received once (a replay)",
  );
});

Deno.test("checkManualRun() refuses unknown tags and jobs that are not @manual", async () => {
  assertEquals(
    reason(
      await checkManualRun(
        await signed(await sealed(payload({ tag: "j0000000000000000" }))),
        context(),
      ),
    ),
    'no job with tag "j0000000000000000" in the local koitab',
  );
  assertEquals(
    reason(
      await checkManualRun(
        await signed(await sealed(payload({ tag: nightly.tag, args: {} }))),
        context(),
      ),
    ),
    `the job with tag "${nightly.tag}" is not an @manual job`,
  );
});

Deno.test("checkManualRun() refuses type-confused, unknown and missing arguments", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ "To Handle": "x", Delay: "5" }, 'argument "Delay" must be a whole number, got "5"'],
    [{ "To Handle": "x", Delay: 1.5 }, 'argument "Delay" must be a whole number, got 1.5'],
    [
      { "To Handle": "x", "Emoji 😃": "true" },
      'argument "Emoji 😃" must be true or false, got "true"',
    ],
    [{ "To Handle": 5 }, 'argument "To Handle" must be a string, got 5'],
    [{ "To Handle": "x", Extra: "y" }, 'the job has no argument "Extra"'],
    [{ Delay: 1 }, 'argument "To Handle" is required: it has no default'],
    [
      { "To Handle": "a\0b" },
      'argument "To Handle" contains a NUL byte, which no command line can carry',
    ],
  ];
  for (const [args, expected] of cases) {
    const text = await sealed(payload({ args }));
    assertEquals(reason(await checkManualRun(await signed(text), context())), expected);
  }
});

Deno.test("checkManualRun() refuses payloads that are not what a signer makes", async () => {
  const cases: [string, string][] = [
    ["not json", "the payload is not JSON"],
    ["[1]", "the payload is not a JSON object"],
    [
      payloadText(payload({ v: 1 }) as Parameters<typeof payloadText>[0]),
      "the payload's version is not 2 (sent by an older Koi, which does not seal argument values: upgrade it)",
    ],
    [JSON.stringify({ ...payload(), tag: 7 }), 'the payload\'s "tag" is not a string'],
    [
      JSON.stringify({ ...payload(), ts: "now" }),
      'the payload\'s "ts" is not a whole number of milliseconds',
    ],
    [JSON.stringify({ ...payload(), args: [] }), 'the payload\'s "args" is not an object'],
    [
      JSON.stringify({ ...payload(), args: { "To Handle": { x: 1 } } }),
      'argument "To Handle" is not sealed (not an envelope)',
    ],
    [
      JSON.stringify({ ...payload(), args: { "To Handle": "plain text" } }),
      `argument "To Handle" does not decrypt with this machine's data key (malformed): it was changed or moved on the server, or sealed with another key`,
    ],
    ["x".repeat(1024 * 1024 + 1), "the payload is larger than 1 MiB"],
  ];
  for (const [text, expected] of cases) {
    assertEquals(reason(await checkManualRun(await signed(text), context())), expected);
  }
  assertEquals(
    reason(await checkManualRun({ payload: 5, signature: "x" }, context())),
    "the request has no payload text or no signature",
  );
});

Deno.test("checkManualRun() refuses a sealed value moved to another request, even one signed anew", async () => {
  // A value sealed for one request, put in another (another timestamp, tag or
  // argument): the signature holds (the signer signed it), the value does not open.
  const original = payload();
  const first = JSON.parse(await sealed(original)) as { args: Record<string, string> };
  const unopenable = (name: string) =>
    `argument "${name}" does not decrypt with this machine's data key (unauthentic): it was changed or moved on the server, or sealed with another key`;
  const replayed = payloadText({ ...payload({ ts: original.ts + 1 }), args: first.args });
  assertEquals(
    reason(await checkManualRun(await signed(replayed), context())),
    unopenable("To Handle"),
  );
  const swapped = payloadText({
    ...original,
    args: {
      ...first.args,
      "To Handle": first.args["Emoji 😃"]!,
      "Emoji 😃": first.args["To Handle"]!,
    },
  });
  assertEquals(
    reason(await checkManualRun(await signed(swapped), context())),
    unopenable("To Handle"),
  );
  const other = await deriveKeys("another password", DASHBOARD);
  const at = contexts(DASHBOARD, "web1");
  const foreign = payloadText({
    ...original,
    args: {
      "To Handle": await sealValue(
        other.dataKey,
        at.payloadArg(sayHi.tag, "To Handle", original.ts),
        "x",
      ),
    },
  });
  assertEquals(
    reason(await checkManualRun(await signed(foreign), context())),
    unopenable("To Handle"),
  );
});
