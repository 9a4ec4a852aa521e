/**
 * Server processes for tests and load benches: `dashboard.ts` run as
 * `deno task dashboard` runs it (the flags of its task), and the KV Connect
 * fixture on its own. Each prints `…: listening on URL` on stderr once it serves;
 * the rest of its stderr is kept, so a test can read what it logged.
 *
 * @module
 */

import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);

/** A server process. */
export interface ServerProcess {
  /** The base URL it printed. */
  readonly url: string;
  /** Its process id. */
  readonly pid: number;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and waits for the exit; once. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `deno run ARGS` and waits for its `listening on URL` line.
 *
 * @param args The arguments after `deno run`.
 * @param env Variables added to the inherited environment.
 * @returns The process, serving.
 * @throws {Error} If it exits before it listens; the message holds its stderr.
 */
export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    cwd: root.pathname,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const listening = /listening on (\S+)\n/;
  while (!listening.test(text)) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error(`${args.at(-1)} exited before it listened:\n${text}`);
    }
    text += value;
  }
  // Keep reading, so the process never blocks on a full pipe.
  const drained = (async () => {
    for (let read = await reader.read(); !read.done; read = await reader.read()) text += read.value;
  })();
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  return {
    url: listening.exec(text)![1]!,
    pid: child.pid,
    stderr: () => text,
    stop(signal: Deno.Signal = "SIGTERM") {
      stopped ??= (async () => {
        child.kill(signal);
        const { code } = await child.status;
        await drained;
        return { code, stderr: text };
      })();
      return stopped;
    },
  };
}

/**
 * Starts `dashboard.ts --port 0 --db DB` with the flags of `deno task dashboard`.
 *
 * @param db The store: a file, `:memory:`, or a KV Connect URL.
 * @param env Variables added to its environment, such as `DENO_KV_ACCESS_TOKEN`.
 * @param args More options, such as `--allow-private-destinations`.
 * @returns The server process.
 */
export async function startDashboardProcess(
  db: string,
  env: Record<string, string> = {},
  args: readonly string[] = [],
): Promise<ServerProcess> {
  const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));
  const script = new URL("dashboard.ts", root).pathname;
  return startServerProcess([...flags.dashboard, script, "--port", "0", "--db", db, ...args], env);
}

/**
 * Starts the KV Connect fixture (`tests/_kv_connect.ts`) in its own process, over
 * an in-memory store.
 *
 * @param token The access token it takes.
 * @returns The fixture's process; its URL is the one to give `--db`.
 */
export function startKvConnectProcess(token: string): Promise<ServerProcess> {
  const script = new URL("tests/_kv_connect.ts", root).pathname;
  return startServerProcess(
    ["--unstable-kv", "--allow-net=127.0.0.1", "--allow-env=DENO_KV_ACCESS_TOKEN", script],
    { DENO_KV_ACCESS_TOKEN: token },
  );
}
