/**
 * The one head-and-tail cap on a run's output, used by koid, `koitab run`, koid's
 * link and the dashboard server: the first half of a byte limit kept from the
 * start, the second half from the end, cut at character boundaries, and a `koi`
 * chunk saying how many bytes of the middle were elided. {@linkcode OutputCapture}
 * caps output as it arrives, in bounded memory whatever the job writes;
 * {@linkcode capChunks} caps output already collected. Pure: bytes in, chunks out.
 *
 * @module
 */

/** Which stream a chunk came from; `"koi"` marks Koi's own note (an elision). */
export type OutputStream = "stdout" | "stderr" | "koi";

/** One piece of a run's output. */
export interface OutputChunk {
  /** The stream it came from. */
  readonly stream: OutputStream;
  /** The text. */
  readonly text: string;
}

/** The default cap on a run's stored output: 1 MiB. */
export const DEFAULT_OUTPUT_LIMIT = 1024 * 1024;

/** Bytes {@linkcode capChunks} keeps free under its limit for the `[koi: N bytes elided]` note. */
export const NOTE_ROOM = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ByteChunk {
  stream: OutputStream;
  bytes: Uint8Array;
}

/**
 * Collects a run's output up to a limit: the first half of the limit is kept from
 * the start, the second half from the end. A character cut in two where the
 * middle is elided is left out whole (its bytes counted as elided), so the kept
 * text is what the job wrote, never a replacement character made by the cut.
 *
 * @example Eliding the middle of a long output
 * ```ts
 * import { OutputCapture } from "./output_cap.ts";
 *
 * const capture = new OutputCapture(8);
 * capture.add("stdout", new TextEncoder().encode("abcdefghij"));
 * capture.add("stderr", new TextEncoder().encode("XY"));
 * const text = capture.chunks().map((c) => `${c.stream}:${c.text}`).join("|");
 * if (text !== "stdout:abcd|koi:\n[koi: 4 bytes elided]\n|stdout:ij|stderr:XY") throw new Error(text);
 * ```
 */
export class OutputCapture {
  readonly #headLimit: number;
  readonly #head: ByteChunk[] = [];
  #headBytes = 0;
  /**
   * The tail: a ring of the last bytes, and which stream each stretch of it came
   * from. Made when the head is full, so a run that writes little never holds it.
   */
  #ring: Uint8Array | null = null;
  readonly #ringSize: number;
  #ringStart = 0;
  #ringLength = 0;
  #segments: { stream: OutputStream; length: number }[] = [];
  #total = 0;

  /** @param limit The most bytes kept; half from the start, half from the end. */
  constructor(limit: number = DEFAULT_OUTPUT_LIMIT) {
    this.#headLimit = Math.ceil(limit / 2);
    this.#ringSize = Math.floor(limit / 2);
  }

  /** Every byte the job wrote, kept or not. */
  get totalBytes(): number {
    return this.#total;
  }

  /**
   * Adds a chunk as it arrives.
   *
   * @param stream The stream it came from.
   * @param bytes The bytes; they are copied if kept.
   */
  add(stream: OutputStream, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#total += bytes.length;
    const headRoom = this.#headLimit - this.#headBytes;
    if (headRoom > 0) {
      const taken = bytes.subarray(0, headRoom);
      this.#head.push({ stream, bytes: taken.slice() });
      this.#headBytes += taken.length;
      bytes = bytes.subarray(taken.length);
    }
    if (bytes.length > 0 && this.#ringSize > 0) this.#addTail(stream, bytes);
  }

  #addTail(stream: OutputStream, bytes: Uint8Array): void {
    const ring = this.#ring ??= new Uint8Array(this.#ringSize);
    const capacity = ring.length;
    if (bytes.length >= capacity) {
      ring.set(bytes.subarray(bytes.length - capacity));
      this.#ringStart = 0;
      this.#ringLength = capacity;
      this.#segments = [{ stream, length: capacity }];
      return;
    }
    // Make room by dropping the oldest bytes.
    let overflow = this.#ringLength + bytes.length - capacity;
    if (overflow > 0) {
      this.#ringStart = (this.#ringStart + overflow) % capacity;
      this.#ringLength -= overflow;
      let dropped = 0;
      while (overflow > 0) {
        const first = this.#segments[dropped]!;
        const cut = Math.min(first.length, overflow);
        first.length -= cut;
        overflow -= cut;
        if (first.length === 0) dropped++;
      }
      if (dropped > 0) this.#segments.splice(0, dropped);
    }
    const end = (this.#ringStart + this.#ringLength) % capacity;
    const firstPart = Math.min(bytes.length, capacity - end);
    ring.set(bytes.subarray(0, firstPart), end);
    ring.set(bytes.subarray(firstPart), 0);
    this.#ringLength += bytes.length;
    const last = this.#segments.at(-1);
    if (last && last.stream === stream) last.length += bytes.length;
    else this.#segments.push({ stream, length: bytes.length });
  }

  /** The tail's bytes, oldest first, split by stream. */
  #tail(): ByteChunk[] {
    const ring = this.#ring;
    if (ring === null) return [];
    const capacity = ring.length;
    const chunks: ByteChunk[] = [];
    let at = this.#ringStart;
    for (const segment of this.#segments) {
      const bytes = new Uint8Array(segment.length);
      const firstPart = Math.min(segment.length, capacity - at);
      bytes.set(ring.subarray(at, at + firstPart));
      bytes.set(ring.subarray(0, segment.length - firstPart), firstPart);
      at = (at + segment.length) % capacity;
      chunks.push({ stream: segment.stream, bytes });
    }
    return chunks;
  }

  /**
   * The kept output, adjacent chunks of one stream merged, with a `koi` chunk where
   * bytes were elided.
   *
   * @returns The chunks in arrival order.
   */
  chunks(): OutputChunk[] {
    const head = merge(this.#head);
    const tail = merge(this.#tail());
    let elided = this.#total - this.#headBytes - this.#ringLength;
    if (elided > 0) {
      // Whole characters only on either side of the cut.
      const last = head.at(-1);
      if (last !== undefined) {
        const end = completeEnd(last.bytes);
        elided += last.bytes.length - end;
        last.bytes = last.bytes.subarray(0, end);
      }
      const first = tail[0];
      if (first !== undefined) {
        const start = firstCharStart(first.bytes);
        elided += start;
        first.bytes = first.bytes.subarray(start);
      }
    }
    const pieces = elided > 0
      ? [...head, { stream: "koi" as const, bytes: encoder.encode(elisionNote(elided)) }, ...tail]
      : [...head, ...tail];
    return merge(pieces).filter(({ bytes }) => bytes.length > 0).map(({ stream, bytes }) => ({
      stream,
      text: decoder.decode(bytes),
    }));
  }
}

/** The note standing for elided bytes. */
function elisionNote(bytes: number): string {
  return `\n[koi: ${bytes} bytes elided]\n`;
}

/** Pieces with adjacent pieces of one stream joined (copies; the input is left as it is). */
function merge(pieces: readonly ByteChunk[]): ByteChunk[] {
  const merged: ByteChunk[] = [];
  for (const piece of pieces) {
    if (piece.bytes.length === 0) continue;
    const last = merged.at(-1);
    if (last && last.stream === piece.stream) {
      const joined = new Uint8Array(last.bytes.length + piece.bytes.length);
      joined.set(last.bytes);
      joined.set(piece.bytes, last.bytes.length);
      last.bytes = joined;
    } else {
      merged.push({ ...piece });
    }
  }
  return merged;
}

/** The length of `bytes` without a last UTF-8 character that is cut short. */
function completeEnd(bytes: Uint8Array): number {
  const start = charBoundary(bytes, bytes.length - 1);
  const lead = bytes[start] ?? 0;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return start + length > bytes.length ? start : bytes.length;
}

/**
 * Where to cut UTF-8 bytes so that no character is split: the largest index at
 * most `at` that starts a character (or is the end). Bytes that are not UTF-8
 * are cut at most 3 bytes before `at`.
 *
 * @param bytes UTF-8 bytes.
 * @param at The wanted cut, 0 to `bytes.length`.
 * @returns The cut.
 *
 * @example Not inside a two-byte "é"
 * ```ts
 * import { charBoundary } from "./output_cap.ts";
 *
 * const bytes = new TextEncoder().encode("aé");
 * if (charBoundary(bytes, 2) !== 1 || charBoundary(bytes, 3) !== 3) throw new Error("cut");
 * ```
 */
export function charBoundary(bytes: Uint8Array, at: number): number {
  let cut = Math.max(0, Math.min(at, bytes.length));
  const limit = Math.max(0, cut - 3);
  while (cut > limit && cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}

/** Where the first whole character of `bytes` starts: past at most 3 continuation bytes. */
function firstCharStart(bytes: Uint8Array): number {
  let start = 0;
  while (start < Math.min(3, bytes.length) && (bytes[start]! & 0xc0) === 0x80) start++;
  return start;
}

/**
 * Caps output already collected at `limit` bytes, note included, as
 * {@linkcode OutputCapture} caps it as it arrives: the head and the tail kept,
 * cut at character boundaries, with a `koi` chunk saying how many bytes of the
 * middle were elided ({@linkcode NOTE_ROOM} bytes are kept free for it).
 *
 * @param chunks The output, in order.
 * @param limit The most bytes to keep, note included; at least 1024.
 * @returns The chunks unchanged when they fit, else the capped chunks.
 *
 * @example Keeping 1024 of 3000 bytes
 * ```ts
 * import { capChunks } from "./output_cap.ts";
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
  const capture = new OutputCapture(Math.max(0, limit - NOTE_ROOM));
  for (const { stream, bytes } of encoded) capture.add(stream, bytes);
  return capture.chunks();
}
