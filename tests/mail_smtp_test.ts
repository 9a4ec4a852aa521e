/**
 * koid's mail through real parts: koid runs a job, streams its output into msmtp
 * (a sendmail-compatible mailer from Debian) given cron's own sendmail flags, and
 * msmtp delivers it over SMTP to a real server on loopback (python3-aiosmtpd),
 * which writes down the envelope and every byte it received.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { expectedHeader } from "./_fake_mailer.ts";
import { jobEnvironment } from "../lib/runs/environment.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { parsePasswd } from "../lib/users.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));
const me = parsePasswd(await Deno.readTextFile("/etc/passwd")).find((a) => a.uid === Deno.uid())!;
/** Debian's python, which has aiosmtpd (a python3 earlier on PATH may not). */
const PYTHON = "/usr/bin/python3";

/** Why the real-mailer tests cannot run here, or null when they can. */
async function missingParts(): Promise<string | null> {
  const works = async (program: string, args: string[]) => {
    try {
      return (await new Deno.Command(program, { args, stdout: "null", stderr: "null" }).output())
        .success;
    } catch {
      return false;
    }
  };
  if (!await works(PYTHON, ["-c", "import aiosmtpd"])) {
    return `${PYTHON} has no aiosmtpd (apt-get install python3-aiosmtpd; .ci/run does)`;
  }
  if (!await works("msmtp", ["--version"])) return "no msmtp (apt-get install msmtp; .ci/run does)";
  return null;
}

/** One message the SMTP server accepted. */
interface Delivered {
  readonly mailFrom: string;
  readonly rcptTos: string[];
  readonly content: Uint8Array;
}

interface SmtpServer {
  readonly port: number;
  /** Waits until `count` messages have arrived (30 s at most) and returns them in order. */
  messages(count: number): Promise<Delivered[]>;
}

/** Runs `fn` with the SMTP server listening on a free loopback port; stops it afterwards. */
async function withSmtpServer(fn: (server: SmtpServer) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_smtp_" });
  const child = new Deno.Command(PYTHON, {
    args: [new URL("_smtp_server.py", import.meta.url).pathname, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the SMTP server ended before saying its port");
      first += value;
    }
    reader.releaseLock();
    const port = Number(first.trim());
    assert(Number.isInteger(port) && port > 0, `port ${first}`);
    await fn({
      port,
      async messages(count) {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const names = [...Deno.readDirSync(dir)].map((entry) => entry.name);
          if (names.filter((name) => name.endsWith(".json")).length >= count) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const delivered: Delivered[] = [];
        for (let n = 1; exists(`${dir}/${n}.json`); n++) {
          const meta = JSON.parse(await Deno.readTextFile(`${dir}/${n}.json`));
          delivered.push({
            mailFrom: meta.mail_from,
            rcptTos: meta.rcpt_tos,
            content: await Deno.readFile(`${dir}/${n}.eml`),
          });
        }
        return delivered;
      },
    });
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("koid mails a run's output through msmtp, with cron's sendmail flags, to a real SMTP server", async () => {
  const missing = await missingParts();
  if (missing !== null) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "koi_smtp_koid_" });
  try {
    // msmtp's own configuration stays out of it: an empty one, mode 0600 as msmtp wants.
    const rc = `${dir}/msmtprc`;
    await Deno.writeTextFile(rc, "", { mode: 0o600 });
    const koitab = `HOME=${dir}
MAILTO=ops@example.com,dev@example.org
"report" @reboot printf 'line one\\nline two\\r\\n.\\n'; sleep 0.3; echo warn >&2
MAILTO=""
"silent" @reboot echo not mailed
`;
    await Deno.writeTextFile(`${dir}/koitab`, koitab);
    await withSmtpServer(async (server) => {
      const mailer =
        `msmtp -C ${rc} --host=127.0.0.1 --port=${server.port} -FCronDaemon -i -odi -oem -oi -t -f ${me.name}`;
      const koid = new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags.koid, new URL("koid.ts", root).pathname, "--mail-command", mailer],
        cwd: root.pathname,
        env: { KOI_DIR: dir, NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const log = new Response(koid.stderr).text();
      let delivered: Delivered[];
      try {
        delivered = await server.messages(1);
      } finally {
        koid.kill("SIGTERM");
        await koid.status;
      }
      const lines = (await log).split("\n");
      assertEquals(lines.filter((line) => line.includes("mail")), [], lines.join("\n"));
      assertEquals(lines.filter((line) => / ended \(run /.test(line)).length, 2, lines.join("\n"));
      assertEquals(delivered.length, 1, 'MAILTO="" sends nothing');
      const [mail] = delivered;
      assertEquals(mail!.mailFrom, me.name);
      assertEquals(mail!.rcptTos, ["ops@example.com", "dev@example.org"]);
      const text = new TextDecoder().decode(mail!.content);
      // msmtp adds the Date and Message-ID cron leaves to the mailer.
      const added =
        /^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\nMessage-ID: <[^>\r\n]+>\r\n/
          .exec(text);
      assert(added !== null, text.slice(0, 200));
      const job = parseKoitab(koitab).jobs[0]!;
      const header = expectedHeader({
        from: me.name,
        to: "ops@example.com,dev@example.org",
        user: me.name,
        host: Deno.hostname().split(".")[0]!,
        command: job.command,
        env: jobEnvironment(job.env, me, Deno.env.toObject()),
      });
      // SMTP carries CRLF lines; the job's own CR is gone, so none is doubled.
      const sent = (header + "line one\nline two\n.\nwarn\n").replaceAll("\n", "\r\n");
      assertEquals(text.slice(added[0].length), sent);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
