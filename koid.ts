/**
 * `koid`: the daemon that runs the koitab's jobs exactly as cron would. Run with
 * the permission flags of `deno task koid` (see deno.json).
 *
 * @module
 */

import { CliError } from "./lib/cli/errors.ts";
import { systemClock } from "./lib/daemon/clock.ts";
import { Daemon } from "./lib/daemon/daemon.ts";
import { History } from "./lib/daemon/history.ts";
import { DEFAULT_OUTPUT_LIMIT } from "./lib/daemon/output.ts";
import { chooseRunUser } from "./lib/daemon/run_user.ts";
import { Runner } from "./lib/daemon/runner.ts";
import { DEFAULT_KOI_DIR, koiPaths } from "./lib/koidir.ts";
import { localTimeZone } from "./lib/timezone.ts";
import { readPasswd } from "./lib/users.ts";
import { VERSION } from "./lib/version.ts";

const HELP = `koid ${VERSION}: run the jobs of the koitab, as cron does

Usage:
  koid [--grace SECONDS] [--output-limit BYTES]
  koid --help | --version

koid reads $KOI_DIR/koitab (KOI_DIR defaults to ${DEFAULT_KOI_DIR}), runs each job at its
times in its zone, and records every run in $KOI_DIR/history.db (see "koitab history").
Edits to the koitab apply from the next minute; SIGHUP asks for a reload too.
Jobs run as the user named in $KOI_DIR/user (koid must then run as root or as that user).

Options:
  --grace SECONDS        on SIGTERM or SIGINT, how long running jobs may take to finish
                         before their process groups are stopped (default 30)
  --output-limit BYTES   output kept per run: head and tail, the middle elided
                         (default ${DEFAULT_OUTPUT_LIMIT})
`;

interface Options {
  graceMs: number;
  outputLimit: number;
}

function parseOptions(args: readonly string[]): Options {
  const options: Options = { graceMs: 30_000, outputLimit: DEFAULT_OUTPUT_LIMIT };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    const number = value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (flag === "--grace" && Number.isSafeInteger(number)) {
      options.graceMs = number * 1000;
    } else if (flag === "--output-limit" && number >= 1024) {
      options.outputLimit = number;
    } else if (flag === "--grace") {
      throw new CliError(`--grace needs a whole number of seconds, got "${value ?? ""}"`, 2);
    } else if (flag === "--output-limit") {
      throw new CliError(
        `--output-limit needs a whole number of bytes, at least 1024, got "${value ?? ""}"`,
        2,
      );
    } else {
      throw new CliError(`unknown option "${flag}"`, 2);
    }
    i++;
  }
  return options;
}

function log(line: string): void {
  console.error(`koid: ${line}`);
}

/**
 * Runs `koid` until SIGTERM or SIGINT.
 *
 * @param args The command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP.trimEnd());
    return 0;
  }
  if (args.includes("--version") || args.includes("-V")) {
    console.log(`koid ${VERSION}`);
    return 0;
  }
  let history: History | undefined;
  try {
    const options = parseOptions(args);
    const paths = koiPaths(Deno.env.get("KOI_DIR") || DEFAULT_KOI_DIR);
    try {
      await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new CliError(`cannot create ${paths.dir}: ${(error as Error).message}`);
    }
    let userFile: string | null = null;
    try {
      userFile = (await Deno.readTextFile(paths.user)).trim();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new CliError(`cannot read ${paths.user}: ${(error as Error).message}`);
      }
    }
    let choice;
    try {
      const groupFile = await Deno.readTextFile("/etc/group").catch(() => "");
      choice = chooseRunUser(userFile, await readPasswd().catch(() => []), Deno.uid()!, groupFile);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    if (choice.warning) log(`warning: ${choice.warning}`);
    const setpriv = choice.user.switchUser ? findTool("setpriv") : null;
    if (choice.user.switchUser && setpriv === null) {
      log(`warning: no setpriv: jobs run as uid ${choice.user.uid} without supplementary groups`);
    }
    try {
      history = new History(paths.history);
    } catch (error) {
      throw new CliError(`cannot open ${paths.history}: ${(error as Error).message}`);
    }
    const interrupted = history.markInterrupted(Date.now());
    if (interrupted > 0) {
      log(`marked ${interrupted} run(s) left unfinished by a stopped koid as interrupted`);
    }

    const runner = new Runner({
      history,
      user: choice.user,
      daemonEnv: Deno.env.toObject(),
      setpriv,
      setsid: findTool("setsid"),
      log,
      now: () => Date.now(),
      outputLimit: options.outputLimit,
    });
    const daemon = new Daemon({
      paths,
      clock: systemClock,
      runner,
      localZone: localTimeZone(),
      log,
    });
    watchTable(paths.dir, () => daemon.requestReload());
    const stop = (signal: Deno.Signal) => {
      log(`${signal}: stopping; no new runs will start`);
      daemon.stop();
    };
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
    Deno.addSignalListener("SIGHUP", () => {
      log("SIGHUP: the koitab will be read again at the next minute");
      daemon.requestReload();
    });
    log(`koid ${VERSION} started (pid ${Deno.pid}), jobs run as ${choice.user.name}`);
    await daemon.run();
    await runner.stop(options.graceMs);
    log("stopped");
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`koid: ${error.message}`);
    return error.exitCode;
  } finally {
    history?.close();
  }
}

/** The path of a util-linux tool on Linux, or null. */
function findTool(name: string): string | null {
  if (Deno.build.os !== "linux") return null;
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // Not there; try the next.
    }
  }
  return null;
}

/** Watches the KOI_DIR for changes to the koitab (installs replace it by rename). */
function watchTable(dir: string, onChange: () => void): void {
  (async () => {
    try {
      for await (const event of Deno.watchFs(dir, { recursive: false })) {
        if (event.paths.some((path) => path.endsWith("/koitab"))) onChange();
      }
    } catch (error) {
      log(
        `cannot watch ${dir} (${
          (error as Error).message
        }); the koitab is still checked each minute`,
      );
    }
  })();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
