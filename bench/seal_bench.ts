/**
 * What the encryption costs where it is done: koid sealing its reports and job
 * list, a manual run sealed and signed (the page, `koitab -d run`) and checked
 * and opened (koid), and the jobs opened for the page's first view. Part of
 * `deno task bench`; the README's "Performance" quotes it.
 *
 * @module
 */

import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { importDataKey } from "../lib/protocol/envelope.js";
import { base64url, newDashboardId, signRun } from "../lib/protocol/keys.ts";
import { checkManualRun } from "../lib/protocol/manual.ts";
import { manualPayload, openJob } from "../lib/protocol/sealed.js";
import type { Job, Report } from "../lib/protocol/wire.ts";

const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const ID = newDashboardId();
const dataKey = key();
const runKey = key();
const sealer = new ReportSealer(ID, "web1", dataKey);
const line = "a line of output from the job, as koid streams it\n".repeat(4);

/** A batch as koid sends one: 20 runs, each a start, one chunk of output and an end. */
const batch: Report[] = Array.from({ length: 20 }, (_, i): Report[] => [
  {
    type: "start",
    run: {
      id: `r${i}`,
      tag: "j1",
      name: "Job",
      section: null,
      trigger: "schedule",
      args: {},
      scheduledFor: null,
      startedAt: 0,
      manualId: null,
    },
  },
  { type: "output", runId: `r${i}`, seq: 0, stream: "stdout", text: line },
  {
    type: "end",
    runId: `r${i}`,
    end: {
      finishedAt: 1,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      outputBytes: line.length,
      chunks: [{ stream: "stdout", text: line }],
    },
  },
]).flat();

const table = Array.from(
  { length: 10_000 },
  (_, i) => `"Job ${i}" 0 3 * * * /usr/local/bin/task-${i} --verbose --target /srv/data/${i}`,
).join("\n");
const jobs = dashboardJobs(parseKoitab(`${table}\n`).jobs, "UTC", new Date());
const listSealer = new ReportSealer(ID, "web1", dataKey);
const sealedList: Job[] = await listSealer.jobs(jobs);
const cryptoKey = await importDataKey(dataKey);

const { jobs: manualJobs } = parseKoitab(
  `"Say" @manual echo {{Who}} {{N, int, 2}} {{Loud, bool}}\n`,
);
const say = manualJobs[0]!;
let ts = Date.now();

Deno.bench("koid seals a batch of 60 reports (20 runs)", { group: "koid" }, async () => {
  await sealer.reports(batch);
});

Deno.bench("koid seals a 10,000-job list afresh", { group: "koid" }, async () => {
  await new ReportSealer(ID, "web1", dataKey).jobs(jobs);
});

Deno.bench("koid seals the same 10,000-job list again (envelopes reused)", {
  group: "koid",
}, async () => {
  await listSealer.jobs(jobs);
});

Deno.bench("a manual run sealed and signed (3 arguments)", { group: "manual" }, async () => {
  const payload = await manualPayload(cryptoKey, {
    dashboard: ID,
    host: "web1",
    tag: say.tag,
    ts: ++ts,
  }, { Who: "o'brien", N: 5, Loud: true });
  await signRun(runKey, payload);
});

const now = Date.now();
const payload = await manualPayload(cryptoKey, {
  dashboard: ID,
  host: "web1",
  tag: say.tag,
  ts: now,
}, { Who: "o'brien", N: 5, Loud: true });
const signature = await signRun(runKey, payload);

Deno.bench("koid checks and opens a manual run (3 arguments)", { group: "manual" }, async () => {
  const verdict = await checkManualRun({ payload, signature }, {
    runKey,
    dataKey: cryptoKey,
    dashboardId: ID,
    host: "web1",
    jobs: manualJobs,
    now,
    seen: () => false,
  });
  if (!verdict.ok) throw new Error(verdict.reason);
});

Deno.bench("the page opens 10,000 jobs' commands (its first view)", {
  group: "page",
}, async () => {
  await Promise.all(sealedList.map((job) => openJob(cryptoKey, ID, { ...job, host: "web1" })));
});
