/**
 * `koitab -d open`: the page from this installation, the API through to the
 * server. A real dashboard server sits behind a "hostile front" that records
 * every request it gets and answers page requests with a changed page, so the
 * tests see both that nothing of the page comes from the server and that every
 * API call reaches it.
 *
 * @module
 */

import { createDashboard } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled } from "./_browser.ts";
import { runEntry, spawnEntry } from "./_entry.ts";
import {
  FORWARD_TIMEOUT_MS,
  type LocalPage,
  MAX_FORWARDED_REQUEST_BYTES,
  serveLocalPage,
} from "../lib/cli/open.ts";
import { seal, unsealText } from "../lib/protocol/envelope.js";
import { deriveKeys, newDashboardId, signRun } from "../lib/protocol/keys.ts";
import { payloadText } from "../lib/protocol/manual.ts";
import {
  CONTENT_SECURITY_POLICY,
  DASHBOARD_PAGE,
  PROTOCOL_FILES,
  UI_FILES,
} from "../lib/page/page.ts";
import { startServer } from "../lib/server/server.ts";

const PASSWORD = "Koi's open-page test, 2026!";
const ID = newDashboardId();
const KEYS = await deriveKeys(PASSWORD, ID);
const EVIL = "<script>steal(password)</script>";

interface Front {
  readonly url: string;
  /** Every request the front got: method and path with query. */
  readonly seen: string[];
  /** Paths the front holds without answering, to test time limits. */
  readonly stall: Set<string>;
  /** Paths the front answers with the start of a body, then nothing more. */
  readonly dribble: Set<string>;
  shutdown(): Promise<void>;
}

/**
 * A server in front of a real dashboard server: it forwards `/api/` there and
 * answers everything else with a changed page, as a hostile server would.
 */
function startFront(server: string): Promise<Front> {
  const seen: string[] = [];
  const stall = new Set<string>();
  const dribble = new Set<string>();
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const front = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: resolve },
    async (request) => {
      const url = new URL(request.url);
      seen.push(`${request.method} ${url.pathname}${url.search}`);
      if (stall.has(url.pathname)) {
        await new Promise((done) => request.signal.addEventListener("abort", done));
        return new Response(null, { status: 599 });
      }
      if (dribble.has(url.pathname)) {
        const body = new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("[")) });
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      if (!url.pathname.startsWith("/api/")) {
        return new Response(EVIL, { headers: { "content-type": "text/html" } });
      }
      let body: ArrayBuffer | null = null;
      try {
        body = request.body === null ? null : await request.arrayBuffer();
      } catch {
        return new Response(null, { status: 400 }); // A body cut off on the way.
      }
      return await fetch(`${server}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body,
      });
    },
  );
  return promise.then((address) => ({
    url: `http://127.0.0.1:${address.port}`,
    seen,
    stall,
    dribble,
    shutdown: () => front.shutdown(),
  }));
}

interface Setup {
  readonly front: Front;
  readonly dir: string;
  /** Calls the real server directly, with the dashboard's API key. */
  direct(method: string, path: string, body?: unknown): Promise<Response>;
}

async function withDashboard(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
  const front = await startFront(server.url);
  const tmp = await Deno.makeTempDir({ prefix: "koi_open_" });
  const dir = `${tmp}/koi`;
  try {
    await createDashboard(server.url, { id: ID, apiKey: KEYS.apiKey });
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      `${dir}/dashboard.json`,
      JSON.stringify({ id: ID, server: front.url }),
    );
    await Deno.writeTextFile(`${dir}/apikey`, `${KEYS.apiKey}\n`);
    await Deno.writeTextFile(`${dir}/runkey`, `${KEYS.runKey}\n`);
    await fn({
      front,
      dir,
      direct: (method, path, body) =>
        fetch(`${server.url}/api/d/${ID}${path}`, {
          method,
          headers: { authorization: `Bearer ${KEYS.apiKey}` },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
    });
  } finally {
    await front.shutdown();
    await server.shutdown();
    kv.close();
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Starts `koitab -d open ARGS…` and reads the URL it prints. */
async function startOpen(
  dir: string,
  args: string[] = [],
): Promise<{ url: string; child: Deno.ChildProcess; stderr: Promise<string> }> {
  const child = spawnEntry("koitab", ["-d", "open", ...args], { KOI_DIR: dir }, "piped");
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) {
      throw new Error(`koitab -d open printed no URL: ${out}${await stderr}`);
    }
    out += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { url: out.trim(), child, stderr };
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers });
}

/** A GET with a Host header of our choosing (fetch sets its own): the status and the body. */
async function rawGet(port: string, path: string, host: string): Promise<[number, string]> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  await connection.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`),
  );
  const text = await new Response(connection.readable).text();
  const status = /^HTTP\/1\.1 ([0-9]{3}) /.exec(text);
  assert(status !== null, text);
  return [Number(status[1]), text.slice(text.indexOf("\r\n\r\n") + 4)];
}

Deno.test("koitab -d open serves the page from this installation, byte for byte, and no page request reaches the server", async () => {
  await withDashboard(async ({ front, dir }) => {
    const open = await startOpen(dir);
    try {
      const match = /^http:\/\/127\.0\.0\.1:([0-9]+)\/d\/([A-Za-z0-9_-]+)$/.exec(open.url);
      assert(match !== null && match[2] === ID, open.url);
      const base = new URL(open.url).origin;

      const page = await get(open.url);
      assertEquals(page.status, 200);
      assertEquals(await page.text(), DASHBOARD_PAGE);
      assertEquals(page.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
      const files = [
        ...Object.keys(UI_FILES).map((name) => `ui/${name}`),
        ...Object.keys(PROTOCOL_FILES).map((name) => `protocol/${name}`),
      ];
      assert(files.includes("protocol/envelope.js") && files.includes("ui/app.js"));
      for (const file of files) {
        const response = await get(`${base}/${file}`);
        assertEquals(response.status, 200, file);
        const local = await Deno.readFile(new URL(`../lib/${file}`, import.meta.url));
        assertEquals(new Uint8Array(await response.arrayBuffer()), local, file);
      }
      const home = await fetch(`${base}/`, { redirect: "manual" });
      await home.body?.cancel();
      assertEquals([home.status, home.headers.get("location")], [303, `/d/${ID}`]);

      // What it does not serve, and what it does not forward: answered here, never sent on.
      const refused: [string, string, number][] = [
        ["GET", "/ui/nope.js", 404],
        ["GET", "/ui/deno.json", 404],
        ["GET", "/protocol/keys.ts", 404],
        ["GET", `/d/${newDashboardId()}`, 404],
        ["GET", "/api/dashboards", 404],
        ["POST", "/api/dashboards", 404],
        ["GET", `/api/d/${newDashboardId()}`, 404],
        ["GET", `/api/d/${ID}x`, 404],
        ["GET", "/nope", 404],
        ["POST", `/d/${ID}`, 405],
        ["DELETE", "/ui/app.js", 405],
      ];
      for (const [method, path, status] of refused) {
        const response = await fetch(`${base}${path}`, { method });
        await response.body?.cancel();
        assertEquals(response.status, status, `${method} ${path}`);
      }
      assertEquals(front.seen, [], "nothing reached the server");
    } finally {
      open.child.kill("SIGTERM");
      assertEquals((await open.child.status).code, 0);
    }
    const stderr = await open.stderr;
    assertEquals(
      stderr,
      `koitab: serving the dashboard page from this installation; its API calls go to ${front.url}. Ctrl-C stops.\n`,
    );
  });
});

Deno.test("koitab -d open forwards the dashboard's API calls: status, body, headers and long-polls", async () => {
  await withDashboard(async ({ front, dir, direct }) => {
    const open = await startOpen(dir);
    try {
      const base = new URL(open.url).origin;
      const auth = { authorization: `Bearer ${KEYS.apiKey}` };
      const viaOpen = await get(`${base}/api/d/${ID}`, auth);
      const viaServer = await direct("GET", "");
      assertEquals(viaOpen.status, 200);
      assertEquals(await viaOpen.json(), await viaServer.json());
      assertEquals(viaOpen.headers.get("content-type"), "application/json; charset=utf-8");
      assertEquals(viaOpen.headers.get("cache-control"), "no-store");

      const wrong = await get(`${base}/api/d/${ID}`, { authorization: "Bearer nope" });
      assertEquals(wrong.status, 401);
      assertEquals(wrong.headers.get("www-authenticate"), 'Bearer realm="koi"');
      assertEquals(await wrong.json(), { error: "Unknown dashboard or wrong API key" });

      const patched = await fetch(`${base}/api/d/${ID}/settings`, {
        method: "PATCH",
        headers: auth,
        body: JSON.stringify({ retentionRuns: 7 }),
      });
      assertEquals(patched.status, 200);
      assertEquals((await patched.json()).settings.retentionRuns, 7);
      assertEquals((await (await direct("GET", "")).json()).settings.retentionRuns, 7);

      // A long-poll through it is answered the moment a run is queued on the server.
      const poll = fetch(`${base}/api/d/${ID}/hosts/web1/manual?wait=20`, { headers: auth });
      while (!front.seen.some((line) => line.includes("/manual?wait=20"))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const payload = payloadText({
        v: 1,
        dashboard: ID,
        host: "web1",
        tag: "j1",
        ts: Date.now(),
        args: {},
      });
      const queued = await direct("POST", "/manual", {
        payload,
        signature: await signRun(KEYS.runKey, payload),
      });
      assertEquals(queued.status, 202);
      const { manualId } = await queued.json();
      const answer = await poll;
      assertEquals(answer.status, 200);
      assertEquals((await answer.json()).runs.map((run: { manualId: string }) => run.manualId), [
        manualId,
      ]);

      assertEquals(front.seen, [
        `GET /api/d/${ID}`,
        `GET /api/d/${ID}`,
        `PATCH /api/d/${ID}/settings`,
        `GET /api/d/${ID}/hosts/web1/manual?wait=20`,
      ]);
    } finally {
      open.child.kill("SIGTERM");
      assertEquals((await open.child.status).code, 0);
    }
  });
});

Deno.test("koitab -d open refuses requests for another host name, and says when the port is taken", async () => {
  await withDashboard(async ({ front, dir }) => {
    const open = await startOpen(dir);
    try {
      const port = new URL(open.url).port;
      // A web site whose name resolves to 127.0.0.1 gets nothing: not the page, not the API.
      for (const path of [`/d/${ID}`, `/api/d/${ID}`]) {
        assertEquals(await rawGet(port, path, `evil.example:${port}`), [
          421,
          JSON.stringify({
            error: `This serves 127.0.0.1:${port} only, not "evil.example:${port}"`,
          }),
        ]);
      }
      assertEquals(await rawGet(port, `/d/${ID}`, `localhost:${port}`), [200, DASHBOARD_PAGE]);
      assertEquals(await rawGet(port, `/d/${ID}`, `127.0.0.1:${port}`), [200, DASHBOARD_PAGE]);
      const taken = await runEntry("koitab", ["-d", "open", "--port", port], {
        env: { KOI_DIR: dir },
      });
      assertEquals(taken, {
        code: 1,
        stdout: "",
        stderr:
          `koitab: cannot listen on 127.0.0.1:${port}: the port is in use by another program (choose another with --port)\n`,
      });
      assertEquals(front.seen, []);
    } finally {
      open.child.kill("SIGTERM");
      assertEquals((await open.child.status).code, 0);
    }
  });
});

Deno.test("koitab -d open: a URL opens that dashboard without a link; bad words are usage errors", async () => {
  await withDashboard(async ({ front }) => {
    const empty = await Deno.makeTempDir({ prefix: "koi_open_nolink_" });
    try {
      const open = await startOpen(empty, [`${front.url}/d/${ID}`]);
      try {
        const base = new URL(open.url).origin;
        assertEquals(open.url, `${base}/d/${ID}`);
        const info = await get(`${base}/api/d/${ID}`, { authorization: `Bearer ${KEYS.apiKey}` });
        assertEquals((await info.json()).id, ID);
        assertEquals(front.seen, [`GET /api/d/${ID}`]);
      } finally {
        open.child.kill("SIGINT");
        assertEquals((await open.child.status).code, 0);
      }
      const unlinked = await runEntry("koitab", ["-d", "open"], { env: { KOI_DIR: empty } });
      assertEquals(unlinked.code, 1);
      assert(unlinked.stderr.includes("this machine has no dashboard"), unlinked.stderr);
      for (const args of [["--port", "70000"], ["--port", "x"], ["a", "b"], ["http://x/nope"]]) {
        const result = await runEntry("koitab", ["-d", "open", ...args], {
          env: { KOI_DIR: empty },
        });
        assertEquals(result.code, 2, args.join(" "));
      }
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  });
});

/** Starts the local page in this process, for limits that need a short time or a large body. */
async function withLocalPage(
  server: string,
  timeoutMs: number,
  fn: (page: LocalPage) => Promise<void>,
  logged: string[] = [],
): Promise<void> {
  const lines: string[] = [];
  const page = await serveLocalPage({
    server,
    id: ID,
    port: 0,
    timeoutMs,
    log: (line) => lines.push(line),
  });
  try {
    await fn(page);
  } finally {
    await page.shutdown();
  }
  assertEquals(lines, logged);
}

Deno.test("serveLocalPage() keeps its limits: request bodies, a silent server, an unreachable one", async () => {
  assertEquals(FORWARD_TIMEOUT_MS, 60_000);
  await withDashboard(async ({ front }) => {
    await withLocalPage(front.url, 300, async (page) => {
      const base = new URL(page.url).origin;
      const auth = { authorization: `Bearer ${KEYS.apiKey}` };
      const big = new Uint8Array(MAX_FORWARDED_REQUEST_BYTES + 1);
      const declared = await fetch(`${base}/api/d/${ID}/manual`, {
        method: "POST",
        headers: auth,
        body: big,
      });
      assertEquals(declared.status, 413);
      assertEquals(await declared.json(), { error: "The body is larger than 1048576 bytes" });
      // The same without a length: cut off while it streams.
      const streamed = await fetch(`${base}/api/d/${ID}/manual`, {
        method: "POST",
        headers: auth,
        body: new Blob([big]).stream(),
      });
      assertEquals(streamed.status, 413);
      await streamed.body?.cancel();

      front.stall.add(`/api/d/${ID}/runs`);
      const silent = await fetch(`${base}/api/d/${ID}/runs`, { headers: auth });
      assertEquals(silent.status, 504);
      assertEquals(await silent.json(), {
        error: `The dashboard server ${front.url} did not answer in 0.3 s`,
      });
      // An answer that starts, then stops: cut off, not held open for ever.
      front.dribble.add(`/api/d/${ID}/jobs`);
      const stopped = await fetch(`${base}/api/d/${ID}/jobs`, { headers: auth });
      assertEquals(stopped.status, 200);
      const reader = stopped.body!.getReader();
      assertEquals(new TextDecoder().decode((await reader.read()).value), "[");
      let cut: unknown = null;
      try {
        while (!(await reader.read()).done);
      } catch (error) {
        cut = error;
      }
      assert(cut !== null, "the body ends with an error");
    }, [`cut off the answer to GET /api/d/${ID}/jobs: nothing more came for 0.3 s`]);
    const port = new URL(front.url).port;
    await front.shutdown();
    await withLocalPage(`http://127.0.0.1:${port}`, 300, async (page) => {
      const gone = await get(`${new URL(page.url).origin}/api/d/${ID}`);
      assertEquals(gone.status, 502);
      const { error } = await gone.json();
      assert(
        error.startsWith(`Cannot reach the dashboard server http://127.0.0.1:${port}: `),
        error,
      );
    });
  });
});

Deno.test({
  name: "koitab -d open: Chromium signs in through it, and seals and opens envelopes with Koi",
  ignore: !chromiumInstalled(),
  async fn() {
    await withDashboard(async ({ front, dir }) => {
      const open = await startOpen(dir);
      try {
        await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 15_000 });
        const page = browser.page;
        assertEquals(await page.goto(open.url), 200);
        await page.waitFor("#password");
        await page.type("#password", PASSWORD);
        await page.press("Enter");
        await page.waitFor(".empty-state");
        assert(front.seen.length > 0);
        for (const line of front.seen) assert(line.includes(` /api/d/${ID}`), line);

        // The page's own copy of the envelope, in the browser, and Koi's, here, agree.
        const context = { dashboard: ID, host: "web1", scope: "r1", field: "output", seq: 3 };
        const sealed = await page.evaluate<string>(
          `import("/protocol/envelope.js").then((m) => m.seal(${JSON.stringify(KEYS.dataKey)}, ${
            JSON.stringify(context)
          }, "from Chromium 😃"))`,
        );
        assertEquals(await unsealText(KEYS.dataKey, context, sealed), "from Chromium 😃");
        const fromKoi = await seal(KEYS.dataKey, context, "from Koi");
        const opened = await page.evaluate<string>(
          `import("/protocol/envelope.js").then((m) => m.unsealText(${
            JSON.stringify(KEYS.dataKey)
          }, ${JSON.stringify(context)}, ${JSON.stringify(fromKoi)}))`,
        );
        assertEquals(opened, "from Koi");
        const moved = await page.evaluate<string>(
          `import("/protocol/envelope.js").then((m) => m.unsealText(${
            JSON.stringify(KEYS.dataKey)
          }, ${JSON.stringify({ ...context, seq: 4 })}, ${
            JSON.stringify(fromKoi)
          })).then(() => "opened", (e) => e.name + " " + e.reason)`,
        );
        assertEquals(moved, "EnvelopeError unauthentic");
        assertEquals(page.errors(), []);
      } finally {
        open.child.kill("SIGTERM");
        assertEquals((await open.child.status).code, 0);
      }
    });
  },
});
