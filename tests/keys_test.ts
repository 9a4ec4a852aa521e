import { createHash, createHmac, hkdfSync, pbkdf2Sync } from "node:crypto";
import { assert, assertEquals } from "./_assert.ts";
import {
  base64url,
  deriveKeys,
  fromBase64url,
  hashApiKey,
  newDashboardId,
  PBKDF2_ITERATIONS,
  signRun,
  timingSafeEqual,
  verifyRun,
} from "../lib/protocol/keys.ts";

const PASSWORD = "correct horse battery staple";
const ID = "Zm9vYmFyYmF6cXV4MTIzNA";
const keys = await deriveKeys(PASSWORD, ID);
// The keys of PASSWORD and ID, as the code before the data key derived the first two.
const API_KEY = "d89MN_6oTHqJQmm0qJGTRjnODzM1gXcoAYziYwehdv4";
const RUN_KEY = "1Sf89rAMSEwYFZzCbcmRNIwYlK5NnqjycpH-e0R8h5E";
const DATA_KEY = "KSfXX4xnAJspLHsfDJy_6rfuBlbd1LTXmNdIseg_1Ho";

function nodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

Deno.test("deriveKeys() is PBKDF2-HMAC-SHA256 (600,000 rounds, salted with the id) then HKDF-SHA256", () => {
  // The same construction through node:crypto, as a browser or another tool would compute it.
  const master = pbkdf2Sync(PASSWORD, `koi dashboard ${ID}`, 600_000, 32, "sha256");
  const expand = (info: string) =>
    nodeBase64url(new Uint8Array(hkdfSync("sha256", master, new Uint8Array(), info, 32)));
  assertEquals(PBKDF2_ITERATIONS, 600_000);
  assertEquals(keys, {
    apiKey: expand("koi api key v1"),
    runKey: expand("koi run key v1"),
    dataKey: expand("koi data key v1"),
  });
});

Deno.test("deriveKeys() gives the same API and run keys as before the data key existed", () => {
  // Pinned: every dashboard made so far was made with these; a change would lock its users out.
  assertEquals(keys.apiKey, API_KEY);
  assertEquals(keys.runKey, RUN_KEY);
  assertEquals(keys.dataKey, DATA_KEY);
});

Deno.test("deriveKeys() gives independent keys that change with the password and the id", async () => {
  assertEquals(new Set([keys.apiKey, keys.runKey, keys.dataKey]).size, 3);
  for (const key of [keys.apiKey, keys.runKey, keys.dataKey]) {
    assert(/^[A-Za-z0-9_-]{43}$/.test(key), key);
  }
  const otherId = await deriveKeys(PASSWORD, "Zm9vYmFyYmF6cXV4MTIzNQ");
  const otherPassword = await deriveKeys(`${PASSWORD}!`, ID);
  for (const other of [otherId, otherPassword]) {
    assert(
      other.apiKey !== keys.apiKey && other.runKey !== keys.runKey &&
        other.dataKey !== keys.dataKey,
    );
  }
});

Deno.test("signRun() is HMAC-SHA256 over the payload's exact UTF-8 bytes, in base64url", async () => {
  const payload = '{"v":1,"args":{"Emoji 😃":true,"To":"o\'brien"}}';
  const expected = createHmac("sha256", Buffer.from(keys.runKey, "base64url")).update(payload)
    .digest("base64url");
  assertEquals(await signRun(keys.runKey, payload), expected);
});

Deno.test("verifyRun() accepts only the exact signature of the exact payload", async () => {
  const payload = '{"tag":"j1","ts":1}';
  const signature = await signRun(keys.runKey, payload);
  assertEquals(await verifyRun(keys.runKey, payload, signature), true);
  const flipped = fromBase64url(signature)!;
  flipped[31]! ^= 1;
  const cases: [string, string][] = [
    ['{"tag":"j1","ts":2}', signature], // tampered payload
    [`${payload} `, signature], // one more byte
    [payload, base64url(flipped)], // one bit of the MAC changed
    [payload, signature.slice(0, -1)], // truncated
    [payload, `${signature}A`], // too long
    [payload, `${signature}=`], // padding is not base64url
    [payload, signature.replace(/[A-Za-z]/, "+")], // not base64url
    [payload, ""],
    [payload, await signRun((await deriveKeys("another password here", ID)).runKey, payload)],
  ];
  for (const [text, sig] of cases) {
    assertEquals(await verifyRun(keys.runKey, text, sig), false, `${text} / ${sig}`);
  }
});

Deno.test("timingSafeEqual() compares every byte and the lengths", () => {
  const a = new Uint8Array([1, 2, 3, 4]);
  assertEquals(timingSafeEqual(a, new Uint8Array([1, 2, 3, 4])), true);
  assertEquals(timingSafeEqual(a, new Uint8Array([1, 2, 3, 5])), false);
  assertEquals(timingSafeEqual(a, new Uint8Array([0, 2, 3, 4])), false);
  assertEquals(timingSafeEqual(a, new Uint8Array([1, 2, 3])), false);
  assertEquals(timingSafeEqual(new Uint8Array(), new Uint8Array()), true);
});

Deno.test("hashApiKey() is the SHA-256 of the key, in base64url", async () => {
  assertEquals(
    await hashApiKey(keys.apiKey),
    createHash("sha256").update(keys.apiKey).digest("base64url"),
  );
});

Deno.test("newDashboardId() makes 22 characters of base64url from 16 random bytes", () => {
  const ids = new Set(Array.from({ length: 100 }, newDashboardId));
  assertEquals(ids.size, 100);
  for (const id of ids) assertEquals(fromBase64url(id)?.length, 16);
});

Deno.test("fromBase64url() refuses what is not unpadded base64url", () => {
  assertEquals(fromBase64url("AAEC_-8"), new Uint8Array([0, 1, 2, 255, 239]));
  for (const bad of ["AA==", "A", "AA+A", "AA/A", "AA A", "é"]) {
    assertEquals(fromBase64url(bad), null);
  }
});
