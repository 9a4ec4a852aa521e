import { createCipheriv, createDecipheriv } from "node:crypto";
import { assert, assertEquals } from "./_assert.ts";
import {
  ENVELOPE_VERSION,
  envelopeAad,
  type EnvelopeContext,
  EnvelopeError,
  importDataKey,
  isEnvelope,
  seal,
  sealedLength,
  unseal,
  unsealText,
} from "../lib/protocol/envelope.js";
import { base64url, deriveKeys, fromBase64url } from "../lib/protocol/keys.ts";

/** The key 00 01 02 … 1f. */
const KEY = base64url(Uint8Array.from({ length: 32 }, (_, i) => i));
const CONTEXT: EnvelopeContext = {
  dashboard: "Zm9vYmFyYmF6cXV4MTIzNA",
  host: "web1",
  scope: "r1700000000000-abcdef",
  field: "output",
  seq: 7,
};

/** The AAD as the README defines it, written out independently of envelope.js. */
function specAad(context: EnvelopeContext): Buffer {
  const text = (value: string) => {
    const bytes = Buffer.from(value, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(BigInt(context.seq));
  return Buffer.concat([
    text("k1"),
    text(context.dashboard),
    text(context.host),
    text(context.scope),
    text(context.field),
    seq,
  ]);
}

/** The envelope node:crypto makes for a value with a given IV. */
function nodeSeal(key: string, context: EnvelopeContext, iv: Uint8Array, value: string): string {
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(key, "base64url"), iv);
  cipher.setAAD(specAad(context));
  const sealed = Buffer.concat([cipher.update(value, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `k1.${Buffer.from(iv).toString("base64url")}.${sealed.toString("base64url")}`;
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EnvelopeError) return error.reason;
    throw error;
  }
  throw new Error("it opened");
}

Deno.test("envelopeAad() is the length-prefixed context, then seq as 8 bytes big-endian", () => {
  assertEquals(envelopeAad(CONTEXT), new Uint8Array(specAad(CONTEXT)));
  const unicode = { ...CONTEXT, field: "args.Emoji 😃", seq: 2 ** 53 - 1 };
  assertEquals(envelopeAad(unicode), new Uint8Array(specAad(unicode)));
  // Where one text ends and the next begins is part of the bytes.
  const a = envelopeAad({ ...CONTEXT, scope: "r1", field: "0output" });
  const b = envelopeAad({ ...CONTEXT, scope: "r10", field: "output" });
  assert(a.join() !== b.join());
});

Deno.test("envelopeAad() refuses a context that could be read two ways", () => {
  const bad: [Partial<EnvelopeContext>, string][] = [
    [{ host: "" }, "the context's host must be a non-empty text"],
    [{ field: "\ud800x" }, "the context's field is not well-formed Unicode"],
    [{ seq: -1 }, "the context's seq must be a whole number from 0, got -1"],
    [{ seq: 1.5 }, "the context's seq must be a whole number from 0, got 1.5"],
    [{ seq: 2 ** 53 }, `the context's seq must be a whole number from 0, got ${2 ** 53}`],
  ];
  for (const [change, message] of bad) {
    let caught: unknown;
    try {
      envelopeAad({ ...CONTEXT, ...change });
    } catch (error) {
      caught = error;
    }
    assert(caught instanceof TypeError, message);
    assertEquals(caught.message, `Cannot seal or open: ${message}`);
  }
});

Deno.test("a known envelope: node:crypto's AES-256-GCM with the same key, IV and AAD makes it, and unseal() opens it", async () => {
  const iv = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
  const value = "hello, koi 😃\n";
  const envelope = nodeSeal(KEY, CONTEXT, iv, value);
  // Pinned: an envelope sealed by any Koi of version k1 opens in every later one.
  assertEquals(
    envelope,
    "k1.oKGio6Slpqeoqaqr.jn0QQSrnItQNDKcjmOJD1EU61RbbQ_mDoB-PHWfr8mI",
  );
  assertEquals(await unsealText(KEY, CONTEXT, envelope), value);
  assertEquals(await unseal(KEY, CONTEXT, envelope), new TextEncoder().encode(value));
});

Deno.test("seal() is AES-256-GCM with a fresh random IV: node:crypto makes the same envelope with that IV and opens it", async () => {
  const values = ["", "x", "output line\n", "é😃\u0000\u007f", "z".repeat(70_000)];
  const ivs = new Set<string>();
  for (const value of values) {
    const envelope = await seal(KEY, CONTEXT, value);
    const [version, iv, sealed] = envelope.split(".");
    assertEquals(version, ENVELOPE_VERSION);
    ivs.add(iv!);
    assertEquals(envelope, nodeSeal(KEY, CONTEXT, fromBase64url(iv!)!, value));
    const bytes = Buffer.from(sealed!, "base64url");
    const decipher = createDecipheriv(
      "aes-256-gcm",
      Buffer.from(KEY, "base64url"),
      fromBase64url(iv!)!,
    );
    decipher.setAAD(specAad(CONTEXT));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const opened = Buffer.concat([
      decipher.update(bytes.subarray(0, bytes.length - 16)),
      decipher.final(),
    ]);
    assertEquals(opened.toString("utf8"), value);
  }
  for (let i = 0; i < 200; i++) ivs.add((await seal(KEY, CONTEXT, "same")).split(".")[1]!);
  assertEquals(ivs.size, values.length + 200, "every IV is new");
});

Deno.test("seal() takes bytes as well as text, and a key imported once", async () => {
  const key = await importDataKey(KEY);
  assertEquals(key.extractable, false);
  assertEquals(key.usages.toSorted(), ["decrypt", "encrypt"]);
  const bytes = new Uint8Array([0, 255, 128, 10]);
  assertEquals(await unseal(key, CONTEXT, await seal(key, CONTEXT, bytes)), bytes);
  assertEquals(
    await failure(unsealText(KEY, CONTEXT, await seal(KEY, CONTEXT, bytes))),
    "malformed",
  );
});

Deno.test("unseal() detects an envelope moved to another dashboard, host, run, field or position", async () => {
  const envelope = await seal(KEY, CONTEXT, "secret output");
  const moves: Partial<EnvelopeContext>[] = [
    { dashboard: "Zm9vYmFyYmF6cXV4MTIzNQ" },
    { host: "web2" },
    { scope: "r1700000000001-abcdef" }, // another run
    { scope: "j4f3a" }, // a job tag instead of the run
    { field: "error" }, // the same run's error text
    { field: "args.To" },
    { seq: 6 }, // chunks swapped
    { seq: 8 },
  ];
  for (const move of moves) {
    assertEquals(
      await failure(unseal(KEY, { ...CONTEXT, ...move }, envelope)),
      "unauthentic",
      JSON.stringify(move),
    );
  }
  const other = (await deriveKeys("another password here", CONTEXT.dashboard)).dataKey;
  assertEquals(await failure(unseal(other, CONTEXT, envelope)), "unauthentic", "another key");
  assertEquals(await unsealText(KEY, CONTEXT, envelope), "secret output");
});

Deno.test("unseal() detects every changed bit, and anything cut short or added", async () => {
  const envelope = await seal(KEY, CONTEXT, "abc");
  const [, iv, sealed] = envelope.split(".") as [string, string, string];
  const flip = (text: string, bit: number) => {
    const bytes = fromBase64url(text)!;
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    return base64url(bytes);
  };
  for (let bit = 0; bit < 96; bit++) {
    assertEquals(
      await failure(unseal(KEY, CONTEXT, `k1.${flip(iv, bit)}.${sealed}`)),
      "unauthentic",
    );
  }
  for (let bit = 0; bit < (3 + 16) * 8; bit++) {
    assertEquals(
      await failure(unseal(KEY, CONTEXT, `k1.${iv}.${flip(sealed, bit)}`)),
      "unauthentic",
    );
  }
  const bytes = fromBase64url(sealed)!;
  const cases: [string, string][] = [
    [`k1.${iv}.${base64url(bytes.subarray(0, bytes.length - 1))}`, "unauthentic"], // tag cut
    [`k1.${iv}.${base64url(bytes.subarray(1))}`, "unauthentic"], // ciphertext cut
    [`k1.${iv}.${base64url(bytes.subarray(0, 15))}`, "malformed"], // shorter than a tag
    [`k1.${iv}.${base64url(new Uint8Array([...bytes, 0]))}`, "unauthentic"], // a byte added
    [`k1.${iv.slice(0, -1)}.${sealed}`, "malformed"], // an IV of 11 bytes and a bit
    [`k1.${base64url(new Uint8Array(16))}.${sealed}`, "malformed"], // an IV of 16 bytes
    [`k1.${iv}`, "malformed"],
    [`k1.${iv}.${sealed}.`, "malformed"],
    [`k1.${iv}.${sealed}=`, "malformed"],
    // The last of 26 characters holds 2 bits of the tag and 4 zero bits: A, Q, g and w are
    // its canonical spellings, so this changes the tag and stays canonical.
    [`k1.${iv}.${sealed.slice(0, -1)}${sealed.endsWith("A") ? "Q" : "A"}`, "unauthentic"],
    [`K1.${iv}.${sealed}`, "malformed"],
    [`k2.${iv}.${sealed}`, "version"],
    [`k10.${iv}.${sealed}`, "version"],
    [`abc`, "malformed"],
    [``, "malformed"],
  ];
  for (const [text, reason] of cases) {
    assertEquals(await failure(unseal(KEY, CONTEXT, text)), reason, text);
  }
  assertEquals(await failure(unseal(KEY, CONTEXT, 42 as unknown as string)), "malformed");
});

Deno.test("unseal() refuses a base64url spelling that is not the canonical one", async () => {
  const envelope = await seal(KEY, CONTEXT, "a"); // 17 bytes: the last character holds 4 unused bits
  const [, iv, sealed] = envelope.split(".") as [string, string, string];
  const last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const index = last.indexOf(sealed.at(-1)!);
  const respelled = `${sealed.slice(0, -1)}${last[index | 1]}`;
  assert(
    respelled !== sealed && fromBase64url(respelled)!.join() === fromBase64url(sealed)!.join(),
  );
  assertEquals(await failure(unseal(KEY, CONTEXT, `k1.${iv}.${respelled}`)), "malformed");
});

Deno.test("an EnvelopeError names the field and the run, never the value", async () => {
  const envelope = await seal(KEY, CONTEXT, "the secret value");
  try {
    await unseal(KEY, { ...CONTEXT, field: "command" }, envelope);
    throw new Error("it opened");
  } catch (error) {
    assert(error instanceof EnvelopeError);
    assertEquals(
      error.message,
      `Cannot decrypt "command" of ${CONTEXT.scope}: it was changed or moved on the server, or sealed with another key`,
    );
  }
});

Deno.test("sealedLength() is the exact length of every envelope", async () => {
  for (const bytes of [...Array(50).keys(), 1000, 4096, 65_535, 1_048_576]) {
    const envelope = await seal(KEY, CONTEXT, new Uint8Array(bytes));
    assertEquals(envelope.length, sealedLength(bytes), `${bytes} bytes`);
    assertEquals(JSON.stringify(envelope).length, sealedLength(bytes) + 2, "nothing to escape");
    assertEquals(isEnvelope(envelope), true);
  }
  for (const bad of [-1, 0.5, NaN]) {
    let caught: unknown;
    try {
      sealedLength(bad);
    } catch (error) {
      caught = error;
    }
    assert(caught instanceof RangeError, String(bad));
  }
});

Deno.test("isEnvelope() tells an envelope's shape from plain text", async () => {
  const envelope = await seal(KEY, CONTEXT, "x");
  assertEquals(isEnvelope(envelope), true);
  const iv = "AAAAAAAAAAAAAAAA";
  const cases: [unknown, boolean][] = [
    [`k1.${iv}.${"A".repeat(22)}`, true], // an empty value's
    [`k1.${iv}.${"A".repeat(23)}`, true],
    [`k1.${iv}.${"A".repeat(24)}`, true],
    [`k1.${iv}.${"A".repeat(21)}`, false], // 15 bytes: no room for the tag
    [`k1.${iv}.${"A".repeat(25)}`, false], // no base64url text is 25 long
    [`k1.${iv}.${"A".repeat(22)}=`, false],
    [`k1.${iv}A.${"A".repeat(22)}`, false],
    [`k2.${iv}.${"A".repeat(22)}`, false],
    [`k1.${iv}.${"A".repeat(21)}+`, false],
    [envelope.replace("k1.", ""), false],
    ["plain text", false],
    ["", false],
    [null, false],
    [7, false],
    [{ envelope }, false],
  ];
  for (const [value, expected] of cases) assertEquals(isEnvelope(value), expected, String(value));
});

Deno.test("importDataKey() takes only 32 bytes of base64url", async () => {
  for (const bad of ["", "AAAA", `${KEY}A`, KEY.slice(1), KEY.replace(/./, "+")]) {
    let caught: unknown;
    try {
      await importDataKey(bad);
    } catch (error) {
      caught = error;
    }
    assert(caught instanceof TypeError, bad);
    assertEquals(caught.message, "Cannot use the data key: it must be 32 bytes of base64url");
  }
});
