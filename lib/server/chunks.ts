/**
 * A run's output as the dashboard stores it: split into parts that fit a store
 * value, and the sequence numbers of the chunks stored so far. Pure.
 *
 * @module
 */

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
