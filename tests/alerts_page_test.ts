/**
 * The page's alerts in Chromium (through `_browser.ts`) against a real server:
 * a webhook channel added from the page, "Send test" pressed, the test alert
 * received by a local HTTP server and shown sent in the history; a machine
 * muted from the page; and the jobs of a silent machine saying so under "Next
 * run" instead of a time that will not come. With the jobs view open, a new
 * grace (set in the alerts view) and a machine going silent and coming back
 * reach it at its next refresh. No console error, no CSP violation. Skips,
 * with a note, without Chromium.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled, chromiumPath, type Page, waitForText } from "./_browser.ts";
import { Receiver } from "./_receiver.ts";
import { deriveKeys } from "../lib/protocol/signing.js";
import { hashApiKey, newDashboardId } from "../lib/protocol/keys.ts";
import { startServer } from "../lib/server/server.ts";
import { DashboardStore } from "../lib/server/store.ts";
import type { Job } from "../lib/protocol/wire.ts";
import { parseCron } from "../lib/cron.ts";

const PASSWORD = "Alerts page test, tulip-4-comet!";
const artifacts = new URL("../artifacts/", import.meta.url).pathname;
const installed = chromiumInstalled();
if (!installed) {
  console.warn(
    `alerts_page_test.ts: browser tests skipped, no Chromium at ${chromiumPath()} ` +
      "(apt-get install chromium, or set CHROMIUM)",
  );
}

/** A job as koid lists it at `at`, with its next runs from then. */
function job(tag: string, name: string, schedule: string, at: number): Job {
  const next = parseCron(schedule, { timezone: "UTC" }).next(new Date(at))!;
  return {
    tag,
    name,
    section: null,
    schedule,
    timezone: "UTC",
    args: [],
    next: [next.toISOString()],
    command: "true",
    line: 1,
  };
}

/**
 * A new dashboard, made through a store whose clock is `agoMs` behind, so the
 * hosts it lists jobs for were last heard from then.
 */
async function dashboardHeardAgo(kv: Deno.Kv, agoMs: number) {
  const id = newDashboardId();
  const { apiKey } = await deriveKeys(PASSWORD, id);
  const now = Date.now();
  const past = new DashboardStore(kv, () => now - agoMs);
  assert(await past.createDashboard(id, await hashApiKey(apiKey)));
  return { id, apiKey, now, past };
}

/** The server on `kv`, its alerts' look at dashboards off, destinations on loopback allowed. */
function alertsServer(kv: Deno.Kv) {
  return startServer({
    kv,
    port: 0,
    pruneEveryMs: 0,
    log: () => {},
    alerts: { allowPrivateDestinations: true, checkEveryMs: 0 },
  });
}

/** Opens the dashboard's page and signs in. */
async function signIn(page: Page, url: string, id: string): Promise<void> {
  await page.goto(`${url}/d/${id}`);
  await page.waitFor("#password");
  await page.type("#password", PASSWORD);
  await page.press("Enter");
}

Deno.test({
  name: "alerts page: add a webhook, send a test, see it in the history; mute; a silent machine",
  ignore: !installed,
  async fn() {
    const kv = await Deno.openKv(":memory:");
    const receiver = new Receiver();
    const server = await alertsServer(kv);
    try {
      // web1 was last heard from ten minutes ago: silent (after five, by default).
      const { id, apiKey, now, past } = await dashboardHeardAgo(kv, 10 * 60_000);
      await past.replaceJobs(id, "web1", [
        // Daily, six hours from now: due later, whenever the test runs.
        job(
          "jbackup",
          "Nightly backup",
          `0 ${(new Date(now).getUTCHours() + 6) % 24} * * *`,
          now - 10 * 60_000,
        ),
        job("jbeat", "Heartbeat", "* * * * *", now - 10 * 60_000),
      ]);
      await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });
      const page = browser.page;
      await signIn(page, server.url, id);
      await page.waitFor(".jobs-table", { timeoutMs: 15_000 });

      // The silent machine's jobs: no next time that will not come, but the truth.
      await waitForText(page, ".host-row", "silent, last seen");
      const beat = `tr[data-key="web1/jbeat"] td[data-label="Next run"]`;
      await waitForText(page, beat, "the machine is silent");
      assert(
        /^the machine is silentwas due \d\d:\d\d, (9|10) min ago$/.test(await page.text(beat)),
        await page.text(beat),
      );
      const backup = `tr[data-key="web1/jbackup"] td[data-label="Next run"]`;
      assert(
        /^the machine is silentdue .+, if it is back$/.test(await page.text(backup)),
        await page.text(backup),
      );

      await page.click(`nav a[href="#/alerts"]`);
      await page.waitFor("#channel-url");
      await waitForText(page, ".channel-box", "No channel yet");
      const hook = receiver.url("/koi-hook");
      await page.type("#channel-url", hook);
      await page.click(".add-channel button[type=submit]");
      await waitForText(page, ".channels", "Webhook (JSON)");
      await waitForText(page, ".channels", hook);
      await page.click(".channel-actions button");
      await waitForText(page, "[role=status].form-note", "Test alert sent");
      await waitForText(page, ".alerts-table", "Test alert from the Koi dashboard");
      await waitForText(page, ".alerts-table .deliveries", "sent");
      assertEquals(receiver.received.map((r) => r.path), ["/koi-hook"]);
      assertEquals(receiver.bodies().map((body) => [body.event, body.url]), [
        ["test", `${server.url}/d/${id}#/alerts`],
      ]);

      // Mute the machine from the page, then unmute it.
      await page.click(".mute-form button[type=submit]");
      await waitForText(page, ".mute-list", "web1: all its jobs");
      const mutes = await fetch(`${server.url}/api/d/${id}/mutes`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assertEquals((await mutes.json()).mutes.map((m: { host: string }) => m.host), ["web1"]);
      await page.click(".mute-list button");
      await waitForText(page, ".mutes", "Nothing is muted.");

      // Screenshots (artifacts/, never tracked), and nothing scrolls sideways at 360 px.
      await Deno.mkdir(artifacts, { recursive: true });
      await page.screenshot(`${artifacts}page-alerts.png`, { width: 1280, height: 1400 });
      await page.setViewport(360, 760, true);
      assert(
        await page.evaluate<number>("document.documentElement.scrollWidth") <= 360,
        "the alerts view scrolls sideways at 360 px",
      );
      await page.screenshot(`${artifacts}page-360-alerts.png`, { width: 360, height: 2200 });
      await page.setViewport(1280, 800);

      // A bad address is refused with the server's reason, in words.
      await page.type("#channel-url", "ftp://example.com/x");
      await page.click(".add-channel button[type=submit]");
      await waitForText(page, ".add-channel [role=alert]", "must be an http: or https: URL");
      assertEquals(page.errors().filter((error) => !error.includes("400")), []);
    } finally {
      await server.shutdown();
      await receiver.close();
      kv.close();
    }
  },
});

Deno.test({
  name:
    "alerts page: a new grace, and a machine going silent and coming back, reach the open jobs view",
  ignore: !installed,
  async fn() {
    const kv = await Deno.openKv(":memory:");
    // The server's clock runs ahead of the browser's by `skew`: the machine ages.
    let skew = 0;
    const server = await startServer({
      kv,
      port: 0,
      pruneEveryMs: 0,
      log: () => {},
      now: () => Date.now() + skew,
      alerts: { checkEveryMs: 0, deliverEveryMs: 0 },
    });
    try {
      // web1 was last heard from four minutes ago (silent after five): quiet, not silent.
      const { id, apiKey, now, past } = await dashboardHeardAgo(kv, 4 * 60_000);
      // Its heartbeat never ran and owes the run due three minutes ago: late after a minute.
      const due = new Date(now - 3 * 60_000).toISOString();
      await past.replaceJobs(id, "web1", [
        { ...job("jbeat", "Heartbeat", "* * * * *", now), next: [due] },
      ]);
      await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });
      const page = browser.page;
      await signIn(page, server.url, id);
      const row = `tr[data-key="web1/jbeat"]`;
      const rowIs = (state: string) =>
        page.waitForFunction(
          `document.querySelector(${JSON.stringify(row)})?.className === "job ${state}"`,
          { timeoutMs: 20_000 },
        );
      await rowIs("late");
      await waitForText(page, ".host-row", "not connected, last seen");

      // Ten minutes' grace, set in the alerts view (whose machine list comes from the jobs feed).
      await page.click(`nav a[href="#/alerts"]`);
      await waitForText(page, "#mute-host", "web1");
      await page.type("#missed-grace", "10", { clear: true });
      await page.click("form.timing button[type=submit]");
      await waitForText(page, "form.timing [role=status]", "Saved.");
      await page.click(`nav a[href="#/"]`);
      // Back in the jobs view: the next refresh brings every job again, no longer late.
      await rowIs("never");

      // Two minutes on, web1 has been silent for a minute: its host row and job row say so.
      skew = 2 * 60_000;
      await waitForText(page, ".host-row", "silent, last seen", 20_000);
      await waitForText(page, `${row} td[data-label="Next run"]`, "the machine is silent");
      await rowIs("never");

      // It calls again: connected as of the next 10 s step, and its next run is back.
      const poll = await fetch(`${server.url}/api/d/${id}/hosts/web1/manual?wait=0`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assertEquals(poll.status, 200);
      await poll.body?.cancel();
      skew += 10_000;
      await waitForText(page, ".host-row", "connected", 20_000);
      await page.waitForFunction(
        `!document.querySelector(${JSON.stringify(row)}).textContent.includes("silent")`,
        { timeoutMs: 20_000 },
      );
      assertEquals(await page.text(".host-row .seen"), ", connected");
      assertEquals(page.errors(), []);
    } finally {
      await server.shutdown();
      kv.close();
    }
  },
});

Deno.test({
  name:
    "alerts page: a muted job is marked in the jobs view and on its page, which mutes and unmutes it",
  ignore: !installed,
  async fn() {
    const kv = await Deno.openKv(":memory:");
    const server = await alertsServer(kv);
    try {
      const { id, apiKey, now, past } = await dashboardHeardAgo(kv, 0);
      const hour = (new Date(now).getUTCHours() + 6) % 24;
      await past.replaceJobs(id, "web1", [
        job("jbackup", "Nightly backup", `0 ${hour} * * *`, now),
        job("jbeat", "Heartbeat", "* * * * *", now),
      ]);
      const mutes = async () => {
        const response = await fetch(`${server.url}/api/d/${id}/mutes`, {
          headers: { authorization: `Bearer ${apiKey}` },
        });
        return (await response.json()).mutes.map((m: { host: string; tag: string | null }) =>
          `${m.host}/${m.tag}`
        );
      };
      const muteJob = await fetch(`${server.url}/api/d/${id}/mutes/web1/jbeat`, {
        method: "PUT",
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assertEquals(muteJob.status, 204);
      await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });
      const page = browser.page;
      await signIn(page, server.url, id);
      await page.waitFor(".jobs-table", { timeoutMs: 15_000 });
      const beat = `tr[data-key="web1/jbeat"]`;
      const backup = `tr[data-key="web1/jbackup"]`;
      await waitForText(page, `${beat} .alerts-muted`, "alerts muted");
      assertEquals(
        await page.evaluate<number>(`document.querySelectorAll(".alerts-muted").length`),
        1,
      );

      // The job page mutes and unmutes its job.
      await page.click(`${backup} a`);
      await waitForText(page, ".mute-state", "Mute alerts");
      await page.click(".mute-state button");
      await waitForText(page, ".mute-state", "Alerts are muted for this job.");
      assertEquals(await mutes(), ["web1/jbackup", "web1/jbeat"]);
      await page.click(".mute-state button");
      await waitForText(page, ".mute-state", "Mute alerts");
      assertEquals(await mutes(), ["web1/jbeat"]);

      // A machine muted in the Alerts view: every job of it says so, in the jobs view at once.
      await page.click(`nav a[href="#/alerts"]`);
      await waitForText(page, ".mute-list", "web1: Heartbeat");
      await page.click(".mute-form button[type=submit]");
      await waitForText(page, ".mute-list", "web1: all its jobs");
      assertEquals(await mutes(), ["web1/null", "web1/jbeat"]);
      await page.click(`nav a[href="#/"]`);
      await waitForText(page, `${backup} .alerts-muted`, "alerts muted on web1");
      await waitForText(page, `${beat} .alerts-muted`, "alerts muted on web1");
      await page.click(`${beat} a`);
      await waitForText(page, ".mute-state", "Alerts are muted for every job on web1");
      assertEquals(page.errors(), []);
    } finally {
      await server.shutdown();
      kv.close();
    }
  },
});
