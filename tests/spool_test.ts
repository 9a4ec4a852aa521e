import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "./_assert.ts";
import type { EndReport, Report } from "../lib/protocol/wire.ts";
import { History } from "../lib/runs/history.ts";
import {
  COALESCE_BYTES,
  ReportSpool,
  SEEN_KEEP_MS,
  SeenSignatures,
  SeenStoreError,
} from "../lib/daemon/spool.ts";
import { utf8Length } from "../lib/utf8.ts";

const D = "dashboard_id_0000000001";

/** A spool over a History in a temporary directory; `reopen` closes and opens it again. */
async function withSpool(
  fn: (context: {
    spool: () => ReportSpool;
    seen: () => SeenSignatures;
    reopen: () => void;
  }) => void | Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_spool_" });
  let history = new History(`${dir}/history.db`);
  let spool = new ReportSpool(history.database);
  let seen = new SeenSignatures(history.database);
  try {
    await fn({
      spool: () => spool,
      seen: () => seen,
      reopen: () => {
        history.close();
        history = new History(`${dir}/history.db`);
        spool = new ReportSpool(history.database);
        seen = new SeenSignatures(history.database);
      },
    });
  } finally {
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function start(id: string): Report {
  return {
    type: "start",
    run: {
      id,
      tag: "j0000000000000001",
      name: "Job",
      section: null,
      trigger: "schedule",
      args: {},
      scheduledFor: 60_000,
      startedAt: 61_000,
      manualId: null,
    },
  };
}

function output(runId: string, seq: number, text: string, stream: "stdout" | "stderr" = "stdout") {
  return { type: "output", runId, seq, stream, text } as const;
}

function end(runId: string): Report {
  return {
    type: "end",
    runId,
    end: {
      finishedAt: 62_000,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      outputBytes: 3,
      chunks: [{ stream: "stdout", text: "hi\n" }],
    },
  };
}

Deno.test("ReportSpool keeps reports in the order appended", async () => {
  await withSpool(({ spool }) => {
    const reports: Report[] = [
      start("r1"),
      output("r1", 0, "a"),
      start("r2"),
      output("r2", 0, "b"),
      output("r1", 1, "c"),
      end("r2"),
      { type: "manual", manualId: "m1", state: "refused", reason: "no", runId: null },
      end("r1"),
    ];
    for (const report of reports) spool().append(D, report);
    const batch = spool().take(D);
    assertEquals(batch?.reports, reports);
    assertEquals(spool().pending(D).reports, reports.length);
  });
});

Deno.test("ReportSpool takes batches up to the byte cap, at least one report each", async () => {
  await withSpool(({ spool }) => {
    for (let i = 0; i < 10; i++) spool().append(D, output(`r${i}`, 0, "x".repeat(1000)));
    const first = spool().take(D, 3500)!;
    assertEquals(first.reports.length, 3);
    // Taken again before an acknowledgement, the batch is the same: a retry sends the same thing.
    assertEquals(spool().take(D, 3500), first);
    spool().ack(D, first.last);
    const second = spool().take(D, 3500)!;
    assertEquals(second.reports.map((r) => (r as { runId: string }).runId), ["r3", "r4", "r5"]);
    const single = spool().take(D, 10)!;
    assertEquals(single.reports.length, 1, "one report even when it alone exceeds the cap");
    assertEquals(spool().take(D, Infinity, 4)!.reports.length, 4, "the count cap");
  });
});

Deno.test("ReportSpool deletes reports only when acknowledged", async () => {
  await withSpool(({ spool }) => {
    spool().append(D, start("r1"));
    spool().append(D, end("r1"));
    const batch = spool().take(D)!;
    assertEquals(spool().pending(D).reports, 2);
    spool().append(D, start("r2"));
    assertEquals(spool().ack(D, batch.last), 2);
    assertEquals(spool().pending(D).reports, 1);
    assertEquals(spool().take(D)!.reports, [start("r2")]);
    spool().ack(D, spool().take(D)!.last);
    assertEquals(spool().take(D), null);
    assertEquals(spool().pending(D), { reports: 0, bytes: 0 });
    assertEquals(spool().bytes, 0);
  });
});

Deno.test("ReportSpool keeps what was not acknowledged across a reopen", async () => {
  await withSpool(({ spool, reopen }) => {
    spool().append(D, start("r1"));
    spool().append(D, output("r1", 0, "héllo 😃"));
    spool().append(D, end("r1"));
    spool().ack(D, spool().take(D, 1)!.last);
    reopen();
    assertEquals(spool().take(D)!.reports, [output("r1", 0, "héllo 😃"), end("r1")]);
    assert(spool().bytes > 0, "the byte count is read back");
  });
});

Deno.test("ReportSpool coalesces adjacent output of one run and stream, under the first one's seq", async () => {
  await withSpool(({ spool }) => {
    const coalesced = [
      spool().append(D, output("r1", 0, "a")),
      spool().append(D, output("r1", 1, "b")),
      spool().append(D, output("r1", 1, "c", "stderr")),
      spool().append(D, output("r1", 2, "d", "stderr")),
      spool().append(D, output("r2", 0, "e", "stderr")),
      spool().append(D, output("r1", 2, "f", "stderr")),
    ];
    assertEquals(coalesced, [false, true, false, true, false, false]);
    const batch = spool().take(D)!;
    assertEquals(batch.reports, [
      output("r1", 0, "ab"),
      output("r1", 1, "cd", "stderr"),
      output("r2", 0, "e", "stderr"),
      output("r1", 2, "f", "stderr"),
    ]);
    // Output after a batch was taken never changes it: it starts a new report.
    assertEquals(spool().append(D, output("r1", 3, "g", "stderr")), false);
    assertEquals(spool().take(D)!.reports.at(-1), output("r1", 3, "g", "stderr"));
    assertEquals(spool().take(D)!.reports.length, 5);
  });
});

Deno.test("ReportSpool coalesces no more than COALESCE_BYTES into one report", async () => {
  await withSpool(({ spool }) => {
    const piece = "x".repeat(COALESCE_BYTES / 4);
    for (let i = 0; i < 6; i++) spool().append(D, output("r1", i, piece));
    const reports = spool().take(D, Infinity)!.reports as { seq: number; text: string }[];
    assertEquals(reports.map((r) => [r.seq, r.text.length]), [
      [0, COALESCE_BYTES],
      [4, COALESCE_BYTES / 2],
    ]);
  });
});

Deno.test("ReportSpool does not coalesce across a reopen", async () => {
  await withSpool(({ spool, reopen }) => {
    spool().append(D, output("r1", 0, "a"));
    reopen();
    spool().append(D, output("r1", 1, "b"));
    assertEquals(spool().take(D)!.reports, [output("r1", 0, "a"), output("r1", 1, "b")]);
  });
});

Deno.test("ReportSpool keeps each dashboard's reports apart, and drops a former one's", async () => {
  await withSpool(({ spool }) => {
    const other = "dashboard_id_0000000002";
    spool().append(D, start("r1"));
    spool().append(other, start("r2"));
    spool().append(other, output("r2", 0, "x"));
    assertEquals(spool().take(other)!.reports.length, 2);
    assertEquals(spool().discardOthers(D), 2);
    assertEquals(spool().take(other), null);
    assertEquals(spool().take(D)!.reports, [start("r1")]);
  });
});

Deno.test("SeenSignatures remembers accepted signatures across a reopen, and prunes old ones", async () => {
  await withSpool(({ seen, reopen }) => {
    seen().add("sig-old", 1_000);
    seen().add("sig-new", 700_000);
    assert(seen().has("sig-old") && seen().has("sig-new"));
    assert(!seen().has("sig-other"));
    reopen();
    assert(seen().has("sig-old"), "kept across a reopen");
    assertEquals(seen().prune(600_000), 1);
    assert(!seen().has("sig-old") && seen().has("sig-new"));
  });
});

Deno.test("SeenSignatures vouches for nothing while its record cannot be read or written, nor for 10 minutes after it started afresh", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_seen_" });
  const history = new History(`${dir}/history.db`);
  let failing: Error | null = null;
  let replacedAt: number | null = null;
  const seen = new SeenSignatures({
    database: () => {
      if (failing) throw failing;
      return history.database;
    },
    report: () => {},
    get replacedAt() {
      return replacedAt;
    },
  });
  const refusal = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      assert(error instanceof SeenStoreError, String(error));
      return error.message;
    }
    throw new Error("no SeenStoreError");
  };
  try {
    seen.add("sig-a", 1_000);
    failing = Object.assign(new Error("database or disk is full"), { errcode: 13 });
    assertEquals(
      refusal(() => seen.add("sig-b", 2_000)),
      "koid cannot record the signatures of manual runs (database or disk is full), so it could not refuse a replay: manual runs are refused until history.db can be written again; scheduled jobs go on",
    );
    assertEquals(
      refusal(() => seen.has("sig-a", 2_000)),
      "koid cannot read its record of accepted manual runs (database or disk is full), so it cannot rule out a replay: manual runs are refused until it can",
    );
    // Pruning is not worth failing for.
    assertEquals(seen.prune(0), 0);
    failing = null;
    assert(seen.has("sig-a", 2_000) && !seen.has("sig-b", 2_000));
    replacedAt = Date.parse("2025-06-01T10:00:00Z");
    assertEquals(
      refusal(() => seen.has("sig-c", replacedAt! + SEEN_KEEP_MS - 1)),
      "koid's record of accepted manual runs started afresh at 2025-06-01T10:00:00.000Z (history.db was moved aside, deleted or replaced), so it cannot rule out a replay: manual runs are refused until 2025-06-01T10:10:00.000Z",
    );
    assertEquals(seen.has("sig-c", replacedAt + SEEN_KEEP_MS), false);
  } finally {
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ReportSpool follows its source to a new database, and acknowledges nothing taken from the old one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_spool_" });
  let history = new History(`${dir}/a.db`);
  const spool = new ReportSpool({
    database: () => history.database,
    report: () => {},
    replacedAt: null,
  });
  try {
    spool.append(D, start("r1"));
    const batch = spool.take(D)!;
    history.close();
    history = new History(`${dir}/b.db`);
    spool.append(D, start("r2"));
    assertEquals(spool.ack(D, batch.last), 0);
    assertEquals(spool.take(D)!.reports, [start("r2")]);
  } finally {
    history.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("utf8Length() counts UTF-8 bytes as TextEncoder does", () => {
  for (const text of ["", "abc", "é", "日本語", "😃x", "\ud83d", "a\udc00b", "\ud83d\ud83d"]) {
    assertEquals(utf8Length(text), new TextEncoder().encode(text).length, JSON.stringify(text));
  }
});

Deno.test("ReportSpool keeps an end report's output as bytes, not JSON: a MiB of NUL bytes takes a MiB", async () => {
  await withSpool(({ spool, reopen }) => {
    const text = "\0".repeat(1024 * 1024);
    const base = end("r1") as EndReport;
    const report: Report = {
      ...base,
      end: {
        ...base.end,
        outputBytes: text.length + 2,
        chunks: [{ stream: "stdout", text }, { stream: "stderr", text: "é" }],
      },
    };
    spool().append(D, report);
    reopen();
    assertEquals(spool().take(D)?.reports, [report]);
    // About its size in the spool, and so in a batch's byte count: the bytes, not six per NUL.
    assertEquals(spool().pending(D), {
      reports: 1,
      bytes: JSON.stringify({ ...report, end: { ...report.end, chunks: [] } }).length + 1 +
        5 + text.length + 5 + 2,
    });
  });
});

Deno.test("A spool written before end reports kept their output as bytes is read as it was, then takes the column", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_spool_" });
  try {
    const path = `${dir}/history.db`;
    const old = new DatabaseSync(path);
    // The spool's table as koid made it before.
    old.exec(`CREATE TABLE dashboard_spool (
      id INTEGER PRIMARY KEY AUTOINCREMENT, dashboard TEXT NOT NULL, report TEXT, run_id TEXT,
      stream TEXT, seq INTEGER, text TEXT, bytes INTEGER NOT NULL)`);
    old.prepare("INSERT INTO dashboard_spool (dashboard, report, bytes) VALUES (?, ?, ?)")
      .run(D, JSON.stringify(end("r1")), 100);
    old.close();
    const history = new History(path);
    try {
      const spool = new ReportSpool(history.database);
      spool.append(D, end("r2"));
      assertEquals(spool.take(D)?.reports, [end("r1"), end("r2")]);
    } finally {
      history.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
