import { assert, assertEquals } from "./_assert.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { scheduleKind } from "../lib/protocol/job_kind.js";
import { cronSchedule, jobSchedule } from "../lib/schedules.ts";
import { localTimeZone } from "../lib/timezone.ts";

Deno.test("parseKoitab() gives each job its kind, decided by scheduleKind() alone", () => {
  const { jobs, errors } = parseKoitab(`@reboot a
@manual b
@daily c
*/5 * * * * d
`);
  assertEquals(errors, []);
  assertEquals(jobs.map((job) => job.kind), ["reboot", "manual", "cron", "cron"]);
  assertEquals(jobs.map((job) => scheduleKind(job.schedule)), jobs.map((job) => job.kind));
  // "@manual" is the whole word: anything longer is a bad time specifier, not a manual job.
  assertEquals(parseKoitab("@manualx e\n").errors.length, 1);
});

Deno.test("jobSchedule() hands out the schedule the koitab parser parsed, in the job's zone", () => {
  const { jobs } = parseKoitab(`17 4 * * 1 local
CRON_TZ=Asia/Tokyo
17 4 * * 1 tokyo
@manual by hand
`);
  const [local, tokyo, manual] = jobs;
  // Parsed once by the parser, then shared: the same object, not another parse.
  assert(jobSchedule(local!, localTimeZone()) === cronSchedule("17 4 * * 1"));
  assert(jobSchedule(tokyo!, "UTC") === cronSchedule("17 4 * * 1", "Asia/Tokyo"));
  assert(jobSchedule(local!, "UTC") !== jobSchedule(tokyo!, "UTC"));
  assertEquals(jobSchedule(manual!, "UTC"), null);
  const monday = new Date("2026-03-02T00:00:00Z");
  assertEquals(jobSchedule(tokyo!, "UTC")!.next(monday)!.toISOString(), "2026-03-08T19:17:00.000Z");
  assertEquals(jobSchedule(local!, "UTC")!.next(monday)!.toISOString(), "2026-03-02T04:17:00.000Z");
});
