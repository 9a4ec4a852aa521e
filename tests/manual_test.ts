import { assertEquals } from "./_assert.ts";
import { deriveKeys, signRun } from "../lib/protocol/keys.ts";
import { parseKoitab } from "../lib/koitab.ts";
import {
  checkManualRun,
  FRESHNESS_MS,
  type ManualContext,
  type ManualPayload,
  type ManualVerdict,
  payloadText,
} from "../lib/protocol/manual.ts";

const DASHBOARD = "Zm9vYmFyYmF6cXV4MTIzNA";
const { runKey } = await deriveKeys("correct horse battery staple", DASHBOARD);
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
    dashboardId: DASHBOARD,
    host: "web1",
    jobs,
    now: NOW,
    seen: (signature) => seen.includes(signature),
  };
}

function payload(overrides: Partial<ManualPayload> = {}): ManualPayload {
  return {
    v: 1,
    dashboard: DASHBOARD,
    host: "web1",
    tag: sayHi.tag,
    ts: NOW - 1000,
    args: { "To Handle": "'; rm -rf ~ #", Delay: 5, "Emoji 😃": true },
    ...overrides,
  };
}

async function signed(text: string): Promise<{ payload: string; signature: string }> {
  return { payload: text, signature: await signRun(runKey, text) };
}

function reason(verdict: ManualVerdict): string {
  return verdict.ok ? "ok" : verdict.reason;
}

Deno.test("checkManualRun() accepts a signed, fresh request for a local @manual job, values typed", async () => {
  const verdict = await checkManualRun(await signed(payloadText(payload())), context());
  assertEquals(verdict.ok, true);
  if (!verdict.ok) return;
  assertEquals(verdict.job.tag, sayHi.tag);
  assertEquals(verdict.values, { "To Handle": "'; rm -rf ~ #", Delay: 5, "Emoji 😃": true });
});

Deno.test("checkManualRun() refuses a payload changed after signing", async () => {
  const good = await signed(payloadText(payload()));
  const cases = [
    good.payload.replace("rm -rf", "rm -rf /"), // tampered argument
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
    reason(await checkManualRun(await signed(payloadText(payload({ host: "db1" }))), context())),
    'the request is for another host ("db1")',
  );
  assertEquals(
    reason(
      await checkManualRun(await signed(payloadText(payload({ dashboard: "other" }))), context()),
    ),
    'the request is for another dashboard ("other")',
  );
});

Deno.test("checkManualRun() refuses timestamps more than 5 minutes from now, either way", async () => {
  for (const ts of [NOW - FRESHNESS_MS - 1, NOW + FRESHNESS_MS + 1, NOW - 6 * 60_000]) {
    assertEquals(
      reason(await checkManualRun(await signed(payloadText(payload({ ts }))), context())),
      `the request was signed at ${new Date(ts).toISOString()}, more than 5 minutes from now`,
    );
  }
  for (const ts of [NOW - FRESHNESS_MS, NOW + FRESHNESS_MS]) {
    assertEquals(
      reason(await checkManualRun(await signed(payloadText(payload({ ts }))), context())),
      "ok",
    );
  }
});

Deno.test("checkManualRun() refuses a replay of an accepted request", async () => {
  const request = await signed(payloadText(payload()));
  assertEquals(
    reason(await checkManualRun(request, context([request.signature]))),
    "the request was already received once (a replay)",
  );
});

Deno.test("checkManualRun() refuses unknown tags and jobs that are not @manual", async () => {
  assertEquals(
    reason(
      await checkManualRun(
        await signed(payloadText(payload({ tag: "j0000000000000000" }))),
        context(),
      ),
    ),
    'no job with tag "j0000000000000000" in the local koitab',
  );
  assertEquals(
    reason(
      await checkManualRun(
        await signed(payloadText(payload({ tag: nightly.tag, args: {} }))),
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
    const text = JSON.stringify({ ...payload(), args });
    assertEquals(reason(await checkManualRun(await signed(text), context())), expected);
  }
});

Deno.test("checkManualRun() refuses payloads that are not what a signer makes", async () => {
  const cases: [string, string][] = [
    ["not json", "the payload is not JSON"],
    ["[1]", "the payload is not a JSON object"],
    [JSON.stringify({ ...payload(), v: 2 }), "the payload's version is not 1"],
    [JSON.stringify({ ...payload(), tag: 7 }), 'the payload\'s "tag" is not a string'],
    [
      JSON.stringify({ ...payload(), ts: "now" }),
      'the payload\'s "ts" is not a whole number of milliseconds',
    ],
    [JSON.stringify({ ...payload(), args: [] }), 'the payload\'s "args" is not an object'],
    [
      JSON.stringify({ ...payload(), args: { "To Handle": { x: 1 } } }),
      'argument "To Handle" is neither a string, a number nor a boolean',
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
