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
 * `--quick` shrinks the counts and durations for a smoke run.
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
 *
 * @module
 */

import { base64url, newDashboardId } from "../lib/keys.ts";
import { entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const json = Deno.args.includes("--json");
const quick = Deno.args.includes("--quick");
for (const arg of Deno.args) {
  if (arg !== "--json" && arg !== "--quick") {
    console.error(`dashboard_load: unknown option "${arg}" (expected --json, --quick)`);
    Deno.exit(2);
  }
}

const config = {
  dashboards: 10,
  hostsPerDashboard: 100,
  manualRuns: quick ? 100 : 500,
  manualGapMs: 20,
  ingestClients: 8,
  runsPerBatch: 20,
  ingestSeconds: quick ? 5 : 20,
  retentionRuns: 20,
};

function progress(line: string): void {
  console.error(`dashboard_load: ${line}`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The server's resident memory (bytes) and CPU time (seconds), from `/proc/<pid>/`,
 * read with `cat`: Deno opens `/proc/<pid>/` only to `--allow-all`.
 */
async function usage(pid: number): Promise<{ rss: number; cpuSeconds: number }> {
  const { stdout } = await new Deno.Command("/bin/cat", {
    args: [`/proc/${pid}/status`, `/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(text)![1]) * 1024;
  const stat = text.trimEnd().split("\n").at(-1)!;
  // Fields after the command name (which may hold spaces): utime and stime are 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rss, cpuSeconds: ticks / 100 };
}

/** Starts `dashboard.ts` as `deno task dashboard` would, and reads the URL it prints. */
async function startDashboard(db: string): Promise<{ url: string; child: Deno.ChildProcess }> {
  const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...flags.dashboard,
      new URL("dashboard.ts", root).pathname,
      "--port",
      "0",
      "--db",
      db,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening on (\S+)\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the dashboard server exited: ${text}`);
    text += value;
  }
  // Keep draining stderr, so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })();
  return { url: /listening on (\S+)\n/.exec(text)![1]!, child };
}

interface Dashboard {
  id: string;
  headers: Record<string, string>;
}

async function createDashboard(url: string): Promise<Dashboard> {
  const id = newDashboardId();
  const apiKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const response = await fetch(`${url}/api/dashboards`, {
    method: "POST",
    body: JSON.stringify({ id, apiKey }),
  });
  await response.body?.cancel();
  if (response.status !== 201) throw new Error(`cannot create a dashboard: ${response.status}`);
  return { id, headers: { authorization: `Bearer ${apiKey}` } };
}

/** One simulated koid: keeps a long-poll open, and says when each manual run arrives. */
class Koid {
  readonly received = new Map<string, number>();
  readonly #stop = new AbortController();
  #onRun: ((manualId: string) => void) | null = null;
  polls = 0;
  readonly done: Promise<void>;

  constructor(url: string, readonly dashboard: Dashboard, readonly host: string) {
    this.done = this.#loop(`${url}/api/d/${dashboard.id}/hosts/${host}/manual?wait=25`);
  }

  async #loop(pollUrl: string): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const response = await fetch(pollUrl, {
          headers: this.dashboard.headers,
          signal: this.#stop.signal,
        });
        const body = await response.json() as { runs?: { manualId: string }[] };
        this.polls++;
        const now = performance.now();
        for (const run of body.runs ?? []) {
          this.received.set(run.manualId, now);
          this.#onRun?.(run.manualId);
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
    return new Promise((resolve) => {
      this.#onRun = (id) => {
        if (id === manualId) resolve(this.received.get(id)!);
      };
    });
  }

  stop(): void {
    this.#stop.abort();
  }
}

async function waitForPollers(url: string, dashboards: Dashboard[], since: number): Promise<void> {
  const deadline = performance.now() + 60_000;
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
  throw new Error("the long-polls did not all reach the server within a minute");
}

async function longPollLatency(url: string, koids: Koid[]) {
  const fromResponse: number[] = [];
  const fromRequest: number[] = [];
  for (let i = 0; i < config.manualRuns; i++) {
    const koid = koids[Math.floor(Math.random() * koids.length)]!;
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
    fromResponse.push(Math.max(0, arrived - answered));
    fromRequest.push(arrived - sent);
    await new Promise((resolve) => setTimeout(resolve, config.manualGapMs));
  }
  fromResponse.sort((a, b) => a - b);
  fromRequest.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    runs: config.manualRuns,
    p50Ms: round(percentile(fromResponse, 50)),
    p99Ms: round(percentile(fromResponse, 99)),
    maxMs: round(fromResponse.at(-1)!),
    fromPostSentP50Ms: round(percentile(fromRequest, 50)),
    fromPostSentP99Ms: round(percentile(fromRequest, 99)),
  };
}

async function reportIngest(url: string) {
  const dashboard = await createDashboard(url);
  await (await fetch(`${url}/api/d/${dashboard.id}/settings`, {
    method: "PATCH",
    headers: dashboard.headers,
    body: JSON.stringify({ retentionRuns: config.retentionRuns }),
  })).body?.cancel();
  const text = "a line of output from the job, as koid streams it\n".repeat(4);
  let reports = 0;
  let batches = 0;
  const deadline = performance.now() + config.ingestSeconds * 1000;
  const began = performance.now();
  await Promise.all(Array.from({ length: config.ingestClients }, async (_, client) => {
    const host = `ingest-${client}`;
    let run = 0;
    while (performance.now() < deadline) {
      const batch = [];
      for (let i = 0; i < config.runsPerBatch; i++, run++) {
        const id = `${client}-${run}`;
        const startedAt = Date.now();
        batch.push(
          {
            type: "start",
            run: {
              id,
              tag: `j${run % 5}`,
              name: null,
              section: null,
              trigger: "schedule",
              args: {},
              scheduledFor: startedAt,
              startedAt,
            },
          },
          { type: "output", runId: id, seq: 0, stream: "stdout", text },
          {
            type: "end",
            runId: id,
            end: {
              finishedAt: startedAt + 5,
              exitCode: 0,
              signal: null,
              status: "succeeded",
              error: null,
              outputBytes: text.length,
              chunks: [{ stream: "stdout", text }],
            },
          },
        );
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
    }
  }));
  const seconds = (performance.now() - began) / 1000;
  // The server kept up with retention too: each job holds exactly retentionRuns runs.
  const kept = await fetch(`${url}/api/d/${dashboard.id}/runs?host=ingest-0&tag=j0&limit=500`, {
    headers: dashboard.headers,
  });
  const { runs } = await kept.json() as { runs: unknown[] };
  if (runs.length !== config.retentionRuns) {
    throw new Error(`a job kept ${runs.length} runs, not ${config.retentionRuns}`);
  }
  return {
    clients: config.ingestClients,
    reportsPerBatch: config.runsPerBatch * 3,
    reports,
    seconds: Math.round(seconds * 10) / 10,
    reportsPerSecond: Math.round(reports / seconds),
    batchesPerSecond: Math.round(batches / seconds),
  };
}

const dir = await Deno.makeTempDir({ prefix: "koi_dashboard_load_" });
const { url, child } = await startDashboard(`${dir}/store.db`);
const koids: Koid[] = [];
try {
  progress(
    `server ${url} (pid ${child.pid}); ${config.dashboards * config.hostsPerDashboard} koids`,
  );
  const idle = await usage(child.pid);
  const dashboards = await Promise.all(
    Array.from({ length: config.dashboards }, () => createDashboard(url)),
  );
  const since = Date.now();
  for (const dashboard of dashboards) {
    for (let h = 0; h < config.hostsPerDashboard; h++) {
      koids.push(new Koid(url, dashboard, `host-${String(h).padStart(3, "0")}`));
    }
  }
  await waitForPollers(url, dashboards, since);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const polled = await usage(child.pid);
  progress(`all koids waiting; queueing ${config.manualRuns} manual runs`);
  const latency = await longPollLatency(url, koids);
  progress(`manual latency p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms`);
  progress(`ingesting reports for ${config.ingestSeconds} s`);
  const beforeIngest = await usage(child.pid);
  const ingest = await reportIngest(url);
  const afterIngest = await usage(child.pid);
  progress(`${ingest.reportsPerSecond} reports/s`);
  const figures = {
    koids: koids.length,
    longPoll: latency,
    ingest,
    server: {
      rssIdleMiB: Math.round(idle.rss / 2 ** 20),
      rssWithPollsMiB: Math.round(polled.rss / 2 ** 20),
      rssAfterIngestMiB: Math.round(afterIngest.rss / 2 ** 20),
      ingestCpuShare: Math.round(
        (afterIngest.cpuSeconds - beforeIngest.cpuSeconds) / ingest.seconds * 100,
      ) / 100,
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
    const server = figures.server;
    console.log(
      `  server: RSS ${server.rssIdleMiB} MiB idle, ${server.rssWithPollsMiB} MiB with the polls open, ${server.rssAfterIngestMiB} MiB after ingest; ${server.ingestCpuShare} CPU cores busy during ingest`,
    );
  }
} finally {
  for (const koid of koids) koid.stop();
  await Promise.all(koids.map((koid) => koid.done));
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(dir, { recursive: true });
}
