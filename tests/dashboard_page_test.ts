/**
 * The dashboard page end to end: Chromium (through `_browser.ts`) against a real
 * dashboard server and a real koid linked to it with `koitab -d new`, as a user
 * meets them. Sign in, the jobs, a run's output, a manual run with hostile
 * arguments, koid's refusal, signing out; no third-party request, no console
 * error, no CSP violation, no horizontal scrolling at 360 px. Screenshots of each
 * view go to `artifacts/` (never tracked); `deno task screenshot` sets
 * `KOI_SCREENSHOT=docs/screenshot.png` to copy the jobs view there for the README.
 *
 * The pure parts of the page (terminal colours, times and durations) are tested
 * first, without a browser. The browser tests skip, with a note, without Chromium.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import {
  Browser,
  chromiumInstalled,
  chromiumPath,
  isLoopbackUrl,
  type Page,
  visibleText,
  waitForText,
} from "./_browser.ts";
import { runEntry } from "./_entry.ts";
import { AnsiReader } from "../lib/ui/ansi.js";
import {
  argumentWords,
  formatDuration,
  formatRelative,
  formatTime,
  readArgumentField,
  zoneOffset,
  zonesAgree,
} from "../lib/ui/format.js";
import { readDashboardConfig } from "../lib/link/config.ts";
import { type DashboardServer, startServer } from "../lib/server/server.ts";
import { CONTENT_SECURITY_POLICY, PROTOCOL_FILES, UI_FILES } from "../lib/page/page.ts";
import { parseCron } from "../lib/cron.ts";
import { koiPaths } from "../lib/koidir.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { isEnvelope, seal, UNDECRYPTABLE_TEXT } from "../lib/protocol/envelope.js";
import { Api, type JobChanges, type JobRow } from "../lib/ui/api.js";
import { JobsFeed } from "../lib/ui/jobs_feed.js";
import { CHUNK } from "../lib/ui/commands.js";
import { base64url } from "../lib/protocol/keys.ts";
import { contexts, openJob, openManualRun, openValue } from "../lib/protocol/sealed.js";
import type { ArgSpec, Job, ManualRun, Report } from "../lib/protocol/wire.ts";
import { entryFlags } from "../tools/task_flags.ts";
import { ARG_CASES } from "./_arg_cases.ts";
import { manualJob } from "./_reports.ts";

const root = new URL("../", import.meta.url);
const artifacts = new URL("artifacts/", root).pathname;
const installed = chromiumInstalled();
/** Where `deno task screenshot` wants the jobs view, relative to the root; unset in tests. */
const screenshotTo = Deno.env.get("KOI_SCREENSHOT") || null;
if (!installed) {
  console.warn(
    `dashboard_page_test.ts: browser tests skipped, no Chromium at ${chromiumPath()} ` +
      "(apt-get install chromium, or set CHROMIUM)",
  );
}

Deno.test("AnsiReader: colours, bold and reset as styles; other escapes dropped", () => {
  const reader = new AnsiReader();
  const pieces = reader.read("a\x1b[1;31mB\x1b[0mc\x1b[92md\x1b[39me\x1b[2J\x1b]0;t\x07f\x1b(Bg");
  assertEquals(pieces, [
    { text: "a", color: null, bold: false },
    { text: "B", color: 1, bold: true },
    { text: "c", color: null, bold: false },
    { text: "d", color: 10, bold: false },
    { text: "efg", color: null, bold: false },
  ]);
  assertEquals(reader.read("\x1b[38;5;196mx\x1b[mz\x07\r\n\tq\r"), [
    { text: "xz\n\tq\n", color: null, bold: false },
  ]);
});

Deno.test("AnsiReader: an escape cut by a chunk boundary, and the style, carry over", () => {
  const reader = new AnsiReader();
  assertEquals(reader.read("x\x1b[3", "stdout"), [{ text: "x", color: null, bold: false }]);
  assertEquals(reader.read("oops", "stderr"), [{ text: "oops", color: null, bold: false }]);
  assertEquals(reader.read("4my", "stdout"), [{ text: "y", color: 4, bold: false }]);
  assertEquals(reader.read("z"), [{ text: "z", color: 4, bold: false }]);
});

Deno.test("format: durations, relative times and local times in words", () => {
  assertEquals(
    [0, 420, 9_999, 12_000, 185_000, 3_600_000, 7_800_000, 90_000_000].map(formatDuration),
    ["0 ms", "420 ms", "9.9 s", "12 s", "3 min 5 s", "1 h", "2 h 10 min", "1 d 1 h"],
  );
  const now = Date.UTC(2026, 2, 10, 12, 0, 0);
  assertEquals(formatRelative(now + 180_000, now), "in 3 min");
  assertEquals(formatRelative(now - 5_000, now), "5 s ago");
  assertEquals(formatRelative(now + 200, now), "now");
  assertEquals(formatRelative(now - 2 * 86_400_000, now), "2 d ago");
  const utc = { timeZone: "UTC" };
  assertEquals(formatTime(now + 65_000, now, utc), "12:01");
  assertEquals(formatTime(now + 65_000, now, { ...utc, seconds: true }), "12:01:05");
  assertEquals(formatTime(now + 86_400_000, now, utc), "Wed 11 Mar, 12:00");
  assertEquals(formatTime(Date.UTC(2025, 11, 31, 23, 5), now, utc), "Wed, 31 Dec 2025, 23:05");
  assertEquals(formatTime(now, now, { timeZone: "Asia/Kolkata" }), "17:30");
});

Deno.test("format: arguments as words, and argument fields as koid and koitab read them", () => {
  assertEquals(argumentWords({ Who: "'; rm -rf ~ #", N: 3, Loud: true, Tag: "x" }), [
    `Who="'; rm -rf ~ #"`,
    "N=3",
    "Loud=true",
    "Tag=x",
  ]);
  // The table's verdicts (the same in Chromium: see the manual form's steps below).
  for (const [type, text, verdict] of ARG_CASES) {
    const read = readArgumentField(type, text);
    assertEquals("value" in read ? read.value : null, verdict, `${type} ${JSON.stringify(text)}`);
  }
  const int = (text: string) => readArgumentField("int", text);
  const range = "a whole number from -9,007,199,254,740,991 to 9,007,199,254,740,991";
  assertEquals(
    ["42", "+3", "4.5", "1e3", "", " -7 "].map(int),
    [
      { value: 42 },
      ...Array(4).fill({ problem: "Type a whole number, such as 42" }),
      { problem: "Remove the spaces around the number" },
    ],
  );
  assertEquals(int("99999999999999999999"), { problem: `Too big: type ${range}` });
  assertEquals(int("-9007199254740992"), { problem: `Too small: type ${range}` });
  assertEquals(readArgumentField("string", "a\0b"), {
    problem: "Contains a NUL byte, which no command line can carry",
  });
});

Deno.test("format: time zones as offsets, and whether two zones show the same clock", () => {
  const winter = Date.UTC(2026, 0, 15, 12);
  const summer = Date.UTC(2026, 6, 15, 12);
  assertEquals(zoneOffset("UTC", winter), "UTC");
  assertEquals(zoneOffset("Asia/Kolkata", winter), "UTC+5:30");
  assertEquals(zoneOffset("America/New_York", summer), "UTC-4");
  assert(zonesAgree("Europe/Paris", "Europe/Berlin", summer));
  assert(zonesAgree("UTC", "Europe/London", winter));
  assert(!zonesAgree("UTC", "Europe/London", summer));
});

Deno.test("the jobs feed opens commands when asked, the rest in idle time, each once", async () => {
  const id = "Zm9vYmFyYmF6cXV4MTIzNA";
  const dataKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const job = async (i: number, command: string): Promise<JobRow> => {
    const { next: _next, ...listed } = manualJob(
      `t${i}`,
      i + 1,
      await seal(dataKey, contexts(id, "web1").command(`t${i}`), command),
    );
    return {
      ...listed,
      host: "web1",
      lastRun: null,
      description: "by hand",
      due: null,
      nextRun: null,
      state: "never",
      refreshAt: null,
    };
  };
  const count = 2 * CHUNK + 50;
  const jobs = await Promise.all(Array.from({ length: count }, (_, i) => job(i, `echo ${i}`)));
  /** An API whose answers are given, and which counts the commands it opens. */
  class GivenApi extends Api {
    answers: JobChanges[] = [];
    commandsOpened = 0;
    override jobChanges(): Promise<JobChanges | null> {
      return Promise.resolve(this.answers.shift() ?? null);
    }
    override openCommand(row: Pick<JobRow, "host" | "tag" | "command">): Promise<string> {
      this.commandsOpened++;
      return super.openCommand(row);
    }
  }
  const api = new GivenApi(id, "key", dataKey);
  // The page is idle when the test says so.
  const idle: (() => void)[] = [];
  const feed = new JobsFeed(api, () => new Promise((resolve) => idle.push(resolve)));
  /** Lets the page be idle once, and waits until the feed waits for it again (or is done). */
  const idleOnce = async (opened: number) => {
    idle.shift()!();
    while (api.commandsOpened < opened || (idle.length === 0 && !feed.commandsOpened())) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };

  api.answers.push({ cursor: "c1", full: true, jobs, replaced: [], hosts: [] });
  await feed.update();
  assertEquals(feed.jobs.length, count);
  assertEquals([feed.command(feed.jobs[0]!), api.commandsOpened], [null, 0]);
  assertEquals(feed.jobs[0]!.command, jobs[0]!.command);
  // Asked for: opened at once.
  assertEquals(await feed.openCommands([feed.jobs[5]!]), ["echo 5"]);
  assertEquals([feed.command(feed.jobs[5]!), api.commandsOpened], ["echo 5", 1]);
  // The rest a chunk each time the page is idle, the one opened not again.
  assertEquals(idle.length, 1);
  await idleOnce(1 + CHUNK);
  assertEquals(api.commandsOpened, 1 + CHUNK);
  assertEquals(feed.command(feed.jobs[CHUNK]!), `echo ${CHUNK}`);
  assertEquals(feed.command(feed.jobs[CHUNK + 1]!), null);
  assertEquals(feed.commandsOpened(), false);
  await idleOnce(1 + 2 * CHUNK);
  await idleOnce(count);
  assertEquals(api.commandsOpened, count);
  assertEquals(feed.commandsOpened(), true);
  assertEquals(feed.jobs.map((row) => feed.command(row)), jobs.map((_, i) => `echo ${i}`));

  // The host's list again, one command changed: only that one is opened again, in idle time
  // (a list this long is not waited for).
  const changed = [...jobs];
  changed[7] = await job(7, "echo seven");
  api.answers.push({ cursor: "c2", full: false, jobs: changed, replaced: ["web1"], hosts: null });
  await feed.update();
  assertEquals(feed.command(feed.jobs[7]!), null);
  assertEquals(feed.command(feed.jobs[8]!), "echo 8");
  await idleOnce(count + 1);
  assertEquals([feed.command(feed.jobs[7]!), api.commandsOpened], ["echo seven", count + 1]);
  assertEquals(feed.commandsOpened(), true);

  // One job changed: its command comes with the update.
  const one = await job(9, "echo nine");
  api.answers.push({ cursor: "c3", full: false, jobs: [one], replaced: [], hosts: null });
  assertEquals(await feed.update(), new Set(["web1/t9"]));
  assertEquals([feed.command(feed.jobs[9]!), api.commandsOpened], ["echo nine", count + 2]);

  // The views that need the commands in plain text get copies; one that does not open says so.
  const moved = { ...one, tag: "t10", command: one.command };
  api.answers.push({ cursor: "c4", full: false, jobs: [moved], replaced: [], hosts: null });
  await feed.update();
  const [nine, ten] = await feed.withCommands(feed.jobs.slice(9, 11));
  assertEquals([nine!.command, ten!.command], ["echo nine", UNDECRYPTABLE_TEXT]);
  assertEquals(feed.jobs[9]!.command, one.command);
});

Deno.test("the page opens a listed job's last run, listed without its host and tag, with the row's host", async () => {
  const kv = await Deno.openKv(":memory:");
  const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
  try {
    const id = "Zm9vYmFyYmF6cXV4MTIzNA";
    const apiKey = "k".repeat(43);
    const dataKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const created = await fetch(`${server.url}/api/dashboards`, {
      method: "POST",
      body: JSON.stringify({ id, apiKey }),
    });
    assertEquals(created.status, 201);
    const call = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${server.url}/api/d/${id}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(body),
      });
      await response.body?.cancel();
      assert(response.ok, `${method} ${path}: ${response.status}`);
    };
    // koid's list and a failed run with arguments and an error, sealed as koid seals them.
    const sealer = new ReportSealer(id, "web1", dataKey);
    await call("PUT", "/hosts/web1/jobs", { jobs: await sealer.jobs([manualJob("t1", 1, "x")]) });
    const startedAt = Date.now() - 60_000;
    const run = {
      id: "r1",
      name: "Old name",
      section: "Old section",
      trigger: "manual",
      args: { Who: "moon", N: 3 },
      scheduledFor: null,
      startedAt,
      manualId: null,
    } as const;
    const ended = {
      finishedAt: startedAt + 1500,
      exitCode: null,
      signal: null,
      status: "not-started",
      error: "no such user",
      outputBytes: 0,
    } as const;
    const reports: Report[] = [
      { type: "start", run: { ...run, tag: "t1" } },
      { type: "end", runId: "r1", end: { ...ended, chunks: [] } },
    ];
    await call("POST", "/hosts/web1/reports", { reports: await sealer.reports(reports) });

    // The page's first call, read as the page reads it.
    const first = fetch(`${server.url}/api/d/${id}/jobs?since=0`, {
      headers: { authorization: `Bearer ${apiKey}`, "if-none-match": '"0"' },
    });
    const api = new Api(id, apiKey, dataKey, first);
    const changes = await api.jobChanges("0", []);
    const [row] = changes!.jobs;
    // Opened for its host, the row's: the run as the server keeps it, but its host and tag.
    assertEquals(row!.lastRun, { ...run, ...ended });
    assert(!("next" in row!), "no next times");
    // As another host's, it does not open: the host that opens it is the row's.
    const sealed = await fetch(`${server.url}/api/d/${id}/jobs`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    const [listed] = (await sealed.json()).jobs as JobRow[];
    assertEquals((await api.openJob(listed!)).lastRun, { ...run, ...ended });
    const moved = await api.openJob({ ...listed!, host: "web2" });
    assertEquals([moved.lastRun!.args, moved.lastRun!.error], [
      { Who: UNDECRYPTABLE_TEXT, N: UNDECRYPTABLE_TEXT },
      UNDECRYPTABLE_TEXT,
    ]);
  } finally {
    await server.shutdown();
    kv.close();
  }
});

Deno.test("the server serves every file of the page, and nothing else of ui/", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL("../lib/ui/", import.meta.url))) {
    if (entry.name !== "deno.json") names.push(entry.name);
  }
  assertEquals(Object.keys(UI_FILES).sort(), names.sort());
});

Deno.test("the server serves the page every protocol/ module it imports, and only browser modules", async () => {
  const imported = new Set<string>();
  for (const name of Object.keys(UI_FILES).filter((file) => file.endsWith(".js"))) {
    const text = await Deno.readTextFile(new URL(`../lib/ui/${name}`, import.meta.url));
    for (const match of text.matchAll(/from "\.\.\/protocol\/([^"]+)"/g)) imported.add(match[1]!);
  }
  for (const name of imported) assert(Object.hasOwn(PROTOCOL_FILES, name), name);
  // The contract's browser half: plain JavaScript (checked for Deno APIs below) whose own
  // imports are served too. Its TypeScript half (schema, manual-run checks) is not served.
  for (const name of Object.keys(PROTOCOL_FILES)) {
    assert(name.endsWith(".js"), name);
    const text = await Deno.readTextFile(new URL(`../lib/protocol/${name}`, import.meta.url));
    for (const match of text.matchAll(/from "\.\/([^"]+)"/g)) {
      assert(Object.hasOwn(PROTOCOL_FILES, match[1]!), `${name} imports ${match[1]}`);
    }
  }
});

Deno.test("the page's scripts use no Deno API, no HTML parsing and no inline handlers", async () => {
  const scripts = [
    ...Object.keys(UI_FILES).filter((file) => file.endsWith(".js")).map((file) => `ui/${file}`),
    ...Object.keys(PROTOCOL_FILES).map((file) => `protocol/${file}`),
  ];
  for (const name of scripts) {
    const text = await Deno.readTextFile(new URL(`../lib/${name}`, import.meta.url));
    assert(text.startsWith("// @ts-check\n"), `${name} starts with // @ts-check`);
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    for (const banned of [/\bDeno\./, /innerHTML|outerHTML|insertAdjacentHTML/, /\.write\(/]) {
      assert(!banned.test(code), `${name} uses ${banned}`);
    }
    assert(!/\beval\(|new Function\(/.test(code), `${name} evaluates code`);
  }
});

/** The koitab koid runs: a manual job with typed arguments, boot jobs, scheduled ones. */
const KOITAB = `30 2 * * * echo nightly backup
[Admin]
"Greet" @manual printf '\\%s|\\%s|\\%s\\n' {{Who}} {{Count, int, 3}} {{Loud, bool}}
"Slow" @manual for i in 1 2 3; do echo "step $i"; sleep 1; done
[Boot]
"Hostile" @reboot printf '<script>alert(1)</script>\\n'
"Broken" @reboot echo "checking disk"; printf '\\033[1;31mERROR\\033[0m disk full\\n' >&2; exit 3
"Tick" * * * * * echo tick
`;
const PASSWORD = "Koi page test, plum-8-orbit!";
const HOSTILE = "'; rm -rf ~ #";

/** A job as listed by the API. */
interface ListedJob {
  host: string;
  tag: string;
  name: string | null;
  section: string | null;
  schedule: string;
  state: string;
  description: string;
  lastRun: { id: string; status: string } | null;
  args: ArgSpec[];
  [field: string]: unknown;
}

/** The dashboard API, called as the page would, for the test's own checks and data. */
class ApiClient {
  constructor(readonly server: string, readonly id: string, readonly apiKey: string) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.server}/api/d/${this.id}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === "" ? null : JSON.parse(text);
  }

  async jobs(): Promise<ListedJob[]> {
    return ((await this.call("GET", "/jobs")) as { jobs: ListedJob[] }).jobs;
  }
}

/** Polls `check` every 50 ms until it gives a value; fails after `ms` saying what it waited for. */
async function until<T>(check: () => Promise<T | undefined>, what: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Ten minutes: how long before the test began the second host was last heard from. */
const QUIET_MS = 10 * 60_000;

/**
 * The second host's job list, as its koid would have sent it at `at`: the manual
 * job too (so the form offers a choice of machine), a backup job with a month of
 * nightly runs, an every-minute heartbeat, and a section named like the host.
 */
function web2Jobs(greet: ListedJob, at: number) {
  const next = (schedule: string) => {
    const cron = parseCron(schedule, { timezone: "UTC" });
    const times: string[] = [];
    let time: Date | null = new Date(at);
    for (let i = 0; i < 5 && time !== null; i++) {
      time = cron.next(time);
      if (time !== null) times.push(time.toISOString());
    }
    return times;
  };
  const job = (tag: string, name: string, section: string, schedule: string, command: string) => ({
    tag,
    name,
    section,
    schedule,
    timezone: "UTC",
    args: [],
    next: next(schedule),
    command,
    line: 1,
  });
  const {
    host: _host,
    lastRun: _last,
    description: _d,
    due: _due,
    nextRun: _next,
    state: _s,
    ...greetJob
  } = greet;
  return [
    job("jbackup", "Nightly backup", "Backups", "30 2 * * *", "restic backup /srv"),
    job("jprune", "Prune snapshots", "Backups", "*/15 * * * *", "restic forget --prune"),
    job("jbeat", "Heartbeat", "Backups", "* * * * *", "touch /run/beat"),
    job("jreport", "Weekly report", "Reports", "0 8 * * 1", "report --weekly | mail team"),
    job("jdisk", "Disk check", "WEB2", "0 * * * *", "df -h"),
    { ...greetJob, line: 9 } as ReturnType<typeof job>,
  ];
}

/** The reports of a scheduled run of the backup job, ok or failed. */
function backupRun(id: string, startedAt: number, failed: boolean): unknown[] {
  const duration = failed ? 41_000 : 95_000 + ((Math.floor(startedAt / 1000) * 7919) % 60) * 1000;
  return [
    {
      type: "start",
      run: {
        id,
        tag: "jbackup",
        name: "Nightly backup",
        section: "Backups",
        trigger: "schedule",
        args: {},
        scheduledFor: startedAt,
        startedAt,
        manualId: null,
      },
    },
    {
      type: "end",
      runId: id,
      end: {
        finishedAt: startedAt + duration,
        exitCode: failed ? 1 : 0,
        signal: null,
        status: failed ? "failed" : "succeeded",
        error: null,
        outputBytes: 40,
        chunks: failed
          ? [{ stream: "stdout", text: "scanning /srv\n" }, {
            stream: "stderr",
            text: "Fatal: repository is locked\n",
          }]
          : [{ stream: "stdout", text: "scanning /srv\nsnapshot saved\n" }],
      },
    },
  ];
}

/**
 * A second host, made through the API as koid would (no koid behind it), last
 * heard from ten minutes ago (`asWeb2` calls as of then): its job list, and a
 * month of nightly backups, a few failed, for a history worth a plot.
 */
async function addSecondHost(
  greet: ListedJob,
  asWeb2: (method: string, path: string, body: unknown) => Promise<void>,
): Promise<void> {
  const now = Date.now();
  await asWeb2("PUT", "/jobs", { jobs: web2Jobs(greet, now - QUIET_MS) });
  const reports: unknown[] = [];
  const day = 86_400_000;
  for (let i = 24; i >= 1; i--) {
    const startedAt = Math.floor((now - i * day) / day) * day + 2.5 * 3_600_000;
    reports.push(...backupRun(`backup${i}`, startedAt, i === 17 || i === 6));
  }
  // The prune job last ran an hour ago: it is late.
  const pruneAt = now - 3_600_000;
  reports.push({
    type: "start",
    run: {
      id: "prune1",
      tag: "jprune",
      name: "Prune snapshots",
      section: "Backups",
      trigger: "schedule",
      args: {},
      scheduledFor: pruneAt,
      startedAt: pruneAt,
      manualId: null,
    },
  }, {
    type: "end",
    runId: "prune1",
    end: {
      finishedAt: pruneAt + 4_000,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      outputBytes: 0,
      chunks: [],
    },
  });
  await asWeb2("POST", "/reports", { reports });
}

/** A running koid: stderr kept for failure messages. */
function startKoid(dir: string): { child: Deno.ChildProcess; log: () => Promise<string> } {
  const flags = entryFlags(Deno.readTextFileSync(new URL("deno.json", root)));
  const child = new Deno.Command(Deno.execPath(), {
    // Tests never mail: the machine's own sendmail must not get their output.
    args: ["run", ...flags.koid, new URL("koid.ts", root).pathname, "--mail-command", "off"],
    cwd: root.pathname,
    env: { KOI_DIR: dir, KOI_HOST: "web1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const text = new Response(child.stderr).text();
  return { child, log: () => text };
}

/** Words a coworker should not meet on the page: the exact terms live in folds for admins. */
const JARGON =
  /API key|run key|dashboard ID|\bkoid\b|koitab|sessionStorage|HMAC|signed in this browser/i;

/** The text a reader sees: no closed fold's content, nothing hidden or for screen readers only. */
function visiblePageText(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const copy = document.body.cloneNode(true);
    copy.querySelectorAll(
      "details:not([open]) > :not(summary), .sr-only, script, noscript, [hidden]",
    ).forEach((hidden) => hidden.remove());
    return copy.textContent.replace(/\\s+/g, " ").trim();
  })()`);
}

/** The badges that stick out of their cell (into the next column's text), by their text. */
function overflowingBadges(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll(".badge")].filter((badge) => {
    const box = badge.getBoundingClientRect();
    if (box.width === 0) return false;
    const holder = badge.closest("td, th, dd, p, div").getBoundingClientRect();
    return box.left < holder.left - 0.5 || box.right > holder.right + 0.5;
  }).map((badge) => badge.textContent)`);
}

/** Of `words` in the element matching `selector`, those split over two lines (or missing). */
function splitWords(page: Page, selector: string, words: string[]): Promise<string[]> {
  return page.evaluate(`(() => {
    const root = document.querySelector(${JSON.stringify(selector)});
    return ${JSON.stringify(words)}.filter((word) => {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
        const at = node.data.indexOf(word);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + word.length);
        const tops = [...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top));
        return new Set(tops).size !== 1;
      }
      return true;
    });
  })()`);
}

/** The jobs table as rows of [section, machine, ...cells], the machine from its sub-heading. */
function jobRows(page: Page): Promise<string[][]> {
  return page.evaluate(`(() => {
    const rows = [];
    let section = null, host = null;
    for (const row of document.querySelectorAll(".jobs-table tbody tr")) {
      if (row.classList.contains("section-row")) section = row.querySelector(".section-name").textContent;
      else if (row.classList.contains("host-row")) host = row.querySelector(".host").textContent;
      else rows.push([section, host, ...[...row.children].map((cell) => cell.textContent.replace(/\\s+/g, " ").trim())]);
    }
    return rows;
  })()`);
}

/** What the page keeps on this device (IndexedDB), its run key described; null for nothing. */
function storedOnDevice(page: Page): Promise<
  {
    apiKey: string;
    expiresAt: number;
    runKey: Record<string, unknown>;
    dataKey: Record<string, unknown>;
    json: string;
  } | null
> {
  return page.evaluate(`(async () => {
    const databases = await indexedDB.databases();
    if (!databases.some((database) => database.name === "koi-dashboard")) return null;
    const db = await new Promise((resolve, reject) => {
      const opening = indexedDB.open("koi-dashboard");
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
    const records = await new Promise((resolve, reject) => {
      const all = db.transaction("keys").objectStore("keys").getAll();
      all.onsuccess = () => resolve(all.result);
      all.onerror = () => reject(all.error);
    });
    db.close();
    const record = records[0];
    if (record === undefined) return null;
    const describe = async (key) => {
      let exported = "refused";
      try {
        await crypto.subtle.exportKey("raw", key);
        exported = "allowed";
      } catch {}
      return { type: key.type, extractable: key.extractable, algorithm: key.algorithm.name,
        usages: key.usages, exported };
    };
    return {
      apiKey: record.apiKey,
      expiresAt: record.expiresAt,
      runKey: await describe(record.runKey),
      dataKey: await describe(record.dataKey),
      json: JSON.stringify(record),
    };
  })()`);
}

/** Whether the page scrolls sideways. */
function overflows(page: Page): Promise<boolean> {
  return page.evaluate(
    "document.documentElement.scrollWidth > document.documentElement.clientWidth",
  );
}

/** Records what each request the page's scripts send carries, before any script runs. */
const RECORD_REQUESTS = `(() => {
  const sent = [];
  const original = window.fetch;
  window.__sent = sent;
  window.fetch = (input, init = {}) => {
    const headers = new Headers(init.headers);
    sent.push({
      url: String(input),
      method: init.method ?? "GET",
      authorization: headers.get("authorization"),
      body: typeof init.body === "string" ? init.body : null,
    });
    return original(input, init);
  };
})();`;

Deno.test({
  name: "dashboard page: sign in, jobs, output, manual runs and refusals against a real koid",
  // Asked for a screenshot, a missing Chromium fails instead of skipping.
  ignore: !installed && screenshotTo === null,
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "koi_page_" });
    const dir = `${tmp}/koi`;
    const kv = await Deno.openKv(":memory:");
    let server: DashboardServer | null = null;
    let koid: ReturnType<typeof startKoid> | null = null;
    /** How far the server's clock is set back while the quiet host's job list goes in. */
    let skew = 0;
    try {
      server = await startServer({
        kv,
        port: 0,
        pruneEveryMs: 0,
        log: () => {},
        now: () => Date.now() + skew,
      });
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/koitab`, KOITAB);
      const created = await runEntry("koitab", ["-d", "new", "--server", server.url], {
        env: { KOI_DIR: dir, KOI_PASSWORD: PASSWORD },
      });
      assertEquals([created.code, created.stderr], [0, ""]);
      const url = created.stdout.trim();
      const link = await readDashboardConfig(koiPaths(dir));
      assert(link !== null && url === `${server.url}/d/${link.id}`, url);
      const api = new ApiClient(server.url, link.id, link.apiKey);
      /**
       * Calls the API as web2's koid would have ten minutes ago, the last time it was heard
       * from. A call koid on web1 made meanwhile was heard at that time too: then the test
       * waits for web1's next one.
       */
      // What web2's koid would send: sealed with the data key, as web2.
      const web2Sealer = new ReportSealer(link.id, "web2", link.dataKey!);
      const asWeb2 = async (method: string, path: string, body: unknown) => {
        const plain = body as { jobs?: Job[]; reports?: Report[] };
        const sealed = plain.jobs !== undefined
          ? { jobs: await web2Sealer.jobs(plain.jobs) }
          : plain.reports !== undefined
          ? { reports: await web2Sealer.reports(plain.reports) }
          : body;
        skew = -QUIET_MS;
        try {
          await api.call(method, `/hosts/web2${path}`, sealed);
        } finally {
          skew = 0;
        }
        if (koid === null) return;
        await until(
          async () => {
            const info = await api.call("GET", "") as {
              hosts: { host: string; connected: boolean }[];
            };
            return info.hosts.find((host) => host.host === "web1")?.connected || undefined;
          },
          "web1's next poll",
          40_000,
        );
      };
      const putWeb2 = (list: unknown[]) => asWeb2("PUT", "/jobs", { jobs: list });

      koid = startKoid(dir);
      const sealedJobs = await until(async () => {
        const listed = await api.jobs();
        const ended = listed.filter((job) => job.schedule === "@reboot" && job.state !== "running")
          .filter((job) => job.lastRun !== null);
        return ended.length === 2 ? listed : undefined;
      }, "koid's job list and its two boot runs").catch(async (error) => {
        throw new Error(`${error.message}; koid said:\n${await koid?.log()}`);
      });
      // The server has only envelopes; the test, as the page, opens them.
      const jobs = await Promise.all(
        sealedJobs.map((listed) => openJob(link.dataKey!, link.id, listed)),
      );
      const job = (name: string) => jobs.find((j) => j.name === name)!;
      await addSecondHost(job("Greet"), asWeb2);
      await Deno.mkdir(artifacts, { recursive: true });

      await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });

      await t.step("the HTML has the strict CSP and the security headers", async () => {
        const response = await fetch(url);
        await response.body?.cancel();
        assertEquals(response.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
        assertEquals(
          CONTENT_SECURITY_POLICY,
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        );
        assertEquals(response.headers.get("x-content-type-options"), "nosniff");
        assertEquals(response.headers.get("referrer-policy"), "no-referrer");
        const script = await fetch(`${server!.url}/ui/app.js`);
        assertEquals(script.headers.get("content-type"), "text/javascript; charset=utf-8");
        const etag = script.headers.get("etag")!;
        await script.body?.cancel();
        const again = await fetch(`${server!.url}/ui/app.js`, {
          headers: { "if-none-match": etag },
        });
        assertEquals(again.status, 304);
        for (const path of ["/ui/nope.js", "/ui/deno.json", "/ui/..%2Fpage.ts", "/ui/"]) {
          const missing = await fetch(`${server!.url}${path}`);
          await missing.body?.cancel();
          assertEquals(missing.status, 404, path);
        }
      });

      await t.step("a wrong password says so", async () => {
        const page = await browser.newPage();
        try {
          await page.goto(url);
          await page.waitFor("#password");
          await page.type("#password", "not the password, sorry");
          await page.click("button[type=submit]");
          await waitForText(page, ".signin-error", "Wrong password for this dashboard");
          assertEquals(
            await page.evaluate("document.activeElement.id"),
            "password",
            "the focus is back on the password",
          );
          assertEquals(await page.evaluate("sessionStorage.length"), 0);
          // Plain words on the page; the exact terms in a fold for admins.
          const words = await visiblePageText(page);
          assert(!JARGON.test(words), `jargon on the sign-in page: ${words.match(JARGON)}`);
          assert(words.includes("Your password stays in this browser"), words);
          assertEquals(await page.evaluate(`document.querySelector("#remember").checked`), false);
          await page.click(".admin-details summary");
          const details = await page.text(".admin-details");
          for (
            const term of ["Dashboard ID", link.id, "API key", "run key", "PBKDF2", "IndexedDB"]
          ) {
            assert(details.includes(term), `the details for admins name ${term}`);
          }
          // The 401 itself is the only error Chromium logs.
          const errors = page.errors();
          assert(
            errors.length === 1 && errors[0]!.includes("401"),
            `errors: ${Deno.inspect(errors)}`,
          );
        } finally {
          await page.close();
        }
      });

      const page = browser.page;
      await page.cdp("Page.addScriptToEvaluateOnNewDocument", { source: RECORD_REQUESTS });

      await t.step("sign in: keys derived in the browser, kept for this tab only", async () => {
        assertEquals(await page.goto(url), 200);
        await page.waitFor("#password");
        await page.screenshot(`${artifacts}page-signin.png`, { width: 1280, height: 800 });
        await page.type("#password", PASSWORD);
        await page.press("Enter");
        await page.waitFor(".jobs-table", { timeoutMs: 15_000 });
        const stored = await page.evaluate<string>(
          `sessionStorage.getItem(${JSON.stringify(`koi.dashboard.${link.id}`)})`,
        );
        assertEquals(JSON.parse(stored), {
          apiKey: link.apiKey,
          runKey: link.runKey,
          dataKey: link.dataKey,
        });
        assertEquals(await page.evaluate("localStorage.length"), 0);
        assertEquals(await page.evaluate("document.cookie"), "");
        assertEquals(await page.value("#password").catch(() => "gone"), "gone");
        assertEquals(await storedOnDevice(page), null);
        // The default stays per tab: another tab asks for the password.
        const other = await browser.newPage();
        try {
          await other.goto(url);
          await other.waitFor("#password");
        } finally {
          await other.close();
        }
      });

      await t.step("the jobs: by section, then machine; next runs from the schedule", async () => {
        await page.waitForFunction(
          `document.querySelectorAll("tr.job").length === ${jobs.length + 6}`,
        );
        const rows = await jobRows(page);
        const row = (label: string, host = "web1") =>
          rows.find((r) => r[1] === host && r[2]!.startsWith(label));
        assertEquals(row("Hostile")?.slice(0, 5), [
          "Boot",
          "web1",
          "Hostile",
          "at start-up (when Koi starts on the machine)@reboot",
          "at the next start-up",
        ]);
        assert(row("Hostile")![5]!.startsWith("✓ok"), `Hostile: ${row("Hostile")}`);
        assert(row("Broken")![5]!.startsWith("✕failed, exit code 3"), `Broken: ${row("Broken")}`);
        assertEquals(row("Tick")?.[3], "every minute* * * * *");
        assert(/^\d\d:\d\din \d+ s$|^\d\d:\d\dnow$/.test(row("Tick")![4]!), row("Tick")![4]);
        assertEquals(row("echo nightly backup")?.[0], "No section");
        assertEquals(row("echo nightly backup")?.[3], "every day at 02:3030 2 * * *");
        assertEquals(row("Greet")?.slice(0, 5), [
          "Admin",
          "web1",
          "GreetRun…",
          "only when started by hand@manual",
          "when started",
        ]);
        assertEquals(row("Greet")?.[5], "–never run");
        assert(row("Prune snapshots", "web2")![5]!.startsWith("!late"), "the late job");
        // web2 sent its times ten minutes ago and went silent: its every-minute job says so,
        // and when the run it owes was due (no next time that will not come).
        assert(
          /^the machine is silentwas due \d\d:\d\d, (9|10|11) min ago$/.test(
            row("Heartbeat", "web2")![4]!,
          ),
          row("Heartbeat", "web2")![4],
        );
        // Each section once, its machines under it, each said to be connected or not.
        const quiet = await page.evaluate<string>(
          `document.querySelector(".seen.quiet").lastChild.textContent`,
        );
        assert(/^silent, last seen \d\d:\d\d \(1[01] min ago\)$/.test(quiet), quiet);
        assertEquals(
          await page.evaluate(`[...document.querySelectorAll(".section-row, .host-row")]
            .map((row) => [...row.querySelectorAll(".kind, .section-name, .host, .seen")]
              .map((part) => part.lastChild.textContent))`),
          [
            ["Section", "No section"],
            ["Machine", "web1", "connected"],
            ["Section", "Admin"],
            ["Machine", "web1", "connected"],
            ["Machine", "web2", quiet],
            ["Section", "Backups"],
            ["Machine", "web2", quiet],
            ["Section", "Boot"],
            ["Machine", "web1", "connected"],
            ["Section", "Reports"],
            ["Machine", "web2", quiet],
            ["Section", "WEB2"],
            ["Machine", "web2", quiet],
          ],
        );
        // The machine sits visibly under its section (indented), never beside it.
        const indent = await page.evaluate<number>(`(() => {
          const section = document.querySelector(".section-row .section-name").getBoundingClientRect();
          const host = document.querySelector(".host-row .host").getBoundingClientRect();
          return host.left - section.left;
        })()`);
        assert(indent >= 12, `machines are indented under sections by ${indent} px`);
        assertEquals(
          await page.evaluate(`document.querySelector(".section-row th").getAttribute("scope")`),
          "rowgroup",
        );
        assertEquals(await overflowingBadges(page), []);
        await page.screenshot(`${artifacts}page-jobs.png`, { width: 1280, height: 800 });
        const dark = [{ name: "prefers-color-scheme", value: "dark" }];
        await page.cdp("Emulation.setEmulatedMedia", { features: dark });
        await page.screenshot(`${artifacts}page-jobs-dark.png`);
        await page.cdp("Emulation.setEmulatedMedia", { features: [] });
        if (screenshotTo !== null) {
          await Deno.copyFile(`${artifacts}page-jobs.png`, new URL(screenshotTo, root));
        }
      });

      await t.step(
        "times: the viewer's zone said once, a job's zone where it differs",
        async () => {
          const reload = async (zone: string) => {
            await page.cdp("Emulation.setTimezoneOverride", { timezoneId: zone });
            await page.goto("about:blank");
            await page.goto(url);
            await page.waitFor("tr.job");
          };
          await reload("UTC");
          assertEquals(await page.text("#zone-note"), "Times are in your time zone, UTC.");
          assertEquals(await page.evaluate(`document.querySelectorAll(".zone").length`), 0);
          await reload("America/New_York");
          assert(
            /^Times are in your time zone, America\/New_York \(UTC-[45]\)\.$/.test(
              await page.text("#zone-note"),
            ),
            await page.text("#zone-note"),
          );
          const backup = (await jobRows(page)).find((r) => r[2] === "Nightly backup")!;
          assertEquals(backup[3], "every day at 02:30UTC time30 2 * * *");
          // When its run is due (its machine is silent) in the viewer's time, with the day when
          // it is not today.
          const next = await page.evaluate<string>(
            `document.querySelector('tr[data-key="web2/jbackup"] time').textContent`,
          );
          const nextAt = Date.parse(
            await page.evaluate<string>(
              `document.querySelector('tr[data-key="web2/jbackup"] time').getAttribute("datetime")`,
            ),
          );
          const newYork = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" });
          const today = newYork.format(Date.now()) === newYork.format(nextAt);
          assert(
            today ? /^\d\d:\d\d$/.test(next) : /^\w{3} \d+ \w{3}, \d\d:\d\d$/.test(next),
            next,
          );
          await page.goto(`${url}#/job/web2/jbackup`);
          await page.waitFor(".runs-table");
          assertEquals(await page.text(".job-facts .zone"), "UTC time");
          // Runs from other days show their day.
          assert(
            /^\w{3} \d+ \w{3}, \d\d:\d\d:\d\d$/.test(await page.text(".runs-table tbody time")),
            await page.text(".runs-table tbody time"),
          );
          await page.cdp("Emulation.setTimezoneOverride", { timezoneId: "" });
          await page.goto(url);
          await page.waitFor("tr.job");
        },
      );

      await t.step("output holding <script> is shown as text, and runs nothing", async () => {
        const hostile = job("Hostile");
        await page.click(`tr[data-key="web1/${hostile.tag}"] a.badge-link`);
        await page.waitForFunction(`document.querySelector("pre.output:not(.empty)")`);
        assertEquals(await visibleText(page, "pre.output"), "<script>alert(1)</script>\n");
        assertEquals(
          await page.evaluate("[...document.scripts].map((script) => script.getAttribute('src'))"),
          ["/ui/early_worker.js", "/ui/start.js", "/ui/app.js"],
        );
        assertEquals(await page.evaluate("document.querySelectorAll('pre.output *').length"), 0);
        assertEquals(page.dialogs(), []);
        assertEquals(await page.evaluate("document.activeElement.tagName"), "H1");
        // No stderr here: no stream mark, no key explaining one.
        assertEquals(await page.evaluate(`document.querySelector(".stream-key").hidden`), true);
        assertEquals(await page.evaluate(`document.querySelectorAll(".stderr-key").length`), 0);
      });

      await t.step("stderr is marked and explained, terminal colours are classes", async () => {
        await page.goto(`${url}#/run/${job("Broken").lastRun!.id}`);
        await page.waitForFunction(`document.querySelector("pre.output .stderr")`);
        assertEquals(
          await visibleText(page, "pre.output"),
          "checking disk\nERROR disk full\n",
        );
        assertEquals(await visibleText(page, "pre.output .stderr"), "ERROR disk full\n");
        assertEquals(await page.text("pre.output .stderr .sr-only"), "[stderr] ");
        assertEquals(await page.text("pre.output .stderr .ansi-1.ansi-bold"), "ERROR");
        assertEquals(
          await page.evaluate(
            `getComputedStyle(document.querySelector(".ansi-1")).color !== getComputedStyle(document.querySelector("pre.output")).color`,
          ),
          true,
        );
        assertEquals(await page.evaluate(`document.querySelector(".stream-key").hidden`), false);
        assert(
          (await page.text(".stream-key")).includes("written to the error stream (stderr)"),
          await page.text(".stream-key"),
        );
        const fact = (term: string) =>
          page.evaluate<string>(`[...document.querySelectorAll(".facts div")]
            .find((row) => row.querySelector("dt").textContent === ${JSON.stringify(term)})
            ?.querySelector("dd").textContent`);
        assertEquals(await fact("Result"), "✕failed");
        assertEquals(await fact("Exit code"), "3");
        assertEquals(await fact("Trigger"), "at boot");
        assert(!JARGON.test(await visiblePageText(page)), await visiblePageText(page));
        await page.screenshot(`${artifacts}page-run-output.png`, { width: 1280, height: 800 });
      });

      await t.step("no badge runs into the next column, wide or narrow", async () => {
        for (const [width, height, mobile] of [[1280, 800, false], [360, 760, true]] as const) {
          await page.setViewport(width, height, mobile);
          for (
            const [hash, ready] of [
              ["#/", "tr.job .badge"],
              [`#/run/${job("Broken").lastRun!.id}`, ".facts .badge"],
              ["#/job/web2/jbackup", ".runs-table .badge"],
            ]
          ) {
            await page.goto("about:blank"); // Not the last view's badges.
            await page.goto(`${url}${hash}`);
            await page.waitFor(ready!);
            await page.waitForFunction("document.fonts.status === 'loaded'");
            assertEquals(await overflowingBadges(page), [], `${hash} at ${width} px`);
          }
        }
        await page.setViewport(1280, 800);
      });

      await t.step("a job's page keeps the reader's place: open folds, focus", async () => {
        await page.goto(`${url}#/job/web2/jbackup`);
        await page.waitForFunction(
          `document.querySelectorAll(".runs-table tbody tr").length === 24`,
        );
        await page.click(".command-box summary");
        const focused = await page.evaluate<string>(`(() => {
          const link = document.querySelectorAll(".runs-table tbody tr")[2].querySelector("a");
          link.focus();
          return link.getAttribute("href");
        })()`);
        // A new run arrives at the top of the history; the page refreshes around the reader.
        await asWeb2("POST", "/reports", {
          reports: backupRun("backup0", Date.now() - 60_000, false),
        });
        await page.waitForFunction(
          `document.querySelectorAll(".runs-table tbody tr").length === 25`,
        );
        assertEquals(await page.evaluate(`document.querySelector(".command-box").open`), true);
        assertEquals(await page.text(".command-text"), "restic backup /srv");
        assertEquals(
          await page.evaluate(`document.activeElement.getAttribute("href")`),
          focused,
          "the focus stays on the run it was on",
        );
        // And stays so over another refresh.
        await page.waitForFunction(
          `window.__sent.filter((r) => r.url.includes("/jobs?since=")).length >= ${
            await page.evaluate<number>(
              `window.__sent.filter((r) => r.url.includes("/jobs?since=")).length`,
            ) + 2
          }`,
        );
        assertEquals(await page.evaluate(`document.querySelector(".command-box").open`), true);
        assertEquals(await page.evaluate(`document.activeElement.getAttribute("href")`), focused);
      });

      const greet = job("Greet");
      const greetPage = `${url}#/job/web1/${greet.tag}`;

      await t.step("a manual job's form: labels, types, defaults, a machine picker", async () => {
        await page.goto(greetPage);
        await page.waitFor("form.run-form");
        const fields = await page.evaluate(`[...document.querySelectorAll(".run-form input")]
          .map((input) => [document.querySelector('label[for="' + input.id + '"]').firstChild.textContent,
            input.type, input.type === "checkbox" ? input.checked : input.value, input.required])`);
        assertEquals(fields, [
          ["Who", "text", "", true],
          ["Count", "text", "3", false],
          ["Loud", "checkbox", false, false],
        ]);
        assertEquals(await page.evaluate("document.querySelector('#arg-1').inputMode"), "numeric");
        assertEquals(
          await page.evaluate(
            `[...document.querySelectorAll("#run-host option")].map((o) => o.value)`,
          ),
          ["web1", "web2"],
        );
        assertEquals(await page.value("#run-host"), "web1");
        const words = await visiblePageText(page);
        assert(!JARGON.test(words), `jargon on the job's page: ${words.match(JARGON)}`);
        await page.click(".manual .admin-details summary");
        assert((await page.text(".manual .admin-details")).includes("run key (HMAC-SHA256)"));
        await page.screenshot(`${artifacts}page-manual-form.png`, { width: 1280, height: 800 });
      });

      await t.step(
        "a bad whole number is caught before anything is sent, as koid and koitab refuse it",
        async () => {
          // The form's own reading of every case of the table, run in Chromium: the
          // verdicts of koitab run, koitab -d run and koid (tests/arg_types_test.ts).
          const verdicts = await page.evaluate<unknown[]>(`(async () => {
          const { readArgumentField } = await import("/ui/format.js");
          return ${JSON.stringify(ARG_CASES)}.map(([type, text]) => {
            const read = readArgumentField(type, text);
            return "value" in read ? read.value : null;
          });
        })()`);
          assertEquals(verdicts, ARG_CASES.map(([, , verdict]) => verdict));
          const posted = () =>
            page.evaluate<number>(`window.__sent.filter((r) => r.method === "POST").length`);
          const before = await posted();
          await page.type("#arg-0", "x");
          await page.type("#arg-1", "+5", { clear: true });
          await page.click(".run-form button[type=submit]");
          assertEquals(await page.text("#arg-1-message"), "Type a whole number, such as 42");
          assertEquals(await page.evaluate("document.activeElement.id"), "arg-1");
          assertEquals(
            await page.evaluate("document.querySelector('#arg-1').getAttribute('aria-invalid')"),
            "true",
          );
          await page.type("#arg-1", "99999999999999999999", { clear: true });
          await page.click(".run-form button[type=submit]");
          assertEquals(
            await page.text("#arg-1-message"),
            "Too big: type a whole number from -9,007,199,254,740,991 to 9,007,199,254,740,991",
          );
          assertEquals(await posted(), before);
        },
      );

      await t.step(
        "a run with a hostile value: signed here, run by koid, output exact",
        async () => {
          await page.type("#arg-0", HOSTILE, { clear: true });
          // "042" is 42 everywhere: the payload carries the number, the command '42'.
          await page.type("#arg-1", "042", { clear: true });
          await page.setChecked("#arg-2", true);
          await page.click(".run-form button[type=submit]");
          await page.waitForFunction(
            `document.querySelector(".run-card .run-status")?.textContent.startsWith("Waiting for web1")` +
              ` || document.querySelector(".run-card .run-status")?.textContent.startsWith("Running")` +
              ` || document.querySelector(".run-card .run-status")?.textContent.startsWith("Finished")`,
          );
          await waitForText(page, ".run-card .run-status", "Finished on web1", 20_000);
          assert(
            /^Finished on web1: ok, exit code 0, in \d+ ms$/.test(
              await page.text(".run-card .run-status"),
            ),
            await page.text(".run-card .run-status"),
          );
          assertEquals(await visibleText(page, ".run-card pre.output"), `${HOSTILE}|42|true\n`);
          // One time, and which one it is.
          assert(
            /^started at \d\d:\d\d:\d\d$/.test(await page.text(".run-card .when")),
            await page.text(".run-card .when"),
          );
          await page.screenshot(`${artifacts}page-manual-run.png`, { width: 1280, height: 800 });
          assertEquals(
            await page.evaluate(
              "document.querySelector('.run-card .run-status').getAttribute('role')",
            ),
            "status",
          );
          // What left the page: the API key as a bearer token, a payload koid can check.
          const sent = await page.evaluate<
            { url: string; method: string; authorization: string; body: string | null }[]
          >("window.__sent");
          assert(sent.length > 0);
          for (const request of sent) {
            assertEquals(request.authorization, `Bearer ${link.apiKey}`);
            const everything = JSON.stringify(request);
            assert(!everything.includes(link.runKey), "the run key was sent");
            assert(!everything.includes(PASSWORD), "the password was sent");
            assert(isLoopbackUrl(new URL(request.url, url).href), request.url);
          }
          const post = sent.find((request) => request.method === "POST")!;
          const { payload } = JSON.parse(post.body!);
          const parsed = JSON.parse(payload);
          assertEquals(Object.keys(parsed), ["v", "dashboard", "host", "tag", "ts", "args"]);
          assertEquals(
            { ...parsed, ts: 0, args: Object.keys(parsed.args) },
            {
              v: 2,
              dashboard: link.id,
              host: "web1",
              tag: greet.tag,
              ts: 0,
              args: ["Who", "Count", "Loud"],
            },
          );
          // Each value sealed for this request alone: the server never sees one. (A bare
          // "42" may well turn up in the timestamp, the envelopes or the signature.)
          assert(!post.body!.includes("o'brien") && !payload.includes('"Count":42'), post.body!);
          const at = contexts(link.id, "web1");
          const values: Record<string, unknown> = {};
          for (const [name, envelope] of Object.entries(parsed.args)) {
            assert(isEnvelope(envelope), String(envelope));
            values[name] = await openValue(
              link.dataKey!,
              at.payloadArg(greet.tag, name, parsed.ts),
              envelope,
            );
          }
          assertEquals(values, { Who: HOSTILE, Count: 42, Loud: true });
          assertEquals(page.dialogs(), []);
        },
      );

      await t.step("the history: a plot with a title and description, and the runs", async () => {
        await page.waitForFunction(
          `document.querySelectorAll(".runs-table tbody tr").length === 1`,
        );
        const row = await visibleText(page, ".runs-table tbody tr");
        assert(
          row!.includes("by hand") && row!.includes(`Who="${HOSTILE}" Count=42 Loud=true`),
          row!,
        );
        assert(row!.includes("✓ok"), row!);
        assertEquals(
          await page.evaluate(`document.querySelector("svg.plot").getAttribute("role")`),
          "img",
        );
        assertEquals(await page.text("svg.plot title"), "Run durations and outcomes, oldest first");
        assert((await page.text("svg.plot desc")).startsWith("1 run from"));
        await page.goto(`${url}#/job/web2/jbackup`);
        await page.waitForFunction(`document.querySelectorAll("svg.plot .bar").length === 25`);
        assertEquals(
          await page.evaluate(`document.querySelectorAll("svg.plot .bar.failed").length`),
          2,
        );
        assert((await page.text("svg.plot desc")).includes("25 runs from"));
        assertEquals(await page.evaluate(`document.querySelectorAll("svg.plot .mark").length`), 2);
        await page.screenshot(`${artifacts}page-history.png`, { width: 1280, height: 800 });
      });

      await t.step("arguments keep their room: each value whole on its line", async () => {
        const words = argumentWords({ Who: HOSTILE, Count: 42, Loud: true });
        await page.goto("about:blank"); // Not the last view's table.
        await page.goto(greetPage);
        await page.waitFor(".runs-table tbody tr");
        assertEquals(await splitWords(page, ".runs-table tbody tr", words), []);
        await page.click(".runs-table tbody tr a");
        await page.waitFor(".facts");
        for (const [width, height, mobile] of [[1280, 800, false], [360, 760, true]] as const) {
          await page.setViewport(width, height, mobile);
          assertEquals(await splitWords(page, ".facts", words), [], `at ${width} px`);
        }
        await page.setViewport(1280, 800);
      });

      await t.step("a running job's output streams in, then the final output", async () => {
        await page.goto(`${url}#/job/web1/${job("Slow").tag}`);
        await page.waitFor("form.run-form");
        assertEquals(await visibleText(page, ".run-form .form-actions p"), "Runs on web1");
        await page.click(".run-form button[type=submit]");
        await waitForText(page, ".run-card pre.output", "step 1", 15_000);
        const early = await visibleText(page, ".run-card pre.output");
        assert(!early!.includes("step 3"), `the whole output came at once: ${early}`);
        assert((await page.text(".run-card .run-status")).startsWith("Running on web1"));
        await waitForText(page, ".run-card .run-status", "Finished on web1", 15_000);
        assertEquals(await visibleText(page, ".run-card pre.output"), "step 1\nstep 2\nstep 3\n");
      });

      await t.step(
        "the final output, replacing the streamed one, keeps the reader's place",
        async () => {
          // followRun against a stand-in for the API: a running run's 300 lines, then (while
          // the reader has scrolled up to line 50) its end and its final output.
          const [place, end] = await page.evaluate<[number, number]>(`(async () => {
          const { followRun, OutputView } = await import("/ui/output.js");
          const lines = Array.from({ length: 300 }, (_, seq) => ({ seq, stream: "stdout", text: "line " + seq + "\\n" }));
          const view = new OutputView("test");
          document.body.append(view.element);
          const run = { id: "r", finishedAt: null };
          let calls = 0;
          const api = {
            async run(_id, after) {
              calls++;
              if (calls === 2) {
                view.element.scrollTop = 50 * view.element.scrollHeight / 300;
                return { run: { ...run, finishedAt: 1 }, output: [] };
              }
              return { run: calls === 1 ? run : { ...run, finishedAt: 1 }, output: lines };
            },
          };
          const scrolled = () => view.element.scrollTop / (view.element.scrollHeight / 300);
          await followRun(api, "r", view, { signal: new AbortController().signal });
          const place = Math.round(scrolled());
          // One at the end stays at the end.
          calls = 0;
          view.element.scrollTop = view.element.scrollHeight;
          lines.push(...lines.map((line) => ({ ...line, seq: line.seq + 300 })));
          api.run = async () => {
            calls++;
            if (calls === 2) view.element.scrollTop = view.element.scrollHeight;
            const ended = calls === 1 ? run : { ...run, finishedAt: 1 };
            return { run: ended, output: calls === 1 ? lines.slice(0, 300) : calls === 2 ? [] : lines };
          };
          await followRun(api, "r", view, { signal: new AbortController().signal });
          const end = view.element.scrollHeight - view.element.scrollTop - view.element.clientHeight;
          view.element.remove();
          return [place, Math.round(end)];
        })()`);
          assertEquals(place, 50, "the reader stays at line 50");
          assert(end <= 4, `the reader at the end stays at the end (${end} px above it)`);
        },
      );

      const greetOnWeb2 = `${url}#/job/web2/${greet.tag}`;

      await t.step("the form follows the job list: an argument removed goes from it", async () => {
        await page.goto(greetOnWeb2);
        await page.waitFor("form.run-form");
        assertEquals(await page.value("#run-host"), "web2");
        await page.type("#arg-0", "kept", { clear: true });
        // web2's koitab loses the Loud argument; its koid sends the new list.
        const list = web2Jobs(greet, Date.now() - QUIET_MS).map((entry) =>
          entry.tag === greet.tag
            ? {
              ...entry,
              args: entry.args.filter((arg: { name: string }) => arg.name !== "Loud"),
              command: "printf '%s|%s\\n' {{Who}} {{Count, int, 3}}",
            }
            : entry
        );
        await putWeb2(list);
        await page.waitForFunction(
          `![...document.querySelectorAll(".run-form label")].some((l) => l.textContent.startsWith("Loud"))`,
        );
        assertEquals(
          await page.evaluate(`[...document.querySelectorAll(".run-form label")]
            .map((label) => label.firstChild.textContent)`),
          ["Who", "Count", "Machine"],
        );
        assertEquals(await page.value("#arg-0"), "kept", "what was typed stays");
        assertEquals(await page.evaluate("document.activeElement.id"), "arg-0", "and the focus");
        assertEquals(
          await page.text(".form-note"),
          "The job's values changed on web2: the form now matches them.",
        );
        assertEquals(
          await page.text(".command-text"),
          "printf '%s|%s\\n' {{Who}} {{Count, int, 3}}",
        );
        // The other machine still has Loud: choosing it brings it back.
        await page.evaluate(`(() => {
          const picker = document.querySelector("#run-host");
          picker.value = "web1";
          picker.dispatchEvent(new Event("change"));
        })()`);
        await page.waitFor(".run-form input[type=checkbox]");
        await page.evaluate(`(() => {
          const picker = document.querySelector("#run-host");
          picker.value = "web2";
          picker.dispatchEvent(new Event("change"));
        })()`);
        await page.waitForFunction(`!document.querySelector(".run-form input[type=checkbox]")`);
      });

      await t.step("a machine that is not connected: said in words, with a Cancel", async () => {
        await page.type("#arg-0", "waiting", { clear: true });
        await page.click(".run-form button[type=submit]");
        await waitForText(page, ".run-card .run-status", "not connected", 15_000);
        const status = await page.text(".run-card .run-status");
        assert(
          /^web2 is not connected right now; the run will start when it reconnects, if within 5 minutes \(by \d\d:\d\d\)\.$/
            .test(status),
          status,
        );
        assert(
          /^requested at \d\d:\d\d:\d\d$/.test(await page.text(".run-card .when")),
          await page.text(".run-card .when"),
        );
        await page.screenshot(`${artifacts}page-manual-waiting.png`, { width: 1280, height: 800 });
        await page.click(".run-card button");
        await waitForText(page, ".run-card .run-status", "Cancelled");
        assertEquals(
          await page.text(".run-card .run-status"),
          "Cancelled: it will not run on web2.",
        );
        const [manual] = (await api.call(
          "GET",
          `/manual?host=web2&tag=${greet.tag}`,
        ) as { manual: ManualRun[] }).manual;
        // The server has the values sealed; opened, they are what was asked for.
        assert(Object.values(manual!.args).every(isEnvelope), JSON.stringify(manual!.args));
        const opened = await openManualRun(link.dataKey!, link.id, manual!);
        assertEquals([opened.state, opened.args], ["cancelled", { Who: "waiting", Count: 3 }]);
        // The history keeps it, after a reload too.
        await page.goto("about:blank");
        await page.goto(greetOnWeb2);
        await page.waitFor(".runs-table tr.unstarted");
        assertEquals(
          await visibleText(page, ".runs-table tr.unstarted td[data-label=Result]"),
          "–cancelledCancelled before it started.",
        );
      });

      await t.step("koid's refusal is shown with its reason, and kept in the history", async () => {
        await page.goto("about:blank"); // A fresh page: its clock is set back below.
        await page.goto(greetPage);
        await page.waitFor("form.run-form");
        // A clock 10 minutes slow: koid refuses the request as too old.
        await page.evaluate(
          "(() => { const now = Date.now; Date.now = () => now() - 10 * 60_000; })()",
        );
        await page.type("#arg-0", "late", { clear: true });
        await page.click(".run-form button[type=submit]");
        await waitForText(page, ".run-card .run-status", "refused", 20_000);
        const status = await page.text(".run-card .run-status");
        assert(
          /^web1 refused to run it: the request was signed at .*, more than 5 minutes from now$/
            .test(status),
          status,
        );
        assertEquals(
          await page.evaluate(`document.querySelector(".run-card pre.output").hidden`),
          true,
        );
        await page.goto("about:blank"); // A fresh page: its own clock again.
        await page.goto(greetPage);
        await page.waitFor(".runs-table tr.unstarted");
        const row = await visibleText(page, ".runs-table tr.unstarted");
        assert(
          /^\w{3} \d+ \w{3}, \d\d:\d\d:\d\d requestedby handWho=late Count=3 Loud=false✕refusedweb1 refused to run it: the request was signed at .*, more than 5 minutes from now$/
            .test(row!) ||
            /^\d\d:\d\d:\d\d requestedby handWho=late Count=3 Loud=false✕refusedweb1 refused to run it: the request was signed at .*, more than 5 minutes from now$/
              .test(row!),
          row!,
        );
        await page.goto(url);
        await page.waitFor(".jobs-table");
      });

      await t.step("a job list the server refused is said to be out of date, and why", async () => {
        const put = (jobs: unknown) =>
          fetch(`${server!.url}/api/d/${link.id}/hosts/web3/jobs`, {
            method: "PUT",
            headers: { authorization: `Bearer ${link.apiKey}` },
            body: JSON.stringify({ jobs }),
          });
        const refused = await put([{ tag: "j1", schedule: "@daily", line: 1 }]);
        assertEquals(refused.status, 400);
        await refused.body?.cancel();
        await page.goto(url);
        await page.waitFor(".jobs-table");
        await page.waitFor("p.notice[role=status]");
        const notice = await page.text("p.notice[role=status]");
        assert(
          /^The job list of web3 is out of date: the server refused the list koid sent (just now|\d+ s ago) \(Invalid "jobs\[0\]\.command": must be a string \(got nothing\)\)\.$/
            .test(notice),
          notice,
        );
        const cleared = await put([]);
        assertEquals(cleared.status, 204);
        await page.waitForFunction(`document.querySelector("p.notice[role=status]") === null`);
      });

      await t.step("keyboard only: Tab to a job, Enter opens it", async () => {
        await page.evaluate("document.activeElement.blur()");
        let found = false;
        for (let i = 0; i < 40 && !found; i++) {
          await page.press("Tab");
          found = await page.evaluate(`document.activeElement.textContent === "Greet"`);
        }
        assert(found, "Tab reaches the Greet link");
        const outline = await page.evaluate<string>(
          "getComputedStyle(document.activeElement).outlineStyle",
        );
        assertEquals(outline, "solid", "the focus is visible");
        await page.press("Enter");
        await page.waitFor("form.run-form");
        assertEquals(await page.evaluate("document.activeElement.tagName"), "H1");
      });

      await t.step("360 px wide: nothing scrolls sideways", async () => {
        await page.setViewport(360, 760, true);
        for (
          const [hash, ready, name] of [
            ["#/", ".jobs-table", "jobs"],
            [`#/job/web1/${greet.tag}`, "form.run-form", "manual-form"],
            [`#/job/web2/${greet.tag}`, ".runs-table tr.unstarted", "manual-history"],
            [`#/job/web2/jbackup`, "svg.plot", "history"],
            [`#/run/${job("Broken").lastRun!.id}`, "pre.output .stderr", "run-output"],
          ]
        ) {
          await page.goto("about:blank"); // Not the last view's parts.
          await page.goto(`${url}${hash}`);
          await page.waitFor(ready!);
          await page.waitForFunction("document.fonts.status === 'loaded'");
          assertEquals(await overflows(page), false, `${name} overflows at 360 px`);
          assert(
            await page.evaluate<number>("document.documentElement.scrollWidth") <= 360,
            name,
          );
          await page.screenshot(`${artifacts}page-360-${name}.png`);
        }
        await page.setViewport(1280, 800);
      });

      await t.step("signing out forgets the keys", async () => {
        await page.goto(url);
        await page.waitFor(".jobs-table");
        await page.click("#session button");
        await page.waitFor("#password");
        assertEquals(await page.evaluate("sessionStorage.length"), 0);
        assertEquals(await page.evaluate(`document.querySelector("#zone-note").hidden`), true);
        await page.goto(url);
        await page.waitFor("#password");
      });

      await t.step("stay signed in on this device: keys kept, not the password", async () => {
        await page.type("#password", PASSWORD);
        await page.setChecked("#remember", true);
        await page.evaluate(`document.querySelector("#remember-days").value = "7"`);
        const signedInAt = Date.now();
        await page.press("Enter");
        await page.waitFor(".jobs-table", { timeoutMs: 15_000 });
        assertEquals(await page.evaluate("sessionStorage.length"), 0, "not in the tab's storage");
        const stored = await storedOnDevice(page);
        assert(stored !== null, "kept on the device");
        assertEquals(stored.apiKey, link.apiKey);
        assertEquals(stored.runKey, {
          type: "secret",
          extractable: false,
          algorithm: "HMAC",
          usages: ["sign"],
          exported: "refused",
        });
        assertEquals(stored.dataKey, {
          type: "secret",
          extractable: false,
          algorithm: "AES-GCM",
          usages: ["encrypt", "decrypt"],
          exported: "refused",
        });
        const week = 7 * 86_400_000;
        assert(
          stored.expiresAt >= signedInAt + week && stored.expiresAt <= Date.now() + week,
          `kept until ${new Date(stored.expiresAt).toISOString()}`,
        );
        assert(!stored.json.includes(PASSWORD) && !stored.json.includes(link.runKey), stored.json);
        assert(!stored.json.includes(link.dataKey!), stored.json);
        // Another tab is signed in at once, and signs with the kept key.
        const other = await browser.newPage();
        try {
          await other.goto(`${url}#/job/web1/${job("Greet").tag}`);
          await other.waitFor("form.run-form");
          await other.type("#arg-0", "from the device");
          await other.click(".run-form button[type=submit]");
          await waitForText(other, ".run-card .run-status", "Finished on web1", 20_000);
          assertEquals(
            await visibleText(other, ".run-card pre.output"),
            "from the device|3|false\n",
          );
          // Signing out in one tab forgets it for all of them.
          await page.click("#session button");
          await page.waitFor("#password");
          await other.waitFor("#password");
          assertEquals(await storedOnDevice(page), null);
          // A kept sign-in past its time asks for the password again, and is deleted.
          await other.evaluate(`(async () => {
            const runKey = await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
            const db = await new Promise((resolve) => {
              const open = indexedDB.open("koi-dashboard", 1);
              open.onsuccess = () => resolve(open.result);
            });
            await new Promise((resolve) => {
              const tx = db.transaction("keys", "readwrite");
              tx.objectStore("keys").put({ apiKey: ${JSON.stringify(link.apiKey)}, runKey,
                savedAt: Date.now() - 8 * 86_400_000, expiresAt: Date.now() - 1 }, ${
            JSON.stringify(link.id)
          });
              tx.oncomplete = resolve;
            });
            db.close();
          })()`);
          await other.goto("about:blank");
          await other.goto(url);
          await waitForText(other, ".signin .notice", "Your sign-in on this device has run out");
          assertEquals(await storedOnDevice(other), null);
          assertEquals(other.errors(), []);
        } finally {
          await other.close();
        }
      });

      await t.step("no third-party request, no error, no CSP violation", () => {
        assertEquals(page.requests().filter((request) => !isLoopbackUrl(request.url)), []);
        assertEquals(page.errors(), []);
        assertEquals(page.dialogs(), []);
      });
    } finally {
      if (koid !== null) {
        koid.child.kill("SIGTERM");
        await koid.child.status;
        await koid.log();
      }
      await server?.shutdown();
      kv.close();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
