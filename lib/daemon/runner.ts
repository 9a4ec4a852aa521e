/**
 * Running jobs: each in its own process group, output captured chunk by chunk
 * (capped) and mailed as cron mails it, every run recorded in the history when it
 * starts and when it ends, one log line for each. Jobs run concurrently; a job
 * still running when its next time comes simply starts again, as in cron.
 *
 * @module
 */

import { type ArgValue, fillArgs } from "../args.ts";
import type { KoitabJob } from "../koitab.ts";
import { jobLabel } from "../job_name.ts";
import { jobEnvironment } from "../runs/environment.ts";
import {
  newRunId,
  type RunEnd,
  runEnd,
  type RunRecorder,
  type RunStart,
  type Trigger,
} from "../runs/history.ts";
import { mailLog, type MailSettings, planMail } from "../runs/mail.ts";
import { OutputMail } from "../runs/mailer.ts";
import { OutputCapture, type OutputChunk } from "../output_cap.ts";
import type { RunUser } from "../runs/run_user.ts";
import { JobStartError, spawnJob, type UserSwitch } from "../runs/spawn.ts";

/**
 * The buffer each of a run's output streams is read into, over and over: small
 * while the run is quiet (1,000 runs at once wait on 2,000 reads), 64 KiB once a
 * read fills it.
 */
const READ_BUFFER_BYTES = { first: 1024, full: 64 * 1024 } as const;

/** A run to start. */
export interface RunRequest {
  readonly job: KoitabJob;
  readonly trigger: Trigger;
  /** Argument values; for scheduled runs, empty (defaults apply). */
  readonly values: Readonly<Record<string, ArgValue>>;
  /** The minute it was due, for scheduled runs. */
  readonly scheduledFor: number | null;
  /** A run id chosen by the caller (a manual run's), else one is made. */
  readonly id?: string;
}

/** What happens to a run, as it happens: for the dashboard link. */
export type RunEvent =
  | { readonly type: "start"; readonly run: RunStart }
  | { readonly type: "output"; readonly id: string; readonly chunk: OutputChunk }
  | { readonly type: "end"; readonly id: string; readonly end: RunEnd };

/** What the runner needs from the daemon. */
export interface RunnerOptions {
  /** Where runs are recorded: koid's `HistoryStore`, which never throws, or a `History`. */
  readonly history: RunRecorder;
  /**
   * The jobs' user; or, where it can change while koid runs, a function giving it
   * at each start, or why no run can start now.
   */
  readonly user: RunUser | (() => RunUser | string);
  /** koid's own environment; only locale variables pass to jobs. */
  readonly daemonEnv: Readonly<Record<string, string>>;
  /** util-linux `setpriv`, to switch users with their groups; null where there is none. */
  readonly setpriv: string | null;
  /** util-linux `setsid`, to start each job in its own session cheaply; null: Deno detaches. */
  readonly setsid?: string | null;
  readonly log: (line: string) => void;
  readonly now: () => number;
  /** The most output bytes kept per run. */
  readonly outputLimit: number;
  /** How output is mailed (`--mail-command`), and this machine's name for the Subject. */
  readonly mail: MailSettings;
  /** Called for every start, output chunk and end. */
  readonly onEvent?: (event: RunEvent) => void;
  /**
   * Whether a run starting now has its output decoded and sent to `onEvent` as it
   * comes (koid: only while a dashboard link is loaded); always when absent.
   */
  readonly liveOutput?: () => boolean;
}

/** A run that did not start, and what mailing its reason needs (null: no mail). */
interface NotStarted {
  readonly start: RunStart;
  readonly reason: string;
  readonly mail: Omit<Launched, "child"> | null;
}

/** A run just spawned: what its output needs. */
interface Launched {
  readonly start: RunStart;
  readonly child: Deno.ChildProcess;
  readonly job: KoitabJob;
  readonly user: RunUser;
  readonly env: Record<string, string>;
  readonly switchUser: UserSwitch | undefined;
}

interface Active {
  readonly id: string;
  readonly child: Deno.ChildProcess;
  readonly done: Promise<void>;
  readonly release: AbortController;
}

/** Starts runs and tracks them until they end. */
export class Runner {
  readonly #options: RunnerOptions;
  readonly #active = new Map<string, Active>();
  /** Mails of runs that did not start, still going to their mailer. */
  readonly #mailing = new Map<string, Pick<Active, "done" | "release">>();
  readonly #labels = new Map<string, string>();

  /** @param options The daemon's history, user, environment and log. */
  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  /** How many runs are going. */
  get active(): number {
    return this.#active.size;
  }

  /**
   * Starts runs in the order given, as fast as processes can be spawned, then
   * records their starts in one transaction.
   *
   * @param requests The runs to start.
   * @returns The ids of the runs, in order (including those that failed to start).
   */
  startAll(requests: readonly RunRequest[]): string[] {
    const starts: RunStart[] = [];
    const failures: NotStarted[] = [];
    const launched: Launched[] = [];
    const option = this.#options.user;
    const user = typeof option === "function" ? option() : option;
    for (const request of requests) {
      const now = this.#options.now();
      const start: RunStart = {
        id: request.id ?? newRunId(now),
        tag: request.job.tag,
        name: request.job.name,
        section: request.job.section,
        trigger: request.trigger,
        args: request.values,
        scheduledFor: request.scheduledFor,
        startedAt: now,
      };
      starts.push(start);
      this.#labels.set(start.id, jobLabel(request.job));
      if (typeof user === "string") {
        failures.push({ start, reason: user, mail: null });
        continue;
      }
      const env = jobEnvironment(request.job.env, user, this.#options.daemonEnv);
      const switchUser = user.switchUser
        ? {
          uid: user.uid,
          gid: user.gid,
          groups: user.groups,
          setpriv: this.#options.setpriv,
          initGroups: user.inPasswd !== false,
        }
        : undefined;
      try {
        const command = fillArgs(request.job, request.values);
        const child = spawnJob({
          command,
          stdin: request.job.stdin,
          env,
          ...(switchUser ? { switchUser } : {}),
        }, { output: "piped", ownGroup: true, setsid: this.#options.setsid ?? null });
        launched.push({ start, child, job: request.job, user, env, switchUser });
      } catch (error) {
        // A job that cannot start is mailed why, as cron mails its shell's exec error; an
        // argument value the job does not take is the manual run's mistake, not the job's.
        const mail = error instanceof JobStartError
          ? { start, job: request.job, user, env, switchUser }
          : null;
        failures.push({ start, reason: (error as Error).message, mail });
      }
    }
    this.#record(() => this.#options.history.recordStarts(starts), "the start of runs");
    for (const run of launched) this.#track(run);
    for (const { start, reason, mail } of failures) {
      const end: RunEnd = {
        finishedAt: this.#options.now(),
        exitCode: null,
        signal: null,
        status: "not-started",
        error: reason,
        chunks: [],
        outputBytes: 0,
      };
      this.#options.onEvent?.({ type: "start", run: start });
      this.#record(
        () => this.#options.history.recordEnd(start.id, start.tag, end),
        `the end of run ${start.id}`,
      );
      this.#options.log(`${this.#label(start.id)} did not start (run ${start.id}): ${reason}`);
      if (mail !== null) this.#mailReason(mail, reason);
      this.#labels.delete(start.id);
      this.#options.onEvent?.({ type: "end", id: start.id, end });
    }
    return starts.map((start) => start.id);
  }

  /** Records in the history; a recorder that throws (a plain `History`) costs a log line, never a run. */
  #record(write: () => void, what: string): void {
    try {
      write();
    } catch (error) {
      this.#options.log(`cannot record ${what}: ${(error as Error).message}`);
    }
  }

  /** Mails why a job did not start, as its output would have been. */
  #mailReason(
    { start, job, user, env, switchUser }: Omit<Launched, "child">,
    reason: string,
  ): void {
    const label = this.#label(start.id);
    const release = new AbortController();
    const plan = planMail({ user: user.name, command: job.command, env }, this.#options.mail);
    const mail = new OutputMail(plan, {
      env,
      ...(switchUser ? { switchUser } : {}),
      signal: release.signal,
    });
    const done = (async () => {
      await mail.write(new TextEncoder().encode(`${reason}\n`));
      for (const line of mailLog(plan, await mail.finish())) {
        this.#options.log(`${label} (run ${start.id}): ${line}`);
      }
      this.#mailing.delete(start.id);
    })();
    this.#mailing.set(start.id, { done, release });
  }

  #label(id: string): string {
    return this.#labels.get(id) ?? `run ${id}`;
  }

  #track({ start, child, job, user, env, switchUser }: Launched): void {
    const options = this.#options;
    options.log(
      `${this.#label(start.id)} started (run ${start.id}, ${start.trigger}, pid ${child.pid})`,
    );
    options.onEvent?.({ type: "start", run: start });
    const capture = new OutputCapture(options.outputLimit);
    // Aborted by stop() when killed processes that left the group still hold the pipes.
    const release = new AbortController();
    // The Subject shows the command as written: argument values never reach a header.
    const plan = planMail({ user: user.name, command: job.command, env }, options.mail);
    const mail = new OutputMail(plan, {
      env,
      ...(switchUser ? { switchUser } : {}),
      signal: release.signal,
    });
    const onEvent = options.liveOutput?.() === false ? undefined : options.onEvent;
    const emit = (name: "stdout" | "stderr", text: string) => {
      if (text) onEvent?.({ type: "output", id: start.id, chunk: { stream: name, text } });
    };
    const pump = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      // Each read fills the same buffer: 1 GB of output passes through 64 KiB, where a
      // fresh chunk per read would leave tens of MiB of dead buffers between collections.
      const reader = stream.getReader({ mode: "byob" });
      let buffer = new ArrayBuffer(READ_BUFFER_BYTES.first);
      const cancel = () => reader.cancel().catch(() => {});
      release.signal.addEventListener("abort", cancel, { once: true });
      try {
        while (true) {
          const { value, done } = await reader.read(new Uint8Array(buffer));
          if (done || value === undefined) break;
          // The capture copies what it keeps; the mailer has written it when write() returns.
          capture.add(name, value);
          if (onEvent) emit(name, decoder.decode(value, { stream: true }));
          await mail.write(value);
          buffer = value.length === READ_BUFFER_BYTES.first
            ? new ArrayBuffer(READ_BUFFER_BYTES.full)
            : value.buffer as ArrayBuffer;
        }
      } catch {
        // Cancelled by stop(): what was read is kept.
      } finally {
        release.signal.removeEventListener("abort", cancel);
      }
      if (onEvent) emit(name, decoder.decode());
    };
    const done = (async () => {
      const [status] = await Promise.all([
        child.status,
        pump(child.stdout, "stdout"),
        pump(child.stderr, "stderr"),
      ]);
      const finishedAt = options.now();
      // cronie's -n: the output is mailed only when the run fails.
      const mailed = job.mailOnlyOnFailure && status.success ? mail.discard() : mail.finish();
      const end = runEnd(status, capture, finishedAt);
      this.#record(
        () => options.history.recordEnd(start.id, start.tag, end),
        `the end of run ${start.id}`,
      );
      const outcome = status.signal === null ? `exit ${status.code}` : `killed by ${status.signal}`;
      const seconds = ((finishedAt - start.startedAt) / 1000).toFixed(1);
      options.log(`${this.#label(start.id)} ended (run ${start.id}): ${outcome} after ${seconds}s`);
      options.onEvent?.({ type: "end", id: start.id, end });
      for (const line of mailLog(plan, await mailed)) {
        options.log(`${this.#label(start.id)} (run ${start.id}): ${line}`);
      }
      this.#active.delete(start.id);
      this.#labels.delete(start.id);
    })();
    this.#active.set(start.id, { id: start.id, child, done, release });
  }

  /**
   * Waits for running jobs to end; after `graceMs`, stops the rest (their whole
   * process groups: SIGTERM, then SIGKILL 5 seconds later) and records them. Output
   * still held open a second after that, by a process that left the job's group,
   * is no longer waited for.
   *
   * @param graceMs How long running jobs may take to finish.
   * @returns When every run has ended and been recorded.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#active.size === 0 && this.#mailing.size === 0) return;
    if (this.#active.size > 0) {
      this.#options.log(`waiting up to ${graceMs / 1000}s for ${this.#active.size} running job(s)`);
    }
    const all = () =>
      Promise.all([...this.#active.values(), ...this.#mailing.values()].map((run) => run.done));
    if (await settlesWithin(all(), graceMs)) return;
    this.#signalAll("SIGTERM");
    if (await settlesWithin(all(), 5000)) return;
    this.#signalAll("SIGKILL");
    if (await settlesWithin(all(), 1000)) return;
    // What still holds a job's output open has left its group, out of any signal's reach.
    for (const run of [...this.#active.values(), ...this.#mailing.values()]) run.release.abort();
    await all();
  }

  #signalAll(signal: Deno.Signal): void {
    for (const run of this.#active.values()) {
      this.#options.log(`sending ${signal} to run ${run.id} (process group ${run.child.pid})`);
      try {
        Deno.kill(-run.child.pid, signal);
      } catch {
        // The group is already gone.
      }
    }
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const result = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return result;
}
