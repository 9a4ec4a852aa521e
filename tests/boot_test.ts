/**
 * Tests for lib/daemon/boot.ts: which boot of the machine this is.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { parseBootId, readBootId } from "../lib/daemon/boot.ts";

Deno.test("parseBootId() reads Linux's boot_id, macOS's boot session UUID and kern.boottime", () => {
  assertEquals(
    parseBootId("190b3334-a6dc-4de4-97aa-1f2c0eae72d3\n"),
    "190b3334-a6dc-4de4-97aa-1f2c0eae72d3",
  );
  assertEquals(
    parseBootId("  5D7B1F0C-3C5E-4C1D-9B8E-2A1F0E9D8C7B  \n"),
    "5D7B1F0C-3C5E-4C1D-9B8E-2A1F0E9D8C7B",
  );
  assertEquals(
    parseBootId("{ sec = 1700000000, usec = 5 } Tue Nov 14 22:13:20 2023\n"),
    "boottime:1700000000.5",
  );
  assertEquals(parseBootId(""), null);
  assertEquals(parseBootId("   \nsecond line"), null);
});

Deno.test("readBootId() gives this boot's id, the same at every call", async () => {
  const id = await readBootId();
  if (Deno.build.os !== "linux") {
    console.log(`skipped on ${Deno.build.os}: read ${id}`);
    return;
  }
  assert(
    id !== null && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id),
    String(id),
  );
  const { stdout } = await new Deno.Command("cat", {
    args: ["/proc/sys/kernel/random/boot_id"],
    stdout: "piped",
  }).output();
  assertEquals(id, new TextDecoder().decode(stdout).trim());
  assertEquals(await readBootId(), id);
});
