/**
 * `koitab -d` as a user meets it: each case runs `koitab.ts` in a subprocess with
 * exactly the permissions of `deno task koitab`, against a temporary KOI_DIR and
 * a fake dashboard server on 127.0.0.1.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { type EntryResult, runEntry, runOnTerminal } from "./_entry.ts";
import { FakeDashboard, type QueuedManual } from "./_fake_dashboard.ts";
import { writeDashboardConfig } from "../lib/link/config.ts";
import { writeJobListRefusal } from "../lib/link/link_state.ts";
import { startServer } from "../lib/server/server.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import { base64url, deriveKeys, newDashboardId } from "../lib/protocol/keys.ts";
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

interface Sandbox {
  readonly dir: string;
  readonly paths: KoiPaths;
  readonly fake: FakeDashboard;
  /** Runs `koitab -d ARGS…` with KOI_DIR and the given environment. */
  koitab(args: string[], env?: Record<string, string>): Promise<EntryResult>;
  /** Links KOI_DIR to a dashboard on the fake with random keys (no password). */
  link(): Promise<{ id: string; apiKey: string; runKey: string }>;
}

async function withSandbox(fn: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "koi_dash_" });
  const dir = `${tmp}/koi`;
  const paths = koiPaths(dir);
  const fake = new FakeDashboard().start();
  try {
    await fn({
      dir,
      paths,
      fake,
      koitab: (args, env = {}) =>
        runEntry("koitab", ["-d", ...args], {
          env: { KOI_DIR: dir, KOI_PASSWORD: "", ...env },
        }),
      async link() {
        const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
        const keys = { id: newDashboardId(), apiKey: key(), runKey: key() };
        fake.dashboards.set(keys.id, keys.apiKey);
        await writeDashboardConfig(paths, { ...keys, server: fake.url });
        return keys;
      },
    });
  } finally {
    await fake.stop();
    await Deno.remove(tmp, { recursive: true });
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
  await withSandbox(async ({ dir, paths, fake, koitab }) => {
    const result = await koitab(["new", "--server", `${fake.url}/`], { KOI_PASSWORD: PASSWORD });
    assertEquals([result.code, result.stderr], [0, ""]);
    const match = new RegExp(`^${fake.url}/d/([A-Za-z0-9_-]{22})\\n$`).exec(result.stdout);
    assert(match, result.stdout);
    const id = match[1]!;
    const keys = await deriveKeys(PASSWORD, id);
    assertEquals(fake.received.map((r) => [r.method, r.path]), [["POST", "/api/dashboards"]]);
    assertEquals(fake.received[0]!.body, { id, apiKey: keys.apiKey });
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "runkey"]);
    assertEquals(mode(dir), 0o700);
    for (const path of [paths.dashboard, paths.apiKey, paths.runKey]) {
      assertEquals(mode(path), 0o600);
    }
    assertEquals(JSON.parse(await Deno.readTextFile(paths.dashboard)), { id, server: fake.url });
    assertEquals(await Deno.readTextFile(paths.apiKey), `${keys.apiKey}\n`);
    assertEquals(await Deno.readTextFile(paths.runKey), `${keys.runKey}\n`);
    for (const name of await filesIn(dir)) {
      assert(!(await Deno.readTextFile(`${dir}/${name}`)).includes(PASSWORD), name);
    }
    assert(!JSON.stringify(fake.received).includes(PASSWORD), "the password is never sent");
    assert(!JSON.stringify(fake.received).includes(keys.runKey), "the run key is never sent");

    const again = await koitab(["new", "--server", fake.url], { KOI_PASSWORD: PASSWORD });
    assertEquals(again.code, 1);
    assert(again.stderr.includes(`is linked to dashboard ${id} already`), again.stderr);
  });
});

Deno.test("koitab -d new refuses a weak password, and no password at all, doing nothing", async () => {
  await withSandbox(async ({ dir, fake, koitab }) => {
    const weak = await koitab(["new", "--server", fake.url], { KOI_PASSWORD: "password1234" });
    assertEquals(weak, {
      code: 1,
      stdout: "",
      stderr: "koitab: the password is too common: it is one of the most used passwords\n",
    });
    const short = await koitab(["new", "--server", fake.url], { KOI_PASSWORD: "Sh0rt!" });
    assertEquals(
      short.stderr,
      "koitab: the password is too short: 6 characters, at least 12 needed\n",
    );
    const none = await koitab(["new", "--server", fake.url]);
    assertEquals(none, {
      code: 1,
      stdout: "",
      stderr: "koitab: no password: set KOI_PASSWORD, run this on a terminal, or add --generate\n",
    });
    assertEquals(await filesIn(dir), []);
    assertEquals(fake.received, []);
    const server = await koitab(["new", "--server", "ftp://example.com"], {
      KOI_PASSWORD: PASSWORD,
    });
    assertEquals(server.code, 2);
    assert(server.stderr.includes("it must start with http:// or https://"), server.stderr);
  });
});

Deno.test("koitab -d new --generate makes a strong password, shows it once, and uses it", async () => {
  await withSandbox(async ({ paths, fake, koitab }) => {
    const result = await koitab(["new", "--server", fake.url, "--generate"]);
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
  await withSandbox(async ({ fake, koitab, link }) => {
    assertEquals(await koitab([]), {
      code: 1,
      stdout: "",
      stderr:
        'koitab: this machine has no dashboard: create one with "koitab -d new" or join one with "koitab -d join URL"\n',
    });
    const { id } = await link();
    const jobs = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
    fake.jobPuts.push({ host: "web1", jobs });
    const head = `dashboard  ${id}\nserver     ${fake.url}\nurl        ${fake.url}/d/${id}\n`;
    assertEquals(await koitab([]), {
      code: 0,
      stdout: `${head}status     ok, hosts: web1 (2 jobs, last seen 2023-11-14T22:13:20.000Z)\n`,
      stderr: "",
    });
    fake.dashboards.set(id, "another key");
    assertEquals(await koitab([]), {
      code: 1,
      stdout: `${head}status     wrong password/API key (or the dashboard was deleted)\n`,
      stderr: "",
    });
    await fake.stop();
    const down = await koitab([]);
    assertEquals(down.code, 1);
    assert(
      down.stdout.startsWith(`${head}status     unreachable: cannot reach ${fake.url}: `),
      down.stdout,
    );
    fake.start();
  });
});

Deno.test("koitab -d says a host's job list is out of date, and why: koid's record, then the server's", async () => {
  await withSandbox(async ({ fake, koitab, link, paths }) => {
    const { id } = await link();
    fake.jobPuts.push({
      host: "web1",
      jobs: dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date()),
    });
    const head = `dashboard  ${id}\nserver     ${fake.url}\nurl        ${fake.url}/d/${id}\n`;
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
    assertEquals((await koitab([])).stdout, `${head}status     ok, hosts: ${hosts}\n`);
    // What koid recorded holds whatever the server says (an older one says nothing).
    await writeJobListRefusal(paths, { dashboard: id, host: "web1", at, reason });
    const local =
      `status     the host's job list is out of date (web1, this machine): the server refused it at 2026-03-01T12:00:00.000Z: ${reason}\n`;
    assertEquals(await koitab([]), {
      code: 1,
      stdout: `${head}${local}hosts      ${hosts}\n`,
      stderr: "",
    });
    // The server's own record covers the other hosts.
    fake.refusedJobLists.set("db1", {
      at: at + 1000,
      reason: "The body is larger than 13508608 bytes",
    });
    fake.refusedJobLists.set("web1", { at, reason: "the same, from the server" });
    assertEquals(await koitab([]), {
      code: 1,
      stdout: head + local +
        "status     the host's job list is out of date (db1): the server refused it at 2026-03-01T12:00:01.000Z: The body is larger than 13508608 bytes\n" +
        `hosts      ${hosts}, db1 (0 jobs, last seen 2023-11-14T22:13:20.000Z)\n`,
      stderr: "",
    });
    // Unreachable, koid's record still says so.
    await fake.stop();
    const down = await koitab([]);
    assertEquals(down.code, 1);
    assert(
      down.stdout.startsWith(`${head}${local}status     unreachable: cannot reach ${fake.url}: `),
      down.stdout,
    );
    fake.start();
  });
});

Deno.test("koitab -d join checks the password with the server before saving anything", async () => {
  await withSandbox(async ({ dir, paths, fake, koitab }) => {
    fake.dashboards.set(JOINABLE, JOINABLE_KEYS.apiKey);
    const url = `${fake.url}/d/${JOINABLE}`;
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
    const bad = await koitab(["join", `${fake.url}/x/${JOINABLE}`], { KOI_PASSWORD: PASSWORD });
    assertEquals(bad.code, 2);
  });
});

Deno.test("koitab -d delete deletes on the server, then here; --local forgets a dashboard it cannot reach", async () => {
  await withSandbox(async ({ dir, fake, koitab, link }) => {
    const { id } = await link();
    assertEquals(await koitab(["delete", "--yes"]), {
      code: 0,
      stdout: `deleted dashboard ${id}\n`,
      stderr: "",
    });
    assertEquals(fake.dashboards.has(id), false);
    assertEquals(await filesIn(dir), []);
    const second = await link();
    await fake.stop();
    const down = await koitab(["delete", "--yes"]);
    assertEquals(down.code, 1);
    assert(
      down.stderr.includes(`cannot delete dashboard ${second.id} on ${fake.url}`),
      down.stderr,
    );
    assert(down.stderr.includes("nothing was removed"), down.stderr);
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "runkey"]);
    const local = await koitab(["delete", "--local", "--yes"]);
    assertEquals(local.code, 0, local.stderr);
    assert(local.stderr.includes("removed this machine's link only"), local.stderr);
    assertEquals(await filesIn(dir), []);
    fake.start();
    assertEquals((await koitab(["delete", "--yes"])).code, 1, "nothing to delete");
  });
});

Deno.test("koitab -d delete asks on a terminal, naming the linked hosts, and needs --yes without one", async () => {
  await withSandbox(async ({ dir, fake, koitab, link }) => {
    const { id } = await link();
    const jobs = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
    fake.jobPuts.push({ host: "web1", jobs });
    const script = await koitab(["delete"]);
    assertEquals(script, {
      code: 2,
      stdout: "",
      stderr:
        `koitab: deleting dashboard ${id} deletes it for every machine linked to it: add --yes to do it without a terminal to ask on\nkoitab: see "koitab --help"\n`,
    });
    const prompt =
      `koitab: delete dashboard ${id} at ${fake.url}, with the jobs and runs of 1 host linked to it (web1)? This cannot be undone. (y/n) `;
    const no = await onTerminal({ KOI_DIR: dir }, ["delete"], [[prompt, "n\r"]]);
    if (no === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    assertEquals(no, { code: 0, output: `${prompt}n\nkoitab: nothing was deleted\n` });
    assertEquals(fake.dashboards.has(id), true);
    assertEquals(await filesIn(dir), ["apikey", "dashboard.json", "runkey"]);
    const yes = await onTerminal({ KOI_DIR: dir }, ["delete"], [[prompt, "y\r"]]);
    assertEquals(yes, { code: 0, output: `${prompt}y\ndeleted dashboard ${id}\n` });
    assertEquals(fake.dashboards.has(id), false);
    assertEquals(await filesIn(dir), []);
  });
});

/**
 * Plays koid for manual runs posted to the fake: starts the run, streams some
 * chunks, then ends it with its final chunks, which replace the streamed ones,
 * numbered from 0, as the server does.
 */
function playKoid(
  fake: FakeDashboard,
  script: (manual: QueuedManual) => {
    refuse?: string;
    streamed?: [string, string][];
    final?: [string, string][];
    exitCode?: number;
    signal?: string;
  },
): void {
  let runs = 0;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  fake.onManual = (manual) => {
    const plan = script(manual);
    (async () => {
      await pause(200);
      if (plan.refuse) {
        manual.state = "refused";
        manual.reason = plan.refuse;
        return;
      }
      const runId = `run${++runs}`;
      const run = {
        run: { id: runId, status: "running", exitCode: null, signal: null, error: null } as Record<
          string,
          unknown
        >,
        output: [] as { seq: number; stream: string; text: string }[],
      };
      fake.runs.set(runId, run);
      manual.state = "started";
      manual.runId = runId;
      // Each streamed chunk, then the end, once the follower has asked after the one before.
      const followed = async () => {
        const asked = fake.count(`/runs/${runId}`);
        await fake.until(() => fake.count(`/runs/${runId}`) > asked, "the follower", 5000);
      };
      for (const [seq, [stream, text]] of (plan.streamed ?? []).entries()) {
        run.output.push({ seq, stream, text });
        await followed();
      }
      run.output = (plan.final ?? plan.streamed ?? []).map(([stream, text], seq) => ({
        seq,
        stream,
        text,
      }));
      run.run = {
        ...run.run,
        status: plan.signal ? "killed" : plan.exitCode ? "failed" : "succeeded",
        exitCode: plan.signal ? null : plan.exitCode ?? 0,
        signal: plan.signal ?? null,
      };
    })();
  };
}

Deno.test("koitab -d run signs the request exactly, follows the output and exits with the job's status", async () => {
  await withSandbox(async ({ paths, fake, koitab, link }) => {
    const keys = await link();
    const { jobs } = parseKoitab(KOITAB);
    fake.jobPuts.push({ host: "web1", jobs: dashboardJobs(jobs, "UTC", new Date()) });
    fake.runKey = (await Deno.readTextFile(paths.runKey)).trim();
    const seen: unknown[] = [];
    playKoid(fake, (manual) => {
      seen.push(JSON.parse(manual.payload as string));
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
    assertEquals(result, { code: 3, stdout: "o'brien 5 true\ndone\n", stderr: "oops\n" });
    const manual = [...fake.manuals.values()][0]!;
    assertEquals(manual.verified, true, "the HMAC verifies under $KOI_DIR/runkey");
    const payload = seen[0] as Record<string, unknown>;
    assertEquals(Object.keys(payload), ["v", "dashboard", "host", "tag", "ts", "args"]);
    assertEquals({ ...payload, ts: 0 }, {
      v: 1,
      dashboard: keys.id,
      host: "web1",
      tag: jobs[0]!.tag,
      ts: 0,
      args: { Who: "o'brien", N: 5, Loud: true, Code: 3 },
    });
    assert((payload.ts as number) >= before && (payload.ts as number) <= Date.now());
    assertEquals(fake.count("/manual", "POST"), 1);
  });
});

Deno.test("koitab -d run: koid's refusal, a kill, a timeout, several hosts and bad arguments", async () => {
  await withSandbox(async ({ fake, koitab, link }) => {
    await link();
    const jobs = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
    fake.jobPuts.push({ host: "web1", jobs });
    let mode: "refuse" | "kill" | "elided" | "silent" = "refuse";
    playKoid(fake, () => {
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
    mode = "silent";
    fake.onManual = null;
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
    fake.jobPuts.push({ host: "web2", jobs });
    const ambiguous = await koitab(["run", "Say", "--arg", "Who=x"]);
    assertEquals([ambiguous.code, ambiguous.stderr.split("\n")[0]], [
      2,
      'koitab: "Say" is on 2 hosts: say which with --host (web1, web2)',
    ]);
    const manuals = fake.manuals.size;
    await koitab(["run", "Say", "--arg", "Who=x", "--host", "web2", "--timeout", "1"]);
    assertEquals(fake.manuals.size, manuals + 1);
    const last = [...fake.manuals.values()].at(-1)!;
    assertEquals(JSON.parse(last.payload as string).host, "web2");
  });
});

Deno.test("koitab -d run through a real koid: signed here, checked and run there, followed to its exit", async () => {
  await withSandbox(async ({ dir, paths, fake, koitab, link }) => {
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
      await fake.until(() => fake.jobPuts.length === 1, "koid's job list");
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
  await withSandbox(async ({ dir, paths, fake }) => {
    const args = ["new", "--server", fake.url];
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
      `${first}\n${again}\n${fake.url}/d/${
        JSON.parse(await Deno.readTextFile(paths.dashboard)).id
      }\n`,
    );
    const { id } = JSON.parse(await Deno.readTextFile(paths.dashboard));
    assertEquals(fake.received[0]!.body, { id, apiKey: (await deriveKeys(PASSWORD, id)).apiKey });

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
    assertEquals(fake.received.length, 1, "only the first dashboard was ever created");
  });
});

Deno.test("koitab -d new judges a new password as soon as it is typed, and asks again", async () => {
  await withSandbox(async ({ dir, paths, fake }) => {
    const first = "Dashboard password: ";
    const again = "The same password again: ";
    const phrase = "orbit velvet cactus lantern mosaic";
    const result = await onTerminal({ KOI_DIR: dir }, ["new", "--server", fake.url], [
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
        `${first}\n${again}\n${fake.url}/d/${id}\n`,
    });
    assertEquals(fake.received[0]!.body, { id, apiKey: (await deriveKeys(phrase, id)).apiKey });
  });
});

Deno.test("koitab -d run: a run cancelled on the dashboard before its host took it says so", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "koi_cancel_" });
  const paths = koiPaths(`${tmp}/koi`);
  const kv = await Deno.openKv(":memory:");
  const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
  try {
    const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
    const keys = { id: newDashboardId(), apiKey: key(), runKey: key() };
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}/api${path}`, {
        method,
        headers: { authorization: `Bearer ${keys.apiKey}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    await (await api("POST", "/dashboards", { id: keys.id, apiKey: keys.apiKey })).body?.cancel();
    await writeDashboardConfig(paths, { ...keys, server: server.url });
    const jobs = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date());
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
