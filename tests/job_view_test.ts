import { assert, assertEquals } from "./_assert.ts";
import { LATE_GRACE_MS, viewJob } from "../lib/server/job_view.ts";
import type { Job, Run } from "../lib/protocol/wire.ts";

const job: Job = {
  tag: "j1",
  name: "Backup",
  section: null,
  schedule: "30 3 * * *",
  timezone: "UTC",
  args: [],
  next: ["2026-11-28T03:30:00.000Z"],
  command: "backup.sh",
  line: 1,
};

function run(overrides: Partial<Run>): Run {
  return {
    id: "r1",
    host: "web",
    tag: "j1",
    name: "Backup",
    section: null,
    trigger: "schedule",
    args: {},
    scheduledFor: Date.parse("2026-11-27T03:30:00Z"),
    startedAt: Date.parse("2026-11-27T03:30:00.020Z"),
    finishedAt: Date.parse("2026-11-27T03:31:00Z"),
    exitCode: 0,
    signal: null,
    status: "succeeded",
    error: null,
    outputBytes: 0,
    ...overrides,
  } as Run;
}

const due = Date.parse("2026-11-28T03:30:00Z");

Deno.test("viewJob() marks a job late once its next run is overdue by the grace", () => {
  const lastRun = run({});
  assertEquals(viewJob(job, lastRun, due + LATE_GRACE_MS - 1), {
    description: "every day at 03:30",
    due: "2026-11-28T03:30:00.000Z",
    nextRun: "2026-11-29T03:30:00.000Z",
    state: "ok",
    refreshAt: new Date(due + LATE_GRACE_MS).toISOString(),
  });
  assertEquals(viewJob(job, lastRun, due + LATE_GRACE_MS).state, "late");
});

Deno.test("viewJob() says when the view next changes by time alone: the sooner of late and next run", () => {
  const refreshAt = (at: number, lastRun: Run | null, schedule = job.schedule) => {
    const view = (time: number) => viewJob({ ...job, schedule }, lastRun, time);
    const { refreshAt, ...shown } = view(at);
    // Just before, the view is the same; at the instant, what it shows is not.
    if (refreshAt !== null) {
      const until = Date.parse(refreshAt);
      assertEquals(view(until - 1), { ...shown, refreshAt });
      const { refreshAt: _, ...then } = view(until);
      assert(JSON.stringify(then) !== JSON.stringify(shown), `${schedule} at ${refreshAt}`);
    }
    return refreshAt;
  };
  // Ran yesterday; due at 03:30 today, late at 03:32, but before that its next run passes.
  assertEquals(refreshAt(due - 3_600_000, run({})), "2026-11-28T03:30:00.000Z");
  // Its run is due and not reported yet: late at 03:32, before the next run tomorrow.
  assertEquals(refreshAt(due + 1000, run({})), "2026-11-28T03:32:00.000Z");
  // Late already: only the next run is left to pass.
  assertEquals(refreshAt(due + LATE_GRACE_MS, run({})), "2026-11-29T03:30:00.000Z");
  // Every minute, never run, listed before it was due: the next minute.
  assertEquals(refreshAt(due - 30_000, null, "* * * * *"), "2026-11-28T03:30:00.000Z");
  // Manual and boot jobs never change by time alone.
  assertEquals(refreshAt(due, null, "@manual"), null);
  assertEquals(refreshAt(due, run({}), "@reboot"), null);
});

Deno.test("viewJob() shows running, failed and never, and never marks @manual jobs late", () => {
  assertEquals(viewJob(job, run({ status: "running", finishedAt: null }), due).state, "running");
  assertEquals(viewJob(job, run({ status: "failed", exitCode: 3 }), due).state, "failed");
  assertEquals(viewJob(job, null, due - 1).state, "never");
  assertEquals(viewJob(job, null, due + LATE_GRACE_MS).state, "late");
  const manual = { ...job, schedule: "@manual", next: [] };
  assertEquals(viewJob(manual, null, due + 10 * LATE_GRACE_MS), {
    description: "only when started by hand",
    due: null,
    nextRun: null,
    state: "never",
    refreshAt: null,
  });
});

Deno.test("viewJob() counts the next run in the job's own zone", () => {
  const paris = { ...job, timezone: "Europe/Paris" };
  // 03:30 in Paris on 28 November is 02:30 UTC.
  assertEquals(viewJob(paris, run({}), due).due, "2026-11-28T02:30:00.000Z");
});

Deno.test("viewJob() works out the next run from the schedule, not from the times koid last sent", () => {
  // An every-minute job whose host sent its times an hour ago and went quiet.
  const minutely = {
    ...job,
    schedule: "* * * * *",
    next: ["2026-11-28T02:31:00.000Z", "2026-11-28T02:32:00.000Z"],
  };
  const now = Date.parse("2026-11-28T03:30:20Z");
  assertEquals(viewJob(minutely, run({}), now).nextRun, "2026-11-28T03:31:00.000Z");
  assertEquals(viewJob({ ...job, schedule: "@reboot", next: [] }, null, now).nextRun, null);
  // 31 February never comes.
  assertEquals(viewJob({ ...job, schedule: "0 0 31 2 *", next: [] }, null, now).nextRun, null);
});
