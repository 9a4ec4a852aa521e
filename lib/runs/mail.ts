/**
 * Mailing a run's output as cronie's `do_command.c` does: who it goes to, who it
 * is from, the mailer's command line, the header bytes, and the log line for each
 * way a mail can fail to go out. Pure: strings in, strings and bytes out.
 *
 * @module
 */

/** Where cron's mailer lives; `koid --mail-command` names another. */
export const SENDMAIL_PATH = "/usr/sbin/sendmail";

/**
 * How output is mailed: through sendmail with cron's flags, through another
 * command (`--mail-command CMD`, run as given, as cronie's `-m`), or not at all
 * (`--mail-command off`).
 */
export type MailCommand =
  | { readonly kind: "sendmail"; readonly path: string }
  | { readonly kind: "custom"; readonly argv: readonly string[] }
  | { readonly kind: "off" };

/** What mailing needs beyond the run itself: the command, and this machine's name. */
export interface MailSettings {
  readonly command: MailCommand;
  /** The host name as the system gives it; the Subject shows it up to the first dot. */
  readonly hostname: string;
}

/**
 * Reads the value of `--mail-command`: `off`, or a command line split at blanks,
 * with no quoting, as cronie splits its `-m` command.
 *
 * @param text The option's value.
 * @returns The mail command.
 * @throws {SyntaxError} When the value holds no word.
 *
 * @example
 * ```ts
 * import { parseMailCommand } from "./mail.ts";
 *
 * const command = parseMailCommand("msmtp  -t --read-envelope-from");
 * if (command.kind !== "custom" || command.argv.join("|") !== "msmtp|-t|--read-envelope-from") {
 *   throw new Error(JSON.stringify(command));
 * }
 * if (parseMailCommand("off").kind !== "off") throw new Error();
 * ```
 */
export function parseMailCommand(text: string): MailCommand {
  const argv = text.split(/[ \t\n]+/).filter((word) => word !== "");
  if (argv.length === 0) {
    throw new SyntaxError(`--mail-command needs a command, or "off", got ${JSON.stringify(text)}`);
  }
  if (argv.length === 1 && argv[0] === "off") return { kind: "off" };
  return { kind: "custom", argv };
}

/** The characters cronie allows in MAILTO and MAILFROM after the first (`safe_p`). */
const SAFE_DELIMITERS = "@!:%-.,_+";

/**
 * Whether cron would use a MAILTO or MAILFROM value: every character an ASCII
 * letter or digit, or, after the first, one of `@!:%-.,_+`. So a list is
 * `a@x.org,b@y.org` with no spaces, and no value can smuggle a header or an
 * option to the mailer.
 *
 * @param value The variable's value.
 * @returns True when it is safe.
 *
 * @example
 * ```ts
 * import { isSafeMailAddress } from "./mail.ts";
 *
 * if (!isSafeMailAddress("ops@example.com,dev+cron@example.org")) throw new Error();
 * if (isSafeMailAddress("ops@example.com, dev@example.org")) throw new Error("a space");
 * if (isSafeMailAddress("-oQ/tmp")) throw new Error("an option");
 * ```
 */
export function isSafeMailAddress(value: string): boolean {
  if (value === "") return false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (/[A-Za-z0-9]/.test(ch)) continue;
    if (i > 0 && SAFE_DELIMITERS.includes(ch)) continue;
    return false;
  }
  return true;
}

/**
 * The host name as the Subject shows it: cut at the first dot.
 *
 * @param hostname The full host name.
 * @returns Its first label.
 */
export function shortHostName(hostname: string): string {
  const dot = hostname.indexOf(".");
  return dot < 0 ? hostname : hostname.slice(0, dot);
}

/** A header value on one line: every CR and LF becomes a space. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]/g, " ");
}

/** The run a mail is about. */
export interface MailedRun {
  /** The name of the user the job runs as. */
  readonly user: string;
  /** The command as the koitab writes it (after cron's `%` rule, placeholders unfilled). */
  readonly command: string;
  /** The job's complete environment, in the order the job gets it. */
  readonly env: Readonly<Record<string, string>>;
}

/** Whether and how a run's output is mailed, decided before any output arrives. */
export type MailPlan =
  | {
    readonly send: true;
    /** The mailer's command line. */
    readonly argv: readonly string[];
    /** The header, ending in the blank line; the output follows it. */
    readonly header: string;
    /** Things to log once output arrives (an unsafe MAILFROM), each one line. */
    readonly notes: readonly string[];
  }
  | {
    readonly send: false;
    /**
     * Why not, to log when there is output; null when no mail was asked for
     * (`MAILTO=""`, `--mail-command off`).
     */
    readonly reason: string | null;
    /** What would make it work, said after the reason. */
    readonly hint?: string;
  };

/**
 * Whether any of these jobs would mail its output: cron mails unless the job's
 * environment sets `MAILTO` empty (`MAILTO=""`). koid warns about a missing
 * mailer only when a table would use it.
 *
 * @param jobs The jobs of a table, with their environments.
 * @returns True when one of them would mail.
 *
 * @example
 * ```ts
 * import { tableMails } from "./mail.ts";
 *
 * if (tableMails([{ env: { MAILTO: "" } }])) throw new Error("MAILTO is empty");
 * if (!tableMails([{ env: { MAILTO: "" } }, { env: {} }])) throw new Error("to the user");
 * ```
 */
export function tableMails(
  jobs: readonly { readonly env: Readonly<Record<string, string>> }[],
): boolean {
  return jobs.some((job) => job.env.MAILTO !== "");
}

/**
 * Decides where a run's output goes, as cron does once the first byte arrives:
 * to MAILTO (a comma-separated list), else to the job's user; no mail when MAILTO
 * is set but empty, or fails {@linkcode isSafeMailAddress}. The sender is MAILFROM
 * if it is set and safe, else the job's user (cronie since 1.5: the envelope
 * sender is the account whose job it is, and bounces go back to it).
 *
 * The header, in cronie's order: From, To, Subject, MIME-Version, Content-Type
 * (UTF-8 unless CONTENT_TYPE sets it), Content-Transfer-Encoding (8bit unless
 * CONTENT_TRANSFER_ENCODING sets it), Auto-Submitted, Precedence, one X-Cron-Env
 * per variable of the job's environment, then a blank line. Every CR and LF in a
 * header value becomes a space, so nothing can start a header of its own.
 *
 * @param run The job's user, command and environment.
 * @param settings The mail command and this machine's host name.
 * @returns The plan: the mailer's argv and the header, or why no mail goes out.
 *
 * @example The mail of a job with MAILTO set
 * ```ts
 * import { planMail } from "./mail.ts";
 *
 * const plan = planMail(
 *   { user: "alice", command: "backup --full", env: { MAILTO: "ops@example.com", HOME: "/home/alice" } },
 *   { command: { kind: "sendmail", path: "/usr/sbin/sendmail" }, hostname: "db1.example.com" },
 * );
 * if (!plan.send) throw new Error(plan.reason ?? "no mail");
 * if (plan.argv.join(" ") !== "/usr/sbin/sendmail -FCronDaemon -i -odi -oem -oi -t -f alice") {
 *   throw new Error(plan.argv.join(" "));
 * }
 * const expected = 'From: "(Cron Daemon)" <alice>\n' +
 *   "To: ops@example.com\n" +
 *   "Subject: Cron <alice@db1> backup --full\n" +
 *   "MIME-Version: 1.0\n" +
 *   "Content-Type: text/plain; charset=UTF-8\n" +
 *   "Content-Transfer-Encoding: 8bit\n" +
 *   "Auto-Submitted: auto-generated\n" +
 *   "Precedence: bulk\n" +
 *   "X-Cron-Env: <MAILTO=ops@example.com>\n" +
 *   "X-Cron-Env: <HOME=/home/alice>\n" +
 *   "\n";
 * if (plan.header !== expected) throw new Error(plan.header);
 * ```
 */
export function planMail(run: MailedRun, settings: MailSettings): MailPlan {
  const { env } = run;
  if (settings.command.kind === "off") return { send: false, reason: null };
  const mailto = env.MAILTO;
  if (mailto === "") return { send: false, reason: null };
  const to = mailto ?? run.user;
  if (!isSafeMailAddress(to)) {
    return {
      send: false,
      reason: `${mailto === undefined ? "the user name" : "MAILTO"} ${
        JSON.stringify(to)
      } is not an address cron mails to`,
      hint: "letters, digits and @!:%-.,_+ only, no spaces; a list is a@x.org,b@y.org",
    };
  }
  const notes: string[] = [];
  let from = run.user;
  const mailfrom = env.MAILFROM;
  if (mailfrom !== undefined && mailfrom !== "") {
    if (isSafeMailAddress(mailfrom)) {
      from = mailfrom;
    } else {
      notes.push(
        `MAILFROM ${
          JSON.stringify(mailfrom)
        } is not an address cron mails from (letters, digits and @!:%-.,_+ only): mailing from ${
          JSON.stringify(from)
        } instead`,
      );
    }
  }
  const argv = settings.command.kind === "sendmail"
    ? [settings.command.path, "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", from]
    : [...settings.command.argv];
  const lines = [
    `From: "(Cron Daemon)" <${from}>`,
    `To: ${to}`,
    `Subject: Cron <${oneLine(run.user)}@${oneLine(shortHostName(settings.hostname))}> ${
      oneLine(run.command)
    }`,
    "MIME-Version: 1.0",
    `Content-Type: ${
      env.CONTENT_TYPE === undefined ? "text/plain; charset=UTF-8" : oneLine(env.CONTENT_TYPE)
    }`,
    `Content-Transfer-Encoding: ${
      env.CONTENT_TRANSFER_ENCODING === undefined ? "8bit" : oneLine(env.CONTENT_TRANSFER_ENCODING)
    }`,
    "Auto-Submitted: auto-generated",
    "Precedence: bulk",
    ...Object.entries(env).map(([name, value]) => `X-Cron-Env: <${oneLine(`${name}=${value}`)}>`),
  ];
  return { send: true, argv, header: lines.join("\n") + "\n\n", notes };
}

/**
 * The output without its carriage returns, as cronie mails it: a bare CR in a
 * mail body is refused by some mail servers.
 *
 * @param bytes A piece of output.
 * @returns The same bytes without any 0x0D; the input itself when it has none.
 */
export function withoutCarriageReturns(bytes: Uint8Array): Uint8Array {
  let at = bytes.indexOf(0x0d);
  if (at < 0) return bytes;
  const out = new Uint8Array(bytes.length);
  out.set(bytes.subarray(0, at));
  let length = at;
  for (; at < bytes.length; at++) {
    const byte = bytes[at]!;
    if (byte !== 0x0d) out[length++] = byte;
  }
  return out.subarray(0, length);
}

/** What became of a run's output, as far as mail goes. */
export type MailOutcome =
  | { readonly kind: "no-output" }
  | {
    readonly kind: "not-mailed";
    /** Bytes of output the job wrote. */
    readonly bytes: number;
    /** Why, to log; null when no mail was asked for. */
    readonly reason: string | null;
    /** What would make it work, said after the reason. */
    readonly hint?: string;
  }
  | {
    readonly kind: "mailed";
    readonly bytes: number;
    /** How much of the output the mailer read before it stopped reading. */
    readonly taken: number;
    readonly code: number;
    readonly signal: string | null;
    /** The start of what the mailer wrote on stderr. */
    readonly stderr: string;
  };

function bytesOf(count: number): string {
  return `${count} byte${count === 1 ? "" : "s"} of output`;
}

/**
 * The log line for an outcome, or null when there is nothing to say (no output,
 * no mail asked for, or a mailer that took everything and exited 0).
 *
 * @param outcome What became of the output.
 * @returns One line, or null.
 *
 * @example
 * ```ts
 * import { describeMailOutcome } from "./mail.ts";
 *
 * const line = describeMailOutcome({
 *   kind: "mailed", bytes: 12, taken: 12, code: 75, signal: null, stderr: "no route\n",
 * });
 * if (line !== "mailed 12 bytes of output but the mailer exited with 75: no route") throw new Error(line!);
 * ```
 */
export function describeMailOutcome(outcome: MailOutcome): string | null {
  switch (outcome.kind) {
    case "no-output":
      return null;
    case "not-mailed":
      if (outcome.reason === null) return null;
      return `${outcome.reason}: ${bytesOf(outcome.bytes)} not mailed${
        outcome.hint === undefined ? "" : ` (${outcome.hint})`
      }`;
    case "mailed": {
      const said = outcome.stderr.trim().split("\n")[0] ?? "";
      const detail = said === "" ? "" : `: ${said}`;
      if (outcome.signal !== null) {
        return `mailed ${
          bytesOf(outcome.bytes)
        } but the mailer was killed by ${outcome.signal}${detail}`;
      }
      if (outcome.code !== 0) {
        return `mailed ${
          bytesOf(outcome.bytes)
        } but the mailer exited with ${outcome.code}${detail}`;
      }
      if (outcome.taken < outcome.bytes) {
        return `the mailer read only ${outcome.taken} of ${bytesOf(outcome.bytes)}${detail}`;
      }
      return null;
    }
  }
}

/**
 * Every log line about a run's mail: the plan's notes when a mail went out, then
 * what {@linkcode describeMailOutcome} says, if anything.
 *
 * @param plan The run's mail plan.
 * @param outcome What became of its output.
 * @returns The lines, often none.
 */
export function mailLog(plan: MailPlan, outcome: MailOutcome): string[] {
  const lines = plan.send && outcome.kind === "mailed" ? [...plan.notes] : [];
  const said = describeMailOutcome(outcome);
  if (said !== null) lines.push(said);
  return lines;
}
