/**
 * Tests for lib/runs/mail.ts: who a run's output is mailed to and from, the
 * mailer's command line, the exact header bytes, and every log line, as cronie's
 * `do_command.c` decides them.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  describeMailOutcome,
  isSafeMailAddress,
  mailLog,
  type MailPlan,
  type MailSettings,
  parseMailCommand,
  planMail,
  SENDMAIL_PATH,
  shortHostName,
  withoutCarriageReturns,
} from "../lib/runs/mail.ts";

const SENDMAIL: MailSettings = {
  command: { kind: "sendmail", path: SENDMAIL_PATH },
  hostname: "db1.example.com",
};

/** The plan for alice's `backup --full` with these variables on top of cron's own. */
function plan(env: Record<string, string>, settings: MailSettings = SENDMAIL): MailPlan {
  return planMail({
    user: "alice",
    command: "backup --full",
    env: { ...env, SHELL: "/bin/sh", HOME: "/home/alice", LOGNAME: "alice", USER: "alice" },
  }, settings);
}

/** The header of a plan that sends; fails when it does not. */
function header(plan: MailPlan): string {
  assert(plan.send, `no mail: ${plan.send ? "" : plan.reason}`);
  return plan.header;
}

/** cronie's header lines after From, To and Subject, for the default content type. */
const MIME = "MIME-Version: 1.0\n" +
  "Content-Type: text/plain; charset=UTF-8\n" +
  "Content-Transfer-Encoding: 8bit\n" +
  "Auto-Submitted: auto-generated\n" +
  "Precedence: bulk\n";

/** The X-Cron-Env lines of cron's four variables, as `plan()` sets them. */
const CRON_ENV = "X-Cron-Env: <SHELL=/bin/sh>\n" +
  "X-Cron-Env: <HOME=/home/alice>\n" +
  "X-Cron-Env: <LOGNAME=alice>\n" +
  "X-Cron-Env: <USER=alice>\n";

Deno.test("planMail() without MAILTO mails the job's user, from the job's user, through cron's sendmail line", () => {
  const result = plan({});
  assert(result.send);
  assertEquals(result.argv, [
    "/usr/sbin/sendmail",
    "-FCronDaemon",
    "-i",
    "-odi",
    "-oem",
    "-oi",
    "-t",
    "-f",
    "alice",
  ]);
  assertEquals(
    result.header,
    'From: "(Cron Daemon)" <alice>\n' +
      "To: alice\n" +
      "Subject: Cron <alice@db1> backup --full\n" +
      MIME +
      CRON_ENV +
      "\n",
  );
  assertEquals(result.notes, []);
});

Deno.test("planMail(): MAILTO, a list of addresses, MAILFROM, and every variable as X-Cron-Env in order", () => {
  const result = plan({
    LANG: "C.UTF-8",
    MAILTO: "ops@example.com,dev+cron@example.org",
    MAILFROM: "cron-bot@example.com",
    EMPTY: "",
    "G H": "with a space",
  });
  assert(result.send);
  assertEquals(result.argv.slice(-2), ["-f", "cron-bot@example.com"]);
  assertEquals(
    result.header,
    'From: "(Cron Daemon)" <cron-bot@example.com>\n' +
      "To: ops@example.com,dev+cron@example.org\n" +
      "Subject: Cron <alice@db1> backup --full\n" +
      MIME +
      "X-Cron-Env: <LANG=C.UTF-8>\n" +
      "X-Cron-Env: <MAILTO=ops@example.com,dev+cron@example.org>\n" +
      "X-Cron-Env: <MAILFROM=cron-bot@example.com>\n" +
      "X-Cron-Env: <EMPTY=>\n" +
      "X-Cron-Env: <G H=with a space>\n" +
      CRON_ENV +
      "\n",
  );
});

Deno.test('planMail(): MAILTO="" and --mail-command off mail nothing, and say nothing', () => {
  assertEquals(plan({ MAILTO: "" }), { send: false, reason: null });
  assertEquals(plan({}, { command: { kind: "off" }, hostname: "h" }), {
    send: false,
    reason: null,
  });
  assertEquals(
    plan({ MAILTO: "ops@example.com" }, { command: { kind: "off" }, hostname: "h" }),
    { send: false, reason: null },
  );
});

Deno.test("planMail() refuses a MAILTO cron would not use, and says why", () => {
  const hint = "letters, digits and @!:%-.,_+ only, no spaces; a list is a@x.org,b@y.org";
  for (
    const mailto of [
      "ops@example.com, dev@example.org",
      "-oQ/tmp/x",
      "@example.com",
      "ops@example.com\nBcc: everyone@example.com",
      "Ops <ops@example.com>",
      "José@example.com",
      "$USER@example.com",
      "a;b",
    ]
  ) {
    assertEquals(plan({ MAILTO: mailto }), {
      send: false,
      reason: `MAILTO ${JSON.stringify(mailto)} is not an address cron mails to`,
      hint,
    }, mailto);
  }
  const odd = planMail({ user: "Bad User", command: "x", env: {} }, SENDMAIL);
  assertEquals(odd, {
    send: false,
    reason: 'the user name "Bad User" is not an address cron mails to',
    hint,
  });
});

Deno.test("planMail(): an unsafe or empty MAILFROM falls back to the job's user; the unsafe one is noted", () => {
  const unsafe = plan({ MAILFROM: "Cron <cron@example.com>" });
  assert(unsafe.send);
  assertEquals(unsafe.argv.slice(-2), ["-f", "alice"]);
  assert(unsafe.header.startsWith('From: "(Cron Daemon)" <alice>\nTo: alice\n'), unsafe.header);
  assertEquals(unsafe.notes, [
    'MAILFROM "Cron <cron@example.com>" is not an address cron mails from (letters, digits and @!:%-.,_+ only): mailing from "alice" instead',
  ]);
  const empty = plan({ MAILFROM: "" });
  assert(empty.send);
  assertEquals([empty.argv.at(-1), empty.notes], ["alice", []]);
});

Deno.test("planMail(): CONTENT_TYPE and CONTENT_TRANSFER_ENCODING replace cron's, newlines become spaces", () => {
  const result = plan({
    CONTENT_TYPE: "text/html; charset=ISO-8859-1\nBcc: everyone@example.com",
    CONTENT_TRANSFER_ENCODING: "quoted-printable\r\nX-Evil: 1",
  });
  assertEquals(
    header(result),
    'From: "(Cron Daemon)" <alice>\n' +
      "To: alice\n" +
      "Subject: Cron <alice@db1> backup --full\n" +
      "MIME-Version: 1.0\n" +
      "Content-Type: text/html; charset=ISO-8859-1 Bcc: everyone@example.com\n" +
      "Content-Transfer-Encoding: quoted-printable  X-Evil: 1\n" +
      "Auto-Submitted: auto-generated\n" +
      "Precedence: bulk\n" +
      "X-Cron-Env: <CONTENT_TYPE=text/html; charset=ISO-8859-1 Bcc: everyone@example.com>\n" +
      "X-Cron-Env: <CONTENT_TRANSFER_ENCODING=quoted-printable  X-Evil: 1>\n" +
      CRON_ENV +
      "\n",
  );
  // Set but empty, as in cronie: the header is there, empty.
  assert(header(plan({ CONTENT_TYPE: "" })).includes("\nContent-Type: \n"));
});

Deno.test("planMail(): no header line can be split by a variable, the command or the host name", () => {
  const result = planMail({
    user: "alice",
    command: "printf 'a\rb'",
    env: { "X\nY": "1\r\nBcc: everyone@example.com", LATER: "ok" },
  }, { command: { kind: "sendmail", path: SENDMAIL_PATH }, hostname: "odd\nhost.example.com" });
  const text = header(result);
  const lines = text.split("\n");
  assertEquals(lines.slice(0, 3), [
    'From: "(Cron Daemon)" <alice>',
    "To: alice",
    "Subject: Cron <alice@odd host> printf 'a b'",
  ]);
  assertEquals(lines.slice(8), [
    "X-Cron-Env: <X Y=1  Bcc: everyone@example.com>",
    "X-Cron-Env: <LATER=ok>",
    "",
    "",
  ]);
  assert(!text.includes("\r"));
  // Every line but the blank one that ends the header is a header field.
  assert(lines.slice(0, -2).every((line) => /^[A-Za-z-]+: /.test(line)), text);
});

Deno.test("planMail(): the Subject holds the whole command as written, however long", () => {
  const command = `echo ${"x".repeat(5000)} {{Name}}`;
  const result = planMail({ user: "bob", command, env: {} }, {
    command: { kind: "sendmail", path: SENDMAIL_PATH },
    hostname: "solo",
  });
  assert(header(result).includes(`\nSubject: Cron <bob@solo> ${command}\n`));
});

Deno.test("planMail(): --mail-command runs as given, with no -f added, as cronie's -m", () => {
  const result = plan({ MAILFROM: "cron@example.com" }, {
    command: parseMailCommand("msmtp -t --read-envelope-from"),
    hostname: "h.example",
  });
  assert(result.send);
  assertEquals(result.argv, ["msmtp", "-t", "--read-envelope-from"]);
  assert(result.header.startsWith('From: "(Cron Daemon)" <cron@example.com>\n'));
});

Deno.test("parseMailCommand() splits at blanks without quoting; off turns mail off; empty is an error", () => {
  assertEquals(parseMailCommand("off"), { kind: "off" });
  assertEquals(parseMailCommand("  off\t"), { kind: "off" });
  assertEquals(parseMailCommand("off now"), { kind: "custom", argv: ["off", "now"] });
  assertEquals(parseMailCommand("/usr/bin/msmtp\t-t  'a b'"), {
    kind: "custom",
    argv: ["/usr/bin/msmtp", "-t", "'a", "b'"],
  });
  for (const empty of ["", "  ", "\t\n"]) {
    const error = assertThrows(() => parseMailCommand(empty), SyntaxError, JSON.stringify(empty));
    assertEquals(
      error.message,
      `--mail-command needs a command, or "off", got ${JSON.stringify(empty)}`,
    );
  }
});

Deno.test("isSafeMailAddress() is cronie's safe_p: letters and digits, then also @!:%-.,_+", () => {
  for (const safe of ["a", "0", "root", "a@b", "a!b:c%d-e.f,g_h+i", "Z9@x.y,z@w.v"]) {
    assert(isSafeMailAddress(safe), safe);
  }
  for (const delimiter of "@!:%-.,_+") {
    assert(isSafeMailAddress(`a${delimiter}`), `a${delimiter}`);
    assert(!isSafeMailAddress(`${delimiter}a`), `${delimiter}a first`);
  }
  for (const unsafe of ["", "a b", "a\tb", "a\nb", "a<b>", "a;b", "a/b", "a$b", "é", "a\0"]) {
    assert(!isSafeMailAddress(unsafe), JSON.stringify(unsafe));
  }
});

Deno.test("shortHostName() cuts the host name at its first dot", () => {
  assertEquals(shortHostName("db1.example.com"), "db1");
  assertEquals(shortHostName("solo"), "solo");
  assertEquals(shortHostName(".odd"), "");
});

Deno.test("withoutCarriageReturns() drops every CR byte and keeps the rest as they were", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const none = bytes("no returns\n");
  assert(withoutCarriageReturns(none) === none, "nothing copied when there is nothing to drop");
  assertEquals([...withoutCarriageReturns(bytes("\ra\r\nb\r\r\nc\r"))], [...bytes("a\nb\nc")]);
  assertEquals([...withoutCarriageReturns(bytes("\r\r"))], []);
  assertEquals([...withoutCarriageReturns(new Uint8Array([0xff, 0x0d, 0x00]))], [0xff, 0x00]);
});

Deno.test("describeMailOutcome() and mailLog() give one line per thing worth logging", () => {
  assertEquals(describeMailOutcome({ kind: "no-output" }), null);
  assertEquals(describeMailOutcome({ kind: "not-mailed", bytes: 5, reason: null }), null);
  assertEquals(
    describeMailOutcome({
      kind: "not-mailed",
      bytes: 1,
      reason: "no mailer",
      hint: "/usr/sbin/sendmail does not exist",
    }),
    "no mailer: 1 byte of output not mailed (/usr/sbin/sendmail does not exist)",
  );
  const mailed = { kind: "mailed", bytes: 2048, taken: 2048, signal: null, stderr: "" } as const;
  assertEquals(describeMailOutcome({ ...mailed, code: 0 }), null);
  assertEquals(
    describeMailOutcome({ ...mailed, code: 75, stderr: "msmtp: cannot connect\nmore\n" }),
    "mailed 2048 bytes of output but the mailer exited with 75: msmtp: cannot connect",
  );
  assertEquals(
    describeMailOutcome({ ...mailed, code: 0, signal: "SIGKILL" }),
    "mailed 2048 bytes of output but the mailer was killed by SIGKILL",
  );
  assertEquals(
    describeMailOutcome({ ...mailed, code: 0, taken: 100 }),
    "the mailer read only 100 of 2048 bytes of output",
  );

  const unsafeFrom = plan({ MAILFROM: "a b" });
  assert(unsafeFrom.send);
  assertEquals(mailLog(unsafeFrom, { ...mailed, code: 0 }), unsafeFrom.notes);
  assertEquals(unsafeFrom.notes.length, 1);
  assertEquals(mailLog(unsafeFrom, { kind: "no-output" }), [], "no output, no note");
  assertEquals(mailLog(unsafeFrom, { ...mailed, code: 1 }), [
    unsafeFrom.notes[0]!,
    "mailed 2048 bytes of output but the mailer exited with 1",
  ]);
});
