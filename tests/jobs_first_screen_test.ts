/**
 * `GET /api/d/{id}/jobs?since=0&first=N`, the jobs view's first call: every job
 * (the `since=0` answer, byte for byte) up to 2,000 jobs; past that, the first N
 * jobs in the jobs view's order with how many there are and every host, without
 * an `ETag`, the same from an instance that keeps a listing and from one that
 * keeps none. Bad values are refused with a message naming the field.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { createDashboard } from "./_new_dashboard.ts";
import { bigHostName, fillBigDashboard } from "./_big_dashboard.ts";
import { base64url } from "../lib/protocol/keys.ts";
import { compareJobs } from "../lib/protocol/job_order.js";
import type { FirstJobs, JobChanges, JobRow } from "../lib/protocol/wire.ts";
import { WHOLE_UP_TO } from "../lib/server/jobs_feed.ts";
import { startServer } from "../lib/server/server.ts";

Deno.test("jobs?since=0&first=N: every job up to 2,000, past that the first screen of rows", async () => {
  const kv = await Deno.openKv(":memory:");
  // One clock for both instances, stopped once the dashboards are filled: their answers
  // compare byte for byte.
  let stoppedAt: number | null = null;
  const now = () => stoppedAt ?? Date.now();
  const options = { kv, port: 0, pruneEveryMs: 0, log: () => {}, now };
  const server = await startServer(options);
  const other = await startServer(options);
  try {
    const big = await createDashboard(server.url);
    const small = await createDashboard(server.url);
    const dataKey = base64url(crypto.getRandomValues(new Uint8Array(32)));
    // 101 hosts of 20 jobs: 2,020 jobs, just past the 2,000 answered whole.
    await fillBigDashboard({ url: server.url, id: big.id, headers: big.headers, dataKey }, 101, 20);
    await fillBigDashboard(
      { url: server.url, id: small.id, headers: small.headers, dataKey },
      3,
      2,
    );
    stoppedAt = Date.now();
    assertEquals(WHOLE_UP_TO, 2000);
    const get = (
      url: string,
      { id, headers }: { id: string; headers: Record<string, string> },
      query: string,
    ) => fetch(`${url}/api/d/${id}/jobs?${query}`, { headers });

    // The first screen, asked first of an instance that keeps no listing.
    const cold = await get(other.url, big, "since=0&first=100");
    assertEquals(cold.status, 200);
    assertEquals(cold.headers.get("etag"), null);
    const coldText = await cold.text();
    const screen: FirstJobs = JSON.parse(coldText);
    assertEquals(screen.total, 2020);
    assertEquals(screen.jobs.length, 100);
    assertEquals(
      screen.hosts.map((host) => host.host),
      Array.from({ length: 101 }, (_, i) => bigHostName(i)),
    );

    // They are the first 100 of every job in the view's order: no section first, host by
    // host, each host's by line.
    const everything = await get(server.url, big, "since=0");
    assert(everything.headers.get("etag") !== null);
    const all: JobChanges = await everything.json();
    const ordered = all.jobs.toSorted(compareJobs);
    assertEquals(screen.jobs, ordered.slice(0, 100));
    const place = (job: JobRow) => `${job.section ?? "-"} ${job.host} ${job.line}`;
    assertEquals(screen.jobs.slice(0, 5).map(place), [
      "- host-0000 17",
      "- host-0000 18",
      "- host-0000 19",
      "- host-0000 20",
      "- host-0001 17",
    ]);
    // Four jobs of each host have no section: the 100 are those of the first 25 hosts.
    assertEquals(place(screen.jobs.at(-1)!), "- host-0024 20");

    // An instance that keeps the listing answers the same, from it.
    const kept = await get(server.url, big, "since=0&first=100");
    assertEquals(kept.headers.get("etag"), null);
    assertEquals(await kept.text(), coldText);
    // Fewer asked for: the same first rows.
    const few: FirstJobs = await (await get(server.url, big, "since=0&first=3")).json();
    assertEquals(few.jobs, screen.jobs.slice(0, 3));

    // At most 2,000 jobs: the since=0 answer itself, with its ETag.
    const whole = await get(server.url, small, "since=0&first=100");
    const plain = await get(server.url, small, "since=0");
    assertEquals(whole.headers.get("etag"), plain.headers.get("etag"));
    assert(whole.headers.get("etag") !== null);
    const wholeText = await whole.text();
    assertEquals(wholeText, await plain.text());
    assertEquals((JSON.parse(wholeText) as JobChanges).jobs.length, 6);

    // Refused: with a cursor, without since, out of range, not a number.
    for (
      const [query, error] of [
        [`since=${all.cursor}&first=100`, `Invalid "first": goes only with since=0 (got "100")`],
        ["first=100", `Invalid "first": goes only with since=0 (got "100")`],
        ["since=0&first=0", `Invalid "first": must be a number of jobs from 1 to 500 (got "0")`],
        [
          "since=0&first=501",
          `Invalid "first": must be a number of jobs from 1 to 500 (got "501")`,
        ],
        [
          "since=0&first=1e2",
          `Invalid "first": must be a number of jobs from 1 to 500 (got "1e2")`,
        ],
      ]
    ) {
      const refused = await get(server.url, big, query!);
      assertEquals([refused.status, (await refused.json()).error], [400, error]);
    }
  } finally {
    await other.shutdown();
    await server.shutdown();
    kv.close();
  }
});
