/**
 * How alerts leave the server: which destinations are allowed (every private,
 * loopback, link-local and reserved range refused by default, checked on the
 * resolved address), the hand-written HTTP/1.1 POST (exact bytes on the wire,
 * TLS verified against the URL's name, redirects not followed, which failures
 * are retried), and the SMTP client against a real SMTP server (python3-aiosmtpd)
 * in plain, STARTTLS and implicit-TLS modes with AUTH PLAIN and LOGIN.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { smtpServerMissing, withSmtpServer } from "./_smtp.ts";
import { makeTestCertificates, type TestCertificates } from "./_tls.ts";
import { DeliveryError } from "../lib/server/alerts/delivery_error.ts";
import {
  addressKind,
  checkDestination,
  literalRefusal,
  parseIp,
} from "../lib/server/alerts/destination.ts";
import { postOnce } from "../lib/server/alerts/http_post.ts";
import { sendMail, type SmtpServer } from "../lib/server/alerts/smtp.ts";
import { VERSION } from "../lib/version.ts";

const ALLOW = { allowPrivate: true };

Deno.test("addressKind: every range that is not the public internet, IPv4 and IPv6", () => {
  const cases: [string, string | null][] = [
    ["0.0.0.0", "unspecified"],
    ["10.1.2.3", "private"],
    ["100.64.0.1", "shared (carrier-grade NAT)"],
    ["100.127.255.255", "shared (carrier-grade NAT)"],
    ["100.128.0.1", null],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["169.254.169.254", "link-local"],
    ["172.15.255.255", null],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", null],
    ["192.0.0.8", "reserved"],
    ["192.0.2.1", "documentation"],
    ["192.168.0.1", "private"],
    ["198.18.0.1", "reserved"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.7", "documentation"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["8.8.8.8", null],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:8.8.8.8", null],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b:1::1", "private"],
    ["2002:c0a8:0101::1", "private"],
    ["2002:0808:0808::1", null],
    ["2001:db8::1", "documentation"],
    ["2001::1", "reserved"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["fe80::1", "link-local"],
    ["fec0::1", "private"],
    ["ff02::1", "multicast"],
    ["2606:4700:4700::1111", null],
    ["4000::1", "reserved"],
  ];
  for (const [text, kind] of cases) {
    const bytes = parseIp(text);
    assert(bytes !== null, `${text} parses`);
    assertEquals(addressKind(bytes), kind, text);
  }
  for (
    const bad of ["1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1::2::3", "fe80::1%eth0", "x"]
  ) {
    assertEquals(parseIp(bad), null, bad);
  }
  assertEquals([...parseIp("1:2:3:4:5:6:7:8")!].slice(14), [0, 8]);
  assertEquals([...parseIp("::ffff:1.2.3.4")!].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
});

Deno.test("checkDestination: a name is judged by every address it resolves to", async () => {
  const names: Record<string, string[]> = {
    "hooks.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "rebind.example": ["93.184.215.14", "10.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "nowhere.example": [],
  };
  const policy = { allowPrivate: false, resolve: (name: string) => Promise.resolve(names[name]!) };
  assertEquals(await checkDestination("hooks.example", policy), {
    connectTo: "93.184.215.14",
    name: "hooks.example",
  });
  const refused = async (host: string) => {
    const error = await checkDestination(host, policy).then(() => null, (e) => e);
    assert(error instanceof DeliveryError, `${host} refused`);
    return error;
  };
  const rebind = await refused("rebind.example");
  assert(!rebind.retry);
  assertEquals(
    rebind.message,
    "refused: rebind.example (10.0.0.1) is a private address; this server sends alerts to " +
      "public addresses only (its admin can allow others with --allow-private-destinations)",
  );
  assert((await refused("metadata.example")).message.includes("(169.254.169.254) is a link-local"));
  assert((await refused("[::1]")).message.startsWith("refused: ::1 is a loopback address"));
  // localhost is this machine by definition: no DNS is asked.
  assert((await refused("db.localhost")).message.includes("(127.0.0.1) is a loopback"));
  const nowhere = await refused("nowhere.example");
  assert(nowhere.retry, "a name without an address may get one");
  assertEquals(nowhere.message, "cannot resolve nowhere.example: it has no address");
  // Allowed: the name is left to the system's resolver.
  assertEquals(await checkDestination("db.internal", ALLOW), {
    connectTo: "db.internal",
    name: "db.internal",
  });
  assertEquals(
    literalRefusal("192.168.1.1", false),
    "192.168.1.1 is a private address: this server sends alerts to public addresses only",
  );
  assertEquals(literalRefusal("hooks.example", false), null);
  assertEquals(literalRefusal("127.0.0.1", true), null);
});

/** A request as the receiver got it. */
interface Received {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A loopback HTTP(S) server that answers with `respond` and keeps every request. */
async function withReceiver(
  respond: (request: Request) => Response | Promise<Response>,
  fn: (url: string, requests: Received[]) => Promise<void>,
  tls?: TestCertificates,
): Promise<void> {
  const requests: Received[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...(tls ? { cert: tls.certPem, key: tls.keyPem } : {}),
  }, async (request) => {
    requests.push({
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
    return respond(request);
  });
  try {
    await fn(`${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`, requests);
  } finally {
    await server.shutdown();
  }
}

const post = (url: string, body = '{"a":1}') =>
  postOnce(
    { url, contentType: "application/json", body },
    { policy: ALLOW, timeoutMs: 5_000 },
  );

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(() => null, (e) => e);
  assert(error instanceof DeliveryError, `a DeliveryError, got ${error}`);
  return error;
}

Deno.test("postOnce: sends exactly one POST with the body, host and basic authorization", async () => {
  await withReceiver(() => new Response("ok"), async (url, requests) => {
    const port = new URL(url).port;
    const target = `http://ntfy:s%C3%A9cret@localhost:${port}/topic/a?x=1&y=%20`;
    assertEquals(await post(target, '{"text":"Backup failed 😃"}'), 200);
    assertEquals(requests.length, 1);
    const { method, url: received, headers, body } = requests[0]!;
    assertEquals(method, "POST");
    assertEquals(received, `http://localhost:${port}/topic/a?x=1&y=%20`);
    assertEquals(body, '{"text":"Backup failed 😃"}');
    assertEquals(headers, {
      authorization: `Basic ${btoa("ntfy:s\xc3\xa9cret")}`,
      connection: "close",
      "content-length": String(new TextEncoder().encode(body).length),
      "content-type": "application/json",
      host: `localhost:${port}`,
      "user-agent": `Koi-dashboard/${VERSION}`,
    });
  });
});

Deno.test("postOnce: 5xx and 429 are retried, other 4xx and redirects are not, and say why", async () => {
  const answers: Record<string, () => Response> = {
    "/500": () => new Response("upstream down", { status: 503 }),
    "/404": () => new Response("no_service", { status: 404 }),
    "/400": () => new Response("invalid_payload\n", { status: 400 }),
    "/302": () => new Response(null, { status: 302, headers: { location: "http://10.0.0.1/" } }),
    "/429": () => new Response("slow down", { status: 429, headers: { "retry-after": "30" } }),
  };
  await withReceiver((request) => answers[new URL(request.url).pathname]!(), async (url) => {
    const got = async (path: string) => {
      const error = await failure(post(`${url}${path}`));
      return [error.message, error.retry, error.retryAfterMs];
    };
    assertEquals(await got("/500"), ["HTTP 503: upstream down", true, null]);
    assertEquals(await got("/404"), ["HTTP 404: no_service", false, null]);
    assertEquals(await got("/400"), ["HTTP 400: invalid_payload", false, null]);
    assertEquals(await got("/302"), ["HTTP 302 (redirects are not followed)", false, null]);
    assertEquals(await got("/429"), ["HTTP 429: slow down", true, 30_000]);
  });
});

Deno.test("postOnce: a refused connection and a server that never answers are retried", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const silent = await failure(
    postOnce(
      { url: `http://127.0.0.1:${port}/`, contentType: "text/plain", body: "x" },
      { policy: ALLOW, timeoutMs: 300 },
    ),
  );
  assertEquals([silent.message, silent.retry], ["timed out after 300 ms", true]);
  listener.close();
  await accepting.catch(() => {});
  for (const conn of held) conn.close();
  const refused = await failure(post(`http://127.0.0.1:${port}/`));
  assertEquals([refused.message, refused.retry], ["connection refused", true]);
});

Deno.test("postOnce: a private destination is refused before any connection, unless allowed", async () => {
  await withReceiver(() => new Response("ok"), async (url, requests) => {
    const error = await failure(
      postOnce(
        { url: `${url}/x`, contentType: "application/json", body: "{}" },
        { policy: { allowPrivate: false }, timeoutMs: 5_000 },
      ),
    );
    assert(error.message.startsWith("refused: 127.0.0.1 is a loopback address"), error.message);
    assert(!error.retry);
    assertEquals(requests.length, 0);
  });
});

Deno.test("postOnce over HTTPS: the certificate is verified against the URL's name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_tls_" });
  try {
    const tls = await makeTestCertificates(dir);
    await withReceiver(() => new Response("ok"), async (url, requests) => {
      const port = new URL(url).port;
      const options = { policy: ALLOW, timeoutMs: 5_000, caCerts: [tls.caPem] };
      const request = {
        url: `https://localhost:${port}/hook`,
        contentType: "text/plain",
        body: "hi",
      };
      assertEquals(await postOnce(request, options), 200);
      assertEquals(requests.map((r) => [r.headers.host, r.body]), [
        [`localhost:${port}`, "hi"],
      ]);
      const unknown = await failure(postOnce(request, { ...options, caCerts: [] }));
      assertEquals([unknown.message.startsWith("TLS failed"), unknown.retry], [true, false]);
      assertEquals(requests.length, 1);
    }, tls);
    // A certificate for another name, from the same authority.
    await Deno.mkdir(`${dir}/other`);
    const other = await makeTestCertificates(`${dir}/other`, ["hooks.example"]);
    await withReceiver(() => new Response("ok"), async (url, requests) => {
      const error = await failure(
        postOnce(
          { url: url.replace("127.0.0.1", "localhost"), contentType: "text/plain", body: "hi" },
          { policy: ALLOW, timeoutMs: 5_000, caCerts: [other.caPem] },
        ),
      );
      assertEquals([error.message.startsWith("TLS failed"), error.retry], [true, false]);
      assert(/name|NotValidForName/i.test(error.message), error.message);
      assertEquals(requests.length, 0);
    }, other);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The SMTP tests need the real server; each says so and passes when it is missing. */
const smtpMissing = await smtpServerMissing();

function smtpTest(name: string, fn: () => Promise<void>): void {
  Deno.test(name, async () => {
    if (smtpMissing !== null) {
      console.log(`skipped: ${smtpMissing}`);
      return;
    }
    await fn();
  });
}

const MESSAGE = "From: koi@example.com\r\nTo: ops@example.com\r\nSubject: Hi\r\n\r\n" +
  "line one\r\n.leading dot\r\n.\r\nlast";

smtpTest(
  "sendMail: plain SMTP to this machine, the message byte for byte, dots unstuffed",
  async () => {
    await withSmtpServer(async (server) => {
      const smtp: SmtpServer = { host: "127.0.0.1", port: server.port, tls: "none" };
      const envelope = {
        from: "koi@example.com",
        to: ["ops@example.com", "dev@example.org"],
        data: MESSAGE,
      };
      await sendMail(smtp, envelope, { policy: ALLOW, timeoutMs: 10_000 });
      const [mail] = await server.messages(1);
      assertEquals(mail!.mailFrom, "koi@example.com");
      assertEquals(mail!.rcptTos, ["ops@example.com", "dev@example.org"]);
      assertEquals(mail!.login, null);
      assertEquals(new TextDecoder().decode(mail!.content), `${MESSAGE}\r\n`);
    });
  },
);

smtpTest("sendMail: STARTTLS then AUTH PLAIN; implicit TLS then AUTH LOGIN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_smtp_tls_" });
  try {
    const tls = await makeTestCertificates(dir);
    const envelope = { from: "koi@example.com", to: ["ops@example.com"], data: MESSAGE };
    const options = { policy: ALLOW, timeoutMs: 10_000, caCerts: [tls.caPem] };
    await withSmtpServer(async (server) => {
      const smtp: SmtpServer = {
        host: "localhost",
        port: server.port,
        tls: "starttls",
        user: "alerts",
        password: "pä ss:word",
      };
      await sendMail(smtp, envelope, options);
      const wrong = await failure(sendMail({ ...smtp, password: "nope" }, envelope, options));
      assertEquals(wrong.retry, false);
      assert(wrong.message.startsWith("SMTP login: 535"), wrong.message);
      assert(!wrong.message.includes("nope"));
      const unverified = await failure(sendMail(smtp, envelope, { ...options, caCerts: [] }));
      assertEquals([unverified.message.startsWith("TLS failed"), unverified.retry], [true, false]);
      const delivered = await server.messages(1);
      assertEquals(delivered.map((mail) => [mail.login, mail.rcptTos]), [["alerts", [
        "ops@example.com",
      ]]]);
    }, ["--starttls", tls.certFile, tls.keyFile, "--auth", "alerts", "pä ss:word"]);
    await withSmtpServer(async (server) => {
      const smtp: SmtpServer = {
        host: "127.0.0.1",
        port: server.port,
        tls: "tls",
        user: "alerts",
        password: "secret",
      };
      await sendMail(smtp, envelope, options);
      const [mail] = await server.messages(1);
      assertEquals(mail!.login, "alerts");
      assertEquals(new TextDecoder().decode(mail!.content), `${MESSAGE}\r\n`);
    }, [
      "--tls",
      tls.certFile,
      tls.keyFile,
      "--auth",
      "alerts",
      "secret",
      "--exclude-auth",
      "PLAIN",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

smtpTest(
  "sendMail: a 4xx reply is retried, a 5xx is not; STARTTLS missing is refused",
  async () => {
    const envelope = { from: "koi@example.com", to: ["ops@example.com"], data: MESSAGE };
    for (const [code, retry] of [["450", true], ["550", false]] as const) {
      await withSmtpServer(async (server) => {
        const smtp: SmtpServer = { host: "127.0.0.1", port: server.port, tls: "none" };
        const error = await failure(sendMail(smtp, envelope, { policy: ALLOW, timeoutMs: 10_000 }));
        assertEquals(
          [error.message, error.retry],
          [`SMTP RCPT TO <ops@example.com>: ${code} recipient refused by the test server`, retry],
        );
      }, ["--reject-rcpt", code]);
    }
    await withSmtpServer(async (server) => {
      const smtp: SmtpServer = { host: "127.0.0.1", port: server.port, tls: "starttls" };
      const error = await failure(sendMail(smtp, envelope, { policy: ALLOW, timeoutMs: 10_000 }));
      assertEquals([error.message, error.retry], [
        "SMTP: 127.0.0.1 does not offer STARTTLS",
        false,
      ]);
    });
  },
);
