/**
 * The contract between the dashboard's client and its server, proved on the
 * real parts: `DashboardClient` (what koid's link and `koitab -d` call) against
 * `startServer()` in process on an in-memory Deno KV, every call either makes,
 * with what koid sends built by koid's own mapping (`link_reports.ts`). No fake
 * and no browser: if client and server drift apart, this fails.
 *
 * @module
 */

import { callApi } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { dashboardJobs, RunReports } from "../lib/daemon/link_reports.ts";
import type { RunEvent } from "../lib/daemon/runner.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { DashboardClient, DashboardError } from "../lib/link/client.ts";
import { base64url, newDashboardId, signRun } from "../lib/protocol/keys.ts";
import { checkManualRun, payloadText } from "../lib/protocol/manual.ts";
import { sealedPayload } from "./_sealed.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { isEnvelope } from "../lib/protocol/envelope.js";
import { contexts, openJob, openOutput, openText } from "../lib/protocol/sealed.js";
import type { Job, Report } from "../lib/protocol/wire.ts";
import { startServer } from "../lib/server/server.ts";

const KOITAB = `[Admin]
"Say" @manual echo {{Who}} {{N, int, 2}} {{Loud, bool}} {{Tone, string, calm}}
"Nightly" 0 3 * * * backup.sh
@reboot boot.sh
`;
const NOW = Date.parse("2026-03-01T12:00:00Z");

/** A server on an in-memory store, a dashboard on it, and clients of it. */
async function withServer(
  fn: (context: {
    api: DashboardClient;
    keys: { id: string; apiKey: string; runKey: string; dataKey: string };
    url: string;
    clock: { now: number };
  }) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const clock = { now: NOW };
  const server = await startServer({
    kv,
    port: 0,
    pruneEveryMs: 0,
    recheckMs: 100,
    now: () => clock.now,
    log: () => {},
  });
  const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
  const keys = { id: newDashboardId(), apiKey: key(), runKey: key(), dataKey: key() };
  const api = new DashboardClient({ server: server.url, ...keys, timeoutMs: 10_000 });
  try {
    await api.create();
    await fn({ api, keys, url: server.url, clock });
  } finally {
    await server.shutdown();
    kv.close();
  }
}

/** What koid sends, sealed as koid seals it for host web1. */
function koidSealer(keys: { id: string; dataKey: string }): ReportSealer {
  return new ReportSealer(keys.id, "web1", keys.dataKey);
}

/** A run and its output as `koitab -d run` shows them: opened. */
async function opened(
  keys: { id: string; dataKey: string },
  runId: string,
  answer: Awaited<ReturnType<DashboardClient["run"]>>,
) {
  const at = contexts(keys.id, "web1");
  const error = answer.run.error === null
    ? null
    : await openText(keys.dataKey, at.error(runId), answer.run.error);
  const run = { ...answer.run, error };
  const output = await openOutput(keys.dataKey, keys.id, { ...run, host: "web1" }, answer.output);
  return { run, output };
}

/** The error a call fails with. */
async function failure(call: Promise<unknown>): Promise<DashboardError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof DashboardError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

Deno.test("contract: a dashboard is created once, and known only by its key", async () => {
  await withServer(async ({ api, keys, url }) => {
    const again = await failure(api.create());
    assertEquals([again.kind, again.status], ["status", 409]);
    assertEquals(await api.info(), { id: keys.id, createdAt: NOW, hosts: [] });
    const stranger = new DashboardClient({ server: url, id: keys.id, apiKey: "x".repeat(43) });
    const refused = await failure(stranger.info());
    assertEquals([refused.status, refused.message], [
      401,
      "the server refused the API key (a wrong password, or no such dashboard)",
    ]);
    await api.delete();
    assertEquals((await failure(api.info())).status, 401);
  });
});

Deno.test("contract: the job list koid sends is the one koitab -d reads, arguments typed", async () => {
  await withServer(async ({ api, clock, keys }) => {
    const { jobs } = parseKoitab(KOITAB);
    const listed = dashboardJobs(jobs, "UTC", new Date(NOW));
    await api.putJobs("web1", await koidSealer(keys).jobs(listed));
    assertEquals(await api.info().then((info) => info.hosts), [
      { host: "web1", lastSeenAt: NOW, jobCount: 3, jobListRefused: null },
    ]);
    const sealedRead = await api.jobs();
    assert(
      sealedRead[0]!.args.every((arg) => arg.default === undefined || isEnvelope(arg.default)),
    );
    const read = await Promise.all(sealedRead.map((job) => openJob(keys.dataKey, keys.id, job)));
    assertEquals(
      read,
      listed.map((job) => ({
        host: "web1",
        tag: job.tag,
        name: job.name,
        section: job.section,
        schedule: job.schedule,
        args: job.args,
      })),
    );
    assertEquals(read[0]!.args, [
      { name: "Who", type: "string" },
      { name: "N", type: "int", default: 2 },
      { name: "Loud", type: "bool" },
      { name: "Tone", type: "string", default: "calm" },
    ]);
    // A list the server refuses: the client says why, and the list before stays,
    // marked out of date, as koitab -d shows it.
    clock.now = NOW + 1000;
    // A koid that forgot to seal a default: refused, the value not repeated.
    const [good] = await koidSealer(keys).jobs([listed[0]!]);
    const bad: Job = { ...good!, args: [{ name: "N", type: "int", default: "2" }] };
    const refused = await failure(api.putJobs("web1", [bad]));
    assertEquals([refused.kind, refused.status], ["status", 400]);
    const reason =
      `Invalid "jobs[0].args[0].default": must be sealed with the data key (an envelope k1.IV.SEALED), not plain text`;
    assertEquals(refused.message, `the server answered 400: ${reason}`);
    assertEquals((await api.info()).hosts[0]!.jobListRefused, { at: NOW + 1000, reason });
    assertEquals((await api.jobs()).length, 3);
  });
});

/** The runner's events for a run of "Say", as koid's runner makes them. */
function sayEvents(id: string, manualId: string | null, tag: string): RunEvent[] {
  const start: RunEvent = {
    type: "start",
    run: {
      id,
      tag,
      name: "Say",
      section: "Admin",
      trigger: manualId === null ? "schedule" : "manual",
      args: manualId === null ? {} : { Who: "o'brien", N: 5 },
      scheduledFor: manualId === null ? NOW : null,
      startedAt: NOW + 10,
    },
  };
  return [
    start,
    { type: "output", id, chunk: { stream: "stdout", text: "o'brien 5 " } },
    { type: "output", id, chunk: { stream: "stderr", text: "oops\n" } },
    {
      type: "end",
      id,
      end: {
        finishedAt: NOW + 20,
        exitCode: 3,
        signal: null,
        status: "failed",
        error: null,
        outputBytes: 15,
        chunks: [{ stream: "stdout", text: "o'brien 5 " }, { stream: "stderr", text: "oops\n" }],
      },
    },
  ];
}

/** The reports koid's link makes of events (its own mapping), as it would spool them. */
function reportsOf(events: readonly RunEvent[], manualId: string | null): Report[] {
  const reports: Report[] = [];
  const mapping = new RunReports(1024 * 1024);
  const sink = { dashboard: "d", append: (report: Report) => (reports.push(report), false) };
  for (const event of events) mapping.take(event, sink, manualId, 0);
  return reports;
}

Deno.test("contract: the reports koid sends are the run koitab -d follows, once each", async () => {
  await withServer(async ({ api, keys }) => {
    const tag = parseKoitab(KOITAB).jobs[0]!.tag;
    const events = sayEvents("r1", null, tag);
    const reports = await koidSealer(keys).reports(reportsOf(events, null));
    const run = async (runId: string, after: number | null) =>
      await opened(keys, runId, await api.run(runId, after));
    assertEquals(reports.map((r) => r.type), ["start", "output", "output", "end"]);
    // Streamed: the start and the output so far.
    assertEquals(await api.postReports("web1", reports.slice(0, 2)), 2);
    assertEquals(await run("r1", null), {
      run: { id: "r1", status: "running", exitCode: null, signal: null, error: null },
      output: [{ seq: 0, stream: "stdout", text: "o'brien 5 " }],
    });
    // A batch sent again is taken whole, and stores nothing twice.
    assertEquals(await api.postReports("web1", reports.slice(0, 3)), 3);
    assertEquals((await run("r1", null)).output, [
      { seq: 0, stream: "stdout", text: "o'brien 5 " },
      { seq: 1, stream: "stderr", text: "oops\n" },
    ]);
    assertEquals((await run("r1", 0)).output, [{ seq: 1, stream: "stderr", text: "oops\n" }]);
    // The end: its chunks replace the streamed ones, numbered from 0.
    assertEquals(await api.postReports("web1", reports.slice(3)), 1);
    assertEquals(await run("r1", null), {
      run: { id: "r1", status: "failed", exitCode: 3, signal: null, error: null },
      output: [
        { seq: 0, stream: "stdout", text: "o'brien 5 " },
        { seq: 1, stream: "stderr", text: "oops\n" },
      ],
    });
    const missing = await failure(api.run("nope", null));
    assertEquals([missing.status, missing.message], [
      404,
      'the server answered 404: No run "nope"',
    ]);
  });
});

Deno.test("contract: a manual run queued by koitab -d is handed to koid as signed, and followed to its answer", async () => {
  await withServer(async ({ api, keys }) => {
    const { jobs } = parseKoitab(KOITAB);
    await api.putJobs(
      "web1",
      await koidSealer(keys).jobs(dashboardJobs(jobs, "UTC", new Date(NOW))),
    );
    const say = jobs[0]!;
    const sign = async (args: Record<string, string | number | boolean>) => {
      const payload = await sealedPayload(keys.dataKey, {
        v: 2,
        dashboard: keys.id,
        host: "web1",
        tag: say.tag,
        ts: Date.now(),
        args,
      });
      return { payload, signature: await signRun(keys.runKey, payload) };
    };
    const request = await sign({ Who: "o'brien", N: 5 });
    const manualId = await api.postManual(request.payload, request.signature);
    assertEquals(await api.manual(manualId), {
      id: manualId,
      state: "queued",
      reason: null,
      runId: null,
    });
    // koid takes it, byte for byte as signed, and its check holds.
    const [polled, ...others] = await api.pollManual("web1", 0);
    assertEquals(others, []);
    assertEquals(polled, { manualId, ...request });
    const verdict = await checkManualRun(polled!, {
      runKey: keys.runKey,
      dataKey: keys.dataKey,
      dashboardId: keys.id,
      host: "web1",
      jobs,
      now: Date.now(),
      seen: () => false,
    });
    assert(verdict.ok, verdict.ok ? "" : verdict.reason);
    assertEquals((await api.manual(manualId)).state, "claimed");
    assertEquals(await api.pollManual("web1", 0), [], "handed out once");
    // koid's answer, and the run it started, as koitab -d follows them.
    const reports = reportsOf(sayEvents("r2", manualId, say.tag), manualId);
    const started: Report = {
      type: "manual",
      manualId,
      state: "started",
      reason: null,
      runId: "r2",
    };
    const sealer = koidSealer(keys);
    assertEquals(
      await api.postReports(
        "web1",
        await sealer.reports([reports[0]!, started, ...reports.slice(1)]),
      ),
      5,
    );
    assertEquals(await api.manual(manualId), {
      id: manualId,
      state: "started",
      reason: null,
      runId: "r2",
    });
    assertEquals((await api.run("r2", null)).run.status, "failed");

    // A long-poll waits for the next run and gets it the moment it is queued.
    const waiting = api.pollManual("web1", 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = await sign({ Who: "again" });
    const started2 = performance.now();
    const nextId = await api.postManual(next.payload, next.signature);
    assertEquals((await waiting).map((run) => run.manualId), [nextId]);
    assert(performance.now() - started2 < 5000, "woken, not timed out");
    await api.postReports(
      "web1",
      await sealer.reports([
        { type: "manual", manualId: nextId, state: "refused", reason: "no such job", runId: null },
      ]),
    );
    const refusal = await api.manual(nextId);
    assertEquals({ ...refusal, reason: null }, {
      id: nextId,
      state: "refused",
      reason: null,
      runId: null,
    });
    const at = contexts(keys.id, "web1");
    assertEquals(
      await openText(keys.dataKey, at.refusal(nextId), refusal.reason),
      "no such job",
    );
  });
});

Deno.test("contract: a manual run cancelled on the page reads as cancelled to koitab -d", async () => {
  await withServer(async ({ api, keys, url }) => {
    const payload = payloadText({
      v: 2,
      dashboard: keys.id,
      host: "web1",
      tag: "j0123456789abcdef",
      ts: NOW,
      args: {},
    });
    const manualId = await api.postManual(payload, await signRun(keys.runKey, payload));
    const cancel = await fetch(`${url}/api/d/${keys.id}/manual/${manualId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${keys.apiKey}` },
    });
    await cancel.body?.cancel();
    assertEquals(cancel.status, 200);
    assertEquals((await api.manual(manualId)).state, "cancelled");
    assertEquals(await api.pollManual("web1", 0), [], "a cancelled run is never handed out");
  });
});

Deno.test("contract: the channels and mutes the server lists are what koitab -d reads", async () => {
  await withServer(async ({ api, keys, url }) => {
    assertEquals([await api.channels(), await api.mutes()], [[], []]);
    const call = (method: string, path: string, body?: unknown) =>
      callApi(url, keys, method, path, body);
    assertEquals(
      await call("POST", "/channels", { kind: "ntfy", url: "https://ntfy.sh/koi" }),
      201,
    );
    assertEquals(
      await call("POST", "/channels", {
        kind: "webhook",
        url: "https://example.com/hook/a-long-secret",
      }),
      201,
    );
    assertEquals(await call("PUT", "/mutes/web1"), 204);
    assertEquals(await call("PUT", "/mutes/db1/j0123456789abcdef"), 204);
    // In the order of their random ids; a URL shown only as far as the API shows it.
    assertEquals((await api.channels()).sort((a, b) => a.kind.localeCompare(b.kind)), [
      { kind: "ntfy", target: "https://ntfy.sh/koi" },
      { kind: "webhook", target: "https://example.com/hook/a-long…" },
    ]);
    assertEquals(await api.mutes(), [
      { host: "db1", tag: "j0123456789abcdef", at: NOW },
      { host: "web1", tag: null, at: NOW },
    ]);
  });
});
