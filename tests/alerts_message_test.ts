/**
 * What each alert says, for every event and every kind of channel: the exact
 * webhook body, the Slack, Discord and ntfy presets, and the email's subject
 * and text. Pure: no network (the engine's tests send them for real).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import type { AlertEvent, AlertFacts } from "../lib/server/alerts/alert.ts";
import type { WebhookChannel } from "../lib/server/alerts/channel.ts";
import { emailText } from "../lib/server/alerts/email.ts";
import { webhookRequest } from "../lib/server/alerts/presets.ts";

const BASE = "https://dash.example/d/DASH";
const DUE = Date.parse("2026-03-02T02:30:00Z");
const job = { host: "web1", tag: "jbackup", name: "Backup", section: "Nightly" } as const;

/** One alert of each event. */
const FACTS: Record<AlertEvent, AlertFacts> = {
  failed: {
    event: "failed",
    dashboard: "DASH",
    ...job,
    runId: "r1",
    status: "failed",
    exitCode: 2,
    signal: null,
    scheduledFor: DUE,
    at: DUE + 65_000,
  },
  recovered: {
    event: "recovered",
    dashboard: "DASH",
    ...job,
    runId: "r2",
    status: "succeeded",
    exitCode: 0,
    signal: null,
    scheduledFor: DUE + 86_400_000,
    at: DUE + 86_400_000 + 90_000,
  },
  missed: {
    event: "missed",
    dashboard: "DASH",
    ...job,
    scheduledFor: DUE,
    at: DUE + 60_000,
  },
  "host-silent": {
    event: "host-silent",
    dashboard: "DASH",
    host: "web1",
    tag: null,
    name: null,
    section: null,
    lastSeenAt: DUE,
    at: DUE + 300_000,
  },
  "host-back": {
    event: "host-back",
    dashboard: "DASH",
    host: "web1",
    tag: null,
    name: null,
    section: null,
    lastSeenAt: DUE,
    at: DUE + 20 * 60_000,
  },
  test: {
    event: "test",
    dashboard: "DASH",
    host: null,
    tag: null,
    name: null,
    section: null,
    at: DUE,
  },
};

const LINKS: Record<AlertEvent, [string, string]> = {
  failed: [`${BASE}#/run/r1`, "Open the run"],
  recovered: [`${BASE}#/run/r2`, "Open the run"],
  missed: [`${BASE}#/job/web1/jbackup`, "Open the job"],
  "host-silent": [`${BASE}#/`, "Open the dashboard"],
  "host-back": [`${BASE}#/`, "Open the dashboard"],
  test: [`${BASE}#/alerts`, "Open the alerts"],
};

const HEADLINES: Record<AlertEvent, string> = {
  failed: "Backup failed on web1 (exit 2)",
  recovered: "Backup recovered on web1",
  missed: "Backup missed its run on web1 (due 2026-03-02 02:30 UTC)",
  "host-silent": "web1 is silent (nothing heard for 5 min)",
  "host-back": "web1 is back (silent for 20 min)",
  test: "Test alert from the Koi dashboard",
};

const DETAILS: Record<AlertEvent, string[]> = {
  failed: [
    "Job: Backup (section Nightly)",
    "Machine: web1",
    "Result: exit 2",
    "Due: 2026-03-02 02:30 UTC",
    "Ended: 2026-03-02 02:31:05 UTC",
  ],
  recovered: [
    "Job: Backup (section Nightly)",
    "Machine: web1",
    "Result: ok",
    "Due: 2026-03-03 02:30 UTC",
    "Ended: 2026-03-03 02:31:30 UTC",
  ],
  missed: [
    "Job: Backup (section Nightly)",
    "Machine: web1",
    "Due: 2026-03-02 02:30 UTC",
    "Not started by: 2026-03-02 02:31 UTC",
  ],
  "host-silent": ["Machine: web1", "Last heard: 2026-03-02 02:30 UTC"],
  "host-back": ["Machine: web1", "Last heard: 2026-03-02 02:30 UTC", "Back: 2026-03-02 02:50 UTC"],
  test: ["Sent: 2026-03-02 02:30 UTC"],
};

const EMOJI: Record<AlertEvent, string> = {
  failed: "❌",
  recovered: "✅",
  missed: "⏰",
  "host-silent": "🔇",
  "host-back": "🔊",
  test: "🔔",
};

const NTFY: Record<AlertEvent, [string, number]> = {
  failed: ["x", 4],
  recovered: ["white_check_mark", 3],
  missed: ["alarm_clock", 4],
  "host-silent": ["mute", 4],
  "host-back": ["loud_sound", 3],
  test: ["bell", 3],
};

function channel(kind: WebhookChannel["kind"], url: string): WebhookChannel {
  return { id: "c1", kind, url, createdAt: 0, dashboardUrl: BASE };
}

function post(kind: WebhookChannel["kind"], url: string, facts: AlertFacts) {
  const request = webhookRequest(channel(kind, url), facts);
  return { url: request.url, contentType: request.contentType, body: JSON.parse(request.body) };
}

Deno.test("the plain webhook: the documented body of each event, fields in order", () => {
  const bodies = Object.values(FACTS).map((facts) =>
    JSON.stringify(post("webhook", "https://hooks.example/koi", facts).body)
  );
  assertEquals(bodies, [
    `{"event":"failed","dashboard":"DASH","host":"web1","tag":"jbackup","name":"Backup",` +
    `"section":"Nightly","runId":"r1","status":"failed","exitCode":2,"signal":null,` +
    `"scheduledFor":${DUE},"at":${DUE + 65_000},"url":"${BASE}#/run/r1"}`,
    `{"event":"recovered","dashboard":"DASH","host":"web1","tag":"jbackup","name":"Backup",` +
    `"section":"Nightly","runId":"r2","status":"succeeded","exitCode":0,"signal":null,` +
    `"scheduledFor":${DUE + 86_400_000},"at":${DUE + 86_490_000},"url":"${BASE}#/run/r2"}`,
    `{"event":"missed","dashboard":"DASH","host":"web1","tag":"jbackup","name":"Backup",` +
    `"section":"Nightly","scheduledFor":${DUE},"at":${DUE + 60_000},` +
    `"url":"${BASE}#/job/web1/jbackup"}`,
    `{"event":"host-silent","dashboard":"DASH","host":"web1","tag":null,"name":null,` +
    `"section":null,"lastSeenAt":${DUE},"at":${DUE + 300_000},"url":"${BASE}#/"}`,
    `{"event":"host-back","dashboard":"DASH","host":"web1","tag":null,"name":null,` +
    `"section":null,"lastSeenAt":${DUE},"at":${DUE + 1_200_000},"url":"${BASE}#/"}`,
    `{"event":"test","dashboard":"DASH","host":null,"tag":null,"name":null,"section":null,` +
    `"at":${DUE},"url":"${BASE}#/alerts"}`,
  ]);
});

Deno.test("Slack, Discord and ntfy: each event reshaped for each", () => {
  for (const [event, facts] of Object.entries(FACTS) as [AlertEvent, AlertFacts][]) {
    const [link, words] = LINKS[event];
    const slackUrl = "https://hooks.slack.com/services/T0/B0/X";
    assertEquals(post("slack", slackUrl, facts), {
      url: slackUrl,
      contentType: "application/json",
      body: { text: `${EMOJI[event]} ${HEADLINES[event]}\n<${link}|${words}>` },
    }, event);
    const discordUrl = "https://discord.com/api/webhooks/1/tok";
    assertEquals(post("discord", discordUrl, facts), {
      url: discordUrl,
      contentType: "application/json",
      body: {
        content: `${EMOJI[event]} ${HEADLINES[event]}\n<${link}>`,
        allowed_mentions: { parse: [] },
      },
    }, event);
    assertEquals(post("ntfy", "https://ntfy.example/base/koi-alerts?auth=tk", facts), {
      url: "https://ntfy.example/base/?auth=tk",
      contentType: "application/json",
      body: {
        topic: "koi-alerts",
        title: HEADLINES[event],
        message: DETAILS[event].join("\n"),
        tags: [NTFY[event][0]],
        priority: NTFY[event][1],
        click: link,
      },
    }, event);
  }
});

Deno.test("names are shown as written: Slack's and Discord's markup escaped", () => {
  const facts = { ...FACTS.failed, name: "<@here> *db* & _logs_" };
  assertEquals(
    post("slack", "https://hooks.slack.com/x", facts).body.text,
    `❌ &lt;@here&gt; *db* &amp; _logs_ failed on web1 (exit 2)\n<${BASE}#/run/r1|Open the run>`,
  );
  assertEquals(
    post("discord", "https://discord.com/api/webhooks/1/t", facts).body.content,
    `❌ <@here\\> \\*db\\* & \\_logs\\_ failed on web1 (exit 2)\n<${BASE}#/run/r1>`,
  );
});

Deno.test("email: the subject and text of each event", () => {
  for (const [event, facts] of Object.entries(FACTS) as [AlertEvent, AlertFacts][]) {
    const [link, words] = LINKS[event];
    const width = Math.max(...DETAILS[event].map((line) => line.indexOf(":") + 1)) + 1;
    const details = DETAILS[event].map((line) => {
      const colon = line.indexOf(":") + 1;
      return line.slice(0, colon).padEnd(width) + line.slice(colon + 1);
    });
    assertEquals(emailText(facts, BASE), {
      subject: `[Koi] ${HEADLINES[event]}`,
      body: [
        `${HEADLINES[event]}.`,
        "",
        ...details,
        "",
        `${words}: ${link}`,
        "",
        "-- ",
        `Sent by the Koi dashboard at ${BASE}.`,
        "Mute this job or machine, or change where alerts go, under Alerts on the page.",
        "",
      ].join("\n"),
    }, event);
  }
  // How a run ended, in the subject.
  const subject = (outcome: Partial<AlertFacts>) =>
    emailText({ ...FACTS.failed, ...outcome }, BASE).subject;
  assertEquals(
    subject({ status: "killed", exitCode: null, signal: "SIGKILL" }),
    "[Koi] Backup failed on web1 (killed by SIGKILL)",
  );
  assertEquals(
    subject({ status: "interrupted", exitCode: null }),
    "[Koi] Backup failed on web1 (interrupted)",
  );
  assertEquals(
    subject({ status: "not-started", exitCode: null }),
    "[Koi] Backup failed on web1 (did not start)",
  );
  assertEquals(subject({ name: null }), "[Koi] job jbackup failed on web1 (exit 2)");
});
