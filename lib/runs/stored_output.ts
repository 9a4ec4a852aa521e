/**
 * A run's kept output as `history.db` stores it: one BLOB of its chunks, each as
 * its stream, its length and its UTF-8 bytes. Bytes, not JSON, because JSON
 * writes a control character as six (`\u0000`), so a run of 1 MiB of NUL bytes
 * would be stored, and copied twice on its way into SQLite, as 6 MiB.
 *
 * The layout: a version byte (1), then per chunk one byte for the stream
 * (0 stdout, 1 stderr, 2 koi), its byte length as a 32-bit big-endian number,
 * and the bytes. Pure: chunks in, bytes out, and back.
 *
 * @module
 */

import type { OutputChunk, OutputStream } from "../output_cap.ts";
import { utf8Length } from "../utf8.ts";

const VERSION = 1;
const STREAMS: readonly OutputStream[] = ["stdout", "stderr", "koi"];
const HEADER = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a run's chunks for `history.db`, in one allocation of exactly their size.
 *
 * @example
 * ```ts
 * import { decodeOutput, encodeOutput } from "./stored_output.ts";
 *
 * const bytes = encodeOutput([{ stream: "stdout", text: "\0\0" }, { stream: "stderr", text: "é" }]);
 * if (bytes.length !== 1 + 5 + 2 + 5 + 2) throw new Error(`${bytes.length}`);
 * const back = decodeOutput(bytes);
 * if (back[1]?.text !== "é") throw new Error("round trip");
 * ```
 *
 * @param chunks The output as kept.
 * @returns The bytes to store.
 */
export function encodeOutput(chunks: readonly OutputChunk[]): Uint8Array {
  let size = 1;
  const lengths = chunks.map((chunk) => utf8Length(chunk.text));
  for (const length of lengths) size += HEADER + length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes[0] = VERSION;
  let at = 1;
  chunks.forEach((chunk, i) => {
    const length = lengths[i]!;
    bytes[at] = STREAMS.indexOf(chunk.stream);
    view.setUint32(at + 1, length);
    at += HEADER;
    const { written } = encoder.encodeInto(chunk.text, bytes.subarray(at, at + length));
    if (written !== length) throw new Error("stored output: UTF-8 length mismatch");
    at += length;
  });
  return bytes;
}

/**
 * Decodes what {@linkcode encodeOutput} made.
 *
 * @param bytes The stored bytes.
 * @returns The chunks.
 * @throws {Error} When the bytes are not stored output (an unknown version or stream, or cut short).
 */
export function decodeOutput(bytes: Uint8Array): OutputChunk[] {
  if (bytes[0] !== VERSION) {
    throw new Error(`stored output: unknown format ${bytes[0]} (a newer Koi wrote it?)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: OutputChunk[] = [];
  let at = 1;
  while (at < bytes.length) {
    const stream = STREAMS[bytes[at]!];
    if (stream === undefined || at + HEADER > bytes.length) {
      throw new Error(`stored output: damaged at byte ${at}`);
    }
    const length = view.getUint32(at + 1);
    at += HEADER;
    if (at + length > bytes.length) throw new Error(`stored output: damaged at byte ${at}`);
    chunks.push({ stream, text: decoder.decode(bytes.subarray(at, at + length)) });
    at += length;
  }
  return chunks;
}
