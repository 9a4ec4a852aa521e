/**
 * `koitab -d`: this machine's dashboard link. Create a dashboard (`new`), join
 * one (`join URL`), see the link (no subcommand), delete it (`delete`), run
 * an `@manual` job on any linked host from here (`run NAME`), signed with the
 * local run key and followed to its exit status, and open the page from this
 * installation (`open`).
 *
 * The password never leaves this process: only the API key derived from it is
 * sent, and only the three keys are stored.
 *
 * @module
 */

import { writeAll } from "../files.ts";
import {
  DashboardClient,
  DashboardError,
  dashboardUrl,
  type HostJob,
  normalizeServer,
  parseDashboardUrl,
} from "../link/client.ts";
import {
  type DashboardConfig,
  deleteDashboardConfig,
  missingDataKey,
  type NewDashboardConfig,
  readDashboardConfig,
  writeDashboardConfig,
} from "../link/config.ts";
import { readJobListRefusal } from "../link/link_state.ts";
import { koidStateLines, readKoidState } from "../koid_state.ts";
import { deriveKeys, newDashboardId, signRun } from "../protocol/keys.ts";
import type { KoiPaths } from "../koidir.ts";
import { ArgumentError, type ArgValue, readArgValues } from "../args.ts";
import { argDefault } from "../protocol/arg_types.js";
import { scheduleKind } from "../protocol/job_kind.js";
import { importDataKey, UNDECRYPTABLE_TEXT } from "../protocol/envelope.js";
import { contexts, manualPayload, openJob, openOutput, openText } from "../protocol/sealed.js";
import type { OutputRecord } from "../protocol/wire.ts";
import { CliError } from "./errors.ts";
import { jobLabel, namesJob, similarNames, typedName } from "../job_name.ts";
import type { Mute } from "../protocol/alerts.ts";
import type { ChannelSummary } from "../protocol/answers.ts";
import { generatePassword, obtainPassword } from "./password.ts";
import { askLine } from "./prompt.ts";
import { parseArgOptions, signalNumber } from "./run.ts";
import { serveLocalPage } from "./open.ts";

/** The server `koitab -d new` uses without `--server`. */
export const DEFAULT_SERVER = "http://localhost:8080";

/** How long `koitab -d` calls may take. */
const CALL_TIMEOUT_MS = 15_000;

/** How often `koitab -d run` asks how its run is doing. */
const FOLLOW_INTERVAL_MS = 500;

/** How long `koitab -d run` keeps trying when the dashboard stops answering while it follows. */
const FOLLOW_PATIENCE_MS = 30_000;

/**
 * Runs `koitab -d [SUBCOMMAND] …`.
 *
 * @param paths The `KOI_DIR` paths.
 * @param args The words after `-d`.
 * @returns The exit status.
 * @throws {CliError} On any failure, with a one-line reason.
 */
export async function dashboardCommand(paths: KoiPaths, args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
      return await status(paths);
    case "new":
      return await create(paths, rest);
    case "join":
      return await join(paths, rest);
    case "delete":
      return await remove(paths, rest);
    case "run":
      return await runRemote(paths, rest);
    case "open":
      return await openLocally(paths, rest);
    default:
      throw new CliError(
        `unknown dashboard command "${command}" (new, join, delete, run, open, or none for the status)`,
        2,
      );
  }
}

function client(link: Pick<DashboardConfig, "server" | "id" | "apiKey">): DashboardClient {
  return new DashboardClient({ ...link, timeoutMs: CALL_TIMEOUT_MS });
}

async function readLink(paths: KoiPaths): Promise<DashboardConfig | null> {
  try {
    return await readDashboardConfig(paths);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function requireLink(paths: KoiPaths): Promise<DashboardConfig> {
  const link = await readLink(paths);
  if (link === null) {
    throw new CliError(
      'this machine has no dashboard: create one with "koitab -d new" or join one with "koitab -d join URL"',
    );
  }
  return link;
}

/** The link with its data key, for a command that seals or opens what it sends or shows. */
async function requireDataKey(paths: KoiPaths): Promise<NewDashboardConfig> {
  const link = await requireLink(paths);
  if (link.dataKey === null) {
    throw new CliError(
      `${paths.dataKey} is missing: ${missingDataKey(dashboardUrl(link.server, link.id))}`,
    );
  }
  return link as NewDashboardConfig;
}

/** Options of the form `--name VALUE` or `--name=VALUE`, and flags, from `words`. */
function readOptions(
  words: readonly string[],
  valued: readonly string[],
  flags: readonly string[],
): { values: Map<string, string>; flags: Set<string>; rest: string[] } {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const [name, inline] = word.startsWith("--") && word.includes("=")
      ? [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]
      : [word, undefined];
    if (valued.includes(name)) {
      const value = inline ?? words[++i];
      if (value === undefined) throw new CliError(`${name} needs a value`, 2);
      values.set(name, value);
    } else if (flags.includes(word)) {
      seen.add(word);
    } else if (word.startsWith("-")) {
      throw new CliError(`unknown option "${word}"`, 2);
    } else {
      rest.push(word);
    }
  }
  return { values, flags: seen, rest };
}

function described(error: unknown, what: string): CliError {
  if (error instanceof DashboardError) return new CliError(`${what}: ${error.message}`);
  return new CliError(`${what}: ${(error as Error).message}`);
}

async function status(paths: KoiPaths): Promise<number> {
  const link = await requireLink(paths);
  console.log(`dashboard  ${link.id}`);
  console.log(`server     ${link.server}`);
  console.log(`url        ${dashboardUrl(link.server, link.id)}`);
  if (link.dataKey === null) {
    console.log(`data key   missing: ${missingDataKey(dashboardUrl(link.server, link.id))}`);
  }
  // What koid works around on this machine (manual runs refused, reports not spooled, …).
  for (const line of koidStateLines(await readKoidState(paths.koidState), Date.now())) {
    console.log(`koid       ${line}`);
  }
  // koid's own record says so whatever the server is; the server's covers every host.
  const refused = await readJobListRefusal(paths);
  const local = refused?.dashboard === link.id ? refused : null;
  const refusals = local === null
    ? []
    : [outOfDate(`${printable(local.host)}, this machine`, local)];
  try {
    const info = await client(link).info();
    const hosts = info.hosts.map((host) => {
      const seen = host.lastSeenAt === null
        ? "never seen"
        : `last seen ${new Date(host.lastSeenAt).toISOString()}`;
      return `${printable(host.host)} (${host.jobCount} job${
        host.jobCount === 1 ? "" : "s"
      }, ${seen})`;
    });
    for (const host of info.hosts) {
      if (host.jobListRefused !== null && host.host !== local?.host) {
        refusals.push(outOfDate(printable(host.host), host.jobListRefused));
      }
    }
    const list = hosts.length === 0 ? "no hosts yet" : `hosts: ${hosts.join(", ")}`;
    const alerts = await alertLines(client(link));
    if (refusals.length === 0) {
      console.log(`status     ok, ${list}`);
      for (const line of alerts) console.log(line);
      // Without its data key, this machine can neither seal nor open: koid does not link.
      return link.dataKey === null ? 1 : 0;
    }
    for (const refusal of refusals) console.log(`status     ${refusal}`);
    console.log(`hosts      ${list.replace(/^hosts: /, "")}`);
    for (const line of alerts) console.log(line);
    return 1;
  } catch (error) {
    if (!(error instanceof DashboardError)) throw error;
    for (const refusal of refusals) console.log(`status     ${refusal}`);
    console.log(
      `status     ${
        error.status === 401
          ? "wrong password/API key (or the dashboard was deleted)"
          : error.kind === "network" || error.kind === "timeout"
          ? `unreachable: ${error.message}`
          : `error: ${error.message}`
      }`,
    );
    return 1;
  }
}

/**
 * What `koitab -d` says of alerts: where they go (or that they go nowhere yet),
 * and what is muted. Nothing from a server without alerts.
 */
async function alertLines(api: DashboardClient): Promise<string[]> {
  let channels: ChannelSummary[];
  let mutes: Mute[];
  try {
    [channels, mutes] = await Promise.all([api.channels(), api.mutes()]);
  } catch (error) {
    if (!(error instanceof DashboardError)) throw error;
    return error.status === 404 ? [] : [`alerts     cannot be read: ${error.message}`];
  }
  const lines = [
    channels.length === 0
      ? "alerts     no channel: failed runs, missed runs and silent hosts are only in the page's alert history (add a channel in its Alerts view)"
      : `alerts     to ${
        channels.map((channel) => `${channel.kind} ${printable(channel.target)}`).join(", ")
      }`,
  ];
  if (mutes.length > 0) {
    // Mutes name jobs by tag: their names are in the job list.
    const jobs = mutes.some((mute) => mute.tag !== null) ? await api.jobs().catch(() => []) : [];
    const muted = mutes.map((mute) => {
      const host = printable(mute.host);
      if (mute.tag === null) return `${host} (all its jobs)`;
      const job = jobs.find((j) => j.host === mute.host && j.tag === mute.tag);
      return `${host} ${printable(jobLabel(job ?? { name: null, section: null, tag: mute.tag }))}`;
    });
    lines.push(`muted      ${muted.join(", ")}`);
  }
  return lines;
}

/** A status line for a job list the dashboard refused. */
function outOfDate(host: string, refusal: { at: number; reason: string }): string {
  return `the host's job list is out of date (${host}): the server refused it at ${
    new Date(refusal.at).toISOString()
  }: ${printable(refusal.reason)}`;
}

async function create(paths: KoiPaths, words: readonly string[]): Promise<number> {
  const options = readOptions(words, ["--server"], ["--generate"]);
  if (options.rest.length > 0) throw new CliError(`unexpected "${options.rest[0]}" after new`, 2);
  let server: string;
  try {
    server = normalizeServer(options.values.get("--server") ?? DEFAULT_SERVER);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
  const generate = options.flags.has("--generate");
  if (generate && Deno.env.get("KOI_PASSWORD")) {
    throw new CliError(
      "--generate makes the password: unset KOI_PASSWORD, or leave out --generate",
      2,
    );
  }
  const existing = await readLink(paths);
  if (existing !== null) {
    throw new CliError(
      `this machine is linked to dashboard ${existing.id} already (${
        dashboardUrl(existing.server, existing.id)
      }): "koitab -d delete" it first`,
    );
  }
  const password = generate ? generatePassword() : await obtainPassword({ choosing: true });
  try {
    // Before the dashboard exists anywhere: a KOI_DIR that cannot be made fails with nothing done.
    await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CliError(`cannot create ${paths.dir}: ${(error as Error).message}`);
  }
  const id = newDashboardId();
  const keys = await deriveKeys(password, id);
  try {
    await client({ server, id, apiKey: keys.apiKey }).create();
  } catch (error) {
    throw described(error, `cannot create the dashboard on ${server}`);
  }
  try {
    await writeDashboardConfig(paths, { id, server, ...keys });
  } catch (error) {
    throw new CliError(
      `the dashboard ${id} was created, but its keys cannot be saved in ${paths.dir}: ${
        (error as Error).message
      }`,
    );
  }
  if (generate) {
    console.error(`koitab: the dashboard password, shown only this once: ${password}`);
  }
  console.log(dashboardUrl(server, id));
  return 0;
}

async function join(paths: KoiPaths, words: readonly string[]): Promise<number> {
  const options = readOptions(words, [], []);
  if (options.rest.length !== 1) throw new CliError("join takes the dashboard's URL", 2);
  let target: { server: string; id: string };
  try {
    target = parseDashboardUrl(options.rest[0]!);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
  const password = await obtainPassword({ choosing: false });
  const keys = await deriveKeys(password, target.id);
  try {
    await client({ ...target, apiKey: keys.apiKey }).info();
  } catch (error) {
    if (error instanceof DashboardError && error.status === 401) {
      throw new CliError(
        "wrong password for this dashboard (or no such dashboard): nothing was saved",
      );
    }
    throw described(error, `cannot check the dashboard at ${target.server}; nothing was saved`);
  }
  const previous = await readLink(paths).catch(() => null);
  await writeDashboardConfig(paths, { ...target, ...keys });
  if (previous !== null && previous.id !== target.id) {
    console.error(`koitab: this machine left dashboard ${previous.id}`);
  }
  console.log(dashboardUrl(target.server, target.id));
  return 0;
}

async function remove(paths: KoiPaths, words: readonly string[]): Promise<number> {
  const options = readOptions(words, [], ["--local", "--yes"]);
  if (options.rest.length > 0) {
    throw new CliError(`unexpected "${options.rest[0]}" after delete`, 2);
  }
  const link = await requireLink(paths);
  if (!options.flags.has("--yes") && !await confirmDelete(link)) {
    console.error("koitab: nothing was deleted");
    return 0;
  }
  try {
    await client(link).delete();
  } catch (error) {
    const reason = error instanceof DashboardError && error.status === 401
      ? "the server refused the API key (was the dashboard deleted already?)"
      : (error as Error).message;
    if (!options.flags.has("--local")) {
      throw new CliError(
        `cannot delete dashboard ${link.id} on ${link.server}: ${reason}; nothing was removed ("koitab -d delete --local" removes this machine's link anyway)`,
      );
    }
    await deleteDashboardConfig(paths);
    console.error(
      `koitab: cannot delete dashboard ${link.id} on ${link.server}: ${reason}; removed this machine's link only`,
    );
    return 0;
  }
  await deleteDashboardConfig(paths);
  console.log(`deleted dashboard ${link.id}`);
  return 0;
}

/**
 * Asks on the terminal before deleting a dashboard every linked machine shares,
 * naming how many hosts it has. Without a terminal, `--yes` must say it.
 *
 * @returns Whether the user said yes.
 * @throws {CliError} When there is no terminal to ask on.
 */
async function confirmDelete(link: DashboardConfig): Promise<boolean> {
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(
      `deleting dashboard ${link.id} deletes it for every machine linked to it: add --yes to do it without a terminal to ask on`,
      2,
    );
  }
  let hosts: string;
  try {
    const names = (await client(link).info()).hosts.map((host) => printable(host.host));
    hosts = names.length === 0
      ? "no hosts linked to it yet"
      : `${names.length} host${names.length === 1 ? "" : "s"} linked to it (${names.join(", ")})`;
  } catch (error) {
    if (!(error instanceof DashboardError)) throw error;
    hosts = "the hosts linked to it (the server does not say how many)";
  }
  const answer = await askLine(
    `koitab: delete dashboard ${link.id} at ${link.server}, with the jobs and runs of ${hosts}? This cannot be undone. (y/n) `,
  );
  return answer === "y";
}

let lastTimestamp = 0;

/** Now, in ms, but never the same twice in this process: each request's signature is unique. */
function uniqueTimestamp(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/** Which of the dashboard's `@manual` jobs the user means. */
function chooseJob(jobs: readonly HostJob[], wanted: string, host: string | null): HostJob {
  const matches = (job: HostJob) => namesJob(job, wanted);
  const manual = jobs.filter((job) => scheduleKind(job.schedule) === "manual");
  let found = manual.filter(matches);
  if (found.length === 0) {
    if (jobs.some(matches)) {
      throw new CliError(
        `"${wanted}" is not an @manual job: only @manual jobs run from the dashboard`,
      );
    }
    const named = manual.filter((job) => job.name !== null);
    const close = [
      ...new Set(
        named.filter((job) => similarNames([job.name!, label(job).slice(1, -1)], wanted).length)
          .map(label),
      ),
    ];
    if (close.length > 0) {
      throw new CliError(
        `no @manual job "${wanted}" on the dashboard: did you mean ${close.join(" or ")}?`,
      );
    }
    const names = [...new Set(named.map(label))];
    throw new CliError(
      `no @manual job "${wanted}" on the dashboard (${
        names.length ? `@manual jobs: ${names.join(", ")}` : "it has no named @manual jobs"
      })`,
    );
  }
  const hosts = [...new Set(found.map((job) => job.host))];
  if (host !== null) {
    found = found.filter((job) => job.host === host);
    if (found.length === 0) {
      throw new CliError(
        `no @manual job "${wanted}" on host "${host}" (it is on ${hosts.join(", ")})`,
      );
    }
  } else if (hosts.length > 1) {
    throw new CliError(
      `"${wanted}" is on ${hosts.length} hosts: say which with --host (${hosts.join(", ")})`,
      2,
    );
  }
  if (found.length > 1) {
    throw new CliError(
      `"${wanted}" names ${found.length} jobs on ${found[0]!.host}: say ${
        found.map(label).join(" or ")
      }`,
      2,
    );
  }
  return found[0]!;
}

/** A named job as a person types it, quoted: `"Admin/Say"`. */
function label(job: HostJob): string {
  return `"${typedName({ ...job, name: job.name ?? "" })}"`;
}

/**
 * The typed values of `--arg name=value` options for a job, read as `koitab run`
 * reads them and as koid checks them (`readArgValues()`), each required value given.
 *
 * @param job The job.
 * @param given The values as typed.
 * @returns The values, typed.
 * @throws {CliError} For an unknown name, a bad value or a missing required value.
 */
export function typedArgs(
  job: Pick<HostJob, "args">,
  given: Readonly<Record<string, string>>,
): Record<string, ArgValue> {
  let values: Record<string, ArgValue>;
  try {
    values = readArgValues(job, given);
  } catch (error) {
    if (error instanceof ArgumentError) throw new CliError(error.message, 2);
    throw error;
  }
  for (const spec of job.args) {
    if (!Object.hasOwn(values, spec.name) && argDefault(spec) === undefined) {
      throw new CliError(
        `argument "${spec.name}" has no default: give it with --arg "${spec.name}=VALUE"`,
        2,
      );
    }
  }
  return values;
}

async function runRemote(paths: KoiPaths, words: readonly string[]): Promise<number> {
  const [name, ...rest] = words;
  if (name === undefined || name.startsWith("-")) {
    throw new CliError("run needs the NAME of an @manual job", 2);
  }
  const argWords: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--arg") argWords.push(rest[i]!, rest[++i] ?? "");
    else if (rest[i]!.startsWith("--arg=")) argWords.push(rest[i]!);
    else others.push(rest[i]!);
  }
  const options = readOptions(others, ["--host", "--timeout"], []);
  if (options.rest.length > 0) throw new CliError(`unexpected "${options.rest[0]}"`, 2);
  const timeoutText = options.values.get("--timeout") ?? "60";
  if (!/^[0-9]+$/.test(timeoutText) || Number(timeoutText) < 1) {
    throw new CliError(`--timeout needs a whole number of seconds, got "${timeoutText}"`, 2);
  }
  const timeoutMs = Number(timeoutText) * 1000;
  const given = parseArgOptions(argWords);
  const link = await requireDataKey(paths);
  const api = client(link);
  const dataKey = await importDataKey(link.dataKey);
  let jobs: HostJob[];
  try {
    jobs = await Promise.all((await api.jobs()).map((job) => openJob(dataKey, link.id, job)));
  } catch (error) {
    throw described(error, "cannot get the dashboard's jobs");
  }
  const job = chooseJob(jobs, name, options.values.get("--host") ?? null);
  const args = typedArgs(job, given);
  // Sealed before signing: the signature covers the envelopes; the server sees no value.
  const payload = await manualPayload(dataKey, {
    dashboard: link.id,
    host: job.host,
    tag: job.tag,
    ts: uniqueTimestamp(),
  }, args);
  const signature = await signRun(link.runKey, payload);
  let manualId: string;
  try {
    manualId = await api.postManual(payload, signature);
  } catch (error) {
    throw described(error, "cannot queue the run");
  }
  const opener = { key: dataKey, dashboard: link.id, host: job.host };
  const runId = await awaitStart(api, manualId, job.host, timeoutMs, opener);
  return await follow(api, runId, opener);
}

/**
 * Serves the page of the linked dashboard (or of the one at `URL`, without
 * linking anything) from this installation until SIGINT or SIGTERM.
 */
async function openLocally(paths: KoiPaths, words: readonly string[]): Promise<number> {
  const options = readOptions(words, ["--port"], []);
  if (options.rest.length > 1) throw new CliError(`unexpected "${options.rest[1]}" after open`, 2);
  const portText = options.values.get("--port") ?? "0";
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new CliError(`--port needs a port number from 0 to 65535, got "${portText}"`, 2);
  }
  let target: { server: string; id: string };
  if (options.rest.length === 1) {
    try {
      target = parseDashboardUrl(options.rest[0]!);
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
  } else {
    target = await requireLink(paths);
  }
  let page;
  try {
    page = await serveLocalPage({
      server: target.server,
      id: target.id,
      port: Number(portText),
      log: (line) => console.error(`koitab: ${line}`),
    });
  } catch (error) {
    throw new CliError(
      `cannot listen on 127.0.0.1:${portText}: ${
        error instanceof Deno.errors.AddrInUse
          ? "the port is in use by another program (choose another with --port)"
          : (error as Error).message
      }`,
    );
  }
  console.log(page.url);
  console.error(
    `koitab: serving the dashboard page from this installation; its API calls go to ${target.server}. Ctrl-C stops.`,
  );
  const { promise: stopped, resolve } = Promise.withResolvers<void>();
  const stop = () => resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  await page.shutdown();
  return 0;
}

/** The data key and the dashboard, to open what the server answers. */
interface Opener {
  readonly key: CryptoKey;
  readonly dashboard: string;
  readonly host: string;
}

/** Text from the server, without the control characters that could drive the terminal. */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for koid to take the run: its run id, or a failure with koid's reason. */
async function awaitStart(
  api: DashboardClient,
  manualId: string,
  host: string,
  timeoutMs: number,
  opener: Opener,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let problem = "";
  let claimed = false;
  while (Date.now() < deadline) {
    try {
      const manual = await api.manual(manualId, {
        timeoutMs: Math.max(1000, Math.min(CALL_TIMEOUT_MS, deadline - Date.now())),
      });
      problem = "";
      claimed ||= manual.state === "claimed";
      if (manual.state === "refused") {
        const reason = manual.reason === undefined || manual.reason === null
          ? "no reason given"
          : await openText(
            opener.key,
            contexts(opener.dashboard, host).refusal(manualId),
            manual.reason,
          );
        throw new CliError(`koid on ${host} refused the run: ${printable(reason)}`);
      }
      if (manual.state === "started") return manual.runId!;
      if (manual.state === "cancelled") {
        throw new CliError(`the run was cancelled on the dashboard before ${host} took it`);
      }
    } catch (error) {
      if (!(error instanceof DashboardError)) throw error;
      problem = ` (the dashboard last said: ${error.message})`;
    }
    await pause(Math.min(FOLLOW_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
  const seconds = timeoutMs / 1000;
  throw new CliError(
    claimed
      ? `koid on ${host} took the run but did not say within ${seconds} s whether it started it (see ${api.url})`
      : `koid on ${host} did not take the run within ${seconds} s: is it running and linked to this dashboard?${problem}`,
  );
}

/**
 * Prints a run's output as it comes and returns its exit status. While the run
 * goes on, the server answers with the streamed chunks; once it has ended, with
 * its final chunks (the kept head and tail), numbered afresh: of those, only what
 * was not printed yet is printed.
 */
async function follow(api: DashboardClient, runId: string, opener: Opener): Promise<number> {
  const write = chunkPrinter();
  let after: number | null = null;
  let printed = "";
  let failingSince: number | null = null;
  while (true) {
    let answer;
    try {
      answer = await api.run(runId, after);
      if (answer.run.status !== "running" && after !== null) answer = await api.run(runId, null);
      failingSince = null;
    } catch (error) {
      if (!(error instanceof DashboardError)) throw error;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > FOLLOW_PATIENCE_MS) {
        throw new CliError(
          `lost the dashboard while following run ${runId}: ${error.message} (the run goes on; see ${api.url})`,
        );
      }
      await pause(FOLLOW_INTERVAL_MS);
      continue;
    }
    // Each chunk opened as it comes: one that does not shows as such, in its place.
    const at = contexts(opener.dashboard, opener.host);
    const error = answer.run.error === null
      ? null
      : await openText(opener.key, at.error(runId), answer.run.error);
    const run = { ...answer.run, host: opener.host, error };
    const output = await openOutput(opener.key, opener.dashboard, run, answer.output);
    const chunks = output.sort((a, b) => a.seq - b.seq);
    if (run.status !== "running") {
      for (const chunk of unprinted(chunks, printed)) await write(chunk);
      return exitStatus(run);
    }
    for (const chunk of chunks) {
      if (after !== null && chunk.seq <= after) continue;
      await write(chunk);
      printed += chunk.text;
      after = chunk.seq;
    }
    await pause(FOLLOW_INTERVAL_MS);
  }
}

/**
 * The part of a run's final chunks not yet printed: what follows the printed
 * text when the final output starts with it; else, the output was elided in a
 * part already printed, and what follows Koi's elision note is printed.
 */
function unprinted(chunks: readonly OutputRecord[], printed: string): OutputRecord[] {
  const text = chunks.filter((chunk) => chunk.stream !== "koi").map((chunk) => chunk.text).join("");
  if (text.startsWith(printed)) {
    let skip = printed.length;
    const rest: OutputRecord[] = [];
    for (const chunk of chunks) {
      if (chunk.stream === "koi") {
        if (skip === 0) rest.push(chunk);
        continue;
      }
      if (skip >= chunk.text.length) {
        skip -= chunk.text.length;
        continue;
      }
      rest.push({ ...chunk, text: chunk.text.slice(skip) });
      skip = 0;
    }
    return rest;
  }
  const note = chunks.findIndex((chunk) => chunk.stream === "koi");
  return note < 0 ? [] : chunks.slice(note);
}

/**
 * A printer of chunks, each to the stream it came from. One that does not open is
 * said on a line of its own, so it does not run into the output around it.
 */
function chunkPrinter(): (chunk: OutputRecord & { undecryptable?: true }) => Promise<void> {
  /** Whether the last output printed ended a line. */
  let atLineStart = true;
  return async (chunk) => {
    const text = chunk.undecryptable
      ? `${atLineStart ? "" : "\n"}[${UNDECRYPTABLE_TEXT}]\n`
      : chunk.text;
    if (text === "") return;
    atLineStart = text.endsWith("\n");
    const bytes = new TextEncoder().encode(text);
    await writeAll(chunk.stream === "stdout" ? Deno.stdout : Deno.stderr, bytes);
  };
}

function exitStatus(
  run: { status: string; exitCode: number | null; signal: string | null; error: string | null },
): number {
  if (run.signal !== null) return 128 + signalNumber(run.signal);
  if (run.exitCode !== null) return run.exitCode >= 0 && run.exitCode <= 255 ? run.exitCode : 1;
  console.error(
    `koitab: the run ${run.status === "not-started" ? "did not start" : `is ${run.status}`}${
      run.error ? `: ${printable(run.error)}` : ""
    }`,
  );
  return 1;
}
