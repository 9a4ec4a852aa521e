/**
 * `koitab -d` as a user meets it: each case runs `koitab.ts` in a subprocess with
 * exactly the permissions of `deno task koitab`, against a temporary KOI_DIR and
 * the real dashboard server on 127.0.0.1 (tests/_dashboard.ts), where a test that
 * needs a koid plays one through the API, as koid calls it.
 *
 * @module
 */

import { callApi } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { type EntryResult, runEntry, runOnTerminal } from "./_entry.ts";
import { TestDashboard } from "./_dashboard.ts";
import { DashboardError, type PolledManual } from "../lib/link/client.ts";
import { writeDashboardConfig } from "../lib/link/config.ts";
import { writeJobListRefusal } from "../lib/link/link_state.ts";
import { startServer } from "../lib/server/server.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import {
  type Job,
  MAX_JOB_LIST_BYTES,
  type OutputStream,
  type Report,
} from "../lib/protocol/wire.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { contexts, openValue, UNDECRYPTABLE_TEXT } from "../lib/protocol/sealed.js";
import { base64url, deriveKeys, newDashboardId, verifyRun } from "../lib/protocol/keys.ts";
import { type KoiPaths, koiPaths } from "../lib/koidir.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));

const PASSWORD = "Koi's test dashboard, 2026!";
/** A dashboard made with PASSWORD, its keys derived once for every test that joins it. */
const JOINABLE = "joinable_dashboard_0001";
const JOINABLE_KEYS = await deriveKeys(PASSWORD, JOINABLE);

const KOITAB = `[Admin]
"Say" @manual echo {{Who}} {{N, int, 2}} {{Loud, bool}}; echo oops >&2; exit {{Code, int, 0}}
"Nightly" 0 3 * * * backup.sh
`;

/** What `koitab -d` says of a dashboard without alert channels. */
const NO_CHANNEL =
  "alerts     no channel: failed runs, missed runs and silent hosts are only in the page's alert history (add a channel in its Alerts view)\n";

/** The instant the server's clock is held at while a test lists a host: 2023-11-14T22:13:20Z. */
const SEEN = 1_700_000_000_000;

interface Sandbox {
  readonly dir: string;
  readonly paths: KoiPaths;
  readonly dashboard: TestDashboard;
  /** Runs `koitab -d ARGS…` with KOI_DIR and the given environment. */
  koitab(args: string[], env?: Record<string, string>): Promise<EntryResult>;
  /** Links KOI_DIR to a new dashboard on the server with random keys (no password). */
  link(): Promise<{ id: string; apiKey: string; runKey: string; dataKey: string }>;
  /**
   * Lists a host's jobs on a dashboard, as its koid would, with the server's clock
   * at `at` (by default {@linkcode SEEN}).
   */
  listJobs(id: string, host: string, jobs: Job[], at?: number): Promise<void>;
  /** Holds the server's clock at an instant, or lets it run with null. */
  setServerTime(at: number | null): void;
}

async function withSandbox(fn: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "koi_dash_" });
  const dir = `${tmp}/koi`;
  const paths = koiPaths(dir);
  let serverTime: number | null = null;
  const dataKeys = new Map<string, string>();
  const dashboard = await TestDashboard.start(() => serverTime ?? Date.now());
  try {
    await fn({
      dir,
      paths,
      dashboard,
      koitab: (args, env = {}) =>
        runEntry("koitab", ["-d", ...args], {
          env: { KOI_DIR: dir, KOI_PASSWORD: "", ...env },
        }),
      async link() {
        const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
        const keys = { id: newDashboardId(), apiKey: key(), runKey: key(), dataKey: key() };
        await dashboard.create(keys);
        await writeDashboardConfig(paths, { ...keys, server: dashboard.url });
        dataKeys.set(keys.id, keys.dataKey);
        return keys;
      },
      async listJobs(id, host, jobs, at = SEEN) {
        // Sealed as koid seals them, when this test linked the dashboard.
        const dataKey = dataKeys.get(id);
        const list = dataKey === undefined
          ? jobs
          : await new ReportSealer(id, host, dataKey).jobs(jobs);
        serverTime = at;
        try {
          await dashboard.client(id).putJobs(host, list);
        } finally {
          serverTime = null;
        }
      },
      setServerTime(at) {
        serverTime = at;
      },
    });
  } finally {
    await dashboard.close();
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Whether the server still has a dashboard (its key still opens it). */
async function exists(dashboard: TestDashboard, id: string): Promise<boolean> {
  try {
    await dashboard.client(id).info();
    return true;
  } catch (error) {
    if (error instanceof DashboardError && error.status === 401) return false;
    throw error;
  }
}

async function filesIn(dir: string): Promise<string[]> {
  try {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    return names.sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

Deno.test("koitab -d new creates the dashboard, sends only the API key, saves the keys 0600", async () => {
  await withSandbox(async ({ dir, paths, dashboard, koitab }) => {
    const result = await koitab(["new", "--server", `${dashboard.url}/`], {
      KOI_PASSWORD: PASSWORD,
    });
    assertEquals([result.code, result.stderr], [0, ""]);
    const match = new RegExp(`^${dashboard.url}/d/([A-Za-z0-9_-]{22})\\n$`).exec(result.stdout);
    assert(match, result.stdout);
    const id = match[1]!;
    const keys = await deriveKeys(PASSWORD, id);
    assertEquals(dashboard.received.map((r) => [r.method, r.path]), [["POST", "/api/dashboards"]]);
    assertEquals(dashboard.received[0]!.body, { id, apiKey: keys.apiKey });
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "datakey", "runkey"]);
    assertEquals(mode(dir), 0o700);
    for (const path of [paths.dashboard, paths.apiKey, paths.runKey, paths.dataKey]) {
      assertEquals(mode(path), 0o600);
    }
    assertEquals(JSON.parse(await Deno.readTextFile(paths.dashboard)), {
      id,
      server: dashboard.url,
    });
    assertEquals(await Deno.readTextFile(paths.apiKey), `${keys.apiKey}\n`);
    assertEquals(await Deno.readTextFile(paths.runKey), `${keys.runKey}\n`);
    assertEquals(await Deno.readTextFile(paths.dataKey), `${keys.dataKey}\n`);
    for (const name of await filesIn(dir)) {
      assert(!(await Deno.readTextFile(`${dir}/${name}`)).includes(PASSWORD), name);
    }
    assert(!JSON.stringify(dashboard.received).includes(PASSWORD), "the password is never sent");
    assert(!JSON.stringify(dashboard.received).includes(keys.runKey), "the run key is never sent");
    assert(
      !JSON.stringify(dashboard.received).includes(keys.dataKey),
      "the data key is never sent",
    );

    const again = await koitab(["new", "--server", dashboard.url], { KOI_PASSWORD: PASSWORD });
    assertEquals(again.code, 1);
    assert(again.stderr.includes(`is linked to dashboard ${id} already`), again.stderr);
  });
});

Deno.test("koitab -d new refuses a weak password, and no password at all, doing nothing", async () => {
  await withSandbox(async ({ dir, dashboard, koitab }) => {
    const weak = await koitab(["new", "--server", dashboard.url], { KOI_PASSWORD: "password1234" });
    assertEquals(weak, {
      code: 1,
      stdout: "",
      stderr: "koitab: the password is too common: it is one of the most used passwords\n",
    });
    const short = await koitab(["new", "--server", dashboard.url], { KOI_PASSWORD: "Sh0rt!" });
    assertEquals(
      short.stderr,
      "koitab: the password is too short: 6 characters, at least 12 needed\n",
    );
    const none = await koitab(["new", "--server", dashboard.url]);
    assertEquals(none, {
      code: 1,
      stdout: "",
      stderr: "koitab: no password: set KOI_PASSWORD, run this on a terminal, or add --generate\n",
    });
    assertEquals(await filesIn(dir), []);
    assertEquals(dashboard.received, []);
    const server = await koitab(["new", "--server", "ftp://example.com"], {
      KOI_PASSWORD: PASSWORD,
    });
    assertEquals(server.code, 2);
    assert(server.stderr.includes("it must start with http:// or https://"), server.stderr);
  });
});

Deno.test("koitab -d new --generate makes a strong password, shows it once, and uses it", async () => {
  await withSandbox(async ({ paths, dashboard, koitab }) => {
    const result = await koitab(["new", "--server", dashboard.url, "--generate"]);
    assertEquals(result.code, 0, result.stderr);
    const match = /^koitab: the dashboard password, shown only this once: (\S+)\n$/.exec(
      result.stderr,
    );
    assert(match, result.stderr);
    const id = result.stdout.trim().split("/").at(-1)!;
    const keys = await deriveKeys(match[1]!, id);
    assertEquals(await Deno.readTextFile(paths.apiKey), `${keys.apiKey}\n`);
    const both = await koitab(["new", "--generate"], { KOI_PASSWORD: PASSWORD });
    assertEquals(both.code, 2);
  });
});

Deno.test("koitab -d shows the link and whether the dashboard answers", async () => {
  await withSandbox(async ({ dashboard, koitab, link, listJobs, paths }) => {
    assertEquals(await koitab([]), {
      code: 1,
      stdout: "",
      stderr:
        'koitab: this machine has no dashboard: create one with "koitab -d new" or join one with "koitab -d join URL"\n',
    });
    const keys = await link();
    const { id } = keys;
    await listJobs(id, "web1", dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()));
    const head =
      `dashboard  ${id}\nserver     ${dashboard.url}\nurl        ${dashboard.url}/d/${id}\n`;
    assertEquals(await koitab([]), {
      code: 0,
      stdout:
        `${head}status     ok, hosts: web1 (2 jobs, last seen 2023-11-14T22:13:20.000Z)\n${NO_CHANNEL}`,
      stderr: "",
    });
    // A key the server does not know: another password's, or a deleted dashboard's.
    const otherKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
    await writeDashboardConfig(paths, { ...keys, apiKey: otherKey, server: dashboard.url });
    assertEquals(await koitab([]), {
      code: 1,
      stdout: `${head}status     wrong password/API key (or the dashboard was deleted)\n`,
      stderr: "",
    });
    await dashboard.stop();
    const down = await koitab([]);
    assertEquals(down.code, 1);
    assert(
      down.stdout.startsWith(`${head}status     unreachable: cannot reach ${dashboard.url}: `),
      down.stdout,
    );
  });
});

Deno.test("koitab -d says where alerts go and what is muted, naming muted jobs as people do", async () => {
  await withSandbox(async ({ dashboard, koitab, link, listJobs }) => {
    const { id, apiKey } = await link();
    await listJobs(id, "web1", dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()));
    const call = (method: string, path: string, body?: unknown) =>
      callApi(dashboard.server.url, { id, apiKey }, method, path, body);
    assertEquals(
      await call("POST", "/channels", {
        kind: "slack",
        url: "https://hooks.slack.com/services/T000/B000/secret",
      }),
      201,
    );
    assertEquals(await call("PUT", "/mutes/db1"), 204);
    const nightly = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date())
      .find((job) => job.name === "Nightly")!;
    assertEquals(await call("PUT", `/mutes/web1/${nightly.tag}`), 204);
    assertEquals(await call("PUT", "/mutes/web1/j0000000000000001"), 204);
    const { stdout, code } = await koitab([]);
    assertEquals(code, 0);
    const lines = stdout.split("\n");
    assertEquals(lines.slice(4), [
      // The webhook's URL shown only as far as the API shows it: it is often a secret.
      "alerts     to slack https://hooks.slack.com/services/T0…",
      // A job the host no longer lists is named by its tag.
      'muted      db1 (all its jobs), web1 j0000000000000001, web1 [Admin] "Nightly"',
      "",
    ]);
  });
});

Deno.test("koitab -d says a link made before the data key lacks it, and join adds it, nothing else changed", async () => {
  await withSandbox(async ({ dir, paths, dashboard, koitab }) => {
    await dashboard.create({ id: JOINABLE, apiKey: JOINABLE_KEYS.apiKey });
    const url = `${dashboard.url}/d/${JOINABLE}`;
    assertEquals((await koitab(["join", url], { KOI_PASSWORD: PASSWORD })).code, 0);
    const before = Object.fromEntries(
      await Promise.all(
        ["apikey", "dashboard.json", "runkey"].map(async (name) =>
          [name, await Deno.readTextFile(`${dir}/${name}`)] as const
        ),
      ),
    );
    await Deno.remove(paths.dataKey); // As every link made before the data key existed.
    const head = `dashboard  ${JOINABLE}\nserver     ${dashboard.url}\nurl        ${url}\n`;
    const missing =
      `data key   missing: this link was made before Koi had a data key, and it cannot be derived without the password: "koitab -d join ${url}" adds it (it asks for the password and keeps the link as it is)\n`;
    // Without it this machine can neither seal nor open: the status says so and fails,
    // and a command that needs it refuses, saying what to do.
    assertEquals(await koitab([]), {
      code: 1,
      stdout: `${head}${missing}status     ok, no hosts yet\n${NO_CHANNEL}`,
      stderr: "",
    });
    assertEquals(await koitab(["run", "Say"]), {
      code: 1,
      stdout: "",
      stderr: `koitab: ${paths.dataKey} is missing: ${
        missing.slice("data key   missing: ".length)
      }`,
    });
    assertEquals(await koitab(["join", url], { KOI_PASSWORD: PASSWORD }), {
      code: 0,
      stdout: `${url}\n`,
      stderr: "",
    });
    assertEquals(await Deno.readTextFile(paths.dataKey), `${JOINABLE_KEYS.dataKey}\n`);
    for (const [name, text] of Object.entries(before)) {
      assertEquals(await Deno.readTextFile(`${dir}/${name}`), text, name);
    }
    assertEquals((await koitab([])).stdout, `${head}status     ok, no hosts yet\n${NO_CHANNEL}`);
    await Deno.writeTextFile(paths.dataKey, "not a key\n");
    assertEquals(await koitab([]), {
      code: 1,
      stdout: "",
      stderr: `koitab: Cannot read ${paths.dataKey}: it is not a key\n`,
    });
  });
});

Deno.test("koitab -d says a host's job list is out of date, and why: koid's record, then the server's", async () => {
  await withSandbox(async ({ dashboard, koitab, link, listJobs, paths, setServerTime }) => {
    const { id, apiKey } = await link();
    await listJobs(id, "web1", dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()));
    const head =
      `dashboard  ${id}\nserver     ${dashboard.url}\nurl        ${dashboard.url}/d/${id}\n`;
    const hosts = "web1 (2 jobs, last seen 2023-11-14T22:13:20.000Z)";
    const reason =
      'the server answered 400: Invalid "jobs[0].command": must be 0 to 20000 characters';
    const at = Date.parse("2026-03-01T12:00:00Z");
    // A record for another dashboard is not this one's business.
    await writeJobListRefusal(paths, {
      dashboard: "another_dashboard_01",
      host: "web1",
      at,
      reason,
    });
    assertEquals(
      (await koitab([])).stdout,
      `${head}status     ok, hosts: ${hosts}\n${NO_CHANNEL}`,
    );
    // What koid recorded holds whatever the server says (an older one says nothing).
    await writeJobListRefusal(paths, { dashboard: id, host: "web1", at, reason });
    const local =
      `status     the host's job list is out of date (web1, this machine): the server refused it at 2026-03-01T12:00:00.000Z: ${reason}\n`;
    assertEquals(await koitab([]), {
      code: 1,
      stdout: `${head}${local}hosts      ${hosts}\n${NO_CHANNEL}`,
      stderr: "",
    });
    // The server's own record covers the other hosts: it refuses db1's list, too
    // large, and web1's, not JSON (this machine's record is the one shown for it).
    const put = (host: string, body: string) =>
      fetch(`${dashboard.server.url}/api/d/${id}/hosts/${host}/jobs`, {
        method: "PUT",
        headers: { authorization: `Bearer ${apiKey}` },
        body,
      }).then((response) => response.body?.cancel());
    setServerTime(at + 1000);
    await put("db1", `{"jobs": [${" ".repeat(MAX_JOB_LIST_BYTES)}]}`);
    setServerTime(at);
    await put("web1", "{");
    setServerTime(null);
    assertEquals(await koitab([]), {
      code: 1,
      stdout: head + local +
        `status     the host's job list is out of date (db1): the server refused it at 2026-03-01T12:00:01.000Z: The body is larger than ${MAX_JOB_LIST_BYTES} bytes\n` +
        `hosts      db1 (0 jobs, never seen), ${hosts}\n${NO_CHANNEL}`,
      stderr: "",
    });
    // Unreachable, koid's record still says so.
    await dashboard.stop();
    const down = await koitab([]);
    assertEquals(down.code, 1);
    assert(
      down.stdout.startsWith(
        `${head}${local}status     unreachable: cannot reach ${dashboard.url}: `,
      ),
      down.stdout,
    );
  });
});

Deno.test("koitab -d join checks the password with the server before saving anything", async () => {
  await withSandbox(async ({ dir, paths, dashboard, koitab }) => {
    await dashboard.create({ id: JOINABLE, apiKey: JOINABLE_KEYS.apiKey });
    const url = `${dashboard.url}/d/${JOINABLE}`;
    const wrong = await koitab(["join", url], { KOI_PASSWORD: "not the password at all" });
    assertEquals(wrong, {
      code: 1,
      stdout: "",
      stderr:
        "koitab: wrong password for this dashboard (or no such dashboard): nothing was saved\n",
    });
    assertEquals(await filesIn(dir), []);
    const right = await koitab(["join", url], { KOI_PASSWORD: PASSWORD });
    assertEquals(right, { code: 0, stdout: `${url}\n`, stderr: "" });
    assertEquals(await Deno.readTextFile(paths.apiKey), `${JOINABLE_KEYS.apiKey}\n`);
    assertEquals(await Deno.readTextFile(paths.runKey), `${JOINABLE_KEYS.runKey}\n`);
    assertEquals(await Deno.readTextFile(paths.dataKey), `${JOINABLE_KEYS.dataKey}\n`);
    assertEquals(mode(paths.dataKey), 0o600);
    assert(!JSON.stringify(dashboard.received).includes(JOINABLE_KEYS.dataKey), "never sent");
    const bad = await koitab(["join", `${dashboard.url}/x/${JOINABLE}`], {
      KOI_PASSWORD: PASSWORD,
    });
    assertEquals(bad.code, 2);
  });
});

Deno.test("koitab -d delete deletes on the server, then here; --local forgets a dashboard it cannot reach", async () => {
  await withSandbox(async ({ dir, dashboard, koitab, link }) => {
    const { id } = await link();
    assertEquals(await koitab(["delete", "--yes"]), {
      code: 0,
      stdout: `deleted dashboard ${id}\n`,
      stderr: "",
    });
    assertEquals(await exists(dashboard, id), false);
    assertEquals(await filesIn(dir), []);
    const second = await link();
    await dashboard.stop();
    const down = await koitab(["delete", "--yes"]);
    assertEquals(down.code, 1);
    assert(
      down.stderr.includes(`cannot delete dashboard ${second.id} on ${dashboard.url}`),
      down.stderr,
    );
    assert(down.stderr.includes("nothing was removed"), down.stderr);
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "datakey", "runkey"]);
    const local = await koitab(["delete", "--local", "--yes"]);
    assertEquals(local.code, 0, local.stderr);
    assert(local.stderr.includes("removed this machine's link only"), local.stderr);
    assertEquals(await filesIn(dir), []);
    dashboard.start();
    assertEquals((await koitab(["delete", "--yes"])).code, 1, "nothing to delete");
  });
});

Deno.test("koitab -d delete asks on a terminal, naming the linked hosts, and needs --yes without one", async () => {
  await withSandbox(async ({ dir, dashboard, koitab, link, listJobs }) => {
    const { id } = await link();
    await listJobs(id, "web1", dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()));
    const script = await koitab(["delete"]);
    assertEquals(script, {
      code: 2,
      stdout: "",
      stderr:
        `koitab: deleting dashboard ${id} deletes it for every machine linked to it: add --yes to do it without a terminal to ask on\nkoitab: see "koitab --help"\n`,
    });
    const prompt =
      `koitab: delete dashboard ${id} at ${dashboard.url}, with the jobs and runs of 1 host linked to it (web1)? This cannot be undone. (y/n) `;
    const no = await onTerminal({ KOI_DIR: dir }, ["delete"], [[prompt, "n\r"]]);
    if (no === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    assertEquals(no, { code: 0, output: `${prompt}n\nkoitab: nothing was deleted\n` });
    assertEquals(await exists(dashboard, id), true);
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "datakey", "runkey"]);
    const yes = await onTerminal({ KOI_DIR: dir }, ["delete"], [[prompt, "y\r"]]);
    assertEquals(yes, { code: 0, output: `${prompt}y\ndeleted dashboard ${id}\n` });
    assertEquals(await exists(dashboard, id), false);
    assertEquals(await filesIn(dir), []);
  });
});

/** What the played koid does with a manual run. */
interface Plan {
  /** Refuse it, with this reason. */
  readonly refuse?: string;
  /** Chunks streamed while it runs. */
  readonly streamed?: readonly [OutputStream, string][];
  /** Its final output (by default, the streamed chunks). */
  readonly final?: readonly [OutputStream, string][];
  readonly exitCode?: number;
  readonly signal?: string;
}

/**
 * Plays koid on host web1 through the real API, as koid calls it: takes each
 * manual run by long-poll, refuses it or starts it, streams its chunks (each once
 * the follower has asked after the one before), then ends it with its final
 * chunks, which the server puts in place of the streamed ones.
 *
 * @returns A function that stops it.
 */
function playKoid(
  dashboard: TestDashboard,
  keys: { id: string; dataKey: string },
  script: (manual: PolledManual) => Plan,
): () => Promise<void> {
  const { id } = keys;
  const api = dashboard.client(id);
  const stopping = new AbortController();
  let runs = 0;
  // Sealed as koid seals them.
  const sealer = new ReportSealer(id, "web1", keys.dataKey);
  const report = async (...reports: Report[]) =>
    api.postReports("web1", await sealer.reports(reports));
  const play = async (manual: PolledManual) => {
    const plan = script(manual);
    const { manualId } = manual;
    if (plan.refuse) {
      await report({
        type: "manual",
        manualId,
        state: "refused",
        reason: plan.refuse,
        runId: null,
      });
      return;
    }
    const payload = JSON.parse(manual.payload as string);
    const at = contexts(id, "web1");
    const args: Record<string, string | number | boolean> = {};
    for (const [name, envelope] of Object.entries(payload.args as Record<string, string>)) {
      args[name] = await openValue(
        keys.dataKey,
        at.payloadArg(payload.tag, name, payload.ts),
        envelope,
      );
    }
    const runId = `run${++runs}`;
    await report({
      type: "start",
      run: {
        id: runId,
        tag: payload.tag,
        name: "Say",
        section: "Admin",
        trigger: "manual",
        args,
        scheduledFor: null,
        startedAt: Date.now(),
        manualId,
      },
    }, { type: "manual", manualId, state: "started", reason: null, runId });
    for (const [seq, [stream, text]] of (plan.streamed ?? []).entries()) {
      const asked = dashboard.count(`/runs/${runId}`);
      await report({ type: "output", runId, seq, stream, text });
      await dashboard.until(() => dashboard.count(`/runs/${runId}`) > asked, "the follower", 5000);
    }
    const chunks = (plan.final ?? plan.streamed ?? []).map(([stream, text]) => ({ stream, text }));
    await report({
      type: "end",
      runId,
      end: {
        finishedAt: Date.now(),
        exitCode: plan.signal ? null : plan.exitCode ?? 0,
        signal: plan.signal ?? null,
        status: plan.signal ? "killed" : plan.exitCode ? "failed" : "succeeded",
        error: null,
        outputBytes: chunks.reduce((sum, chunk) => sum + chunk.text.length, 0),
        chunks,
      },
    });
  };
  const playing = (async () => {
    while (!stopping.signal.aborted) {
      try {
        for (const manual of await api.pollManual("web1", 1, { signal: stopping.signal })) {
          await play(manual);
        }
      } catch (error) {
        if (!stopping.signal.aborted) throw error;
      }
    }
  })();
  return async () => {
    stopping.abort();
    await playing;
  };
}

/** The payloads `koitab -d run` posted, in order. */
function postedPayloads(dashboard: TestDashboard): Record<string, unknown>[] {
  return dashboard.received.filter((r) => r.method === "POST" && r.path.endsWith("/manual"))
    .map((r) => JSON.parse((r.body as { payload: string }).payload));
}

Deno.test("koitab -d run signs the request exactly, follows the output and exits with the job's status", async () => {
  await withSandbox(async ({ paths, dashboard, koitab, link, listJobs }) => {
    const keys = await link();
    const { jobs } = parseKoitab(KOITAB);
    await listJobs(keys.id, "web1", dashboardJobs(jobs, "UTC", new Date()));
    const seen: PolledManual[] = [];
    const stop = playKoid(dashboard, keys, (manual) => {
      seen.push(manual);
      // Streamed: the first two chunks; the final output has them all, chunked otherwise.
      return {
        streamed: [["stdout", "o'brien 5 "], ["stdout", "true\n"]],
        final: [["stdout", "o'brien 5 true\n"], ["stderr", "oops\n"], ["stdout", "done\n"]],
        exitCode: 3,
      };
    });
    const before = Date.now();
    const result = await koitab([
      "run",
      "Say",
      "--arg",
      "Who=o'brien",
      "--arg=N=5",
      "--arg",
      "Loud=true",
      "--arg",
      "Code=3",
    ]);
    await stop();
    assertEquals(result, { code: 3, stdout: "o'brien 5 true\ndone\n", stderr: "oops\n" });
    const runKey = (await Deno.readTextFile(paths.runKey)).trim();
    const manual = seen[0]!;
    assert(
      await verifyRun(runKey, manual.payload as string, manual.signature as string),
      "the HMAC verifies under $KOI_DIR/runkey",
    );
    const payload = JSON.parse(manual.payload as string);
    assertEquals(Object.keys(payload), ["v", "dashboard", "host", "tag", "ts", "args"]);
    assertEquals({ ...payload, ts: 0, args: Object.keys(payload.args) }, {
      v: 2,
      dashboard: keys.id,
      host: "web1",
      tag: jobs[0]!.tag,
      ts: 0,
      args: ["Who", "N", "Loud", "Code"],
    });
    // Each value sealed for this request (tag, argument, timestamp), before signing.
    assert(!manual.payload!.toString().includes("o'brien"), "no value in plain");
    const at = contexts(keys.id, "web1");
    const values: Record<string, unknown> = {};
    for (const [name, envelope] of Object.entries(payload.args as Record<string, string>)) {
      values[name] = await openValue(
        keys.dataKey,
        at.payloadArg(payload.tag, name, payload.ts),
        envelope,
      );
    }
    assertEquals(values, { Who: "o'brien", N: 5, Loud: true, Code: 3 });
    assert((payload.ts as number) >= before && (payload.ts as number) <= Date.now());
    assertEquals(dashboard.count("/manual", "POST"), 1);
  });
});

Deno.test("koitab -d run: koid's refusal, a kill, a timeout, several hosts and bad arguments", async () => {
  await withSandbox(async ({ dashboard, koitab, link, listJobs }) => {
    const keys = await link();
    const { id } = keys;
    const jobs = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
    await listJobs(id, "web1", jobs);
    let mode: "refuse" | "kill" | "elided" = "refuse";
    const stop = playKoid(dashboard, keys, (): Plan => {
      if (mode === "refuse") {
        return {
          refuse:
            "the request was signed at 2026-01-01T00:00:00.000Z, more than 5 minutes from now",
        };
      }
      if (mode === "kill") return { streamed: [["stdout", "bye\n"]], signal: "SIGTERM" };
      // More was streamed than the head the server kept: what follows the elision is printed.
      return {
        streamed: [["stdout", "a".repeat(10)]],
        final: [["stdout", "aaaaa"], ["koi", "\n[koi: 10 bytes elided]\n"], ["stdout", "zzzzz"]],
        exitCode: 0,
      };
    });
    assertEquals(await koitab(["run", "Say", "--arg", "Who=x"]), {
      code: 1,
      stdout: "",
      stderr:
        "koitab: koid on web1 refused the run: the request was signed at 2026-01-01T00:00:00.000Z, more than 5 minutes from now\n",
    });
    mode = "kill";
    assertEquals(await koitab(["run", "Admin/Say", "--arg", "Who=x"]), {
      code: 143,
      stdout: "bye\n",
      stderr: "",
    });
    mode = "elided";
    assertEquals(await koitab(["run", "Say", "--arg", "Who=x"]), {
      code: 0,
      stdout: "aaaaaaaaaazzzzz",
      stderr: "\n[koi: 10 bytes elided]\n",
    });
    // No koid: nobody takes the run.
    await stop();
    const slow = await koitab(["run", "Say", "--arg", "Who=x", "--timeout", "1"]);
    assertEquals(slow.code, 1);
    assert(
      slow.stderr.startsWith(
        "koitab: koid on web1 did not take the run within 1 s: is it running and linked to this dashboard?",
      ),
      slow.stderr,
    );
    const wrongType = await koitab(["run", "Say", "--arg", "Who=x", "--arg", "N=five"]);
    assertEquals([wrongType.code, wrongType.stderr.split("\n")[0]], [
      2,
      'koitab: argument "N" must be a whole number, got "five"',
    ]);
    // The one verdict of tests/_arg_cases.ts: a "+" is no part of a whole number here either.
    const plus = await koitab(["run", "Say", "--arg", "Who=x", "--arg", "N=+5"]);
    assertEquals([plus.code, plus.stderr.split("\n")[0]], [
      2,
      'koitab: argument "N" must be a whole number, got "+5"',
    ]);
    const missing = await koitab(["run", "Say"]);
    assertEquals(
      missing.stderr.split("\n")[0],
      'koitab: argument "Who" has no default: give it with --arg "Who=VALUE"',
    );
    const scheduled = await koitab(["run", "Nightly"]);
    assertEquals(
      scheduled.stderr,
      'koitab: "Nightly" is not an @manual job: only @manual jobs run from the dashboard\n',
    );
    assertEquals(
      (await koitab(["run", "say"])).stderr,
      'koitab: no @manual job "say" on the dashboard: did you mean "Admin/Say"?\n',
    );
    assertEquals(
      (await koitab(["run", "Backup"])).stderr,
      'koitab: no @manual job "Backup" on the dashboard (@manual jobs: "Admin/Say")\n',
    );
    await listJobs(id, "web2", jobs);
    const ambiguous = await koitab(["run", "Say", "--arg", "Who=x"]);
    assertEquals([ambiguous.code, ambiguous.stderr.split("\n")[0]], [
      2,
      'koitab: "Say" is on 2 hosts: say which with --host (web1, web2)',
    ]);
    const manuals = postedPayloads(dashboard).length;
    await koitab(["run", "Say", "--arg", "Who=x", "--host", "web2", "--timeout", "1"]);
    assertEquals(postedPayloads(dashboard).length, manuals + 1);
    assertEquals(postedPayloads(dashboard).at(-1)!.host, "web2");
  });
});

Deno.test("koitab -d run through a real koid: signed here, checked and run there, followed to its exit", async () => {
  await withSandbox(async ({ dir, paths, dashboard, koitab, link }) => {
    await link();
    await Deno.writeTextFile(paths.koitab, KOITAB);
    const koid = new Deno.Command(Deno.execPath(), {
      // Tests never mail: the machine's own sendmail must not get their output.
      args: ["run", ...flags.koid, new URL("koid.ts", root).pathname, "--mail-command", "off"],
      cwd: root.pathname,
      env: { KOI_DIR: dir, KOI_HOST: "web1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await dashboard.until(() => dashboard.jobPuts.length === 1, "koid's job list");
      const result = await koitab([
        "run",
        "Say",
        "--arg",
        "Who='; rm -rf ~ #",
        "--arg",
        "Code=4",
      ]);
      assertEquals(result, { code: 4, stdout: "'; rm -rf ~ # 2 false\n", stderr: "oops\n" });
    } finally {
      koid.kill("SIGTERM");
      assertEquals((await koid.status).code, 0);
    }
  });
});

/** Runs `koitab -d ARGS…` on a terminal, typing each answer at its prompt. */
function onTerminal(
  env: Record<string, string>,
  args: string[],
  answers: [prompt: string, typed: string][],
) {
  return runOnTerminal("koitab", ["-d", ...args], { env }, answers);
}

Deno.test("koitab -d new asks for the password twice on a terminal, without echo", async () => {
  await withSandbox(async ({ dir, paths, dashboard }) => {
    const args = ["new", "--server", dashboard.url];
    const first = "Dashboard password: ";
    const again = "The same password again: ";
    const result = await onTerminal({ KOI_DIR: dir }, args, [
      [first, `${PASSWORD}\r`],
      [again, `${PASSWORD}\r`],
    ]);
    if (result === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    assertEquals(result.code, 0, result.output);
    assertEquals(
      result.output,
      `${first}\n${again}\n${dashboard.url}/d/${
        JSON.parse(await Deno.readTextFile(paths.dashboard)).id
      }\n`,
    );
    const { id } = JSON.parse(await Deno.readTextFile(paths.dashboard));
    assertEquals(dashboard.received[0]!.body, {
      id,
      apiKey: (await deriveKeys(PASSWORD, id)).apiKey,
    });

    // Three failed tries (too weak, two that differ, too short): nothing is created.
    await Deno.remove(dir, { recursive: true });
    const differ = await onTerminal({ KOI_DIR: dir }, args, [
      [first, "password1234\r"],
      [first, `${PASSWORD}\r`],
      [again, `${PASSWORD}x\r`],
      [first, "Sh0rt!\r"],
    ]);
    assertEquals(differ, {
      code: 1,
      output: `${first}\n` +
        "koitab: the password is too common: it is one of the most used passwords; try another (2 tries left)\n" +
        `${first}\n${again}\n` +
        "koitab: the two passwords differ; try another (1 try left)\n" +
        `${first}\n` +
        "koitab: the password is too short: 6 characters, at least 12 needed\n" +
        "koitab: no password chosen in 3 tries: nothing was done\n",
    });
    assertEquals(await filesIn(dir), []);
    assertEquals(dashboard.received.length, 1, "only the first dashboard was ever created");
  });
});

Deno.test("koitab -d new judges a new password as soon as it is typed, and asks again", async () => {
  await withSandbox(async ({ dir, paths, dashboard }) => {
    const first = "Dashboard password: ";
    const again = "The same password again: ";
    const phrase = "orbit velvet cactus lantern mosaic";
    const result = await onTerminal({ KOI_DIR: dir }, ["new", "--server", dashboard.url], [
      [first, "correct horse battery staple zebra\r"],
      [first, `${phrase}\r`],
      [again, `${phrase}\r`],
    ]);
    if (result === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    const { id } = JSON.parse(await Deno.readTextFile(paths.dashboard));
    assertEquals(result, {
      code: 0,
      output: `${first}\n` +
        'koitab: the password is too easy to guess: it is built on "correct horse battery staple", a famous phrase, so it is worth about 28 bits, at least 60 needed (choose words of your own); try another (2 tries left)\n' +
        `${first}\n${again}\n${dashboard.url}/d/${id}\n`,
    });
    assertEquals(dashboard.received[0]!.body, {
      id,
      apiKey: (await deriveKeys(phrase, id)).apiKey,
    });
  });
});

Deno.test("koitab -d run: a run cancelled on the dashboard before its host took it says so", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "koi_cancel_" });
  const paths = koiPaths(`${tmp}/koi`);
  const kv = await Deno.openKv(":memory:");
  const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
  try {
    const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
    const keys = { id: newDashboardId(), apiKey: key(), runKey: key(), dataKey: key() };
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}/api${path}`, {
        method,
        headers: { authorization: `Bearer ${keys.apiKey}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    await (await api("POST", "/dashboards", { id: keys.id, apiKey: keys.apiKey })).body?.cancel();
    await writeDashboardConfig(paths, { ...keys, server: server.url });
    const plain = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
    const jobs = await new ReportSealer(keys.id, "web1", keys.dataKey).jobs(plain);
    await (await api("PUT", `/d/${keys.id}/hosts/web1/jobs`, { jobs })).body?.cancel();
    const running = runEntry("koitab", ["-d", "run", "Say", "--arg", "Who=x", "--timeout", "60"], {
      env: { KOI_DIR: paths.dir, KOI_PASSWORD: "" },
    });
    const tag = jobs[0]!.tag;
    let manualId: string | undefined;
    const deadline = Date.now() + 20_000;
    while (manualId === undefined && Date.now() < deadline) {
      const listed = await (await api("GET", `/d/${keys.id}/manual?host=web1&tag=${tag}`)).json();
      manualId = listed.manual[0]?.id;
      if (manualId === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert(manualId !== undefined, "koitab queued no run");
    assertEquals((await api("DELETE", `/d/${keys.id}/manual/${manualId}`)).status, 200);
    assertEquals(await running, {
      code: 1,
      stdout: "",
      stderr: "koitab: the run was cancelled on the dashboard before web1 took it\n",
    });
  } finally {
    await server.shutdown();
    kv.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("koitab -d run: chunks a server swapped show as undecryptable, in their place", async () => {
  await withSandbox(async ({ dashboard, koitab, link, listJobs }) => {
    const keys = await link();
    await listJobs(keys.id, "web1", dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()));
    const stop = playKoid(dashboard, keys, () => ({
      final: [["stdout", "zero "], ["stdout", "first\n"], ["stdout", "second\n"], [
        "stdout",
        "third\n",
      ]],
      exitCode: 0,
    }));
    // The server hands out the run's chunks with the second and third swapped.
    dashboard.misbehave = async (request, url) => {
      if (request.method !== "GET" || !/\/runs\/[^/]+$/.test(url.pathname)) return null;
      const answer = await fetch(`${dashboard.server.url}${url.pathname}${url.search}`, {
        headers: { authorization: request.headers.get("authorization")! },
      });
      const body = await answer.json() as { output: { text: string }[] };
      if (body.output.length === 4) {
        const [, a, b] = body.output;
        [a!.text, b!.text] = [b!.text, a!.text];
      }
      return Response.json(body, { status: answer.status });
    };
    const result = await koitab(["run", "Say", "--arg", "Who=x"]);
    await stop();
    assertEquals(result, {
      code: 0,
      // Each on a line of its own, not run into the output around it.
      stdout: `zero \n[${UNDECRYPTABLE_TEXT}]\n[${UNDECRYPTABLE_TEXT}]\nthird\n`,
      stderr: "",
    });
  });
});
