/**
 * koid under load: start latency with 10,000 jobs, 1,000 jobs due in one minute,
 * the real daemon idle with 10,000 jobs, and its memory while a job writes 1 GB,
 * with mail off and with all of it mailed.
 *
 * A script, not a `deno bench` file. Run from the repository root:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env --allow-sys=uid bench/koid_load.ts
 * ```
 *
 * Options: `--json` prints the figures as one JSON object (progress goes to stderr);
 * `--quick` shrinks every sample count and duration for a smoke run (~25 s instead
 * of ~2 minutes).
 *
 * 1. Start latency: the real Daemon and Runner in-process, on a shifted clock whose
 *    offset jumps before each wait so that the next minute is 300 ms away; latency
 *    is a run's `startedAt - scheduledFor` on that clock.
 * 2. 1,000 jobs due at once: the same, one minute; due instant → the last start
 *    event, beside a bare loop spawning 1,000 `/bin/sh -c true`.
 *
 *    Each in-process measurement (1, and each repetition of 2 and of its bare loop)
 *    runs in a fresh copy of this script (`--phase=…`, internal), as spawning slows
 *    down with the RSS a process has built up.
 * 3. and 4. The real `koid.ts`, run with the flags of `deno task koid` in a
 *    temporary `KOI_DIR`, sampled through `/proc/<pid>/status` (VmRSS, RssFile),
 *    `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/task/<pid>/status` (the
 *    main thread's voluntary context switches: each wake of its event loop), read
 *    with `/bin/cat` since Deno opens `/proc/<pid>/` only to `--allow-all`.
 *    3 runs koid with 10 jobs, koid with 10,000, and a bare `deno run` of an idle
 *    script with koid's flags (the runtime's floor) side by side for a minute,
 *    while this process runs the Daemon alone on the real clock, its timers
 *    counted. The 1 GB job is `@reboot sleep 2; head -c 1000000000 /dev/zero`, then
 *    the same with `yes` (text): the sleep gives the baseline, and the peak is taken
 *    up to a second after the run ends, its output kept in `history.db`. Beside
 *    each, a bare `deno run` with koid's flags reads the same output through one
 *    reused buffer, sampled alike: the runtime's floor for the stream.
 * 5. As 4, with the output mailed through `--mail-command` to a script that skips
 *    the header and counts the rest, which must be every byte the job wrote.
 *
 * The report opens with issue 15's targets, each beside its figure.
 *
 * @module
 */

import { readLines } from "../tools/lines.ts";
import { type Clock, wallClock } from "../lib/daemon/clock.ts";
import { Daemon } from "../lib/daemon/daemon.ts";
import { History, type RunRecord } from "../lib/runs/history.ts";
import { DEFAULT_OUTPUT_LIMIT } from "../lib/output_cap.ts";
import { chooseRunUser, type RunUser } from "../lib/runs/run_user.ts";
import { type RunEvent, Runner } from "../lib/daemon/runner.ts";
import { koiPaths } from "../lib/koidir.ts";
import { parsePasswd } from "../lib/users.ts";
import { entryFlags } from "../tools/task_flags.ts";
import { Wakeup } from "../lib/wakeup.ts";

const MINUTE_MS = 60_000;
const CLOCK_TICKS = 100; // USER_HZ on Linux.
const MIB = 1024 * 1024;
const GOAL_MS = 50;
/** How far the next minute is, in real time, after each jump of the shifted clock. */
const LEAD_MS = 300;
/** The virtual instant the in-process daemons start at: mid-year, mid-minute, in UTC. */
const VIRTUAL_START = Date.UTC(2026, 5, 15, 10, 0, 30);

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);
/** The permissions this script runs with, and gives the copies of itself it starts. */
const HARNESS_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys=uid",
];
/** The in-process measurements, each run in a fresh copy of this script (`--phase=…`). */
const PHASES = ["latency", "same-minute", "bare-spawn", "bare-setsid"] as const;
type Phase = typeof PHASES[number];

const json = Deno.args.includes("--json");
const quick = Deno.args.includes("--quick");
let phase: Phase | null = null;
for (const arg of Deno.args) {
  const name = arg.startsWith("--phase=") ? arg.slice("--phase=".length) : null;
  if (name !== null && (PHASES as readonly string[]).includes(name)) {
    phase = name as Phase;
  } else if (arg !== "--json" && arg !== "--quick") {
    console.error(`koid_load: unknown option "${arg}" (expected --json, --quick)`);
    Deno.exit(2);
  }
}

const config = {
  latency: { jobs: 10_000, duePerMinute: 10, minutes: quick ? 1 : 60 },
  sameMinute: { jobs: 1000, repetitions: quick ? 1 : 3 },
  idle: { jobs: 10_000, settleMs: quick ? 1000 : 2000, seconds: quick ? 10 : 60 },
  bigOutput: { bytes: quick ? 100_000_000 : 1_000_000_000, sleepSeconds: 2 },
};

// ---------------------------------------------------------------------------
// Helpers

/** Things to undo on exit, newest first: processes to stop, directories to remove. */
const cleanups: (() => Promise<void>)[] = [];

async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error(`koid_load: cleanup failed: ${(error as Error).message}`);
    }
  }
}

function progress(line: string): void {
  console.error(`koid_load: ${line}`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "koid_load_" });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  return dir;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * Reads files of `/proc/<pid>/`. Deno refuses them to `--allow-read` (even
 * `--allow-read=/proc`: only `--allow-all` opens them), so `cat` reads them.
 */
async function readProc(pid: number, ...names: string[]): Promise<string[] | null> {
  const paths = names.map((name) => `/proc/${pid}/${name}`);
  const { success, stdout } = await new Deno.Command("/bin/cat", {
    args: paths,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) return null;
  // Both files end in a newline; status is many lines, stat one.
  const text = new TextDecoder().decode(stdout);
  if (names.length === 1) return [text];
  const stat = names.indexOf("stat");
  const lines = text.trimEnd().split("\n");
  const statLine = stat === names.length - 1 ? lines.pop()! : lines.shift()!;
  return names.map((name) => name === "stat" ? statLine : lines.join("\n"));
}

/** VmRSS in bytes, from the text of `/proc/<pid>/status`. */
function parseRss(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error("no VmRSS in /proc/<pid>/status");
  return Number(match[1]) * 1024;
}

/** utime + stime of the whole process in clock ticks, from the text of `/proc/<pid>/stat`. */
function parseCpuTicks(stat: string): number {
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** VmRSS in bytes, or null once the process is gone. */
async function readRss(pid: number): Promise<number | null> {
  const [status] = await readProc(pid, "status") ?? [];
  return status === undefined ? null : parseRss(status);
}

/** An RSS sample: `performance.now()` and VmRSS in bytes. */
interface RssSample {
  readonly t: number;
  readonly rss: number;
}

/**
 * Samples a process's RSS every 100 ms until `done()` says so, adding to `samples`.
 *
 * @returns `samples`.
 */
async function sampleRss(
  pid: number,
  done: () => boolean,
  samples: RssSample[] = [],
): Promise<RssSample[]> {
  while (!done()) {
    const rss = await readRss(pid);
    if (rss !== null) samples.push({ t: performance.now(), rss });
    await delay(100);
  }
  return samples;
}

/**
 * `count` jobs, of which `due` run every minute (`* * * * * true`, spread through
 * the table) and the rest at fixed times in `month` (`m h d month *`), all different
 * where possible, which do not come during the bench.
 */
function koitab(count: number, due: number, month: number): string {
  const every = due > 0 ? Math.floor(count / due) : Infinity;
  const lines: string[] = [];
  let fixed = 0;
  for (let i = 0; i < count; i++) {
    if (i % every === 0 && i / every < due) {
      lines.push("* * * * * true");
    } else {
      const m = fixed % 60;
      const h = Math.floor(fixed / 60) % 24;
      const d = 1 + Math.floor(fixed / 1440) % 28;
      lines.push(`${m} ${h} ${d} ${month} * echo job-${fixed}`);
      fixed++;
    }
  }
  return lines.join("\n") + "\n";
}

/** The clock the in-process daemons run on: `now()` is `Date.now() + offset`. */
class ShiftedClock implements Clock {
  #offset: number;
  /** How late each wait for a whole minute ended, ms past the minute. */
  readonly minuteWakes: number[] = [];

  /** @param start The virtual instant to start at. */
  constructor(start: number) {
    this.#offset = start - Date.now();
  }

  now = (): number => Date.now() + this.#offset;

  /**
   * Jumps so that `until` is at most {@linkcode LEAD_MS} away, then waits for it in
   * real time. The daemon sleeps right after starting a minute's runs, so each
   * minute passes in a third of a second.
   */
  sleepUntil(until: number, signal: AbortSignal): Promise<void> {
    const remaining = until - this.now();
    if (remaining > LEAD_MS) {
      this.#offset += remaining - LEAD_MS;
    }
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(() => {
        if (until % MINUTE_MS === 0) this.minuteWakes.push(this.now() - until);
        done();
      }, Math.max(0, until - this.now()));
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}

/** A Daemon and Runner in this process, over a table in a temporary KOI_DIR. */
class InProcessKoid {
  readonly clock = new ShiftedClock(VIRTUAL_START);
  readonly history: History;
  readonly runner: Runner;
  readonly daemon: Daemon;
  #running: Promise<void> | null = null;

  private constructor(dir: string, user: RunUser, onEvent: (event: RunEvent) => void) {
    const paths = koiPaths(dir);
    // koid logs each line to stderr; write them to /dev/null the same way.
    const devNull = Deno.openSync("/dev/null", { write: true });
    cleanups.push(() => Promise.resolve(devNull.close()));
    const encoder = new TextEncoder();
    const log = (line: string) => devNull.writeSync(encoder.encode(`koid: ${line}\n`));
    this.history = new History(paths.history);
    this.runner = new Runner({
      history: this.history,
      user,
      daemonEnv: Deno.env.toObject(),
      setpriv: null,
      // As koid does on Linux: util-linux setsid gives each job its own session without forking.
      setsid: Deno.build.os === "linux" ? "/usr/bin/setsid" : null,
      log,
      now: this.clock.now,
      outputLimit: DEFAULT_OUTPUT_LIMIT,
      mail: { command: { kind: "off" }, hostname: "bench" },
      onEvent,
    });
    this.daemon = new Daemon({
      paths,
      clock: this.clock,
      runner: this.runner,
      localZone: "UTC",
      log,
      bootId: () => Promise.resolve("bench"),
    });
  }

  static async create(table: string, onEvent: (event: RunEvent) => void): Promise<InProcessKoid> {
    const dir = await tempDir();
    await Deno.writeTextFile(koiPaths(dir).koitab, table, { mode: 0o600 });
    return new InProcessKoid(dir, await runUser(), onEvent);
  }

  start(): void {
    this.#running = this.daemon.run();
  }

  /** Stops scheduling, waits for running jobs, closes the history. */
  async stop(): Promise<void> {
    this.daemon.stop();
    await this.#running;
    await this.runner.stop(60_000);
    this.history.close();
  }
}

async function runUser(): Promise<RunUser> {
  const accounts = parsePasswd(await Deno.readTextFile("/etc/passwd"));
  return chooseRunUser(null, accounts, Deno.uid() ?? 0).user;
}

interface Line {
  /** performance.now() when the harness read it. */
  readonly t: number;
  readonly text: string;
}

/** The real koid, run as `deno task koid` runs it, its stderr read line by line. */
class KoidProcess {
  readonly child: Deno.ChildProcess;
  readonly spawnedAt = performance.now();
  readonly lines: Line[] = [];
  readonly #reading: Promise<void>;
  #checks: (() => void)[] = [];
  #exited = false;

  constructor(flags: readonly string[], koiDir: string, args: readonly string[] = []) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, `${rootPath}koid.ts`, ...args],
      cwd: rootPath,
      env: { KOI_DIR: koiDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#reading = this.#read();
    this.child.status.then(() => {
      this.#exited = true;
      for (const check of [...this.#checks]) check();
    });
    cleanups.push(() => this.stop());
  }

  get pid(): number {
    return this.child.pid;
  }

  async #read(): Promise<void> {
    for await (const text of readLines(this.child.stderr)) {
      this.lines.push({ t: performance.now(), text });
      for (const check of [...this.#checks]) check();
    }
  }

  /** The first line (already read or to come) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<Line> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error("timed out")), timeoutMs);
      const check = () => {
        const line = this.lines.find((line) => pattern.test(line.text));
        if (line) finish(null, line);
        else if (this.#exited) finish(new Error("koid exited"));
      };
      const finish = (error: Error | null, line?: Line) => {
        clearTimeout(timer);
        this.#checks = this.#checks.filter((c) => c !== check);
        if (line) return resolve(line);
        const tail = this.lines.slice(-10).map((l) => `  ${l.text}`).join("\n");
        reject(new Error(`${error!.message} waiting for ${pattern} from koid; stderr:\n${tail}`));
      };
      this.#checks.push(check);
      check();
    });
  }

  /** SIGTERM, then waits for koid to exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      try {
        await withTimeout(this.child.status, 20_000, "koid to stop");
      } catch {
        this.child.kill("SIGKILL");
      }
    }
    await this.child.status;
    await this.#reading;
  }
}

// ---------------------------------------------------------------------------
// 1. Start latency with 10,000 jobs

interface LatencyResult {
  readonly jobs: number;
  readonly duePerMinute: number;
  readonly minutes: number;
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The first run of each minute: the loop's own delay, before any other spawn. */
  readonly firstRunP50Ms: number;
  readonly firstRunMaxMs: number;
  /** The clock's timer: how late the daemon woke after each minute began. */
  readonly wakeP50Ms: number;
  readonly wakeMaxMs: number;
  readonly goalMs: number;
  readonly goalMet: boolean;
  readonly realSeconds: number;
  /** The RSS of the process the daemon ran in, at the end. */
  readonly processRssMiB: number;
}

async function startLatency(): Promise<LatencyResult> {
  const { jobs, duePerMinute, minutes } = config.latency;
  const target = minutes * duePerMinute;
  const latencies: number[] = [];
  const firsts = new Map<number, number>();
  let collected!: () => void;
  const done = new Promise<void>((resolve) => collected = resolve);
  const koid: InProcessKoid = await InProcessKoid.create(
    koitab(jobs, duePerMinute, 1),
    (event) => {
      if (event.type !== "start" || event.run.scheduledFor === null) return;
      if (latencies.length >= target) return;
      const latency = event.run.startedAt - event.run.scheduledFor;
      latencies.push(latency);
      if (!firsts.has(event.run.scheduledFor)) firsts.set(event.run.scheduledFor, latency);
      if (latencies.length === target) {
        koid.daemon.stop();
        collected();
      }
    },
  );
  const started = performance.now();
  koid.start();
  try {
    await withTimeout(done, 30_000 + minutes * 5_000, "the latency samples");
  } finally {
    await koid.stop();
  }
  const p99 = percentile(latencies, 0.99);
  return {
    jobs,
    duePerMinute,
    minutes: firsts.size,
    samples: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: p99,
    maxMs: Math.max(...latencies),
    firstRunP50Ms: percentile([...firsts.values()], 0.5),
    firstRunMaxMs: Math.max(...firsts.values()),
    wakeP50Ms: percentile(koid.clock.minuteWakes, 0.5),
    wakeMaxMs: Math.max(...koid.clock.minuteWakes),
    goalMs: GOAL_MS,
    goalMet: p99 <= GOAL_MS,
    realSeconds: round((performance.now() - started) / 1000),
    processRssMiB: round(Deno.memoryUsage().rss / MIB),
  };
}

// ---------------------------------------------------------------------------
// 2. 1,000 jobs due in the same minute

interface SameMinuteResult {
  readonly jobs: number;
  readonly repetitions: number;
  /** Due instant → the last start event, each repetition. */
  readonly koidMs: number[];
  /** Due instant → the latest `startedAt` (before the history write), each repetition. */
  readonly koidLastSpawnMs: number[];
  /** Due instant → the last end event, each repetition. */
  readonly koidAllEndedMs: number[];
  /** The RSS of the process the daemon ran in, after each repetition. */
  readonly koidRssMiB: number[];
  /** The bare spawn loop, each repetition. */
  readonly bareMs: number[];
  /** The bare loop's start → every status awaited, each repetition. */
  readonly bareAllEndedMs: number[];
  /** The bare loop through `setsid`, as koid starts jobs, each repetition. */
  readonly setsidMs: number[];
  readonly setsidMedianMs: number;
  /** koid's median over the loop through `setsid`: koid's own share. */
  readonly setsidRatio: number;
  readonly koidMedianMs: number;
  readonly bareMedianMs: number;
  /** koid's median over the bare loop's. */
  readonly ratio: number;
}

/** util-linux setsid, which koid starts each job through on Linux (its own session). */
const SETSID = "/usr/bin/setsid";

/**
 * A bare loop of `count` spawns of `/bin/sh -c true`, or of the same through
 * `setsid` as koid starts jobs: the second exec is the wrapper's price, not koid's.
 */
async function bareSpawnLoop(
  count: number,
  setsid: boolean,
): Promise<{ spawnMs: number; allMs: number }> {
  const [program, ...args] = [...(setsid ? [SETSID] : []), "/bin/sh", "-c", "true"];
  const started = performance.now();
  const children: Deno.ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(
      new Deno.Command(program!, { args, stdout: "piped", stderr: "piped" }).spawn(),
    );
  }
  const spawnMs = performance.now() - started;
  await Promise.all(children.map(async (child) => {
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
  }));
  return { spawnMs, allMs: performance.now() - started };
}

interface KoidMinute {
  readonly lastEventMs: number;
  readonly lastSpawnMs: number;
  readonly allEndedMs: number;
  readonly processRssMiB: number;
}

async function koidSameMinute(count: number): Promise<KoidMinute> {
  let starts = 0;
  let ends = 0;
  let due = 0;
  let lastEventMs = 0;
  let lastSpawnMs = 0;
  let allEnded!: () => void;
  const ended = new Promise<void>((resolve) => allEnded = resolve);
  let allEndedMs = 0;
  const koid: InProcessKoid = await InProcessKoid.create(
    "* * * * * true\n".repeat(count),
    (event) => {
      if (event.type === "start") {
        if (event.run.scheduledFor === null) return;
        due = event.run.scheduledFor;
        lastSpawnMs = Math.max(lastSpawnMs, event.run.startedAt - due);
        if (++starts === count) {
          lastEventMs = koid.clock.now() - due;
          koid.daemon.stop(); // Only this minute.
        }
      } else if (event.type === "end" && ++ends === count) {
        allEndedMs = koid.clock.now() - due;
        allEnded();
      }
    },
  );
  koid.start();
  try {
    await withTimeout(ended, 120_000, `${count} runs of one minute to end`);
  } finally {
    await koid.stop();
  }
  return {
    lastEventMs,
    lastSpawnMs,
    allEndedMs,
    processRssMiB: round(Deno.memoryUsage().rss / MIB),
  };
}

async function sameMinute(v8Flags: readonly string[]): Promise<SameMinuteResult> {
  const { jobs, repetitions } = config.sameMinute;
  progress(`2. ${jobs} jobs due in one minute, ${repetitions} repetition(s)`);
  const koidMs: number[] = [];
  const koidLastSpawnMs: number[] = [];
  const koidAllEndedMs: number[] = [];
  const bareMs: number[] = [];
  const bareAllEndedMs: number[] = [];
  const setsidMs: number[] = [];
  const koidRssMiB: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const bare = await runPhase<{ spawnMs: number; allMs: number }>("bare-spawn", v8Flags);
    bareMs.push(round(bare.spawnMs));
    bareAllEndedMs.push(round(bare.allMs));
    await delay(500);
    const wrapped = await runPhase<{ spawnMs: number }>("bare-setsid", v8Flags);
    setsidMs.push(round(wrapped.spawnMs));
    await delay(500);
    const koid = await runPhase<KoidMinute>("same-minute", v8Flags);
    koidMs.push(koid.lastEventMs);
    koidLastSpawnMs.push(koid.lastSpawnMs);
    koidAllEndedMs.push(koid.allEndedMs);
    koidRssMiB.push(koid.processRssMiB);
    await delay(500);
  }
  const koidMedianMs = median(koidMs);
  const bareMedianMs = round(median(bareMs));
  return {
    jobs,
    repetitions,
    koidMs,
    koidLastSpawnMs,
    koidAllEndedMs,
    koidRssMiB,
    bareMs,
    bareAllEndedMs,
    koidMedianMs,
    bareMedianMs,
    ratio: round(koidMedianMs / bareMedianMs, 2),
    setsidMs,
    setsidMedianMs: round(median(setsidMs)),
    setsidRatio: round(koidMedianMs / median(setsidMs), 2),
  };
}

// ---------------------------------------------------------------------------
// 3. The real koid idle, with 10 and with 10,000 jobs, beside the runtime's floor

/** One idle process over the minute: its RSS and CPU, and how often its main thread woke. */
interface IdleProcess {
  /** The RSS at the end of the minute. */
  readonly rssEndMiB: number;
  readonly rssMeanMiB: number;
  readonly rssMaxMiB: number;
  /** The resident pages of the `deno` executable and libraries, shared and clean (`RssFile`). */
  readonly rssFileEndMiB: number;
  readonly cpuPercent: number;
  /** Voluntary context switches of the main thread per minute: every wake from its event loop. */
  readonly mainThreadWakesPerMinute: number;
}

interface IdleResult {
  readonly seconds: number;
  /** koid with 10 jobs. */
  readonly small: IdleProcess & { readonly jobs: number };
  /** koid with 10,000 jobs. */
  readonly large: IdleProcess & {
    readonly jobs: number;
    /** Spawn → the "loaded … job(s)" line. */
    readonly startupMs: number;
  };
  /** A bare `deno run` of an idle script (one 60 s interval), with koid's flags. */
  readonly floor: IdleProcess;
  /**
   * The same script having used what koid cannot do without: a SQLite database in
   * WAL mode, one process spawned, a watched directory and a signal listener.
   */
  readonly featureFloor: IdleProcess;
  /** The daemon's timers that ran out in the same minute, counted on its clock (in this process). */
  readonly daemonTimers: number;
  readonly minuteBoundaries: number;
  /** Runs koid started during the measurement (should be none). */
  readonly runsStarted: number;
}

/** A month six months from now, so fixed-time jobs in it do not come during the bench. */
function farMonth(): number {
  return (new Date().getMonth() + 6) % 12 + 1;
}

/** RSS, RssFile, CPU ticks and the main thread's voluntary context switches of a process. */
async function readIdleSample(pid: number) {
  const texts = await readProc(pid, "status", "stat");
  // The process's status counts every thread's switches; its main task's, the main thread's.
  const [main] = await readProc(pid, `task/${pid}/status`) ?? [];
  if (texts === null || main === undefined) {
    throw new Error(`process ${pid} exited during the idle measurement`);
  }
  const [status, stat] = texts as [string, string];
  const file = /^RssFile:\s+(\d+) kB$/m.exec(status);
  const switches = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(main);
  return {
    t: performance.now(),
    rss: parseRss(status),
    rssFile: Number(file?.[1] ?? 0) * 1024,
    ticks: parseCpuTicks(stat),
    wakes: Number(switches?.[1] ?? 0),
  };
}

/** Samples processes once a second for `seconds`; each one's figures. */
async function sampleIdle(pids: readonly number[], seconds: number): Promise<IdleProcess[]> {
  const first = await Promise.all(pids.map(readIdleSample));
  const samples = first.map((sample) => [sample]);
  const started = performance.now();
  for (let second = 1; second <= seconds; second++) {
    await delay(Math.max(0, started + second * 1000 - performance.now()));
    const now = await Promise.all(pids.map(readIdleSample));
    now.forEach((sample, i) => samples[i]!.push(sample));
  }
  return samples.map((series) => {
    const a = series[0]!;
    const z = series.at(-1)!;
    const minutes = (z.t - a.t) / MINUTE_MS;
    const rss = series.map((s) => s.rss);
    return {
      rssEndMiB: round(z.rss / MIB),
      rssMeanMiB: round(rss.reduce((x, y) => x + y, 0) / rss.length / MIB),
      rssMaxMiB: round(Math.max(...rss) / MIB),
      rssFileEndMiB: round(z.rssFile / MIB),
      cpuPercent: round((z.ticks - a.ticks) / CLOCK_TICKS / (minutes * 60) * 100, 3),
      mainThreadWakesPerMinute: round((z.wakes - a.wakes) / minutes),
    };
  });
}

/** The runtime with what koid cannot do without used once, then idle; its directory is its argument. */
const FEATURE_FLOOR_SCRIPT = `import { DatabaseSync } from "node:sqlite";
const dir = Deno.args[0];
const db = new DatabaseSync(dir + "/floor.db");
db.exec("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS t (a TEXT)");
db.prepare("INSERT INTO t VALUES (?)").run("x");
await new Deno.Command("/bin/true").output();
Deno.watchFs(dir);
Deno.addSignalListener("SIGHUP", () => {});
setInterval(() => {}, 60_000);
`;

/** An idle `deno run` with the given flags: the runtime's floor. */
class FloorProcess {
  readonly child: Deno.ChildProcess;

  constructor(flags: readonly string[], script: string, args: readonly string[] = []) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script, ...args],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    cleanups.push(() => this.stop());
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.child.status;
  }
}

/**
 * The daemon alone in this process, over a table whose runs are months away, on the
 * real clock with its timers counted: how often koid's own timers wake it while idle.
 */
async function countDaemonTimers(signal: AbortSignal): Promise<number> {
  const dir = await tempDir();
  const paths = koiPaths(dir);
  await Deno.writeTextFile(paths.koitab, koitab(10, 0, farMonth()), { mode: 0o600 });
  let fired = 0;
  const clock = wallClock({
    now: () => Date.now(),
    wait: async (ms, stop) => {
      const timedOut = !(await new Wakeup().wait(ms, stop));
      if (timedOut && !stop.aborted) fired++;
    },
  });
  const daemon = new Daemon({
    paths,
    clock,
    runner: { startAll: (requests) => requests.map(() => "never") },
    localZone: "UTC",
    log: () => {},
    bootId: () => Promise.resolve("bench"),
  });
  const running = daemon.run();
  signal.addEventListener("abort", () => daemon.stop(), { once: true });
  await running;
  return fired;
}

async function idle(flags: readonly string[]): Promise<IdleResult> {
  const { jobs, settleMs, seconds } = config.idle;
  progress(
    `3. koid idle with 10 and with ${jobs} jobs, and a bare deno with koid's flags, for ${seconds} s`,
  );
  const smallDir = await tempDir();
  const largeDir = await tempDir();
  await Deno.writeTextFile(koiPaths(smallDir).koitab, koitab(10, 0, farMonth()), { mode: 0o600 });
  await Deno.writeTextFile(koiPaths(largeDir).koitab, koitab(jobs, 0, farMonth()), {
    mode: 0o600,
  });
  const floorScript = `${smallDir}/floor.ts`;
  await Deno.writeTextFile(floorScript, "setInterval(() => {}, 60_000);\n");
  const featureDir = await tempDir();
  const featureScript = `${featureDir}/features.ts`;
  await Deno.writeTextFile(featureScript, FEATURE_FLOOR_SCRIPT);
  const small = new KoidProcess(flags, smallDir, ["--grace", "5"]);
  const large = new KoidProcess(flags, largeDir, ["--grace", "5"]);
  const floor = new FloorProcess(flags, floorScript);
  const featureFloor = new FloorProcess(flags, featureScript, [featureDir]);
  await small.waitFor(/loaded .*: 10 job\(s\)/, 60_000);
  const loaded = await large.waitFor(new RegExp(`loaded .*: ${jobs} job\\(s\\)`), 120_000);
  await delay(settleMs);
  const linesBefore = [small.lines.length, large.lines.length];
  const stopCounting = new AbortController();
  const counting = countDaemonTimers(stopCounting.signal);
  const startMinute = Math.floor(Date.now() / MINUTE_MS);
  const started = performance.now();
  const [smallUsage, largeUsage, floorUsage, featureUsage] = await sampleIdle(
    [small.pid, large.pid, floor.child.pid, featureFloor.child.pid],
    seconds,
  );
  stopCounting.abort();
  const daemonTimers = await counting;
  const elapsed = (performance.now() - started) / 1000;
  const runsStarted = [small, large].reduce(
    (sum, koid, i) =>
      sum + koid.lines.slice(linesBefore[i]).filter((l) => / started \(run /.test(l.text)).length,
    0,
  );
  await Promise.all([small.stop(), large.stop(), floor.stop(), featureFloor.stop()]);
  return {
    seconds: round(elapsed),
    small: { jobs: 10, ...smallUsage! },
    large: { jobs, startupMs: Math.round(loaded.t - large.spawnedAt), ...largeUsage! },
    floor: floorUsage!,
    featureFloor: featureUsage!,
    daemonTimers,
    minuteBoundaries: Math.floor(Date.now() / MINUTE_MS) - startMinute,
    runsStarted,
  };
}

// ---------------------------------------------------------------------------
// 4. RSS while a job writes 1 GB

interface BigOutputResult {
  /** What the job wrote. */
  readonly source: OutputSource;
  /** Whether the output was mailed (to a mailer that counts it), or mail was off. */
  readonly mailed: boolean;
  /** The output bytes the mailer received after the header; null when mail was off. */
  readonly mailedBodyBytes: number | null;
  readonly bytesWritten: number;
  readonly outputLimit: number;
  readonly baselineRssMiB: number;
  readonly peakRssMiB: number;
  readonly samples: number;
  readonly status: string;
  readonly outputBytes: number;
  readonly storedBytes: number;
  readonly runSeconds: number;
  readonly throughputMiBps: number;
  /**
   * The runtime's floor for the same stream: a bare `deno run` with koid's flags
   * reading it from a pipe through one reused buffer, its RSS rise (baseline and
   * peak as koid's); null when mailed (the same stream as without mail).
   */
  readonly floorRiseMiB: number | null;
}

/**
 * The runtime alone reading what the 1 GB job writes: after the same sleep, the
 * writer's output read from a pipe into one reused 64 KiB buffer, then a second idle.
 */
const READ_FLOOR_SCRIPT = `const [sleep, writer] = Deno.args;
await new Promise((resolve) => setTimeout(resolve, Number(sleep) * 1000));
const child = new Deno.Command("/bin/sh", { args: ["-c", writer], stdout: "piped" }).spawn();
const reader = child.stdout.getReader({ mode: "byob" });
let buffer = new ArrayBuffer(65536);
while (true) {
  const { value, done } = await reader.read(new Uint8Array(buffer));
  if (done || value === undefined) break;
  buffer = value.buffer;
}
await child.status;
await new Promise((resolve) => setTimeout(resolve, 1000));
`;

/** The RSS rise of a bare `deno run` reading what `writer` writes, after `sleepSeconds`. */
async function readFloorRise(
  flags: readonly string[],
  writer: string,
  sleepSeconds: number,
): Promise<number> {
  const dir = await tempDir();
  const script = `${dir}/read_floor.ts`;
  await Deno.writeTextFile(script, READ_FLOOR_SCRIPT);
  const floor = new FloorProcess(flags, script, [String(sleepSeconds), writer]);
  const spawned = performance.now();
  let exited = false;
  floor.child.status.then(() => exited = true);
  const samples = await sampleRss(floor.child.pid, () => exited);
  // From a second after the start (the runtime is up) to just before the read.
  const quiet = samples.filter((s) =>
    s.t >= spawned + 1000 && s.t <= spawned + sleepSeconds * 1000 - 200
  );
  if (quiet.length === 0) throw new Error("no RSS sample of the bare reader before it read");
  return round(
    (Math.max(...samples.map((s) => s.rss)) - Math.max(...quiet.map((s) => s.rss))) / MIB,
  );
}

/** What the 1 GB job writes: NUL bytes (`/dev/zero`), or lines of text (`yes`). */
type OutputSource = "zero" | "text";

async function bigOutput(
  flags: readonly string[],
  mail: boolean,
  source: OutputSource,
): Promise<BigOutputResult> {
  const { bytes, sleepSeconds } = config.bigOutput;
  progress(
    `${mail ? 5 : 4}. koid while a job writes ${bytes} bytes of ${
      source === "zero" ? "NUL bytes" : "text"
    } (output limit ${DEFAULT_OUTPUT_LIMIT}), ${mail ? "all of it mailed" : "mail off"}`,
  );
  const dir = await tempDir();
  const paths = koiPaths(dir);
  // The sleep leaves koid idle with the run started, for the baseline.
  const writer = source === "zero" ? `head -c ${bytes} /dev/zero` : `yes | head -c ${bytes}`;
  const command = `sleep ${sleepSeconds}; ${writer}`;
  await Deno.writeTextFile(paths.koitab, `HOME=${dir}\n@reboot ${command}\n`, { mode: 0o600 });
  // The mailer skips the header (up to its blank line; sh reads a pipe byte by byte, so the
  // rest stays unread), then counts the rest.
  const mailer = `${dir}/count-mail`;
  const counted = `${dir}/mailed-bytes`;
  await Deno.writeTextFile(
    mailer,
    `#!/bin/sh\nwhile IFS= read -r line; do [ -z "$line" ] && break; done\nwc -c > ${counted}\n`,
    { mode: 0o755 },
  );
  const koid = new KoidProcess(flags, dir, [
    "--grace",
    "5",
    "--mail-command",
    mail ? mailer : "off",
  ]);
  let finished = false;
  const ended = koid.waitFor(/ ended \(run /, 600_000);
  ended.then(() => finished = true, () => finished = true);
  const samples = await sampleRss(koid.pid, () => finished);
  await ended;
  // And for a second after: the run's end (its output kept in history.db) is part of its cost.
  const after = performance.now() + 1000;
  await sampleRss(koid.pid, () => performance.now() >= after, samples);
  const started = await koid.waitFor(/ started \(run /, 1000);
  await koid.stop();
  // While the job sleeps: from half a second after its start to just before it writes.
  const quiet = samples.filter((s) =>
    s.t >= started.t + 500 && s.t <= started.t + sleepSeconds * 1000 - 200
  );
  if (quiet.length === 0) throw new Error("no RSS sample while the job slept");
  const history = new History(paths.history, { readOnly: true });
  let run: RunRecord | undefined;
  try {
    run = history.list().find((r) => r.trigger === "reboot");
  } finally {
    history.close();
  }
  if (!run) throw new Error("koid recorded no run of the @reboot job");
  const runSeconds = (run.durationMs ?? 0) / 1000 - sleepSeconds;
  // koid has stopped: it waited for the mailer, which has all of it.
  const mailedBodyBytes = mail ? Number((await Deno.readTextFile(counted)).trim()) : null;
  if (mail && mailedBodyBytes !== bytes) {
    throw new Error(`the mailer got ${mailedBodyBytes} bytes of output, not ${bytes}`);
  }
  return {
    source,
    mailed: mail,
    mailedBodyBytes,
    bytesWritten: bytes,
    outputLimit: DEFAULT_OUTPUT_LIMIT,
    baselineRssMiB: round(Math.max(...quiet.map((s) => s.rss)) / MIB),
    peakRssMiB: round(Math.max(...samples.map((s) => s.rss)) / MIB),
    samples: samples.length,
    status: run.status,
    outputBytes: run.outputBytes,
    storedBytes: new TextEncoder().encode(run.output).length,
    runSeconds: round(runSeconds, 2),
    throughputMiBps: Math.round(run.outputBytes / MIB / runSeconds),
    floorRiseMiB: mail ? null : await readFloorRise(flags, writer, sleepSeconds),
  };
}

// ---------------------------------------------------------------------------
// Report

interface Report {
  readonly deno: string;
  readonly os: string;
  readonly cpus: number;
  readonly quick: boolean;
  readonly koidFlags: readonly string[];
  readonly startLatency: LatencyResult;
  readonly sameMinute: SameMinuteResult;
  readonly idle: IdleResult;
  readonly bigOutput: BigOutputResult;
  readonly bigOutputText: BigOutputResult;
  readonly bigOutputMailed: BigOutputResult;
}

/** Issue 15's targets for koid's own process. */
const TARGETS = {
  idleSmallMiB: 42,
  idleLargeMiB: 64,
  bigOutputRiseMiB: 10,
  sameMinuteRatio: 1.2,
  idleTimersPerMinute: 1,
} as const;

/** One line of the targets table: the measure, its figure, the target and whether it is met. */
function targetLine(what: string, figure: string, target: string, missedBy: number | null): string {
  const verdict = missedBy === null || missedBy <= 0 ? "met" : `MISSED by ${round(missedBy, 2)}`;
  return `   ${what.padEnd(46)} ${figure.padStart(10)}   target ${target.padEnd(9)} ${verdict}`;
}

function format(report: Report): string {
  const { startLatency: l, sameMinute: s, idle: i, bigOutput: b, bigOutputMailed: m } = report;
  const t = report.bigOutputText;
  const n = (value: number) => value.toLocaleString("en-US");
  const list = (values: readonly number[]) => values.map((v) => `${v}`).join(", ");
  const overhead = Math.round((s.ratio - 1) * 100);
  const rise = (r: BigOutputResult) => round(r.peakRssMiB - r.baselineRssMiB);
  // Per minute boundary passed: one minute's idle wakes, whatever the window's length.
  const timersPerMinute = round(i.daemonTimers / Math.max(1, i.minuteBoundaries), 2);
  const idleLine = (label: string, p: IdleProcess) =>
    `   ${
      label.padEnd(28)
    } RSS ${p.rssEndMiB} MiB at the end (mean ${p.rssMeanMiB}, max ${p.rssMaxMiB}; ` +
    `${p.rssFileEndMiB} of it the runtime's pages), CPU ${p.cpuPercent} %, ` +
    `main thread woke ${p.mainThreadWakesPerMinute}/min`;
  return [
    `koid load benchmark: Deno ${report.deno}, ${report.os}, ${report.cpus} CPUs${
      report.quick ? " (--quick: small samples, not for the README)" : ""
    }`,
    `koid flags: ${report.koidFlags.join(" ")}`,
    "",
    "Targets (issue 15), on koid's own process:",
    targetLine(
      "RSS, 10 jobs, idle after a minute",
      `${i.small.rssEndMiB} MiB`,
      `<= ${TARGETS.idleSmallMiB}`,
      i.small.rssEndMiB - TARGETS.idleSmallMiB,
    ),
    targetLine(
      `RSS, ${n(i.large.jobs)} jobs, idle after a minute`,
      `${i.large.rssEndMiB} MiB`,
      `<= ${TARGETS.idleLargeMiB}`,
      i.large.rssEndMiB - TARGETS.idleLargeMiB,
    ),
    targetLine(
      `RSS rise while one job writes ${n(b.bytesWritten)} B (NUL)`,
      `+${rise(b)} MiB`,
      `<= +${TARGETS.bigOutputRiseMiB}`,
      rise(b) - TARGETS.bigOutputRiseMiB,
    ),
    `     a bare deno reading the same output (the runtime's floor): +${b.floorRiseMiB} MiB (NUL), +${t.floorRiseMiB} MiB (text)`,
    targetLine(
      `  the same, ${n(t.bytesWritten)} B of text`,
      `+${rise(t)} MiB`,
      `<= +${TARGETS.bigOutputRiseMiB}`,
      rise(t) - TARGETS.bigOutputRiseMiB,
    ),
    targetLine(
      `${n(s.jobs)} jobs due at once ÷ bare spawn loop`,
      `${s.ratio}x`,
      `<= ${TARGETS.sameMinuteRatio}`,
      s.ratio - TARGETS.sameMinuteRatio,
    ),
    targetLine(
      "koid's timers while idle (no job due)",
      `${timersPerMinute}/min`,
      `<= ${TARGETS.idleTimersPerMinute}/min`,
      timersPerMinute - TARGETS.idleTimersPerMinute,
    ),
    `   the runtime's floor: a bare \`deno run\` of an idle script with koid's flags, ` +
    `${i.floor.rssEndMiB} MiB after a minute; ${i.featureFloor.rssEndMiB} MiB once it has ` +
    `used SQLite, spawned a process and watched a directory, as koid must`,
    "",
    `1. Start latency from the due minute, ${n(l.jobs)} jobs (${l.duePerMinute} due each minute)`,
    `   ${l.samples} runs over ${l.minutes} minutes (shifted clock, ${l.realSeconds} s real; ` +
    `daemon process RSS at the end ${l.processRssMiB} MiB)`,
    `   p50 ${l.p50Ms} ms   p99 ${l.p99Ms} ms   max ${l.maxMs} ms   goal p99 <= ${l.goalMs} ms: ${
      l.goalMet ? "met" : "NOT met"
    }`,
    `   first run of each minute: p50 ${l.firstRunP50Ms} ms, max ${l.firstRunMaxMs} ms; ` +
    `timer wake after the minute: p50 ${l.wakeP50Ms} ms, max ${l.wakeMaxMs} ms`,
    "",
    `2. ${n(s.jobs)} jobs due in the same minute (median of ${s.repetitions})`,
    `   koid, due instant -> last start event   ${s.koidMedianMs} ms   (${list(s.koidMs)})`,
    `   bare loop of ${n(s.jobs)} spawn()s              ${s.bareMedianMs} ms   (${list(s.bareMs)})`,
    `   ratio ${s.ratio}x (koid overhead ${overhead >= 0 ? "+" : ""}${overhead}%)`,
    `   bare loop through setsid, as koid starts jobs   ${s.setsidMedianMs} ms   (${
      list(s.setsidMs)
    }): koid ${s.setsidRatio}x of it`,
    `   koid, due instant -> last spawn returned ${median(s.koidLastSpawnMs)} ms; ` +
    `-> all ${n(s.jobs)} ended ${median(s.koidAllEndedMs)} ms ` +
    `(bare: all statuses ${median(s.bareAllEndedMs)} ms)`,
    `   each repetition in a fresh process; daemon process RSS after the minute: ${
      list(s.koidRssMiB)
    } MiB`,
    "",
    `3. Idle, none due, ${i.seconds} s, sampled each second ` +
    `(minute boundaries passed: ${i.minuteBoundaries}; runs started: ${i.runsStarted})`,
    idleLine("koid, 10 jobs", i.small),
    idleLine(`koid, ${n(i.large.jobs)} jobs`, i.large) +
    ` (startup to "loaded": ${i.large.startupMs} ms)`,
    idleLine("bare deno, koid's flags", i.floor),
    idleLine("bare deno + SQLite, spawn, watch", i.featureFloor),
    `   the daemon's own timers in the same time, counted on its clock: ${i.daemonTimers}`,
    "",
    ...[b, t].flatMap((r) => [
      `4. koid while one job writes ${n(r.bytesWritten)} bytes of ${
        r.source === "zero" ? "NUL bytes (/dev/zero)" : "text (yes)"
      } (output limit ${n(r.outputLimit)} bytes, the default), mail off`,
      `   RSS baseline ${r.baselineRssMiB} MiB, peak ${r.peakRssMiB} MiB (+${
        rise(r)
      } MiB; ${r.samples} samples, every 100 ms)`,
      `   run ${r.status}: outputBytes ${n(r.outputBytes)}, stored ${n(r.storedBytes)} bytes (${
        round(r.storedBytes / MIB, 2)
      } MiB); ${r.runSeconds} s of writing, ~${n(r.throughputMiBps)} MiB/s`,
      `   the runtime's floor: a bare \`deno run\` with koid's flags reading the same through ` +
      `one reused buffer rises +${r.floorRiseMiB} MiB`,
    ]),
    "",
    `5. NUL bytes again, all of it mailed, streamed to a mailer that counts it`,
    `   RSS baseline ${m.baselineRssMiB} MiB, peak ${m.peakRssMiB} MiB (+${
      rise(m)
    } MiB; ${m.samples} samples, every 100 ms)`,
    `   the mailer got ${n(m.mailedBodyBytes ?? 0)} bytes after the header; stored ${
      n(m.storedBytes)
    } bytes; ${m.runSeconds} s of writing, ~${n(m.throughputMiBps)} MiB/s`,
  ].join("\n");
}

/**
 * Runs one in-process measurement in a fresh copy of this script, so that none
 * inherits the memory of another: a process's spawns slow down as its RSS grows
 * (koid starts jobs detached, which forks), and RSS grows with every run.
 */
async function runPhase<T>(name: Phase, v8Flags: readonly string[]): Promise<T> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...v8Flags,
      ...HARNESS_FLAGS,
      decodeURIComponent(new URL(import.meta.url).pathname),
      `--phase=${name}`,
      ...(quick ? ["--quick"] : []),
    ],
    cwd: rootPath,
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  cleanups.push(stop);
  const { success, stdout } = await child.output();
  cleanups.splice(cleanups.indexOf(stop), 1);
  if (!success) throw new Error(`the ${name} phase failed`);
  return JSON.parse(new TextDecoder().decode(stdout)) as T;
}

async function runOnePhase(name: Phase): Promise<unknown> {
  switch (name) {
    case "latency":
      return await startLatency();
    case "same-minute":
      return await koidSameMinute(config.sameMinute.jobs);
    case "bare-spawn":
      return await bareSpawnLoop(config.sameMinute.jobs, false);
    case "bare-setsid":
      return await bareSpawnLoop(config.sameMinute.jobs, true);
  }
}

async function main(): Promise<void> {
  if (phase !== null) {
    console.log(JSON.stringify(await runOnePhase(phase)));
    return;
  }
  const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root))).koid;
  progress(
    `1. start latency: ${config.latency.jobs} jobs, ${config.latency.duePerMinute} due each minute, ${config.latency.minutes} minutes`,
  );
  // The in-process measurements (and the bare spawn loop) run with koid's V8 flags too.
  const v8Flags = flags.filter((flag) => flag.startsWith("--v8-flags="));
  const startLatencyResult = await runPhase<LatencyResult>("latency", v8Flags);
  const sameMinuteResult = await sameMinute(v8Flags);
  const idleResult = await idle(flags);
  const bigOutputResult = await bigOutput(flags, false, "zero");
  const bigOutputTextResult = await bigOutput(flags, false, "text");
  const bigOutputMailedResult = await bigOutput(flags, true, "zero");
  const report: Report = {
    deno: Deno.version.deno,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpus: navigator.hardwareConcurrency,
    quick,
    koidFlags: flags,
    startLatency: startLatencyResult,
    sameMinute: sameMinuteResult,
    idle: idleResult,
    bigOutput: bigOutputResult,
    bigOutputText: bigOutputTextResult,
    bigOutputMailed: bigOutputMailedResult,
  };
  console.log(json ? JSON.stringify(report, null, 2) : format(report));
}

if (import.meta.main) {
  const interrupt = () => {
    progress("interrupted; stopping koid and removing temporary directories");
    cleanUp().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  let code = 0;
  try {
    await main();
  } catch (error) {
    console.error(`koid_load: ${(error as Error).stack ?? error}`);
    code = 1;
  } finally {
    await cleanUp();
  }
  Deno.exit(code);
}
