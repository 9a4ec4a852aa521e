import { assert, assertEquals } from "./_assert.ts";
import { DEFAULT_SETTINGS, type Job } from "../lib/protocol/wire.ts";
import { Listings, type ListingStore } from "../lib/server/listing.ts";
import { DashboardStore, type JobSelection } from "../lib/server/store.ts";
import { endReport, startReport } from "./_reports.ts";

const ID = "dashboard-one-0001";
const T0 = Date.parse("2026-03-01T12:00:30.000Z");
const MINUTE = 60_000;

function job(tag: string, line: number, schedule = "*/5 * * * *"): Job {
  return {
    tag,
    name: null,
    section: null,
    schedule,
    timezone: null,
    args: [],
    next: schedule === "@manual" ? [] : ["2026-03-01T12:05:00.000Z"],
    command: `k1.${tag}`,
    line,
  };
}

/**
 * A store on an in-memory KV, and the same store with each listing of jobs
 * written down: `"all"`, or the hosts and jobs asked for.
 */
async function withStore(
  fn: (
    store: DashboardStore,
    counted: ListingStore,
    reads: (string | { hosts: readonly string[]; jobs: string[] })[],
  ) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new DashboardStore(kv, () => T0);
    assert(await store.createDashboard(ID, "hash"));
    const reads: (string | { hosts: readonly string[]; jobs: string[] })[] = [];
    const counted: ListingStore = {
      listJobs(id: string, only?: JobSelection) {
        reads.push(
          only === undefined ? "all" : {
            hosts: only.hosts,
            jobs: only.jobs.map(({ host, tag }) => `${host}/${tag}`),
          },
        );
        return store.listJobs(id, only);
      },
      viewChanges: (id, since) => store.viewChanges(id, since),
      listJobPlaces(id: string) {
        reads.push("places");
        return store.listJobPlaces(id);
      },
    };
    await fn(store, counted, reads);
  } finally {
    kv.close();
  }
}

const settings = (grace = 120) => ({ ...DEFAULT_SETTINGS, missedGraceSeconds: grace });

/** The listing a new instance would make: every job read from the store now. */
function fresh(store: DashboardStore, time: number, grace = 120) {
  return store.viewStamp(ID).then((stamp) =>
    new Listings().listing(store, ID, stamp, time, settings(grace))
  );
}

Deno.test("Listings: a kept listing reads only what changed, and equals one made afresh", async () => {
  await withStore(async (store, counted, reads) => {
    const listings = new Listings();
    const list = async (time: number, grace = 120) =>
      listings.listing(counted, ID, await store.viewStamp(ID), time, settings(grace));
    const keys = (json: string) =>
      JSON.parse(json).map((row: { host: string; tag: string }) => `${row.host}/${row.tag}`);

    await store.replaceJobs(ID, "web", [job("j2", 2, "@manual"), job("j1", 1)]);
    await store.replaceJobs(ID, "db", [job("j1", 1)]);
    const first = await list(T0);
    assertEquals(reads, ["all"]);
    assertEquals(keys(first.json), ["db/j1", "web/j1", "web/j2"]);
    assertEquals(first.until, Date.parse("2026-03-01T12:05:00Z"));
    assertEquals(first, await fresh(store, T0));

    // Nothing changed: nothing read.
    assertEquals(await list(T0 + MINUTE), first);
    assertEquals(reads.length, 1);

    // A run of one job: that job read again.
    await store.applyReports(ID, "web", [startReport("r1", "j1", T0 + MINUTE)], settings());
    await store.applyReports(ID, "web", [endReport("r1", T0 + MINUTE + 500)], settings());
    const ran = await list(T0 + 2 * MINUTE);
    assertEquals(reads.slice(1), [{ hosts: [], jobs: ["web/j1"] }]);
    assertEquals(JSON.parse(ran.json)[1].lastRun.id, "r1");
    assertEquals(ran, await fresh(store, T0 + 2 * MINUTE));

    // A new job list: that host's jobs read again; a job gone is gone.
    await store.replaceJobs(ID, "web", [job("j2", 1, "@manual"), job("j3", 3, "0 * * * *")]);
    const replaced = await list(T0 + 2 * MINUTE);
    assertEquals(reads.slice(2), [{ hosts: ["web"], jobs: [] }]);
    assertEquals(keys(replaced.json), ["db/j1", "web/j2", "web/j3"]);
    assertEquals(replaced, await fresh(store, T0 + 2 * MINUTE));

    // Time passes a job's next run, the grace changes, the clock goes back: the views are
    // worked out again, nothing read. (db/j1, which never ran, is late at 12:07.)
    const later = Date.parse("2026-03-01T12:05:00Z");
    const moved = await list(later);
    assertEquals(moved.until, Date.parse("2026-03-01T12:07:00Z"));
    assertEquals(moved, await fresh(store, later));
    assertEquals(await list(later, 600), await fresh(store, later, 600));
    assertEquals(await list(T0, 600), await fresh(store, T0, 600));
    assertEquals(reads.length, 3);

    // Requests at once for a new stamp: one read.
    await store.applyReports(ID, "db", [startReport("r2", "j1", T0)], settings());
    const stamp = await store.viewStamp(ID);
    const [one, two] = await Promise.all([
      listings.listing(counted, ID, stamp, T0, settings(600)),
      listings.listing(counted, ID, stamp, T0, settings(600)),
    ]);
    assertEquals(reads.slice(3), [{ hosts: [], jobs: ["db/j1"] }]);
    assertEquals([one, two], [await fresh(store, T0, 600), await fresh(store, T0, 600)]);

    // Every host changed: one listing of every job. A stamp older than the listing's (a
    // store put back from a copy): every job.
    const older = await store.viewStamp(ID);
    await store.replaceJobs(ID, "web", [job("j4", 1)]);
    await store.replaceJobs(ID, "db", [job("j4", 1)]);
    assertEquals(await list(T0), await fresh(store, T0));
    await listings.listing(counted, ID, older, T0, settings());
    assertEquals(reads.slice(4), ["all", "all"]);
  });
});

Deno.test("Listings: nothing kept without a stamp, or beyond the cap", async () => {
  await withStore(async (store, counted, reads) => {
    await store.replaceJobs(ID, "web", [job("j1", 1)]);
    const stamp = await store.viewStamp(ID);
    const small = new Listings(10);
    await small.listing(counted, ID, stamp, T0, settings());
    await small.listing(counted, ID, stamp, T0, settings());
    const listings = new Listings();
    await listings.listing(counted, ID, "0", T0, settings());
    await listings.listing(counted, ID, "0", T0, settings());
    assertEquals(reads, ["all", "all", "all", "all"]);
  });
});

Deno.test("Listings: a first screen of rows, in the jobs view's order, read alone or from the kept listing", async () => {
  await withStore(async (store, counted, reads) => {
    const listings = new Listings();
    const inSection = (section: string | null, tag: string, line: number) => ({
      ...job(tag, line),
      section,
    });
    // The view's order: no section first, then the sections as words ("alerts" before
    // "Backups"), then machine, then line.
    await store.replaceJobs(ID, "web", [
      inSection("Backups", "b1", 1),
      inSection(null, "n2", 4),
      inSection("alerts", "a1", 2),
      inSection(null, "n1", 3),
    ]);
    await store.replaceJobs(ID, "db", [inSection("Backups", "b1", 1), inSection(null, "n1", 2)]);
    const order = ["db/n1", "web/n1", "web/n2", "web/a1", "db/b1", "web/b1"];
    const keys = (json: string) =>
      JSON.parse(json).map((row: { host: string; tag: string }) => `${row.host}/${row.tag}`);
    const firstRows = async (count: number, time = T0) =>
      listings.firstRows(counted, ID, await store.viewStamp(ID), time, settings(), count);
    /** The rows of a listing made afresh, by key. */
    const rowsOf = async (time: number) =>
      new Map<string, unknown>(
        JSON.parse((await fresh(store, time)).json).map((row: { host: string; tag: string }) => [
          `${row.host}/${row.tag}`,
          row,
        ]),
      );

    // Nothing kept: every job's place, then the jobs of the first screen alone.
    const cold = await firstRows(4);
    assertEquals(reads, ["places", { hosts: [], jobs: order.slice(0, 4) }]);
    assertEquals(keys(cold.json), order.slice(0, 4));
    assertEquals(cold.total, 6);
    const rows = await rowsOf(T0);
    assertEquals(JSON.parse(cold.json), order.slice(0, 4).map((key) => rows.get(key)));

    // A listing kept: from it, nothing read; the same rows. Asked for more than there are: all.
    await listings.listing(counted, ID, await store.viewStamp(ID), T0, settings());
    assertEquals(reads.slice(2), ["all"]);
    assertEquals(await firstRows(4), cold);
    const all = await firstRows(100);
    assertEquals(keys(all.json), order);
    assertEquals(all.total, 6);
    assertEquals(reads.length, 3);

    // A run ended: the kept listing is brought up to date with that job, and shows its run.
    await store.applyReports(ID, "web", [startReport("r1", "n1", T0 + MINUTE)], settings());
    await store.applyReports(ID, "web", [endReport("r1", T0 + MINUTE + 500)], settings());
    const ran = await firstRows(2, T0 + 2 * MINUTE);
    assertEquals(reads.slice(3), [{ hosts: [], jobs: ["web/n1"] }]);
    const rowsAfter = await rowsOf(T0 + 2 * MINUTE);
    assertEquals(JSON.parse(ran.json), ["db/n1", "web/n1"].map((key) => rowsAfter.get(key)));
    assertEquals(JSON.parse(ran.json)[1].lastRun.id, "r1");

    // Another instance, with nothing kept, answers the same.
    assertEquals(
      await new Listings().firstRows(
        store,
        ID,
        await store.viewStamp(ID),
        T0 + 2 * MINUTE,
        settings(),
        2,
      ),
      ran,
    );
  });
});
