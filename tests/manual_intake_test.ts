/**
 * koid's intake of manual runs while its record of accepted signatures cannot be
 * kept: every run refused with the reason, none started, nothing recorded.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { ManualIntake } from "../lib/daemon/manual_intake.ts";
import type { RunRequest } from "../lib/daemon/runner.ts";
import { SEEN_KEEP_MS } from "../lib/daemon/spool.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { base64url, newDashboardId, signRun } from "../lib/protocol/keys.ts";
import { payloadText } from "../lib/protocol/manual.ts";
import type { ManualReport, Report } from "../lib/protocol/wire.ts";
import { History } from "../lib/runs/history.ts";

const NOW = Date.UTC(2025, 5, 1, 10, 0, 0);
const JOBS = parseKoitab(`"Touch" @manual touch x\n`).jobs;

/** An intake over a real history.db, with the dashboard's answers and the runs started. */
async function withIntake(
  fn: (context: {
    history: History;
    intake: (replacedAt?: number | null) => ManualIntake;
    /** Hands the intake one request signed now; returns koid's answer. */
    handle: (intake: ManualIntake, ts?: number) => Promise<ManualReport>;
    started: RunRequest[];
    logs: string[];
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_intake_" });
  const history = new History(`${dir}/history.db`);
  const runKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const config = { id: newDashboardId(), server: "http://127.0.0.1:1", apiKey: runKey, runKey };
  const started: RunRequest[] = [];
  const logs: string[] = [];
  let manuals = 0;
  try {
    await fn({
      history,
      started,
      logs,
      intake: (replacedAt = null) =>
        new ManualIntake({
          database: { database: () => history.database, report: () => {}, replacedAt },
          host: "web1",
          jobs: () => JOBS,
          start: (request) => started.push(request),
          log: (line) => logs.push(line),
          now: () => NOW,
        }),
      async handle(intake, ts = NOW) {
        const payload = payloadText({
          v: 2,
          dashboard: config.id,
          host: "web1",
          tag: JOBS[0]!.tag,
          ts,
          args: {},
        });
        const signature = await signRun(runKey, payload);
        const answers: Report[] = [];
        const session = {
          config: { ...config, dataKey: runKey },
          append: (report: Report) => answers.push(report) > 0,
        };
        await intake.handle(session, { manualId: `m${manuals++}`, payload, signature }, () => true);
        assertEquals(answers.length, 1);
        return answers[0] as ManualReport;
      },
    });
  } finally {
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ManualIntake refuses a manual run whose signature cannot be recorded, starts none, and records nothing", async () => {
  await withIntake(async ({ history, intake, handle, started, logs }) => {
    const taking = intake();
    taking.prune(); // which makes the record's table
    // The record can be read but not written, as on a full disk.
    history.database.exec(
      `CREATE TRIGGER full BEFORE INSERT ON dashboard_seen
       BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`,
    );
    const reason =
      "koid cannot record the signatures of manual runs (database or disk is full), so it could not refuse a replay: manual runs are refused until history.db can be written again; scheduled jobs go on";
    assertEquals(await handle(taking), {
      type: "manual",
      manualId: "m0",
      state: "refused",
      reason,
      runId: null,
    });
    assertEquals(started, []);
    assertEquals(logs, [`manual run refused: ${reason}`]);
    const recorded = history.database.prepare("SELECT COUNT(*) AS n FROM dashboard_seen").get();
    assertEquals(recorded?.n, 0);
    // Writable again: the same request (it was not recorded) runs, and once only.
    history.database.exec("DROP TRIGGER full");
    const answer = await handle(taking);
    assertEquals([answer.state, answer.reason], ["started", null]);
    assertEquals(started.map((request) => [request.job.tag, request.trigger, request.id]), [
      [JOBS[0]!.tag, "manual", answer.runId!],
    ]);
    const replay = await handle(taking);
    assertEquals(
      [replay.state, replay.reason],
      ["refused", "the request was already received once (a replay)"],
    );
    assertEquals(started.length, 1);
  });
});

Deno.test("ManualIntake refuses every manual run for 10 minutes after the record started afresh", async () => {
  await withIntake(async ({ intake, handle, started }) => {
    const replacedAt = NOW - SEEN_KEEP_MS + 1;
    const answer = await handle(intake(replacedAt));
    assertEquals(answer.state, "refused");
    assertEquals(
      answer.reason,
      `koid's record of accepted manual runs started afresh at ${
        new Date(replacedAt).toISOString()
      } (history.db was moved aside, deleted or replaced), so it cannot rule out a replay: manual runs are refused until ${
        new Date(replacedAt + SEEN_KEEP_MS).toISOString()
      }`,
    );
    assertEquals(started, []);
    // 10 minutes on, the record vouches again.
    assertEquals((await handle(intake(NOW - SEEN_KEEP_MS))).state, "started");
  });
});
