import { assert, assertEquals } from "./_assert.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { parsePasswd } from "../lib/users.ts";
import { CRON_PATH, CRON_SHELL } from "../lib/runs/environment.ts";
import { History, type RunRecord } from "../lib/runs/history.ts";
import type { MailSettings } from "../lib/runs/mail.ts";
import type { OutputChunk } from "../lib/output_cap.ts";
import { chooseRunUser, type RunUser } from "../lib/runs/run_user.ts";
import { type RunEvent, Runner, type RunRequest } from "../lib/daemon/runner.ts";

const accounts = parsePasswd(await Deno.readTextFile("/etc/passwd"));
const me: RunUser = chooseRunUser(null, accounts, Deno.uid()!).user;
const isRoot = Deno.uid() === 0;

interface Setup {
  readonly dir: string;
  readonly history: History;
  readonly runner: Runner;
  readonly events: RunEvent[];
  readonly logs: string[];
  /** Starts the koitab's jobs (all of them, in order) and returns their run ids. */
  start(koitab: string, trigger?: RunRequest["trigger"]): string[];
  /** Starts the koitab's jobs, waits for every run to end, and returns the records. */
  run(koitab: string): Promise<RunRecord[]>;
  /** Resolves with the first event (already seen or to come) that matches, or fails after 20 s. */
  waitFor(match: (event: RunEvent) => boolean, what: string): Promise<RunEvent>;
}

interface SetupOptions {
  user?: RunUser;
  setpriv?: string | null;
  setsid?: string | null;
  daemonEnv?: Record<string, string>;
  outputLimit?: number;
  events?: boolean;
  /** Whether runs starting now have live output events (the runner's `liveOutput`). */
  liveOutput?: () => boolean;
  /** How output is mailed; by default not at all. */
  mail?: MailSettings;
}

/** A runner over a History in a temporary directory, torn down (every run stopped) after `fn`. */
async function withRunner(
  options: SetupOptions,
  fn: (setup: Setup) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_runner_" });
  const history = new History(`${dir}/history.db`);
  const events: RunEvent[] = [];
  const logs: string[] = [];
  const waiters: { match: (event: RunEvent) => boolean; resolve: (event: RunEvent) => void }[] = [];
  const runner = new Runner({
    history,
    user: options.user ?? me,
    daemonEnv: options.daemonEnv ?? {},
    setpriv: options.setpriv ?? null,
    setsid: options.setsid ?? null,
    log: (line) => logs.push(line),
    now: () => Date.now(),
    outputLimit: options.outputLimit ?? 1024 * 1024,
    mail: options.mail ?? { command: { kind: "off" }, hostname: "test" },
    ...(options.liveOutput ? { liveOutput: options.liveOutput } : {}),
    ...(options.events === false ? {} : {
      onEvent: (event: RunEvent) => {
        events.push(event);
        for (const waiter of [...waiters]) {
          if (waiter.match(event)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(event);
          }
        }
      },
    }),
  });
  const start = (koitab: string, trigger: RunRequest["trigger"] = "manual") => {
    const { jobs, errors } = parseKoitab(koitab);
    assertEquals(errors, [], "koitab errors");
    return runner.startAll(jobs.map((job) => ({ job, trigger, values: {}, scheduledFor: null })));
  };
  const setup: Setup = {
    dir,
    history,
    runner,
    events,
    logs,
    start,
    async run(koitab) {
      const ids = start(koitab);
      await runner.stop(60_000);
      assertEquals(runner.active, 0);
      return ids.map((id) => history.get(id)!);
    },
    waitFor(match, what) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      let timer: ReturnType<typeof setTimeout> | undefined;
      return Promise.race([
        new Promise<RunEvent>((resolve) => waiters.push({ match, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
  try {
    await fn(setup);
  } finally {
    await runner.stop(0);
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The text of a run's output events, stream by stream. */
function eventText(events: readonly RunEvent[], id: string, stream: OutputChunk["stream"]): string {
  let text = "";
  for (const e of events) {
    if (e.type === "output" && e.id === id && e.chunk.stream === stream) text += e.chunk.text;
  }
  return text;
}

/** Whether a process is gone (or a zombie nobody has reaped yet: it runs no more). */
async function processGone(pid: number): Promise<boolean> {
  // Deno allows /proc/PID only with --allow-all, so ask ps.
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const state = new TextDecoder().decode(stdout).trim();
  return state === "" || state.startsWith("Z");
}

async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Variables a shell may set by itself, on top of the environment it was given. */
const SHELL_OWN = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

function parseEnv(output: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of output.split("\n")) {
    if (line === "") continue;
    const equals = line.indexOf("=");
    env[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return env;
}

Deno.test("a job's environment is exactly cron's: the koitab's variables, cron's defaults, the user, the daemon's locale", async () => {
  await withRunner({
    daemonEnv: {
      LANG: "C.UTF-8",
      LC_TIME: "en_GB.UTF-8",
      LC_ALL: "C.UTF-8",
      PATH: "/daemon/bin",
      HOME: "/daemon/home",
      SHELL: "/bin/bash",
      SECRET: "must not leak",
      KOI_DIR: "/var/lib/koi",
      TZ: "Asia/Tokyo",
      USER: "daemon",
    },
  }, async ({ dir, run }) => {
    const [defaults, overridden] = await run(`HOME=${dir}
FOO = bar baz
QUOTED = 'a "b"  c'
"defaults" @reboot env | LC_ALL=C sort
LANG=fr_FR.UTF-8
PATH=/opt/bin:/usr/bin:/bin
SHELL=/bin/bash
USER=mallory
LOGNAME=mallory
"overridden" @reboot env | LC_ALL=C sort
LATER=after every job
`);
    assertEquals(defaults!.status, "succeeded", defaults!.output);
    const env = parseEnv(defaults!.output);
    if (env.PWD !== undefined) assertEquals(env.PWD, dir);
    for (const name of SHELL_OWN) delete env[name];
    assertEquals(env, {
      FOO: "bar baz",
      HOME: dir,
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      LC_TIME: "en_GB.UTF-8",
      LOGNAME: me.name,
      PATH: CRON_PATH,
      QUOTED: 'a "b"  c',
      SHELL: CRON_SHELL,
      USER: me.name,
    });
    assertEquals(CRON_PATH, "/usr/bin:/bin:/usr/sbin:/sbin");
    assertEquals(CRON_SHELL, "/bin/sh");

    assertEquals(overridden!.status, "succeeded", overridden!.output);
    const env2 = parseEnv(overridden!.output);
    for (const name of SHELL_OWN) delete env2[name];
    assertEquals(env2, {
      FOO: "bar baz",
      HOME: dir,
      LANG: "fr_FR.UTF-8",
      LC_ALL: "C.UTF-8",
      LC_TIME: "en_GB.UTF-8",
      LOGNAME: me.name,
      PATH: "/opt/bin:/usr/bin:/bin",
      QUOTED: 'a "b"  c',
      SHELL: "/bin/bash",
      USER: me.name,
    });
  });
});

Deno.test("a job runs under $SHELL -c in $HOME, with the % text on stdin", async () => {
  await withRunner({}, async ({ dir, run }) => {
    await Deno.mkdir(`${dir}/home`);
    const [home, pwd, stdin, noStdin, ignored, shell] = await run(`"home" @reboot echo "$HOME"; pwd
HOME=${dir}/home
"pwd" @reboot pwd; /bin/pwd; ls -a
"stdin" @reboot cat %a%b
"no stdin" @reboot cat; echo "[$(cat)]"
"ignored" @reboot true %${"x".repeat(200_000)}
SHELL=/bin/bash
"shell" @reboot echo "$BASH_VERSION" | grep -c .; echo $0
`);
    // Without HOME in the koitab, the user's home from the password file.
    assertEquals(home!.output, `${me.home}\n${me.home}\n`);
    assertEquals(pwd!.output, `${dir}/home\n${dir}/home\n.\n..\n`);
    assertEquals(stdin!.output, "a\nb\n");
    assertEquals(noStdin!.output, "[]\n");
    // A job that never reads its stdin is not held up, and nothing throws.
    assertEquals([ignored!.status, ignored!.output], ["succeeded", ""]);
    assertEquals(shell!.output, "1\n/bin/bash\n");
  });
});

Deno.test("exit codes and signals become succeeded, failed and killed", async () => {
  await withRunner({}, async ({ dir, run, logs }) => {
    const [ok, three, term, kill, late] = await run(`HOME=${dir}
"ok" @reboot exit 0
"three" @reboot exit 3
"term" @reboot kill -TERM $$
"kill" @reboot echo before; kill -KILL $$; echo after
"late" @reboot sleep 0.2; exit 255
`);
    const outcome = (run: RunRecord) => [run.status, run.exitCode, run.signal, run.error];
    assertEquals(outcome(ok!), ["succeeded", 0, null, null]);
    assertEquals(outcome(three!), ["failed", 3, null, null]);
    assertEquals(outcome(term!), ["killed", null, "SIGTERM", null]);
    assertEquals(outcome(kill!), ["killed", null, "SIGKILL", null]);
    assertEquals(kill!.output, "before\n");
    assertEquals(outcome(late!), ["failed", 255, null, null]);
    for (const run of [ok!, three!, term!, kill!, late!]) {
      assertEquals(run.trigger, "manual");
      assert(run.finishedAt !== null && run.durationMs !== null && run.durationMs >= 0);
      assert(Date.parse(run.finishedAt) >= Date.parse(run.startedAt));
    }
    assert(late!.durationMs! >= 200, `duration ${late!.durationMs}`);
    // One log line per start and per end.
    for (
      const [name, id, outcome] of [
        ["ok", ok!.id, "exit 0"],
        ["three", three!.id, "exit 3"],
        ["term", term!.id, "killed by SIGTERM"],
        ["kill", kill!.id, "killed by SIGKILL"],
        ["late", late!.id, "exit 255"],
      ]
    ) {
      const mine = logs.filter((line) => line.includes(id!));
      assertEquals(mine.length, 2, mine.join("\n"));
      assert(
        new RegExp(`^"${name}" started \\(run ${id}, manual, pid [0-9]+\\)$`).test(mine[0]!),
        mine[0],
      );
      assert(
        new RegExp(`^"${name}" ended \\(run ${id}\\): ${outcome} after [0-9]+\\.[0-9]s$`).test(
          mine[1]!,
        ),
        mine[1],
      );
    }
  });
});

Deno.test("stdout and stderr arrive as chunks marked by stream, in events and in the history", async () => {
  await withRunner({}, async ({ dir, start, runner, events, history }) => {
    const [ordered, mixed] = start(
      `HOME=${dir}
"ordered" @reboot printf 'out1\\n'; sleep 0.3; printf 'err1\\n' >&2; sleep 0.3; printf 'out2\\n'
"mixed" @reboot for i in 1 2 3 4 5; do echo "o$i"; echo "e$i" >&2; done
`,
      "schedule",
    );
    await runner.stop(30_000);
    const record = history.get(ordered!)!;
    assertEquals(record.chunks, [
      { stream: "stdout", text: "out1\n" },
      { stream: "stderr", text: "err1\n" },
      { stream: "stdout", text: "out2\n" },
    ]);
    assertEquals(record.output, "out1\nerr1\nout2\n");
    assertEquals(record.outputBytes, 15);
    assertEquals(record.trigger, "schedule");
    const mine = events.filter((e) => (e.type === "start" ? e.run.id : e.id) === ordered);
    assertEquals(
      mine.map((e) => e.type === "output" ? `${e.chunk.stream}:${e.chunk.text}` : e.type),
      ["start", "stdout:out1\n", "stderr:err1\n", "stdout:out2\n", "end"],
    );
    const first = mine[0]!;
    assert(first.type === "start");
    assertEquals([first.run.name, first.run.trigger, first.run.tag], [
      "ordered",
      "schedule",
      parseKoitab(`"ordered" @reboot x`).jobs[0]!.tag,
    ]);
    const last = mine.at(-1)!;
    assert(last.type === "end");
    assertEquals(last.end.status, "succeeded");
    assertEquals(last.end.chunks, record.chunks);

    const both = history.get(mixed!)!;
    const text = (stream: string) =>
      both.chunks.filter((c) => c.stream === stream).map((c) => c.text).join("");
    assertEquals(text("stdout"), "o1\no2\no3\no4\no5\n");
    assertEquals(text("stderr"), "e1\ne2\ne3\ne4\ne5\n");
    assertEquals(eventText(events, mixed!, "stdout"), "o1\no2\no3\no4\no5\n");
    assertEquals(eventText(events, mixed!, "stderr"), "e1\ne2\ne3\ne4\ne5\n");
    for (let i = 1; i < both.chunks.length; i++) {
      assert(both.chunks[i]!.stream !== both.chunks[i - 1]!.stream, "unmerged neighbours");
    }
  });
});

Deno.test("output events decode UTF-8 split across reads, and say what the history stores", async () => {
  await withRunner({}, async ({ dir, run, events }) => {
    const [split, truncated] = await run(`HOME=${dir}
"split" @reboot printf '\\303'; sleep 0.2; printf '\\251\\n'
"truncated" @reboot printf 'a\\303'
`);
    assertEquals(split!.output, "é\n");
    assertEquals(eventText(events, split!.id, "stdout"), "é\n");
    assertEquals(truncated!.output, "a\uFFFD");
    // The events' text must add up to the stored output: the last partial character is
    // flushed when the stream ends.
    assertEquals(eventText(events, truncated!.id, "stdout"), truncated!.output);
  });
});

Deno.test("a run started while liveOutput() says no has no output events, only its start and end, and all its output in the history", async () => {
  let live = false;
  await withRunner({ liveOutput: () => live }, async ({ dir, start, runner, events, history }) => {
    const job = `HOME=${dir}\n@reboot printf 'a'; sleep 0.3; printf 'b' >&2\n`;
    const [quiet] = start(job);
    live = true;
    const [heard] = start(job);
    await runner.stop(30_000);
    const of = (id: string) =>
      events.filter((e) => (e.type === "start" ? e.run.id : e.id) === id).map((e) =>
        e.type === "output" ? `${e.chunk.stream}:${e.chunk.text}` : e.type
      );
    assertEquals(of(quiet!), ["start", "end"]);
    assertEquals(of(heard!), ["start", "stdout:a", "stderr:b", "end"]);
    assertEquals(history.get(quiet!)!.chunks, [
      { stream: "stdout", text: "a" },
      { stream: "stderr", text: "b" },
    ]);
  });
});

Deno.test("100 MB of output is stored capped at the output limit, with the elision note and the true byte count", async () => {
  await withRunner({ outputLimit: 65_536, events: false }, async ({ dir, run }) => {
    const [huge] = await run(`HOME=${dir}
"huge" @reboot head -c 100000000 /dev/zero; echo end >&2
`);
    assertEquals(huge!.status, "succeeded");
    assertEquals(huge!.outputBytes, 100_000_004);
    assertEquals(huge!.chunks.map((c) => [c.stream, c.text.length]), [
      ["stdout", 32_768],
      ["koi", `\n[koi: ${100_000_004 - 65_536} bytes elided]\n`.length],
      ["stdout", 32_764],
      ["stderr", 4],
    ]);
    assertEquals(huge!.chunks[1]!.text, `\n[koi: 99934468 bytes elided]\n`);
    assertEquals(huge!.chunks[0]!.text, "\0".repeat(32_768));
    assertEquals(huge!.chunks[2]!.text, "\0".repeat(32_764));
    assertEquals(huge!.chunks[3]!.text, "end\n");
  });
});

for (const setsid of [null, "/usr/bin/setsid"]) {
  Deno.test(`stop() stops a job's whole process group, background children included (setsid: ${setsid})`, async () => {
    await withRunner({ setsid }, async ({ dir, start, runner, waitFor, history, logs }) => {
      const [id] = start(`HOME=${dir}
"group" @reboot sleep 300 & echo $!; sleep 300
`);
      const output = await waitFor((e) => e.type === "output" && e.id === id, "the child's pid");
      assert(output.type === "output");
      const child = Number(output.chunk.text.trim());
      assert(Number.isInteger(child) && child > 0, output.chunk.text);
      const shell = Number(/pid ([0-9]+)\)/.exec(logs.find((l) => l.includes("started"))!)![1]);
      assert(!await processGone(child) && !await processGone(shell), "the job is not running");
      assertEquals(runner.active, 1);
      const began = performance.now();
      await runner.stop(100);
      assert(performance.now() - began < 4000, "stop() waited for the SIGKILL");
      assertEquals(runner.active, 0);
      const record = history.get(id!)!;
      assertEquals([record.status, record.exitCode, record.signal], ["killed", null, "SIGTERM"]);
      assertEquals(record.output, `${child}\n`);
      await eventually(
        async () => await processGone(child) && await processGone(shell),
        `${shell} and ${child} are gone`,
      );
      assert(logs.includes("waiting up to 0.1s for 1 running job(s)"), logs.join("\n"));
      assert(
        logs.includes(`sending SIGTERM to run ${id} (process group ${shell})`),
        logs.join("\n"),
      );
    });
  });
}

Deno.test("stop() lets jobs finish within the grace, and sends SIGKILL 5 s after a SIGTERM they ignore", async () => {
  await withRunner({}, async ({ dir, start, runner, waitFor, history, logs }) => {
    const [quick, stubborn] = start(`HOME=${dir}
"quick" @reboot sleep 0.3; echo finished
"stubborn" @reboot trap '' TERM; echo ready; sleep 300
`);
    await waitFor((e) => e.type === "output" && e.id === stubborn, "the trap to be set");
    const began = performance.now();
    await runner.stop(1000);
    const took = performance.now() - began;
    assert(took >= 5900 && took < 15_000, `stop took ${took} ms`);
    const q = history.get(quick!)!;
    assertEquals([q.status, q.output], ["succeeded", "finished\n"]);
    const s = history.get(stubborn!)!;
    assertEquals([s.status, s.exitCode, s.signal, s.output], [
      "killed",
      null,
      "SIGKILL",
      "ready\n",
    ]);
    assert(logs.some((l) => l.startsWith(`sending SIGKILL to run ${stubborn} `)), logs.join("\n"));
    assert(!logs.some((l) => l.startsWith(`sending SIGTERM to run ${quick} `)), logs.join("\n"));
  });
});

Deno.test("stop() ends soon after the grace even when a process that left the job's group holds its output open", async () => {
  await withRunner({}, async ({ dir, start, runner, waitFor, history }) => {
    // A job that starts a daemon: the daemon leaves the job's session and group (setsid) but
    // keeps the job's stdout, as daemons started from cron often do.
    const [id] = start(`HOME=${dir}
"daemon" @reboot setsid sh -c 'echo $$; exec sleep 20' &
`);
    const output = await waitFor((e) => e.type === "output" && e.id === id, "the daemon's pid");
    assert(output.type === "output");
    const daemon = Number(output.chunk.text.trim());
    assert(Number.isInteger(daemon) && daemon > 0, output.chunk.text);
    const stopping = runner.stop(0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopped = await Promise.race([
      stopping.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 7000)),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      Deno.kill(daemon, "SIGKILL");
      await stopping;
    }
    try {
      Deno.kill(daemon, "SIGKILL");
    } catch {
      // Already gone.
    }
    assert(stopped, "stop() was still waiting 7 s after stop(0): it waits for the daemon's EOF");
    assert(history.get(id!)!.status !== "running", "the run is still recorded as running");
  });
});

Deno.test("a job that cannot start is recorded as not-started, with the reason", async () => {
  await withRunner({}, async ({ dir, start, runner, events, history, logs }) => {
    const ids = start(`HOME=${dir}
"fine" @reboot echo fine
SHELL=/nonexistent
"no shell" @reboot echo hi
SHELL=/bin/sh
HOME=${dir}/missing
"no home" @reboot echo hi
`);
    assertEquals(ids.length, 3);
    // Recorded at once, before startAll() returns.
    for (const [id, what] of [[ids[1]!, "/nonexistent"], [ids[2]!, `${dir}/missing`]] as const) {
      const record = history.get(id)!;
      assertEquals(
        [record.status, record.exitCode, record.signal, record.output, record.outputBytes],
        ["not-started", null, null, "", 0],
      );
      assert(record.finishedAt !== null, "no finishedAt");
      assert(
        record.error?.startsWith("Cannot start the job: ") && record.error.includes(what),
        record.error ?? "",
      );
      assert(
        logs.some((l) => l.includes(`did not start (run ${id}): ${record.error}`)),
        logs.join("\n"),
      );
      assertEquals(
        events.filter((e) => (e.type === "start" ? e.run.id : e.id) === id).map((e) => e.type),
        ["start", "end"],
      );
    }
    assertEquals(
      history.get(ids[1]!)!.error,
      `Cannot start the job: "/nonexistent" or the home directory "${dir}" does not exist`,
    );
    assertEquals(runner.active, 1);
    await runner.stop(30_000);
    assertEquals(history.get(ids[0]!)!.output, "fine\n");
  });
});

Deno.test("startAll() starts every request, records all starts, and returns the ids in order", async () => {
  await withRunner({}, async ({ dir, start, runner, history }) => {
    const koitab = Array.from({ length: 20 }, (_, i) => `"j${i}" @reboot echo ${i}`).join("\n");
    const ids = start(`HOME=${dir}\n${koitab}\n`);
    assertEquals(ids.length, 20);
    assertEquals(new Set(ids).size, 20);
    // Every start is in the history when startAll() returns.
    assertEquals(ids.map((id) => history.get(id) !== null), ids.map(() => true));
    await runner.stop(30_000);
    assertEquals(ids.map((id) => history.get(id)!.output), ids.map((_, i) => `${i}\n`));
    const given = runner.startAll([{
      job: parseKoitab(`HOME=${dir}\n"given" @reboot echo given\n`).jobs[0]!,
      trigger: "manual",
      values: {},
      scheduledFor: Date.parse("2026-01-01T00:00:00Z"),
      id: "my-run-id",
    }]);
    assertEquals(given, ["my-run-id"]);
    await runner.stop(30_000);
    const record = history.get("my-run-id")!;
    assertEquals([record.output, record.scheduledFor], ["given\n", "2026-01-01T00:00:00.000Z"]);
  });
});

Deno.test("argument values reach the command as literal words; a bad value means not-started", async () => {
  await withRunner({}, async ({ dir, runner, history }) => {
    const { jobs } = parseKoitab(`HOME=${dir}
"say" @manual printf '[\\%s]\\n' {{Text}} {{Count, int, 2}} {{Loud, bool}}
`);
    const job = jobs[0]!;
    const text = "$(touch pwned) 'quoted' `x` \\ %";
    const [good, bad] = runner.startAll([
      { job, trigger: "manual", values: { Text: text, Loud: true }, scheduledFor: null },
      { job, trigger: "manual", values: { Text: "a", Count: "many" }, scheduledFor: null },
    ]);
    await runner.stop(30_000);
    const ran = history.get(good!)!;
    assertEquals(ran.output, `[${text}]\n[2]\n[true]\n`);
    assertEquals(ran.args, { Text: text, Loud: true });
    let pwned = true;
    try {
      await Deno.stat(`${dir}/pwned`);
    } catch {
      pwned = false;
    }
    assertEquals(pwned, false);
    const refused = history.get(bad!)!;
    assertEquals([refused.status, refused.args], ["not-started", { Text: "a", Count: "many" }]);
    assert(refused.error?.includes('"Count"'), refused.error ?? "no error");
  });
});

async function groupsOf(name: string): Promise<string> {
  const { stdout } = await new Deno.Command("id", { args: ["-G", name], stdout: "piped" }).output();
  return new TextDecoder().decode(stdout).trim().split(" ").sort().join(" ");
}

for (const setpriv of ["/usr/bin/setpriv", null]) {
  Deno.test(`as root, a job runs as the koitab's user ${setpriv ? "via setpriv, with its groups" : "without setpriv, with no root groups"}`, async () => {
    if (!isRoot) {
      console.log("skipped: the user switch needs root");
      return;
    }
    const nobody = accounts.find((account) => account.name === "nobody")!;
    const user = chooseRunUser("nobody", accounts, 0).user;
    assertEquals([user.uid, user.gid, user.switchUser], [nobody.uid, nobody.gid, true]);
    await withRunner({ user, setpriv }, async ({ run }) => {
      const [ids] = await run(`HOME=/
"ids" @reboot id -u; id -g; id -G | tr ' ' '\\n' | sort | tr '\\n' ' '; echo; echo $USER $LOGNAME $HOME
`);
      assertEquals(ids!.status, "succeeded", ids!.output);
      const groups = setpriv ? await groupsOf("nobody") : String(nobody.gid);
      assertEquals(
        ids!.output,
        `${nobody.uid}\n${nobody.gid}\n${groups} \nnobody nobody /\n`,
      );
    });
  });
}

for (const setpriv of ["/usr/bin/setpriv", null]) {
  Deno.test(`as root, a job whose HOME its user cannot enter does not start (${setpriv ? "setpriv" : "no setpriv"}), as in cron`, async () => {
    if (!isRoot) {
      console.log("skipped: the user switch needs root");
      return;
    }
    const user = chooseRunUser("nobody", accounts, 0).user;
    await withRunner({ user, setpriv }, async ({ dir, run }) => {
      // The temporary directory is root's, mode 0700: cron changes to HOME as the user, and fails.
      assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
      const [job] = await run(`HOME=${dir}
"locked out" @reboot pwd; ls . && echo listed
`);
      assertEquals(
        [job!.status, job!.output],
        ["not-started", ""],
        `the job ran as nobody in ${dir}, which nobody cannot enter`,
      );
      assert(job!.error?.includes(dir), job!.error ?? "no error");
    });
  });
}
