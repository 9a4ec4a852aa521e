/**
 * koid as a process for tests: started with exactly its task's flags (under
 * `faketime` when a test drives its clock), its stderr read line by line, and
 * `koitab history` to read what it recorded.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import type { RunRecord } from "../lib/runs/history.ts";
import { entryFlags } from "../tools/task_flags.ts";
import { readLines } from "../tools/lines.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));

/** How to start koid besides its KOI_DIR and arguments. */
export interface KoidSpawnOptions {
  /**
   * "off" adds `--mail-command off` unless the arguments name a mailer: tests never
   * mail unless they say how, so the machine's own sendmail never gets their output.
   */
  readonly mail?: "off" | "default";
  /**
   * A libfaketime spec (`@2025-06-01 10:00:50 x10`): koid runs with libfaketime
   * preloaded, its clock starting there and running that much faster, timers
   * included (see {@linkcode FAKETIME_LIBRARY}). Its jobs get cron's environment,
   * without the preload, and run in real time.
   */
  readonly faketime?: string;
  /** More environment for koid (`KOI_HOST`), beside its KOI_DIR. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * libfaketime, preloaded into koid itself rather than through the `faketime`
 * command, which would run koid as its child, out of reach of the test's signals;
 * null where it is not installed (Debian: `apt-get install faketime`).
 */
export const FAKETIME_LIBRARY: string | null = (() => {
  const dirs = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
  ];
  for (const dir of dirs) {
    const path = `${dir}/faketime/libfaketime.so.1`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  return null;
})();

/** A running koid, its stderr read line by line. */
export class Koid {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly #reading: Promise<void>;
  #checks: (() => void)[] = [];
  /** False once koid has exited. */
  running = true;

  /**
   * @param koiDir The KOI_DIR.
   * @param args koid's arguments.
   * @param options Mail, a fake clock, and more environment.
   */
  constructor(koiDir: string, args: string[] = [], options: KoidSpawnOptions = {}) {
    const off = (options.mail ?? "off") === "off" && !args.includes("--mail-command");
    let fake = {};
    if (options.faketime !== undefined) {
      if (FAKETIME_LIBRARY === null) throw new Error("libfaketime is not installed");
      fake = { LD_PRELOAD: FAKETIME_LIBRARY, FAKETIME: options.faketime };
    }
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags.koid,
        new URL("koid.ts", root).pathname,
        ...(off ? ["--mail-command", "off"] : []),
        ...args,
      ],
      cwd: root.pathname,
      env: { KOI_DIR: koiDir, NO_COLOR: "1", ...options.env, ...fake },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child.status.then(() => this.running = false);
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    for await (const line of readLines(this.child.stderr)) {
      this.lines.push(line);
      for (const check of [...this.#checks]) check();
    }
  }

  /**
   * Resolves once `found()` gives a value, checked now and after each stderr line;
   * fails after 30 s, or when koid's stderr ends first.
   */
  until<T>(found: () => T | undefined, what: string): Promise<T> {
    const now = found();
    if (now !== undefined) return Promise.resolve(now);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let check = () => {};
    const fail = (why: string) =>
      new Error(`${why} waiting for ${what} in koid's stderr:\n${this.lines.join("\n")}`);
    return Promise.race([
      new Promise<T>((resolve) => {
        check = () => {
          const value = found();
          if (value !== undefined) resolve(value);
        };
        this.#checks.push(check);
      }),
      this.#reading.then(() => {
        throw fail("koid's stderr ended");
      }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(fail("timed out")), 30_000)
      ),
    ]).finally(() => {
      clearTimeout(timer);
      this.#checks = this.#checks.filter((c) => c !== check);
    });
  }

  /** The first stderr line (already read or to come) matching `pattern`. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    return this.until(() => {
      for (const line of this.lines) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      return undefined;
    }, String(pattern));
  }

  /** Waits until `count` stderr lines match `pattern`. */
  waitForCount(pattern: RegExp, count: number): Promise<string[]> {
    return this.until(() => {
      const matching = this.lines.filter((line) => pattern.test(line));
      return matching.length >= count ? matching : undefined;
    }, `${count} lines matching ${pattern}`);
  }

  /**
   * Sends a signal (if given; none to a koid already gone), then waits for koid to
   * exit and its stderr to be read.
   */
  async exit(signal?: Deno.Signal): Promise<Deno.CommandStatus> {
    if (signal) {
      try {
        this.child.kill(signal);
      } catch {
        // Already gone: its status says how it ended.
      }
    }
    const status = await this.child.status;
    await this.#reading;
    return status;
  }
}

/** A temporary KOI_DIR with a koitab (`$DIR` in it replaced by the directory), removed after `fn`. */
export async function withKoiDir(
  koitab: string | null,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_koid_" });
  try {
    if (koitab !== null) await Deno.writeTextFile(`${dir}/koitab`, koitab.replaceAll("$DIR", dir));
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `koitab history ARGS` in a KOI_DIR, which must succeed without a word on stderr. */
export async function history(dir: string, ...args: string[]): Promise<string> {
  const result = await runEntry("koitab", ["history", ...args], {
    env: { KOI_DIR: dir, TZ: "UTC" },
  });
  assertEquals([result.code, result.stderr], [0, ""], `koitab history ${args.join(" ")}`);
  return result.stdout;
}

/** `koitab history --json ARGS`, parsed. */
export async function historyJson(dir: string, ...args: string[]): Promise<RunRecord[]> {
  return JSON.parse(await history(dir, ...args, "--json"));
}

/** Starts koid, runs `fn`, and makes sure koid is gone afterwards whatever happened. */
export async function withKoid(
  dir: string,
  args: string[],
  fn: (koid: Koid) => Promise<void>,
  options: KoidSpawnOptions | "off" | "default" = {},
): Promise<void> {
  const koid = new Koid(dir, args, typeof options === "string" ? { mail: options } : options);
  try {
    await fn(koid);
  } finally {
    try {
      koid.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await koid.exit();
  }
}
