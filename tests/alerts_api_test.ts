/**
 * The alerts' API on a real server: channels added (each kind; only http(s)
 * webhooks; private addresses refused unless the server allows them; an SMTP
 * password never shown back, nor logged), tested and removed; mutes; the
 * settings; the alert history; a failed run reported through the API reaching
 * a webhook; and only holders of the API key changing any of it.
 *
 * @module
 */

import { createDashboard } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Receiver } from "./_receiver.ts";
import { type ServerOptions, startServer } from "../lib/server/server.ts";

/** An answer, its body parsed. */
interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

interface Fixture {
  url: string;
  id: string;
  logs: string[];
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
  /** The test's webhook receiver. */
  receiver: Receiver;
  receiverUrl: string;
}

async function withApi(
  fn: (fixture: Fixture) => Promise<void>,
  options: Partial<ServerOptions> = {},
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const logs: string[] = [];
  const receiver = new Receiver();
  const server = await startServer({
    kv,
    port: 0,
    pruneEveryMs: 0,
    log: (line) => logs.push(line),
    alerts: { allowPrivateDestinations: true, checkEveryMs: 0 },
    ...options,
  });
  const { id, apiKey } = await createDashboard(server.url);
  try {
    await fn({
      url: server.url,
      id,
      logs,
      receiver,
      receiverUrl: receiver.url(""),
      async call(method, path, body, headers = {}) {
        const response = await fetch(`${server.url}/api/d/${id}${path}`, {
          method,
          headers: { authorization: `Bearer ${apiKey}`, ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, body: text === "" ? null : JSON.parse(text) };
      },
    });
  } finally {
    await server.shutdown();
    await receiver.close();
    kv.close();
  }
}

/** Polls the history until `check` holds for it; fails after 10 s saying what it saw. */
async function untilHistory(
  call: Fixture["call"],
  // deno-lint-ignore no-explicit-any
  check: (alerts: any[]) => boolean,
  // deno-lint-ignore no-explicit-any
): Promise<any[]> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const { body } = await call("GET", "/alerts");
    if (check(body.alerts)) return body.alerts;
    if (Date.now() > deadline) {
      throw new Error(`the history never got there: ${JSON.stringify(body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("channels: added, listed, tested, removed; a test alert arrives and is in the history", async () => {
  await withApi(async ({ call, id, url, receiver, receiverUrl }) => {
    const added = await call("POST", "/channels", {
      kind: "webhook",
      url: `${receiverUrl}/hook/secret-part`,
    });
    assertEquals(added.status, 201);
    const channel = added.body.channel;
    assert(/^[A-Za-z0-9_-]{12}$/.test(channel.id), channel.id);
    assertEquals(channel, {
      id: channel.id,
      kind: "webhook",
      createdAt: channel.createdAt,
      target: `${receiverUrl}/hook/secret…`,
    });
    assertEquals((await call("GET", "/channels")).body, { channels: [channel] });
    const tested = await call("POST", `/channels/${channel.id}/test`);
    assertEquals(tested.status, 202);
    assertEquals(tested.body.alert.event, "test");
    assertEquals(tested.body.alert.deliveries.map((d: { state: string }) => d.state), ["pending"]);
    const history = await untilHistory(
      call,
      (alerts) => alerts[0]?.deliveries[0]?.state === "sent",
    );
    assertEquals(history.length, 1);
    const [alert] = history;
    assertEquals(alert.deliveries, [{
      channel: channel.id,
      kind: "webhook",
      target: channel.target,
      state: "sent",
      attempts: 1,
      error: null,
      sentAt: alert.deliveries[0].sentAt,
      nextAttemptAt: null,
    }]);
    assertEquals(receiver.received.map((r) => r.path), ["/hook/secret-part"]);
    assertEquals(receiver.bodies(), [
      {
        event: "test",
        dashboard: id,
        host: null,
        tag: null,
        name: null,
        section: null,
        at: alert.at,
        url: `${url}/d/${id}#/alerts`,
      },
    ]);
    assertEquals((await call("DELETE", `/channels/${channel.id}`)).status, 204);
    assertEquals((await call("DELETE", `/channels/${channel.id}`)).status, 404);
    assertEquals((await call("POST", `/channels/${channel.id}/test`)).status, 404);
    assertEquals((await call("GET", "/channels")).body, { channels: [] });
  });
});

Deno.test("channels: the link in alerts is the page's origin, or --public-url", async () => {
  await withApi(async ({ call, id, receiver, receiverUrl }) => {
    const origin = "https://dash.example:8443";
    const { body } = await call("POST", "/channels", { kind: "webhook", url: `${receiverUrl}/a` }, {
      origin,
    });
    await call("POST", `/channels/${body.channel.id}/test`);
    await untilHistory(call, (alerts) => alerts[0]?.deliveries[0]?.state === "sent");
    assertEquals(receiver.bodies()[0].url, `${origin}/d/${id}#/alerts`);
  });
  await withApi(async ({ call, id, receiver, receiverUrl }) => {
    const { body } = await call("POST", "/channels", { kind: "webhook", url: `${receiverUrl}/a` }, {
      origin: "https://ignored.example",
    });
    await call("POST", `/channels/${body.channel.id}/test`);
    await untilHistory(call, (alerts) => alerts[0]?.deliveries[0]?.state === "sent");
    assertEquals(
      receiver.bodies()[0].url,
      `https://koi.example.org/d/${id}#/alerts`,
    );
  }, {
    alerts: {
      allowPrivateDestinations: true,
      checkEveryMs: 0,
      publicUrl: "https://koi.example.org",
    },
  });
});

Deno.test("channels: only http(s) webhooks, each field checked, 400s that say what is wrong", async () => {
  await withApi(async ({ call }) => {
    const cases: [unknown, string][] = [
      [
        { kind: "webhook", url: "ftp://example.com/x" },
        'Invalid "url": must be an http: or https: URL (got "ftp://example.com/x")',
      ],
      [
        { kind: "slack", url: "javascript:alert(1)" },
        'Invalid "url": must be an http: or https: URL (got "javascript:alert(1)")',
      ],
      [
        { kind: "webhook", url: "not a url" },
        'Invalid "url": must be an http: or https: URL (got "not a url")',
      ],
      [
        { kind: "webhook", url: "https://example.com/#x" },
        'Invalid "url": must have no #fragment (got "https://example.com/#x")',
      ],
      [
        { kind: "pager", url: "https://example.com" },
        'Invalid "kind": must be one of "webhook", "slack", "discord", "ntfy", "email" (got "pager")',
      ],
      [
        { kind: "webhook", url: "https://example.com", extra: 1 },
        'Invalid "extra": is not a field here (kind, url)',
      ],
      [{ kind: "email", to: "ops@example.com" }, 'Invalid "smtp": must be an object (got nothing)'],
      [
        { kind: "email", to: "ops@example.com\r\nBcc: x@y.z", smtp: {} },
        'Invalid "to": must be an email address such as ops@example.com (got "ops@example.com\\r\\nBcc: x@y.z")',
      ],
      [
        {
          kind: "email",
          to: "ops@example.com",
          smtp: { host: "smtp.example.com", port: 0, tls: "tls", from: "a@b.c" },
        },
        'Invalid "smtp.port": must be a port number from 1 to 65535 (got 0)',
      ],
      [
        {
          kind: "email",
          to: "ops@example.com",
          smtp: { host: "smtp.example.com", port: 587, tls: "ssl", from: "a@b.c" },
        },
        'Invalid "smtp.tls": must be "starttls", "tls" or "none" (got "ssl")',
      ],
      [
        {
          kind: "email",
          to: "ops@example.com",
          smtp: {
            host: "smtp.example.com",
            port: 587,
            tls: "starttls",
            password: "p",
            from: "a@b.c",
          },
        },
        'Invalid "smtp.user": must be given with smtp.password',
      ],
    ];
    for (const [body, error] of cases) {
      const got = await call("POST", "/channels", body);
      assertEquals([got.status, got.body], [400, { error }], JSON.stringify(body));
    }
    assertEquals((await call("GET", "/channels")).body.channels, []);
  });
});

Deno.test("channels: private addresses are refused unless the server allows them", async () => {
  await withApi(async ({ call }) => {
    const refused = [
      ["http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"],
      ["http://10.1.2.3/hook", "10.1.2.3 is a private address"],
      ["http://[::1]/hook", "::1 is a loopback address"],
      ["http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"],
      ["http://localhost:9/hook", "localhost is a loopback address"],
    ];
    for (const [url, why] of refused) {
      const got = await call("POST", "/channels", { kind: "webhook", url });
      assertEquals(
        [got.status, got.body.error],
        [400, `Invalid "url": ${why}: this server sends alerts to public addresses only`],
      );
    }
    const smtp = await call("POST", "/channels", {
      kind: "email",
      to: "ops@example.com",
      smtp: { host: "192.168.1.5", port: 25, tls: "starttls", from: "koi@example.com" },
    });
    assertEquals(smtp.status, 400);
    // A name is judged when sending, by the address it resolves to.
    assertEquals(
      (await call("POST", "/channels", { kind: "ntfy", url: "https://ntfy.sh/koi-x" })).status,
      201,
    );
  }, { alerts: { checkEveryMs: 0, deliverEveryMs: 0 } });
});

Deno.test("channels: an SMTP password is kept on the server only: never shown back, never logged", async () => {
  await withApi(async ({ call, logs }) => {
    const password = "hunter2-correct-horse";
    const added = await call("POST", "/channels", {
      kind: "email",
      to: ["ops@example.com", "dev@example.org"],
      smtp: {
        host: "127.0.0.1",
        port: 9,
        tls: "starttls",
        user: "alerts",
        password,
        from: "koi@example.com",
      },
    });
    assertEquals(added.status, 201);
    assertEquals(added.body.channel.smtp, {
      host: "127.0.0.1",
      port: 9,
      tls: "starttls",
      user: "alerts",
      from: "koi@example.com",
      password: true,
    });
    assertEquals(added.body.channel.target, "ops@example.com, dev@example.org via 127.0.0.1:9");
    // Sending fails (nothing listens on port 9): the failure is logged, the password is not.
    await call("POST", `/channels/${added.body.channel.id}/test`);
    const history = await untilHistory(call, (alerts) =>
      alerts[0]?.deliveries[0]?.attempts === 1 &&
      alerts[0]?.deliveries[0]?.error !== null);
    assertEquals(history[0].deliveries[0].error, "connection refused");
    for (
      const text of [
        JSON.stringify((await call("GET", "/channels")).body),
        JSON.stringify(history),
        ...logs,
      ]
    ) {
      assert(!text.includes(password), text);
    }
    assert(logs.some((line) => line.includes("connection refused")), logs.join("\n"));
  });
});

Deno.test("mutes, settings, and a failed run reported through the API reaching a webhook", async () => {
  await withApi(async ({ call, id, url, receiver, receiverUrl }) => {
    assertEquals((await call("PUT", "/mutes/web1")).status, 204);
    assertEquals((await call("PUT", "/mutes/db1/jdump")).status, 204);
    assertEquals((await call("PUT", "/mutes/db1/bad%20tag")).status, 400);
    const mutes = (await call("GET", "/mutes")).body.mutes;
    assertEquals(mutes.map((m: { host: string; tag: string | null }) => [m.host, m.tag]), [
      ["db1", "jdump"],
      ["web1", null],
    ]);
    assertEquals((await call("DELETE", "/mutes/web1")).status, 204);
    assertEquals((await call("GET", "/mutes")).body.mutes.length, 1);
    const patched = await call("PATCH", "/settings", {
      missedGraceSeconds: 90,
      hostSilentSeconds: 600,
    });
    assertEquals([
      patched.body.settings.missedGraceSeconds,
      patched.body.settings.hostSilentSeconds,
    ], [90, 600]);
    await call("POST", "/channels", { kind: "webhook", url: `${receiverUrl}/hook` });
    const reports = (runId: string, tag: string) => ({
      reports: [
        {
          type: "start",
          run: {
            id: runId,
            tag,
            name: "Dump",
            section: null,
            trigger: "schedule",
            args: {},
            scheduledFor: 1_000,
            startedAt: 1_000,
            manualId: null,
          },
        },
        {
          type: "end",
          runId,
          end: {
            finishedAt: 2_000,
            exitCode: null,
            signal: "SIGTERM",
            status: "killed",
            error: null,
            outputBytes: 0,
            chunks: [],
          },
        },
      ],
    });
    assertEquals(
      (await call("POST", "/hosts/db1/reports", reports("m1", "jdump"))).status,
      200,
    );
    assertEquals(
      (await call("POST", "/hosts/web1/reports", reports("r1", "jweb"))).status,
      200,
    );
    const history = await untilHistory(
      call,
      (alerts) => alerts.length === 1 && alerts[0].deliveries[0].state === "sent",
    );
    assertEquals(history[0].runId, "r1", "the muted job raised nothing");
    assertEquals(receiver.bodies(), [{
      event: "failed",
      dashboard: id,
      host: "web1",
      tag: "jweb",
      name: "Dump",
      section: null,
      runId: "r1",
      status: "killed",
      exitCode: null,
      signal: "SIGTERM",
      scheduledFor: 1_000,
      at: 2_000,
      url: `${url}/d/${id}#/run/r1`,
    }]);
  });
});

Deno.test("only holders of the API key see or change channels, mutes and alerts", async () => {
  await withApi(async ({ url, id, call }) => {
    const { body } = await call("POST", "/channels", {
      kind: "webhook",
      url: "https://example.com/h",
    });
    const calls: [string, string][] = [
      ["GET", "/channels"],
      ["POST", "/channels"],
      ["DELETE", `/channels/${body.channel.id}`],
      ["POST", `/channels/${body.channel.id}/test`],
      ["GET", "/alerts"],
      ["GET", "/mutes"],
      ["PUT", "/mutes/web1"],
      ["DELETE", "/mutes/web1/j1"],
    ];
    for (const [method, path] of calls) {
      const response = await fetch(`${url}/api/d/${id}${path}`, {
        method,
        headers: { authorization: `Bearer ${"A".repeat(43)}` },
        ...(method === "POST"
          ? { body: JSON.stringify({ kind: "webhook", url: "https://x.example" }) }
          : {}),
      });
      await response.body?.cancel();
      assertEquals(response.status, 401, `${method} ${path}`);
    }
    assertEquals((await call("GET", "/channels")).body.channels.length, 1);
  }, { alerts: { checkEveryMs: 0, deliverEveryMs: 0 } });
});
