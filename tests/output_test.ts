import { assert, assertEquals } from "./_assert.ts";
import {
  capChunks,
  DEFAULT_OUTPUT_LIMIT,
  OutputCapture,
  type OutputChunk,
} from "../lib/output_cap.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const note = (elided: number) => `\n[koi: ${elided} bytes elided]\n`;

/** Feeds text chunks to a new capture and returns its chunks. */
function capture(limit: number, pieces: ["stdout" | "stderr", string][]): OutputChunk[] {
  const output = new OutputCapture(limit);
  for (const [stream, text] of pieces) output.add(stream, bytes(text));
  return output.chunks();
}

/** A small deterministic PRNG (mulberry32), so failures can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The chunks a capture must give, computed byte by byte from the whole output (ASCII only). */
function model(limit: number, pieces: ["stdout" | "stderr", string][]): OutputChunk[] {
  const labelled: { stream: OutputChunk["stream"]; char: string }[] = [];
  for (const [stream, text] of pieces) for (const char of text) labelled.push({ stream, char });
  const head = Math.ceil(limit / 2);
  const tail = Math.floor(limit / 2);
  let kept = labelled;
  if (labelled.length > limit) {
    const elided = labelled.length - head - tail;
    kept = [
      ...labelled.slice(0, head),
      ...[...note(elided)].map((char) => ({ stream: "koi" as const, char })),
      ...labelled.slice(labelled.length - tail),
    ];
  }
  const chunks: { stream: OutputChunk["stream"]; text: string }[] = [];
  for (const { stream, char } of kept) {
    const last = chunks.at(-1);
    if (last && last.stream === stream) last.text += char;
    else chunks.push({ stream, text: char });
  }
  return chunks;
}

Deno.test("OutputCapture keeps everything under the limit, in arrival order, same-stream neighbours merged", () => {
  const output = new OutputCapture(100);
  assertEquals(output.chunks(), []);
  assertEquals(output.totalBytes, 0);
  for (
    const [stream, text] of [
      ["stdout", "a"],
      ["stdout", "bc"],
      ["stderr", "E1"],
      ["stderr", "E2\n"],
      ["stdout", "d\n"],
      ["stdout", "e"],
    ] as const
  ) {
    output.add(stream, bytes(text));
  }
  assertEquals(output.chunks(), [
    { stream: "stdout", text: "abc" },
    { stream: "stderr", text: "E1E2\n" },
    { stream: "stdout", text: "d\ne" },
  ]);
  assertEquals(output.totalBytes, 11);
  // chunks() is a view: asking twice gives the same, and adding more afterwards still works.
  assertEquals(output.chunks(), output.chunks());
  output.add("stderr", bytes("!"));
  assertEquals(output.chunks().at(-1), { stream: "stderr", text: "!" });
});

Deno.test("OutputCapture ignores empty chunks: they neither appear nor split a stream's run", () => {
  assertEquals(capture(100, [["stdout", "d\n"], ["stderr", ""], ["stdout", "e"]]), [
    { stream: "stdout", text: "d\ne" },
  ]);
  assertEquals(capture(100, [["stderr", ""], ["stdout", ""]]), []);
  const output = new OutputCapture(4);
  output.add("stdout", bytes("abcdef"));
  output.add("stderr", new Uint8Array(0));
  assertEquals(output.chunks(), [
    { stream: "stdout", text: "ab" },
    { stream: "koi", text: note(2) },
    { stream: "stdout", text: "ef" },
  ]);
});

Deno.test("OutputCapture copies the bytes it keeps (a reused read buffer does not change them)", () => {
  const output = new OutputCapture(100);
  const buffer = bytes("abcd");
  output.add("stdout", buffer);
  buffer.set(bytes("WXYZ"));
  output.add("stdout", buffer.subarray(0, 2));
  assertEquals(output.chunks(), [{ stream: "stdout", text: "abcdWX" }]);
});

Deno.test("OutputCapture at exactly the limit keeps everything, with no elision note", () => {
  assertEquals(capture(10, [["stdout", "01234"], ["stdout", "56789"]]), [
    { stream: "stdout", text: "0123456789" },
  ]);
  assertEquals(capture(10, [["stdout", "0123456789"]]), [{ stream: "stdout", text: "0123456789" }]);
  assertEquals(capture(11, [["stderr", "0123456789a"]]), [
    { stream: "stderr", text: "0123456789a" },
  ]);
});

Deno.test("OutputCapture over the limit keeps ceil(limit/2) head bytes, the note with the exact count, floor(limit/2) tail bytes", () => {
  // One byte over: head 5, tail 5, 1 elided.
  assertEquals(capture(10, [["stdout", "0123456789X"]]), [
    { stream: "stdout", text: "01234" },
    { stream: "koi", text: note(1) },
    { stream: "stdout", text: "6789X" },
  ]);
  // An odd limit: head 6, tail 5.
  const output = new OutputCapture(11);
  output.add("stdout", bytes("abcdefghijklmnopqrstuvwxyz"));
  assertEquals(output.chunks(), [
    { stream: "stdout", text: "abcdef" },
    { stream: "koi", text: note(15) },
    { stream: "stdout", text: "vwxyz" },
  ]);
  assertEquals(output.totalBytes, 26);
  // Byte by byte gives the same result as all at once.
  const single = new OutputCapture(11);
  for (const byte of bytes("abcdefghijklmnopqrstuvwxyz")) single.add("stdout", Uint8Array.of(byte));
  assertEquals(single.chunks(), output.chunks());
  // The default limit: 1 MiB.
  const big = new OutputCapture();
  big.add("stdout", new Uint8Array(DEFAULT_OUTPUT_LIMIT + 7).fill(0x61));
  const chunks = big.chunks();
  assertEquals(chunks.map((c) => [c.stream, c.text.length]), [
    ["stdout", DEFAULT_OUTPUT_LIMIT / 2],
    ["koi", note(7).length],
    ["stdout", DEFAULT_OUTPUT_LIMIT / 2],
  ]);
  assertEquals(chunks[1]!.text, note(7));
});

Deno.test("OutputCapture's tail may cross stream boundaries, and keeps each byte's stream", () => {
  // limit 8: head 4, tail 4. 13 bytes: 5 elided.
  assertEquals(capture(8, [["stdout", "0123456789"], ["stderr", "AB"], ["stdout", "C"]]), [
    { stream: "stdout", text: "0123" },
    { stream: "koi", text: note(5) },
    { stream: "stdout", text: "9" },
    { stream: "stderr", text: "AB" },
    { stream: "stdout", text: "C" },
  ]);
  // The head, too, crosses streams; the tail starts with part of a stderr chunk.
  assertEquals(
    capture(8, [["stdout", "ab"], ["stderr", "cdef"], ["stdout", "ghi"], ["stderr", "jkl"]]),
    [
      { stream: "stdout", text: "ab" },
      { stream: "stderr", text: "cd" },
      { stream: "koi", text: note(4) },
      { stream: "stdout", text: "i" },
      { stream: "stderr", text: "jkl" },
    ],
  );
  // The head and the tail are never merged across the note, even when of one stream.
  assertEquals(capture(4, [["stderr", "abcde"]]), [
    { stream: "stderr", text: "ab" },
    { stream: "koi", text: note(1) },
    { stream: "stderr", text: "de" },
  ]);
});

Deno.test("OutputCapture matches a byte-by-byte model for random chunkings, streams and limits", () => {
  const next = random(20260101);
  for (let round = 0; round < 400; round++) {
    const limit = Math.floor(next() * 41);
    const pieces: ["stdout" | "stderr", string][] = [];
    const count = Math.floor(next() * 12);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const length = 1 + Math.floor(next() * (next() < 0.2 ? 60 : 8));
      let text = "";
      for (let j = 0; j < length; j++) text += String.fromCharCode(33 + (n++ % 90));
      pieces.push([next() < 0.5 ? "stdout" : "stderr", text]);
    }
    const output = new OutputCapture(limit);
    for (const [stream, text] of pieces) output.add(stream, bytes(text));
    const context = `round ${round}: limit ${limit}, ${JSON.stringify(pieces)}`;
    assertEquals(output.chunks(), model(limit, pieces), context);
    assertEquals(output.totalBytes, pieces.reduce((sum, [, text]) => sum + text.length, 0));
  }
});

Deno.test("OutputCapture cuts multi-byte UTF-8 at the head and tail edges between whole characters", () => {
  // "é" is 2 bytes, "😃" is 4: every cut point of the head and tail falls inside one somewhere.
  const text = "é😃aé😃bé😃";
  const all = bytes(text);
  for (let limit = 1; limit <= all.length + 1; limit++) {
    for (const chunkSize of [1, 2, 3, 5, all.length]) {
      // Two streams that split a character each keep their half: only the edges are trimmed.
      const mixed = new OutputCapture(limit);
      for (let i = 0; i < all.length; i += chunkSize) {
        mixed.add(i % 2 ? "stderr" : "stdout", all.subarray(i, i + chunkSize));
      }
      for (const chunk of mixed.chunks()) assertEquals(typeof chunk.text, "string");
      const output = new OutputCapture(limit);
      for (let i = 0; i < all.length; i += chunkSize) {
        output.add("stdout", all.subarray(i, i + chunkSize));
      }
      const chunks = output.chunks();
      if (limit >= all.length) {
        assertEquals(chunks, [{ stream: "stdout", text }]);
      }
      if (limit < all.length) {
        // The kept bytes are whole characters of the text, and the note counts the rest.
        const at = chunks.findIndex((c) => c.stream === "koi");
        const head = chunks.slice(0, at).map((c) => c.text).join("");
        const tail = chunks.slice(at + 1).map((c) => c.text).join("");
        assert(text.startsWith(head) && text.endsWith(tail), `${limit}/${chunkSize}`);
        assert(bytes(head).length <= Math.ceil(limit / 2), `${limit}/${chunkSize} head`);
        assert(bytes(tail).length <= Math.floor(limit / 2), `${limit}/${chunkSize} tail`);
        assertEquals(chunks[at]!.text, note(all.length - bytes(head + tail).length));
      }
    }
  }
  // A character cut in two by the head edge is left out whole, and counted as elided.
  const cut = new OutputCapture(4); // head 2 bytes: "a" and half of "é"; 11 bytes in all
  cut.add("stdout", bytes("aé-----xyz"));
  assertEquals(cut.chunks(), [
    { stream: "stdout", text: "a" },
    { stream: "koi", text: note(8) },
    { stream: "stdout", text: "yz" },
  ]);
  // Bytes that are not UTF-8 at all lose at most 3 bytes at an edge.
  const binary = new OutputCapture(10);
  binary.add("stdout", new Uint8Array(40).fill(0x80));
  const kept = binary.chunks().filter((c) => c.stream === "stdout").map((c) => bytes(c.text));
  assert(kept.length === 2, JSON.stringify(binary.chunks()));
});

Deno.test("OutputCapture fed 200 MB in 64 KiB chunks keeps memory flat", () => {
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = 0x20 + (i % 95);
  const output = new OutputCapture(DEFAULT_OUTPUT_LIMIT);
  const total = 200 * 1024 * 1024;
  const before = Deno.memoryUsage().rss;
  let peak = before;
  for (let fed = 0, i = 0; fed < total; fed += chunk.length, i++) {
    output.add(i % 3 === 0 ? "stderr" : "stdout", chunk);
    if (i % 256 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
  }
  const chunks = output.chunks();
  peak = Math.max(peak, Deno.memoryUsage().rss);
  assertEquals(output.totalBytes, total);
  const growth = peak - before;
  assert(growth < 50 * 1024 * 1024, `rss grew by ${(growth / 1048576).toFixed(1)} MB`);
  const kept = chunks.filter((c) => c.stream !== "koi").reduce((sum, c) => sum + c.text.length, 0);
  assertEquals(kept, DEFAULT_OUTPUT_LIMIT);
  assertEquals(chunks.filter((c) => c.stream === "koi").map((c) => c.text), [
    note(total - DEFAULT_OUTPUT_LIMIT),
  ]);
});

Deno.test("capChunks keeps whole characters and stays within the limit", () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = ["a", "é", "€", "😃", "\n"];
  for (let round = 0; round < 200; round++) {
    const chunks: OutputChunk[] = Array.from({ length: 1 + Math.floor(next() * 6) }, () => ({
      stream: next() < 0.5 ? "stdout" : "stderr",
      text: Array.from(
        { length: Math.floor(next() * 900) },
        () => alphabet[Math.floor(next() * alphabet.length)],
      ).join(""),
    }));
    const limit = 1024 + Math.floor(next() * 1024);
    const capped = capChunks(chunks, limit);
    const size = (list: OutputChunk[]) =>
      list.reduce((sum, c) => sum + new TextEncoder().encode(c.text).length, 0);
    const all = chunks.map((c) => c.text).join("");
    if (size(chunks) <= limit) {
      assertEquals(capped, chunks);
      continue;
    }
    assert(size(capped) <= limit, `${size(capped)} > ${limit}`);
    const note = capped.find((c) => c.stream === "koi")!;
    const elided = Number(/\[koi: (\d+) bytes elided\]/.exec(note.text)![1]);
    assertEquals(size(capped) - size([note]) + elided, size(chunks));
    const at = capped.indexOf(note);
    const head = capped.slice(0, at).map((c) => c.text).join("");
    const tail = capped.slice(at + 1).map((c) => c.text).join("");
    assert(all.startsWith(head) && all.endsWith(tail), `round ${round}`);
    assert(!head.includes("\ufffd") && !tail.includes("\ufffd"), `round ${round}`);
  }
});
