import { assertEquals } from "./_assert.ts";
import { sleep, Wakeup } from "../lib/wakeup.ts";

Deno.test("Wakeup.wait() resolves true the moment it is notified, false at the timeout or an abort", async () => {
  const wakeup = new Wakeup();
  const waiting = wakeup.wait(60_000);
  wakeup.notify();
  assertEquals(await waiting, true);
  assertEquals(await wakeup.wait(10), false, "a notification wakes one wait");
  const abort = new AbortController();
  const aborted = wakeup.wait(60_000, abort.signal);
  abort.abort();
  assertEquals(await aborted, false);
  assertEquals(await wakeup.wait(0), false);
});

Deno.test("Wakeup keeps a notification that comes while nobody waits for the next wait", async () => {
  const wakeup = new Wakeup();
  wakeup.notify();
  wakeup.notify();
  assertEquals(await wakeup.wait(Infinity, AbortSignal.abort()), true);
  assertEquals(await wakeup.wait(0), false);
});

Deno.test("sleep() waits its time, and an abort cuts it short", async () => {
  const started = performance.now();
  await sleep(30);
  const slept = performance.now() - started;
  assertEquals(slept >= 29, true, `slept ${slept} ms`);
  const abort = new AbortController();
  const cut = performance.now();
  const sleeping = sleep(60_000, abort.signal);
  abort.abort();
  await sleeping;
  assertEquals(performance.now() - cut < 1000, true);
});
