/**
 * The alert engine with its clock injected, on a store in memory, posting to a
 * real HTTP receiver on loopback: the exact body of each event and preset;
 * failures once per streak and recoveries; missed runs worked out with the
 * evaluator (daylight saving too), never for `@reboot` or `@manual` jobs, nor
 * for runs due before koid listed the job; silent hosts once, and no missed
 * runs for them; two engines on one store raising and delivering each alert
 * once; a channel down for an hour getting everything afterwards, once; a slow
 * channel holding up no other; email through a real SMTP server.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Receiver } from "./_receiver.ts";
import { smtpServerMissing, withSmtpServer } from "./_smtp.ts";
import { DashboardStore } from "../lib/server/store.ts";
import { AlertEngine, BACKOFF_MS, RETRY_FOR_MS } from "../lib/server/alerts/engine.ts";
import { AlertStore } from "../lib/server/alerts/alert_store.ts";
import type { Channel, NewChannel } from "../lib/server/alerts/channel.ts";
import { CONNECTED_WITHIN_MS } from "../lib/server/server.ts";
import { hashApiKey, newDashboardId } from "../lib/protocol/keys.ts";
import { DEFAULT_SETTINGS, type Job, type Report } from "../lib/protocol/wire.ts";

const T0 = Date.parse("2026-03-02T09:00:00Z");
const MINUTE = 60_000;
const DASHBOARD_URL = "https://dash.example/d/ID";

/** A dashboard on a store in memory, engines on it, a clock, and a receiver. */
interface Fixture {
  kv: Deno.Kv;
  store: DashboardStore;
  id: string;
  clock: { now: number };
  receiver: Receiver;
  /** A new engine on the same store and clock. */
  engine(options?: { deliveryTimeoutMs?: number }): AlertEngine;
  /** Adds a channel. */
  channel(channel: NewChannel): Promise<Channel>;
  /** Stores reports from a host, then tells `engine` (as the server does). */
  report(engine: AlertEngine, host: string, reports: Report[]): Promise<void>;
  /** Records a call from a host now. */
  touch(host: string): Promise<void>;
  /** Runs a check and every delivery it starts. */
  checkAndDeliver(engine: AlertEngine): Promise<void>;
}

async function withFixture(fn: (fixture: Fixture) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const clock = { now: T0 };
  const now = () => clock.now;
  const store = new DashboardStore(kv, now);
  const id = newDashboardId();
  assert(await store.createDashboard(id, await hashApiKey("k".repeat(43))));
  const receiver = new Receiver();
  const engines: AlertEngine[] = [];
  const engine = (options: { deliveryTimeoutMs?: number } = {}) => {
    const made = new AlertEngine({
      kv,
      store: new DashboardStore(kv, now),
      now,
      connectedMs: CONNECTED_WITHIN_MS,
      pruneEveryMs: 0,
      allowPrivateDestinations: true,
      log: () => {},
      ...options,
    });
    engines.push(made);
    return made;
  };
  const alertStore = new AlertStore(kv);
  try {
    await fn({
      kv,
      store,
      id,
      clock,
      receiver,
      engine,
      async channel(channel) {
        return (await alertStore.addChannel(id, channel, DASHBOARD_URL, clock.now))!;
      },
      async report(engine, host, reports) {
        await store.applyReports(id, host, reports, DEFAULT_SETTINGS);
        await engine.reportsStored(id, host, reports);
        await engine.settled();
      },
      touch: (host) => store.touchHost(id, host),
      async checkAndDeliver(engine) {
        await engine.check();
        await engine.deliver();
        await engine.settled();
      },
    });
  } finally {
    for (const made of engines) await made.stop();
    await receiver.close();
    kv.close();
  }
}

function job(tag: string, name: string | null, schedule: string, timezone = "UTC"): Job {
  return {
    tag,
    name,
    section: "Nightly",
    schedule,
    timezone,
    args: [],
    next: [],
    command: "true",
    line: 1,
  };
}

function start(id: string, tag: string, startedAt: number, scheduledFor: number | null): Report {
  return {
    type: "start",
    run: {
      id,
      tag,
      name: "Backup",
      section: "Nightly",
      trigger: scheduledFor === null ? "manual" : "schedule",
      args: {},
      scheduledFor,
      startedAt,
      manualId: null,
    },
  };
}

function end(
  id: string,
  finishedAt: number,
  outcome: { status: "succeeded" | "failed" | "killed"; exitCode: number | null; signal?: string },
): Report {
  return {
    type: "end",
    runId: id,
    end: {
      finishedAt,
      exitCode: outcome.exitCode,
      signal: outcome.signal ?? null,
      status: outcome.status,
      error: null,
      outputBytes: 0,
      chunks: [],
    },
  };
}

const FAILED = { status: "failed", exitCode: 2 } as const;
const OK = { status: "succeeded", exitCode: 0 } as const;

Deno.test("a failed run: the exact body of the webhook and of each preset", async () => {
  await withFixture(async ({ id, clock, receiver, engine, channel, report, store }) => {
    const alerts = engine();
    await store.replaceJobs(id, "web1", [job("jbackup", "Backup", "30 2 * * *")]);
    await channel({ kind: "webhook", url: receiver.url("/hook") });
    await channel({ kind: "slack", url: receiver.url("/services/T0/B0/X") });
    await channel({ kind: "discord", url: receiver.url("/api/webhooks/1/tok") });
    await channel({ kind: "ntfy", url: receiver.url("/koi-alerts") });
    const due = Date.parse("2026-03-02T02:30:00Z");
    clock.now = due + 65_000;
    await report(alerts, "web1", [
      start("r1", "jbackup", due, due),
      end("r1", due + 65_000, FAILED),
    ]);
    assertEquals(receiver.bodies("/hook"), [{
      event: "failed",
      dashboard: id,
      host: "web1",
      tag: "jbackup",
      name: "Backup",
      section: "Nightly",
      runId: "r1",
      status: "failed",
      exitCode: 2,
      signal: null,
      scheduledFor: due,
      at: due + 65_000,
      url: `${DASHBOARD_URL}#/run/r1`,
    }]);
    assertEquals(receiver.bodies("/services/T0/B0/X"), [{
      text: `❌ Backup failed on web1 (exit 2)\n<${DASHBOARD_URL}#/run/r1|Open the run>`,
    }]);
    assertEquals(receiver.bodies("/api/webhooks/1/tok"), [{
      content: `❌ Backup failed on web1 (exit 2)\n<${DASHBOARD_URL}#/run/r1>`,
      allowed_mentions: { parse: [] },
    }]);
    // ntfy: a JSON publish to the server's root, naming the topic.
    assertEquals(receiver.bodies("/"), [{
      topic: "koi-alerts",
      title: "Backup failed on web1 (exit 2)",
      message: "Job: Backup (section Nightly)\nMachine: web1\nResult: exit 2\n" +
        "Due: 2026-03-02 02:30 UTC\nEnded: 2026-03-02 02:31:05 UTC",
      tags: ["x"],
      priority: 4,
      click: `${DASHBOARD_URL}#/run/r1`,
    }]);
    assert(receiver.received.every((r) => r.contentType === "application/json"));
    // The history: one alert, each channel's delivery sent.
    const [alert, ...others] = await alerts.alerts.listAlerts(id, { limit: 10 });
    assertEquals(others, []);
    assertEquals(alert!.event, "failed");
    assertEquals(
      alert!.deliveries.map((d) => [d.kind, d.state, d.attempts, d.error, d.sentAt]).sort(),
      [
        ["discord", "sent", 1, null, due + 65_000],
        ["ntfy", "sent", 1, null, due + 65_000],
        ["slack", "sent", 1, null, due + 65_000],
        ["webhook", "sent", 1, null, due + 65_000],
      ],
    );
  });
});

Deno.test("failures alert once per streak (again after a day), then once when the job recovers", async () => {
  await withFixture(async ({ id, clock, receiver, engine, channel, report }) => {
    const alerts = engine();
    await channel({ kind: "webhook", url: receiver.url("/hook") });
    const events = () =>
      receiver.bodies("/hook").map((b) => (b as { event: string; runId: string }))
        .map((b) => `${b.event} ${b.runId}`);
    const run = async (
      runId: string,
      outcome: Parameters<typeof end>[2],
      startedAt = clock.now,
    ) => {
      await report(alerts, "web1", [
        start(runId, "jbackup", startedAt, startedAt),
        end(runId, startedAt + 1000, outcome),
      ]);
    };
    await run("r1", OK);
    await run("r2", FAILED, T0 + 1 * MINUTE);
    await run("r3", { status: "killed", exitCode: null, signal: "SIGKILL" }, T0 + 2 * MINUTE);
    // The same end again (koid resends a batch it got no answer for): nothing new.
    await report(alerts, "web1", [end("r2", T0 + MINUTE + 1000, FAILED)]);
    assertEquals(events(), ["failed r2"]);
    await run("r4", OK, T0 + 3 * MINUTE);
    await run("r5", OK, T0 + 4 * MINUTE);
    assertEquals(events(), ["failed r2", "recovered r4"]);
    const recovered = receiver.bodies("/hook")[1] as Record<string, unknown>;
    assertEquals(recovered, {
      event: "recovered",
      dashboard: id,
      host: "web1",
      tag: "jbackup",
      name: "Backup",
      section: "Nightly",
      runId: "r4",
      status: "succeeded",
      exitCode: 0,
      signal: null,
      scheduledFor: T0 + 3 * MINUTE,
      at: T0 + 3 * MINUTE + 1000,
      url: `${DASHBOARD_URL}#/run/r4`,
    });
    // A job that keeps failing alerts again a day after its last alert.
    clock.now = T0 + 10 * MINUTE;
    await run("r6", FAILED);
    clock.now += 23 * 3_600_000;
    await run("r7", FAILED);
    clock.now += 3_600_000;
    await run("r8", FAILED);
    await run("r9", FAILED, clock.now + MINUTE);
    assertEquals(events(), ["failed r2", "recovered r4", "failed r6", "failed r8"]);
    // An old run's end that arrives late changes nothing.
    await report(alerts, "web1", [
      start("r0", "jbackup", T0 - MINUTE, null),
      end("r0", T0 - 1, OK),
    ]);
    assertEquals(events().length, 4);
    // A failure and the run that fixes it, in one batch (koid was offline): both alert.
    const at = clock.now + 5 * MINUTE;
    await report(alerts, "web1", [
      start("x1", "jother", at, at),
      end("x1", at + 1000, FAILED),
      start("x2", "jother", at + MINUTE, at + MINUTE),
      end("x2", at + MINUTE + 1000, OK),
    ]);
    // Deliveries to one channel run two at a time, so the two may arrive in either order.
    assertEquals(events().slice(4).toSorted(), ["failed x1", "recovered x2"]);
  });
});

Deno.test("muted jobs and hosts raise nothing; a recovery follows only a failure that alerted", async () => {
  await withFixture(async ({ id, clock, receiver, engine, channel, report }) => {
    const alerts = engine();
    await channel({ kind: "webhook", url: receiver.url("/hook") });
    await alerts.alerts.setMute(id, "web1", "jbackup", true, clock.now);
    await alerts.alerts.setMute(id, "db1", null, true, clock.now);
    await report(alerts, "web1", [start("r1", "jbackup", T0, T0), end("r1", T0 + 1, FAILED)]);
    await report(alerts, "db1", [start("d1", "jdump", T0, T0), end("d1", T0 + 1, FAILED)]);
    await report(alerts, "web1", [start("o1", "jother", T0, T0), end("o1", T0 + 1, FAILED)]);
    await alerts.alerts.setMute(id, "web1", "jbackup", false, clock.now);
    await report(alerts, "web1", [start("r2", "jbackup", T0 + 5, T0), end("r2", T0 + 6, OK)]);
    const events = receiver.bodies("/hook").map((b) => (b as { runId: string }).runId);
    assertEquals(events, ["o1"], "only the job neither muted nor recovering from a muted failure");
    assertEquals((await alerts.alerts.listAlerts(id, { limit: 10 })).length, 1);
  });
});

Deno.test("missed: due plus grace by the evaluator, once per run owed; never for @reboot, @manual or runs due before the job was listed", async () => {
  await withFixture(
    async ({ id, clock, receiver, engine, channel, report, store, touch, checkAndDeliver }) => {
      const alerts = engine();
      await channel({ kind: "webhook", url: receiver.url("/hook") });
      clock.now = Date.parse("2026-03-02T09:02:30Z");
      await store.replaceJobs(id, "web1", [
        job("jfive", "Every five", "*/5 * * * *"),
        job("jboot", "Boot", "@reboot"),
        job("jhand", "By hand", "@manual"),
      ]);
      // koid ran the 09:00 run before the job list arrived; the engine first looks now.
      await checkAndDeliver(alerts);
      const at = (hhmmss: string) => Date.parse(`2026-03-02T${hhmmss}Z`);
      // Polled every 20 s, and no run at 09:05: missed at 09:06 (a minute's grace), not before.
      const advanceTo = async (time: number) => {
        while (clock.now < time) {
          clock.now = Math.min(clock.now + 20_000, time);
          await touch("web1");
          await checkAndDeliver(alerts);
        }
      };
      await advanceTo(at("09:05:59"));
      assertEquals(receiver.bodies("/hook"), []);
      await advanceTo(at("09:06:00"));
      assertEquals(receiver.bodies("/hook"), [{
        event: "missed",
        dashboard: id,
        host: "web1",
        tag: "jfive",
        name: "Every five",
        section: "Nightly",
        scheduledFor: at("09:05:00"),
        at: at("09:06:00"),
        url: `${DASHBOARD_URL}#/job/web1/jfive`,
      }]);
      // Still owed at 09:10 and 09:15: the same run missed, not raised again.
      await advanceTo(at("09:16:30"));
      assertEquals(receiver.bodies("/hook").length, 1);
      // A run at 09:20, then 09:25 is missed: a new alert.
      clock.now = at("09:20:01");
      await report(alerts, "web1", [start("r20", "jfive", at("09:20:00"), at("09:20:00"))]);
      await advanceTo(at("09:26:10"));
      assertEquals(
        receiver.bodies("/hook").map((b) => (b as { scheduledFor: number }).scheduledFor),
        [at("09:05:00"), at("09:25:00")],
      );
      // A run still going is not a missed one: the next start is what counts.
      clock.now = at("09:30:01");
      await report(alerts, "web1", [start("r30", "jfive", at("09:30:00"), at("09:30:00"))]);
      await advanceTo(at("09:35:50"));
      assertEquals(receiver.bodies("/hook").length, 2);
    },
  );
});

Deno.test("missed: the due time in the job's zone by cron's daylight-saving rule", async () => {
  await withFixture(
    async ({ id, clock, receiver, engine, channel, store, touch, checkAndDeliver }) => {
      const alerts = engine();
      await channel({ kind: "webhook", url: receiver.url("/hook") });
      await store.updateSettings(id, { missedGraceSeconds: 300 });
      // Europe/Berlin springs forward at 02:00 on 29 March 2026: 02:30 never happens, and a
      // fixed-time job runs at the change (03:00 CEST, 01:00 UTC), as cron runs it.
      clock.now = Date.parse("2026-03-28T12:00:00Z");
      await store.replaceJobs(id, "web1", [
        job("jberlin", "Berlin", "30 2 * * *", "Europe/Berlin"),
      ]);
      await touch("web1");
      await checkAndDeliver(alerts);
      const change = Date.parse("2026-03-29T01:00:00Z");
      for (const time of [change + 299_000, change + 300_000]) {
        clock.now = time;
        await touch("web1");
        await checkAndDeliver(alerts);
      }
      assertEquals(
        receiver.bodies("/hook").map((
          b,
        ) => [(b as { scheduledFor: number }).scheduledFor, (b as { at: number }).at]),
        [[change, change + 300_000]],
      );
    },
  );
});

Deno.test("a silent host: one alert after the silent time, none of its jobs missed, and one when it is back", async () => {
  await withFixture(
    async ({ id, clock, receiver, engine, channel, store, touch, checkAndDeliver }) => {
      const alerts = engine();
      await channel({ kind: "webhook", url: receiver.url("/hook") });
      await store.replaceJobs(id, "web1", [job("jminute", "Minutely", "* * * * *")]);
      await checkAndDeliver(alerts);
      // koid dies right after a poll at 09:00:10.
      clock.now = T0 + 10_000;
      await touch("web1");
      for (let time = T0 + 20_000; time <= T0 + 310_000; time += 10_000) {
        clock.now = time;
        await checkAndDeliver(alerts);
      }
      assertEquals(receiver.bodies("/hook"), [{
        event: "host-silent",
        dashboard: id,
        host: "web1",
        tag: null,
        name: null,
        section: null,
        lastSeenAt: T0 + 10_000,
        at: T0 + 310_000,
        url: `${DASHBOARD_URL}#/`,
      }]);
      // Back at 09:20: one alert; the runs due while it was away are not missed ones.
      clock.now = T0 + 20 * MINUTE;
      await touch("web1");
      await checkAndDeliver(alerts);
      clock.now += 50_000;
      await touch("web1");
      await checkAndDeliver(alerts);
      const events = receiver.bodies("/hook");
      assertEquals(events.map((e) => e.event), ["host-silent", "host-back"]);
      assertEquals(events[1], {
        event: "host-back",
        dashboard: id,
        host: "web1",
        tag: null,
        name: null,
        section: null,
        lastSeenAt: T0 + 10_000,
        at: T0 + 20 * MINUTE,
        url: `${DASHBOARD_URL}#/`,
      });
      // Connected again, its job is watched again: the 09:21 run is owed.
      clock.now = T0 + 22 * MINUTE + 5_000;
      await touch("web1");
      await checkAndDeliver(alerts);
      assertEquals(
        (receiver.bodies("/hook") as { event: string; scheduledFor?: number }[]).map((e) =>
          `${e.event} ${e.scheduledFor ?? ""}`
        ),
        ["host-silent ", "host-back ", `missed ${T0 + 21 * MINUTE}`],
      );
    },
  );
});

Deno.test("two engines on one store raise each alert once and deliver it once", async () => {
  await withFixture(async ({ id, clock, receiver, engine, channel, store, touch }) => {
    const a = engine();
    const b = engine({});
    await channel({ kind: "webhook", url: receiver.url("/hook") });
    await channel({ kind: "slack", url: receiver.url("/slack") });
    await store.replaceJobs(id, "web1", [job("jminute", "Minutely", "* * * * *")]);
    await Promise.all([a.check(), b.check()]);
    // The same end through both (koid resent a batch to another instance), at once.
    const reports = [start("r1", "jminute", T0, T0), end("r1", T0 + 500, FAILED)];
    await store.applyReports(id, "web1", reports, DEFAULT_SETTINGS);
    await Promise.all([a.reportsStored(id, "web1", reports), b.reportsStored(id, "web1", reports)]);
    // A missed run and a silent host, seen by both at once.
    for (let time = T0 + 20_000; time <= T0 + 500_000; time += 20_000) {
      clock.now = time;
      if (time <= T0 + 180_000) await touch("web1");
      await Promise.all([a.check(), b.check()]);
      await Promise.all([a.deliver(), b.deliver()]);
      // The sends end before the injected clock moves on: a try holds its delivery
      // for a minute of that clock (past its 20 s limit), as the real clock would.
      await Promise.all([a.settled(), b.settled()]);
    }
    const events = (path: string) =>
      receiver.bodies(path).map((e) => (e as { event: string }).event);
    assertEquals(events("/hook"), ["failed", "missed", "host-silent"]);
    assertEquals(events("/slack").length, 3);
    assertEquals((await a.alerts.listAlerts(id, { limit: 10 })).length, 3);
  });
});

Deno.test("a channel down for an hour gets every alert afterwards, once; a 4xx is not retried; a long failure is given up", async () => {
  await withFixture(async ({ id, clock, receiver, engine, channel, report }) => {
    const alerts = engine();
    await channel({ kind: "webhook", url: receiver.url("/down") });
    await channel({ kind: "webhook", url: receiver.url("/gone") });
    let down = true;
    receiver.answers.set("/down", () => new Response("maintenance", { status: down ? 503 : 200 }));
    receiver.answers.set("/gone", () => new Response("no such hook", { status: 404 }));
    // Three failures over the hour, each of its own job.
    for (const [i, minute] of [0, 25, 50].entries()) {
      clock.now = T0 + minute * MINUTE;
      await report(alerts, "web1", [
        start(`r${i}`, `j${i}`, clock.now, clock.now),
        end(`r${i}`, clock.now + 1000, FAILED),
      ]);
    }
    // Retried on the backoff schedule through the hour.
    for (let time = T0; time <= T0 + 60 * MINUTE; time += 10_000) {
      clock.now = time;
      await alerts.deliver();
      await alerts.settled();
    }
    assertEquals(receiver.bodies("/down"), []);
    const during = await alerts.alerts.listAlerts(id, { limit: 10 });
    for (const alert of during) {
      const to = (path: string) => alert.deliveries.find((d) => d.target.endsWith(path))!;
      const [downDelivery, goneDelivery] = [to("/down"), to("/gone")];
      assertEquals([downDelivery!.state, downDelivery!.error], [
        "pending",
        "HTTP 503: maintenance",
      ]);
      assert(downDelivery!.attempts >= 4, `${downDelivery!.attempts} tries`);
      assertEquals(
        [goneDelivery!.state, goneDelivery!.attempts, goneDelivery!.error],
        ["failed", 1, "HTTP 404: no such hook"],
      );
    }
    down = false;
    for (let time = clock.now; time <= T0 + 60 * MINUTE + BACKOFF_MS.at(-1)!; time += 10_000) {
      clock.now = time;
      await alerts.deliver();
      await alerts.settled();
    }
    assertEquals(
      receiver.bodies("/down").map((body) => (body as { runId: string }).runId).sort(),
      ["r0", "r1", "r2"],
    );
    const after = await alerts.alerts.listAlerts(id, { limit: 10 });
    assert(
      after.every((alert) =>
        alert.deliveries.find((d) => d.target.endsWith("/down"))!.state === "sent"
      ),
    );
    // Down for good: given up once the retry time is over, the failure recorded.
    down = true;
    clock.now = T0 + 2 * 3_600_000;
    await report(alerts, "web1", [
      start("r9", "j9", clock.now, clock.now),
      end("r9", clock.now, FAILED),
    ]);
    const givenUpBy = clock.now + RETRY_FOR_MS + BACKOFF_MS.at(-1)!;
    while (clock.now < givenUpBy) {
      clock.now += 60_000;
      await alerts.deliver();
      await alerts.settled();
    }
    const [last] = await alerts.alerts.listAlerts(id, { limit: 1 });
    const lastDown = last!.deliveries.find((d) => d.target.endsWith("/down"))!;
    assertEquals([last!.runId, lastDown.state], ["r9", "failed"]);
    assertEquals([lastDown.error, lastDown.nextAttemptAt], ["HTTP 503: maintenance", null]);
  });
});

Deno.test("a slow channel holds up no other, nor the raising of alerts", async () => {
  await withFixture(async ({ id, receiver, engine, channel, store }) => {
    const alerts = engine({ deliveryTimeoutMs: 60_000 });
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    receiver.answers.set("/slow", async () => {
      await released;
      return new Response("late");
    });
    await channel({ kind: "webhook", url: receiver.url("/slow") });
    await channel({ kind: "webhook", url: receiver.url("/fast") });
    const reports = [start("r1", "j1", T0, T0), end("r1", T0 + 1, FAILED)];
    await store.applyReports(id, "web1", reports, DEFAULT_SETTINGS);
    // Raising awaits no delivery: the slow one is still waiting for its answer after.
    await alerts.reportsStored(id, "web1", reports);
    for (let tries = 0; receiver.bodies("/fast").length === 0 && tries < 400; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assertEquals(
      receiver.bodies("/fast").length,
      1,
      "the fast channel got it while the slow one waits",
    );
    assertEquals(receiver.bodies("/slow").length, 0);
    release();
    await alerts.settled();
    assertEquals(receiver.bodies("/slow").length, 1);
  });
});

/** Decodes a header's RFC 2047 words (base64, UTF-8), as a mail reader does. */
function decodeHeader(value: string): string {
  return value.replace(/\r\n /g, "").replace(
    /=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=/g,
    (_, b64: string) =>
      new TextDecoder().decode(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))),
  );
}

const smtpMissing = await smtpServerMissing();

/** An email channel through the test SMTP server, plain (it is on loopback). */
function emailChannel(port: number, to: string[]): NewChannel {
  const smtp = { host: "127.0.0.1", port, tls: "none", user: null, password: null } as const;
  return { kind: "email", to, smtp: { ...smtp, from: "alerts@example.com" } };
}

Deno.test("email: one message per alert, the exact subject, headers and body, to a real SMTP server", async () => {
  if (smtpMissing !== null) {
    console.log(`skipped: ${smtpMissing}`);
    return;
  }
  await withSmtpServer(async (server) => {
    await withFixture(async ({ id, clock, engine, channel, report }) => {
      const alerts = engine();
      const email = await channel(
        emailChannel(server.port, ["ops@example.com", "dev@example.org"]),
      );
      const due = Date.parse("2026-03-02T02:30:00Z");
      clock.now = due + 65_000;
      await report(alerts, "web1", [
        start("r1", "jbackup", due, due),
        end("r1", due + 65_000, FAILED),
      ]);
      const [mail] = await server.messages(1);
      const [alert] = await alerts.alerts.listAlerts(id, { limit: 1 });
      assertEquals(mail!.mailFrom, "alerts@example.com");
      assertEquals(mail!.rcptTos, ["ops@example.com", "dev@example.org"]);
      const expected = [
        "From: Koi <alerts@example.com>",
        "To: ops@example.com, dev@example.org",
        "Subject: [Koi] Backup failed on web1 (exit 2)",
        "Date: Mon, 02 Mar 2026 02:31:05 +0000",
        `Message-ID: <${alert!.id}.${email.id}@example.com>`,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
        "Auto-Submitted: auto-generated",
        "",
        "Backup failed on web1 (exit 2).",
        "",
        "Job:     Backup (section Nightly)",
        "Machine: web1",
        "Result:  exit 2",
        "Due:     2026-03-02 02:30 UTC",
        "Ended:   2026-03-02 02:31:05 UTC",
        "",
        `Open the run: ${DASHBOARD_URL}#/run/r1`,
        "",
        "-- ",
        `Sent by the Koi dashboard at ${DASHBOARD_URL}.`,
        "Mute this job or machine, or change where alerts go, under Alerts on the page.",
        "",
      ].join("\r\n");
      assertEquals(new TextDecoder().decode(mail!.content), expected);
      assertEquals(alert!.deliveries.map((d) => [d.state, d.target]), [
        ["sent", `ops@example.com, dev@example.org via 127.0.0.1:${server.port}`],
      ]);
    });
  });
});

Deno.test("email: a name beyond ASCII is encoded in the subject, and the body is base64", async () => {
  if (smtpMissing !== null) {
    console.log(`skipped: ${smtpMissing}`);
    return;
  }
  await withSmtpServer(async (server) => {
    await withFixture(async ({ clock, engine, channel, report }) => {
      const alerts = engine();
      await channel(emailChannel(server.port, ["ops@example.com"]));
      clock.now = T0 + 5_000;
      const plain = start("r1", "jcafe", T0, T0);
      if (plain.type !== "start") throw new Error("a start report");
      const named: Report = {
        ...plain,
        run: { ...plain.run, name: "Sauvegarde du café ☕, la nuit, très longue à dire" },
      };
      await report(alerts, "web1", [named, end("r1", T0 + 5_000, FAILED)]);
      const [mail] = await server.messages(1);
      const text = new TextDecoder().decode(mail!.content);
      const [head, body] = text.split("\r\n\r\n") as [string, string];
      const subject = /\r\nSubject: ((?:.|\r\n )*)\r\n/.exec(`\r\n${head}`)![1]!;
      assert(/^[\x20-\x7e\r\n]*$/.test(head), "headers are ASCII");
      assert(subject.split("\r\n ").every((word) => word.length <= 75), subject);
      assertEquals(
        decodeHeader(subject),
        "[Koi] Sauvegarde du café ☕, la nuit, très longue à dire failed on web1 (exit 2)",
      );
      assert(head.includes("Content-Transfer-Encoding: base64"), head);
      const decoded = new TextDecoder().decode(
        Uint8Array.from(atob(body.replaceAll("\r\n", "")), (ch) => ch.charCodeAt(0)),
      );
      assert(
        decoded.startsWith(
          "Sauvegarde du café ☕, la nuit, très longue à dire failed on web1 (exit 2).\n",
        ),
        decoded,
      );
    });
  });
});
