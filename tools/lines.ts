/**
 * Reading a child process's output line by line, losing nothing: one read at a
 * time, each awaited to its end, however slowly the bytes come.
 *
 * @module
 */

/**
 * The lines of a byte stream, decoded as UTF-8, without their `\n` (or `\r\n`).
 * A last line without a newline is yielded too.
 *
 * @param stream The stream, read to its end (or until the caller stops iterating).
 * @returns The lines, in order.
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 *
 * const stream = new Blob(["one\r\ntw", "o\nthree"]).stream();
 * const lines = await Array.fromAsync(readLines(stream));
 * if (lines.join("|") !== "one|two|three") throw new Error(lines.join("|"));
 * ```
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, buffer[newline - 1] === "\r" ? newline - 1 : newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}
