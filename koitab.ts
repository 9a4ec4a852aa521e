/**
 * `koitab`: edit, check and install the job table, like crontab(1), with Koi's
 * extras. Run with the permission flags of `deno task koitab` (see deno.json).
 *
 * @module
 */

import { dashboardCommand } from "./lib/cli/dashboard.ts";
import { editTable } from "./lib/cli/edit.ts";
import { formatHistory, historyNotes, readHistory, writeHistoryJson } from "./lib/cli/history.ts";
import { CliError } from "./lib/cli/errors.ts";
import { upcomingRuns } from "./lib/cli/next.ts";
import { namesJob } from "./lib/job_name.ts";
import { findJob, namedJobs, parseArgOptions, runJobNow, takeMailCommand } from "./lib/cli/run.ts";
import { askLine } from "./lib/cli/prompt.ts";
import {
  installTable,
  ownerOf,
  printWarnings,
  readTable,
  removeTable,
  validateTable,
} from "./lib/cli/table.ts";
import { writeAll } from "./lib/files.ts";
import { History } from "./lib/runs/history.ts";
import { DEFAULT_KOI_DIR, type KoiPaths, koiPaths, prepareKoiDir } from "./lib/koidir.ts";
import { parseKoitab } from "./lib/koitab.ts";
import { localTimeZone } from "./lib/timezone.ts";
import { readPasswd } from "./lib/users.ts";
import { VERSION } from "./lib/version.ts";

const HELP = `koitab ${VERSION}: edit and check Koi's job table (a crontab with extras)

Usage:
  koitab -e                 edit the table in $VISUAL or $EDITOR (else vi), then install it
  koitab -l                 print the table
  koitab -r [-i]            remove the table (-i: ask first)
  koitab FILE               install FILE as the table, after checking it
  koitab -                  install the table from stdin, after checking it
  koitab --check FILE|-     check a table without installing it (also -T, and -n as Debian's)
  koitab --next [N]         each job's next N run times (default 3), in its own zone
  koitab run NAME|LINE [--arg name=value]... [--mail-command CMD|off]
                            run a job now, in the foreground, with its arguments; its
                            output is mailed as koid mails it (through /usr/sbin/sendmail
                            unless --mail-command says otherwise) and the run is recorded
  koitab history [NAME] [--json]
                            the runs koid and koitab run recorded, newest first
  koitab -d                 this machine's dashboard: its id, server, URL and whether it answers
  koitab -d new [--server URL] [--generate]
                            create a dashboard (server default http://localhost:8080) and link
                            this machine to it; prints its URL
  koitab -d join URL        link this machine to an existing dashboard
  koitab -d delete [--local] [--yes]
                            delete the dashboard and all its data, for every linked machine, and
                            the link; asks first (--yes: without asking, for scripts; --local:
                            remove the link even when the server cannot be reached)
  koitab -d run NAME [--host H] [--arg name=value]... [--timeout S]
                            run an @manual job on a linked host through the dashboard, print its
                            output, and exit with its status (--timeout: how long koid may take
                            to start it, default 60 s)
  koitab -d open [URL] [--port N]
                            serve the dashboard page from this installation on 127.0.0.1 (a free
                            port unless --port), its API calls forwarded to the server; prints its
                            URL; runs until Ctrl-C. URL: another dashboard's, linking nothing
  koitab --help | --version

  -u USER, before -e, -l, -r or FILE, names the table's owner, as crontab's does: Koi keeps one
  table per KOI_DIR, so USER must be the user $KOI_DIR/user names (or whoever runs koitab when
  there is none), and only root may name someone other than itself.

The table lives at $KOI_DIR/koitab (KOI_DIR defaults to ${DEFAULT_KOI_DIR}). Every install is
checked first; a table with errors is never installed, and the old one stays as it was.
Errors name the line: koitab line 7: bad hour "25" (0-23)

The dashboard password comes from $KOI_PASSWORD, else it is asked on the terminal. It never
leaves this machine: only an API key derived from it is sent, and only the derived keys are
kept ($KOI_DIR/dashboard.json, apikey, runkey, datakey; mode 0600). New passwords must be at
least 12 characters and hard to guess (five words of your own pass; famous phrases do not);
--generate makes one and shows it once.

Exit status: 0 on success, 1 when the operation failed, 2 for a usage mistake.
`;

/**
 * Runs `koitab` with the given arguments.
 *
 * @param args The command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  try {
    return await dispatch(args);
  } catch (error) {
    // The reader of koitab's output went away (`koitab history --json | head`): as a
    // command killed by SIGPIPE, without a word.
    if (error instanceof Deno.errors.BrokenPipe) return 128 + 13;
    if (!(error instanceof CliError)) throw error;
    console.error(`koitab: ${error.message}`);
    if (error.exitCode === 2) console.error(`koitab: see "koitab --help"`);
    return error.exitCode;
  }
}

async function dispatch(words: string[]): Promise<number> {
  if (words[0] === "--help" || words[0] === "-h") {
    console.log(HELP.trimEnd());
    return 0;
  }
  if (words[0] === "--version" || words[0] === "-V") {
    console.log(`koitab ${VERSION}`);
    return 0;
  }
  const paths = koiPaths(Deno.env.get("KOI_DIR") || DEFAULT_KOI_DIR);
  const { user, args } = takeUserOption(words);
  const [first, ...rest] = args;
  if (first !== "--check" && first !== "-T" && first !== "-n") {
    try {
      await prepareKoiDir(paths.dir, { create: false });
    } catch (error) {
      throw new CliError((error as Error).message);
    }
  }
  if (user !== null) await checkUserOption(paths, user);
  switch (first) {
    case "-l":
      noMore(first, rest);
      return await list(paths);
    case "-r":
    case "-ri":
    case "-ir":
    case "-i": {
      // getopt-style: -r -i, -i -r, -ri and -ir all mean "remove, asking first".
      const flags = new Set([first, ...rest].flatMap((word) => [...word.replace(/^-/, "")]));
      const words = [first, ...rest];
      const extra = words.find((word) => !word.startsWith("-"));
      if (extra !== undefined) throw new CliError(`nothing may follow ${first}, got "${extra}"`, 2);
      if (!flags.has("r") || words.some((w) => !/^-[ri]+$/.test(w)) || flags.size > 2) {
        throw new CliError(`-i goes with -r (koitab -r -i), got "${words.join(" ")}"`, 2);
      }
      return await remove(paths, flags.has("i"));
    }
    case "-e":
      noMore(first, rest);
      return await editTable(paths, { editor: editor(), owner: await owner(paths) });
    case "--check":
    case "-T":
      if (rest.length !== 1) throw new CliError(`${first} takes one FILE, or - for stdin`, 2);
      return await check(paths, rest[0]!);
    case "-n":
      // Debian's crontab -n [FILE]: "dry run: checks the syntax, then bails out".
      if (rest.length > 1 || (rest[0]?.startsWith("-") && rest[0] !== "-")) {
        throw new CliError(`-n takes at most one FILE, or - for stdin`, 2);
      }
      if (rest.length === 0 && Deno.stdin.isTerminal()) {
        throw new CliError("-n needs a FILE to check, or - for stdin", 2);
      }
      return await check(paths, rest[0] ?? "-");
    case "--next":
      return await next(paths, rest);
    case "run":
      return await run(paths, rest);
    case "history":
      return history(paths, rest);
    case "-d":
      return await dashboardCommand(paths, rest);
    case undefined:
      if (Deno.stdin.isTerminal()) {
        throw new CliError("give a FILE to install, or - for stdin, or an option", 2);
      }
      return await install(paths, "-");
    default:
      if (first.startsWith("-") && first !== "-") {
        throw new CliError(`unknown option "${first}"`, 2);
      }
      noMore(first, rest);
      return await install(paths, first);
  }
}

/**
 * crontab's `-u USER`, where crontab's getopt would find it: among the options
 * before anything else (`-u alice -l`, `-l -u alice`, `-ualice -e`).
 */
function takeUserOption(words: readonly string[]): { user: string | null; args: string[] } {
  for (let i = 0; i < words.length && /^-[elrinT]+$|^-u/.test(words[i]!); i++) {
    const word = words[i]!;
    if (!word.startsWith("-u")) continue;
    const user = word === "-u" ? words[i + 1] : word.slice(2);
    if (user === undefined || user === "") throw new CliError("-u needs a USER", 2);
    const skip = word === "-u" ? 2 : 1;
    return { user, args: [...words.slice(0, i), ...words.slice(i + skip)] };
  }
  return { user: null, args: [...words] };
}

/**
 * Checks `-u USER` as crontab would, within Koi's model of one table per
 * KOI_DIR: only root may name another user than itself, and the user must be
 * the one this KOI_DIR's table belongs to.
 */
async function checkUserOption(paths: KoiPaths, user: string): Promise<void> {
  const me = await currentUser();
  if (user !== me.name && Deno.uid() !== 0) {
    throw new CliError(`must be privileged to use -u ${user} (you are ${me.name})`);
  }
  const tableOwner = await owner(paths);
  if (user !== tableOwner) {
    throw new CliError(
      `-u ${user}: the koitab in ${paths.dir} is ${tableOwner}'s; Koi keeps one table per KOI_DIR, so set KOI_DIR to ${user}'s`,
    );
  }
}

function noMore(option: string, rest: readonly string[]): void {
  if (rest.length > 0) throw new CliError(`nothing may follow ${option}, got "${rest[0]}"`, 2);
}

async function readSource(source: string): Promise<Uint8Array> {
  try {
    if (source === "-") {
      return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
    }
    return await Deno.readFile(source);
  } catch (error) {
    throw new CliError(`cannot read ${source}: ${(error as Error).message}`);
  }
}

async function list(paths: KoiPaths): Promise<number> {
  const bytes = await readTable(paths);
  if (bytes === null) throw new CliError(`no koitab for ${await owner(paths)}`);
  await Deno.stdout.write(bytes);
  return 0;
}

async function remove(paths: KoiPaths, ask: boolean): Promise<number> {
  const name = await owner(paths);
  if (ask) {
    const answer = await askLine(`koitab: really delete ${name}'s koitab? (y/n) `);
    if (answer !== "y") return 0;
  }
  if (!await removeTable(paths)) throw new CliError(`no koitab for ${name}`);
  return 0;
}

async function install(paths: KoiPaths, source: string): Promise<number> {
  const text = await readSource(source);
  const what = source === "-" ? "the koitab on stdin" : source;
  const table = validateTable(text, what);
  printWarnings(table, await owner(paths));
  await installTable(paths, table);
  return 0;
}

async function check(paths: KoiPaths, source: string): Promise<number> {
  const text = await readSource(source);
  const what = source === "-" ? "the koitab on stdin" : source;
  const table = validateTable(text, what, null);
  printWarnings(table, await owner(paths));
  const { jobs } = table;
  const count = jobs.length === 1 ? "1 job" : `${jobs.length} jobs`;
  console.log(`${source === "-" ? "stdin" : source}: ${count}, no errors`);
  return 0;
}

async function next(paths: KoiPaths, rest: readonly string[]): Promise<number> {
  if (rest.length > 1) throw new CliError(`--next takes at most one number, N`, 2);
  const count = rest.length === 0 ? 3 : Number(rest[0]);
  if (!Number.isInteger(count) || count < 1 || count > 1000 || !/^[0-9]+$/.test(rest[0] ?? "3")) {
    throw new CliError(`--next takes a number of runs from 1 to 1000, got "${rest[0]}"`, 2);
  }
  const text = await readTable(paths);
  if (text === null) throw new CliError(`no koitab for ${await owner(paths)}`);
  const { jobs } = validateTable(text, paths.koitab, "fix it with koitab -e");
  await Deno.stdout.write(
    new TextEncoder().encode(upcomingRuns(jobs, new Date(), count, localTimeZone())),
  );
  return 0;
}

async function run(paths: KoiPaths, rest: readonly string[]): Promise<number> {
  const { words, mailCommand } = takeMailCommand(rest);
  const [name, ...options] = words;
  if (name === undefined || name.startsWith("--")) {
    throw new CliError("run needs the NAME of a job", 2);
  }
  const values = parseArgOptions(options);
  const text = await readTable(paths);
  if (text === null) throw new CliError(`no koitab for ${await owner(paths)}`);
  const { jobs } = validateTable(text, paths.koitab, "fix it with koitab -e");
  const job = findJob(jobs, name);
  const log = (line: string) => console.error(`koitab: ${line}`);
  const history = await openHistory(paths, log);
  try {
    return await runJobNow(job, values, await currentUser(), Deno.env.toObject(), {
      mail: { command: mailCommand, hostname: hostname() },
      history,
      log,
    });
  } finally {
    history?.close();
  }
}

/**
 * The history, for `koitab run` to record its run in; null, and a line saying so,
 * when it cannot be written. A history koitab creates as root is given to the
 * owner of KOI_DIR, so that koid, running as that user, can still write it.
 */
async function openHistory(paths: KoiPaths, log: (line: string) => void): Promise<History | null> {
  const existed = await Deno.stat(paths.history).then(() => true, () => false);
  try {
    const history = new History(paths.history);
    const { owner } = existed ? {} : await ownerOf(paths.dir);
    if (owner) await Deno.chown(paths.history, owner.uid, owner.gid);
    return history;
  } catch (error) {
    log(`cannot record this run in ${paths.history}: ${(error as Error).message}`);
    return null;
  }
}

/** This machine's name for mail subjects, as koid gives it. */
function hostname(): string {
  return Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted"
    ? Deno.hostname()
    : "localhost";
}

async function history(paths: KoiPaths, rest: readonly string[]): Promise<number> {
  const json = rest.includes("--json");
  const names = rest.filter((word) => word !== "--json");
  if (names.length > 1 || names[0]?.startsWith("-")) {
    throw new CliError(
      `history takes at most one job NAME and --json, got "${names.join(" ")}"`,
      2,
    );
  }
  const name = names[0] ?? null;
  // What koid works around, on stderr: the table or the JSON stays as it is.
  for (const note of await historyNotes(paths, Date.now())) console.error(`koitab: ${note}`);
  const runs = readHistory(paths, name);
  if (name !== null && runs.length === 0) {
    // A name with no runs must at least be a job's, or it is a typo.
    const table = await readTable(paths);
    const jobs = table === null ? [] : parseKoitab(new TextDecoder().decode(table)).jobs;
    if (!jobs.some((job) => namesJob(job, name))) {
      throw new CliError(`no job "${name}" in the koitab or its history (${namedJobs(jobs)})`);
    }
  }
  const encoder = new TextEncoder();
  const print = (text: string) => writeAll(Deno.stdout, encoder.encode(text));
  if (json) await writeHistoryJson(paths, name, runs, print);
  else await print(formatHistory(runs, localTimeZone()));
  return 0;
}

function editor(): string {
  return Deno.env.get("VISUAL") || Deno.env.get("EDITOR") || "vi";
}

/** The name of the table's owner: the `user` file, else whoever runs koitab. */
async function owner(paths: KoiPaths): Promise<string> {
  try {
    const name = (await Deno.readTextFile(paths.user)).trim();
    if (name) return name;
  } catch {
    // No user file: the table belongs to whoever runs koitab.
  }
  return (await currentUser()).name;
}

async function currentUser(): Promise<{ name: string; home: string }> {
  const uid = Deno.uid();
  try {
    const account = (await readPasswd()).find((user) => user.uid === uid);
    if (account) return { name: account.name, home: account.home };
  } catch {
    // No readable password file: fall back on the environment.
  }
  return {
    name: Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? String(uid),
    home: Deno.env.get("HOME") ?? "/",
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
