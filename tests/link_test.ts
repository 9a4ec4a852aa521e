import { assert, assertEquals } from "./_assert.ts";
import { misbehaviours, serveResets, TestDashboard } from "./_dashboard.ts";
import type { EndReport, OutputReport, Report, StartReport } from "../lib/protocol/wire.ts";
import { writeDashboardConfig } from "../lib/link/config.ts";
import { History } from "../lib/runs/history.ts";
import { DashboardLink, linkHost } from "../lib/daemon/link.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import type { LinkTiming } from "../lib/daemon/link_session.ts";
import { chooseRunUser, type RunUser } from "../lib/runs/run_user.ts";
import { type RunEvent, Runner } from "../lib/daemon/runner.ts";
import type { DatabaseSource } from "../lib/daemon/history_store.ts";
import { ReportSpool } from "../lib/daemon/spool.ts";
import { base64url, newDashboardId, signRun } from "../lib/protocol/keys.ts";
import { type KoiPaths, koiPaths } from "../lib/koidir.ts";
import { type KoitabJob, parseKoitab } from "../lib/koitab.ts";
import { payloadText } from "../lib/protocol/manual.ts";
import { openOutput } from "../lib/protocol/sealed.js";
import { type PlainPayload, sealedPayload } from "./_sealed.ts";
import { parsePasswd } from "../lib/users.ts";
import { Koid } from "./_koid.ts";

const me: RunUser =
  chooseRunUser(null, parsePasswd(await Deno.readTextFile("/etc/passwd")), Deno.uid()!).user;

/** Timing for tests: the same loops, in milliseconds rather than seconds. */
const FAST: Partial<LinkTiming> = {
  requestTimeoutMs: 1000,
  longPollSeconds: 1,
  longPollTimeoutMs: 2500,
  pollIntervalMs: 100,
  longPollRetryMs: 1500,
  backoffMinMs: 50,
  backoffMaxMs: 400,
  checkIntervalMs: 60_000,
  refusedRetryMs: 1500,
};

function randomKey(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** A dashboard's id and keys, made at random: no password, so no PBKDF2. */
function newKeys() {
  return { id: newDashboardId(), apiKey: randomKey(), runKey: randomKey(), dataKey: randomKey() };
}

interface Setup {
  readonly dir: string;
  readonly paths: KoiPaths;
  readonly dashboard: TestDashboard;
  readonly keys: ReturnType<typeof newKeys>;
  readonly logs: string[];
  readonly events: RunEvent[];
  link: DashboardLink;
  jobs: KoitabJob[];
  /** Starts the named job now and returns its run id. */
  run(name: string): string;
  /** Waits until the run has ended locally. */
  ended(id: string): Promise<void>;
  /** A new link over the same database, as after a koid restart (the old one must be closed). */
  restart(): Promise<void>;
  /** Seals and signs a payload for this dashboard and host with the data and run keys. */
  sign(overrides?: Partial<PlainPayload>): Promise<{ payload: string; signature: string }>;
  /** What waits in the spool. */
  pending(): number;
}

/** A link over a real runner and history in a temporary KOI_DIR, against the real server. */
async function withLink(
  koitab: string,
  fn: (setup: Setup) => Promise<void>,
  options: { outputLimit?: number; database?: (history: History) => DatabaseSource } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_link_" });
  const paths = koiPaths(dir);
  const history = new History(paths.history);
  const database = options.database?.(history) ?? history.database;
  const dashboard = await TestDashboard.start();
  const keys = newKeys();
  await dashboard.create(keys);
  await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
  const logs: string[] = [];
  const events: RunEvent[] = [];
  const outputLimit = options.outputLimit ?? 1024 * 1024;
  const makeLink = () =>
    new DashboardLink({
      paths,
      database,
      host: "web1",
      localZone: "UTC",
      outputLimit,
      log: (line) => logs.push(line),
      jobs: () => setup.jobs,
      start: (request) => runner.startAll([request]),
      timing: FAST,
    });
  const setup: Setup = {
    dir,
    paths,
    dashboard,
    keys,
    logs,
    events,
    link: makeLink(),
    jobs: parseKoitab(koitab.replaceAll("$DIR", dir)).jobs,
    run(name) {
      const job = setup.jobs.find((j) => j.name === name)!;
      return runner.startAll([{ job, trigger: "schedule", values: {}, scheduledFor: null }])[0]!;
    },
    async ended(id) {
      await dashboard.until(
        () => events.some((e) => e.type === "end" && e.id === id),
        `the end of run ${id}`,
      );
    },
    async restart() {
      setup.link = makeLink();
      setup.link.tableChanged();
      await setup.link.start();
    },
    async sign(overrides = {}) {
      const payload = await sealedPayload(keys.dataKey, {
        v: 2,
        dashboard: keys.id,
        host: "web1",
        tag: setup.jobs.find((j) => j.schedule === "@manual")!.tag,
        ts: Date.now(),
        args: {},
        ...overrides,
      });
      return { payload, signature: await signRun(keys.runKey, payload) };
    },
    pending: () => new ReportSpool(history.database).pending(keys.id).reports,
  };
  const runner = new Runner({
    history,
    user: me,
    daemonEnv: {},
    setpriv: null,
    log: () => {},
    now: () => Date.now(),
    outputLimit,
    mail: { command: { kind: "off" }, hostname: "test" },
    onEvent: (event) => {
      events.push(event);
      setup.link.onEvent(event);
    },
  });
  try {
    setup.link.tableChanged();
    await setup.link.start();
    await fn(setup);
  } finally {
    await setup.link.close();
    await runner.stop(5000);
    await dashboard.close();
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The reports of one run, in the order the server took them. */
function reportsOf(dashboard: TestDashboard, runId: string): Report[] {
  return dashboard.reports.filter((r) =>
    (r.type === "start" && r.run.id === runId) || ("runId" in r && r.runId === runId)
  );
}

/** Checks one run reached the dashboard whole: start, its output in order, then its end. */
function assertWhole(
  dashboard: TestDashboard,
  runId: string,
  stdout: string,
  stderr = "",
): void {
  const reports = reportsOf(dashboard, runId);
  assertEquals(reports[0]?.type, "start", `run ${runId} starts`);
  assertEquals(reports.at(-1)?.type, "end", `run ${runId} ends`);
  assertEquals(reports.filter((r) => r.type === "start" || r.type === "end").length, 2);
  const output = reports.filter((r): r is OutputReport => r.type === "output");
  const seqs = output.map((r) => r.seq);
  assertEquals(seqs, seqs.map((_, i) => i), "output in order, numbered without gaps");
  const text = (stream: string) =>
    output.filter((r) => r.stream === stream).map((r) => r.text).join("");
  assertEquals([text("stdout"), text("stderr")], [stdout, stderr], `run ${runId} output`);
  const end = reports.at(-1) as EndReport;
  assertEquals(end.end.chunks.map((c) => c.text).join("").length, stdout.length + stderr.length);
}

const JOBS = `"Lines" @manual for i in 1 2 3; do echo out$i; echo err$i >&2; done
"Quick" @manual echo quick
"Say" @manual printf \\%s {{Value}} > $DIR/said
`;

Deno.test("linkHost() takes KOI_HOST, else the host name, made safe for the API", () => {
  assertEquals(linkHost("koid-a", "web1"), "koid-a");
  assertEquals(linkHost(undefined, "web1.example.com"), "web1.example.com");
  assertEquals(linkHost("", "my host/1"), "my-host-1");
  assertEquals(linkHost(undefined, "x".repeat(300)).length, 253);
});

Deno.test("dashboardJobs() gives each job its zone, typed arguments and next five runs", () => {
  const { jobs } = parseKoitab(`@reboot echo boot
CRON_TZ=Europe/Paris
"Every5" */5 * * * * echo hi
[Admin]
"Say" @manual echo {{Who}} {{N, int, 2}} {{Loud, bool}}
`);
  const list = dashboardJobs(jobs, "UTC", new Date("2026-03-01T10:02:00Z"));
  assertEquals(list.map((job) => [job.name, job.section, job.schedule, job.timezone, job.line]), [
    [null, null, "@reboot", "UTC", 1],
    ["Every5", null, "*/5 * * * *", "Europe/Paris", 3],
    ["Say", "Admin", "@manual", "Europe/Paris", 5],
  ]);
  assertEquals(list[1]!.next, [
    "2026-03-01T10:05:00.000Z",
    "2026-03-01T10:10:00.000Z",
    "2026-03-01T10:15:00.000Z",
    "2026-03-01T10:20:00.000Z",
    "2026-03-01T10:25:00.000Z",
  ]);
  assertEquals(list[0]!.next, []);
  assertEquals(list[2]!.next, []);
  assertEquals(list[2]!.args, [
    { name: "Who", type: "string" },
    { name: "N", type: "int", default: 2 },
    { name: "Loud", type: "bool" },
  ]);
  assertEquals(list[2]!.command, "echo {{Who}} {{N, int, 2}} {{Loud, bool}}");
  assertEquals(list[2]!.tag, jobs[2]!.tag);
});

Deno.test("the link sends the job list once the table is known, and again when it changes", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, keys } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the first job list");
    assertEquals(dashboard.jobPuts[0]!.host, "web1");
    assertEquals(dashboard.jobPuts[0]!.jobs.map((job) => job.name), ["Lines", "Quick", "Say"]);
    setup.jobs = parseKoitab('"Only" 0 3 * * * echo one\n').jobs;
    setup.link.tableChanged();
    await dashboard.until(() => dashboard.jobPuts.length === 2, "the second job list");
    assertEquals(dashboard.jobPuts[1]!.jobs.map((job) => [job.name, job.next.length]), [[
      "Only",
      5,
    ]]);
    // Every call carries the API key, and nothing sent holds the run key.
    assert(dashboard.received.every((r) => r.authorization === `Bearer ${keys.apiKey}`));
    assert(!JSON.stringify(dashboard.received).includes(keys.runKey), "the run key never leaves");
  });
});

Deno.test("the link reports runs in order, exactly once, after the dashboard was down", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs } = setup;
    // First a dashboard that answers 503 to reports, then one that is not there at all.
    dashboard.misbehave = (_, url) =>
      url.pathname.endsWith("/reports") ? misbehaviours.unavailable() : null;
    const first = [setup.run("Lines"), setup.run("Quick"), setup.run("Lines")];
    for (const id of first) await setup.ended(id);
    await dashboard.until(() => dashboard.count("/reports") >= 3, "retries");
    assertEquals(dashboard.reports.length, 0);
    await dashboard.stop();
    const second = [setup.run("Quick"), setup.run("Lines")];
    for (const id of second) await setup.ended(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    dashboard.misbehave = null;
    dashboard.start();
    await dashboard.until(() => setup.pending() === 0, "the spool to empty");
    for (const id of [...first, ...second]) {
      const lines = reportsOf(dashboard, id).length > 0 &&
        (reportsOf(dashboard, id)[0] as StartReport).run.name === "Lines";
      if (lines) assertWhole(dashboard, id, "out1\nout2\nout3\n", "err1\nerr2\nerr3\n");
      else assertWhole(dashboard, id, "quick\n");
    }
    // Runs reach the dashboard in the order they started.
    const starts = dashboard.reports.filter((r): r is StartReport => r.type === "start").map((r) =>
      r.run.id
    );
    assertEquals(starts, [...first, ...second]);
    assertEquals(dashboard.duplicates, 0);
    const failures = logs.filter((line) => line.includes("cannot send reports"));
    assertEquals(failures.length, 2, logs.join("\n"));
    assert(failures[0]!.includes("the server answered 503: down for maintenance"), failures[0]);
    assert(failures[1]!.includes("cannot reach"), failures[1]);
    assert(logs.includes("dashboard: reports reach the dashboard again"), logs.join("\n"));
  });
});

Deno.test("reports spooled while the dashboard is down reach it after a restart of the link", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    await dashboard.stop();
    const id = setup.run("Lines");
    await setup.ended(id);
    await setup.link.close(100);
    assert(setup.pending() > 0, "kept in the spool");
    dashboard.start();
    await setup.restart();
    await dashboard.until(() => setup.pending() === 0, "the spool to empty");
    assertWhole(dashboard, id, "out1\nout2\nout3\n", "err1\nerr2\nerr3\n");
    assert(setup.logs.some((l) => /linked to dashboard .* \(\d+ report\(s\) to send\)$/.test(l)));
  });
});

Deno.test("the link survives hangs, resets, 500s, garbage, huge and endless answers, and recovers", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    const behaviours = {
      hang: misbehaviours.hang(dashboard),
      error500: misbehaviours.error500,
      garbage: misbehaviours.garbage,
      wrongShape: misbehaviours.wrongShape,
      huge: misbehaviours.huge,
      endless: misbehaviours.endless,
    };
    const ids: string[] = [];
    for (const [name, behaviour] of Object.entries(behaviours)) {
      const before = dashboard.count("/reports");
      dashboard.misbehave = behaviour;
      const id = setup.run("Quick");
      ids.push(id);
      await setup.ended(id);
      await dashboard.until(
        () => dashboard.count("/reports") >= before + 2,
        `retries under ${name}`,
      );
      dashboard.misbehave = null;
      await dashboard.until(() => reportsOf(dashboard, id).length > 0, `recovery after ${name}`);
    }
    // Resets: nothing but a socket that closes on every connection.
    await dashboard.stop();
    const stopResets = serveResets(dashboard.port);
    const reset = setup.run("Quick");
    ids.push(reset);
    await setup.ended(reset);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stopResets();
    dashboard.start();
    await dashboard.until(() => setup.pending() === 0, "the spool to empty");
    for (const id of ids) assertWhole(dashboard, id, "quick\n");
    // One log line per change of state, not one per retry.
    const lines = logs.filter((l) => l.includes("cannot send reports"));
    assert(lines.length <= Object.keys(behaviours).length + 1, lines.join("\n"));
    for (const reason of ["did not answer within 1 s", "answered 500", "not JSON", "larger than"]) {
      assert(lines.some((l) => l.includes(reason)), `${reason} in:\n${lines.join("\n")}`);
    }
    // Still taking manual runs after all that.
    const request = await setup.sign({ tag: setup.jobs.find((j) => j.name === "Quick")!.tag });
    const manualId = await dashboard.client(setup.keys.id).postManual(
      request.payload,
      request.signature,
    );
    await dashboard.until(() => dashboard.answer(manualId)?.state === "started", "a manual run");
  });
});

Deno.test("the link drops only a report the server refuses as bad (400), found by halving the batch", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    await dashboard.stop();
    const ids = [setup.run("Quick"), setup.run("Lines"), setup.run("Quick")];
    for (const id of ids) await setup.ended(id);
    const poisoned = ids[1]!;
    dashboard.misbehave = (_, url, body) => {
      const reports = (body as { reports?: Report[] } | null)?.reports ?? [];
      const bad = reports.some((r) => r.type === "output" && r.runId === poisoned);
      return url.pathname.endsWith("/reports") && bad
        ? Response.json({ error: "reports[3].text is bad" }, { status: 400 })
        : null;
    };
    dashboard.start();
    await dashboard.until(() => setup.pending() === 0, "the spool to empty");
    assertWhole(dashboard, ids[0]!, "quick\n");
    assertWhole(dashboard, ids[2]!, "quick\n");
    assertEquals(reportsOf(dashboard, poisoned).map((r) => r.type), ["start", "end"]);
    const dropped = logs.filter((l) => l.includes("dropped it"));
    assertEquals(dropped, [
      `dashboard: the server refused an output report of run ${poisoned} (the server answered 400: reports[3].text is bad); dropped it`,
    ]);
  });
});

Deno.test("a job list the server refuses is not sent again blindly; koitab -d learns why from link-state.json", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs, paths, keys } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the first job list");
    const error = 'Invalid "jobs[0].command": must be at most 20000 characters';
    dashboard.misbehave = (request, url) =>
      request.method === "PUT" && url.pathname.endsWith("/jobs")
        ? Response.json({ error }, { status: 400 })
        : null;
    const puts = () => dashboard.count("/hosts/web1/jobs", "PUT");
    setup.jobs = parseKoitab(`"Long" @manual echo ${"x".repeat(30_000)}\n`).jobs;
    setup.link.tableChanged();
    await dashboard.until(() => puts() === 2, "the refused job list");
    const stateFile = async (wanted: boolean) => {
      const deadline = Date.now() + 20_000;
      while (await exists(paths.linkState) !== wanted) {
        if (Date.now() > deadline) {
          throw new Error(`link-state.json never ${wanted ? "came" : "went"}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await stateFile(true);
    const reason = `the server answered 400: ${error}`;
    assertEquals(logs.filter((line) => line.includes("job list")), [
      `dashboard: the server refused the job list (${reason}); the dashboard's list of this host stays out of date until the koitab changes (tried again in 0 min)`,
    ]);
    const state = JSON.parse(await Deno.readTextFile(paths.linkState));
    assertEquals(state, {
      jobListRefused: { dashboard: keys.id, host: "web1", at: state.jobListRefused.at, reason },
    });
    assertEquals((await Deno.stat(paths.linkState)).mode! & 0o777, 0o600);
    // Another table is sent at once (and refused again); the same one only after refusedRetryMs.
    setup.jobs = parseKoitab(`"Long" @manual echo ${"y".repeat(30_000)}\n`).jobs;
    setup.link.tableChanged();
    await dashboard.until(() => puts() === 3, "the new table's list");
    const third = Date.now();
    await dashboard.until(() => puts() === 4, "the retry of the refused list");
    const waited = Date.now() - third;
    assert(waited >= 1400, `sent again after ${waited} ms, before refusedRetryMs (1500)`);
    // Once the server takes a list, the record goes and the log says so.
    dashboard.misbehave = null;
    setup.jobs = parseKoitab('"Short" @manual echo ok\n').jobs;
    setup.link.tableChanged();
    await dashboard.until(
      () => dashboard.jobPuts.at(-1)?.jobs[0]?.name === "Short",
      "the accepted list",
    );
    await dashboard.until(() => logs.at(-1)?.includes("reaches") ?? false, "the log line");
    assertEquals(logs.at(-1), "dashboard: the job list reaches the dashboard again");
    await stateFile(false);
  });
});

Deno.test("the link falls back to polling each second when long-polls fail, and long-polls again later", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs } = setup;
    dashboard.misbehave = (_, url) =>
      url.pathname.endsWith("/manual") && url.searchParams.get("wait") !== "0"
        ? misbehaviours.error500()
        : null;
    await dashboard.until(
      () => logs.some((l) => l.includes("long-polling for manual runs failed")),
      "the fallback",
    );
    const say = setup.jobs.find((j) => j.name === "Say")!;
    const request = await setup.sign({ tag: say.tag, args: { Value: "via polling" } });
    const manualId = await dashboard.client(setup.keys.id).postManual(
      request.payload,
      request.signature,
    );
    await dashboard.until(() => dashboard.answer(manualId)?.state === "started", "the manual run");
    const runId = dashboard.answer(manualId)!.runId!;
    await setup.ended(runId);
    assertEquals(await Deno.readTextFile(`${setup.dir}/said`), "via polling");
    assert(dashboard.received.some((r) => r.query.get("wait") === "0"), "polled with wait=0");
    // The start report carries the manual id; koid's answer comes after it.
    await dashboard.until(
      () => reportsOf(dashboard, runId).some((r) => r.type === "end"),
      "the end",
    );
    const start = reportsOf(dashboard, runId)[0] as StartReport;
    assertEquals([start.run.manualId, start.run.trigger], [manualId, "manual"]);
    const answered = dashboard.reports.findIndex((r) =>
      r.type === "manual" && r.manualId === manualId
    );
    assert(answered > dashboard.reports.indexOf(start), "started after the start report");
    dashboard.misbehave = null;
    await dashboard.until(
      () => logs.includes("dashboard: long-polling for manual runs works again"),
      "long-polling again",
    );
    assertEquals(logs.filter((l) => l.includes("long-polling for manual runs failed")).length, 1);
  });
});

Deno.test("the link streams live output only up to the output limit; the end carries the kept output", async () => {
  await withLink(
    `"Loud" @manual head -c 200000 /dev/zero | tr '\\0' x\n`,
    async (setup) => {
      const id = setup.run("Loud");
      await setup.ended(id);
      await setup.dashboard.until(() => setup.pending() === 0, "the spool to empty");
      const reports = reportsOf(setup.dashboard, id);
      const live = reports.filter((r): r is OutputReport => r.type === "output");
      const streamed = live.filter((r) => r.stream === "stdout").map((r) => r.text).join("");
      assert(streamed.length <= 4096, `streamed ${streamed.length}`);
      assert(live.at(-1)!.text.includes("live output stopped after"), live.at(-1)!.text);
      const end = reports.at(-1) as EndReport;
      assertEquals(end.end.outputBytes, 200_000);
      assert(end.end.chunks.some((c) => c.text.includes("bytes elided")));
    },
    { outputLimit: 4096 },
  );
});

Deno.test("the link follows the link files: unlinked, relinked to another dashboard, spool kept apart", async () => {
  await withLink(JOBS, async (setup) => {
    const { dashboard, logs, paths } = setup;
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    await Deno.remove(paths.dashboard);
    await setup.link.check();
    assertEquals(setup.link.dashboardId, null);
    assert(logs.includes(`dashboard: unlinked from dashboard ${setup.keys.id}`), logs.join("\n"));
    const unreported = setup.run("Quick");
    await setup.ended(unreported);
    const other = newKeys();
    await dashboard.create(other);
    await writeDashboardConfig(paths, { ...other, server: dashboard.url });
    await setup.link.check();
    assertEquals(setup.link.dashboardId, other.id);
    await dashboard.until(
      () => dashboard.jobPuts.length === 2,
      "the job list, to the new dashboard",
    );
    assertEquals(dashboard.received.at(-1)!.authorization, `Bearer ${other.apiKey}`);
    assertEquals(reportsOf(dashboard, unreported), [], "a run while unlinked is not reported");
  });
});

// ---------------------------------------------------------------------------
// koid itself, as a process.

/** koid's host name on the test dashboards. */
const KOID_ENV = { KOI_HOST: "web1" };

async function withKoid(
  koitab: string,
  fn: (
    context: { dir: string; paths: KoiPaths; koid: Koid; dashboard: TestDashboard },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_link_koid_" });
  const paths = koiPaths(dir);
  await Deno.writeTextFile(paths.koitab, koitab.replaceAll("$DIR", dir));
  const dashboard = await TestDashboard.start();
  const koid = new Koid(dir, [], { env: KOID_ENV });
  try {
    await koid.waitFor(/^koid: (loaded|no koitab)/);
    await fn({ dir, paths, koid, dashboard });
  } finally {
    await koid.exit("SIGKILL");
    await dashboard.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("koid links and unlinks while running, without a restart", async () => {
  await withKoid(`"Quick" @manual echo quick\n`, async ({ paths, koid, dashboard }) => {
    assert(!koid.lines.some((line) => line.includes("dashboard")), "nothing about a dashboard");
    const keys = newKeys();
    await dashboard.create(keys);
    await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
    await koid.waitFor(
      new RegExp(
        `^koid: dashboard: linked to dashboard ${keys.id} at ${dashboard.url} as host "web1"$`,
      ),
    );
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    assertEquals(dashboard.jobPuts[0]!.jobs.map((job) => job.name), ["Quick"]);
    await Deno.remove(paths.dashboard);
    await koid.waitFor(new RegExp(`^koid: dashboard: unlinked from dashboard ${keys.id}$`));
    const status = await koid.exit("SIGTERM");
    assertEquals(status.code, 0);
    assert(!koid.lines.some((line) => line.includes(keys.apiKey)), "the key is never logged");
  });
});

Deno.test("koid does not link without the data key, says how to add it, and links once it is there", async () => {
  await withKoid(`"Quick" @manual echo quick\n`, async ({ paths, koid, dashboard }) => {
    const keys = newKeys();
    await dashboard.create(keys);
    await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
    await koid.waitFor(/^koid: dashboard: linked to dashboard /);
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    // As a link made before the data key: koid stops using it, and sends nothing in plain.
    await Deno.remove(paths.dataKey);
    await koid.waitFor(
      new RegExp(
        `^koid: dashboard: cannot use the dashboard link: ${
          escape(paths.dataKey)
        } is missing: .*"koitab -d join ${escape(dashboard.url)}/d/${keys.id}" adds it`,
      ),
    );
    const calls = dashboard.received.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assertEquals(dashboard.received.length, calls, "no call without the data key");
    // Another key (a new password): the link is made again with it.
    const dataKey = randomKey();
    await Deno.writeTextFile(paths.dataKey, `${dataKey}\n`, { mode: 0o600 });
    await koid.waitForCount(/^koid: dashboard: linked to dashboard /, 2);
    const status = await koid.exit("SIGTERM");
    assertEquals(status.code, 0);
    assert(!koid.lines.some((line) => line.includes(dataKey)), "the key is never logged");
  });
});

Deno.test("a run left unfinished by a hard-killed koid is reported interrupted by the next koid", async () => {
  const keys = newKeys();
  await withKoid(
    `"Long" @reboot echo started; sleep 60\n`,
    async ({ dir, paths, koid, dashboard }) => {
      await dashboard.create(keys);
      await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
      await koid.waitFor(/^koid: dashboard: linked to dashboard /);
      // The boot is written down before the @reboot run starts (the link may come first).
      await koid.waitFor(/^koid: "Long" started \(run /);
      // Forgetting the boot the @reboot run ran in (as a reboot would) makes the next
      // start of koid run it again, linked.
      await koid.exit("SIGKILL");
      await Deno.remove(paths.lastBoot);
      const second = new Koid(dir, [], { env: KOID_ENV });
      let runId = "";
      try {
        await second.waitFor(/^koid: "Long" started \(run /);
        runId = /run ([0-9a-z]+),/.exec(
          second.lines.find((l) => l.includes('"Long" started'))!,
        )![1]!;
        await dashboard.until(
          () => dashboard.reports.some((r) => r.type === "start" && r.run.id === runId),
          "the second koid's run start",
        );
        await second.exit("SIGKILL");
      } finally {
        if (second.running) await second.exit("SIGKILL");
      }
      // Kill the orphaned sleep of that run's process group.
      const pid = Number(
        /pid ([0-9]+)\)/.exec(second.lines.find((l) => l.includes('"Long" started'))!)![1],
      );
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      const third = new Koid(dir, [], { env: KOID_ENV });
      try {
        await third.waitFor(
          /^koid: marked 1 run\(s\) left unfinished by a stopped koid as interrupted$/,
        );
        await dashboard.until(
          () => dashboard.reports.some((r) => r.type === "end" && r.runId === runId),
          "the interrupted run's end",
        );
        const end = dashboard.reports.find((r) => r.type === "end" && r.runId === runId)!;
        assert(end.type === "end");
        assertEquals([end.end.status, end.end.exitCode, end.end.error], [
          "interrupted",
          null,
          "koid stopped before the run ended",
        ]);
      } finally {
        await third.exit("SIGKILL");
        const started = [...koid.lines, ...third.lines].filter((l) => l.includes('"Long" started'));
        for (const line of started) {
          try {
            Deno.kill(-Number(/pid ([0-9]+)\)/.exec(line)![1]), "SIGKILL");
          } catch {
            // Already gone.
          }
        }
      }
    },
  );
});

Deno.test("while history.db cannot be written, runs reach the dashboard live from memory, and manual runs are refused", async () => {
  const koitab = `"Hello" @reboot echo hello; echo world >&2
"Touch" @manual echo touched > $DIR/touched
`;
  const full = Object.assign(new Error("database or disk is full"), { errcode: 13 });
  const reported: [string, unknown][] = [];
  let failing = true;
  await withLink(koitab, async (setup) => {
    const { dashboard, logs } = setup;
    const id = setup.run("Hello");
    await setup.ended(id);
    await dashboard.until(() => reportsOf(dashboard, id).at(-1)?.type === "end", "the run's end");
    assertWhole(dashboard, id, "hello\n", "world\n");
    assertEquals(
      logs.filter((line) => line.startsWith("dashboard: cannot spool reports")),
      [
        "dashboard: cannot spool reports (database or disk is full): sending them from memory (up to 10000 reports) while the dashboard is reachable; those unsent when koid stops are lost",
      ],
    );
    // A manual run: its signature cannot be recorded, so a replay could not be refused.
    const api = dashboard.client(setup.keys.id);
    const { payload, signature } = await setup.sign();
    const manualId = await api.postManual(payload, signature);
    await dashboard.until(() => dashboard.answer(manualId)?.state === "refused", "the refusal");
    assertEquals(
      dashboard.answer(manualId)!.reason,
      "koid cannot read its record of accepted manual runs (database or disk is full), so it cannot rule out a replay: manual runs are refused until it can",
    );
    assert(!setup.events.some((e) => e.type === "start" && e.run.trigger === "manual"));
    assertEquals(reported.filter(([area]) => area === "seen").length > 0, true);
    // Room again: manual runs run (the spool's return is report_queue_test.ts's).
    failing = false;
    const second = await setup.sign();
    const started = await api.postManual(second.payload, second.signature);
    await dashboard.until(() => dashboard.answer(started)?.state === "started", "the manual run");
  }, {
    database: (history) => ({
      database: () => {
        if (failing) throw full;
        return history.database;
      },
      report: (area, error) => reported.push([area, error]),
      replacedAt: null,
    }),
  });
});

Deno.test("rogue server: koid refuses every forged, replayed, stale or ill-typed manual run, and runs a valid one byte-exact", async () => {
  const koitab = `[Rogue]
"Touch" @manual echo run >> $DIR/runs; printf \\%s {{Value}} > $DIR/value; echo {{Count, int, 1}} {{Flag, bool}}
"Nightly" 0 3 * * * echo run >> $DIR/runs
`;
  await withKoid(koitab, async ({ dir, paths, koid, dashboard }) => {
    const keys = newKeys();
    await dashboard.create(keys);
    await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
    await dashboard.until(() => dashboard.jobPuts.length === 1, "the job list");
    const { jobs } = parseKoitab(koitab.replaceAll("$DIR", dir));
    const [touch, nightly] = jobs as [KoitabJob, KoitabJob];
    const payload = (overrides: Partial<PlainPayload> = {}): PlainPayload => ({
      v: 2,
      dashboard: keys.id,
      host: "web1",
      tag: touch.tag,
      ts: Date.now(),
      args: { Value: "harmless", Count: 2, Flag: true },
      ...overrides,
    });
    const sign = (text: string) => signRun(keys.runKey, text);
    const signed = async (p: PlainPayload | string) => {
      const text = typeof p === "string" ? p : await sealedPayload(keys.dataKey, p);
      return { payload: text, signature: await sign(text) };
    };
    const original = await signed(payload());
    const originalArgs = (JSON.parse(original.payload) as { args: Record<string, string> }).args;
    const unopenable = (name: string) =>
      `argument "${name}" does not decrypt with this machine's data key`;
    const rogue: [string, { payload: unknown; signature: unknown }, string][] = [
      [
        "tampered arguments",
        {
          ...original,
          payload: original.payload.replace(originalArgs.Value!, originalArgs.Count!),
        },
        "the signature does not verify under this machine's run key",
      ],
      [
        "sealed values replayed into a new request",
        await signed(
          payloadText({ ...payload({ ts: Date.now() + 1 }), args: originalArgs }),
        ),
        unopenable("Value"),
      ],
      [
        "sealed values swapped between arguments",
        await signed(
          payloadText({
            ...JSON.parse(original.payload),
            args: { ...originalArgs, Value: originalArgs.Count!, Count: originalArgs.Value! },
          }),
        ),
        unopenable("Value"),
      ],
      [
        "a value in plain text",
        await signed(payloadText({ ...payload(), args: { Value: "harmless" } })),
        unopenable("Value"),
      ],
      [
        "a value sealed with another data key",
        await signed(await sealedPayload(randomKey(), payload())),
        unopenable("Value"),
      ],
      [
        "a swapped tag",
        { ...original, payload: original.payload.replace(touch.tag, nightly.tag) },
        "the signature does not verify under this machine's run key",
      ],
      [
        "a signature by another key",
        {
          payload: original.payload,
          signature: await signRun(randomKey(), original.payload),
        },
        "the signature does not verify under this machine's run key",
      ],
      [
        "another host",
        await signed(payload({ host: "web2" })),
        'the request is for another host ("web2")',
      ],
      [
        "another dashboard",
        await signed(payload({ dashboard: "another_dashboard_0001" })),
        'the request is for another dashboard ("another_dashboard_0001")',
      ],
      [
        "a stale timestamp",
        await signed(payload({ ts: Date.now() - 6 * 60_000 })),
        "more than 5 minutes from now",
      ],
      [
        "an unknown tag",
        await signed(payload({ tag: "j0000000000000000" })),
        'no job with tag "j0000000000000000" in the local koitab',
      ],
      [
        "a job that is not @manual",
        await signed(payload({ tag: nightly.tag, args: {} })),
        `the job with tag "${nightly.tag}" is not an @manual job`,
      ],
      [
        "an int as a string",
        await signed(payload({ args: { Value: "x", Count: "5" } })),
        'argument "Count" must be a whole number, got "5"',
      ],
      [
        "a bool as a string",
        await signed(payload({ args: { Value: "x", Flag: "true" } })),
        'argument "Flag" must be true or false, got "true"',
      ],
      [
        "a string as a number",
        await signed(payload({ args: { Value: 5 } })),
        'argument "Value" must be a string, got 5',
      ],
      ["a payload that is not JSON", await signed("{not json"), "the payload is not JSON"],
      [
        "a huge payload",
        await signed(payload({ args: { Value: "x".repeat(1024 * 1024) } })),
        "the payload is larger than 1 MiB",
      ],
      [
        "no payload text",
        { payload: { v: 1 }, signature: original.signature },
        "the request has no payload text or no signature",
      ],
    ];
    // A rogue server hands these out; the real one would refuse to queue most of them.
    const ids = rogue.map(([, request]) =>
      dashboard.inject("web1", request.payload, request.signature)
    );
    await dashboard.until(
      () => ids.every((id) => dashboard.answer(id)?.state === "refused"),
      "every refusal",
    );
    for (const [i, [what, , reason]] of rogue.entries()) {
      const answer = dashboard.answer(ids[i]!)!;
      assert(answer.reason?.includes(reason), `${what}: ${answer.reason}`);
      await koid.waitFor(new RegExp(`^koid: manual run refused: .*${escape(reason)}`));
    }
    assertEquals(dashboard.reports.filter((r) => r.type === "start").length, 0, "nothing ran");
    assert(!await exists(`${dir}/runs`), "no job ran");

    // A valid run, with a hostile value: it runs once, the value arrives byte-exact.
    const hostile = "'; rm -rf ~ #";
    const valid = await signed(payload({ args: { Value: hostile, Count: 7, Flag: false } }));
    const api = dashboard.client(keys.id);
    const validId = await api.postManual(valid.payload, valid.signature);
    await dashboard.until(() => dashboard.answer(validId)?.state === "started", "the valid run");
    const runId = dashboard.answer(validId)!.runId!;
    await dashboard.until(
      async () => (await api.run(runId, null)).run.status === "succeeded",
      "its end",
    );
    assertEquals(await Deno.readTextFile(`${dir}/value`), hostile);
    const answer = await api.run(runId, null);
    const output = await openOutput(
      keys.dataKey,
      keys.id,
      { ...answer.run, host: "web1" },
      answer.output,
    );
    assertEquals(output.map((c) => c.text).join(""), "7 false\n");
    const start = dashboard.reports.find((r) => r.type === "start" && r.run.id === runId);
    assertEquals(start?.type === "start" ? start.run.manualId : null, validId);

    // The same request again: a replay.
    const replay = await api.postManual(valid.payload, valid.signature);
    await dashboard.until(
      () => dashboard.answer(replay)?.state === "refused",
      "the replay's refusal",
    );
    assertEquals(
      dashboard.answer(replay)!.reason,
      "the request was already received once (a replay)",
    );
    assertEquals(await Deno.readTextFile(`${dir}/runs`), "run\n", "exactly one run");
    assert(koid.running, "koid kept running throughout");
    const status = await koid.exit("SIGTERM");
    assertEquals(status.code, 0, koid.lines.join("\n"));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
