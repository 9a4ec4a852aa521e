import { assert, assertEquals } from "./_assert.ts";
import { BodyTooLargeError, readBody } from "../lib/read_body.ts";

/** A body that sends `size` bytes in 1 KiB pieces, counting what was pulled and whether it was cancelled. */
function counted(size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= size) return controller.close();
      state.pulled += 1024;
      controller.enqueue(new Uint8Array(1024));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

Deno.test("readBody() refuses a declared Content-Length over the limit before reading a byte", async () => {
  const { stream, state } = counted(10 * 1024);
  const request = new Request("http://x/", {
    method: "POST",
    body: stream,
    headers: { "content-length": String(10 * 1024) },
  });
  const error = await readBody(request, 4096).catch((error) => error);
  assert(error instanceof BodyTooLargeError, String(error));
  assertEquals([error.limit, error.message], [4096, "The body is larger than 4096 bytes"]);
  assertEquals(state.pulled <= 1024, true, `pulled ${state.pulled}`);
});

Deno.test("readBody() cancels a streamed body as soon as it passes the limit", async () => {
  const { stream, state } = counted(50 * 1024 * 1024);
  const error = await readBody(new Response(stream), 8 * 1024).catch((error) => error);
  assert(error instanceof BodyTooLargeError, String(error));
  assert(state.cancelled, "cancelled");
  assert(state.pulled <= 16 * 1024, `pulled ${state.pulled}`);
});

Deno.test("readBody() reads a body up to the limit exactly, and none as empty", async () => {
  assertEquals((await readBody(new Response("x".repeat(4096)), 4096)).length, 4096);
  assertEquals((await readBody(new Response(null), 10)).length, 0);
});

Deno.test("readBody() stops at an abort with the signal's reason", async () => {
  const abort = new AbortController();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(10));
    },
  });
  const reading = readBody(new Response(stream), 1024, abort.signal);
  abort.abort(new Error("gone"));
  const error = await reading.catch((error) => error);
  assertEquals((error as Error).message, "gone");
});
