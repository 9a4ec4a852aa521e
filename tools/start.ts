/**
 * `deno task start`: all of Koi on one machine, in one command. A local dashboard
 * on an embedded database, a demo `KOI_DIR` with a small koitab, and koid linked
 * to the dashboard; it prints the URL and a generated password. Ctrl-C stops it
 * all. Everything lives in `.koi-demo/` under the current directory, made afresh
 * on each start; nothing outside it is touched, and a start that fails removes it.
 *
 * Each program runs with its own task's permission flags, read from deno.json.
 * The dashboard and koid start together (koid notices the link once it is made),
 * and koitab's modules are compiled meanwhile, so a first run on a busy machine
 * waits for the slowest start, not for the sum of them.
 *
 * @module
 */

import { generatePassword } from "../lib/cli/password.ts";
import { readLines } from "./lines.ts";
import { entryFlags } from "./task_flags.ts";

const DEMO_DIR = ".koi-demo";

/** The demo koitab: a job every minute, one that fails, and a manual job with arguments. */
export const DEMO_KOITAB =
  `# Koi's demo table. Edit it with: KOI_DIR=${DEMO_DIR}/koi deno task koitab -e
# koid mails a job's output as cron does; the demo turns that off rather than mail every minute.
MAILTO=""
[Demo]
"Every minute" * * * * * echo "Hello from koid at $(date +\\%H:\\%M)"
"Fails" */2 * * * * echo "about to fail" >&2; exit 3
"Say Hi" @manual echo Hi {{To Handle}}, waiting {{Delay, int, 0}} seconds; sleep {{Delay, int, 0}}; if test {{Emoji 😃, bool}} = true; then echo "😃"; fi
`;

/** The line the dashboard prints once it listens, with its address. */
export const LISTENING = /^dashboard: listening on (http:\/\/\S+)$/;

/** How long to wait for the dashboard before giving up: a first run compiles all of Koi. */
export const START_TIMEOUT_MS = 120_000;

/** After this long, a note says the dashboard is still starting, and why that can be. */
const SLOW_NOTE_MS = 10_000;

const root = new URL("../", import.meta.url).pathname;

function log(line: string): void {
  console.error(`start: ${line}`);
}

/** A child process started with an entry's task flags. */
function spawnEntry(
  entry: "koitab" | "koid" | "dashboard",
  flags: Record<string, string[]>,
  args: string[],
  env: Record<string, string>,
  output: "piped" | "inherit",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags[entry]!, `${root}${entry}.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

/** A stream's lines as they come, and the first that matches a pattern. */
export interface LineWatch {
  /** The first match; null when the stream ended without one. */
  readonly match: Promise<RegExpExecArray | null>;
  /** Every line read so far. */
  readonly lines: readonly string[];
}

/**
 * Passes every line of `stream` to `echo` as it comes, to the stream's end, and
 * finds the first one matching `pattern`. Nothing is lost however slowly the
 * lines come: there is one read at a time, always awaited.
 *
 * @param stream A child's output.
 * @param pattern What the awaited line looks like.
 * @param echo What to do with each line (print it).
 * @returns The match to come, and the lines so far.
 *
 * @example
 * ```ts
 * import { watchLines } from "./start.ts";
 *
 * const stream = new Blob(["starting\nlistening on http://x\nmore\n"]).stream();
 * const watch = watchLines(stream, /listening on (\S+)/, () => {});
 * if ((await watch.match)?.[1] !== "http://x") throw new Error("no match");
 * ```
 */
export function watchLines(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  echo: (line: string) => void,
): LineWatch {
  const lines: string[] = [];
  const { promise, resolve } = Promise.withResolvers<RegExpExecArray | null>();
  (async () => {
    try {
      for await (const line of readLines(stream)) {
        lines.push(line);
        echo(line);
        const match = pattern.exec(line);
        if (match) resolve(match);
      }
    } catch {
      // The child has gone.
    }
    resolve(null);
  })();
  return { match: promise, lines };
}

/**
 * Why the dashboard did not start, from what it said: a busy port gets the way
 * out (`KOI_DEMO_PORT`).
 *
 * @param lines The dashboard's output.
 * @param port The port it was given.
 * @returns One line for the user.
 */
export function dashboardFailure(lines: readonly string[], port: string): string {
  if (lines.some((line) => /the port is in use/.test(line))) {
    const other = port === "0" ? "8081" : String((Number(port) + 1) % 65536);
    return `port ${port} is taken by another program: stop it, or choose another port, e.g. KOI_DEMO_PORT=${other} deno task start`;
  }
  return "the dashboard stopped before it listened (its message is above)";
}

async function main(): Promise<number> {
  const flags = entryFlags(await Deno.readTextFile(`${root}deno.json`));
  const demo = `${Deno.cwd()}/${DEMO_DIR}`;
  const koiDir = `${demo}/koi`;
  await Deno.remove(demo, { recursive: true }).catch(() => {});
  await Deno.mkdir(koiDir, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(`${koiDir}/koitab`, DEMO_KOITAB, { mode: 0o600 });

  const port = Deno.env.get("KOI_DEMO_PORT") ?? "8080";
  // koitab runs only once the dashboard listens; compiling its modules meanwhile
  // (a first run's cost) takes that out of the wait.
  const warming = new Deno.Command(Deno.execPath(), {
    args: ["cache", `${root}koitab.ts`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const dashboard = spawnEntry(
    "dashboard",
    flags,
    // A demo on this machine: alerts may go to a receiver on it too.
    ["--port", port, "--db", `${demo}/dashboard.db`, "--allow-private-destinations"],
    {},
    "piped",
  );
  const koid = spawnEntry("koid", flags, [], { KOI_DIR: koiDir, KOI_HOST: "demo" }, "inherit");
  const children: Deno.ChildProcess[] = [dashboard, koid];
  const stopAll = async () => {
    for (const child of [...children, warming]) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await Promise.all([...children, warming].map((child) => child.status));
  };
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log("stopping koid and the dashboard…");
    stopAll().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const slowNote = setTimeout(() => {
    log(
      `the dashboard is still starting after ${
        SLOW_NOTE_MS / 1000
      } s (a first run compiles Koi, and a busy machine is slower); waiting up to ${
        START_TIMEOUT_MS / 1000
      } s`,
    );
  }, SLOW_NOTE_MS);
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const watch = watchLines(dashboard.stderr, LISTENING, (line) => console.error(line));
    const outcome = await Promise.race([
      watch.match,
      koid.status.then(() => "koid" as const),
      new Promise<"timeout">((resolve) => {
        deadline = setTimeout(() => resolve("timeout"), START_TIMEOUT_MS);
      }),
    ]);
    if (outcome === "timeout") {
      throw new Error(
        `the dashboard did not start within ${START_TIMEOUT_MS / 1000} s (no "listening on" line)`,
      );
    }
    if (outcome === "koid") throw new Error("koid stopped while the dashboard was starting");
    if (outcome === null) {
      await dashboard.status;
      throw new Error(dashboardFailure(watch.lines, port));
    }
    clearTimeout(slowNote);
    clearTimeout(deadline);
    const server = outcome[1]!.replace("://0.0.0.0:", "://127.0.0.1:").replace(/\/$/, "");
    await warming.status;
    const password = generatePassword();
    const env = { KOI_DIR: koiDir, KOI_PASSWORD: password };
    const created = await spawnEntry(
      "koitab",
      flags,
      ["-d", "new", "--server", server],
      env,
      "piped",
    )
      .output();
    if (!created.success) {
      await Deno.stderr.write(created.stderr);
      throw new Error("koitab -d new failed");
    }
    const dashboardUrl = new TextDecoder().decode(created.stdout).trim().split("\n").at(-1)!;
    // Since this process started: all the user waits for but `deno task` itself.
    const seconds = (performance.now() / 1000).toFixed(1);
    console.log(`
Koi is running (started in ${seconds} s).

  Dashboard:  ${dashboardUrl}
  Password:   ${password}

  Alerts:     the "Fails" job fails every 2 minutes; its alert shows, once, under
              Alerts on the page. Add a webhook, Slack, ntfy or email channel
              there to have alerts sent.

  Demo KOI_DIR: ${koiDir}
  Try:  KOI_DIR=${koiDir} deno task koitab --next
        KOI_DIR=${koiDir} deno task koitab -d run "Say Hi" --arg "To Handle=you" --arg "Emoji 😃=true"

Ctrl-C stops everything.
`);
    const ended = await Promise.race(children.map((child, i) => child.status.then(() => i)));
    if (!stopping) {
      log(`${ended === 0 ? "the dashboard" : "koid"} stopped unexpectedly; stopping the rest`);
      await stopAll();
      return 1;
    }
    return 0;
  } catch (error) {
    clearTimeout(slowNote);
    clearTimeout(deadline);
    await stopAll();
    // A start that failed leaves nothing behind, and its reason is the last line.
    await Deno.remove(demo, { recursive: true }).catch(() => {});
    log((error as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main());
