/**
 * A fake sendmail for tests: a script that records each invocation (argv, uid,
 * working directory and every byte of stdin) in a directory anyone may write,
 * then exits with a chosen status.
 *
 * @module
 */

/** What the fake mailer recorded of one invocation. */
export interface Received {
  readonly argv: string[];
  readonly uid: number;
  readonly cwd: string;
  readonly stdin: Uint8Array;
  /** Whether it read its input to the end and exited (a mailer killed before sends nothing). */
  readonly ended: boolean;
}

/**
 * A directory anyone may write and read, holding `sendmail`: a script that records
 * each invocation (argv, uid, directory, stdin), then exits with `status`.
 */
async function fakeMailer(status: number, extra: string): Promise<FakeMailer> {
  const dir = await Deno.makeTempDir({ prefix: "koi_fake_mail_" });
  await Deno.chmod(dir, 0o777);
  const path = `${dir}/sendmail`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
out=${dir}/mail.$$
printf '%s\\0' "$0" "$@" > "$out.argv"
id -u > "$out.uid"
pwd > "$out.cwd"
${extra}
cat > "$out.stdin"
: > "$out.ended"
exit ${status}
`,
  );
  await Deno.chmod(path, 0o755);
  return { dir, path };
}

/** Every invocation the fake mailer recorded, oldest pid first. */
export async function received(dir: string): Promise<Received[]> {
  const ids: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = /^mail\.([0-9]+)\.argv$/.exec(entry.name);
    if (match) ids.push(Number(match[1]));
  }
  ids.sort((a, b) => a - b);
  return await Promise.all(ids.map(async (id) => {
    const base = `${dir}/mail.${id}`;
    const argv = (await Deno.readTextFile(`${base}.argv`)).split("\0").slice(0, -1);
    return {
      argv,
      uid: Number((await Deno.readTextFile(`${base}.uid`)).trim()),
      cwd: (await Deno.readTextFile(`${base}.cwd`)).trim(),
      stdin: await Deno.readFile(`${base}.stdin`),
      ended: await Deno.stat(`${base}.ended`).then(() => true, () => false),
    };
  }));
}

/** The fake mailer: its directory (with the records) and its path. */
export interface FakeMailer {
  readonly dir: string;
  readonly path: string;
}

/**
 * Runs `fn` with a fresh fake mailer, removed afterwards.
 *
 * @param fn The test body.
 * @param options The mailer's exit status (0), and shell lines it runs before reading stdin.
 */
export async function withFakeMailer(
  fn: (mailer: FakeMailer) => Promise<void>,
  options: { status?: number; extra?: string } = {},
): Promise<void> {
  const mailer = await fakeMailer(options.status ?? 0, options.extra ?? "");
  try {
    await fn(mailer);
  } finally {
    await Deno.remove(mailer.dir, { recursive: true });
  }
}

/** What a mail's header is made of, as the tests expect it. */
export interface ExpectedMail {
  readonly from: string;
  readonly to: string;
  readonly user: string;
  /** The short host name. */
  readonly host: string;
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The header koid writes, spelled out line by line as cronie writes it, for the
 * default content type and transfer encoding.
 *
 * @param mail The mail's sender, recipient, user, host, command and environment.
 * @returns The header, ending in the blank line.
 */
export function expectedHeader(mail: ExpectedMail): string {
  const lines = [
    `From: "(Cron Daemon)" <${mail.from}>`,
    `To: ${mail.to}`,
    `Subject: Cron <${mail.user}@${mail.host}> ${mail.command}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "Auto-Submitted: auto-generated",
    "Precedence: bulk",
    ...Object.entries(mail.env).map(([name, value]) => `X-Cron-Env: <${name}=${value}>`),
  ];
  return lines.join("\n") + "\n\n";
}
