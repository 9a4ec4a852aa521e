/**
 * A big dashboard, made through the HTTP API as koids would make it: many hosts,
 * each with a job list of varied schedules, sections and names, and one ended run
 * per scheduled job (some failed). For the page's and the server's tests and load
 * benches at 2,000 and 10,000 jobs.
 *
 * @module
 */

import { parseCron } from "../lib/cron.ts";
import type { Job, Report } from "../lib/protocol/wire.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { startReport } from "./_reports.ts";

/**
 * The schedules the jobs take turns with, all first due half a day after `at`: daily,
 * weekly, monthly, yearly, twice a day, by hand, at boot. Nothing comes due, or late,
 * while a test or bench runs, so what changes is what it changes.
 */
function schedules(at: number): string[] {
  const due = new Date(at + 12 * 3_600_000);
  const [m, h] = [due.getUTCMinutes(), due.getUTCHours()];
  const day = Math.min(due.getUTCDate(), 28);
  return [
    `${m} ${h} * * *`,
    `${m} ${h} * * ${due.getUTCDay()}`,
    `${m} ${h} ${day} * *`,
    "@manual",
    `${m} ${h} ${day} ${due.getUTCMonth() + 1} *`,
    // Twice a day, 12 and 18 hours on: (h + 12) would be the very minute of `at`, due at
    // once, and late a minute later, while the page is being measured.
    `${m} ${h},${(h + 6) % 24} * * *`,
    "@reboot",
  ];
}

const SECTIONS = ["Backups", "Reports", "Web", "Maintenance", null] as const;

/** How to reach a dashboard's API. */
export interface BigDashboard {
  /** The server's base URL. */
  url: string;
  /** The dashboard id. */
  id: string;
  /** The headers of its calls: its API key. */
  headers: Record<string, string>;
  /** Its data key: each host's job list and reports are sealed with it, as its koid seals them. */
  dataKey: string;
}

/** A host's name: `host-0000`, `host-0001`, … */
export function bigHostName(index: number): string {
  return `host-${String(index).padStart(4, "0")}`;
}

/**
 * The job list a host's koid would send at `at`: `count` jobs, none due for 12 hours.
 *
 * @param count How many jobs.
 * @param at The instant the list is sent, ms.
 * @returns The jobs, as `PUT …/jobs` takes them.
 */
export function bigJobList(count: number, at: number): Record<string, unknown>[] {
  const kinds = schedules(at);
  return Array.from({ length: count }, (_, i) => {
    const schedule = kinds[i % kinds.length]!;
    const next: string[] = [];
    if (!schedule.startsWith("@")) {
      let time: Date | null = new Date(at);
      const cron = parseCron(schedule, { timezone: "UTC" });
      for (let n = 0; n < 3 && time !== null; n++) {
        time = cron.next(time);
        if (time !== null) next.push(time.toISOString());
      }
    }
    return {
      tag: `j${String(i).padStart(16, "0")}`,
      name: i % 7 === 3 ? null : `Job ${i} of the nightly ${i % 2 ? "report" : "sync"}`,
      section: SECTIONS[Math.floor(i / 4) % SECTIONS.length],
      schedule,
      timezone: "UTC",
      args: [],
      next,
      command: `/usr/local/bin/task-${i} --verbose --target /srv/data/${i}`,
      line: i + 1,
    };
  });
}

/**
 * One ended run of a job, as koid reports it before sealing: a start and an end.
 *
 * @param id The run id.
 * @param tag The job's tag.
 * @param startedAt When it started (as scheduled), ms.
 * @param failed Whether it failed.
 * @returns The two reports.
 */
export function bigRunReports(
  id: string,
  tag: string,
  startedAt: number,
  failed: boolean,
): Report[] {
  const start = startReport(id, tag, startedAt);
  const end: Report = {
    type: "end",
    runId: id,
    end: {
      finishedAt: startedAt + 1500,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      outputBytes: 12,
      chunks: [{ stream: "stdout", text: "all is well\n" }],
    },
  };
  return [
    start.type === "start" ? { ...start, run: { ...start.run, scheduledFor: startedAt } } : start,
    end.type === "end" && failed
      ? { ...end, end: { ...end.end, exitCode: 1, status: "failed" } }
      : end,
  ];
}

/**
 * Fills a dashboard with `hosts` hosts of `jobsPerHost` jobs each, every
 * scheduled job with one ended run started within the last minute (one in
 * eleven failed), a few hosts at a time.
 *
 * @param dashboard The dashboard.
 * @param hosts How many hosts.
 * @param jobsPerHost How many jobs each.
 */
export async function fillBigDashboard(
  dashboard: BigDashboard,
  hosts: number,
  jobsPerHost: number,
): Promise<void> {
  const now = Date.now();
  const jobs = bigJobList(jobsPerHost, now);
  const call = async (host: string, path: string, method: string, body: unknown) => {
    const response = await fetch(`${dashboard.url}/api/d/${dashboard.id}/hosts/${host}${path}`, {
      method,
      headers: dashboard.headers,
      body: JSON.stringify(body),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`${method} ${path} for ${host}: ${response.status}`);
  };
  const fillHost = async (index: number) => {
    const host = bigHostName(index);
    const sealer = new ReportSealer(dashboard.id, host, dashboard.dataKey);
    await call(host, "/jobs", "PUT", { jobs: await sealer.jobs(jobs as unknown as Job[]) });
    const reports = jobs.filter((job) => job.schedule !== "@manual").flatMap((job, i) =>
      bigRunReports(`r${index}x${i}`, job.tag as string, now - 60_000 + i, (index + i) % 11 === 0)
    );
    await call(host, "/reports", "POST", { reports: await sealer.reports(reports) });
  };
  for (let first = 0; first < hosts; first += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, hosts - first) }, (_, i) => fillHost(first + i)),
    );
  }
}
