/**
 * A real SMTP server on loopback for mail tests: `tests/_smtp_server.py`, run by
 * Debian's python3 with aiosmtpd, which writes down every message it accepts.
 *
 * @module
 */

import { assert } from "./_assert.ts";

/** Debian's python, which has aiosmtpd (a python3 earlier on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/**
 * Why the SMTP server cannot run here, or null when it can.
 *
 * @returns The reason, for a test's skip note.
 */
export async function smtpServerMissing(): Promise<string | null> {
  try {
    const { success } = await new Deno.Command(PYTHON, {
      args: ["-c", "import aiosmtpd"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return null;
  } catch {
    // No python at all.
  }
  return `${PYTHON} has no aiosmtpd (apt-get install python3-aiosmtpd; .ci/run does)`;
}

/** One message the SMTP server accepted. */
export interface Delivered {
  readonly mailFrom: string;
  readonly rcptTos: string[];
  /** The user that logged in, or null. */
  readonly login: string | null;
  readonly content: Uint8Array;
}

/** A running SMTP server. */
export interface SmtpServer {
  readonly port: number;
  /** Waits until `count` messages have arrived (30 s at most) and returns them in order. */
  messages(count: number): Promise<Delivered[]>;
}

/**
 * Runs `fn` with the SMTP server listening on a free loopback port; stops it afterwards.
 *
 * @param fn The test.
 * @param args Options of `_smtp_server.py`: `--starttls CERT KEY`, `--auth USER PASSWORD`, …
 */
export async function withSmtpServer(
  fn: (server: SmtpServer) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_smtp_" });
  const child = new Deno.Command(PYTHON, {
    args: [new URL("_smtp_server.py", import.meta.url).pathname, dir, ...args],
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
            login: meta.login ?? null,
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
