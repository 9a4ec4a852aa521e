import { assert, assertEquals } from "./_assert.ts";
import type { OutputChunk } from "../lib/output_cap.ts";
import {
  DEFAULT_SETTINGS,
  type Job,
  type Report,
  type Run,
  type Settings,
} from "../lib/protocol/wire.ts";
import { DashboardStore, KEY_KINDS } from "../lib/server/store.ts";
import { endReport, plainOutputReport, startReport, stubArgs } from "./_reports.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-03-01T12:00:00.000Z");
const ID = "dashboard-one-0001";
const OTHER = "dashboard-two-0002";

/** Runs `fn` with a store over an in-memory KV and a clock the test moves. */
async function withStore(
  fn: (store: DashboardStore, kv: Deno.Kv, clock: { now: number }) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const clock = { now: T0 };
  try {
    await fn(new DashboardStore(kv, () => clock.now), kv, clock);
  } finally {
    kv.close();
  }
}

const start = startReport;
// Plain texts: the store keeps any text as it is (the server's checks, which take only
// envelopes, are before it: tests/dashboard_server_test.ts).
const output = plainOutputReport;
const end = (runId: string, chunks: OutputChunk[] = []): Report => {
  const report = endReport(runId, T0, []) as Extract<Report, { type: "end" }>;
  const outputBytes = chunks.reduce((sum, c) => sum + new TextEncoder().encode(c.text).length, 0);
  return { ...report, end: { ...report.end, outputBytes, chunks } };
};

function job(tag: string, line: number): Job {
  return {
    tag,
    name: null,
    section: null,
    schedule: "* * * * *",
    timezone: null,
    args: [],
    next: [],
    command: `echo ${"x".repeat(200)} ${tag}`,
    line,
  };
}

async function keys(kv: Deno.Kv, prefix: Deno.KvKey = []): Promise<Deno.KvKey[]> {
  return (await Array.fromAsync(kv.list({ prefix }))).map((entry) => entry.key);
}

/** A job's run count and newest run's id and start, as stored. */
async function jobRuns(kv: Deno.Kv, tag: string): Promise<Record<string, unknown> | null> {
  const value = (await kv.get<Record<string, unknown>>(["jobRuns", ID, "web", tag])).value;
  if (value === null) return null;
  const { lastRun: _, ...counts } = value;
  return counts;
}

/** The newest run a job's count keeps, as the API shows it. */
async function lastRun(kv: Deno.Kv, tag: string): Promise<Run | undefined> {
  return (await kv.get<{ lastRun?: Run }>(["jobRuns", ID, "web", tag])).value?.lastRun;
}

async function created(store: DashboardStore, id = ID): Promise<Settings> {
  assert(await store.createDashboard(id, "hash"));
  return { ...DEFAULT_SETTINGS };
}

Deno.test("DashboardStore keeps output larger than a KV value exactly, split into parts", async () => {
  await withStore(async (store, kv) => {
    const settings = await created(store);
    const streamed = "Zoë 😃 line\n".repeat(15_000); // ~225 KB, multi-byte characters
    const final = "é".repeat(100_000); // 200 KB in one chunk
    await store.applyReports(
      ID,
      "web",
      [start("r1", "j1", T0), output("r1", 0, streamed)],
      settings,
    );
    const parts = await keys(kv, ["out", ID, "r1", 0, 0]);
    assert(parts.length >= 4, String(parts.length));
    assertEquals((await store.getRunOutput(ID, "r1", null))?.output, [
      { seq: 0, stream: "stdout", text: streamed },
    ]);
    await store.applyReports(ID, "web", [end("r1", [{ stream: "stderr", text: final }])], settings);
    assertEquals((await store.getRunOutput(ID, "r1", null))?.output, [
      { seq: 0, stream: "stderr", text: final },
    ]);
    assertEquals(await keys(kv, ["out", ID, "r1", 0]), [], "the streamed parts are gone");
  });
});

Deno.test("DashboardStore shows a chunk only once all its parts are written", async () => {
  await withStore(async (store, kv) => {
    const settings = await created(store);
    await store.applyReports(ID, "web", [start("r1", "j1", T0), output("r1", 0, "a")], settings);
    // Parts of seq 1 whose first part (written last) never came: a write cut short.
    await kv.set(["out", ID, "r1", 0, 1, 1], { bytes: new TextEncoder().encode("orphan") });
    await kv.set(["out", ID, "r1", 0, 2, 0], {
      stream: "stdout",
      parts: 2,
      bytes: new TextEncoder().encode("half"),
    });
    assertEquals((await store.getRunOutput(ID, "r1", null))?.output, [
      { seq: 0, stream: "stdout", text: "a" },
    ]);
  });
});

Deno.test("DashboardStore replaces a 10,000-job list in batches", async () => {
  await withStore(async (store, kv) => {
    await created(store);
    const jobs = Array.from({ length: 10_000 }, (_, i) => job(`j${i}`, i + 1));
    await store.replaceJobs(ID, "web", jobs);
    assertEquals((await keys(kv, ["job", ID, "web"])).length, 10_000);
    const listed = await store.listJobs(ID);
    assertEquals(listed.length, 10_000);
    assertEquals(listed[9_999], { ...jobs[9_999]!, host: "web", lastRun: null });
    await store.replaceJobs(ID, "web", jobs.slice(5, 15));
    assertEquals(
      (await store.listJobs(ID)).map((j) => j.tag),
      jobs.slice(5, 15).map((j) => j.tag),
    );
    assertEquals((await store.listHosts(ID))[0]?.jobCount, 10);
  });
});

Deno.test("DashboardStore keeps a job larger than a KV value in parts, and never shows parts of two writes", async () => {
  await withStore(async (store, kv) => {
    await created(store);
    const big = { ...job("j1", 1), command: "\u0001".repeat(131_071) };
    await store.replaceJobs(ID, "web", [big]);
    assertEquals(
      (await keys(kv, ["job", ID, "web"])).map((key) => key.slice(3)),
      [...Array(14).keys()].map((part) => ["j1", part]),
      "786,516 bytes of JSON in 14 parts of at most 60,000",
    );
    assertEquals(await store.listJobs(ID), [{ ...big, host: "web", lastRun: null }]);
    // A reader between two batches of a replacement: a new first part beside old parts.
    const [first] = await Array.fromAsync(kv.list({ prefix: ["job", ID, "web", "j1"] }));
    await kv.set(first!.key, { ...(first!.value as object), stamp: "another write" });
    assertEquals(await store.listJobs(ID), []);
  });
});

Deno.test("DashboardStore reads a job stored whole by an older server, and replaces it", async () => {
  await withStore(async (store, kv) => {
    await created(store);
    await kv.set(["job", ID, "web", "j1"], job("j1", 1));
    assertEquals(await store.listJobs(ID), [{ ...job("j1", 1), host: "web", lastRun: null }]);
    await store.replaceJobs(ID, "web", [job("j1", 2)]);
    assertEquals(await keys(kv, ["job", ID, "web"]), [["job", ID, "web", "j1", 0]]);
    assertEquals(await store.listJobs(ID), [{ ...job("j1", 2), host: "web", lastRun: null }]);
  });
});

Deno.test("DashboardStore hands a queued run to exactly one of many concurrent claimers", async () => {
  await withStore(async (store) => {
    await created(store);
    for (let round = 0; round < 5; round++) {
      const manualIds = await Promise.all(
        Array.from(
          { length: round + 1 },
          () => store.queueManual(ID, { host: "web", tag: "j1", payload: "{}", signature: "s" }),
        ),
      );
      const claims = await Promise.all(
        Array.from({ length: 12 }, () => store.claimManual(ID, "web")),
      );
      const handed = claims.flat().map((claim) => claim.manualId);
      assertEquals(handed.sort(), manualIds.sort(), `round ${round}`);
      for (const manualId of manualIds) {
        assertEquals((await store.getManual(ID, manualId))?.state, "claimed");
      }
    }
  });
});

Deno.test("DashboardStore puts released runs back in order, and answers never go back", async () => {
  await withStore(async (store, _kv, clock) => {
    await created(store);
    const request = { host: "web", tag: "j1", payload: "{}", signature: "s" };
    const first = await store.queueManual(ID, request);
    clock.now += 1;
    const second = await store.queueManual(ID, request);
    assertEquals(await store.queuedHosts(), [{ id: ID, host: "web" }]);
    const claimed = await store.claimManual(ID, "web");
    assertEquals(claimed.map((c) => c.manualId), [first, second]);
    assertEquals(await store.queuedHosts(), []);
    await store.releaseManual(ID, [second, first]);
    assertEquals((await store.claimManual(ID, "web")).map((c) => c.manualId), [first, second]);
    const settings = { ...DEFAULT_SETTINGS };
    const answer = (state: "refused" | "started", runId: string | null): Report => ({
      type: "manual",
      manualId: first,
      state,
      reason: state === "refused" ? "no" : null,
      runId,
    });
    assertEquals(await store.applyReports(ID, "web", [answer("started", "r1")], settings), 1);
    assertEquals(await store.applyReports(ID, "web", [answer("refused", null)], settings), 1);
    await store.releaseManual(ID, [first]);
    assertEquals(await store.getManual(ID, first), {
      id: first,
      host: "web",
      tag: "j1",
      queuedAt: T0,
      state: "started",
      args: {},
      runId: "r1",
    });
  });
});

Deno.test("DashboardStore pages runs that share a start time without losing or repeating any", async () => {
  await withStore(async (store) => {
    const settings = await created(store);
    const starts = [5, 5, 5, 4, 4, 3, 3, 3, 3, 2, 1];
    await store.applyReports(
      ID,
      "web",
      starts.map((at, i) => start(`r${String(i).padStart(2, "0")}`, "j1", T0 + at)),
      settings,
    );
    for (const limit of [1, 2, 3, 4, 5]) {
      const seen: string[] = [];
      let before: number | undefined;
      for (let page = 0; page < 20; page++) {
        const runs = await store.listRuns(ID, { limit, before });
        if (runs.length === 0) break;
        assert(runs.length <= Math.max(limit, 4), `page of ${runs.length} at limit ${limit}`);
        seen.push(...runs.map((run) => run.id));
        before = runs.at(-1)!.startedAt;
      }
      // Newest first; runs that started together, by id from the last.
      const order = [2, 1, 0, 4, 3, 8, 7, 6, 5, 9, 10].map((i) => `r${String(i).padStart(2, "0")}`);
      assertEquals(seen, order, `limit ${limit}`);
    }
  });
});

Deno.test("DashboardStore trims each job to retentionRuns and keeps its run count and newest run right", async () => {
  await withStore(async (store, kv) => {
    const settings = { ...await created(store), retentionRuns: 2 };
    for (let i = 0; i < 6; i++) {
      await store.applyReports(
        ID,
        "web",
        [start(`a${i}`, "j1", T0 + i), output(`a${i}`, 0, "x"), end(`a${i}`)],
        settings,
      );
    }
    assertEquals((await store.listRuns(ID, { limit: 50 })).map((r) => r.id), ["a5", "a4"]);
    assertEquals(await jobRuns(kv, "j1"), { count: 2, lastRunId: "a5", lastStartedAt: T0 + 5 });
    assertEquals(await lastRun(kv, "j1"), (await store.listRuns(ID, { limit: 1 }))[0]);
    for (const kind of ["run", "runAt", "runByHost", "runByTag", "runByJob"]) {
      assertEquals((await keys(kv, [kind, ID])).length, 2, kind);
    }
    assertEquals(new Set((await keys(kv, ["out", ID])).map((k) => k[2])), new Set(["a4", "a5"]));
  });
});

Deno.test("DashboardStore trims a job to retentionRuns even when one batch brings many of its runs", async () => {
  await withStore(async (store, kv) => {
    const settings = { ...await created(store), retentionRuns: 3 };
    const batch = Array.from({ length: 150 }, (_, i) => [
      start(`b${String(i).padStart(3, "0")}`, "j1", T0 + i),
      output(`b${String(i).padStart(3, "0")}`, 0, "x"),
      end(`b${String(i).padStart(3, "0")}`, [{ stream: "stdout", text: `run ${i}` }]),
    ]).flat();
    assertEquals(await store.applyReports(ID, "web", batch, settings), 450);
    assertEquals((await store.listRuns(ID, { limit: 50 })).map((r) => r.id), [
      "b149",
      "b148",
      "b147",
    ]);
    assertEquals(await jobRuns(kv, "j1"), {
      count: 3,
      lastRunId: "b149",
      lastStartedAt: T0 + 149,
    });
    assertEquals(await lastRun(kv, "j1"), (await store.listRuns(ID, { limit: 1 }))[0]);
    assertEquals((await keys(kv, ["out", ID])).length, 3);
    assertEquals((await keys(kv, ["runAt", ID])).length, 3);
    assertEquals((await store.getRunOutput(ID, "b148", null))?.output, [
      { seq: 0, stream: "stdout", text: "run 148" },
    ]);
  });
});

Deno.test("DashboardStore applies the same batch sent several times at once exactly once", async () => {
  await withStore(async (store, kv) => {
    const settings = { ...await created(store), retentionRuns: 5 };
    const batch = Array.from({ length: 12 }, (_, i) => [
      start(`c${i}`, `j${i % 2}`, T0 + i),
      output(`c${i}`, 0, `out ${i}`),
      output(`c${i}`, 1, `more ${i}`),
      ...(i < 10 ? [end(`c${i}`, [{ stream: "stdout", text: `final ${i}` }])] : []),
    ]).flat();
    const accepted = await Promise.all(
      Array.from({ length: 5 }, () => store.applyReports(ID, "web", batch, settings)),
    );
    assertEquals(accepted, Array(5).fill(batch.length));
    const ids = (await store.listRuns(ID, { limit: 50 })).map((r) => r.id);
    assertEquals(ids, ["c11", "c10", "c9", "c8", "c7", "c6", "c5", "c4", "c3", "c2"]);
    for (const tag of ["j0", "j1"]) {
      assertEquals((await kv.get<{ count: number }>(["jobRuns", ID, "web", tag])).value?.count, 5);
    }
    assertEquals((await store.getRunOutput(ID, "c11", null))?.output, [
      { seq: 0, stream: "stdout", text: "out 11" },
      { seq: 1, stream: "stdout", text: "more 11" },
    ]);
  });
});

Deno.test("DashboardStore writes output too large for one atomic write in batches", async () => {
  await withStore(async (store, kv) => {
    const settings = { ...await created(store), outputLimit: 4 * 1024 * 1024 };
    const streamed = "s".repeat(3_000_000);
    const final = "f".repeat(2_500_000);
    await store.applyReports(
      ID,
      "web",
      [start("r1", "j1", T0), output("r1", 0, streamed)],
      settings,
    );
    assertEquals((await store.getRunOutput(ID, "r1", null))?.output[0]?.text.length, 3_000_000);
    await store.applyReports(ID, "web", [end("r1", [{ stream: "stdout", text: final }])], settings);
    const got = await store.getRunOutput(ID, "r1", null);
    assertEquals(got?.output, [{ seq: 0, stream: "stdout", text: final }]);
    assertEquals(got?.run.status, "succeeded");
    assertEquals(await keys(kv, ["out", ID, "r1", 0]), []);
  });
});

Deno.test("DashboardStore prunes runs and manual runs older than retentionDays", async () => {
  await withStore(async (store, kv, clock) => {
    const settings = { ...await created(store), retentionDays: 7 };
    await store.applyReports(ID, "web", [
      start("old", "j1", T0 - 8 * DAY),
      output("old", 0, "old output"),
      start("older", "j1", T0 - 9 * DAY),
      start("new", "j2", T0 - 6 * DAY),
    ], settings);
    clock.now = T0 - 8 * DAY;
    const oldManual = await store.queueManual(ID, {
      host: "web",
      tag: "j1",
      payload: "{}",
      signature: "s",
    });
    clock.now = T0;
    const newManual = await store.queueManual(ID, {
      host: "web",
      tag: "j1",
      payload: "{}",
      signature: "s",
    });
    await kv.set(["dash", ID], { keyHash: "hash", createdAt: T0, settings });
    await store.pruneAll();
    assertEquals((await store.listRuns(ID, { limit: 50 })).map((r) => r.id), ["new"]);
    assertEquals(await keys(kv, ["out", ID]), []);
    assertEquals(await keys(kv, ["jobRuns", ID, "web", "j1"]), []);
    assertEquals(await store.getManual(ID, oldManual), null);
    assertEquals((await store.getManual(ID, newManual))?.state, "queued");
    assertEquals(
      (await store.listManual(ID, { host: "web", tag: "j1", limit: 50 })).map((m) => m.id),
      [newManual],
    );
    assertEquals(await keys(kv, ["manualByJob", ID]), [[
      "manualByJob",
      ID,
      "web",
      "j1",
      T0,
      newManual,
    ]]);
    assertEquals((await store.claimManual(ID, "web")).map((c) => c.manualId), [newManual]);
  });
});

Deno.test("DashboardStore says what changed in the jobs view since a stamp, and only that", async () => {
  await withStore(async (store, _kv, clock) => {
    const settings = { ...await created(store), retentionDays: 7 };
    await store.replaceJobs(ID, "web", [job("j1", 1), job("j2", 2)]);
    await store.replaceJobs(ID, "db", [job("j1", 1)]);
    const changes = async (since: string) => {
      const { hosts, jobs } = await store.viewChanges(ID, since);
      return [hosts.toSorted(), jobs.map(({ host, tag }) => `${host}/${tag}`).toSorted()];
    };
    assertEquals(await changes("0"), [["db", "web"], []]);
    const s0 = await store.viewStamp(ID);
    assert(/^[0-9a-f]{20}$/.test(s0), s0);
    assertEquals(await changes(s0), [[], []]);

    await store.applyReports(ID, "web", [start("r1", "j1", T0), output("r1", 0, "x")], settings);
    const s1 = await store.viewStamp(ID);
    assert(s1 > s0);
    assertEquals(await changes(s0), [[], ["web/j1"]]);
    // More output of a running run is not in the view.
    await store.applyReports(ID, "web", [output("r1", 1, "y")], settings);
    assertEquals(await store.viewStamp(ID), s1);
    await store.applyReports(ID, "web", [end("r1")], settings);
    assertEquals(await changes(s1), [[], ["web/j1"]]);
    // Each host's list counts for it alone; a refusal too, since it shows on the page.
    const s2 = await store.viewStamp(ID);
    await store.refuseJobs(ID, "db", "too large");
    assertEquals(await changes(s2), [["db"], []]);
    const s3 = await store.viewStamp(ID);
    // Pruning a job's newest run changes what it shows.
    clock.now = T0 + 8 * DAY;
    await store.pruneDashboard(ID, settings);
    assertEquals(await changes(s3), [[], ["web/j1"]]);
    // A selection reads those jobs alone, as the whole list would show them.
    await store.applyReports(ID, "web", [start("r2", "j2", clock.now)], settings);
    const all = await store.listJobs(ID);
    assertEquals(all.map((j) => j.lastRun?.id ?? null), [null, null, "r2"]);
    assertEquals(
      await store.listJobs(ID, { hosts: ["db"], jobs: [{ host: "web", tag: "j2" }] }),
      all.filter((j) => j.host === "db" || j.tag === "j2"),
    );
  });
});

Deno.test("DashboardStore lists each job with its newest run, kept with its count or read when not", async () => {
  await withStore(async (store, kv) => {
    const settings = await created(store);
    await store.replaceJobs(ID, "web", [job("j1", 1), job("j2", 2)]);
    await store.applyReports(ID, "web", [start("r1", "j1", T0), start("r2", "j2", T0)], settings);
    await store.applyReports(ID, "web", [output("r1", 0, "x"), end("r2")], settings);
    const listed = await store.listRuns(ID, { limit: 50 });
    const run = (id: string) => listed.find((r) => r.id === id) ?? null;
    assertEquals((await store.listJobs(ID)).map((j) => j.lastRun), [run("r1"), run("r2")]);
    assertEquals([await lastRun(kv, "j1"), await lastRun(kv, "j2")], [run("r1"), run("r2")]);
    // Counts written before they kept the run: the run is read.
    await kv.set(["jobRuns", ID, "web", "j2"], await jobRuns(kv, "j2"));
    assertEquals((await store.listJobs(ID)).map((j) => j.lastRun), [run("r1"), run("r2")]);
  });
});

Deno.test("DashboardStore lists a job's manual runs newest first, with the values asked for", async () => {
  await withStore(async (store, _kv, clock) => {
    await created(store);
    const queue = async (tag: string, args: Record<string, unknown>, seal = true) => {
      clock.now += 1000;
      return await store.queueManual(ID, {
        host: "web",
        tag,
        payload: JSON.stringify({
          v: 2,
          dashboard: ID,
          host: "web",
          tag,
          ts: clock.now,
          args: seal ? stubArgs(args) : args,
        }),
        signature: "s",
      });
    };
    const first = await queue("j1", { Who: "Zoë", N: 3, Loud: true });
    await queue("j2", {});
    const third = await queue("j1", { Bad: { nested: 1 } }, false);
    const listed = await store.listManual(ID, { host: "web", tag: "j1", limit: 50 });
    assertEquals(listed, [
      { id: third, host: "web", tag: "j1", queuedAt: T0 + 3000, state: "queued", args: {} },
      {
        id: first,
        host: "web",
        tag: "j1",
        queuedAt: T0 + 1000,
        state: "queued",
        args: stubArgs({ Who: "Zoë", N: 3, Loud: true }),
        ts: T0 + 1000,
      },
    ]);
    const paged = await store.listManual(ID, {
      host: "web",
      tag: "j1",
      limit: 1,
      before: T0 + 3000,
    });
    assertEquals(paged.map((m) => m.id), [first]);
    assertEquals(await store.listManual(ID, { host: "db", tag: "j1", limit: 50 }), []);
  });
});

Deno.test("DashboardStore cancels a queued manual run for good, and never a claimed one", async () => {
  await withStore(async (store) => {
    await created(store);
    const request = { host: "web", tag: "j1", payload: "{}", signature: "s" };
    const queued = await store.queueManual(ID, request);
    const cancelled = await store.cancelManual(ID, queued);
    assertEquals([cancelled.cancelled, cancelled.manual?.state], [true, "cancelled"]);
    assertEquals((await store.cancelManual(ID, queued)).cancelled, true, "again: still cancelled");
    assertEquals(await store.claimManual(ID, "web"), [], "no host gets a cancelled run");

    const claimed = await store.queueManual(ID, request);
    assertEquals((await store.claimManual(ID, "web")).map((c) => c.manualId), [claimed]);
    const late = await store.cancelManual(ID, claimed);
    assertEquals([late.cancelled, late.manual?.state], [false, "claimed"]);
    assertEquals(await store.cancelManual(ID, "unknown"), { cancelled: false, manual: null });

    // Racing claims and cancels: each run ends up claimed or cancelled, never both.
    const racing = await Promise.all(
      Array.from({ length: 10 }, () => store.queueManual(ID, request)),
    );
    const [claims, cancels] = await Promise.all([
      store.claimManual(ID, "web"),
      Promise.all(racing.map((manualId) => store.cancelManual(ID, manualId))),
    ]);
    const claimedIds = new Set(claims.map((c) => c.manualId));
    racing.forEach((manualId, i) => {
      assert(
        claimedIds.has(manualId) !== cancels[i]!.cancelled,
        `${manualId} claimed and cancelled`,
      );
    });
  });
});

Deno.test("DashboardStore deletes the newest run of a job and points the job at the next newest", async () => {
  await withStore(async (store, kv, clock) => {
    const settings = { ...await created(store), retentionDays: 1 };
    // A run reported late with an old start is the job's newest that gets pruned first.
    await store.applyReports(
      ID,
      "web",
      [start("b", "j1", T0 - 2 * DAY), start("a", "j1", T0)],
      settings,
    );
    await kv.set(["dash", ID], { keyHash: "hash", createdAt: T0, settings });
    clock.now = T0 + DAY / 2;
    await store.pruneAll();
    assertEquals(await jobRuns(kv, "j1"), { count: 1, lastRunId: "a", lastStartedAt: T0 });
    assertEquals((await lastRun(kv, "j1"))?.status, "running");
  });
});

Deno.test("DashboardStore keys every value by its dashboard, and deletes one dashboard whole", async () => {
  await withStore(async (store, kv) => {
    for (const id of [ID, OTHER]) {
      const settings = await created(store, id);
      await store.replaceJobs(id, "web", [job("j1", 1)]);
      await store.applyReports(id, "web", [
        start("r1", "j1", T0),
        output("r1", 0, "x"),
        start("r2", "j1", T0 + 1),
        output("r2", 0, "y"),
        end("r2", [{ stream: "stdout", text: "y" }]),
      ], settings);
      await store.queueManual(id, { host: "web", tag: "j1", payload: "{}", signature: "s" });
      await store.queueManual(id, { host: "db", tag: "j1", payload: "{}", signature: "s" });
      await store.claimManual(id, "db");
    }
    const all = await keys(kv);
    assertEquals(new Set(all.map((key) => key[0])), new Set(KEY_KINDS));
    assert(all.every((key) => key[1] === ID || key[1] === OTHER), "a key without a dashboard id");
    const others = all.filter((key) => key[1] === OTHER);
    await store.deleteDashboard(ID);
    assertEquals(await keys(kv), others);
    assertEquals(await store.getDashboard(ID), null);
    assertEquals((await store.listRuns(OTHER, { limit: 50 })).length, 2);
  });
});
