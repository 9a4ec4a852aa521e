/**
 * A run's output as the dashboard keeps it: byte-exact cuts at character
 * boundaries, and the head-and-tail cap applied to a run's final chunks. Pure.
 *
 * @module
 */

import type { OutputChunk } from "../runs/output.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes kept free under a cap for the `[koi: N bytes elided]` note. */
const NOTE_ROOM = 64;

/**
 * Where to cut UTF-8 bytes so that no character is split: the largest index at
 * most `at` that starts a character (or is the end).
 *
 * @param bytes UTF-8 bytes.
 * @param at The wanted cut, 0 to `bytes.length`.
 * @returns The cut.
 *
 * @example Not inside a two-byte "é"
 * ```ts
 * import { charBoundary } from "./chunks.ts";
 *
 * const bytes = new TextEncoder().encode("aé");
 * if (charBoundary(bytes, 2) !== 1 || charBoundary(bytes, 3) !== 3) throw new Error("cut");
 * ```
 */
export function charBoundary(bytes: Uint8Array, at: number): number {
  let cut = Math.max(0, Math.min(at, bytes.length));
  while (cut > 0 && cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}

/**
 * Caps a run's output at `limit` bytes the way koid does: the head and the tail
 * kept, cut at character boundaries, with a `koi` chunk saying how many bytes of
 * the middle were elided. The result, note included, is at most `limit` bytes.
 *
 * @param chunks The output, in order.
 * @param limit The most bytes to keep; at least 1024.
 * @returns The chunks unchanged when they fit, else the capped chunks.
 *
 * @example Keeping 1024 of 3000 bytes
 * ```ts
 * import { capChunks } from "./chunks.ts";
 *
 * const capped = capChunks([{ stream: "stdout", text: "a".repeat(3000) }], 1024);
 * const bytes = capped.reduce((sum, c) => sum + new TextEncoder().encode(c.text).length, 0);
 * if (capped.length !== 3 || capped[1]!.stream !== "koi" || bytes > 1024) throw new Error("cap");
 * if (capped[1]!.text !== "\n[koi: 2040 bytes elided]\n") throw new Error(capped[1]!.text);
 * ```
 */
export function capChunks(chunks: readonly OutputChunk[], limit: number): OutputChunk[] {
  const encoded = chunks.map((chunk) => ({
    stream: chunk.stream,
    bytes: encoder.encode(chunk.text),
  }));
  const total = encoded.reduce((sum, chunk) => sum + chunk.bytes.length, 0);
  if (total <= limit) return [...chunks];
  const budget = Math.max(0, limit - NOTE_ROOM);
  const head: OutputChunk[] = [];
  let room = Math.ceil(budget / 2);
  let kept = 0;
  for (const chunk of encoded) {
    if (room <= 0) break;
    const cut = charBoundary(chunk.bytes, room);
    if (cut > 0) {
      head.push({ stream: chunk.stream, text: decoder.decode(chunk.bytes.subarray(0, cut)) });
    }
    room -= cut;
    kept += cut;
    if (cut < chunk.bytes.length) break;
  }
  const tail: OutputChunk[] = [];
  room = Math.floor(budget / 2);
  for (let i = encoded.length - 1; i >= 0 && room > 0; i--) {
    const bytes = encoded[i]!.bytes;
    let start = Math.max(0, bytes.length - room);
    while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
    if (start < bytes.length) {
      tail.unshift({ stream: encoded[i]!.stream, text: decoder.decode(bytes.subarray(start)) });
    }
    room -= bytes.length - start;
    kept += bytes.length - start;
    if (start > 0) break;
  }
  const note = { stream: "koi" as const, text: `\n[koi: ${total - kept} bytes elided]\n` };
  return [...head, note, ...tail];
}

/**
 * Splits bytes into parts of at most `size` bytes (one empty part for no bytes).
 *
 * @param bytes The bytes.
 * @param size The largest part.
 * @returns The parts, views on `bytes`.
 */
export function splitBytes(bytes: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return parts.length === 0 ? [bytes] : parts;
}

/** The sequence numbers of a run's stored chunks: sorted, disjoint, inclusive ranges. */
export type SeqRanges = readonly (readonly [number, number])[];

/**
 * Whether a sequence number is in the ranges.
 *
 * @param ranges The ranges.
 * @param seq The sequence number.
 * @returns True if stored.
 */
export function hasSeq(ranges: SeqRanges, seq: number): boolean {
  return ranges.some(([first, last]) => first <= seq && seq <= last);
}

/**
 * The ranges with one more sequence number, merged with its neighbours: a run's
 * output numbered 0, 1, 2… stays one range however long it is.
 *
 * @param ranges The ranges.
 * @param seq A sequence number not in them.
 * @returns The new ranges.
 *
 * @example
 * ```ts
 * import { addSeq } from "./chunks.ts";
 *
 * const ranges = addSeq(addSeq(addSeq([], 0), 2), 1);
 * if (JSON.stringify(ranges) !== "[[0,2]]") throw new Error(JSON.stringify(ranges));
 * ```
 */
export function addSeq(ranges: SeqRanges, seq: number): SeqRanges {
  const merged: [number, number][] = [];
  for (const [first, last] of [...ranges, [seq, seq] as const].sort((a, b) => a[0] - b[0])) {
    const previous = merged.at(-1);
    if (previous !== undefined && first <= previous[1] + 1) {
      previous[1] = Math.max(previous[1], last);
    } else {
      merged.push([first, last]);
    }
  }
  return merged;
}
