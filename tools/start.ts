/**
 * `deno task start`: all of Koi on one machine, in one command. A local dashboard
 * on an embedded database, a demo `KOI_DIR` with a small koitab, and koid linked
 * to the dashboard; it prints the URL and a generated password. Ctrl-C stops it
 * all. Everything lives in `.koi-demo/` under the current directory, made afresh
 * on each start; nothing outside it is touched.
 *
 * Each program runs with its own task's permission flags, read from deno.json.
 *
 * @module
 */

import { entryFlags } from "./task_flags.ts";

const DEMO_DIR = ".koi-demo";

/** The demo koitab: a job every minute, one that fails, and a manual job with arguments. */
export const DEMO_KOITAB =
  `# Koi's demo table. Edit it with: KOI_DIR=${DEMO_DIR}/koi deno task koitab -e
[Demo]
"Every minute" * * * * * echo "Hello from koid at $(date +\\%H:\\%M)"
"Fails" */2 * * * * echo "about to fail" >&2; exit 3
"Say Hi" @manual echo Hi {{To Handle}}, waiting {{Delay, int, 0}} seconds; sleep {{Delay, int, 0}}; test {{Emoji 😃, bool}} = true && echo "😃"
`;

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

/** Reads a child's stderr lines, echoing them, until one matches; then keeps echoing. */
async function waitForLine(
  child: Deno.ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpExecArray> {
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const timer = new Promise<null>((resolve) => setTimeout(() => resolve(null), 250));
    const next = await Promise.race([reader.read(), timer]);
    if (next === null) continue;
    if (next.done) break;
    buffer += next.value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      console.error(line);
      const match = pattern.exec(line);
      if (match) {
        (async () => {
          try {
            while (true) {
              const { value, done } = await reader.read();
              if (done) break;
              await Deno.stderr.write(new TextEncoder().encode(value));
            }
          } catch {
            // The child has gone.
          }
        })();
        return match;
      }
    }
  }
  throw new Error(`the dashboard did not start (no "${pattern.source}" line)`);
}

function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  const chars = Array.from(bytes, (b) => alphabet[b % alphabet.length]);
  return [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join("")).join("-");
}

async function main(): Promise<number> {
  const flags = entryFlags(await Deno.readTextFile(`${root}deno.json`));
  const demo = `${Deno.cwd()}/${DEMO_DIR}`;
  const koiDir = `${demo}/koi`;
  await Deno.remove(demo, { recursive: true }).catch(() => {});
  await Deno.mkdir(koiDir, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(`${koiDir}/koitab`, DEMO_KOITAB, { mode: 0o600 });

  const port = Deno.env.get("KOI_DEMO_PORT") ?? "8080";
  const dashboard = spawnEntry(
    "dashboard",
    flags,
    ["--port", port, "--db", `${demo}/dashboard.db`],
    {},
    "piped",
  );
  const children: Deno.ChildProcess[] = [dashboard];
  const stopAll = async () => {
    for (const child of children.toReversed()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await Promise.all(children.map((child) => child.status));
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

  try {
    const [, url] = await waitForLine(dashboard, /listening on (http:\/\/\S+)/, 30_000);
    const server = url!.replace("://0.0.0.0:", "://127.0.0.1:").replace(/\/$/, "");
    const password = generatePassword();
    const env = { KOI_DIR: koiDir, KOI_PASSWORD: password, KOI_HOST: "demo" };
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
    const koid = spawnEntry("koid", flags, [], { KOI_DIR: koiDir, KOI_HOST: "demo" }, "inherit");
    children.push(koid);
    console.log(`
Koi is running.

  Dashboard:  ${dashboardUrl}
  Password:   ${password}

  Demo KOI_DIR: ${koiDir}
  Try:  KOI_DIR=${koiDir} deno task koitab --next
        KOI_DIR=${koiDir} KOI_HOST=demo deno task koitab -d run "Say Hi" --arg "To Handle=you"

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
    log((error as Error).message);
    await stopAll();
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main());
