/**
 * `koitab run` as koid runs a job: its output mailed the same way (to a fake
 * sendmail that records every byte), and the run recorded in the history with the
 * trigger `cli`; and `koitab history NAME` for a name that is no job's.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { type EntryResult, runEntry } from "./_entry.ts";
import { expectedHeader, received, withFakeMailer } from "./_fake_mailer.ts";
import { jobEnvironment } from "../lib/runs/environment.ts";
import type { RunRecord } from "../lib/runs/history.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { parsePasswd } from "../lib/users.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));
const me = parsePasswd(await Deno.readTextFile("/etc/passwd")).find((a) => a.uid === Deno.uid())!;

interface Sandbox {
  readonly dir: string;
  readonly home: string;
  koitab(text: string): Promise<void>;
  koi(args: string[], env?: Record<string, string>): Promise<EntryResult>;
  history(name?: string): Promise<RunRecord[]>;
}

/** A temporary KOI_DIR and a home for its jobs, removed after `fn`. */
async function withSandbox(fn: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "koitab_run_test." });
  const dir = `${tmp}/koi`;
  const home = `${tmp}/home`;
  await Deno.mkdir(dir, { mode: 0o700 });
  await Deno.mkdir(home);
  const koi = (args: string[], env: Record<string, string> = {}) =>
    runEntry("koitab", args, { env: { KOI_DIR: dir, TZ: "UTC", ...env }, cwd: tmp });
  try {
    await fn({
      dir,
      home,
      koitab: (text) => Deno.writeTextFile(`${dir}/koitab`, text, { mode: 0o600 }),
      koi,
      async history(name) {
        const result = await koi(["history", ...(name === undefined ? [] : [name]), "--json"]);
        assertEquals([result.code, result.stderr], [0, ""], result.stderr);
        return JSON.parse(result.stdout);
      },
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("koitab run mails the output as koid does, and records the run with the trigger cli", async () => {
  await withSandbox(async ({ home, koitab, koi, history }) => {
    const table = `HOME=${home}
MAILTO=ops@example.com
[Greetings]
"Greet" @manual printf 'hello \\%s\\n' {{Who}}; sleep 0.3; echo oops >&2; exit 3
`;
    await koitab(table);
    await withFakeMailer(async (mailer) => {
      const result = await koi([
        "run",
        "Greet",
        "--arg",
        "Who=world",
        "--mail-command",
        mailer.path,
      ]);
      assertEquals(result, { code: 3, stdout: "hello world\n", stderr: "oops\n" });
      const [mail, ...more] = await received(mailer.dir);
      assertEquals(more, []);
      assertEquals(mail!.argv, [mailer.path], "--mail-command as given");
      assertEquals([mail!.uid, mail!.cwd], [Deno.uid(), await Deno.realPath(home)]);
      const job = parseKoitab(table).jobs[0]!;
      const env = jobEnvironment(job.env, me, { ...Deno.env.toObject(), NO_COLOR: "1" });
      const header = expectedHeader({
        from: me.name,
        to: "ops@example.com",
        user: me.name,
        host: Deno.hostname().split(".")[0]!,
        command: job.command,
        env,
      });
      assertEquals(new TextDecoder().decode(mail!.stdin), header + "hello world\noops\n");
    });
    const [run, ...others] = await history();
    assertEquals(others, []);
    assertEquals(
      {
        trigger: run!.trigger,
        name: run!.name,
        section: run!.section,
        args: run!.args,
        status: run!.status,
        exitCode: run!.exitCode,
        output: run!.output,
        chunks: run!.chunks,
        outputBytes: run!.outputBytes,
      },
      {
        trigger: "cli",
        name: "Greet",
        section: "Greetings",
        args: { Who: "world" },
        status: "failed",
        exitCode: 3,
        output: "hello world\noops\n",
        chunks: [{ stream: "stdout", text: "hello world\n" }, { stream: "stderr", text: "oops\n" }],
        outputBytes: 17,
      },
    );
    const table2 = await koi(["history", "Greetings/Greet"]);
    assertEquals(table2.code, 0);
    const row = table2.stdout.split("\n")[1]!.split(/ {2,}/);
    assertEquals(row.slice(1, 3), ['[Greetings] "Greet"', "cli"]);
    assertEquals(row[3], "exit 3");
  });
});

Deno.test("koitab run records typed argument values, and a job that cannot start as not-started", async () => {
  await withSandbox(async ({ home, koitab, koi, history }) => {
    await koitab(`HOME=${home}
"Typed" @manual echo {{N, int}} {{Flag, bool}} {{S}}
HOME=${home}/missing
"Lost" @manual echo never
`);
    const typed = await koi([
      "run",
      "Typed",
      "--arg",
      "N=-7",
      "--arg",
      "Flag=true",
      "--arg",
      "S=x",
      "--mail-command",
      "off",
    ]);
    assertEquals(typed, { code: 0, stdout: "-7 true x\n", stderr: "" });
    const reason =
      `Cannot start the job: "/bin/sh" or the home directory "${home}/missing" does not exist`;
    await withFakeMailer(async (mailer) => {
      const lost = await koi(["run", "Lost", "--mail-command", mailer.path]);
      assertEquals([lost.code, lost.stdout, lost.stderr], [1, "", `koitab: ${reason}\n`]);
      const [mail] = await received(mailer.dir);
      assert(new TextDecoder().decode(mail!.stdin).endsWith(`\n\n${reason}\n`), "mailed why");
    });
    const runs = await history();
    assertEquals(runs.map((r) => [r.name, r.trigger, r.status, r.args, r.error]), [
      [
        "Lost",
        "cli",
        "not-started",
        {},
        `Cannot start the job: "/bin/sh" or the home directory "${home}/missing" does not exist`,
      ],
      ["Typed", "cli", "succeeded", { N: -7, Flag: true, S: "x" }, null],
    ]);
    // A usage mistake runs nothing and records nothing.
    assertEquals((await koi(["run", "Typed", "--arg", "N=many", "--mail-command", "off"])).code, 2);
    assertEquals(
      (await koi(["run", "Typed", "--mail-command"])).stderr.split("\n")[0],
      'koitab: --mail-command needs a command, or "off", got ""',
    );
    assertEquals((await history()).length, 2);
  });
});

Deno.test('koitab run without a mailer says so once; --mail-command off and MAILTO="" say nothing', async () => {
  await withSandbox(async ({ home, koitab, koi }) => {
    await koitab(`HOME=${home}
"Loud" @manual echo hello
MAILTO=""
"Unmailed" @manual echo hello
`);
    const missing = `${home}/no-sendmail`;
    assertEquals(await koi(["run", "Loud", "--mail-command", missing]), {
      code: 0,
      stdout: "hello\n",
      stderr:
        `koitab: no mailer: 6 bytes of output not mailed (${missing} does not exist: install one, or name another with --mail-command)\n`,
    });
    assertEquals(await koi(["run", "--mail-command=off", "Loud"]), {
      code: 0,
      stdout: "hello\n",
      stderr: "",
    });
    assertEquals(await koi(["run", "Unmailed", "--mail-command", missing]), {
      code: 0,
      stdout: "hello\n",
      stderr: "",
    });
  });
});

Deno.test("SIGTERM to koitab run reaches the job, and the run is recorded as killed", async () => {
  await withSandbox(async ({ dir, home, koitab, history }) => {
    await koitab(`HOME=${home}\n"Sleepy" @manual echo started; exec sleep 30\n`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags.koitab,
        new URL("koitab.ts", root).pathname,
        "run",
        "Sleepy",
        "--mail-command",
        "off",
      ],
      env: { KOI_DIR: dir, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    while (!stdout.includes("started\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
    child.kill("SIGTERM");
    const [status] = await Promise.all([child.status, reader.cancel(), child.stderr.cancel()]);
    assertEquals(status.code, 143);
    const [run] = await history("Sleepy");
    assertEquals([run!.trigger, run!.status, run!.signal, run!.output], [
      "cli",
      "killed",
      "SIGTERM",
      "started\n",
    ]);
  });
});

Deno.test("koitab history NAME: a job's name or a name in its history; any other name exits 1 and says so", async () => {
  await withSandbox(async ({ home, koitab, koi }) => {
    assertEquals(await koi(["history", "Nope"]), {
      code: 1,
      stdout: "",
      stderr: 'koitab: no job "Nope" in the koitab or its history (the koitab names no jobs)\n',
    });
    await koitab(`HOME=${home}
"Old" @manual echo old
[S]
"New" @manual echo new
0 * * * * echo unnamed
`);
    assertEquals(await koi(["history", "New"]), {
      code: 0,
      stdout: "no runs recorded\n",
      stderr: "",
    });
    assertEquals(await koi(["history", "S/New", "--json"]), {
      code: 0,
      stdout: "[]\n",
      stderr: "",
    });
    const nope = {
      code: 1,
      stdout: "",
      stderr: 'koitab: no job "Nope" in the koitab or its history (named jobs: "Old", "New")\n',
    };
    assertEquals(await koi(["history", "Nope"]), nope);
    assertEquals(await koi(["history", "Nope", "--json"]), nope);
    assertEquals((await koi(["run", "Old", "--mail-command", "off"])).code, 0);
    // The job leaves the koitab; its runs stay in the history, under its name.
    await koitab(`HOME=${home}\n[S]\n"New" @manual echo new\n`);
    const old = await koi(["history", "Old"]);
    assertEquals(old.code, 0, old.stderr);
    assertEquals(old.stdout.split("\n")[1]!.split(/ {2,}/).slice(1, 4), ['"Old"', "cli", "ok"]);
  });
});
