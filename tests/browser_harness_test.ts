/**
 * Tests of the browser harness (`_browser.ts`) against a tiny page served here under a
 * strict CSP. Skipped, with a note, where Chromium is not installed.
 */

import { assert, assertEquals } from "./_assert.ts";
import {
  Browser,
  BrowserError,
  chromiumInstalled,
  chromiumPath,
  isLoopbackUrl,
  processesUsing,
} from "./_browser.ts";

const installed = chromiumInstalled();
if (!installed) {
  console.warn(
    `browser_harness_test.ts: skipped, no Chromium at ${chromiumPath()} ` +
      "(apt-get install chromium, or set CHROMIUM)",
  );
}

const CSP = "default-src 'self'";

const PAGES: Record<string, [string, string]> = {
  "/": [
    "text/html; charset=utf-8",
    `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width">
  <title>harness</title>
  <link rel="stylesheet" href="/style.css">
  <script type="module" src="/app.js"></script>
</head>
<body>
  <h1>Koi harness</h1>
  <input id="name" autocomplete="off"> <p id="echo"></p> <p id="changes">0</p>
  <button id="go" type="button">Go</button> <p id="status">idle</p>
  <label><input id="agree" type="checkbox"> agree</label> <p id="agreed">no</p>
  <form id="search"><input id="q" autocomplete="off"></form> <p id="submitted">0</p>
  <button id="after" type="button">After</button>
  <button id="off" type="button" disabled>Off</button>
</body>
</html>
`,
  ],
  "/app.js": [
    "text/javascript",
    `
const $ = (id) => document.getElementById(id);
$("name").addEventListener("input", () => $("echo").textContent = $("name").value);
$("name").addEventListener("change", () => $("changes").textContent = String(Number($("changes").textContent) + 1));
$("go").addEventListener("click", () => $("status").textContent = "clicked");
$("agree").addEventListener("change", () => $("agreed").textContent = $("agree").checked ? "yes" : "no");
$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  $("submitted").textContent = String(Number($("submitted").textContent) + 1);
});
setTimeout(() => {
  const ready = document.createElement("div");
  ready.id = "ready";
  ready.textContent = "ready";
  document.body.append(ready);
  console.log("app ready");
}, 150);
`,
  ],
  "/style.css": ["text/css", "body { background: rgb(1, 2, 3); color: white; }\n"],
  "/inline": [
    "text/html; charset=utf-8",
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>untouched</title></head>
<body><script>document.title = "inline ran";</script><p id="here">here</p></body>
</html>
`,
  ],
};

/** Serves {@link PAGES} on a free loopback port, with the CSP header, until disposed of. */
function serve(): Deno.HttpServer<Deno.NetAddr> & { url: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/favicon.ico") return new Response(null, { status: 204 });
    const page = PAGES[path];
    if (page === undefined) return new Response("not found", { status: 404 });
    return new Response(page[1], {
      headers: { "content-type": page[0], "content-security-policy": CSP },
    });
  });
  return Object.assign(server, { url: `http://127.0.0.1:${server.addr.port}` });
}

/** Awaits `promise`, which must reject with a {@link BrowserError}; returns it. */
async function rejects(promise: Promise<unknown>): Promise<BrowserError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof BrowserError, `expected a BrowserError, got ${error}`);
    return error;
  }
  throw new Error("expected a rejection, but it resolved");
}

/** The width and height in a PNG's IHDR chunk, after checking the signature. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  assertEquals([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assertEquals(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR");
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Whether process `pid` is gone (ended, and reaped). */
function gone(pid: number): boolean {
  try {
    Deno.kill(pid, 0);
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

Deno.test({
  name: "browser harness: drives a page under a strict CSP, then leaves nothing behind",
  ignore: !installed,
  async fn(t) {
    await using server = serve();
    const dir = await Deno.makeTempDir({ prefix: "koi-browser-test-" });
    let pid = 0;
    let profileDir = "";
    try {
      {
        await using browser = await Browser.launch({ timeoutMs: 10_000 });
        pid = browser.pid;
        profileDir = browser.profileDir;
        assert(!gone(pid), "chromium runs");
        const page = browser.page;

        await t.step("goto, and waitFor what the module script adds", async () => {
          assertEquals(await page.goto(`${server.url}/`), 200);
          await page.waitFor("#ready", { timeoutMs: 3_000 });
          assertEquals(await page.text("#ready"), "ready");
          assertEquals(
            await page.evaluate("getComputedStyle(document.body).backgroundColor"),
            "rgb(1, 2, 3)",
            "the stylesheet applies",
          );
          assertEquals(await page.waitForFunction<string>("document.title"), "harness");
        });

        await t.step("type, and read the value back", async () => {
          await page.type("#name", "Ada");
          assertEquals(await page.value("#name"), "Ada");
          assertEquals(await page.text("#echo"), "Ada", "input events fired");
          assertEquals(await page.text("#changes"), "1", "a change event fired");
          await page.type("#name", " Lovelace");
          assertEquals(await page.value("#name"), "Ada Lovelace");
          await page.type("#name", "Grace", { clear: true });
          assertEquals(await page.value("#name"), "Grace");
          assertEquals(await page.text("#echo"), "Grace");
        });

        await t.step("click, setChecked, press", async () => {
          await page.click("#go");
          assertEquals(await page.text("#status"), "clicked");
          await page.setChecked("#agree", true);
          assertEquals(await page.text("#agreed"), "yes");
          await page.setChecked("#agree", true);
          assertEquals(await page.text("#agreed"), "yes", "already checked: no click");
          await page.setChecked("#agree", false);
          assertEquals(await page.text("#agreed"), "no");
          await page.type("#q", "backup");
          await page.press("Enter");
          assertEquals(await page.text("#submitted"), "1", "Enter submitted the form");
          await page.press("Tab");
          assertEquals(
            await page.evaluate("document.activeElement.id"),
            "after",
            "Tab moved the focus on",
          );
        });

        await t.step("failures say what failed, and in bounded time", async () => {
          const started = Date.now();
          const missing = await rejects(page.waitFor("#never", { timeoutMs: 300 }));
          assert(Date.now() - started < 2_000, "the wait was bounded");
          assert(missing.message.includes('"#never"'), missing.message);
          const clicked = await rejects(page.click("#nothing", { timeoutMs: 200 }));
          assert(clicked.message.startsWith('click("#nothing")'), clicked.message);
          const disabled = await rejects(page.click("#off"));
          assert(disabled.message.includes("disabled"), disabled.message);
          const thrown = await rejects(page.evaluate("null.x"));
          assert(thrown.message.includes("TypeError"), thrown.message);
          const rejected = await rejects(page.evaluate("Promise.reject(new Error('nope'))"));
          assert(rejected.message.includes("nope"), rejected.message);
          assertEquals(await page.evaluate("confirm('Delete?')"), true, "dialogs are accepted");
          assertEquals(page.dialogs(), [{ type: "confirm", message: "Delete?" }]);
          const condition = await rejects(page.waitForFunction("window.never", { timeoutMs: 200 }));
          assert(condition.message.includes("window.never"), condition.message);
        });

        await t.step("screenshot: a PNG of the requested size", async () => {
          const path = `${dir}/shots/page.png`;
          const bytes = await page.screenshot(path, { width: 640, height: 360 });
          assertEquals(pngSize(await Deno.readFile(path)), { width: 640, height: 360 });
          assertEquals(bytes.length, (await Deno.stat(path)).size);
          await page.setViewport(390, 844, true);
          assertEquals(await page.evaluate("innerWidth"), 390);
        });

        await t.step("the page's own console and requests", () => {
          assertEquals(page.errors(), []);
          assertEquals(page.exceptions(), []);
          const logged = page.consoleMessages().filter((m) => m.source === "console");
          assertEquals(logged.map((m) => [m.level, m.text]), [["log", "app ready"]]);
          const requests = page.requests();
          const urls = requests.map((r) => new URL(r.url).pathname);
          for (const path of ["/", "/style.css", "/app.js"]) {
            assert(urls.includes(path), `requested ${path}: ${urls}`);
          }
          assertEquals(requests.filter((r) => !isLoopbackUrl(r.url)), []);
          for (const url of ["https://fonts.googleapis.com/css", "http://127.0.0.1.nip.io/"]) {
            assert(!isLoopbackUrl(url), url);
          }
          for (
            const url of ["http://localhost:1/", "ws://127.0.0.1:2/x", "data:,x", "about:blank"]
          ) {
            assert(isLoopbackUrl(url), url);
          }
        });

        await t.step("an inline script the CSP blocks is logged", async () => {
          const other = await browser.newPage();
          assertEquals(await other.goto(`${server.url}/missing`), 404, "an HTTP error is no throw");
          assertEquals(await other.goto("about:blank"), null);
          await other.goto(`${server.url}/inline`);
          await other.waitFor("#here");
          assertEquals(await other.evaluate("document.title"), "untouched", "it did not run");
          await other.waitForFunction("true"); // One more round trip, for the log entry.
          const csp = other.consoleMessages().filter((m) =>
            m.text.includes("Content Security Policy")
          );
          assert(csp.length > 0, `no CSP message in ${Deno.inspect(other.consoleMessages())}`);
          assertEquals(csp[0]?.level, "error");
          assert(other.errors().length > 0, "errors() has it too");
          const refused = await other.evaluate(
            "fetch('http://example.invalid/').then(() => 'fetched', (e) => e.name)",
          );
          assertEquals(refused, "TypeError", "the CSP stopped a call to a third party");
          assertEquals(other.requests().filter((r) => !isLoopbackUrl(r.url)), []);
          assert(
            other.consoleMessages().some((m) => m.text.includes("example.invalid")),
            "the refused call is logged",
          );
          await other.close();
          await rejects(other.evaluate("1"));
          assertEquals(await page.evaluate("1 + 1"), 2, "the first page is unaffected");
        });
      }
      // The browser is disposed of: its processes have ended, its profile is gone.
      assert(gone(pid), `chromium (pid ${pid}) is still running`);
      const left = await processesUsing(profileDir);
      if (left === null) console.warn("no `ps` here: only Chromium's main process was checked");
      assertEquals(left ?? [], [], "processes of the browser are left");
      let profileLeft = true;
      try {
        await Deno.stat(profileDir);
      } catch (error) {
        profileLeft = !(error instanceof Deno.errors.NotFound);
      }
      assert(!profileLeft, `the profile ${profileDir} is still there`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "browser harness: a browser that dies fails the next call at once, with why",
  ignore: !installed,
  async fn() {
    await using server = serve();
    await using browser = await Browser.launch({ timeoutMs: 10_000 });
    const page = browser.page;
    await page.goto(`${server.url}/`);
    const pending = page.waitForFunction("false", { timeoutMs: 8_000 });
    const started = Date.now();
    Deno.kill(browser.pid, "SIGKILL");
    const error = await rejects(pending);
    assert(error.message.startsWith("Chromium exited unexpectedly"), error.message);
    assert(error.message.includes("SIGKILL"), error.message);
    assert(Date.now() - started < 3_000, `it took ${Date.now() - started} ms`);
    const later = await rejects(page.evaluate("1"));
    assertEquals(later.message, error.message);
  },
});

Deno.test({
  name: "browser harness: a crashed page fails its calls with why; the browser goes on",
  ignore: !installed,
  async fn() {
    await using browser = await Browser.launch({ timeoutMs: 10_000 });
    const page = browser.page;
    const started = Date.now();
    await rejects(page.cdp("Page.crash"));
    const error = await rejects(page.evaluate("1"));
    assert(error.message.includes("crashed"), error.message);
    assert(Date.now() - started < 3_000, `it took ${Date.now() - started} ms`);
    const other = await browser.newPage();
    assertEquals(await other.evaluate("6 * 7"), 42);
  },
});

Deno.test("browser harness: a Chromium that can't start fails launch with why", async () => {
  const missing = await rejects(Browser.launch({ executable: "/nonexistent/chromium" }));
  assert(missing.message.startsWith("could not start /nonexistent/chromium"), missing.message);
  const failing = await rejects(Browser.launch({ executable: "/bin/false" }));
  assertEquals(failing.message, "Chromium exited at start-up (exit code 1)");
});
