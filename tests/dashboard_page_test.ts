/**
 * The dashboard page end to end: Chromium (through `_browser.ts`) against a real
 * dashboard server and a real koid linked to it with `koitab -d new`, as a user
 * meets them. Sign in, the jobs, a run's output, a manual run with hostile
 * arguments, koid's refusal, signing out; no third-party request, no console
 * error, no CSP violation, no horizontal scrolling at 360 px. Screenshots of each
 * view go to `artifacts/`, the jobs view also to `docs/screenshot.png`.
 *
 * The pure parts of the page (terminal colours, times and durations) are tested
 * first, without a browser. The browser tests skip, with a note, without Chromium.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled, chromiumPath, isLoopbackUrl, type Page } from "./_browser.ts";
import { runEntry } from "./_entry.ts";
import { AnsiReader } from "../lib/dashboard/ui/ansi.js";
import {
  argumentWords,
  formatDuration,
  formatRelative,
  formatTime,
  parseWholeNumber,
} from "../lib/dashboard/ui/format.js";
import { readDashboardConfig } from "../lib/dashboard/config.ts";
import { type DashboardServer, startServer } from "../lib/dashboard/server.ts";
import { CONTENT_SECURITY_POLICY } from "../lib/dashboard/http.ts";
import { UI_FILES } from "../lib/dashboard/page.ts";
import { parseCron } from "../lib/cron.ts";
import { koiPaths } from "../lib/koidir.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const artifacts = new URL("artifacts/", root).pathname;
const installed = chromiumInstalled();
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

Deno.test("format: arguments as words, and whole numbers as koid reads them", () => {
  assertEquals(argumentWords({ Who: "'; rm -rf ~ #", N: 3, Loud: true, Tag: "x" }), [
    `Who="'; rm -rf ~ #"`,
    "N=3",
    "Loud=true",
    "Tag=x",
  ]);
  assertEquals(["42", " -7 ", "+3", "4.5", "1e3", "", "9007199254740993"].map(parseWholeNumber), [
    42,
    -7,
    3,
    null,
    null,
    null,
    null,
  ]);
});

Deno.test("the server serves every file of the page, and nothing else of ui/", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL("../lib/dashboard/ui/", import.meta.url))) {
    if (!["deno.json", "signing.d.ts"].includes(entry.name)) names.push(entry.name);
  }
  assertEquals(Object.keys(UI_FILES).sort(), names.sort());
});

Deno.test("the page's scripts use no Deno API, no HTML parsing and no inline handlers", async () => {
  for (const name of Object.keys(UI_FILES).filter((file) => file.endsWith(".js"))) {
    const text = await Deno.readTextFile(new URL(`../lib/dashboard/ui/${name}`, import.meta.url));
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

/**
 * A second host, made through the API as koid would (no koid behind it): the
 * manual job too (so the form offers a choice of host), and a backup job with a
 * month of nightly runs, a few failed, for a history worth a plot.
 */
async function addSecondHost(api: ApiClient, greet: ListedJob): Promise<void> {
  const now = Date.now();
  const next = (schedule: string) => {
    const cron = parseCron(schedule, { timezone: "UTC" });
    const times: string[] = [];
    let at: Date | null = new Date(now);
    for (let i = 0; i < 5 && at !== null; i++) {
      at = cron.next(at);
      if (at !== null) times.push(at.toISOString());
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
  const { host: _host, lastRun: _last, description: _d, due: _due, state: _s, ...greetJob } = greet;
  await api.call("PUT", "/hosts/web2/jobs", {
    jobs: [
      job("jbackup", "Nightly backup", "Backups", "30 2 * * *", "restic backup /srv"),
      job("jprune", "Prune snapshots", "Backups", "*/15 * * * *", "restic forget --prune"),
      job("jreport", "Weekly report", "Reports", "0 8 * * 1", "report --weekly | mail team"),
      { ...greetJob, line: 9 },
    ],
  });
  const reports: unknown[] = [];
  const day = 86_400_000;
  for (let i = 24; i >= 1; i--) {
    const startedAt = Math.floor((now - i * day) / day) * day + 2.5 * 3_600_000;
    const failed = i === 17 || i === 6;
    const duration = failed ? 41_000 : 95_000 + ((i * 7919) % 60) * 1000;
    const id = `backup${i}`;
    reports.push(
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
    );
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
  await api.call("POST", "/hosts/web2/reports", { reports });
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

/** The text of the first element matching `selector`, without screen-reader-only text. */
function visibleText(page: Page, selector: string): Promise<string | null> {
  return page.evaluate(`(() => {
    const element = document.querySelector(${JSON.stringify(selector)});
    if (element === null) return null;
    const copy = element.cloneNode(true);
    copy.querySelectorAll(".sr-only").forEach((hidden) => hidden.remove());
    return copy.textContent;
  })()`);
}

/** Waits until the element's text includes `text`; else fails saying what it was. */
async function waitForText(page: Page, selector: string, text: string, timeoutMs = 10_000) {
  const query = `document.querySelector(${JSON.stringify(selector)})?.textContent`;
  try {
    await page.waitForFunction(`${query}?.includes(${JSON.stringify(text)})`, { timeoutMs });
  } catch (error) {
    const found = await page.evaluate(query).catch(() => "(the page is gone)");
    throw new Error(`${selector} never said "${text}"; it says ${JSON.stringify(found)}`, {
      cause: error,
    });
  }
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
  ignore: !installed,
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "koi_page_" });
    const dir = `${tmp}/koi`;
    const kv = await Deno.openKv(":memory:");
    let server: DashboardServer | null = null;
    let koid: ReturnType<typeof startKoid> | null = null;
    try {
      server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
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

      koid = startKoid(dir);
      const jobs = await until(async () => {
        const listed = await api.jobs();
        const ended = listed.filter((job) => job.schedule === "@reboot" && job.state !== "running")
          .filter((job) => job.lastRun !== null);
        return ended.length === 2 ? listed : undefined;
      }, "koid's job list and its two boot runs").catch(async (error) => {
        throw new Error(`${error.message}; koid said:\n${await koid?.log()}`);
      });
      const job = (name: string) => jobs.find((j) => j.name === name)!;
      await addSecondHost(api, job("Greet"));
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
        // The 401 itself is the only error Chromium logs.
        const errors = page.errors();
        assert(
          errors.length === 1 && errors[0]!.includes("401"),
          `errors: ${Deno.inspect(errors)}`,
        );
        await page.close();
      });

      const page = browser.page;
      await page.cdp("Page.addScriptToEvaluateOnNewDocument", { source: RECORD_REQUESTS });

      await t.step("sign in: keys derived in the browser, kept in sessionStorage", async () => {
        assertEquals(await page.goto(url), 200);
        await page.waitFor("#password");
        await page.screenshot(`${artifacts}page-signin.png`, { width: 1280, height: 800 });
        await page.type("#password", PASSWORD);
        await page.press("Enter");
        await page.waitFor(".jobs-table", { timeoutMs: 15_000 });
        const stored = await page.evaluate<string>(
          `sessionStorage.getItem(${JSON.stringify(`koi.dashboard.${link.id}`)})`,
        );
        assertEquals(JSON.parse(stored), { apiKey: link.apiKey, runKey: link.runKey });
        assertEquals(await page.evaluate("localStorage.length"), 0);
        assertEquals(await page.evaluate("document.cookie"), "");
        assertEquals(await page.value("#password").catch(() => "gone"), "gone");
      });

      await t.step("the jobs, by section and host, with states and schedules", async () => {
        await page.waitForFunction(
          `document.querySelectorAll("tr.job").length === ${jobs.length + 4}`,
        );
        const rows = await page.evaluate<string[][]>(`[...document.querySelectorAll("tr.job")]
          .map((row) => [row.closest("tbody").querySelector(".section-name").textContent,
            row.closest("tbody").querySelector(".host").lastChild.textContent,
            ...[...row.children].map((cell) => cell.textContent.replace(/\\s+/g, " ").trim())])`);
        const row = (label: string, host = "web1") =>
          rows.find((r) => r[1] === host && r[2]!.startsWith(label));
        assertEquals(row("Hostile")?.slice(0, 4), [
          "Boot",
          "web1",
          "Hostile",
          "when koid starts@reboot",
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
        assertEquals(
          await page.evaluate(`[...document.querySelectorAll(".group")]
            .map((group) => group.querySelector(".section-name").textContent + " " +
              group.querySelector(".host").lastChild.textContent)`),
          [
            "No section web1",
            "Admin web1",
            "Admin web2",
            "Backups web2",
            "Boot web1",
            "Reports web2",
          ],
        );
        assertEquals(
          await page.evaluate(`document.querySelector(".group th").getAttribute("scope")`),
          "rowgroup",
        );
        await page.screenshot(`${artifacts}page-jobs.png`, { width: 1280, height: 800 });
        const dark = [{ name: "prefers-color-scheme", value: "dark" }];
        await page.cdp("Emulation.setEmulatedMedia", { features: dark });
        await page.screenshot(`${artifacts}page-jobs-dark.png`);
        await page.cdp("Emulation.setEmulatedMedia", { features: [] });
        await Deno.mkdir(new URL("docs/", root), { recursive: true });
        await Deno.copyFile(`${artifacts}page-jobs.png`, new URL("docs/screenshot.png", root));
      });

      await t.step("output holding <script> is shown as text, and runs nothing", async () => {
        const hostile = job("Hostile");
        await page.click(`tr[data-key="web1/${hostile.tag}"] a.badge-link`);
        await page.waitForFunction(`document.querySelector("pre.output:not(.empty)")`);
        assertEquals(await visibleText(page, "pre.output"), "<script>alert(1)</script>\n");
        assertEquals(await page.evaluate("document.querySelectorAll('script').length"), 1);
        assertEquals(await page.evaluate("document.querySelectorAll('pre.output *').length"), 0);
        assertEquals(page.dialogs(), []);
        assertEquals(await page.evaluate("document.activeElement.tagName"), "H1");
      });

      await t.step("stderr is marked, terminal colours are classes", async () => {
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
        const facts = await visibleText(page, ".facts");
        assert(facts!.includes("failed, exit code 3"), facts!);
        assert(facts!.includes("at boot"), facts!);
        await page.screenshot(`${artifacts}page-run-output.png`, { width: 1280, height: 800 });
      });

      const greet = job("Greet");
      const greetPage = `${url}#/job/web1/${greet.tag}`;

      await t.step("a manual job's form: labels, types, defaults, a host picker", async () => {
        await page.goto(greetPage);
        await page.waitFor("form.run-form");
        const fields = await page.evaluate(`[...document.querySelectorAll(".run-form input")]
          .map((input) => [document.querySelector('label[for="' + input.id + '"]').firstChild.textContent,
            input.type, input.type === "checkbox" ? input.checked : input.value, input.required])`);
        assertEquals(fields, [
          ["Who", "text", "", true],
          ["Count", "number", "3", false],
          ["Loud", "checkbox", false, false],
        ]);
        assertEquals(await page.evaluate("document.querySelector('input[type=number]').step"), "1");
        assertEquals(
          await page.evaluate(
            `[...document.querySelectorAll("#run-host option")].map((o) => o.value)`,
          ),
          ["web1", "web2"],
        );
        assertEquals(await page.value("#run-host"), "web1");
        await page.screenshot(`${artifacts}page-manual-form.png`, { width: 1280, height: 800 });
      });

      await t.step("a bad whole number is caught before anything is sent", async () => {
        const posted = () =>
          page.evaluate<number>(`window.__sent.filter((r) => r.method === "POST").length`);
        const before = await posted();
        await page.type("#arg-0", "x");
        await page.type("#arg-1", "4.5", { clear: true });
        await page.click(".run-form button[type=submit]");
        assertEquals(await page.text("#arg-1-message"), "Type a whole number, such as 42");
        assertEquals(await page.evaluate("document.activeElement.id"), "arg-1");
        assertEquals(
          await page.evaluate("document.querySelector('#arg-1').getAttribute('aria-invalid')"),
          "true",
        );
        assertEquals(await posted(), before);
      });

      await t.step(
        "a run with a hostile value: signed here, run by koid, output exact",
        async () => {
          await page.type("#arg-0", HOSTILE, { clear: true });
          await page.type("#arg-1", "42", { clear: true });
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
            { ...parsed, ts: 0 },
            {
              v: 1,
              dashboard: link.id,
              host: "web1",
              tag: greet.tag,
              ts: 0,
              args: { Who: HOSTILE, Count: 42, Loud: true },
            },
          );
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
        await page.waitForFunction(`document.querySelectorAll("svg.plot .bar").length === 24`);
        assertEquals(
          await page.evaluate(`document.querySelectorAll("svg.plot .bar.failed").length`),
          2,
        );
        assert((await page.text("svg.plot desc")).includes("24 runs from"));
        assertEquals(await page.evaluate(`document.querySelectorAll("svg.plot .mark").length`), 2);
        await page.screenshot(`${artifacts}page-history.png`, { width: 1280, height: 800 });
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

      await t.step("koid's refusal is shown with its reason", async () => {
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
        await page.goto(url);
        await page.waitFor(".jobs-table");
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
            [`#/job/web2/jbackup`, "svg.plot", "history"],
            [`#/run/${job("Broken").lastRun!.id}`, "pre.output .stderr", "run-output"],
          ]
        ) {
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
        await page.goto(url);
        await page.waitFor("#password");
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
