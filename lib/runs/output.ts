/**
 * A run's output as koid keeps it: stdout and stderr chunks in the order they
 * arrived, each marked with its stream, capped at a byte limit by keeping the head
 * and the tail and eliding the middle. Memory stays bounded whatever the job
 * writes. Pure: bytes in, chunks out.
 *
 * @module
 */

/** Which stream a chunk came from; `"koi"` marks Koi's own note (an elision). */
export type OutputStream = "stdout" | "stderr" | "koi";

/** One piece of a run's output. */
export interface OutputChunk {
  readonly stream: OutputStream;
  readonly text: string;
}

/** The default cap on a run's stored output: 1 MiB. */
export const DEFAULT_OUTPUT_LIMIT = 1024 * 1024;

interface ByteChunk {
  stream: OutputStream;
  bytes: Uint8Array;
}

/**
 * Collects a run's output up to a limit: the first half of the limit is kept from
 * the start, the second half from the end.
 *
 * @example Eliding the middle of a long output
 * ```ts
 * import { OutputCapture } from "./output.ts";
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
  /** The tail: a ring of the last bytes, and which stream each stretch of it came from. */
  readonly #ring: Uint8Array;
  #ringStart = 0;
  #ringLength = 0;
  #segments: { stream: OutputStream; length: number }[] = [];
  #total = 0;

  /** @param limit The most bytes kept; half from the start, half from the end. */
  constructor(limit: number = DEFAULT_OUTPUT_LIMIT) {
    this.#headLimit = Math.ceil(limit / 2);
    this.#ring = new Uint8Array(Math.floor(limit / 2));
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
  add(stream: "stdout" | "stderr", bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#total += bytes.length;
    const headRoom = this.#headLimit - this.#headBytes;
    if (headRoom > 0) {
      const taken = bytes.subarray(0, headRoom);
      this.#head.push({ stream, bytes: taken.slice() });
      this.#headBytes += taken.length;
      bytes = bytes.subarray(taken.length);
    }
    if (bytes.length > 0 && this.#ring.length > 0) this.#addTail(stream, bytes);
  }

  #addTail(stream: OutputStream, bytes: Uint8Array): void {
    const ring = this.#ring;
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
    const capacity = this.#ring.length;
    const chunks: ByteChunk[] = [];
    let at = this.#ringStart;
    for (const segment of this.#segments) {
      const bytes = new Uint8Array(segment.length);
      const firstPart = Math.min(segment.length, capacity - at);
      bytes.set(this.#ring.subarray(at, at + firstPart));
      bytes.set(this.#ring.subarray(0, segment.length - firstPart), firstPart);
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
    const elided = this.#total - this.#headBytes - this.#ringLength;
    const pieces: ByteChunk[] = [...this.#head];
    if (elided > 0) {
      const note = `\n[koi: ${elided} bytes elided]\n`;
      pieces.push({ stream: "koi", bytes: new TextEncoder().encode(note) });
    }
    pieces.push(...this.#tail());
    const merged: ByteChunk[] = [];
    for (const piece of pieces) {
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
    return merged.map(({ stream, bytes }) => ({ stream, text: new TextDecoder().decode(bytes) }));
  }
}
