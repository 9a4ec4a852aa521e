/**
 * The limits of lib/limits.ts hold on both sides: the largest table `koitab`
 * installs is a job list the dashboard server takes and gives back unchanged
 * (its `next` times as the `due` of a job never run: the jobs calls do not list
 * them), and the server's checks refuse exactly what the parser refuses.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { DashboardClient, DashboardError } from "../lib/link/client.ts";
import { parseJobList } from "../lib/protocol/schema.ts";
import { type Job, MAX_JOB_LIST_BYTES } from "../lib/protocol/wire.ts";
import { startServer } from "../lib/server/server.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import { base64url, newDashboardId } from "../lib/protocol/keys.ts";
import { formatKoitabError, parseKoitab } from "../lib/koitab.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { sealedStub } from "./_reports.ts";
import { MAX_COMMAND_BYTES, MAX_JOB_LIST_JSON_BYTES, MAX_JOBS } from "../lib/limits.ts";

const utf8 = new TextEncoder();
/** The longest name of a time zone, so the job list's overhead is the largest. */
const LONGEST_ZONE = "America/Argentina/ComodRivadavia";
/** An instant to count next runs from. */
const NOW = new Date("2026-03-01T12:00:30Z");

/** A job list as koid sends it to some dashboard: sealed. */
function sealed(jobs: Job[]): Promise<Job[]> {
  const key = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return new ReportSealer(newDashboardId(), "web", key).jobs(jobs);
}

/** A linked dashboard on a fresh server with an in-memory store, for `fn`. */
async function withDashboard(
  fn: (client: DashboardClient, url: string, apiKey: string, id: string) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const server = await startServer({ kv, port: 0, pruneEveryMs: 0, log: () => {} });
  try {
    const id = newDashboardId();
    const apiKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const client = new DashboardClient({ server: server.url, id, apiKey });
    await client.create();
    await fn(client, server.url, apiKey, id);
  } finally {
    await server.shutdown();
    kv.close();
  }
}

/** An `@manual` job as koid lists it, with no name or arguments. */
function manualJob(tag: string, command: string): Job {
  return {
    tag,
    name: null,
    section: null,
    schedule: "@manual",
    timezone: "UTC",
    args: [],
    next: [],
    command,
    line: 1,
  };
}

/**
 * A job as `GET /jobs` gives it back, of the fields koid sent and the view: all of them but
 * its `next` times, which the jobs calls do not list; the server keeps them, and a job that
 * never ran is `due` at the first.
 */
type StoredJob = Omit<Job, "next"> & { due: string | null };

/** A job koid sent, never run, as {@linkcode storedJobs} should give it back. */
function givenBack(job: Job): StoredJob {
  const { next, ...listed } = job;
  return { ...listed, due: next[0] ?? null };
}

/** Every job of the dashboard, as `GET /jobs` gives them: {@linkcode StoredJob}s. */
async function storedJobs(url: string, id: string, apiKey: string): Promise<StoredJob[]> {
  const response = await fetch(`${url}/api/d/${id}/jobs`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  assertEquals(response.status, 200);
  const body = await response.json() as { jobs: Record<string, unknown>[] };
  return body.jobs.map((job) =>
    ({
      tag: job.tag,
      name: job.name,
      section: job.section,
      schedule: job.schedule,
      timezone: job.timezone,
      args: job.args,
      command: job.command,
      line: job.line,
      due: job.due,
    }) as StoredJob
  );
}

Deno.test("the largest koitab the parser takes is a job list the server takes and gives back unchanged, next as due", async () => {
  // 10,000 jobs whose JSON comes to just under 8 MiB, each in the longest zone,
  // running every minute (five next runs each), in a section with a name.
  const section = "S".repeat(200);
  const perJob = Math.floor(MAX_JOB_LIST_JSON_BYTES / MAX_JOBS);
  const lines = [`CRON_TZ=${LONGEST_ZONE}`, `[${section}]`];
  for (let i = 0; i < MAX_JOBS; i++) {
    const name = `Job ${String(i).padStart(4, "0")}`;
    // {"name":"Job 0000","section":"SS…","schedule":"* * * * *","command":"echo …","args":[]}
    const fixed = 79 + name.length + section.length;
    lines.push(`"${name}" * * * * * echo ${"x".repeat(perJob - fixed)}`);
  }
  const { jobs, errors } = parseKoitab(lines.join("\n") + "\n");
  assertEquals(errors.map(formatKoitabError), []);
  assertEquals(jobs.length, MAX_JOBS);
  // As koid sends it: each command sealed, 4/3 of its bytes and the envelope's overhead.
  const list = await sealed(dashboardJobs(jobs, "UTC", NOW));
  assertEquals(list[0]!.next.length, 5);
  assertEquals(list[0]!.timezone, LONGEST_ZONE);
  const bytes = utf8.encode(JSON.stringify({ jobs: list })).length;
  assert(bytes > 11 * 1024 * 1024, `${bytes} bytes: more than 8 MiB sealed`);
  assert(bytes <= MAX_JOB_LIST_BYTES, `${bytes} bytes, over the server's ${MAX_JOB_LIST_BYTES}`);
  await withDashboard(async (client, url, apiKey, id) => {
    await client.putJobs("web", list);
    const stored = await storedJobs(url, id, apiKey);
    assertEquals(stored.length, MAX_JOBS);
    assertEquals(stored[0], givenBack(list[0]!));
    assertEquals(stored[MAX_JOBS - 1], givenBack(list[MAX_JOBS - 1]!));
  });
});

Deno.test("a command of 131,071 bytes that JSON escapes six times over is stored and given back exactly", async () => {
  // Each \u0001 is one byte in the koitab and six characters of JSON.
  const body = "\u0001".repeat(MAX_COMMAND_BYTES - "@manual x {{A, string, d}} ".length + 8);
  const line = `"Big" @manual x {{A, string, d}} ${body}`;
  const { jobs, errors } = parseKoitab(`${line}\n`);
  assertEquals(errors, []);
  assertEquals(utf8.encode(jobs[0]!.command).length, MAX_COMMAND_BYTES);
  const list = await sealed(dashboardJobs(jobs, "UTC", NOW));
  await withDashboard(async (client, url, apiKey, id) => {
    await client.putJobs("web", list);
    assertEquals(await storedJobs(url, id, apiKey), list.map(givenBack));
    // Replacing it with a smaller job leaves no part of the big one behind.
    const small = await sealed(dashboardJobs(parseKoitab(`"Big" @manual x\n`).jobs, "UTC", NOW));
    await client.putJobs("web", small);
    assertEquals(await storedJobs(url, id, apiKey), small.map(givenBack));
  });
});

Deno.test("the server refuses a command sealing one byte over the limit, as the parser does", () => {
  const fits = sealedStub(`${"é".repeat(65_535)}x`);
  assertEquals(parseJobList({ jobs: [manualJob("j1", fits)] })[0]!.command, fits);
  try {
    parseJobList({ jobs: [manualJob("j1", sealedStub("é".repeat(65_536)))] });
    throw new Error("accepted");
  } catch (error) {
    assertEquals(
      (error as Error).message,
      'Invalid "jobs[0].command": must seal at most 131071 bytes',
    );
  }
  assertEquals(
    parseKoitab(`@manual abcd${"é".repeat(65_534)}\n`).errors.map(formatKoitabError),
    [
      "koitab line 1: command too long: 131072 bytes, at most 131071 (the most Linux passes to sh -c as one argument)",
    ],
  );
});

Deno.test("a job list over the server's size is refused with 413, not half stored", async () => {
  await withDashboard(async (client, url, apiKey, id) => {
    const command = "x".repeat(Math.ceil(MAX_JOB_LIST_BYTES / MAX_JOBS));
    const list = Array.from({ length: MAX_JOBS }, (_, i) => manualJob(`j${i}`, command));
    try {
      await client.putJobs("web", list);
      throw new Error("accepted");
    } catch (error) {
      assert(error instanceof DashboardError, String(error));
      assertEquals(
        error.message,
        `the server answered 413: The body is larger than ${MAX_JOB_LIST_BYTES} bytes`,
      );
    }
    assertEquals(await storedJobs(url, id, apiKey), []);
  });
});

Deno.test("the start of a manual run is taken with any value a queued payload can carry", async () => {
  await withDashboard(async (client, url, apiKey, id) => {
    // The largest payload the server queues, nearly all of it one argument's value, sealed.
    const value = sealedStub(JSON.stringify("v".repeat(16 * 1024 - 200)));
    await client.postReports("web", [{
      type: "start",
      run: {
        id: "r1",
        tag: "j1",
        name: "N".repeat(200),
        section: "S".repeat(200),
        trigger: "manual",
        args: { Text: value },
        scheduledFor: null,
        startedAt: NOW.getTime(),
        manualId: "m1",
      },
    }]);
    const response = await fetch(`${url}/api/d/${id}/runs/r1`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assertEquals((await response.json()).run.args, { Text: value });
  });
});
