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
import { type Delivered, smtpServerMissing, withSmtpServer } from "./_smtp.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));
const me = parsePasswd(await Deno.readTextFile("/etc/passwd")).find((a) => a.uid === Deno.uid())!;
/** Why the real-mailer tests cannot run here, or null when they can. */
async function missingParts(): Promise<string | null> {
  const missing = await smtpServerMissing();
  if (missing !== null) return missing;
  try {
    const { success } = await new Deno.Command("msmtp", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return null;
  } catch {
    // Not installed.
  }
  return "no msmtp (apt-get install msmtp; .ci/run does)";
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
