import { assert, assertEquals } from "./_assert.ts";
import { ManualPoller } from "../lib/server/poll.ts";
import type { DashboardStore } from "../lib/server/store.ts";

Deno.test("ManualPoller looks at a slow store once per recheck, counted from look to look", async () => {
  // Each look at the queue takes 300 ms; looks are due every 400 ms. Counted from the end
  // of one look, they would come every 700 ms or more.
  const looks: number[] = [];
  const store = {
    claimManual: () => Promise.resolve([]),
    queuedHosts: async () => {
      looks.push(performance.now());
      await new Promise((resolve) => setTimeout(resolve, 300));
      return [];
    },
  } as unknown as DashboardStore;
  const poller = new ManualPoller(store, 400, () => {});
  const runs = await poller.poll("dashboard-one-0001", "web", 2_300);
  await poller.close();
  assertEquals(runs, []);
  const gaps = looks.slice(1).map((at, i) => at - looks[i]!).sort((a, b) => a - b);
  assert(looks.length >= 4, `${looks.length} looks in 2.3 s`);
  assert(gaps[Math.floor(gaps.length / 2)]! < 600, `looks ${gaps.map(Math.round)} ms apart`);
});
