/**
 * What one host costs the store, per operation, on Deno's embedded SQLite KV (the
 * engine a self-hosted denokv runs, without its network hop): a long-poll cycle
 * with nothing queued (the host's last call written, its queue read at the start
 * and the end of the wait), a run reported as koid reports it (a batch with its
 * start, then one with its end, which also trims the job's oldest run), and a page
 * refresh where nothing changed (the view's stamp). `docs/scaling.md` builds on
 * these figures.
 *
 * Run: `deno task bench`.
 *
 * @module
 */

import { parseJobList, parseReports } from "../lib/protocol/schema.ts";
import { DEFAULT_SETTINGS } from "../lib/protocol/wire.ts";
import { DashboardStore } from "../lib/server/store.ts";
import { bigJobList, bigRunReports } from "../tests/_big_dashboard.ts";

const ID = "dashboard-bench-0001";
const dir = await Deno.makeTempDir({ prefix: "koi_store_bench_" });
const kv = await Deno.openKv(`${dir}/store.db`);
const store = new DashboardStore(kv);
await store.createDashboard(ID, "hash");
const settings = { ...DEFAULT_SETTINGS, retentionRuns: 5 };
const jobs = parseJobList({ jobs: bigJobList(20, Date.now()) });
for (let h = 0; h < 100; h++) await store.replaceJobs(ID, `host-${h}`, jobs);
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
    reports: bigRunReports(`run-${n}`, jobs[n % 20]!.tag, Date.now(), false),
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

globalThis.addEventListener("unload", () => {
  kv.close();
  Deno.removeSync(dir, { recursive: true });
});
