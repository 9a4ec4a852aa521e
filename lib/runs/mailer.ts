/**
 * Streaming one run's output into the mailer, as cron does: the mailer starts
 * when the first byte of output arrives, gets the header and then every byte
 * (carriage returns dropped) as it comes, and each piece is written before the
 * next is read, so memory stays flat however much the job writes.
 *
 * @module
 */

import { type MailOutcome, type MailPlan, withoutCarriageReturns } from "./mail.ts";
import { asJobUser, isExecutable, type UserSwitch } from "./spawn.ts";

/** How much of the mailer's stderr is kept for the log line. */
const STDERR_KEPT = 2048;

/** Where and as whom the mailer runs: as the job does. */
export interface MailerLaunch {
  /** The job's environment; the mailer gets it too. */
  readonly env: Readonly<Record<string, string>>;
  /** The job's user, when koid switches to it. */
  readonly switchUser?: UserSwitch;
  /** Aborting kills the mailer (koid is stopping and cannot wait any longer). */
  readonly signal?: AbortSignal;
}

type State =
  | { readonly kind: "waiting" }
  | { readonly kind: "discarding"; readonly reason: string | null; readonly hint?: string }
  | {
    readonly kind: "mailing";
    readonly child: Deno.ChildProcess;
    readonly writer: WritableStreamDefaultWriter<Uint8Array>;
    readonly stderr: Promise<string>;
  };

/** One run's output on its way to the mailer. */
export class OutputMail {
  readonly #plan: MailPlan;
  readonly #launch: MailerLaunch;
  #state: State = { kind: "waiting" };
  #bytes = 0;
  #taken = 0;
  /** The mailer stopped reading: the rest of the output is only counted. */
  #broken = false;
  #forgetAbort: (() => void) | null = null;

  /**
   * @param plan Whether and how to mail, from `planMail()`.
   * @param launch The job's environment and user, which the mailer runs with.
   */
  constructor(plan: MailPlan, launch: MailerLaunch) {
    this.#plan = plan;
    this.#launch = launch;
  }

  /**
   * Takes a piece of output. The first piece starts the mailer. Resolves once the
   * mailer has the bytes, so a slow mailer slows the reading of the job's output
   * as a pipe would; it never rejects.
   *
   * @param bytes Output, from stdout or stderr, in the order it arrived.
   * @returns When the bytes are written (or dropped).
   */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    this.#bytes += bytes.length;
    if (this.#state.kind === "waiting") this.#state = this.#start();
    const state = this.#state;
    if (state.kind !== "mailing" || this.#broken) return;
    const body = withoutCarriageReturns(bytes);
    try {
      if (body.length > 0) await state.writer.write(body);
      this.#taken += bytes.length;
    } catch {
      this.#broken = true;
    }
  }

  #start(): State {
    const plan = this.#plan;
    if (!plan.send) {
      return plan.hint === undefined
        ? { kind: "discarding", reason: plan.reason }
        : { kind: "discarding", reason: plan.reason, hint: plan.hint };
    }
    const env = this.#launch.env;
    const [name, ...rest] = plan.argv as [string, ...string[]];
    const program = findProgram(name, env.PATH ?? "");
    if (program === null) {
      return {
        kind: "discarding",
        reason: "no mailer",
        hint: `${
          name.includes("/") ? `${name} does not exist` : `no ${name} in the job's PATH`
        }: install one, or name another with --mail-command`,
      };
    }
    const command = asJobUser([program, ...rest], this.#launch.switchUser);
    const [file, ...args] = command.argv as [string, ...string[]];
    const options: Deno.CommandOptions = {
      args,
      clearEnv: true,
      env: { ...env },
      cwd: mailerDirectory(env.HOME),
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    };
    if (command.uid !== undefined) options.uid = command.uid;
    if (command.gid !== undefined) options.gid = command.gid;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(file, options).spawn();
    } catch (error) {
      return {
        kind: "discarding",
        reason: `the mailer ${JSON.stringify(plan.argv.join(" "))} could not start (${
          (error as Error).message
        })`,
      };
    }
    const writer = child.stdin.getWriter();
    const signal = this.#launch.signal;
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      writer.abort().catch(() => {});
    };
    if (signal?.aborted) queueMicrotask(kill);
    signal?.addEventListener("abort", kill, { once: true });
    this.#forgetAbort = () => signal?.removeEventListener("abort", kill);
    // The header goes first; write() queues the output behind it.
    writer.write(new TextEncoder().encode(plan.header)).catch(() => this.#broken = true);
    return { kind: "mailing", child, writer, stderr: readSome(child.stderr, STDERR_KEPT) };
  }

  /**
   * Drops the mail once the job's output has ended, as cronie does for a job with
   * `-n` that succeeded: a mailer already started is killed before its input
   * ends, so it sends nothing.
   *
   * @returns The output, not mailed, with nothing to log.
   */
  async discard(): Promise<MailOutcome> {
    const state = this.#state;
    if (state.kind === "waiting") return { kind: "no-output" };
    if (state.kind === "mailing") {
      try {
        state.child.kill("SIGKILL");
      } catch {
        // Gone already.
      }
      await state.writer.abort().catch(() => {});
      await Promise.all([state.child.status, state.stderr]);
      this.#forgetAbort?.();
    }
    return { kind: "not-mailed", bytes: this.#bytes, reason: null };
  }

  /**
   * Ends the mail once the job's output has ended: closes the mailer's input and
   * waits for it to exit.
   *
   * @returns What became of the output.
   */
  async finish(): Promise<MailOutcome> {
    const state = this.#state;
    switch (state.kind) {
      case "waiting":
        return { kind: "no-output" };
      case "discarding":
        return state.hint === undefined
          ? { kind: "not-mailed", bytes: this.#bytes, reason: state.reason }
          : { kind: "not-mailed", bytes: this.#bytes, reason: state.reason, hint: state.hint };
      case "mailing": {
        await state.writer.close().catch(() => {});
        const [status, stderr] = await Promise.all([state.child.status, state.stderr]);
        this.#forgetAbort?.();
        return {
          kind: "mailed",
          bytes: this.#bytes,
          taken: this.#taken,
          code: status.code,
          signal: status.signal,
          stderr,
        };
      }
    }
  }
}

/** The job's HOME, where the mailer runs as cron's does; `/` when it is not there (the job could not start). */
function mailerDirectory(home: string | undefined): string {
  try {
    if (home && Deno.statSync(home).isDirectory) return home;
  } catch {
    // Missing: the mailer still runs, from the root.
  }
  return "/";
}

/**
 * The path of a program as `execvp` finds it: a name with a slash as it is, else
 * the first executable file of that name in PATH; null when there is none.
 */
function findProgram(name: string, path: string): string | null {
  if (name.includes("/")) return isExecutable(name) ? name : null;
  for (const dir of path.split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** Reads a stream to its end, keeping only its first `limit` bytes as text. */
async function readSome(stream: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const kept = new Uint8Array(limit);
  let length = 0;
  try {
    for await (const chunk of stream) {
      const room = limit - length;
      if (room > 0) {
        kept.set(chunk.subarray(0, room), length);
        length += Math.min(room, chunk.length);
      }
    }
  } catch {
    // The mailer was killed: what it said so far is enough.
  }
  return new TextDecoder().decode(kept.subarray(0, length));
}
