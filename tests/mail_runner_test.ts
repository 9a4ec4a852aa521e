/**
 * koid's mail, through the runner as koid uses it, to a fake sendmail that records
 * its argv, its user, its directory and every byte of its stdin: the exact mail of
 * each case, and the exact log line when no mail goes out.
 *
 * @module
 */

import type { ArgValue } from "../lib/args.ts";
import { assert, assertEquals } from "./_assert.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { parsePasswd } from "../lib/users.ts";
import { History, type RunRecord } from "../lib/runs/history.ts";
import type { MailCommand } from "../lib/runs/mail.ts";
import { chooseRunUser, type RunUser } from "../lib/runs/run_user.ts";
import { Runner, type RunRequest } from "../lib/daemon/runner.ts";
import { jobEnvironment } from "../lib/runs/environment.ts";
import { expectedHeader, received, withFakeMailer } from "./_fake_mailer.ts";

const accounts = parsePasswd(await Deno.readTextFile("/etc/passwd"));
const me: RunUser = chooseRunUser(null, accounts, Deno.uid()!).user;
const isRoot = Deno.uid() === 0;
const HOSTNAME = "mailhost.example.com";

interface Setup {
  readonly dir: string;
  readonly logs: string[];
  readonly history: History;
  /** Runs each job of the koitab once (as a manual run, with these values), waits for all. */
  run(koitab: string, values?: Record<string, ArgValue>): Promise<RunRecord[]>;
}

/** A runner whose mail goes through `command`, over a History in a temporary directory. */
async function withRunner(
  command: MailCommand,
  fn: (setup: Setup) => Promise<void>,
  options: { user?: RunUser; setpriv?: string | null; daemonEnv?: Record<string, string> } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_mail_runner_" });
  const history = new History(`${dir}/history.db`);
  const logs: string[] = [];
  const runner = new Runner({
    history,
    user: options.user ?? me,
    daemonEnv: options.daemonEnv ?? {},
    setpriv: options.setpriv ?? null,
    setsid: null,
    log: (line) => logs.push(line),
    now: () => Date.now(),
    outputLimit: 64 * 1024,
    mail: { command, hostname: HOSTNAME },
  });
  try {
    await fn({
      dir,
      logs,
      history,
      async run(koitab, values = {}) {
        const { jobs, errors } = parseKoitab(koitab);
        assertEquals(errors, [], "koitab errors");
        const requests: RunRequest[] = jobs.map((job) => ({
          job,
          trigger: "manual",
          values,
          scheduledFor: null,
        }));
        const ids = runner.startAll(requests);
        await runner.stop(60_000);
        return ids.map((id) => history.get(id)!);
      },
    });
  } finally {
    await runner.stop(0);
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The mail header koid writes for `koitab`'s first job, computed independently of the runner. */
function headerFor(koitab: string, user: RunUser = me, from = user.name, to = user.name) {
  const job = parseKoitab(koitab).jobs[0]!;
  const env = jobEnvironment(job.env, user, {});
  return expectedHeader({ from, to, user: user.name, host: "mailhost", command: job.command, env });
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("a run's output is mailed once, stdout and stderr in arrival order, through cron's sendmail line", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run, logs }) => {
      const koitab = `HOME=${dir}
"report" @reboot printf 'out1\\n'; sleep 0.2; printf 'err1\\n' >&2; sleep 0.2; printf 'out2\\n'
`;
      const [record] = await run(koitab);
      assertEquals(record!.status, "succeeded");
      const [mail, ...more] = await received(mailer.dir);
      assertEquals(more.length, 0, "one mail");
      assertEquals(mail!.argv, [
        mailer.path,
        "-FCronDaemon",
        "-i",
        "-odi",
        "-oem",
        "-oi",
        "-t",
        "-f",
        me.name,
      ]);
      assertEquals(text(mail!.stdin), headerFor(koitab) + "out1\nerr1\nout2\n");
      assertEquals([mail!.uid, mail!.cwd], [me.uid, await Deno.realPath(dir)]);
      // A mailer that takes everything and exits 0 is not worth a log line.
      assertEquals(logs.filter((line) => line.includes("mail")), []);
    });
  });
});

Deno.test('no output, no mail; MAILTO="" reads the output and mails nothing, silently', async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run, logs }) => {
      const records = await run(`HOME=${dir}
"quiet" @reboot true
"fails quietly" @reboot exit 4
MAILTO=""
"chatty" @reboot head -c 300000 /dev/zero; echo done >&2
`);
      assertEquals(records.map((r) => [r.status, r.outputBytes]), [
        ["succeeded", 0],
        ["failed", 0],
        ["succeeded", 300005],
      ]);
      assertEquals(await received(mailer.dir), []);
      assertEquals(logs.filter((line) => line.includes("mail")), []);
    });
  });
});

Deno.test("cronie's -n: a run that succeeds mails nothing, even once its mailer started; one that fails mails all", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run, logs }) => {
      // The job goes on once its first line has started the mailer.
      const waitForMailer =
        `until ls ${mailer.dir}/mail.*.argv >/dev/null 2>&1; do sleep 0.05; done`;
      const ok = `HOME=${dir}\n"ok" @reboot -n echo fine; ${waitForMailer}; echo still fine\n`;
      const [record] = await run(ok);
      assertEquals([record!.status, record!.outputBytes], ["succeeded", 16]);
      // The mailer had the header and some output, and was killed before its input ended.
      assertEquals((await received(mailer.dir)).map((mail) => mail.ended), [false]);
      assertEquals(logs.filter((line) => line.includes("mail")), []);
    });
  });
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run }) => {
      const fails = `HOME=${dir}\n"fails" @reboot -n echo broken; exit 3\n`;
      const [record] = await run(fails);
      assertEquals(record!.status, "failed");
      const [mail, ...more] = await received(mailer.dir);
      assertEquals(more.length, 0, "one mail");
      assertEquals([mail!.ended, text(mail!.stdin)], [true, headerFor(fails) + "broken\n"]);
    });
  });
});

Deno.test("MAILTO as the koitab sets it above the job: a list goes into To; later lines change later jobs", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run }) => {
      const first = `HOME=${dir}
MAILTO=ops@example.com,dev+cron@example.org
MAILFROM=cron@example.com
"first" @reboot echo one
`;
      const koitab = `${first}MAILTO=solo@example.com
"second" @reboot sleep 0.3; echo two
`;
      await run(koitab);
      const mails = await received(mailer.dir);
      assertEquals(mails.length, 2);
      const [one, two] = mails.map((mail) => text(mail.stdin)).sort();
      assertEquals(
        one,
        headerFor(first, me, "cron@example.com", "ops@example.com,dev+cron@example.org") +
          "one\n",
      );
      assert(two!.startsWith('From: "(Cron Daemon)" <cron@example.com>\nTo: solo@example.com\n'));
      assert(two!.endsWith("\n\ntwo\n"), two);
      for (const mail of mails) assertEquals(mail.argv.slice(-2), ["-f", "cron@example.com"]);
    });
  });
});

Deno.test("an unsafe MAILTO mails nothing and says so; an unsafe MAILFROM mails from the user and says so", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run, logs }) => {
      const [spaced, badFrom] = await run(`HOME=${dir}
MAILTO=ops@example.com, dev@example.org
"spaced" @reboot echo hi
MAILTO=ops@example.com
MAILFROM=Cron <cron@example.com>
"bad from" @reboot sleep 0.3; echo hello
`);
      const mails = await received(mailer.dir);
      assertEquals(mails.length, 1);
      assertEquals(mails[0]!.argv.slice(-2), ["-f", me.name]);
      assert(text(mails[0]!.stdin).startsWith(`From: "(Cron Daemon)" <${me.name}>\n`));
      const about = (id: string) =>
        logs.filter((line) => line.includes(id) && !/ (started|ended) /.test(line));
      assertEquals(about(spaced!.id), [
        `"spaced" (run ${
          spaced!.id
        }): MAILTO "ops@example.com, dev@example.org" is not an address cron mails to: 3 bytes of output not mailed (letters, digits and @!:%-.,_+ only, no spaces; a list is a@x.org,b@y.org)`,
      ]);
      assertEquals(about(badFrom!.id), [
        `"bad from" (run ${
          badFrom!.id
        }): MAILFROM "Cron <cron@example.com>" is not an address cron mails from (letters, digits and @!:%-.,_+ only): mailing from "${me.name}" instead`,
      ]);
    });
  });
});

Deno.test("MAILFROM in koid's own environment is every job's default sender, as in cronie", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run }) => {
      await run(`HOME=${dir}\n"job" @reboot echo hi\n`);
      const [mail] = await received(mailer.dir);
      assertEquals(mail!.argv.slice(-2), ["-f", "koi@example.com"]);
      assert(text(mail!.stdin).startsWith('From: "(Cron Daemon)" <koi@example.com>\n'));
      assert(text(mail!.stdin).includes("\nX-Cron-Env: <MAILFROM=koi@example.com>\n"));
    }, { daemonEnv: { MAILFROM: "koi@example.com", OTHER: "not passed" } });
  });
});

Deno.test("no sendmail on the machine: one log line per run with output, and nothing else changes", async () => {
  const missing = "/nonexistent/koi/sendmail";
  await withRunner({ kind: "sendmail", path: missing }, async ({ dir, run, logs }) => {
    const [loud, quiet] = await run(`HOME=${dir}
"loud" @reboot printf 'twelve bytes'
"quiet" @reboot true
`);
    assertEquals([loud!.status, loud!.output, quiet!.status], [
      "succeeded",
      "twelve bytes",
      "succeeded",
    ]);
    const mailLines = logs.filter((line) => line.includes("mail"));
    assertEquals(mailLines, [
      `"loud" (run ${
        loud!.id
      }): no mailer: 12 bytes of output not mailed (${missing} does not exist: install one, or name another with --mail-command)`,
    ]);
  });
  await withRunner(
    { kind: "custom", argv: ["no-such-mailer-koi", "-t"] },
    async ({ dir, run, logs }) => {
      const [job] = await run(`HOME=${dir}\n"job" @reboot echo x\n`);
      assertEquals(logs.filter((line) => line.includes("mail")), [
        `"job" (run ${
          job!.id
        }): no mailer: 2 bytes of output not mailed (no no-such-mailer-koi in the job's PATH: install one, or name another with --mail-command)`,
      ]);
    },
  );
});

Deno.test("a failing mailer is logged with its status and what it said; a mailer that reads nothing holds up nothing", async () => {
  await withFakeMailer(async (failing) => {
    await withRunner({ kind: "sendmail", path: failing.path }, async ({ dir, run, logs }) => {
      const [job] = await run(`HOME=${dir}\n"job" @reboot echo hello\n`);
      assertEquals(logs.filter((line) => line.includes("mail")), [
        `"job" (run ${
          job!.id
        }): mailed 6 bytes of output but the mailer exited with 75: sendmail: no route to mail.example.com`,
      ]);
    });
  }, { status: 75, extra: "echo 'sendmail: no route to mail.example.com' >&2" });
  await withRunner(
    { kind: "custom", argv: ["/bin/sh", "-c", "exit 3"] },
    async ({ dir, run, logs }) => {
      const started = performance.now();
      const [job] = await run(`HOME=${dir}\n"big" @reboot head -c 8000000 /dev/zero; echo end\n`);
      assertEquals([job!.status, job!.outputBytes], ["succeeded", 8000004]);
      assert(performance.now() - started < 30_000);
      assertEquals(logs.filter((line) => line.includes("mail")), [
        `"big" (run ${job!.id}): mailed 8000004 bytes of output but the mailer exited with 3`,
      ]);
    },
  );
});

Deno.test("the mail body is every output byte but CR, whatever the history keeps; argument values stay out of the header", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run }) => {
      // 3 MB, beyond the 64 KiB the history keeps, with CRs, NULs and invalid UTF-8.
      const koitab = `HOME=${dir}
"bytes" @manual printf 'a\\r\\nb\\000\\377\\r'; head -c 3000000 /dev/zero | tr '\\000' 'x'; printf '\\%s\\n' {{Who}}
`;
      const [record] = await run(koitab, { Who: "eve\nBcc: everyone@example.com" });
      assertEquals(record!.outputBytes, 7 + 3_000_000 + 30);
      assert(record!.output.includes("[koi: "), "the history keeps head and tail only");
      const [mail] = await received(mailer.dir);
      const header = new TextEncoder().encode(headerFor(koitab));
      assert(text(header).includes("\nSubject: Cron <"), "the header");
      assert(text(header).includes(" printf '%s\\n' {{Who}}\n"), "the command as written");
      const body = mail!.stdin.subarray(header.length);
      assertEquals([...mail!.stdin.subarray(0, header.length)], [...header]);
      assertEquals([...body.subarray(0, 5)], [0x61, 0x0a, 0x62, 0x00, 0xff]);
      assertEquals(body.length, 5 + 3_000_000 + 30);
      assert(body.subarray(5, 5 + 3_000_000).every((byte) => byte === 0x78), "the x's");
      assertEquals(text(body.subarray(5 + 3_000_000)), "eve\nBcc: everyone@example.com\n");
    });
  });
});

Deno.test("--mail-command runs as given, split at blanks, with no -f added", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner(
      { kind: "custom", argv: [mailer.path, "--to-stdin", "a b"] },
      async ({ dir, run }) => {
        await run(`HOME=${dir}\n"job" @reboot echo hi\n`);
        const [mail] = await received(mailer.dir);
        assertEquals(mail!.argv, [mailer.path, "--to-stdin", "a b"]);
        assert(text(mail!.stdin).endsWith("\n\nhi\n"));
      },
    );
  });
});

for (const setpriv of ["/usr/bin/setpriv", null]) {
  Deno.test(`as root, the mailer runs as the job's user, in its HOME (${setpriv ? "setpriv" : "no setpriv"})`, async () => {
    if (!isRoot) {
      console.log("skipped: the user switch needs root");
      return;
    }
    const user = chooseRunUser("nobody", accounts, 0).user;
    await withFakeMailer(async (mailer) => {
      await withRunner({ kind: "sendmail", path: mailer.path }, async ({ run }) => {
        const koitab = `HOME=${mailer.dir}\n"ids" @reboot id -u\n`;
        const [job] = await run(koitab);
        assertEquals(job!.output, `${user.uid}\n`);
        const [mail] = await received(mailer.dir);
        assertEquals([mail!.uid, mail!.cwd], [user.uid, mailer.dir]);
        assertEquals(mail!.argv.slice(-2), ["-f", "nobody"]);
        assertEquals(text(mail!.stdin), headerFor(koitab, user) + `${user.uid}\n`);
      }, { user, setpriv });
    });
  });
}

Deno.test("a job that cannot start is mailed why; a manual run's bad argument value is not mailed", async () => {
  await withFakeMailer(async (mailer) => {
    await withRunner({ kind: "sendmail", path: mailer.path }, async ({ dir, run, logs }) => {
      const koitab = `HOME=${dir}\nSHELL=/no/such/shell\n"broken" @manual echo {{N, int, 1}}\n`;
      const [broken] = await run(koitab);
      const reason =
        `Cannot start the job: "/no/such/shell" or the home directory "${dir}" does not exist`;
      assertEquals([broken!.status, broken!.error], ["not-started", reason]);
      const [mail, ...more] = await received(mailer.dir);
      assertEquals(more, []);
      assertEquals(mail!.argv.slice(-2), ["-f", me.name]);
      assertEquals(text(mail!.stdin), headerFor(koitab) + `${reason}\n`);
      assertEquals(logs, [`"broken" did not start (run ${broken!.id}): ${reason}`]);
      const [bad] = await run(`HOME=${dir}\n"typo" @manual echo {{N, int, 1}}\n`, { N: "many" });
      assertEquals(bad!.status, "not-started");
      assertEquals((await received(mailer.dir)).length, 1, "no mail for a bad value");
    });
  });
});
