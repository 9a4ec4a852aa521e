/**
 * Tests for lib/daemon/report_queue.ts: the spool with memory to fall back on
 * while the database cannot be written, in order, bounded, and back to the spool
 * by itself.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import type { DatabaseSource } from "../lib/daemon/history_store.ts";
import { ReportQueue } from "../lib/daemon/report_queue.ts";
import { ReportSpool } from "../lib/daemon/spool.ts";
import type { Report } from "../lib/protocol/wire.ts";
import { History } from "../lib/runs/history.ts";

const D = "dashboard_id_0000000001";

function output(seq: number, text: string): Report {
  return { type: "output", runId: "r1", seq, stream: "stdout", text };
}

function manual(manualId: string): Report {
  return { type: "manual", manualId, state: "refused", reason: "no", runId: null };
}

/** A queue over a real spool whose database can be made to fail, with a clock the test moves. */
async function withQueue(
  fn: (context: {
    queue: ReportQueue;
    spool: ReportSpool;
    log: string[];
    fail: (on: boolean) => void;
    clock: { now: number };
  }) => void,
  bounds: { maxReports?: number; maxBytes?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_queue_" });
  const history = new History(`${dir}/history.db`);
  let failing = false;
  const source: DatabaseSource = {
    database: () => {
      if (failing) throw Object.assign(new Error("database or disk is full"), { errcode: 13 });
      return history.database;
    },
    report: () => {},
    replacedAt: null,
  };
  const log: string[] = [];
  const clock = { now: 1000 };
  const spool = new ReportSpool(source);
  const queue = new ReportQueue(spool, {
    log: (line) => log.push(line),
    now: () => clock.now,
    ...bounds,
  });
  try {
    fn({ queue, spool, log, fail: (on) => failing = on, clock });
  } finally {
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Takes and acknowledges every batch, returning the reports in the order sent. */
function sendAll(queue: ReportQueue): Report[] {
  const sent: Report[] = [];
  for (let batch; (batch = queue.take(D, 1024 * 1024, 2)) !== null;) {
    sent.push(...batch.reports);
    queue.ack(D, batch.last);
  }
  return sent;
}

Deno.test("ReportQueue keeps reports in memory while the spool fails, in order after the spooled ones, and logs once", async () => {
  await withQueue(({ queue, log, fail }) => {
    queue.append(D, manual("m1"));
    fail(true);
    for (const id of ["m2", "m3", "m4"]) queue.append(D, manual(id));
    assertEquals(queue.pending(D).reports, 3);
    assertEquals(log, [
      "dashboard: cannot spool reports (database or disk is full): sending them from memory (up to 10000 reports) while the dashboard is reachable; those unsent when koid stops are lost",
    ]);
    // The spool cannot even be read: memory goes out; the spooled report when it can be read.
    assertEquals(sendAll(queue), ["m2", "m3", "m4"].map(manual));
    fail(false);
    assertEquals(sendAll(queue), [manual("m1")]);
  });
});

Deno.test("ReportQueue moves what memory holds to the spool once it works again, keeping each output's seq", async () => {
  await withQueue(({ queue, spool, log, fail, clock }) => {
    queue.append(D, output(0, "a"));
    fail(true);
    // Not coalesced in memory: each gets its own seq from the caller.
    assertEquals(queue.append(D, output(1, "b")), false);
    assertEquals(queue.append(D, output(2, "c")), false);
    fail(false);
    // Within a second of a failure the spool is not tried again: memory keeps the order.
    assertEquals(queue.append(D, output(3, "d")), false);
    assertEquals(spool.pending(D).reports, 1);
    clock.now += 1000;
    assertEquals(queue.append(D, output(4, "e")), true);
    assertEquals(log.at(-1), "dashboard: reports are spooled again");
    assertEquals(spool.pending(D).reports, 4);
    const sent = sendAll(queue);
    assertEquals(sent, [output(0, "a"), output(1, "b"), output(2, "c"), output(3, "de")]);
  });
});

Deno.test("ReportQueue memory is bounded: live output gives way to starts, ends and manual answers, logged once", async () => {
  await withQueue(({ queue, log, fail }) => {
    fail(true);
    queue.append(D, output(0, "a"));
    queue.append(D, output(1, "b"));
    queue.append(D, manual("m1"));
    queue.append(D, manual("m2"));
    queue.append(D, output(2, "c"));
    queue.append(D, output(3, "d"));
    assertEquals(log.slice(1), [
      "dashboard: the memory for unsent reports is full (3 reports): dropping live output until the dashboard or the spool takes some",
    ]);
    assertEquals(sendAll(queue), [output(1, "b"), manual("m1"), manual("m2")]);
  }, { maxReports: 3 });
});
