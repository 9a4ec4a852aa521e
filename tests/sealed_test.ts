/**
 * What koid seals (`ReportSealer`) and the page and `koitab -d` open
 * (`lib/protocol/sealed.js`), through the real server: each value opens where it
 * belongs, and a server that cuts and pastes (swaps two runs' chunks, two jobs'
 * commands, two chunks' order, moves a value to another field or run) is caught
 * where the value is shown: `UNDECRYPTABLE_TEXT` in its place.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { TestDashboard } from "./_dashboard.ts";
import { ReportSealer } from "../lib/daemon/report_sealer.ts";
import { dashboardJobs } from "../lib/daemon/link_reports.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { isEnvelope } from "../lib/protocol/envelope.js";
import { base64url, newDashboardId } from "../lib/protocol/keys.ts";
import {
  openJob,
  openManualRun,
  openOutput,
  openRun,
  UNDECRYPTABLE_TEXT,
} from "../lib/protocol/sealed.js";
import type { JobRow, OutputRecord, Report, Run } from "../lib/protocol/wire.ts";
import { plainOutputReport, startReport } from "./_reports.ts";

const key = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const NOW = Date.parse("2026-03-01T10:00:00Z");
const KOITAB = `"Backup" 0 3 * * * restic backup --password-file /root/TOKEN-123
"Deploy" @manual deploy.sh {{Target}} {{Count, int, 2}} {{Dry, bool, true}}
@daily curl -s https://example.com/?key=SECRET-KEY
`;

async function withSealed(
  fn: (context: {
    dashboard: TestDashboard;
    keys: { id: string; apiKey: string; dataKey: string };
    sealer: ReportSealer;
    post: (...reports: Report[]) => Promise<void>;
    jobs: () => Promise<JobRow[]>;
    run: (runId: string) => Promise<{ run: Run; output: OutputRecord[] }>;
  }) => Promise<void>,
): Promise<void> {
  const dashboard = await TestDashboard.start();
  try {
    const keys = { id: newDashboardId(), apiKey: key(), dataKey: key() };
    await dashboard.create(keys);
    const api = dashboard.client(keys.id);
    const sealer = new ReportSealer(keys.id, "web1", keys.dataKey);
    const call = async (path: string) => {
      const response = await fetch(`${dashboard.server.url}/api/d/${keys.id}${path}`, {
        headers: { authorization: `Bearer ${keys.apiKey}` },
      });
      assertEquals(response.status, 200);
      return await response.json();
    };
    await fn({
      dashboard,
      keys,
      sealer,
      post: async (...reports) => {
        await api.postReports("web1", await sealer.reports(reports));
      },
      jobs: async () => (await call("/jobs")).jobs,
      run: (runId) => call(`/runs/${runId}`),
    });
  } finally {
    await dashboard.close();
  }
}

const output = plainOutputReport;

Deno.test("sealed: commands and defaults reach the server as envelopes, open where they belong, and not when swapped", async () => {
  await withSealed(async ({ dashboard, keys, sealer, jobs }) => {
    const list = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date(NOW));
    await dashboard.client(keys.id).putJobs("web1", await sealer.jobs(list));
    const stored = await jobs();
    const body = JSON.stringify(stored);
    for (const secret of ["TOKEN-123", "SECRET-KEY", "deploy.sh", "true"]) {
      assert(!body.includes(secret), `${secret} in ${body}`);
    }
    assert(stored.every((job) => isEnvelope(job.command)));
    // An unnamed job gets no name from its command: the server sees none.
    assertEquals(stored.map((job) => job.name), ["Backup", "Deploy", null]);
    const opened = await Promise.all(stored.map((job) => openJob(keys.dataKey, keys.id, job)));
    assertEquals(opened.map((job) => job.command), list.map((job) => job.command));
    assertEquals(opened[1]!.args, [
      { name: "Target", type: "string" },
      { name: "Count", type: "int", default: 2 },
      { name: "Dry", type: "bool", default: true },
    ]);
    // The server swaps two jobs' commands, and two arguments' defaults.
    const [backup, deploy] = stored as [JobRow, JobRow];
    const swapped = [
      { ...backup, command: deploy.command },
      {
        ...deploy,
        command: backup.command,
        args: [deploy.args[0]!, { ...deploy.args[1]!, default: deploy.args[2]!.default! }, {
          ...deploy.args[2]!,
          default: deploy.args[1]!.default!,
        }],
      },
    ];
    const shown = await Promise.all(swapped.map((job) => openJob(keys.dataKey, keys.id, job)));
    assertEquals(shown.map((job) => job.command), [UNDECRYPTABLE_TEXT, UNDECRYPTABLE_TEXT]);
    assertEquals(shown[1]!.args.map((arg) => arg.default), [
      undefined,
      UNDECRYPTABLE_TEXT,
      UNDECRYPTABLE_TEXT,
    ]);
    // A job of another host with this job's envelope: another place, no text.
    const moved = await openJob(keys.dataKey, keys.id, { ...backup, host: "web2" });
    assertEquals(moved.command, UNDECRYPTABLE_TEXT);
  });
});

Deno.test("sealed: a job list sent again is byte for byte the same; a changed job alone gets new envelopes", async () => {
  const sealer = new ReportSealer(newDashboardId(), "web1", key());
  const list = dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date(NOW));
  const first = await sealer.jobs(list);
  const again = await sealer.jobs(dashboardJobs(parseKoitab(KOITAB).jobs, "UTC", new Date(NOW)));
  assertEquals(JSON.stringify(again), JSON.stringify(first));
  const edited = list.map((job, i) => i === 0 ? { ...job, command: `${job.command} -v` } : job);
  const next = await sealer.jobs(edited);
  assert(next[0]!.command !== first[0]!.command, "the changed command is sealed anew");
  assertEquals(next.slice(1), first.slice(1));
});

Deno.test("sealed: output, arguments and errors open where they belong; swapped or reordered chunks do not", async () => {
  await withSealed(async ({ keys, post, run }) => {
    const start = (id: string): Report => {
      const report = startReport(id, "jdeploy", NOW) as Extract<Report, { type: "start" }>;
      return { ...report, run: { ...report.run, trigger: "manual", args: { Target: id } } };
    };
    await post(start("r1"), output("r1", 0, "one of r1\n"), output("r1", 1, "two of r1\n"));
    await post(start("r2"), output("r2", 0, "one of r2\n"));
    const open = async (runId: string, answer?: { run: Run; output: OutputRecord[] }) => {
      const got = answer ?? await run(runId);
      const opened = await openRun(keys.dataKey, keys.id, got.run);
      const chunks = await openOutput(keys.dataKey, keys.id, got.run, got.output);
      return { args: opened.args, error: opened.error, text: chunks.map((c) => c.text) };
    };
    assertEquals(await open("r1"), {
      args: { Target: "r1" },
      error: null,
      text: ["one of r1\n", "two of r1\n"],
    });
    const r1 = await run("r1");
    const r2 = await run("r2");
    assert(r1.output.every((chunk) => isEnvelope(chunk.text)));
    assert(isEnvelope(r1.run.args.Target), String(r1.run.args.Target));
    // Two runs' chunks swapped.
    const moved = { run: r1.run, output: [{ ...r1.output[0]!, text: r2.output[0]!.text }] };
    assertEquals((await open("r1", moved)).text, [UNDECRYPTABLE_TEXT]);
    // Two chunks' order swapped.
    const reordered = {
      run: r1.run,
      output: [
        { ...r1.output[0]!, text: r1.output[1]!.text },
        { ...r1.output[1]!, text: r1.output[0]!.text },
      ],
    };
    assertEquals((await open("r1", reordered)).text, [UNDECRYPTABLE_TEXT, UNDECRYPTABLE_TEXT]);
    // An argument value moved to another run.
    const args = { run: { ...r2.run, args: r1.run.args }, output: r2.output };
    assertEquals((await open("r2", args)).args, { Target: UNDECRYPTABLE_TEXT });
    // Live output shown as if final: its own field, so no text.
    const ended = { run: { ...r1.run, status: "succeeded" as const }, output: r1.output };
    assertEquals((await open("r1", ended)).text, [UNDECRYPTABLE_TEXT, UNDECRYPTABLE_TEXT]);

    // The end: final chunks and the error, each in its place.
    const chunks = [
      { stream: "stdout" as const, text: "final one\n" },
      { stream: "stderr" as const, text: "final two\n" },
    ];
    await post({
      type: "end",
      runId: "r1",
      end: {
        finishedAt: NOW + 1000,
        exitCode: 1,
        signal: null,
        status: "failed",
        error: "it broke",
        outputBytes: 20,
        chunks,
      },
    });
    assertEquals(await open("r1"), {
      args: { Target: "r1" },
      error: "it broke",
      text: ["final one\n", "final two\n"],
    });
    const final = await run("r1");
    const errorMoved = { run: { ...r2.run, error: final.run.error }, output: [] };
    assertEquals((await open("r2", errorMoved)).error, UNDECRYPTABLE_TEXT);
    // A chunk of another stream: its field names the stream.
    const streams = {
      run: final.run,
      output: [{ ...final.output[0]!, stream: "stderr" as const }, final.output[1]!],
    };
    assertEquals((await open("r1", streams)).text, [UNDECRYPTABLE_TEXT, "final two\n"]);
  });
});

Deno.test("sealed: koid's refusal reason opens for its manual run only", async () => {
  const id = newDashboardId();
  const dataKey = key();
  const sealer = new ReportSealer(id, "web1", dataKey);
  const [refused] = await sealer.reports([
    { type: "manual", manualId: "m1", state: "refused", reason: "no such job", runId: null },
  ]);
  assert(refused?.type === "manual" && isEnvelope(refused.reason), JSON.stringify(refused));
  const manual = {
    id: "m1",
    host: "web1",
    tag: "t",
    queuedAt: NOW,
    state: "refused" as const,
    args: {},
    reason: refused.reason!,
  };
  assertEquals((await openManualRun(dataKey, id, manual)).reason, "no such job");
  assertEquals(
    (await openManualRun(dataKey, id, { ...manual, id: "m2" })).reason,
    UNDECRYPTABLE_TEXT,
  );
  assertEquals(
    (await openManualRun(dataKey, id, { ...manual, reason: "plain text" })).reason,
    UNDECRYPTABLE_TEXT,
  );
});
