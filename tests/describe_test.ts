import { assertEquals } from "./_assert.ts";
import { describeSchedule } from "../lib/describe.ts";

Deno.test("describeSchedule() puts common schedules in plain words", () => {
  const cases: [string, string][] = [
    ["* * * * *", "every minute"],
    ["*/1 * * * *", "every minute"],
    ["*/5 * * * *", "every 5 minutes"],
    ["0 * * * *", "every hour"],
    ["@hourly", "every hour"],
    ["15 * * * *", "every hour at :15"],
    ["30 3 * * *", "every day at 03:30"],
    ["@daily", "every day at 00:00"],
    ["0,30 2 * * *", "every day at 02:00 and 02:30"],
    ["0 8,12,18 * * *", "every day at 08:00, 12:00 and 18:00"],
    ["15 3 * * 1-5", "at 03:15 on weekdays"],
    ["0 9-17 * * mon-fri", "every hour from 09:00 to 17:00 on weekdays"],
    ["0 */2 * * 0", "every 2 hours at :00 on Sunday"],
    ["0 12 * * sat,sun", "at 12:00 on weekends"],
    ["0 12 * * sat-sun", "at 12:00 on weekends"],
    ["0 7 * * 1,3,5", "at 07:00 on Monday, Wednesday and Friday"],
    ["@weekly", "at 00:00 on Sunday"],
    ["@monthly", "at 00:00 on the 1st of the month"],
    ["@yearly", "at 00:00 on the 1st of the month in January"],
    ["0 0 1,15 * *", "at 00:00 on the 1st and the 15th of the month"],
    ["0 0 L * *", "at 00:00 on the last day of the month"],
    ["0 0 * * 5L", "at 00:00 on the last Friday of the month"],
    ["0 0 * * fri#2", "at 00:00 on the second Friday of the month"],
    ["59 23 31 12 *", "at 23:59 on the 31st of the month in December"],
    ["0 0 1 jan-mar *", "at 00:00 on the 1st of the month in January to March"],
    ["@reboot", "once per boot, at koid's first start"],
    ["@manual", "only when started by hand"],
  ];
  for (const [schedule, words] of cases) assertEquals(describeSchedule(schedule), words, schedule);
});

Deno.test("describeSchedule() follows cron's day rule: either day when both are restricted", () => {
  assertEquals(
    describeSchedule("0 0 13 * 5"),
    "at 00:00 on the 13th of the month, and on Friday",
  );
  assertEquals(
    describeSchedule("0 0 */2 * 1"),
    "at 00:00 on day-of-month */2 if it is Monday",
  );
});

Deno.test("describeSchedule() falls back to the fields when no plain words fit", () => {
  assertEquals(
    describeSchedule("*/7 2-5 1,15 * *"),
    "at minute */7 of hour 2-5 on the 1st and the 15th of the month",
  );
  assertEquals(describeSchedule("not a schedule"), "not a schedule");
});
