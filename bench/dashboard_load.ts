/**
 * The dashboard server under load: 1,000 koids long-polling one server, with the
 * latency of manual runs from queue to koid, then run reports ingested per second.
 *
 * A script, not a `deno bench` file. Run from the repository root:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run --allow-env bench/dashboard_load.ts
 * ```
 *
 * Options: `--json` prints the figures as one JSON object (progress goes to stderr);
 * `--quick` shrinks the counts and durations for a smoke run; `--jobs`, part 3 alone;
 * `--instances N`, below.
 *
 * The server is the real `dashboard.ts`, started in its own process with the flags
 * of `deno task dashboard` on a fresh store file, as it is deployed; this script
 * plays the koids and the browsers.

 *
 * 1. Long-poll latency: 1,000 koids, each its own host (100 hosts under each of 10
 *    dashboards), each keeping one `GET …/hosts/{host}/manual?wait=25` open and
 *    polling again as soon as it is answered. Once all are waiting, manual runs are
 *    queued one at a time, each for a random host; latency is from the moment the
 *    `POST …/manual` is answered to the moment that host's koid has the run (and,
 *    for comparison, from the moment it is sent). Goal: p50 under 100 ms.
 * 2. Report ingest: several concurrent hosts, each sending batches of whole runs
 *    (start, one output, end: three reports per run) as fast as the server takes
 *    them, with `retentionRuns` low enough that every end also trims old runs. The
 *    1,000 koids of part 1 stay connected. Goal: at least 2,000 reports per second.
 * 3. The jobs view at scale (`_jobs_at_scale.ts`): a dashboard of 2,000 jobs (100
 *    hosts of 20), then one of 10,000 (500 hosts), made as koids make them; every
 *    job, then a refresh where nothing changed (`If-None-Match` → 304, plain and with
 *    the page's `?since=` cursor; 200 calls each), then one after a single run.
 *    Goals: a refresh where nothing changed in at most 5 ms and 1 KiB. `--jobs` runs
 *    this part alone.
 *
 * `--instances N` (2 to 9) measures several stateless instances sharing one store
 * instead: N `dashboard.ts` processes on the KV Connect fixture
 * (`tests/_kv_connect.ts`, in its own process, where a self-hosted denokv would
 * be), 10,000 koids spread over them (their first polls staggered over 5-25 s, as
 * koids started at different times), manual runs queued through a random instance,
 * 20 a second, most for a koid waiting on another instance (reached through that
 * instance's once-a-second look at the store), the ingest clients spread over the
 * instances, the jobs view filled through one instance and asked through another,
 * and each process's RSS and CPU. It needs a few more than 10,000 file
 * descriptors (`ulimit -n`).
 *
 * @module
 */

import { createDashboard, type NewDashboard } from "../tests/_new_dashboard.ts";
import { base64url } from "../lib/protocol/keys.ts";
import {
  type ServerProcess,
  startDashboardProcess,
  startKvConnectProcess,
} from "../tests/_dashboard_process.ts";
import { runReports } from "../tests/_reports.ts";
import { type JobsAtScale, jobsAtScale, jobsAtScaleLines } from "./_jobs_at_scale.ts";
import { cpuShare, loadAverage, usage } from "./_process_usage.ts";

let json = false;
let quick = false;
let jobsOnly = false;
/** How many server instances share one store; 1 is the embedded store. */
let instanceCount = 1;
for (let i = 0; i < Deno.args.length; i++) {
  const arg = Deno.args[i]!;
  if (arg === "--json") json = true;
  else if (arg === "--quick") quick = true;
  else if (arg === "--jobs") jobsOnly = true;
  else if (arg === "--instances" && /^[2-9]$/.test(Deno.args[i + 1] ?? "")) {
    instanceCount = Number(Deno.args[++i]);
  } else {
    console.error(
      `dashboard_load: unknown option "${arg}" (expected --json, --quick, --jobs, --instances 2-9)`,
    );
    Deno.exit(2);
  }
}
const multi = instanceCount > 1;

const config = {
  dashboards: 10,
  hostsPerDashboard: multi ? (quick ? 100 : 1000) : 100,
  manualRuns: quick ? 100 : 500,
  manualGapMs: multi ? 50 : 20,
  ingestClients: 8,
  runsPerBatch: 20,
  ingestSeconds: quick ? 5 : 20,
  retentionRuns: 20,
  /** The jobs view's dashboards: hosts of 20 jobs. */
  jobsViewHosts: [100, 500],
  jobsViewCalls: quick ? 50 : 200,
};

function progress(line: string): void {
  console.error(`dashboard_load: ${line}`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

type Dashboard = NewDashboard;

/** One simulated koid: keeps a long-poll open, and says when each manual run arrives. */
class Koid {
  readonly received = new Map<string, number>();
  readonly #stop = new AbortController();
  readonly #waiting = new Map<string, (arrived: number) => void>();
  polls = 0;
  readonly done: Promise<void>;

  /**
   * @param url The base URL of the server instance it polls.
   * @param dashboard Its dashboard.
   * @param host Its host name.
   * @param firstWait How long its first poll waits, seconds; then 25.
   */
  constructor(
    readonly url: string,
    readonly dashboard: Dashboard,
    readonly host: string,
    firstWait = 25,
  ) {
    this.done = this.#loop(`${url}/api/d/${dashboard.id}/hosts/${host}/manual`, firstWait);
  }

  async #loop(pollUrl: string, firstWait: number): Promise<void> {
    for (let wait = firstWait; !this.#stop.signal.aborted; wait = 25) {
      try {
        const response = await fetch(`${pollUrl}?wait=${wait}`, {
          headers: this.dashboard.headers,
          signal: this.#stop.signal,
        });
        const body = await response.json() as { runs?: { manualId: string }[] };
        this.polls++;
        const now = performance.now();
        for (const run of body.runs ?? []) {
          this.received.set(run.manualId, now);
          this.#waiting.get(run.manualId)?.(now);
        }
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        progress(`poll failed for ${this.host}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Resolves with the arrival time of a manual run. */
  arrival(manualId: string): Promise<number> {
    const known = this.received.get(manualId);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => this.#waiting.set(manualId, resolve));
  }

  stop(): void {
    this.#stop.abort();
  }
}

/** Waits until every koid's poll has reached the server (each host seen since `since`). */
async function waitForPollers(url: string, dashboards: Dashboard[], since: number): Promise<void> {
  const deadline = performance.now() + 180_000;
  while (performance.now() < deadline) {
    let seen = 0;
    for (const dashboard of dashboards) {
      const response = await fetch(`${url}/api/d/${dashboard.id}`, { headers: dashboard.headers });
      const body = await response.json() as { hosts: { lastSeenAt: number | null }[] };
      seen += body.hosts.filter((host) => (host.lastSeenAt ?? 0) >= since).length;
    }
    if (seen === dashboards.length * config.hostsPerDashboard) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("the long-polls did not all reach the server within three minutes");
}

/** Queues a manual run for a koid through `url`; resolves once the koid has it. */
async function manualRun(url: string, koid: Koid) {
  const payload = JSON.stringify({
    v: 1,
    dashboard: koid.dashboard.id,
    host: koid.host,
    tag: "j0000000000000000",
    ts: Date.now(),
    args: {},
  });
  const sent = performance.now();
  const response = await fetch(`${url}/api/d/${koid.dashboard.id}/manual`, {
    method: "POST",
    headers: koid.dashboard.headers,
    body: JSON.stringify({ payload, signature: base64url(new Uint8Array(32)) }),
  });
  const { manualId } = await response.json() as { manualId: string };
  const answered = performance.now();
  const arrived = await koid.arrival(manualId);
  return { fromResponse: Math.max(0, arrived - answered), fromRequest: arrived - sent };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** p50, p99 and max of some latencies, ms. */
function spread(latencies: number[]) {
  const sorted = latencies.toSorted((a, b) => a - b);
  return {
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1)!),
  };
}

async function longPollLatency(url: string, koids: Koid[]) {
  const fromResponse: number[] = [];
  const fromRequest: number[] = [];
  for (let i = 0; i < config.manualRuns; i++) {
    const koid = koids[Math.floor(Math.random() * koids.length)]!;
    const latency = await manualRun(url, koid);
    fromResponse.push(latency.fromResponse);
    fromRequest.push(latency.fromRequest);
    await new Promise((resolve) => setTimeout(resolve, config.manualGapMs));
  }
  const sent = spread(fromRequest);
  return {
    runs: config.manualRuns,
    ...spread(fromResponse),
    fromPostSentP50Ms: sent.p50Ms,
    fromPostSentP99Ms: sent.p99Ms,
  };
}

/**
 * Manual runs queued through a random instance for a random koid, one every
 * `manualGapMs` without waiting for the last to arrive (a run crossing instances
 * takes up to a second): latency from the queueing answer to the koid.
 */
async function multiInstanceLatency(urls: string[], koids: Koid[]) {
  const runs: Promise<{ across: boolean; ms: number }>[] = [];
  for (let i = 0; i < config.manualRuns; i++) {
    const koid = koids[Math.floor(Math.random() * koids.length)]!;
    const url = urls[Math.floor(Math.random() * urls.length)]!;
    runs.push(
      manualRun(url, koid).then(({ fromResponse }) => ({
        across: url !== koid.url,
        ms: fromResponse,
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, config.manualGapMs));
  }
  const done = await Promise.all(runs);
  const across = done.filter((run) => run.across).map((run) => run.ms);
  const same = done.filter((run) => !run.across).map((run) => run.ms);
  return {
    runs: done.length,
    ...spread(done.map((run) => run.ms)),
    acrossInstances: { runs: across.length, ...spread(across) },
    sameInstance: { runs: same.length, ...spread(same) },
  };
}

/** Ingest clients, each its own host, sending batches through the URLs in turn. */
async function reportIngest(urls: string[]) {
  const dashboard = await createDashboard(urls[0]!);
  await (await fetch(`${urls[0]}/api/d/${dashboard.id}/settings`, {
    method: "PATCH",
    headers: dashboard.headers,
    body: JSON.stringify({ retentionRuns: config.retentionRuns }),
  })).body?.cancel();
  const text = "a line of output from the job, as koid streams it\n".repeat(4);
  let reports = 0;
  let batches = 0;
  /** The runs each client sent; its jobs take turns, five of them. */
  const sent: number[] = [];
  const deadline = performance.now() + config.ingestSeconds * 1000;
  const began = performance.now();
  await Promise.all(Array.from({ length: config.ingestClients }, async (_, client) => {
    const host = `ingest-${client}`;
    const url = urls[client % urls.length]!;
    let run = 0;
    while (performance.now() < deadline) {
      const batch = [];
      for (let i = 0; i < config.runsPerBatch; i++, run++) {
        batch.push(...runReports(`${client}-${run}`, `j${run % 5}`, Date.now(), text));
      }
      const response = await fetch(`${url}/api/d/${dashboard.id}/hosts/${host}/reports`, {
        method: "POST",
        headers: dashboard.headers,
        body: JSON.stringify({ reports: batch }),
      });
      const body = await response.json() as { accepted?: number };
      if (body.accepted !== batch.length) {
        throw new Error(`batch not accepted: ${response.status} ${JSON.stringify(body)}`);
      }
      reports += batch.length;
      batches++;
      sent[client] = run;
    }
  }));
  const seconds = (performance.now() - began) / 1000;
  // The server kept up with retention too: a job holds its last retentionRuns runs.
  const want = Math.min(config.retentionRuns, Math.ceil((sent[0] ?? 0) / 5));
  const kept = await fetch(
    `${urls.at(-1)}/api/d/${dashboard.id}/runs?host=ingest-0&tag=j0&limit=500`,
    { headers: dashboard.headers },
  );
  const { runs } = await kept.json() as { runs: unknown[] };
  if (runs.length !== want) throw new Error(`a job kept ${runs.length} runs, not ${want}`);
  return {
    clients: config.ingestClients,
    reportsPerBatch: config.runsPerBatch * 3,
    reports,
    seconds: Math.round(seconds * 10) / 10,
    reportsPerSecond: Math.round(reports / seconds),
    batchesPerSecond: Math.round(batches / seconds),
  };
}

/**
 * Starts koids spread over the instances, and waits until all are polling. With
 * several instances the first polls wait from 5 to 25 s, so that later polls come
 * spread out, as from koids started at different times, not all at once every 25 s.
 */
async function startKoids(urls: string[]): Promise<Koid[]> {
  const dashboards = await Promise.all(
    Array.from({ length: config.dashboards }, () => createDashboard(urls[0]!)),
  );
  const since = Date.now();
  const koids: Koid[] = [];
  for (const dashboard of dashboards) {
    for (let h = 0; h < config.hostsPerDashboard; h++) {
      const url = urls[koids.length % urls.length]!;
      const firstWait = multi ? 5 + Math.round(Math.random() * 200) / 10 : 25;
      koids.push(new Koid(url, dashboard, `host-${String(h).padStart(4, "0")}`, firstWait));
    }
  }
  await waitForPollers(urls[0]!, dashboards, since);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return koids;
}

async function stopKoids(koids: Koid[]): Promise<void> {
  for (const koid of koids) koid.stop();
  await Promise.all(koids.map((koid) => koid.done));
}

const MiB = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Part 3: the jobs view at each size, filled through one URL and asked through another. */
async function jobsView(fillUrl: string, measureUrl: string): Promise<JobsAtScale[]> {
  const figures: JobsAtScale[] = [];
  for (const hosts of config.jobsViewHosts) {
    progress(`the jobs view: filling ${hosts * 20} jobs`);
    const dashboard = await createDashboard(fillUrl);
    figures.push(
      await jobsAtScale(dashboard, fillUrl, measureUrl, hosts, config.jobsViewCalls),
    );
  }
  return figures;
}

/** `--jobs`: part 3 alone, on one server (or, with `--instances`, across two of them). */
async function jobsViewAlone(): Promise<void> {
  const token = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const dir = await Deno.makeTempDir({ prefix: "koi_dashboard_load_" });
  const store = multi ? await startKvConnectProcess(token) : null;
  const servers = await Promise.all(
    Array.from(
      { length: multi ? 2 : 1 },
      () =>
        store === null
          ? startDashboardProcess(`${dir}/store.db`)
          : startDashboardProcess(store.url, { DENO_KV_ACCESS_TOKEN: token }),
    ),
  );
  try {
    const figures = await jobsView(servers[0]!.url, servers.at(-1)!.url);
    if (json) console.log(JSON.stringify({ jobsView: figures }));
    else {
      const where = multi ? "two instances on one KV Connect store" : "the embedded store";
      console.log(`the jobs view (${where}, ${navigator.hardwareConcurrency} cores)`);
      for (const line of jobsAtScaleLines(figures)) console.log(line);
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await store?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function singleInstance(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_dashboard_load_" });
  const server = await startDashboardProcess(`${dir}/store.db`);
  const url = server.url;
  let koids: Koid[] = [];
  try {
    progress(
      `server ${url} (pid ${server.pid}); ${config.dashboards * config.hostsPerDashboard} koids`,
    );
    const idle = await usage(server.pid);
    koids = await startKoids([url]);
    const polled = await usage(server.pid);
    progress(`all koids waiting; queueing ${config.manualRuns} manual runs`);
    const latency = await longPollLatency(url, koids);
    progress(`manual latency p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms`);
    progress(`ingesting reports for ${config.ingestSeconds} s`);
    const beforeIngest = await usage(server.pid);
    const ingest = await reportIngest([url]);
    const afterIngest = await usage(server.pid);
    progress(`${ingest.reportsPerSecond} reports/s`);
    const views = await jobsView(url, url);
    const figures = {
      koids: koids.length,
      longPoll: latency,
      ingest,
      jobsView: views,
      server: {
        rssIdleMiB: MiB(idle.rss),
        rssWithPollsMiB: MiB(polled.rss),
        rssAfterIngestMiB: MiB(afterIngest.rss),
        ingestCpuShare: cpuShare(beforeIngest, afterIngest, ingest.seconds),
      },
    };
    if (json) {
      console.log(JSON.stringify(figures));
    } else {
      console.log(
        `dashboard server under load (${Deno.build.os}, ${navigator.hardwareConcurrency} cores)`,
      );
      console.log(`  ${figures.koids} koids long-polling; manual run queued → koid has it:`);
      console.log(
        `    from POST answered: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (${latency.runs} runs; goal p50 < 100 ms)`,
      );
      console.log(
        `    from POST sent:     p50 ${latency.fromPostSentP50Ms} ms, p99 ${latency.fromPostSentP99Ms} ms`,
      );
      console.log(
        `  report ingest: ${ingest.reportsPerSecond} reports/s (${ingest.clients} clients, batches of ${ingest.reportsPerBatch}, ${ingest.seconds} s; goal ≥ 2,000/s)`,
      );
      const stats = figures.server;
      console.log(
        `  server: RSS ${stats.rssIdleMiB} MiB idle, ${stats.rssWithPollsMiB} MiB with the polls open, ${stats.rssAfterIngestMiB} MiB after ingest; ${stats.ingestCpuShare} CPU cores busy during ingest`,
      );
      for (const line of jobsAtScaleLines(views)) console.log(line);
    }
  } finally {
    await stopKoids(koids);
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function multiInstance(): Promise<void> {
  const token = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const store = await startKvConnectProcess(token);
  const instances: ServerProcess[] = [];
  let koids: Koid[] = [];
  try {
    instances.push(
      ...await Promise.all(
        Array.from(
          { length: instanceCount },
          () => startDashboardProcess(store.url, { DENO_KV_ACCESS_TOKEN: token }),
        ),
      ),
    );
    const urls = instances.map((instance) => instance.url);
    const count = config.dashboards * config.hostsPerDashboard;
    progress(`store ${store.url}; ${instanceCount} instances ${urls.join(" ")}; ${count} koids`);
    const usages = () => Promise.all([store, ...instances].map((server) => usage(server.pid)));
    const loadBefore = await loadAverage();
    const idle = await usages();
    koids = await startKoids(urls);
    const polled = await usages();
    progress(`all koids waiting; queueing ${config.manualRuns} manual runs`);
    const latency = await multiInstanceLatency(urls, koids);
    progress(`manual latency p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms`);
    progress(`ingesting reports for ${config.ingestSeconds} s`);
    const before = await usages();
    const benchBefore = await usage(Deno.pid);
    const ingest = await reportIngest(urls);
    const after = await usages();
    const benchAfter = await usage(Deno.pid);
    progress(`${ingest.reportsPerSecond} reports/s`);
    const rss = (readings: { rss: number }[]) => readings.slice(1).map((r) => MiB(r.rss));
    const figures = {
      instances: instanceCount,
      koids: koids.length,
      loadAverageBefore: loadBefore,
      longPoll: latency,
      ingest,
      instanceRssMiB: { idle: rss(idle), withPolls: rss(polled), afterIngest: rss(after) },
      instanceIngestCpuShare: after.slice(1).map((a, i) =>
        cpuShare(before[i + 1]!, a, ingest.seconds)
      ),
      store: {
        rssMiB: MiB(after[0]!.rss),
        ingestCpuShare: cpuShare(before[0]!, after[0]!, ingest.seconds),
      },
      /** This process: the koids and the ingest clients. */
      benchIngestCpuShare: cpuShare(benchBefore, benchAfter, ingest.seconds),
      jobsView: await jobsView(urls[0]!, urls.at(-1)!),
    };
    if (json) {
      console.log(JSON.stringify(figures));
    } else {
      const list = (values: number[]) => values.join(" / ");
      console.log(
        `${instanceCount} dashboard instances on one KV Connect store (${Deno.build.os}, ${navigator.hardwareConcurrency} cores, load average ${loadBefore} before)`,
      );
      console.log(`  ${figures.koids} koids long-polling, spread over the instances`);
      const { acrossInstances: across, sameInstance: same } = latency;
      console.log(
        `  manual run queued through a random instance → koid has it: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (${latency.runs} runs)`,
      );
      console.log(
        `    koid on another instance: p50 ${across.p50Ms} ms, p99 ${across.p99Ms} ms (${across.runs}); on the same: p50 ${same.p50Ms} ms, p99 ${same.p99Ms} ms (${same.runs})`,
      );
      console.log(
        `  report ingest: ${ingest.reportsPerSecond} reports/s (${ingest.clients} clients over the instances, batches of ${ingest.reportsPerBatch}, ${ingest.seconds} s)`,
      );
      const { idle: i, withPolls: p, afterIngest: a } = figures.instanceRssMiB;
      console.log(
        `  instances' RSS, MiB: ${list(i)} idle, ${list(p)} with the polls open, ${
          list(a)
        } after ingest; CPU cores busy during ingest ${list(figures.instanceIngestCpuShare)}`,
      );
      console.log(
        `  store (the KV Connect fixture): RSS ${figures.store.rssMiB} MiB, ${figures.store.ingestCpuShare} CPU cores busy during ingest; this script, playing the koids and clients, ${figures.benchIngestCpuShare}`,
      );
      console.log("  (the jobs view filled through the first instance, asked through the last)");
      for (const line of jobsAtScaleLines(figures.jobsView)) console.log(line);
    }
  } finally {
    await stopKoids(koids);
    await Promise.all(instances.map((instance) => instance.stop()));
    const { code, stderr } = await store.stop();
    if (code !== 0) progress(`the KV Connect fixture refused requests:\n${stderr}`);
  }
}

if (jobsOnly) await jobsViewAlone();
else if (multi) await multiInstance();
else await singleInstance();
