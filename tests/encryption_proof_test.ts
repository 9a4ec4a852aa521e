/**
 * The proof of issue 14: a real dashboard server (`dashboard.ts`, its store a
 * Deno KV file), a real koid and a manual run asked for with `koitab -d run`,
 * whose command line, argument and output each carry a unique marker. Nothing
 * the server stored (the KV file, its `-wal` and `-shm`) and no answer of its
 * API holds a marker, in plain text, base64, base64url or hex; `koitab -d run`
 * and the page (real Chromium) show all three, decrypted.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Browser, chromiumInstalled, type Page, visibleText } from "./_browser.ts";
import { startDashboardProcess } from "./_dashboard_process.ts";
import { runEntry } from "./_entry.ts";
import { Koid } from "./_koid.ts";
import { readDashboardConfig } from "../lib/link/config.ts";
import { koiPaths } from "../lib/koidir.ts";
import { UNDECRYPTABLE_TEXT } from "../lib/protocol/sealed.js";

const PASSWORD = "Proof of sealing, kiwi-7-harbour!";
const random = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/**
 * Every spelling of a marker to look for: itself, its hex (either case), and
 * its base64 and base64url at each of the three byte alignments it may have in
 * a longer text (only the characters that depend on the marker alone).
 */
function spellings(marker: string): string[] {
  const bytes = new TextEncoder().encode(marker);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const found = [marker, hex, hex.toUpperCase()];
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array([...new Uint8Array(shift), ...bytes]);
    const base64 = btoa(String.fromCharCode(...padded));
    const middle = base64.slice(shift === 0 ? 0 : 4, -4);
    found.push(middle, middle.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return found;
}

/** Signs in to the dashboard page at `url` with the password, as a person does. */
async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitFor("#password");
  await page.type("#password", PASSWORD);
  await page.press("Enter");
  await page.waitFor(".jobs-table", { timeoutMs: 15_000 });
}

/** The spellings of the markers found in some bytes, as `marker: spelling`. */
function leaks(bytes: Uint8Array, markers: readonly string[]): string[] {
  const text = new TextDecoder("latin1").decode(bytes);
  return markers.flatMap((marker) =>
    spellings(marker).filter((spelling) => text.includes(spelling)).map((s) => `${marker}: ${s}`)
  );
}

Deno.test({
  name:
    "encryption proof: the server stores and answers only ciphertext; koitab and the page show the text",
  ignore: !chromiumInstalled(),
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "koi_proof_" });
    const dir = `${tmp}/koi`;
    const store = `${tmp}/store.db`;
    const nonce = random();
    const commandMarker = `CMDMARK${nonce}`;
    const argMarker = `ARGMARK${nonce}`;
    const outputMarker = `OUTMARK${nonce}`;
    const markers = [commandMarker, argMarker, outputMarker];
    // The output marker exists only once the job runs: the command holds it in two halves.
    const half = outputMarker.length >> 1;
    const koitab = `"Proof" @manual echo '${outputMarker.slice(0, half)}''${
      outputMarker.slice(half)
    }' {{Secret}} # ${commandMarker}\n`;
    const server = await startDashboardProcess(store);
    let koid: Koid | null = null;
    try {
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/koitab`, koitab);
      const env = { KOI_DIR: dir, KOI_PASSWORD: PASSWORD };
      const created = await runEntry("koitab", ["-d", "new", "--server", server.url], { env });
      assertEquals([created.code, created.stderr], [0, ""]);
      const link = (await readDashboardConfig(koiPaths(dir)))!;
      const answers: string[] = [];
      const api = async (path: string) => {
        const response = await fetch(`${server.url}/api/d/${link.id}${path}`, {
          headers: { authorization: `Bearer ${link.apiKey}` },
        });
        const text = await response.text();
        assertEquals(response.status, 200, `${path}: ${text}`);
        answers.push(text);
        return JSON.parse(text);
      };
      koid = new Koid(dir);
      let tag = "";
      let host = "";
      const deadline = Date.now() + 30_000;
      while (tag === "") {
        const { jobs } = await api("/jobs");
        tag = jobs[0]?.tag ?? "";
        host = jobs[0]?.host ?? "";
        if (Date.now() > deadline) throw new Error(`no job list; koid said ${koid.lines}`);
        if (tag === "") await new Promise((resolve) => setTimeout(resolve, 100));
      }

      await t.step("koitab -d run: the value sealed, the output decrypted", async () => {
        const run = await runEntry(
          "koitab",
          ["-d", "run", "Proof", "--arg", `Secret=${argMarker}`],
          {
            env,
          },
        );
        assertEquals(run, { code: 0, stdout: `${outputMarker} ${argMarker}\n`, stderr: "" });
      });

      await t.step("the scan finds a marker in each spelling, at any alignment", () => {
        const encode = (text: string) => new TextEncoder().encode(text);
        for (const around of ["", "a", "ab", "abc"]) {
          const text = `${around}${argMarker}${around}`;
          const hex = Array.from(encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
          const base64url = btoa(text).replaceAll("+", "-").replaceAll("/", "_");
          for (const spelled of [text, hex, btoa(text), base64url]) {
            assertEquals(leaks(encode(spelled), [argMarker]).length > 0, true, spelled);
          }
        }
      });

      await t.step("no marker in any API answer", async () => {
        const info = await api("");
        assertEquals(info.hosts.map((entry: { host: string }) => entry.host), [host]);
        const { jobs } = await api("/jobs");
        assert(jobs[0].command.startsWith("k1."), jobs[0].command);
        const { runs } = await api(`/runs?host=${host}&tag=${tag}`);
        assertEquals(runs.length, 1);
        const { run, output } = await api(`/runs/${runs[0].id}`);
        assertEquals(run.status, "succeeded");
        assert(
          output.length > 0 && output.every((c: { text: string }) => c.text.startsWith("k1.")),
        );
        const { manual } = await api(`/manual?host=${host}&tag=${tag}`);
        assertEquals(manual.length, 1);
        await api(`/manual/${manual[0].id}`);
        const leaked = answers.flatMap((answer) =>
          leaks(new TextEncoder().encode(answer), markers)
        );
        assertEquals(leaked, []);
      });

      await t.step(
        "the page shows the command, the argument and the output, decrypted",
        async () => {
          await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });
          const page = browser.page;
          await signIn(page, `${server.url}/d/${link.id}`);
          await page.goto(`${server.url}/d/${link.id}#/job/${host}/${tag}`);
          await page.waitForFunction(
            `document.querySelectorAll(".runs-table tbody tr").length === 1`,
          );
          assert((await page.text(".command-text")).includes(commandMarker));
          assert((await visibleText(page, ".runs-table tbody tr"))!.includes(argMarker));
          const { runs } = await api(`/runs?host=${host}&tag=${tag}`);
          await page.goto(`${server.url}/d/${link.id}#/run/${runs[0].id}`);
          await page.waitForFunction(`document.querySelector("pre.output:not(.empty)")`);
          assertEquals(await visibleText(page, "pre.output"), `${outputMarker} ${argMarker}\n`);
        },
      );

      await t.step("a value the server moves shows as undecryptable on the page", async () => {
        // What a rogue server could store: the real job's sealed command as another host's
        // job, and the real run's sealed output as another run's. The shapes pass.
        const { jobs } = await api("/jobs");
        const { runs } = await api(`/runs?host=${host}&tag=${tag}`);
        const { output } = await api(`/runs/${runs[0].id}`);
        const asRogue = async (path: string, body: unknown) => {
          const response = await fetch(`${server.url}/api/d/${link.id}/hosts/rogue${path}`, {
            method: path === "/jobs" ? "PUT" : "POST",
            headers: { authorization: `Bearer ${link.apiKey}` },
            body: JSON.stringify(body),
          });
          await response.body?.cancel();
          assert(response.ok, `${path}: ${response.status}`);
        };
        const { host: _, lastRun: _r, description: _d, due: _u, nextRun: _n, state: _s, ...job } =
          jobs[0];
        void [_, _r, _d, _u, _n, _s];
        await asRogue("/jobs", { jobs: [{ ...job, refreshAt: undefined }] });
        const startedAt = Date.now();
        await asRogue("/reports", {
          reports: [
            {
              type: "start",
              run: { ...runs[0], id: "moved1", startedAt, scheduledFor: null },
            },
            {
              type: "end",
              runId: "moved1",
              end: {
                finishedAt: startedAt + 1,
                exitCode: 0,
                signal: null,
                status: "succeeded",
                error: null,
                outputBytes: 1,
                chunks: output.map((chunk: { stream: string; text: string }) => chunk),
              },
            },
          ],
        });
        await using browser = await Browser.launch({ timeoutMs: 15_000, waitMs: 10_000 });
        const page = browser.page;
        await signIn(page, `${server.url}/d/${link.id}`);
        await page.goto(`${server.url}/d/${link.id}#/job/rogue/${tag}`);
        await page.waitForFunction(
          `document.querySelectorAll(".runs-table tbody tr").length === 1`,
        );
        assertEquals(await page.text(".command-text"), UNDECRYPTABLE_TEXT);
        const row = (await visibleText(page, ".runs-table tbody tr"))!;
        assert(row.includes(UNDECRYPTABLE_TEXT) && !row.includes(argMarker), row);
        await page.goto(`${server.url}/d/${link.id}#/run/moved1`);
        await page.waitForFunction(`document.querySelector("pre.output:not(.empty)")`);
        assertEquals(await visibleText(page, "pre.output"), UNDECRYPTABLE_TEXT);
      });

      await t.step("no marker in the store: the KV file, its -wal and -shm", async () => {
        const scan = async () => {
          const found: string[] = [];
          for (const path of [store, `${store}-wal`, `${store}-shm`]) {
            try {
              found.push(...leaks(await Deno.readFile(path), markers).map((l) => `${path} ${l}`));
            } catch (error) {
              if (!(error instanceof Deno.errors.NotFound)) throw error;
            }
          }
          return found;
        };
        assert((await Deno.stat(store)).size > 0);
        assertEquals(await scan(), [], "while the server runs");
        assertEquals((await server.stop()).code, 0);
        assertEquals(await scan(), [], "once it stopped");
      });
    } finally {
      if (koid !== null) {
        koid.child.kill("SIGTERM");
        await koid.exit();
      }
      await server.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
