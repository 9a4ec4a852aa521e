/**
 * What one host costs the store, per operation, on Deno's embedded SQLite KV (the
 * engine a self-hosted denokv runs, without its network hop): a long-poll cycle
 * with nothing queued (the host's last call written, its queue read at the start
 * and the end of the wait), a run reported as koid reports it (a batch with its
 * start, then one with its end, which also trims the job's oldest run), a page
 * refresh where nothing changed (the view's stamp), and the alert engine's look
 * at a dashboard for missed runs and silent hosts (which each instance makes of
 * every dashboard every 10 s), at 1 and 100 hosts of 20 jobs. `docs/scaling.md`
 * builds on these figures.
 *
 * Run: `deno task bench`.
 *
 * @module
 */

import { parseJobList, parseReports } from "../lib/protocol/schema.ts";
import { DEFAULT_SETTINGS } from "../lib/protocol/wire.ts";
import { DashboardStore } from "../lib/server/store.ts";
import { AlertEngine } from "../lib/server/alerts/engine.ts";
import { bigJobList, bigRunReports } from "../tests/_big_dashboard.ts";
import { sealedStub, stubReports } from "../tests/_reports.ts";

const ID = "dashboard-bench-0001";
const dir = await Deno.makeTempDir({ prefix: "koi_store_bench_" });
const kv = await Deno.openKv(`${dir}/store.db`);
const store = new DashboardStore(kv);
await store.createDashboard(ID, "hash");
const settings = { ...DEFAULT_SETTINGS, retentionRuns: 5 };
// As the server takes them: each command sealed (a stand-in of the same length).
const jobs = parseJobList({
  jobs: bigJobList(20, Date.now()).map((job) => ({
    ...job,
    command: sealedStub(job.command as string),
  })),
});
for (let h = 0; h < 100; h++) await store.replaceJobs(ID, `host-${h}`, jobs);
const SMALL_ID = "dashboard-bench-0002";
await store.createDashboard(SMALL_ID, "hash");
await store.replaceJobs(SMALL_ID, "host-0", jobs);
const engine = new AlertEngine({ kv, store, connectedMs: 35_000, pruneEveryMs: 0, log: () => {} });
const dashboards = await store.listDashboards();
// The first look stores a watch per job and a state per host; the next ones read them.
for (const dashboard of dashboards) await engine.checkDashboard(dashboard);
let poll = 0;
let run = 0;

Deno.bench(
  "a long-poll cycle, nothing queued: touch, claim, claim",
  { group: "host" },
  async () => {
    const host = `host-${poll++ % 100}`;
    await store.touchHost(ID, host);
    await store.claimManual(ID, host);
    await store.claimManual(ID, host);
  },
);

Deno.bench("a run: its start, then its end (trimming the oldest)", { group: "host" }, async () => {
  const n = run++;
  const host = `host-${n % 100}`;
  const [start, end] = parseReports({
    reports: stubReports(bigRunReports(`run-${n}`, jobs[n % 20]!.tag, Date.now(), false)),
  });
  await store.applyReports(ID, host, [start!], settings);
  await store.applyReports(ID, host, [end!], settings);
});

Deno.bench(
  "a page refresh where nothing changed: the view's stamp",
  { group: "page" },
  async () => {
    await store.viewStamp(ID);
  },
);

for (const [name, id] of [["1 host", SMALL_ID], ["100 hosts", ID]] as const) {
  Deno.bench(
    `the alert engine's look at a dashboard of ${name} of 20 jobs`,
    { group: "alerts" },
    async () => {
      await engine.checkDashboard(dashboards.find((dashboard) => dashboard.id === id)!);
    },
  );
}

globalThis.addEventListener("unload", () => {
  kv.close();
  Deno.removeSync(dir, { recursive: true });
});
