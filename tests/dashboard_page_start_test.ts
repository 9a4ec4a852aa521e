/**
 * How the dashboard page starts, in Chromium against a real server behind a
 * recording front. With keys kept for the tab, `ui/start.js` sends the first
 * call for the jobs while the page's other modules are still coming (the front
 * holds `ui/jobs.js` until that call has come, so the order is not left to
 * timing), and the app reads that answer instead of asking again; a worker sends
 * it, and where the worker cannot load, the page itself. Without keys
 * nothing goes to the API before the password is typed, and signing in asks for
 * the jobs once. A key the server no longer takes signs out, as before. The page
 * names every module it loads at once (`<link rel="modulepreload">`), checked
 * against the modules' own imports.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled, chromiumPath, waitForText } from "./_browser.ts";
import { createDashboard } from "./_new_dashboard.ts";
import { bigHostName, fillBigDashboard } from "./_big_dashboard.ts";
import { DASHBOARD_PAGE, PAGE_MODULES, START_MODULES } from "../lib/page/page.ts";
import { startServer } from "../lib/server/server.ts";
import { deriveKeys } from "../lib/protocol/signing.js";
import { newDashboardId } from "../lib/protocol/keys.ts";

const installed = chromiumInstalled();
if (!installed) {
  console.warn(
    `dashboard_page_start_test.ts: browser tests skipped, no Chromium at ${chromiumPath()} ` +
      "(apt-get install chromium, or set CHROMIUM)",
  );
}

/**
 * The modules the page loads from these, as the browser would find them: their
 * static imports (and re-exports), read from the sources, each once.
 *
 * @param entries The entry modules, as paths the page loads them from (`/ui/app.js`).
 * @returns The modules' paths, entries included.
 */
async function moduleGraph(...entries: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const visit = async (path: string) => {
    if (found.has(path)) return;
    found.add(path);
    const text = await Deno.readTextFile(new URL(`../lib${path}`, import.meta.url));
    for (const match of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom "([^"]+)";/gms)) {
      await visit(new URL(match[1]!, `http://page${path}`).pathname);
    }
  };
  for (const entry of entries) await visit(entry);
  return found;
}

Deno.test("the page names every module it loads, once, start.js's first", async () => {
  assertEquals(
    [...PAGE_MODULES].sort(),
    [...await moduleGraph("/ui/start.js", "/ui/app.js")].sort(),
  );
  assertEquals(new Set(PAGE_MODULES).size, PAGE_MODULES.length);
  // start.js and what it imports come first, so that they are asked for first; the
  // rest at a low priority.
  const first = await moduleGraph("/ui/start.js");
  assertEquals(new Set(START_MODULES), first);
  assertEquals(PAGE_MODULES.slice(0, START_MODULES.length), [...START_MODULES]);
  const links = [...DASHBOARD_PAGE.matchAll(/<link rel="modulepreload" href="([^"]+)"([^>]*)>/g)]
    .map((match) => [match[1], match[2]]);
  assertEquals(
    links,
    PAGE_MODULES.map((path) => [path, first.has(path) ? "" : ' fetchpriority="low"']),
  );
  const scripts = [...DASHBOARD_PAGE.matchAll(/<script ([^>]*)><\/script>/g)].map((m) => m[1]);
  assertEquals(scripts, [
    'async src="/ui/early_worker.js"',
    'type="module" async src="/ui/start.js"',
    'type="module" src="/ui/app.js"',
  ]);
});

/** A request the front passed on: method, path and query, and its `Authorization`. */
interface Passed {
  method: string;
  path: string;
  authorization: string | null;
}

Deno.test({
  name: "the page asks for the jobs before its modules have loaded, once, only with kept keys",
  ignore: !installed,
  async fn(t) {
    const kv = await Deno.openKv(":memory:");
    const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
    const password = "start test, quince-4-lantern";
    const id = newDashboardId();
    const keys = await deriveKeys(password, id);
    const { headers } = await createDashboard(server.url, { id, apiKey: keys.apiKey });
    await fillBigDashboard({ url: server.url, id, headers, dataKey: keys.dataKey }, 2, 3);
    // A big one: past the 2,000 jobs a first call answers whole (101 hosts of 20).
    const bigId = newDashboardId();
    const bigKeys = await deriveKeys(password, bigId);
    const big = await createDashboard(server.url, { id: bigId, apiKey: bigKeys.apiKey });
    await fillBigDashboard(
      { url: server.url, id: bigId, headers: big.headers, dataKey: bigKeys.dataKey },
      101,
      20,
    );

    // The front: passes everything on and records it; holds ui/jobs.js, when asked to,
    // until the first call for the jobs has come (or 10 s, recorded as a failure).
    const passed: Passed[] = [];
    /** Whether a path is of a first call for the jobs: every job, or the jobs view's. */
    const firstCall = (path: string) =>
      path === `/api/d/${id}/jobs?since=0` || path === `/api/d/${id}/jobs?since=0&first=100`;
    let hold = false;
    /** Whether the front answers the worker's script with a 404. */
    let refuseWorker = false;
    let heldUntil: "the jobs call" | "the time ran out" | null = null;
    let jobsCalled = Promise.withResolvers<void>();
    /** Holds the answers to calls for every job of the big dashboard, until resolved. */
    let holdBig: Promise<void> | null = null;
    const front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const url = new URL(request.url);
      const path = url.pathname + url.search;
      passed.push({
        method: request.method,
        path,
        authorization: request.headers.get("authorization"),
      });
      if (firstCall(path)) jobsCalled.resolve();
      if (path === `/api/d/${bigId}/jobs?since=0`) await holdBig;
      if (refuseWorker && url.pathname === "/ui/call_worker.js") {
        return new Response("not here", { status: 404 });
      }
      if (hold && url.pathname === "/ui/jobs.js") {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"the time ran out">((resolve) => {
          timer = setTimeout(() => resolve("the time ran out"), 10_000);
        });
        heldUntil = await Promise.race([
          jobsCalled.promise.then(() => "the jobs call" as const),
          timeout,
        ]);
        clearTimeout(timer);
      }
      const sent = new Headers(request.headers);
      sent.delete("host");
      const answer = await fetch(`${server.url}${path}`, {
        method: request.method,
        headers: sent,
        body: request.body,
      });
      return new Response(answer.body, { status: answer.status, headers: answer.headers });
    });
    const url = `http://127.0.0.1:${front.addr.port}/d/${id}`;
    const apiCalls = (from: number) => passed.slice(from).filter((r) => r.path.startsWith("/api/"));
    const jobsCalls = (from: number) => passed.slice(from).filter((r) => firstCall(r.path));
    try {
      await using browser = await Browser.launch({ timeoutMs: 20_000, waitMs: 15_000 });
      const page = browser.page;
      await page.cdp("Network.setCacheDisabled", { cacheDisabled: true });
      /** Loads the dashboard afresh at `fragment`, with the tab's kept keys. */
      const load = async (fragment = "") => {
        await page.goto("about:blank");
        await page.goto(url + fragment);
      };
      /** Whether the page itself (not a worker) sent a call for the jobs ending so. */
      const pageSent = (ending: string) =>
        page.evaluate<boolean>(`performance.getEntriesByType("resource")
          .some((entry) => entry.name.endsWith(${JSON.stringify(ending)}))`);
      const job = `#/job/${bigHostName(1)}/${`j${"2".padStart(16, "0")}`}`;

      await t.step(
        "without keys: nothing sent before the password, then the jobs once",
        async () => {
          const from = passed.length;
          await page.goto(url);
          await page.waitFor("#password");
          assertEquals(apiCalls(from), []);
          await page.type("#password", password);
          await page.press("Enter");
          await page.waitForFunction(`document.querySelectorAll("tr.job").length === 6`);
          // The password checked first, then every job, once (and what else the view reads).
          assertEquals(apiCalls(from)[0]?.path, `/api/d/${id}`);
          assertEquals(jobsCalls(from).length, 1);
        },
      );

      await t.step("keys kept: the jobs call goes out before the app's modules, once", async () => {
        const from = passed.length;
        jobsCalled = Promise.withResolvers<void>();
        hold = true;
        try {
          await load();
          await page.waitForFunction(`document.querySelectorAll("tr.job").length === 6`);
        } finally {
          hold = false;
        }
        assertEquals(heldUntil, "the jobs call");
        // Six jobs: the jobs view's first call has them all, and is the only one. The page
        // sends it (the answer is small, and the worker may still be loading).
        assertEquals(apiCalls(from)[0], {
          method: "GET",
          path: `/api/d/${id}/jobs?since=0&first=100`,
          authorization: `Bearer ${keys.apiKey}`,
        });
        assertEquals(jobsCalls(from).length, 1);
        assertEquals(await pageSent("/jobs?since=0&first=100"), true);
        assert(passed.slice(from).every((r) => !r.path.includes(keys.apiKey)), "no key in a URL");
        // The refresh that follows asks for what changed since that answer, not for all.
        await page.waitForFunction(
          `performance.getEntriesByType("resource").some((e) => /jobs\\?since=(?!0(&|$))/.test(e.name))`,
        );
        assertEquals(jobsCalls(from).length, 1);
      });

      await t.step("a job's page: the worker asks for every job, once", async () => {
        const from = passed.length;
        await load(job);
        await page.waitForFunction(
          `document.querySelector("main h1")?.textContent.startsWith("Job ")`,
        );
        assertEquals(jobsCalls(from).map((r) => r.path), [`/api/d/${id}/jobs?since=0`]);
        assertEquals(await pageSent("/jobs?since=0"), false);
      });

      await t.step("a worker that cannot load: the page sends the call itself, once", async () => {
        const from = passed.length;
        refuseWorker = true;
        try {
          await load(job);
          await page.waitForFunction(
            `document.querySelector("main h1")?.textContent.startsWith("Job ")`,
          );
        } finally {
          refuseWorker = false;
        }
        assert(
          passed.slice(from).some((r) => r.path === "/ui/call_worker.js"),
          "the worker's script was asked for",
        );
        assertEquals(jobsCalls(from).length, 1);
        assertEquals(await pageSent("/jobs?since=0"), true);
        assertEquals(page.errors(), []);
      });

      await t.step("a big dashboard: its first screen of rows, then every job", async () => {
        const from = passed.length;
        const release = Promise.withResolvers<void>();
        holdBig = release.promise;
        try {
          await page.evaluate(
            `sessionStorage.setItem(${JSON.stringify(`koi.dashboard.${bigId}`)}, ${
              JSON.stringify(JSON.stringify(bigKeys))
            })`,
          );
          await page.goto("about:blank");
          await page.goto(url.replace(id, bigId));
          // Every job held back: the first screen's rows show, and say the rest is coming.
          await waitForText(page, ".page-head ~ div p.muted", "2,020 jobs; loading them all…");
          const shown = await page.evaluate<string[]>(
            `[...document.querySelectorAll("tr.job")].slice(0, 2).map((row) => row.dataset.key)`,
          );
          assertEquals(shown, [
            `${bigHostName(0)}/j${"16".padStart(16, "0")}`,
            `${bigHostName(0)}/j${"17".padStart(16, "0")}`,
          ]);
          assertEquals(await page.evaluate(`document.querySelector(".summary")`), null);
        } finally {
          release.resolve();
          holdBig = null;
        }
        // Then every job, through the worker, and the same rows first.
        await waitForText(page, ".summary", "2,020 jobs on 101 machines");
        assertEquals(
          passed.slice(from).filter((r) => r.path.startsWith(`/api/d/${bigId}/jobs`)).map((r) =>
            r.path
          ),
          [`/api/d/${bigId}/jobs?since=0&first=100`, `/api/d/${bigId}/jobs?since=0`],
        );
        assertEquals(await pageSent("/jobs?since=0"), false);
        assertEquals(
          await page.evaluate(`document.querySelector("tr.job").dataset.key`),
          `${bigHostName(0)}/j${"16".padStart(16, "0")}`,
        );
        assertEquals(page.errors(), []);
        await page.evaluate(
          `sessionStorage.removeItem(${JSON.stringify(`koi.dashboard.${bigId}`)})`,
        );
      });

      await t.step("a run's page does not ask for the jobs", async () => {
        const from = passed.length;
        await page.goto("about:blank");
        await page.goto(`${url}#/run/no-such-run`);
        // Once the run view has asked for its run, start.js has long decided.
        await page.waitForFunction(
          `performance.getEntriesByType("resource").some((e) => e.name.includes("/runs/no-such-run"))`,
        );
        assertEquals(jobsCalls(from), []);
      });

      await t.step("a key the server no longer takes: signed out, as before", async () => {
        const from = passed.length;
        await page.evaluate(
          `sessionStorage.setItem(${JSON.stringify(`koi.dashboard.${id}`)}, ${
            JSON.stringify(JSON.stringify({ ...keys, apiKey: "A".repeat(43) }))
          })`,
        );
        await page.goto("about:blank");
        await page.goto(url);
        await waitForText(page, ".signin .notice", "no longer accepts this sign-in");
        assertEquals(jobsCalls(from).length, 1);
        assertEquals(await page.evaluate("sessionStorage.length"), 0);
      });
    } finally {
      await front.shutdown();
      await server.shutdown();
      kv.close();
    }
  },
});
