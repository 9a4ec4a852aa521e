/**
 * Tests for lib/timezone.ts' UTC without `Intl`: zones named as UTC, and the local
 * zone of a machine on UTC, are known without loading ICU's zone data.
 *
 * @module
 */

import { localTimeZone, zoneInfo } from "../lib/timezone.ts";
import { parseCron } from "../lib/cron.ts";
import { assertEquals } from "./_assert.ts";

Deno.test("zoneInfo() knows every name of UTC without Intl, and schedules in them as in UTC", () => {
  const format = Intl.DateTimeFormat;
  let asked = 0;
  // deno-lint-ignore no-explicit-any
  (Intl as any).DateTimeFormat = function () {
    asked++;
    throw new Error("Intl asked");
  };
  try {
    for (const name of ["Etc/Zulu", "GMT0", "Etc/Universal", "uct"]) {
      const zone = zoneInfo(name);
      assertEquals([zone.name, zone.fixedOffset, zone.offsetAt(Date.UTC(2026, 6, 1))], [
        name,
        0,
        0,
      ]);
      assertEquals(zone.yearContaining(Date.UTC(2026, 6, 1)).transitions, []);
      const next = parseCron("30 2 * * *", { timezone: name }).next(new Date("2026-03-29T01:00Z"));
      assertEquals(next?.toISOString(), "2026-03-29T02:30:00.000Z");
    }
  } finally {
    // deno-lint-ignore no-explicit-any
    (Intl as any).DateTimeFormat = format;
  }
  assertEquals(asked, 0);
});

Deno.test("localTimeZone() says UTC for TZ naming UTC, and asks Intl for any other zone", async () => {
  const script = `import { localTimeZone } from "${
    new URL("../lib/timezone.ts", import.meta.url).href
  }"; console.log(localTimeZone());`;
  const zoneOf = async (tz: string) => {
    const { stdout, success } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      env: { TZ: tz },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assertEquals(success, true);
    return new TextDecoder().decode(stdout).trim();
  };
  assertEquals(await zoneOf("Etc/UTC"), "UTC");
  assertEquals(await zoneOf(":UTC"), "UTC");
  assertEquals(await zoneOf("Asia/Tokyo"), "Asia/Tokyo");
  assertEquals(await zoneOf("America/New_York"), "America/New_York");
  // The value is found once per process, as ICU's.
  assertEquals(localTimeZone(), localTimeZone());
});
