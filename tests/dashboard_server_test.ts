import { assert, assertEquals } from "./_assert.ts";
import { runEntry, spawnEntry } from "./_entry.ts";
import { base64url, newDashboardId } from "../lib/protocol/keys.ts";
import { CONNECTION_STEP_MS } from "../lib/server/jobs_feed.ts";
import {
  CONNECTED_WITHIN_MS,
  type DashboardServer,
  type ServerOptions,
  startServer,
} from "../lib/server/server.ts";
import { CONTENT_SECURITY_POLICY } from "../lib/page/page.ts";
import { KEY_KINDS } from "../lib/server/store.ts";
import { sealedStub as sealed, stubArgs } from "./_reports.ts";
import { MAX_JOB_LIST_BYTES } from "../lib/protocol/wire.ts";
import { VERSION } from "../lib/version.ts";

/** An answer, its body parsed when it is JSON. */
interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** A dashboard on the test server, and calls made with its key. */
interface TestDashboard {
  id: string;
  apiKey: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
}

interface Fixture {
  server: DashboardServer;
  kv: Deno.Kv;
  logs: string[];
  request(method: string, path: string, init?: RequestInit): Promise<Answer>;
  dashboard(): Promise<TestDashboard>;
}

function randomKey(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  const isJson = response.headers.get("content-type")?.startsWith("application/json") && text;
  return {
    status: response.status,
    headers: response.headers,
    body: isJson ? JSON.parse(text) : text,
  };
}

/** Runs `fn` against a server on a free loopback port over an in-memory store, then closes both. */
async function withServer(
  fn: (fixture: Fixture) => Promise<void>,
  options: Partial<ServerOptions> = {},
): Promise<void> {
  const kv = options.kv ?? await Deno.openKv(":memory:");
  const logs: string[] = [];
  const server = await startServer({
    kv,
    port: 0,
    pruneEveryMs: 0,
    log: (line) => logs.push(line),
    ...options,
  });
  const request = async (method: string, path: string, init: RequestInit = {}) =>
    answer(await fetch(`${server.url}${path}`, { method, ...init }));
  const fixture: Fixture = {
    server,
    kv,
    logs,
    request,
    async dashboard() {
      const id = newDashboardId();
      const apiKey = randomKey();
      const created = await request("POST", "/api/dashboards", {
        body: JSON.stringify({ id, apiKey }),
      });
      assertEquals(created.status, 201);
      return {
        id,
        apiKey,
        call: (method, path, body, headers) =>
          request(method, `/api/d/${id}${path}`, {
            headers: { authorization: `Bearer ${apiKey}`, ...headers },
            body: body === undefined ? null : JSON.stringify(body),
          }),
      };
    },
  };
  try {
    await fn(fixture);
  } finally {
    await server.shutdown();
    if (options.kv === undefined) kv.close();
  }
}

function job(tag: string, line: number, extra: Record<string, unknown> = {}) {
  return {
    tag,
    name: `job ${tag}`,
    section: null,
    schedule: "*/5 * * * *",
    timezone: null,
    args: [{ name: "Who", type: "string", default: sealed('"world"') }],
    next: ["2026-03-01T12:05:00.000Z"],
    command: sealed(`echo {{Who}} ${tag}`),
    line,
    ...extra,
  };
}

/** A job as `GET /jobs` lists it, but for its host, last run and view: without `next`. */
function listed(job: Record<string, unknown>): Record<string, unknown> {
  const { next: _next, ...row } = job;
  return row;
}

function start(id: string, tag: string, startedAt: number, extra: Record<string, unknown> = {}) {
  return {
    type: "start",
    run: {
      id,
      tag,
      name: `job ${tag}`,
      section: null,
      trigger: "schedule",
      scheduledFor: startedAt,
      startedAt,
      ...extra,
      args: stubArgs((extra.args ?? {}) as Record<string, unknown>),
    },
  };
}

function output(runId: string, seq: number, text: string, stream = "stdout") {
  return { type: "output", runId, seq, stream, text: sealed(text) };
}

function end(runId: string, finishedAt: number, chunks: { stream: string; text: string }[]) {
  return {
    type: "end",
    runId,
    end: {
      finishedAt,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      outputBytes: chunks.reduce((sum, c) => sum + new TextEncoder().encode(c.text).length, 0),
      chunks: chunks.map((chunk) => ({ ...chunk, text: sealed(chunk.text) })),
    },
  };
}

function payload(dashboard: string, host: string, tag = "j1", ts = Date.now()): string {
  return JSON.stringify({ v: 1, dashboard, host, tag, ts, args: {} });
}

const SIGNATURE = base64url(new Uint8Array(32).fill(7));

/** Every key of the store, as JSON text, for listing what is left. */
async function allKeys(kv: Deno.Kv): Promise<Deno.KvKey[]> {
  return (await Array.fromAsync(kv.list({ prefix: [] }))).map((entry) => entry.key);
}

Deno.test("POST /api/dashboards creates a dashboard once; a bad id or key is a 400 naming the field", async () => {
  await withServer(async ({ request }) => {
    const id = newDashboardId();
    const apiKey = randomKey();
    const body = JSON.stringify({ id, apiKey });
    const created = await request("POST", "/api/dashboards", { body });
    assertEquals([created.status, created.body], [201, { id }]);
    const again = await request("POST", "/api/dashboards", { body });
    assertEquals([again.status, again.body], [409, {
      error: `A dashboard with id "${id}" exists`,
    }]);
    const short = await request("POST", "/api/dashboards", {
      body: JSON.stringify({ id: "short", apiKey }),
    });
    assertEquals(short.status, 400);
    assert(
      short.body.error.startsWith('Invalid "id": must be 16 to 64 characters'),
      short.body.error,
    );
    const badKey = await request("POST", "/api/dashboards", {
      body: JSON.stringify({ id: newDashboardId(), apiKey: "x".repeat(42) }),
    });
    assertEquals(badKey.status, 400);
    assert(badKey.body.error.startsWith('Invalid "apiKey"'), badKey.body.error);
  });
});

Deno.test("GET /api/d/{id} shows the dashboard, its default settings and its hosts", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    assertEquals((await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] })).status, 204);
    const info = await d.call("GET", "");
    assertEquals(info.status, 200);
    assertEquals(info.body.id, d.id);
    assert(Math.abs(info.body.createdAt - Date.now()) < 10_000, String(info.body.createdAt));
    assertEquals(info.body.settings, {
      retentionRuns: 100,
      retentionDays: 30,
      outputLimit: 1048576,
      missedGraceSeconds: 60,
      hostSilentSeconds: 300,
    });
    assertEquals(info.body.hosts.length, 1);
    assertEquals(info.body.hosts[0].host, "web");
    assertEquals(info.body.hosts[0].jobCount, 1);
    assert(typeof info.body.hosts[0].lastSeenAt === "number");
  });
});

Deno.test("every /api/d/{id} call answers 401 alike for a wrong key, an unknown id and no key", async () => {
  await withServer(async ({ request, dashboard }) => {
    const d = await dashboard();
    const cases: [string, HeadersInit][] = [
      [`/api/d/${d.id}`, { authorization: `Bearer ${randomKey()}` }],
      [`/api/d/${newDashboardId()}`, { authorization: `Bearer ${d.apiKey}` }],
      [`/api/d/${d.id}`, {}],
      [`/api/d/${d.id}`, { authorization: d.apiKey }],
      [`/api/d/${d.id}`, { authorization: `Basic ${d.apiKey}` }],
      [`/api/d/${d.id}`, { authorization: "Bearer " }],
      ["/api/d/not-an-id", { authorization: `Bearer ${d.apiKey}` }],
    ];
    for (const [path, headers] of cases) {
      for (
        const suffix of [
          "",
          "/jobs",
          "/runs",
          "/runs/r1",
          "/manual?host=web&tag=j1",
          "/manual/m1",
          "/hosts/web/manual",
        ]
      ) {
        const got = await request("GET", path + suffix, { headers });
        assertEquals(
          [got.status, got.body],
          [401, { error: "Unknown dashboard or wrong API key" }],
          `${path}${suffix} ${JSON.stringify(headers)}`,
        );
        assertEquals(got.headers.get("www-authenticate"), 'Bearer realm="koi"');
      }
    }
    const deleted = await request("DELETE", `/api/d/${d.id}`, {
      headers: { authorization: `Bearer ${randomKey()}` },
    });
    assertEquals(deleted.status, 401);
    const cancel = await request("DELETE", `/api/d/${d.id}/manual/m1`, {
      headers: { authorization: `Bearer ${randomKey()}` },
    });
    assertEquals(cancel.status, 401);
    assertEquals((await d.call("GET", "")).status, 200);
  });
});

Deno.test("one dashboard's key cannot reach another's jobs, runs or manual runs", async () => {
  await withServer(async ({ request, dashboard }) => {
    const a = await dashboard();
    const b = await dashboard();
    await a.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] });
    await a.call("POST", "/hosts/web/reports", {
      reports: [start("r1", "j1", 1000), output("r1", 0, "secret\n")],
    });
    const manual = await a.call("POST", "/manual", {
      payload: payload(a.id, "web"),
      signature: SIGNATURE,
    });
    assertEquals(manual.status, 202);
    const bAuth = { authorization: `Bearer ${b.apiKey}` };
    for (
      const path of [
        "",
        "/jobs",
        "/runs",
        "/runs/r1",
        `/manual/${manual.body.manualId}`,
        "/hosts/web/manual",
      ]
    ) {
      const got = await request("GET", `/api/d/${a.id}${path}`, { headers: bAuth });
      assertEquals(got.status, 401, path);
    }
    // With its own key, b sees none of a's data.
    assertEquals((await b.call("GET", "/jobs")).body, { jobs: [] });
    assertEquals((await b.call("GET", "/runs")).body, { runs: [] });
    assertEquals((await b.call("GET", "/runs/r1")).status, 404);
    assertEquals((await b.call("GET", `/manual/${manual.body.manualId}`)).status, 404);
    assertEquals((await b.call("GET", "/hosts/web/manual")).body, { runs: [] });
    // b cannot write into a's runs or answer a's manual runs either.
    const late = await b.call("POST", "/hosts/web/reports", {
      reports: [
        output("r1", 1, "injected"),
        { type: "manual", manualId: manual.body.manualId, state: "refused", reason: sealed("x") },
      ],
    });
    assertEquals(late.body, { accepted: 0 });
    const run = await a.call("GET", "/runs/r1");
    assertEquals(run.body.output, [{ seq: 0, stream: "stdout", text: sealed("secret\n") }]);
    assertEquals(
      (await a.call("GET", `/manual/${manual.body.manualId}`)).body.manual.state,
      "queued",
    );
    // A payload naming dashboard a, sent to b, is refused.
    const crossed = await b.call("POST", "/manual", {
      payload: payload(a.id, "web"),
      signature: SIGNATURE,
    });
    assertEquals(crossed.status, 400);
    assert(crossed.body.error.startsWith('Invalid "payload.dashboard"'), crossed.body.error);
  });
});

Deno.test("PUT jobs replaces a host's list; GET jobs lists every host's jobs with their newest run", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const put = await d.call("PUT", "/hosts/web/jobs", {
      jobs: [job("j2", 7), job("j1", 3), job("j3", 9)],
    });
    assertEquals([put.status, put.body], [204, ""]);
    await d.call("PUT", "/hosts/db/jobs", { jobs: [job("j1", 1, { timezone: "Europe/Paris" })] });
    await d.call("POST", "/hosts/web/reports", {
      reports: [
        start("r1", "j1", 1000),
        end("r1", 1500, []),
        start("r2", "j1", 2000),
        start("r0", "j1", 500),
      ],
    });
    let jobs = (await d.call("GET", "/jobs")).body.jobs;
    assertEquals(
      jobs.map((j: { host: string; tag: string; line: number }) => `${j.host}/${j.tag}@${j.line}`),
      ["db/j1@1", "web/j1@3", "web/j2@7", "web/j3@9"],
    );
    // Never run, and its first run (2026-03-01, from koid's job list) is long past: late.
    // Its next run comes from the schedule and the clock, not from the stale list.
    const next = Date.parse(jobs[0].nextRun);
    assert(next % 300_000 === 0 && next > Date.now() - 5000 && next <= Date.now() + 300_000);
    assertEquals(jobs[0], {
      ...listed(job("j1", 1, { timezone: "Europe/Paris" })),
      host: "db",
      lastRun: null,
      description: "every 5 minutes",
      due: "2026-03-01T12:05:00.000Z",
      nextRun: jobs[0].nextRun,
      state: "late",
      // Late already: only its next run passing changes its view by time alone.
      refreshAt: jobs[0].nextRun,
    });
    assertEquals(jobs[1].lastRun.id, "r2");
    assertEquals(jobs[1].lastRun.status, "running");
    assertEquals([jobs[1].state, jobs[1].due], ["running", "1970-01-01T00:05:00.000Z"]);
    assertEquals(jobs[2].lastRun, null);

    // Replaced: j3 dropped, j2 changed, j4 added; unknown fields are not kept.
    await d.call("PUT", "/hosts/web/jobs", {
      jobs: [job("j1", 3), job("j2", 8, { command: sealed("true"), extra: 1 }), job("j4", 12)],
    });
    jobs = (await d.call("GET", "/jobs")).body.jobs;
    assertEquals(
      jobs.map((j: { host: string; tag: string }) => `${j.host}/${j.tag}`),
      ["db/j1", "web/j1", "web/j2", "web/j4"],
    );
    assertEquals(jobs[2], {
      ...listed(job("j2", 8, { command: sealed("true") })),
      host: "web",
      lastRun: null,
      description: "every 5 minutes",
      due: "2026-03-01T12:05:00.000Z",
      nextRun: jobs[0].nextRun,
      state: "late",
      // Late already: only its next run passing changes its view by time alone.
      refreshAt: jobs[0].nextRun,
    });
    const hosts = (await d.call("GET", "")).body.hosts;
    assertEquals(hosts.map((h: { host: string; jobCount: number }) => [h.host, h.jobCount]), [
      ["db", 1],
      ["web", 3],
    ]);

    const repeated = await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1), job("j1", 2)] });
    assertEquals(repeated.status, 400);
    assert(repeated.body.error.startsWith('Invalid "jobs[1].tag": repeats'), repeated.body.error);
    const badHost = await d.call("PUT", "/hosts/bad%20host/jobs", { jobs: [] });
    assertEquals(badHost.status, 400);
    assert(badHost.body.error.startsWith('Invalid "host"'), badHost.body.error);
  });
});

Deno.test("GET jobs lists a row without koid's next times, its last run without the job's host and tag: the exact JSON", async () => {
  const time = Date.parse("2026-03-01T12:01:00Z");
  const ran = Date.parse("2026-03-01T12:00:00Z");
  await withServer(async ({ dashboard, server }) => {
    const d = await dashboard();
    await d.call("PUT", "/hosts/web/jobs", {
      jobs: [job("j1", 3, { name: "Backup", section: "Nightly" })],
    });
    // The run keeps the name and section it started with, though the job has others now.
    const failed = end("r1", ran + 1500, []);
    await d.call("POST", "/hosts/web/reports", {
      reports: [
        start("r1", "j1", ran, { name: "Old backup", section: "Weekly", args: { Who: "moon" } }),
        { ...failed, end: { ...failed.end, exitCode: 2, status: "failed", error: sealed("full") } },
      ],
    });
    const row = JSON.stringify({
      tag: "j1",
      name: "Backup",
      section: "Nightly",
      schedule: "*/5 * * * *",
      timezone: null,
      args: [{ name: "Who", type: "string", default: sealed('"world"') }],
      command: sealed("echo {{Who}} j1"),
      line: 3,
      host: "web",
      lastRun: {
        id: "r1",
        name: "Old backup",
        section: "Weekly",
        trigger: "schedule",
        args: stubArgs({ Who: "moon" }),
        scheduledFor: ran,
        startedAt: ran,
        finishedAt: ran + 1500,
        exitCode: 2,
        signal: null,
        status: "failed",
        error: sealed("full"),
        outputBytes: 0,
        manualId: null,
      },
      description: "every 5 minutes",
      due: "2026-03-01T12:05:00.000Z",
      nextRun: "2026-03-01T12:05:00.000Z",
      state: "failed",
      refreshAt: "2026-03-01T12:05:00.000Z",
    });
    const text = async (path: string) => {
      const response = await fetch(`${server.url}/api/d/${d.id}${path}`, {
        headers: { authorization: `Bearer ${d.apiKey}` },
      });
      assertEquals(response.status, 200, path);
      return await response.text();
    };
    // Every job, from the store and again from the instance's listing; and the page's call.
    assertEquals(await text("/jobs"), `{"jobs":[${row}]}`);
    assertEquals(await text("/jobs"), `{"jobs":[${row}]}`);
    const first = JSON.parse(await text("/jobs?since=0"));
    assertEquals(JSON.stringify(first.jobs), `[${row}]`);
    // A change since a cursor lists the job alike.
    await d.call("POST", "/hosts/web/reports", { reports: [output("r1", 0, "late")] });
    await d.call("PUT", "/hosts/web/jobs", {
      jobs: [job("j1", 3, { name: "Backup", section: "Nightly" })],
    });
    const changed = JSON.parse(await text(`/jobs?since=${first.cursor}`));
    assertEquals([changed.replaced, JSON.stringify(changed.jobs)], [["web"], `[${row}]`]);
    // The runs' own calls keep the whole run, its host and tag.
    const { runs } = (await d.call("GET", "/runs?host=web&tag=j1")).body;
    assertEquals([runs[0].host, runs[0].tag], ["web", "j1"]);
    const { run } = (await d.call("GET", "/runs/r1")).body;
    assertEquals([run.host, run.tag], ["web", "j1"]);
  }, { now: () => time });
});

Deno.test("a refused job list is recorded for its host until a list is taken: GET /api/d/{id} says why", async () => {
  let time = Date.parse("2026-03-01T12:00:00Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    assertEquals((await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] })).status, 204);
    const hosts = async () => (await d.call("GET", "")).body.hosts;
    assertEquals((await hosts())[0].jobListRefused, null);
    time += 60_000;
    const bad = await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j2", 1, { line: 0 })] });
    const error =
      'Invalid "jobs[0].line": must be a whole number from 1 to 9007199254740991 (got 0)';
    assertEquals([bad.status, bad.body], [400, { error }]);
    const tooLarge = await d.call("PUT", "/hosts/db/jobs", "x".repeat(MAX_JOB_LIST_BYTES + 1));
    assertEquals(tooLarge.status, 413);
    assertEquals(await hosts(), [
      {
        host: "db",
        lastSeenAt: null,
        jobCount: 0,
        jobListRefused: { at: time, reason: `The body is larger than ${MAX_JOB_LIST_BYTES} bytes` },
        connected: false,
        silent: false,
      },
      {
        host: "web",
        lastSeenAt: time - 60_000,
        jobCount: 1,
        jobListRefused: { at: time, reason: error },
        connected: false,
        silent: false,
      },
    ]);
    // The list it had is still the one shown.
    assertEquals((await d.call("GET", "/jobs")).body.jobs.map((j: { tag: string }) => j.tag), [
      "j1",
    ]);
    assertEquals((await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j2", 1)] })).status, 204);
    assertEquals((await hosts())[1].jobListRefused, null);
  }, { now: () => time });
});

Deno.test("GET jobs: an ETag; If-None-Match gets a bodiless 304 until a run, a list or the clock changes the view", async () => {
  let time = Date.parse("2026-03-01T12:00:30Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1), job("j2", 2)] });
    const get = (etag?: string) =>
      d.call("GET", "/jobs", undefined, etag === undefined ? {} : { "if-none-match": etag });
    const first = await get();
    const etag = first.headers.get("etag")!;
    // The view's stamp, the first instant a job's view changes by time (12:05, the next
    // run), and the grace the states were worked out with (missedGraceSeconds).
    assert(/^"[0-9a-f]{20}\.\d+\.60"$/.test(etag), etag);
    assertEquals(etag.slice(22, -4), String(Date.parse("2026-03-01T12:05:00Z")));
    const unchanged = await get(etag);
    assertEquals([unchanged.status, unchanged.body, unchanged.headers.get("etag")], [
      304,
      "",
      etag,
    ]);
    assertEquals(unchanged.headers.get("cache-control"), "no-store");
    // Weak, and in a list with others: the same.
    assertEquals((await get(`"nope", W/${etag}`)).status, 304);

    // A run starts: the view changes.
    await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j1", time)] });
    const started = await get(etag);
    assertEquals(started.status, 200);
    assertEquals(started.body.jobs[0].lastRun.status, "running");
    const running = started.headers.get("etag")!;
    assert(running !== etag);
    // Output of a running run is not in the view: still 304.
    await d.call("POST", "/hosts/web/reports", { reports: [output("r1", 0, "working")] });
    assertEquals((await get(running)).status, 304);
    // A poll is not in it either.
    await d.call("GET", "/hosts/web/manual?wait=0");
    assertEquals((await get(running)).status, 304);

    // Up to the next run, the same; at it, the view moves on.
    time = Date.parse("2026-03-01T12:05:00Z") - 1;
    assertEquals((await get(running)).status, 304);
    time += 1;
    const moved = await get(running);
    assertEquals(moved.status, 200);
    assertEquals(moved.body.jobs[1].nextRun, "2026-03-01T12:10:00.000Z");
    assert(moved.headers.get("etag") !== running);

    // Another host's list changes the dashboard's view.
    const now = moved.headers.get("etag")!;
    await d.call("PUT", "/hosts/db/jobs", { jobs: [job("j1", 1)] });
    const listed = await get(now);
    assertEquals(listed.status, 200);
    assertEquals(listed.body.jobs.map((j: { host: string }) => j.host), ["db", "web", "web"]);
  }, { now: () => time });
});

Deno.test("GET jobs: an ETag from one server instance holds at another on the same store, until either writes", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await withServer(async ({ dashboard }) => {
      const d = await dashboard();
      await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1, { schedule: "@manual" })] });
      const etag = (await d.call("GET", "/jobs")).headers.get("etag")!;
      // A manual job never changes by time alone.
      assert(etag.endsWith('.never.60"'), etag);
      await withServer(async ({ request }) => {
        const get = () =>
          request("GET", `/api/d/${d.id}/jobs`, {
            headers: { authorization: `Bearer ${d.apiKey}`, "if-none-match": etag },
          });
        assertEquals((await get()).status, 304);
        await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j1", 1000)] });
        const changed = await get();
        assertEquals([changed.status, changed.body.jobs[0].lastRun.id], [200, "r1"]);
      }, { kv });
    }, { kv });
  } finally {
    kv.close();
  }
});

Deno.test("GET jobs: an instance's listing of every job never outlives a change through another instance", async () => {
  let time = Date.parse("2026-03-01T12:00:30Z");
  const kv = await Deno.openKv(":memory:");
  try {
    await withServer(async ({ dashboard }) => {
      const d = await dashboard();
      await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] });
      await withServer(async ({ request }) => {
        const a = (path: string) =>
          request("GET", `/api/d/${d.id}${path}`, {
            headers: { authorization: `Bearer ${d.apiKey}` },
          });
        const summary = (body: { jobs: { tag: string; state: string; nextRun: string }[] }) =>
          body.jobs.map((row) => `${row.tag} ${row.state} ${row.nextRun}`);
        const first = await a("/jobs?since=0");
        assertEquals(summary(first.body), ["j1 never 2026-03-01T12:05:00.000Z"]);
        // Nothing changed: the same bytes, for a page's first call and for the whole list.
        const again = await a("/jobs?since=0");
        assertEquals(JSON.stringify(again.body), JSON.stringify(first.body));
        assertEquals(summary((await a("/jobs")).body), summary(first.body));

        // Through the other instance: a new list, a run, a new grace; each seen at once.
        await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1), job("j2", 2)] });
        assertEquals(summary((await a("/jobs?since=0")).body), [
          "j1 never 2026-03-01T12:05:00.000Z",
          "j2 never 2026-03-01T12:05:00.000Z",
        ]);
        await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j2", time)] });
        const running = [
          "j1 never 2026-03-01T12:05:00.000Z",
          "j2 running 2026-03-01T12:05:00.000Z",
        ];
        assertEquals(summary((await a("/jobs")).body), running);
        assertEquals(summary((await a("/jobs?since=0")).body), running);
        await d.call("PATCH", "/settings", { missedGraceSeconds: 600 });
        const graced = await a("/jobs?since=0");
        assert(graced.body.cursor.endsWith(".600"), graced.body.cursor);

        // Up to the first instant a view changes by time, the same; at it, the views move on.
        time = Date.parse("2026-03-01T12:05:00Z") - 1;
        assertEquals(summary((await a("/jobs?since=0")).body)[0], running[0]);
        time += 1;
        assertEquals(summary((await a("/jobs?since=0")).body), [
          "j1 never 2026-03-01T12:10:00.000Z",
          "j2 running 2026-03-01T12:10:00.000Z",
        ]);
      }, { kv, now: () => time });
    }, { kv, now: () => time });
  } finally {
    kv.close();
  }
});

Deno.test("GET jobs?since: only what changed, the hosts when they change, a 304 when nothing did", async () => {
  let time = Date.parse("2026-03-01T12:00:30Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1), job("j2", 2)] });
    await d.call("PUT", "/hosts/db/jobs", { jobs: [job("j1", 1)] });
    const since = (cursor: string, extra = "", etag = false) =>
      d.call(
        "GET",
        `/jobs?since=${cursor}${extra}`,
        undefined,
        etag ? { "if-none-match": `"${cursor}"` } : {},
      );
    const keys = (jobs: { host: string; tag: string }[]) => jobs.map((j) => `${j.host}/${j.tag}`);

    const all = await since("0");
    assertEquals(all.status, 200);
    assertEquals([all.body.full, keys(all.body.jobs), all.body.replaced], [
      true,
      ["db/j1", "web/j1", "web/j2"],
      [],
    ]);
    assertEquals(all.body.hosts.map((h: { host: string; connected: boolean }) => h.connected), [
      true,
      true,
    ]);
    assertEquals(all.body.jobs[0].refreshAt, "2026-03-01T12:05:00.000Z");
    const c0: string = all.body.cursor;
    assertEquals(all.headers.get("etag"), `"${c0}"`);

    // Nothing changed: a 304 without a body, or, unasked, an empty change.
    const same = await since(c0, "", true);
    assertEquals([same.status, same.body, same.headers.get("etag")], [304, "", `"${c0}"`]);
    assertEquals((await since(c0)).body, {
      cursor: c0,
      full: false,
      jobs: [],
      replaced: [],
      hosts: null,
    });
    // A connected host's calls change nothing the page shows.
    time += 10_000;
    await d.call("GET", "/hosts/web/manual?wait=0");
    assertEquals((await since(c0, "", true)).status, 304);

    // A run: that job alone.
    await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j2", time)] });
    const ran = await since(c0, "", true);
    assertEquals([ran.status, keys(ran.body.jobs), ran.body.replaced, ran.body.hosts], [
      200,
      ["web/j2"],
      [],
      null,
    ]);
    assertEquals(ran.body.jobs[0].lastRun.id, "r1");
    const c1: string = ran.body.cursor;
    assert(c1 !== c0);

    // A new list: the host's jobs whole, and the hosts (its job count changed).
    await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j2", 2)] });
    const listed = await since(c1);
    assertEquals([keys(listed.body.jobs), listed.body.replaced], [["web/j2"], ["web"]]);
    assertEquals(
      listed.body.hosts.map((h: { host: string; jobCount: number }) => [h.host, h.jobCount]),
      [["db", 1], ["web", 1]],
    );
    const c2: string = listed.body.cursor;

    // db (last heard at 12:00:30) goes quiet: the hosts again, no job. Connections are
    // worked out as of each 10 s step's start: not yet at 12:01:09.999 (as of 12:01:00).
    time = Date.parse("2026-03-01T12:01:09.999Z");
    assertEquals((await since(c2, "", true)).status, 304);
    time += 1;
    const quiet = await since(c2, "", true);
    assertEquals([quiet.status, quiet.body.jobs, quiet.body.replaced], [200, [], []]);
    assertEquals(
      quiet.body.hosts.map((h: { host: string; connected: boolean }) => [h.host, h.connected]),
      [["db", false], ["web", true]],
    );
    const c3: string = quiet.body.cursor;
    assertEquals((await since(c3, "", true)).status, 304);

    // The page names hosts whose jobs' views ran out: their jobs come whole.
    const stale = await since(c3, "&stale=db");
    assertEquals([keys(stale.body.jobs), stale.body.replaced, stale.body.hosts], [
      ["db/j1"],
      ["db"],
      null,
    ]);
    assertEquals(stale.body.cursor, c3);

    // db calls again: connected as of the next step (and web, quiet since 12:00:40, not).
    await d.call("GET", "/hosts/db/manual?wait=0");
    assertEquals((await since(c3, "", true)).status, 304);
    time += CONNECTION_STEP_MS;
    const back = await since(c3, "", true);
    assertEquals(
      back.body.hosts.map((h: { host: string; connected: boolean }) => [h.host, h.connected]),
      [["db", true], ["web", false]],
    );

    // A cursor the store never gave (a replaced store): everything.
    const future = await since(`ffffffffffffffffffff.${c3.split(".").slice(1).join(".")}`);
    assertEquals([future.body.full, keys(future.body.jobs)], [true, ["db/j1", "web/j2"]]);

    for (const bad of ["1", "abc.def", `${c3}x`]) {
      const refused = await since(bad);
      assertEquals(refused.status, 400, bad);
      assert(refused.body.error.startsWith('Invalid "since"'), refused.body.error);
    }
    const badHost = await since(c3, "&stale=db,bad%20host");
    assertEquals(badHost.status, 400);
    assert(badHost.body.error.startsWith('Invalid "host"'), badHost.body.error);
  }, { now: () => time });
});

Deno.test("GET jobs?since and its ETag: a new missedGraceSeconds brings every job again, with its state", async () => {
  // j1 owes its 12:05 run (it never ran); at 12:06:30 it is late after a minute's grace.
  const time = Date.parse("2026-03-01T12:06:30Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1), job("j2", 2)] });
    await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j2", time)] });
    const since = (cursor: string) =>
      d.call("GET", `/jobs?since=${cursor}`, undefined, { "if-none-match": `"${cursor}"` });
    const states = (jobs: { tag: string; state: string; refreshAt: string | null }[]) =>
      jobs.map((j) => [j.tag, j.state, j.refreshAt]);
    const all = await since("0");
    assertEquals(states(all.body.jobs), [
      ["j1", "late", "2026-03-01T12:10:00.000Z"],
      ["j2", "running", "2026-03-01T12:10:00.000Z"],
    ]);
    const c0: string = all.body.cursor;
    assert(c0.endsWith(".60"), c0);
    const listing = await d.call("GET", "/jobs");
    const etag = listing.headers.get("etag")!;
    assertEquals((await since(c0)).status, 304);

    // A setting that changes no row (retention) changes nothing the page has; nor does a
    // mute, which silences alerts only (the alerts view lists mutes; job rows do not).
    await d.call("PATCH", "/settings", { retentionRuns: 50 });
    assertEquals((await d.call("PUT", "/mutes/web")).status, 204);
    assertEquals((await since(c0)).status, 304);
    assertEquals((await d.call("GET", "/jobs", undefined, { "if-none-match": etag })).status, 304);

    // Ten minutes' grace: j1 is not late (until 12:15; its next run, 12:10, comes first).
    await d.call("PATCH", "/settings", { missedGraceSeconds: 600 });
    const regraced = await since(c0);
    assertEquals([regraced.status, regraced.body.full, regraced.body.replaced], [200, true, []]);
    assertEquals(states(regraced.body.jobs), [
      ["j1", "never", "2026-03-01T12:10:00.000Z"],
      ["j2", "running", "2026-03-01T12:10:00.000Z"],
    ]);
    assertEquals(regraced.body.hosts.map((h: { host: string }) => h.host), ["web"]);
    const c1: string = regraced.body.cursor;
    assert(c1.endsWith(".600") && c1 !== c0, c1);
    assertEquals((await since(c1)).status, 304);
    const relisted = await d.call("GET", "/jobs", undefined, { "if-none-match": etag });
    assertEquals([relisted.status, relisted.body.jobs[0].state], [200, "never"]);
    assert(relisted.headers.get("etag")!.endsWith('.600"'), relisted.headers.get("etag")!);

    // Back to a minute: late again, at once.
    await d.call("PATCH", "/settings", { missedGraceSeconds: 60 });
    const back = await since(c1);
    assertEquals([back.body.full, back.body.jobs[0].state], [true, "late"]);
  }, { now: () => time });
});

Deno.test("GET jobs?since: a host going silent and coming back, or a new hostSilentSeconds, brings the hosts again", async () => {
  let time = Date.parse("2026-03-01T12:00:30Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1, { schedule: "@manual" })] });
    const since = (cursor: string) =>
      d.call("GET", `/jobs?since=${cursor}`, undefined, { "if-none-match": `"${cursor}"` });
    type Host = { host: string; connected: boolean; silent: boolean };
    const hosts = (answer: { hosts: Host[] | null }) =>
      answer.hosts?.map((h) => [h.host, h.connected, h.silent]) ?? null;
    const all = await since("0");
    assertEquals(hosts(all.body), [["web", true, false]]);

    // Quiet from 12:01:10 (the step after 35 s); silent once 300 s old, 12:05:30.
    time = Date.parse("2026-03-01T12:01:10Z");
    const quiet = await since(all.body.cursor);
    assertEquals(hosts(quiet.body), [["web", false, false]]);
    time = Date.parse("2026-03-01T12:05:29.999Z");
    assertEquals((await since(quiet.body.cursor)).status, 304);
    time += 1;
    const silent = await since(quiet.body.cursor);
    assertEquals([silent.status, silent.body.jobs, silent.body.replaced], [200, [], []]);
    assertEquals(hosts(silent.body), [["web", false, true]]);
    assertEquals((await since(silent.body.cursor)).status, 304);
    // GET /api/d/{id} says the same.
    assertEquals(
      (await d.call("GET", "")).body.hosts.map((h: Host) => [h.host, h.connected, h.silent]),
      [["web", false, true]],
    );

    // Ten minutes before silent: web is not, within the same 10 s step.
    await d.call("PATCH", "/settings", { hostSilentSeconds: 600 });
    const longer = await since(silent.body.cursor);
    assertEquals([longer.status, hosts(longer.body)], [200, [["web", false, false]]]);
    assertEquals((await since(longer.body.cursor)).status, 304);
    await d.call("PATCH", "/settings", { hostSilentSeconds: 300 });
    const again = await since(longer.body.cursor);
    assertEquals(hosts(again.body), [["web", false, true]]);

    // It calls again: back, as of the next step.
    await d.call("GET", "/hosts/web/manual?wait=0");
    assertEquals((await since(again.body.cursor)).status, 304);
    time += CONNECTION_STEP_MS;
    const back = await since(again.body.cursor);
    assertEquals([back.body.jobs, hosts(back.body)], [[], [["web", true, false]]]);
  }, { now: () => time });
});

Deno.test("reports: start, output and end are stored exactly; a retried batch duplicates nothing", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const batch = {
      reports: [
        start("r1", "j1", 1000, { args: { Who: "Zoë", N: 3, Loud: true }, manualId: "m1" }),
        output("r1", 0, "héllo\n"),
        output("r1", 1, "warn: 😃\n", "stderr"),
        output("r1", 2, ""),
      ],
    };
    assertEquals((await d.call("POST", "/hosts/web/reports", batch)).body, { accepted: 4 });
    assertEquals((await d.call("POST", "/hosts/web/reports", batch)).body, { accepted: 4 });
    const running = (await d.call("GET", "/runs/r1")).body;
    assertEquals(running.run, {
      id: "r1",
      host: "web",
      tag: "j1",
      name: "job j1",
      section: null,
      trigger: "schedule",
      args: stubArgs({ Who: "Zoë", N: 3, Loud: true }),
      scheduledFor: 1000,
      startedAt: 1000,
      finishedAt: null,
      exitCode: null,
      signal: null,
      status: "running",
      error: null,
      outputBytes: 0,
      manualId: "m1",
    });
    assertEquals(running.output, [
      { seq: 0, stream: "stdout", text: sealed("héllo\n") },
      { seq: 1, stream: "stderr", text: sealed("warn: 😃\n") },
      { seq: 2, stream: "stdout", text: sealed("") },
    ]);
    assertEquals((await d.call("GET", "/runs/r1?after=0")).body.output, running.output.slice(1));
    assertEquals((await d.call("GET", "/runs/r1?after=2")).body.output, []);

    const final = [
      { stream: "stdout", text: "héllo\n" },
      { stream: "koi", text: "\n[koi: 10 bytes elided]\n" },
      { stream: "stderr", text: "end\n" },
    ];
    const ending = { reports: [end("r1", 4000, final), output("r1", 3, "late\n")] };
    assertEquals((await d.call("POST", "/hosts/web/reports", ending)).body, { accepted: 2 });
    assertEquals((await d.call("POST", "/hosts/web/reports", ending)).body, { accepted: 2 });
    const ended = (await d.call("GET", "/runs/r1")).body;
    assertEquals(ended.run.status, "succeeded");
    assertEquals(ended.run.finishedAt, 4000);
    assertEquals(ended.run.exitCode, 0);
    assertEquals(ended.run.outputBytes, 35);
    assertEquals(
      ended.output,
      final.map((chunk, seq) => ({ seq, stream: chunk.stream, text: sealed(chunk.text) })),
    );

    // Reports for a run never started are skipped, not counted.
    const orphan = await d.call("POST", "/hosts/web/reports", {
      reports: [output("nope", 0, "x"), end("nope", 1, [])],
    });
    assertEquals(orphan.body, { accepted: 0 });
    // A second start with the same id changes nothing.
    await d.call("POST", "/hosts/web/reports", { reports: [start("r1", "j9", 9000)] });
    assertEquals((await d.call("GET", "/runs/r1")).body.run.tag, "j1");
  });
});

Deno.test("reports: an argument named __proto__ is kept as an argument", async () => {
  await withServer(async ({ request, dashboard }) => {
    const d = await dashboard();
    const body = JSON.stringify({ reports: [start("r1", "j1", 1000)] })
      .replace('"args":{}', `"args":{"__proto__":"${sealed('"x"')}","A":"${sealed("1")}"}`);
    const posted = await request("POST", `/api/d/${d.id}/hosts/web/reports`, {
      headers: { authorization: `Bearer ${d.apiKey}` },
      body,
    });
    assertEquals(posted.body, { accepted: 1 });
    const run = (await d.call("GET", "/runs/r1")).body.run;
    assertEquals(Object.keys(run.args), ["__proto__", "A"]);
    assertEquals(Object.getPrototypeOf(run.args), Object.prototype);
  });
});

Deno.test("reports: streamed output stops at the dashboard's outputLimit; the end's chunks are kept whole, head and tail", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const patched = await d.call("PATCH", "/settings", { outputLimit: 1024 });
    assertEquals(patched.body, {
      settings: {
        retentionRuns: 100,
        retentionDays: 30,
        outputLimit: 1024,
        missedGraceSeconds: 60,
        hostSilentSeconds: 300,
      },
    });
    // Sealed chunks are kept whole or not at all: their plain bytes count, not the envelope's.
    await d.call("POST", "/hosts/web/reports", {
      reports: [
        start("r1", "j1", 1000),
        output("r1", 0, "a".repeat(600)),
        output("r1", 1, "é".repeat(300)), // 600 bytes: over the 424 left, so live output stops
        output("r1", 2, "c".repeat(10)),
      ],
    });
    const streamed = (await d.call("GET", "/runs/r1")).body.output;
    assertEquals(streamed, [{ seq: 0, stream: "stdout", text: sealed("a".repeat(600)) }]);
    // The final chunks: the first while they fit half the limit, the last while all fit.
    const chunks = ["H", "I", "J", "K"].map((letter, i) => ({
      stream: i < 2 ? "stdout" : "stderr",
      text: letter.repeat(300),
    }));
    await d.call("POST", "/hosts/web/reports", { reports: [end("r1", 2000, chunks)] });
    const final = (await d.call("GET", "/runs/r1")).body.output;
    assertEquals(final, [
      { seq: 0, stream: "stdout", text: sealed("H".repeat(300)) },
      { seq: 2, stream: "stderr", text: sealed("J".repeat(300)) },
      { seq: 3, stream: "stderr", text: sealed("K".repeat(300)) },
    ]);
  });
});

Deno.test("GET runs lists newest first, filters by host and tag, and pages with before", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("POST", "/hosts/web/reports", {
      reports: [start("w1", "j1", 1000), start("w2", "j2", 3000), start("w3", "j1", 5000)],
    });
    await d.call("POST", "/hosts/db/reports", {
      reports: [start("d1", "j1", 2000), start("d2", "j2", 4000)],
    });
    const ids = async (query: string) =>
      (await d.call("GET", `/runs${query}`)).body.runs.map((run: { id: string }) => run.id);
    assertEquals(await ids(""), ["w3", "d2", "w2", "d1", "w1"]);
    assertEquals(await ids("?host=web"), ["w3", "w2", "w1"]);
    assertEquals(await ids("?tag=j1"), ["w3", "d1", "w1"]);
    assertEquals(await ids("?host=db&tag=j2"), ["d2"]);
    assertEquals(await ids("?limit=2"), ["w3", "d2"]);
    assertEquals(await ids("?limit=2&before=4000"), ["w2", "d1"]);
    assertEquals(await ids("?limit=2&before=2000"), ["w1"]);
    assertEquals(await ids("?host=web&before=5000"), ["w2", "w1"]);
    assertEquals(await ids("?host=nobody"), []);
    for (
      const [query, field] of [
        ["?limit=0", "limit"],
        ["?limit=501", "limit"],
        ["?before=x", "before"],
        ["?host=a b", "host"],
        ["?tag=", "tag"],
      ]
    ) {
      const got = await d.call("GET", `/runs${query}`);
      assertEquals(got.status, 400, query);
      assert(got.body.error.startsWith(`Invalid "${field}"`), got.body.error);
    }
  });
});

Deno.test("GET runs/{runId}: 404 for an unknown run, 400 for a bad after", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const missing = await d.call("GET", "/runs/nope");
    assertEquals([missing.status, missing.body], [404, { error: 'No run "nope"' }]);
    const bad = await d.call("GET", "/runs/nope?after=-1");
    assertEquals(bad.status, 400);
  });
});

Deno.test("manual runs: queued, claimed by the host's poll, then started or refused by koid's report", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const text = payload(d.id, "web", "j7");
    const posted = await d.call("POST", "/manual", { payload: text, signature: SIGNATURE });
    assertEquals(posted.status, 202);
    const manualId = posted.body.manualId;
    assert(/^[A-Za-z0-9_-]{22}$/.test(manualId), manualId);
    const queued = (await d.call("GET", `/manual/${manualId}`)).body.manual;
    assertEquals(queued.state, "queued");
    assertEquals([queued.id, queued.host, queued.tag], [manualId, "web", "j7"]);
    assertEquals((await d.call("GET", "/hosts/db/manual")).body, { runs: [] });
    const polled = await d.call("GET", "/hosts/web/manual?wait=0");
    assertEquals(polled.body, { runs: [{ manualId, payload: text, signature: SIGNATURE }] });
    assertEquals((await d.call("GET", `/manual/${manualId}`)).body.manual.state, "claimed");
    assertEquals((await d.call("GET", "/hosts/web/manual")).body, { runs: [] });

    const started = { type: "manual", manualId, state: "started", runId: "r9" };
    assertEquals((await d.call("POST", "/hosts/web/reports", { reports: [started] })).body, {
      accepted: 1,
    });
    const late = { type: "manual", manualId, state: "refused", reason: sealed("late") };
    assertEquals((await d.call("POST", "/hosts/web/reports", { reports: [late, started] })).body, {
      accepted: 2,
    });
    assertEquals((await d.call("GET", `/manual/${manualId}`)).body.manual, {
      id: manualId,
      host: "web",
      tag: "j7",
      queuedAt: queued.queuedAt,
      state: "started",
      args: {},
      ts: JSON.parse(text).ts,
      runId: "r9",
    });

    const second = await d.call("POST", "/manual", { payload: text, signature: SIGNATURE });
    await d.call("GET", "/hosts/web/manual");
    const refused = {
      type: "manual",
      manualId: second.body.manualId,
      state: "refused",
      reason: sealed("the request was already received once (a replay)"),
    };
    await d.call("POST", "/hosts/web/reports", { reports: [refused] });
    const manual = (await d.call("GET", `/manual/${second.body.manualId}`)).body.manual;
    assertEquals([manual.state, manual.reason], ["refused", refused.reason]);
    assertEquals((await d.call("GET", "/manual/unknown")).status, 404);
    // koid answering for another host's run is skipped.
    const third = await d.call("POST", "/manual", { payload: text, signature: SIGNATURE });
    const wrongHost = await d.call("POST", "/hosts/db/reports", {
      reports: [{ type: "manual", manualId: third.body.manualId, state: "started", runId: "x" }],
    });
    assertEquals(wrongHost.body, { accepted: 0 });
  });
});

Deno.test("manual runs: a job's are listed newest first, refused ones with koid's reason", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const ask = async (tag: string, args: Record<string, unknown>) => {
      const text = JSON.stringify({
        v: 1,
        dashboard: d.id,
        host: "web",
        tag,
        ts: Date.now(),
        args: stubArgs(args),
      });
      return (await d.call("POST", "/manual", { payload: text, signature: SIGNATURE })).body
        .manualId as string;
    };
    const refused = await ask("j1", { Loud: true });
    const other = await ask("j2", {});
    const waiting = await ask("j1", { Who: "o'brien" });
    await d.call("GET", "/hosts/web/manual?wait=0");
    const reason = sealed('the job has no argument "Loud"');
    await d.call("POST", "/hosts/web/reports", {
      reports: [{ type: "manual", manualId: refused, state: "refused", reason }],
    });
    await ask("j1", {});
    const listed = await d.call("GET", "/manual?host=web&tag=j1&limit=2");
    assertEquals(listed.status, 200);
    assertEquals(
      listed.body.manual.map((m: { id: string; state: string }) => [m.id === waiting, m.state]),
      [[false, "queued"], [true, "claimed"]],
    );
    const all = (await d.call("GET", "/manual?host=web&tag=j1")).body.manual;
    const last = all[all.length - 1];
    assertEquals(last, {
      id: refused,
      host: "web",
      tag: "j1",
      queuedAt: last.queuedAt,
      state: "refused",
      args: stubArgs({ Loud: true }),
      ts: last.ts,
      reason,
    });
    const older = await d.call("GET", `/manual?host=web&tag=j1&before=${all[1].queuedAt}`);
    assert(older.body.manual.every((m: { id: string }) => m.id !== other));
    assertEquals(older.body.manual.at(-1).id, refused);
    for (const query of ["", "?host=web", "?tag=j1", "?host=web&tag=j1&limit=0"]) {
      assertEquals((await d.call("GET", `/manual${query}`)).status, 400, query);
    }
  });
});

Deno.test("manual runs: DELETE cancels a queued run, atomically; a claimed one is a 409", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const text = payload(d.id, "web", "j7");
    const queued = (await d.call("POST", "/manual", { payload: text, signature: SIGNATURE })).body
      .manualId;
    const cancelled = await d.call("DELETE", `/manual/${queued}`);
    assertEquals([cancelled.status, cancelled.body.manual.state], [200, "cancelled"]);
    assertEquals((await d.call("DELETE", `/manual/${queued}`)).status, 200, "idempotent");
    assertEquals((await d.call("GET", "/hosts/web/manual?wait=0")).body, { runs: [] });
    assertEquals((await d.call("GET", `/manual/${queued}`)).body.manual.state, "cancelled");

    const taken = (await d.call("POST", "/manual", { payload: text, signature: SIGNATURE })).body
      .manualId;
    assertEquals((await d.call("GET", "/hosts/web/manual?wait=0")).body.runs.length, 1);
    const late = await d.call("DELETE", `/manual/${taken}`);
    assertEquals([late.status, late.body], [409, {
      error: "The manual run is claimed already: only a queued one can be cancelled",
    }]);
    assertEquals((await d.call("DELETE", "/manual/nope")).status, 404);
    // A poll waiting when the run is cancelled gets nothing.
    const third = (await d.call("POST", "/manual", { payload: text, signature: SIGNATURE })).body
      .manualId;
    await d.call("DELETE", `/manual/${third}`);
    assertEquals((await d.call("GET", "/hosts/web/manual?wait=1")).body, { runs: [] });
  });
});

Deno.test("GET /api/d/{id}: a host is connected while it polls, and not once it has been quiet", async () => {
  let now = Date.parse("2026-03-01T12:00:00Z");
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    await d.call("GET", "/hosts/web/manual?wait=0");
    await d.call("PUT", "/hosts/db/jobs", { jobs: [job("j1", 1)] });
    const connected = async () =>
      (await d.call("GET", "")).body.hosts.map((h: { host: string; connected: boolean }) => [
        h.host,
        h.connected,
      ]);
    now += CONNECTED_WITHIN_MS;
    assertEquals(await connected(), [["db", true], ["web", true]]);
    await d.call("GET", "/hosts/web/manual?wait=0");
    now += 1;
    assertEquals(await connected(), [["db", false], ["web", true]]);
  }, { now: () => now });
});

Deno.test("manual runs: the payload must be JSON naming this dashboard and a host", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const cases: [unknown, string][] = [
      [{ payload: "not json", signature: SIGNATURE }, "payload"],
      [{ payload: "[1,2]", signature: SIGNATURE }, "payload"],
      [
        { payload: payload("other-dashboard-0001", "web"), signature: SIGNATURE },
        "payload.dashboard",
      ],
      [
        { payload: JSON.stringify({ dashboard: d.id, tag: "j1" }), signature: SIGNATURE },
        "payload.host",
      ],
      [{ payload: payload(d.id, "bad host"), signature: SIGNATURE }, "payload.host"],
      [{ payload: payload(d.id, "web", "bad tag"), signature: SIGNATURE }, "payload.tag"],
      [{ payload: payload(d.id, "web"), signature: "short" }, "signature"],
      [{ payload: payload(d.id, "web") }, "signature"],
      [{ payload: { v: 1 }, signature: SIGNATURE }, "payload"],
      [{ payload: "x".repeat(20_000), signature: SIGNATURE }, "payload"],
    ];
    for (const [body, field] of cases) {
      const got = await d.call("POST", "/manual", body);
      assertEquals(got.status, 400, JSON.stringify(body).slice(0, 100));
      assert(got.body.error.startsWith(`Invalid "${field}"`), got.body.error);
    }
  });
});

Deno.test("long-poll: a run queued during the wait is handed over at once, not when the wait ends", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const began = performance.now();
    const poll = d.call("GET", "/hosts/web/manual?wait=10");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = payload(d.id, "web");
    const posted = await d.call("POST", "/manual", { payload: text, signature: SIGNATURE });
    const queuedAt = performance.now();
    const got = await poll;
    const latency = performance.now() - queuedAt;
    assertEquals(got.body, {
      runs: [{ manualId: posted.body.manualId, payload: text, signature: SIGNATURE }],
    });
    assert(latency < 500, `latency ${latency} ms`);
    assert(performance.now() - began < 1000, `whole poll ${performance.now() - began} ms`);
  });
});

Deno.test("long-poll: empty after wait=1; wait over 25 is a 400", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const began = performance.now();
    const got = await d.call("GET", "/hosts/web/manual?wait=1");
    const elapsed = performance.now() - began;
    assertEquals(got.body, { runs: [] });
    assert(elapsed >= 990 && elapsed < 2000, `elapsed ${elapsed} ms`);
    for (const wait of ["26", "-1", "x", "1e3"]) {
      const bad = await d.call("GET", `/hosts/web/manual?wait=${wait}`);
      assertEquals(bad.status, 400, wait);
      assert(bad.body.error.startsWith('Invalid "wait"'), bad.body.error);
    }
  });
});

Deno.test("long-poll: a queued run is claimed once by 10 concurrent pollers, waiting or not", async () => {
  await withServer(async ({ server, dashboard }) => {
    const d = await dashboard();
    // Queued first, then 10 polls race for it.
    const first = await d.call("POST", "/manual", {
      payload: payload(d.id, "web"),
      signature: SIGNATURE,
    });
    const racing = await Promise.all(
      Array.from({ length: 10 }, () => d.call("GET", "/hosts/web/manual?wait=0")),
    );
    const handed = racing.flatMap((got) =>
      got.body.runs.map((r: { manualId: string }) => r.manualId)
    );
    assertEquals(handed, [first.body.manualId]);

    // 10 polls wait, then one run is queued: one poll gets it, the rest keep waiting.
    const waiting = Array.from({ length: 10 }, () => d.call("GET", "/hosts/web/manual?wait=20"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await d.call("POST", "/manual", {
      payload: payload(d.id, "web"),
      signature: SIGNATURE,
    });
    const winner = await Promise.race(waiting);
    assertEquals(winner.body.runs.map((r: { manualId: string }) => r.manualId), [
      second.body.manualId,
    ]);
    // Stopping the server ends the other polls at once, empty.
    const stopping = performance.now();
    await server.shutdown();
    const all = await Promise.all(waiting);
    assert(performance.now() - stopping < 2000, "shutdown waited for the polls");
    const claimed = all.flatMap((got) =>
      got.body.runs.map((r: { manualId: string }) => r.manualId)
    );
    assertEquals(claimed, [second.body.manualId]);
  });
});

Deno.test("long-poll: a run queued through another server instance on the same store arrives within a second", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await withServer(async ({ dashboard }) => {
      const d = await dashboard();
      await withServer(async ({ request }) => {
        const poll = request("GET", `/api/d/${d.id}/hosts/web/manual?wait=10`, {
          headers: { authorization: `Bearer ${d.apiKey}` },
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
        const posted = await d.call("POST", "/manual", {
          payload: payload(d.id, "web"),
          signature: SIGNATURE,
        });
        const queuedAt = performance.now();
        const got = await poll;
        const latency = performance.now() - queuedAt;
        assertEquals(got.body.runs.map((r: { manualId: string }) => r.manualId), [
          posted.body.manualId,
        ]);
        assert(latency < 1500, `latency ${latency} ms`);
      }, { kv });
    }, { kv });
  } finally {
    kv.close();
  }
});

Deno.test("long-poll: a poll whose client went away hands nothing out; the run waits for the next poll", async () => {
  await withServer(async ({ server, dashboard }) => {
    const d = await dashboard();
    const gone = new AbortController();
    const poll = fetch(`${server.url}/api/d/${d.id}/hosts/web/manual?wait=10`, {
      headers: { authorization: `Bearer ${d.apiKey}` },
      signal: gone.signal,
    }).catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    gone.abort();
    assertEquals((await poll).name, "AbortError");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const posted = await d.call("POST", "/manual", {
      payload: payload(d.id, "web"),
      signature: SIGNATURE,
    });
    const got = await d.call("GET", "/hosts/web/manual?wait=0");
    assertEquals(got.body.runs.map((r: { manualId: string }) => r.manualId), [
      posted.body.manualId,
    ]);
  });
});

Deno.test("retention: a job keeps its newest retentionRuns runs, the older ones go with their output", async () => {
  await withServer(async ({ kv, dashboard }) => {
    const d = await dashboard();
    assertEquals((await d.call("PATCH", "/settings", { retentionRuns: 3 })).status, 200);
    for (let i = 1; i <= 5; i++) {
      await d.call("POST", "/hosts/web/reports", {
        reports: [
          start(`r${i}`, "j1", i * 1000),
          output(`r${i}`, 0, `out ${i}`),
          end(`r${i}`, i * 1000 + 500, [{ stream: "stdout", text: `out ${i}` }]),
        ],
      });
    }
    await d.call("POST", "/hosts/web/reports", { reports: [start("other", "j2", 100)] });
    const ids = (await d.call("GET", "/runs")).body.runs.map((r: { id: string }) => r.id);
    assertEquals(ids, ["r5", "r4", "r3", "other"]);
    assertEquals((await d.call("GET", "/runs/r1")).status, 404);
    const runIds = new Set(
      (await allKeys(kv)).filter((key) => key[0] === "out").map((key) => key[2]),
    );
    assertEquals([...runIds].sort(), ["r3", "r4", "r5"]);
    const jobs = await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] });
    assertEquals(jobs.status, 204);
    assertEquals((await d.call("GET", "/jobs")).body.jobs[0].lastRun.id, "r5");
  });
});

Deno.test("PATCH settings checks each setting's range and refuses unknown ones", async () => {
  await withServer(async ({ dashboard }) => {
    const d = await dashboard();
    const cases: [unknown, string][] = [
      [{ retentionRuns: 0 }, "retentionRuns"],
      [{ retentionRuns: 1.5 }, "retentionRuns"],
      [{ retentionDays: 3651 }, "retentionDays"],
      [{ outputLimit: 1023 }, "outputLimit"],
      [{ outputLimit: "1024" }, "outputLimit"],
      [{ missedGraceSeconds: 59 }, "missedGraceSeconds"],
      [{ hostSilentSeconds: 30 }, "hostSilentSeconds"],
      [{ hostSilentSeconds: 604_801 }, "hostSilentSeconds"],
      [{ retention: 5 }, "retention"],
      [[], "body"],
    ];
    for (const [body, field] of cases) {
      const got = await d.call("PATCH", "/settings", body);
      assertEquals(got.status, 400, JSON.stringify(body));
      assert(got.body.error.startsWith(`Invalid "${field}"`), got.body.error);
    }
    const ok = await d.call("PATCH", "/settings", {
      retentionRuns: 10_000,
      retentionDays: 1,
      missedGraceSeconds: 120,
      hostSilentSeconds: 60,
    });
    assertEquals(ok.body.settings, {
      retentionRuns: 10_000,
      retentionDays: 1,
      outputLimit: 1048576,
      missedGraceSeconds: 120,
      hostSilentSeconds: 60,
    });
    assertEquals((await d.call("GET", "")).body.settings, ok.body.settings);
  });
});

Deno.test("DELETE /api/d/{id} removes every key of the dashboard and nothing of another", async () => {
  await withServer(async ({ kv, dashboard }) => {
    const doomed = await dashboard();
    const kept = await dashboard();
    for (const d of [doomed, kept]) {
      await d.call("PUT", "/hosts/web/jobs", { jobs: [job("j1", 1)] });
      await d.call("PUT", "/hosts/db/jobs", { jobs: [{ tag: "j1" }] });
      await d.call("POST", "/hosts/web/reports", {
        reports: [
          start("r1", "j1", 1000),
          output("r1", 0, "x".repeat(150_000)),
          end("r1", 2000, [{ stream: "stdout", text: "done" }]),
          start("r2", "j1", 3000),
          output("r2", 0, "streaming"),
        ],
      });
      await d.call("POST", "/manual", { payload: payload(d.id, "web"), signature: SIGNATURE });
      await d.call("POST", "/manual", { payload: payload(d.id, "db"), signature: SIGNATURE });
      await d.call("GET", "/hosts/web/manual");
      // Alerts: a channel that refuses (its delivery waits in the queue), mutes, a failure.
      const channel = await d.call("POST", "/channels", {
        kind: "webhook",
        url: "http://127.0.0.1:9/",
      });
      assertEquals(channel.status, 201);
      await d.call("PUT", "/mutes/db");
      await d.call("PUT", "/mutes/web/j9");
      await d.call("POST", "/hosts/web/reports", {
        reports: [{
          ...end("r2", 4000, []),
          end: { ...end("r2", 4000, []).end, exitCode: 1, status: "failed" },
        }],
      });
    }
    const kindsOf = (keys: Deno.KvKey[], id = doomed.id) =>
      [...new Set(keys.filter((key) => key[1] === id).map((key) => key[0]))].sort();
    // The engine looks at hosts and jobs on its timer: until it has, for both.
    let before = await allKeys(kv);
    const done = () =>
      kindsOf(before).length === KEY_KINDS.length &&
      kindsOf(before, kept.id).length === KEY_KINDS.length;
    for (let tries = 0; !done() && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      before = await allKeys(kv);
    }
    assertEquals(kindsOf(before), [...KEY_KINDS].sort(), "the test touches every kind of key");
    assert(
      before.some((key) => key[0] === "alertDue" && key[2] === doomed.id),
      "a delivery is due",
    );
    assertEquals((await doomed.call("DELETE", "")).status, 204);
    const after = await allKeys(kv);
    assertEquals(after.filter((key) => key.includes(doomed.id)), []);
    // The other dashboard keeps all its keys (its queued delivery may have moved on,
    // and its engine, still running, may have raised more alerts meanwhile).
    const keptKeys = (keys: Deno.KvKey[]) =>
      new Set(
        keys.filter((key) => key.includes(kept.id)).map((key) =>
          key[0] === "alertDue" ? "alertDue" : Deno.inspect(key)
        ),
      );
    const keptAfter = keptKeys(after);
    assertEquals([...keptKeys(before)].filter((key) => !keptAfter.has(key)), []);
    assertEquals(
      after.filter((key) => !key.includes(kept.id)),
      [],
      "every key left is the other's",
    );
    assertEquals((await doomed.call("GET", "")).status, 401);
    assertEquals((await kept.call("GET", "/runs")).body.runs.length, 2);
  }, { alerts: { checkEveryMs: 20, deliverEveryMs: 0, allowPrivateDestinations: true } });
});

Deno.test("a 50 MB streamed body is cut off with 413 after the limit, without buffering it", async () => {
  await withServer(async ({ server, request, dashboard }) => {
    const d = await dashboard();
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 50_000_000) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const rssBefore = Deno.memoryUsage().rss;
    const got = await answer(
      await fetch(`${server.url}/api/dashboards`, { method: "POST", body }),
    );
    assertEquals([got.status, got.body], [413, { error: "The body is larger than 1048576 bytes" }]);
    assert(sent < 20_000_000, `the server read on: ${sent} bytes sent`);
    const growth = Deno.memoryUsage().rss - rssBefore;
    assert(growth < 40_000_000, `memory grew by ${growth} bytes`);
    // A declared length over the limit is refused before reading; reports allow 8 MiB.
    const big = await d.call("POST", "/hosts/web/reports", "x".repeat(9 * 1024 * 1024));
    assertEquals([big.status, big.body], [413, { error: "The body is larger than 8388608 bytes" }]);
    const fits = await d.call("POST", "/hosts/web/reports", {
      reports: [start("r1", "j1", 1), output("r1", 0, "y".repeat(2 * 1024 * 1024))],
    });
    assertEquals(fits.body, { accepted: 2 });
    // Over the 1 MiB outputLimit, a sealed chunk is not kept live (it cannot be cut).
    assertEquals((await d.call("GET", "/runs/r1")).body.output, []);
    assertEquals((await request("GET", "/")).status, 200);
  });
});

Deno.test("bad JSON, empty and non-UTF-8 bodies are 400s that say why", async () => {
  await withServer(async ({ request, dashboard }) => {
    const d = await dashboard();
    const bad = await d.call("PUT", "/hosts/web/jobs", undefined, {});
    assertEquals([bad.status, bad.body], [400, {
      error: "The body is empty: a JSON object is expected",
    }]);
    const cases: [BodyInit, string][] = [
      ['{"jobs": [', "The body is not JSON: "],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "The body is not UTF-8 text"],
      ["[".repeat(200_000), "The body is not JSON: "],
      ["null", 'Invalid "body": must be an object'],
      ['{"jobs": {}}', 'Invalid "jobs": must be an array'],
    ];
    for (const [body, message] of cases) {
      const got = await request("PUT", `/api/d/${d.id}/hosts/web/jobs`, {
        headers: { authorization: `Bearer ${d.apiKey}` },
        body,
      });
      assertEquals(got.status, 400, message);
      assert(got.body.error.startsWith(message), got.body.error);
    }
  });
});

Deno.test("unknown routes are 404, wrong methods 405 with Allow", async () => {
  await withServer(async ({ request, dashboard }) => {
    const d = await dashboard();
    for (
      const path of ["/nope", "/api", "/api/d", `/api/d/${d.id}/nope`, `/api/d/${d.id}/`, "/d/x"]
    ) {
      const got = await request("GET", path);
      assertEquals([got.status, got.body], [404, { error: "Not found" }], path);
    }
    const cases: [string, string, string][] = [
      ["GET", "/api/dashboards", "POST"],
      ["POST", `/api/d/${d.id}`, "GET, DELETE"],
      ["GET", `/api/d/${d.id}/settings`, "PATCH"],
      ["DELETE", `/api/d/${d.id}/hosts/web/manual`, "GET"],
      ["PUT", `/api/d/${d.id}/manual`, "GET, POST"],
      ["POST", `/api/d/${d.id}/manual/m1`, "GET, DELETE"],
      ["POST", "/", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const got = await request(method, path);
      assertEquals(got.status, 405, `${method} ${path}`);
      assertEquals(got.headers.get("allow"), allow);
      assertEquals(got.body, { error: `Method ${method} is not allowed here` });
    }
  });
});

Deno.test("the pages are served with a strict Content-Security-Policy", async () => {
  await withServer(async ({ request }) => {
    const pages: [string, string][] = [
      ["/", "Koi dashboard server"],
      [`/d/${newDashboardId()}`, '<script type="module" src="/ui/app.js"></script>'],
    ];
    for (const [path, text] of pages) {
      const got = await request("GET", path);
      assertEquals(got.status, 200);
      assert(got.body.includes(text), got.body);
      assertEquals(got.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
      assert(CONTENT_SECURITY_POLICY.startsWith("default-src 'none'; "));
      assertEquals(got.headers.get("content-type"), "text/html; charset=utf-8");
    }
  });
});

/** A tiny deterministic random source, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

Deno.test("no body crashes the server: garbage and wrongly typed fields are 400s, never 500s", async () => {
  await withServer(async ({ server, request, dashboard, logs }) => {
    const d = await dashboard();
    const next = random(42);
    const routes: [string, string][] = [
      ["POST", "/api/dashboards"],
      ["PATCH", `/api/d/${d.id}/settings`],
      ["PUT", `/api/d/${d.id}/hosts/web/jobs`],
      ["POST", `/api/d/${d.id}/hosts/web/reports`],
      ["POST", `/api/d/${d.id}/manual`],
    ];
    const headers = { authorization: `Bearer ${d.apiKey}` };
    for (let i = 0; i < 20; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(next() * 2000) }, () => next() * 256);
      for (const [method, path] of routes) {
        const got = await request(method, path, { headers, body: bytes });
        assertEquals(got.status, 400, `${method} ${path}`);
      }
    }
    const oddValues = [null, 0, -1, 1.5, 1e300, "", "x", "a".repeat(70_000), [], {}, true, [1], {
      a: 1,
    }];
    const valid: [string, unknown][] = [
      [`/api/d/${d.id}/hosts/web/reports`, {
        reports: [
          start("r1", "j1", 1000, { args: { A: "1" } }),
          output("r1", 0, "x"),
          end("r1", 2000, [{ stream: "stdout", text: "x" }]),
          { type: "manual", manualId: "m1", state: "refused", reason: sealed("no") },
        ],
      }],
      [`/api/d/${d.id}/hosts/web/jobs`, { jobs: [job("j1", 1)] }],
    ];
    let cases = 0;
    for (const [path, body] of valid) {
      for (const mutated of mutations(body, oddValues)) {
        const method = path.endsWith("jobs") ? "PUT" : "POST";
        const got = await request(method, path, { headers, body: JSON.stringify(mutated) });
        assert(
          [200, 204, 400].includes(got.status),
          `${got.status} for ${JSON.stringify(mutated)}`,
        );
        if (got.status === 400) assert(got.body.error.startsWith("Invalid "), got.body.error);
        cases++;
      }
    }
    assert(cases > 300, String(cases));

    // Raw garbage on the socket gets an HTTP error or a closed connection; the server lives on.
    for (let i = 0; i < 5; i++) {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const junk = Uint8Array.from({ length: 500 }, () => next() * 256);
      await connection.write(junk).catch(() => {});
      await connection.write(new TextEncoder().encode("\r\n\r\n")).catch(() => {});
      const buffer = new Uint8Array(1024);
      const read = await connection.read(buffer).catch(() => null);
      if (read !== null) {
        assert(new TextDecoder().decode(buffer.subarray(0, read)).startsWith("HTTP/1.1 4"));
      }
      connection.close();
    }
    assertEquals((await d.call("GET", "")).status, 200);
    assertEquals(logs, []);
  });
});

/** Copies of `value` with one field, anywhere in it, replaced by each odd value or removed. */
function* mutations(value: unknown, odd: readonly unknown[]): Generator<unknown> {
  if (typeof value !== "object" || value === null) return;
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  for (const [key, inner] of entries) {
    const copy = (replacement: unknown, remove = false) => {
      if (Array.isArray(value)) {
        const list = [...value];
        if (remove) list.splice(key as number, 1);
        else list[key as number] = replacement;
        return list;
      }
      const object: Record<string, unknown> = { ...value };
      if (remove) delete object[key as string];
      else object[key as string] = replacement;
      return object;
    };
    for (const replacement of odd) yield copy(replacement);
    yield copy(undefined, true);
    for (const deeper of mutations(inner, odd)) yield copy(deeper);
  }
}

Deno.test("a failure inside a handler is a 500 'internal error', logged without the key", async () => {
  const kv = await Deno.openKv(":memory:");
  const logs: string[] = [];
  const server = await startServer({
    kv,
    port: 0,
    pruneEveryMs: 0,
    log: (line) => logs.push(line),
    alerts: { checkEveryMs: 0, deliverEveryMs: 0 },
  });
  try {
    const id = newDashboardId();
    const apiKey = randomKey();
    await answer(
      await fetch(`${server.url}/api/dashboards`, {
        method: "POST",
        body: JSON.stringify({ id, apiKey }),
      }),
    );
    kv.close();
    const got = await answer(
      await fetch(`${server.url}/api/d/${id}/jobs`, {
        headers: { authorization: `Bearer ${apiKey}` },
      }),
    );
    assertEquals([got.status, got.body], [500, { error: "internal error" }]);
    assertEquals(logs.length, 1);
    assert(logs[0]!.startsWith("internal error in GET /api/d/:id/jobs: "), logs[0]);
    assert(!logs[0]!.includes(apiKey) && !logs[0]!.includes(id), logs[0]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("dashboard's command line: --help, --version, bad options, a port in use", async () => {
  const help = await runEntry("dashboard", ["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.startsWith(`dashboard ${VERSION}: Koi's dashboard server\n`), help.stdout);
  assert(help.stdout.includes("--hostname H"), help.stdout);
  assert(help.stdout.includes("(default 127.0.0.1: this machine only"), help.stdout);
  const version = await runEntry("dashboard", ["--version"]);
  assertEquals([version.code, version.stdout], [0, `dashboard ${VERSION}\n`]);
  const bad = await runEntry("dashboard", ["--port", "70000"]);
  assertEquals([bad.code, bad.stderr], [
    2,
    'dashboard: --port needs a port number from 0 to 65535, got "70000"\n',
  ]);
  const unknown = await runEntry("dashboard", ["--verbose"]);
  assertEquals([unknown.code, unknown.stderr], [2, 'dashboard: unknown option "--verbose"\n']);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = taken.addr.port;
    const busy = await runEntry("dashboard", ["--port", String(port), "--db", ":memory:"]);
    assertEquals(busy.code, 1);
    assert(
      busy.stderr.startsWith(
        `dashboard: cannot listen on 127.0.0.1:${port}: the port is in use by another program`,
      ),
      busy.stderr,
    );
  } finally {
    taken.close();
  }
});

Deno.test("dashboard serves on the port it prints, keeps data in --db, and stops cleanly on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_dashboard_" });
  const run = async (stop: Deno.Signal, work: (url: string) => Promise<void>) => {
    const child = spawnEntry("dashboard", ["--port", "0", "--db", `${dir}/store.db`]);
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/listening on (\S+)\n/.test(text)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`dashboard exited: ${text}`);
      text += value;
    }
    const url = /listening on (\S+)\n/.exec(text)![1]!;
    assert(/^http:\/\/127\.0\.0\.1:[0-9]+$/.test(url), url);
    await work(url);
    child.kill(stop);
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    const status = await child.status;
    assertEquals(status.code, 0, text);
    assert(text.endsWith(`dashboard: ${stop}: stopping\ndashboard: stopped\n`), text);
  };
  const id = newDashboardId();
  const apiKey = randomKey();
  try {
    await run("SIGTERM", async (url) => {
      const created = await fetch(`${url}/api/dashboards`, {
        method: "POST",
        body: JSON.stringify({ id, apiKey }),
      });
      assertEquals(created.status, 201);
      await created.body?.cancel();
    });
    await run("SIGINT", async (url) => {
      const got = await answer(
        await fetch(`${url}/api/d/${id}`, { headers: { authorization: `Bearer ${apiKey}` } }),
      );
      assertEquals([got.status, got.body.id], [200, id]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
