/**
 * The dashboard page at scale, in Chromium (through `_browser.ts`): dashboards of
 * 2,000 and 10,000 jobs (100 and 500 hosts of 20 jobs), made through the API as
 * koids would. At 10,000 jobs the page paints its first screen of rows from a
 * small first answer (`jobs?since=0&first=100`), the same rows that stay at the
 * top once every job has come. The page shows them a window at a time, opens the commands of the
 * rows it shows (the rest in idle time), finds a host's jobs and a command's with
 * the filter, shows the last rows when scrolled to the end, keeps the focus, does
 * not scroll sideways at 360 px, refreshes with 304s when nothing changed and with
 * one job when one ran. It prints what each took: the first rows (wall clock and
 * main thread; after the dashboard was filled, three times again with the server's
 * listing of every job kept, and three times after one run ended), a refresh's main
 * thread, and its bytes. The targets (first paint ≤ 1 s, a refresh ≤ 50 ms of main
 * thread, ≤ 1 KB) are the bench's and the README's; this test bounds them only
 * loosely, against a page that freezes.
 *
 * @module
 */

import { createDashboard } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled, chromiumPath, type Page } from "./_browser.ts";
import { bigHostName, bigRunReports, fillBigDashboard } from "./_big_dashboard.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { base64url } from "../lib/protocol/keys.ts";
import { startServer } from "../lib/server/server.ts";

const installed = chromiumInstalled();
if (!installed) {
  console.warn(
    `dashboard_page_scale_test.ts: skipped, no Chromium at ${chromiumPath()} ` +
      "(apt-get install chromium, or set CHROMIUM)",
  );
}

const JOBS_PER_HOST = 20;
/** How many times the first rows are measured with the listing kept, and after a run. */
const SAMPLES = 3;

/** Measures of the first rows as "median ms (main thread), from min to max ms". */
function spread(samples: { ms: number; mainMs: number }[]): string {
  const sorted = samples.toSorted((a, b) => a.ms - b.ms);
  const middle = sorted[Math.floor(sorted.length / 2)]!;
  return `${Math.round(middle.ms)} ms (${Math.round(middle.mainMs)} ms), ` +
    `from ${Math.round(sorted[0]!.ms)} to ${Math.round(sorted.at(-1)!.ms)} ms`;
}

/** DevTools' count of the page's main-thread work so far, in ms. */
async function mainThreadMs(page: Page): Promise<number> {
  const { metrics } = await page.cdp("Performance.getMetrics") as {
    metrics: { name: string; value: number }[];
  };
  return metrics.find((metric) => metric.name === "TaskDuration")!.value * 1000;
}

/** Waits until the page has painted what its scripts did (two animation frames). */
function painted(page: Page): Promise<unknown> {
  return page.evaluate(
    "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))",
  );
}

/** Waits for the jobs view's next refresh to be drawn and painted. */
async function nextRefresh(page: Page): Promise<void> {
  const updated = await page.text(".updated");
  await page.waitForFunction(
    `document.querySelector(".updated").textContent !== ${JSON.stringify(updated)}`,
    { timeoutMs: 20_000 },
  );
  await painted(page);
}

/** The page's calls for changes so far: status and bytes, as Resource Timing saw them. */
function changeCalls(
  page: Page,
): Promise<{ status: number; body: number; transfer: number; query: string }[]> {
  return page.evaluate(`performance.getEntriesByType("resource")
    .filter((entry) => entry.name.includes("/jobs?since="))
    .map((entry) => ({ status: entry.responseStatus, body: entry.encodedBodySize,
      transfer: entry.transferSize, query: new URL(entry.name).search.slice(0, 200) }))`);
}

Deno.test({
  name: "dashboard page at 2,000 and 10,000 jobs: a window of rows, the filter, 304 refreshes",
  ignore: !installed,
  async fn(t) {
    const kv = await Deno.openKv(":memory:");
    // The server's clock stops once a dashboard is filled: a host that stops calling would
    // otherwise turn "not connected" 35 s later, a change every open page is sent, and the
    // refreshes measured here are those with nothing changed.
    let stoppedAt: number | null = null;
    const now = () => stoppedAt ?? Date.now();
    const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {}, now });
    try {
      await using browser = await Browser.launch({ timeoutMs: 60_000, waitMs: 20_000 });
      const page = browser.page;
      await page.cdp("Performance.enable");
      await page.cdp("Network.setCacheDisabled", { cacheDisabled: true });
      for (const hosts of [100, 500]) {
        const jobCount = hosts * JOBS_PER_HOST;
        await t.step(`${jobCount.toLocaleString("en-US")} jobs`, async () => {
          const { id, apiKey, headers } = await createDashboard(server.url);
          const dataKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
          const dashboard = { url: server.url, id, headers, dataKey };
          const began = performance.now();
          stoppedAt = null;
          await fillBigDashboard(dashboard, hosts, JOBS_PER_HOST);
          stoppedAt = Date.now();
          const fillMs = performance.now() - began;
          const keys = JSON.stringify({ apiKey, runKey: "k".repeat(43), dataKey });

          // First rows: from the navigation's start to the rows painted; then again, nothing
          // changed, with the server's listing of every job kept (a reload, a coworker).
          // From a blank page each time, as the main thread is counted per page, the last
          // page's garbage collected first (its heap is not the next page's work).
          const firstRows = async () => {
            await page.goto("about:blank");
            await page.cdp("HeapProfiler.collectGarbage");
            // The page notes, on its own clock (from the navigation's start), when the frame
            // that first drew job rows has been painted: the first task after that frame's
            // animation callbacks (a message to itself), which the browser runs once it has
            // painted the frame (the way web-vitals finds "the next paint").
            const { identifier } = await page.cdp("Page.addScriptToEvaluateOnNewDocument", {
              source: `sessionStorage.setItem(${JSON.stringify(`koi.dashboard.${id}`)}, ${
                JSON.stringify(keys)
              });
              new MutationObserver((_, observer) => {
                if (document.querySelector("tr.job") === null) return;
                observer.disconnect();
                globalThis.firstKeys = [...document.querySelectorAll("tr.job")].slice(0, 8)
                  .map((row) => row.dataset.key);
                requestAnimationFrame(() => {
                  const channel = new MessageChannel();
                  channel.port1.onmessage = () => globalThis.firstRowsAt = performance.now();
                  channel.port2.postMessage(null);
                });
              }).observe(document, { childList: true, subtree: true });`,
            });
            const before = await mainThreadMs(page);
            await page.goto(`${server.url}/d/${id}`);
            await page.waitFor("tr.job", { timeoutMs: 60_000 });
            await painted(page);
            const ms = await page.evaluate<number>("globalThis.firstRowsAt");
            const mainMs = await mainThreadMs(page) - before;
            await page.cdp("Page.removeScriptToEvaluateOnNewDocument", { identifier });
            return { ms, mainMs };
          };
          /** Reports a run of a job, as its koid would. */
          const reportRun = async (host: string, tag: string, runId: string, failed: boolean) => {
            const response = await fetch(`${server.url}/api/d/${id}/hosts/${host}/reports`, {
              method: "POST",
              headers,
              body: JSON.stringify({
                reports: await new ReportSealer(id, host, dataKey).reports(
                  bigRunReports(runId, tag, Date.now(), failed),
                ),
              }),
            });
            assertEquals(response.status, 200);
            await response.body?.cancel();
          };
          const { ms: firstMs, mainMs: firstMainMs } = await firstRows();
          // Three of each of the others, for their middle and spread.
          const again = [];
          for (let i = 0; i < SAMPLES; i++) again.push(await firstRows());
          // And after a run ended (a big dashboard changes all the time): the server's
          // listing is brought up to date with that job.
          const afterRun = [];
          for (let i = 0; i < SAMPLES; i++) {
            await reportRun(
              bigHostName(i),
              `j${String(3).padStart(16, "0")}`,
              `between${i}`,
              false,
            );
            afterRun.push(await firstRows());
          }
          const summary = await page.text(".summary");
          // The rows first painted (at 10,000 jobs, from the first screen alone) are those
          // at the top once every job has come.
          assertEquals(
            await page.evaluate(`[...document.querySelectorAll("tr.job")].slice(0, 8)
              .map((row) => row.dataset.key)`),
            await page.evaluate("globalThis.firstKeys"),
          );
          assert(
            summary.startsWith(`${jobCount.toLocaleString("en-US")} jobs on ${hosts} machines`),
            summary,
          );
          // A window of rows, each saying its place among all of them.
          const sections = 5;
          const rowCount = 1 + sections * (1 + hosts + hosts * JOBS_PER_HOST / sections);
          assertEquals(
            await page.evaluate(
              `document.querySelector(".jobs-table").getAttribute("aria-rowcount")`,
            ),
            String(rowCount),
          );
          const shown = await page.evaluate<number>(`document.querySelectorAll("tr.job").length`);
          assert(shown > 0 && shown < 400, `${shown} job rows in the page`);
          assertEquals(
            await page.evaluate(`[...document.querySelectorAll("tbody tr")].slice(0, 3)
              .map((row) => row.getAttribute("aria-rowindex"))`),
            ["2", "3", "4"],
          );

          // Commands are opened as their rows are shown (the rest in idle time): a job
          // without a name (one in seven) shows its command.
          const command = (i: number) =>
            `/usr/local/bin/task-${i} --verbose --target /srv/data/${i}`;
          const tagOf = (i: number) => `j${String(i).padStart(16, "0")}`;
          await page.waitForFunction(
            `document.querySelector('tr[data-key="${bigHostName(0)}/${tagOf(17)}"] th a')
              ?.textContent === ${JSON.stringify(command(17))}`,
          );
          // The filter looks through every command, opened or not yet: job 17 of each host.
          await page.type("#job-filter", "srv/data/17");
          await page.waitForFunction(
            `document.querySelector("#job-filter-status").textContent.endsWith("shown.")`,
          );
          assertEquals(
            await page.text("#job-filter-status"),
            `${hosts} jobs of ${jobCount.toLocaleString("en-US")} shown.`,
          );
          assertEquals(
            await page.evaluate(`[...new Set([...document.querySelectorAll("tr.job")]
              .map((row) => row.getAttribute("data-key").split("/")[1]))]`),
            [tagOf(17)],
          );
          await page.type("#job-filter", "", { clear: true });
          await page.waitForFunction(
            `document.querySelector("#job-filter-status").textContent === ""`,
          );

          // Refreshes with nothing changed: 304s without a body. One refresh's main thread:
          // the page's over 6.5 s holding one refresh (they come 5 s apart), less what 6.5 s
          // cost without one (measured in the 2 s right after a refresh), nothing asked meanwhile.
          const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          const draws = () =>
            page.evaluate<number>(`performance.getEntriesByName("jobs drawn").length`);
          // A loaded machine may draw a refresh late or early, into the idle sample or twice in
          // the window: such a measure is taken again.
          let idleMsPerS = NaN;
          let windowMs = NaN;
          for (let tries = 0; Number.isNaN(windowMs) && tries < 3; tries++) {
            await nextRefresh(page);
            const drawsBefore = await draws();
            const idleFrom = await mainThreadMs(page);
            await sleep(2_000);
            idleMsPerS = (await mainThreadMs(page) - idleFrom) / 2;
            await nextRefresh(page);
            const quietFrom = await mainThreadMs(page);
            await sleep(6_500);
            const measured = await mainThreadMs(page) - quietFrom;
            if (await draws() === drawsBefore + 2) windowMs = measured;
          }
          assert(!Number.isNaN(windowMs), "one refresh in the window measured, in three tries");
          const refreshMainMs = windowMs - idleMsPerS * 6.5;
          const drawnMs = await page.evaluate<number>(
            `performance.getEntriesByName("jobs drawn").at(-1).duration`,
          );
          // Past the first calls (the jobs view's own, every job or at 10,000 its first screen;
          // every job after that, the worker's, not among the page's own): 304s.
          const quiet = (await changeCalls(page)).filter((call) =>
            call.query !== "?since=0" && call.query !== "?since=0&first=100"
          );
          assert(quiet.length >= 2, JSON.stringify(quiet));
          for (const call of quiet) {
            assertEquals([call.status, call.body], [304, 0], JSON.stringify(quiet));
            assert(call.transfer <= 1024, `a 304 took ${call.transfer} bytes`);
          }

          // A run ends on the last host, of the table's last row (section "Web", the last
          // by name, holds jobs 8 to 11): the next refresh brings that job alone.
          const last = bigHostName(hosts - 1);
          const tag = `j${String(11).padStart(16, "0")}`;
          await reportRun(last, tag, "fresh", true);
          const calls = (await changeCalls(page)).length;
          await page.waitForFunction(
            `performance.getEntriesByType("resource").filter((e) => e.name.includes("/jobs?since=")).length > ${calls}`,
          );
          const ran = (await changeCalls(page)).at(-1)!;
          assertEquals(ran.status, 200);
          assert(ran.body < 4096, `one job's change took ${ran.body} bytes (${ran.query})`);

          // The end of the table: its last rows come in, with that run.
          await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)");
          const lastRow = `tr[data-key="${last}/${tag}"]`;
          await page.waitFor(lastRow);
          await page.waitForFunction(
            `document.querySelector('${lastRow} .badge')?.textContent.includes("failed")`,
          );
          assertEquals(
            await page.evaluate(
              `document.querySelector('${lastRow}').getAttribute("aria-rowindex")`,
            ),
            String(rowCount),
          );
          assertEquals(
            await page.text(`tr[data-key="${last}/${tagOf(10)}"] th a`),
            command(10),
          );
          // The focus stays on its row when the reader scrolls far away.
          await page.evaluate(`document.querySelector('${lastRow} th a').focus()`);
          await page.evaluate("window.scrollTo(0, 0)");
          await painted(page);
          await page.waitFor('tr.job[aria-rowindex="4"]');
          assertEquals(
            await page.evaluate(`document.activeElement.closest("tr")?.getAttribute("data-key")`),
            `${last}/${tag}`,
          );

          // The filter: one host's jobs, said in words.
          await page.type("#job-filter", "host-0042");
          await page.waitForFunction(
            `document.querySelector("#job-filter-status").textContent.startsWith("20 jobs of")`,
          );
          assertEquals(
            await page.text("#job-filter-status"),
            `20 jobs of ${jobCount.toLocaleString("en-US")} shown.`,
          );
          assertEquals(
            await page.evaluate(`[...new Set([...document.querySelectorAll("tr.job")]
              .map((row) => row.getAttribute("data-key").split("/")[0]))]`),
            ["host-0042"],
          );
          await page.type("#job-filter", "", { clear: true });
          await page.waitForFunction(
            `document.querySelector("#job-filter-status").textContent === ""`,
          );

          // 360 px: the cards, nothing sideways.
          await page.setViewport(360, 760, true);
          await painted(page);
          assertEquals(
            await page.evaluate(
              "document.documentElement.scrollWidth > document.documentElement.clientWidth",
            ),
            false,
          );
          await page.setViewport(1280, 800);
          assertEquals(page.errors(), []);

          const round = (ms: number) => Math.round(ms);
          console.log(
            `dashboard page, ${jobCount.toLocaleString("en-US")} jobs on ${hosts} hosts: ` +
              `filled in ${round(fillMs)} ms; first rows ${round(firstMs)} ms after navigation ` +
              `(${round(firstMainMs)} ms of main thread, ${shown} job rows of ${jobCount} in ` +
              `the page), again with the server's listing kept ${spread(again)}, after a run ` +
              `ended ${spread(afterRun)}; a refresh with nothing changed: ${
                round(refreshMainMs)
              } ms of main ` +
              `thread (${round(windowMs)} ms in 6.5 s holding it, ${idleMsPerS.toFixed(1)} ms/s ` +
              `idle; the table drawn in ${round(drawnMs)} ms), ${quiet.at(-1)!.transfer} bytes ` +
              `(304); one run changed: ${ran.transfer} bytes`,
          );
          // Against a frozen page only; the targets are the bench's.
          assert(
            firstMs < 30_000 && [...again, ...afterRun].every(({ ms }) => ms < 30_000) &&
              refreshMainMs < 2_000,
            "the page froze",
          );
        });
      }
    } finally {
      await server.shutdown();
      kv.close();
    }
  },
});
