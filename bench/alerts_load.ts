/**
 * How fast alerts leave a real dashboard server: the latency of each kind of
 * alert to a webhook on loopback, on a server that also watches many other
 * dashboards' jobs.
 *
 * A script, not a `deno bench` file. Run from the repository root:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run --allow-env bench/alerts_load.ts
 * ```
 *
 * Options: `--json` prints the figures as one JSON object (progress goes to
 * stderr); `--quick` watches fewer other dashboards.
 *
 * The server is the real `dashboard.ts` (the flags of `deno task dashboard`, and
 * `--allow-private-destinations` for the receiver on loopback) on a fresh store
 * file. Beside the measured dashboard it holds 200 others (20 with `--quick`),
 * each with two hosts of 50 scheduled jobs and a run each, which every check
 * looks over too. The measured dashboard's grace and silent time are set to
 * their least, 60 s; it has one webhook channel, a receiver in this script.
 *
 * 1. **failed**: 50 runs of 50 jobs end failed, one report each, 100 ms apart;
 *    latency from the report's sending to the webhook's arrival. Goal: under 5 s.
 * 2. **missed**: 20 every-minute jobs of a host kept connected by a poll as
 *    koid's, never run; latency from their due time plus the grace (the
 *    alert's own `scheduledFor` + 60 s) to the arrival. Goal: under 30 s.
 * 3. **host silent**: 20 hosts heard from once; latency from their last word
 *    plus the silent time (the alert's `lastSeenAt` + 60 s) to the arrival.
 *    Goal: under 30 s.
 *
 * And what watching costs: the server's CPU (cores) and memory while it waits
 * for those, looking over every dashboard every 10 s.
 *
 * It takes about three minutes: the missed and silent alerts come a minute or
 * two after their jobs and hosts appear.
 *
 * @module
 */

import { createDashboard, type NewDashboard } from "../tests/_new_dashboard.ts";
import { startDashboardProcess } from "../tests/_dashboard_process.ts";
import { cpuShare, loadAverage, usage } from "./_process_usage.ts";
import { sealedStub } from "../tests/_reports.ts";

let json = false;
let quick = false;
for (const arg of Deno.args) {
  if (arg === "--json") json = true;
  else if (arg === "--quick") quick = true;
  else {
    console.error(`alerts_load: unknown option "${arg}" (expected --json, --quick)`);
    Deno.exit(2);
  }
}

const config = {
  otherDashboards: quick ? 20 : 200,
  jobsPerHost: 50,
  failures: 50,
  missedJobs: 20,
  silentHosts: 20,
  graceSeconds: 60,
  silentSeconds: 60,
};

function progress(line: string): void {
  console.error(`alerts_load: ${line}`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(ms: number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n);
  return {
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1)!),
    count: sorted.length,
  };
}

type Dashboard = NewDashboard;

async function call(
  url: string,
  dashboard: Dashboard,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`${url}/api/d/${dashboard.id}${path}`, {
    method,
    headers: dashboard.headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text === "" ? null : JSON.parse(text);
}

function job(tag: string, schedule: string, line: number) {
  return {
    tag,
    name: `Job ${tag}`,
    section: null,
    schedule,
    timezone: "UTC",
    args: [],
    next: [],
    command: sealedStub("true"),
    line,
  };
}

function runReports(runId: string, tag: string, at: number, failed: boolean) {
  return [
    {
      type: "start",
      run: {
        id: runId,
        tag,
        name: `Job ${tag}`,
        section: null,
        trigger: "schedule",
        args: {},
        scheduledFor: at,
        startedAt: at,
        manualId: null,
      },
    },
    {
      type: "end",
      runId,
      end: {
        finishedAt: at + 500,
        exitCode: failed ? 1 : 0,
        signal: null,
        status: failed ? "failed" : "succeeded",
        error: null,
        outputBytes: 0,
        chunks: [],
      },
    },
  ];
}

/** The webhook: when each alert arrived, by event, with its body. */
const arrivals: { event: string; arrivedAt: number; body: Record<string, unknown> }[] = [];
const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
  const arrivedAt = Date.now();
  const body = JSON.parse(await request.text());
  arrivals.push({ event: body.event, arrivedAt, body });
  return new Response("ok");
});

const dir = await Deno.makeTempDir({ prefix: "koi_alerts_load_" });
const server = await startDashboardProcess(`${dir}/dashboard.db`, {}, [
  "--allow-private-destinations",
]);
const url = server.url;
const stopPolls = new AbortController();
try {
  progress(`${config.otherDashboards} other dashboards, ${config.jobsPerHost * 2} jobs each`);
  const schedules = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "*/15 9-17 * * 1-5"];
  for (let d = 0; d < config.otherDashboards; d++) {
    const other = await createDashboard(url);
    for (const host of ["a", "b"]) {
      const jobs = Array.from(
        { length: config.jobsPerHost },
        (_, i) => job(`j${i}`, schedules[i % schedules.length]!, i + 1),
      );
      await call(url, other, "PUT", `/hosts/${host}/jobs`, { jobs });
      const reports = jobs.flatMap((j, i) =>
        runReports(`${host}${i}`, j.tag, Date.now() - 60_000, false)
      );
      await call(url, other, "POST", `/hosts/${host}/reports`, { reports });
    }
  }

  const measured = await createDashboard(url);
  await call(url, measured, "PATCH", "/settings", {
    missedGraceSeconds: config.graceSeconds,
    hostSilentSeconds: config.silentSeconds,
  });
  await call(url, measured, "POST", "/channels", {
    kind: "webhook",
    url: `http://127.0.0.1:${receiver.addr.port}/hook`,
  });

  // Missed: a host kept connected as koid keeps it, with every-minute jobs that never run.
  const missedJobs = Array.from(
    { length: config.missedJobs },
    (_, i) => job(`m${i}`, "* * * * *", i + 1),
  );
  await call(url, measured, "PUT", "/hosts/mhost/jobs", { jobs: missedJobs });
  const poll = (async () => {
    while (!stopPolls.signal.aborted) {
      try {
        const response = await fetch(`${url}/api/d/${measured.id}/hosts/mhost/manual?wait=25`, {
          headers: measured.headers,
          signal: stopPolls.signal,
        });
        await response.body?.cancel();
      } catch {
        // Stopped.
      }
    }
  })();
  // Silent: hosts heard from once.
  for (let h = 0; h < config.silentHosts; h++) {
    await call(url, measured, "PUT", `/hosts/s${h}/jobs`, { jobs: [job("x", "@manual", 1)] });
  }

  // Failed: one report each, 100 ms apart.
  progress(`${config.failures} failures`);
  const sentAt = new Map<string, number>();
  for (let i = 0; i < config.failures; i++) {
    const runId = `f${i}`;
    sentAt.set(runId, Date.now());
    await call(url, measured, "POST", "/hosts/fhost/reports", {
      reports: runReports(runId, `f${i}`, Date.now() - 1000, true),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  progress("waiting for the missed runs and the silent hosts (two to three minutes)");
  const watchedFrom = { usage: await usage(server.pid), at: performance.now() };
  const deadline = Date.now() + 240_000;
  const count = (event: string) => arrivals.filter((a) => a.event === event).length;
  while (
    Date.now() < deadline &&
    (count("failed") < config.failures || count("missed") < config.missedJobs ||
      count("host-silent") < config.silentHosts)
  ) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  const watched = await usage(server.pid);
  const watchedSeconds = (performance.now() - watchedFrom.at) / 1000;
  const failed = arrivals.filter((a) => a.event === "failed")
    .map((a) => a.arrivedAt - sentAt.get(a.body.runId as string)!);
  const missed = arrivals.filter((a) => a.event === "missed")
    .map((a) => a.arrivedAt - ((a.body.scheduledFor as number) + config.graceSeconds * 1000));
  const silent = arrivals.filter((a) => a.event === "host-silent")
    .map((a) => a.arrivedAt - ((a.body.lastSeenAt as number) + config.silentSeconds * 1000));
  const other = arrivals.filter((a) => !["failed", "missed", "host-silent"].includes(a.event));
  const figures = {
    config,
    failed: summary(failed),
    missed: summary(missed),
    hostSilent: summary(silent),
    otherAlerts: other.map((a) => a.event),
    watching: {
      seconds: Math.round(watchedSeconds),
      serverCores: cpuShare(watchedFrom.usage, watched, watchedSeconds),
      serverRssMiB: Math.round(watched.rss / 1024 / 1024),
      loadAverage: await loadAverage(),
    },
  };
  if (json) {
    console.log(JSON.stringify(figures));
  } else {
    const line = (name: string, s: ReturnType<typeof summary>, goal: string) =>
      `${
        name.padEnd(12)
      } p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms (${s.count} alerts; goal ${goal})`;
    console.log(line("failed", figures.failed, "under 5,000 ms after the end report"));
    console.log(line("missed", figures.missed, "under 30,000 ms after due + grace"));
    console.log(line("host silent", figures.hostSilent, "under 30,000 ms after last word + N"));
    if (other.length > 0) console.log(`other alerts: ${figures.otherAlerts.join(", ")}`);
    const { watching } = figures;
    console.log(
      `watching ${config.otherDashboards + 1} dashboards for ${watching.seconds} s: the server ` +
        `used ${watching.serverCores} cores, ${watching.serverRssMiB} MiB RSS ` +
        `(load average ${watching.loadAverage})`,
    );
  }
  stopPolls.abort();
  await poll;
} finally {
  stopPolls.abort();
  const { stderr } = await server.stop();
  if (/internal error|cannot/.test(stderr)) console.error(stderr);
  await receiver.shutdown();
  await Deno.remove(dir, { recursive: true });
}
