/**
 * What the jobs view costs the server at 2,000 and 10,000 jobs: every job
 * (`GET /jobs`), listed from the store and from the instance's listing kept at
 * the same view stamp; the jobs view's first call (`?since=0&first=100`: past
 * 2,000 jobs its first screen of rows alone) before the instance keeps a listing
 * and from it; a refresh where nothing changed (`If-None-Match` → 304,
 * plain and with the page's `?since=` cursor), a refresh after one run, and every
 * job after it (the instance's listing brought up to date with that job). For
 * `dashboard_load.ts`; each call is timed from the client on loopback, so a figure
 * is the server's time plus a fraction of a millisecond of HTTP.
 *
 * @module
 */

import { bigHostName, bigRunReports, fillBigDashboard } from "../tests/_big_dashboard.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { base64url } from "../lib/protocol/keys.ts";
import { WHOLE_UP_TO } from "../lib/server/jobs_feed.ts";

/** One size's figures. */
export interface JobsAtScale {
  jobs: number;
  hosts: number;
  /**
   * The jobs view's first call past 2,000 jobs (its first screen of rows), the first
   * after the dashboard was filled: nothing kept. Null up to 2,000 jobs, where that
   * call is answered with every job, as `all`.
   */
  firstScreen: { ms: number; bytes: number } | null;
  /** The jobs view's first call again, from the kept listing: the median of three. */
  firstScreenKept: { ms: number; bytes: number };
  /** Every job, the first call after the jobs view's first: listed from the store. */
  all: { ms: number; bytes: number };
  /** Every job again, nothing changed: the median of three calls, from the kept listing. */
  kept: { ms: number; bytes: number };
  /** `GET /jobs` naming its ETag: 304. */
  unchanged: Latency;
  /** `GET /jobs?since=CURSOR` naming the cursor, as the page refreshes: 304. */
  unchangedSince: Latency;
  /** `GET /jobs?since=CURSOR` after one run ended: that job. */
  oneRun: { ms: number; bytes: number };
  /** Every job after that run: the kept listing brought up to date with that job. */
  allAfterRun: { ms: number; bytes: number };
}

/** Latencies of repeated calls, and the bytes of one answer (status line, headers, body). */
export interface Latency {
  calls: number;
  p50Ms: number;
  p99Ms: number;
  status: number;
  bytes: number;
}

/** An answer's size on the wire, near enough: status line, headers, body. */
function answerBytes(response: Response, body: string): number {
  let bytes = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`.length + 2;
  for (const [name, value] of response.headers) bytes += name.length + value.length + 4;
  return bytes + new TextEncoder().encode(body).length;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

async function timed(url: string, headers: Record<string, string>) {
  const began = performance.now();
  const response = await fetch(url, { headers });
  const body = await response.text();
  return { ms: performance.now() - began, response, body };
}

async function latency(
  url: string,
  headers: Record<string, string>,
  calls: number,
): Promise<Latency> {
  const times: number[] = [];
  let last: Awaited<ReturnType<typeof timed>> | undefined;
  for (let i = 0; i < calls; i++) {
    last = await timed(url, headers);
    times.push(last.ms);
  }
  times.sort((a, b) => a - b);
  return {
    calls,
    p50Ms: round(times[Math.floor(calls / 2)]!),
    p99Ms: round(times[Math.min(calls - 1, Math.floor(calls * 0.99))]!),
    status: last!.response.status,
    bytes: answerBytes(last!.response, last!.body),
  };
}

/**
 * Fills a new dashboard with `hosts` hosts of 20 jobs through `fillUrl`, and
 * measures its jobs view through `measureUrl` (another instance, where there are
 * several).
 *
 * @param dashboard The dashboard, empty: its id and its calls' headers.
 * @param fillUrl The server the koids' calls go to.
 * @param measureUrl The server the page's calls go to.
 * @param hosts How many hosts.
 * @param calls How many calls each 304 figure is made of.
 * @returns The figures.
 */
export async function jobsAtScale(
  dashboard: { id: string; headers: Record<string, string> },
  fillUrl: string,
  measureUrl: string,
  hosts: number,
  calls: number,
): Promise<JobsAtScale> {
  const { id, headers: auth } = dashboard;
  const dataKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
  await fillBigDashboard({ url: fillUrl, id, headers: auth, dataKey }, hosts, 20);
  const jobsUrl = `${measureUrl}/api/d/${id}/jobs`;
  const firstUrl = `${jobsUrl}?since=0&first=100`;

  // Past 2,000 jobs, the first screen leaves no listing kept: read first, it is read from
  // the store, and so is every job after it.
  const firstScreen = hosts * 20 > WHOLE_UP_TO ? await timed(firstUrl, auth) : null;
  const all = await timed(jobsUrl, auth);
  const median = async (url: string) => {
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await timed(url, auth));
    return again.sort((a, b) => a.ms - b.ms)[1]!;
  };
  const kept = await median(jobsUrl);
  const firstScreenKept = await median(firstUrl);
  const etag = all.response.headers.get("etag")!;
  const unchanged = await latency(jobsUrl, { ...auth, "if-none-match": etag }, calls);

  const first = await timed(`${jobsUrl}?since=0`, auth);
  const cursor = (JSON.parse(first.body) as { cursor: string }).cursor;
  const since = `${jobsUrl}?since=${cursor}`;
  const unchangedSince = await latency(since, { ...auth, "if-none-match": `"${cursor}"` }, calls);

  const host = bigHostName(hosts - 1);
  const reported = await fetch(`${fillUrl}/api/d/${id}/hosts/${host}/reports`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({
      reports: await new ReportSealer(id, host, dataKey).reports(
        bigRunReports("bench-run", `j${"1".padStart(16, "0")}`, Date.now(), false),
      ),
    }),
  });
  await reported.body?.cancel();
  const oneRun = await timed(since, { ...auth, "if-none-match": `"${cursor}"` });
  const changed = JSON.parse(oneRun.body) as { jobs: unknown[] };
  if (oneRun.response.status !== 200 || changed.jobs.length !== 1) {
    throw new Error(
      `one run's change came as ${oneRun.response.status}, ${changed.jobs.length} jobs`,
    );
  }
  const allAfterRun = await timed(jobsUrl, auth);
  return {
    jobs: hosts * 20,
    hosts,
    firstScreen: firstScreen === null ? null : {
      ms: round(firstScreen.ms),
      bytes: answerBytes(firstScreen.response, firstScreen.body),
    },
    firstScreenKept: {
      ms: round(firstScreenKept.ms),
      bytes: answerBytes(firstScreenKept.response, firstScreenKept.body),
    },
    all: { ms: round(all.ms), bytes: answerBytes(all.response, all.body) },
    kept: { ms: round(kept.ms), bytes: answerBytes(kept.response, kept.body) },
    unchanged,
    unchangedSince,
    oneRun: { ms: round(oneRun.ms), bytes: answerBytes(oneRun.response, oneRun.body) },
    allAfterRun: {
      ms: round(allAfterRun.ms),
      bytes: answerBytes(allAfterRun.response, allAfterRun.body),
    },
  };
}

/**
 * The figures as lines of text.
 *
 * @param figures Each size's figures.
 * @returns The lines.
 */
export function jobsAtScaleLines(figures: readonly JobsAtScale[]): string[] {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(bytes < 10_240 ? 2 : 0)} KiB`;
  return figures.flatMap((f) => [
    `  the jobs view, ${f.jobs.toLocaleString("en-US")} jobs on ${f.hosts} hosts:`,
    f.firstScreen === null
      ? `    the jobs view's first call (?since=0&first=100): every job, as below; ` +
        `from the kept listing: ${f.firstScreenKept.ms} ms`
      : `    the jobs view's first call (?since=0&first=100): its first screen of rows, ` +
        `nothing kept: ${f.firstScreen.ms} ms, ${kb(f.firstScreen.bytes)}; ` +
        `from the kept listing: ${f.firstScreenKept.ms} ms`,
    `    every job (GET /jobs): ${f.all.ms} ms, ${kb(f.all.bytes)}; again, nothing changed ` +
    `(the instance's listing): ${f.kept.ms} ms`,
    `    nothing changed, If-None-Match: ${f.unchanged.status} in p50 ${f.unchanged.p50Ms} ms, p99 ${f.unchanged.p99Ms} ms, ${f.unchanged.bytes} bytes (${f.unchanged.calls} calls)`,
    `    nothing changed, ?since= as the page asks: ${f.unchangedSince.status} in p50 ${f.unchangedSince.p50Ms} ms, p99 ${f.unchangedSince.p99Ms} ms, ${f.unchangedSince.bytes} bytes`,
    `    one run ended, ?since=: ${f.oneRun.ms} ms, ${kb(f.oneRun.bytes)}`,
    `    every job after that run (the listing brought up to date): ${f.allAfterRun.ms} ms`,
  ]);
}
