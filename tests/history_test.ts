import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  DEFAULT_RETENTION,
  History,
  newRunId,
  type RunEnd,
  type RunStart,
  type RunSummary,
} from "../lib/runs/history.ts";
import { decodeOutput, encodeOutput } from "../lib/runs/stored_output.ts";

const T0 = Date.parse("2026-03-01T12:00:00.000Z");

/** A temporary database path, removed with its directory after `fn`. */
async function withDb(fn: (path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_history_" });
  try {
    await fn(`${dir}/history.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function start(
  id: string,
  tag: string,
  startedAt: number,
  extra: Partial<RunStart> = {},
): RunStart {
  return {
    id,
    tag,
    name: `job ${tag}`,
    section: null,
    trigger: "schedule",
    args: {},
    scheduledFor: null,
    startedAt,
    ...extra,
  };
}

function end(finishedAt: number, extra: Partial<RunEnd> = {}): RunEnd {
  return {
    finishedAt,
    exitCode: 0,
    signal: null,
    status: "succeeded",
    error: null,
    chunks: [],
    outputBytes: 0,
    ...extra,
  };
}

const ids = (runs: readonly RunSummary[]) => runs.map((run) => run.id);

Deno.test("newRunId() is time-ordered and unique", () => {
  const a = newRunId(T0);
  const b = newRunId(T0 + 1);
  const c = newRunId(T0 + 1000 * 86400 * 365);
  assert(a < b && b < c, `${a} ${b} ${c}`);
  assertEquals(new Set(Array.from({ length: 1000 }, () => newRunId(T0))).size, 1000);
  assert(/^[0-9a-z]{9}[0-9a-f]{10}$/.test(a), a);
});

Deno.test("History records a start as running, then its end, field by field", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([
        start("r1", "jA", T0, {
          name: "Backup",
          section: "Admin",
          trigger: "manual",
          args: { Delay: 5, Verbose: true, To: "x y" },
          scheduledFor: T0 - 1000,
        }),
      ]);
      assertEquals(history.get("r1"), {
        id: "r1",
        tag: "jA",
        name: "Backup",
        section: "Admin",
        trigger: "manual",
        args: { Delay: 5, Verbose: true, To: "x y" },
        scheduledFor: "2026-03-01T11:59:59.000Z",
        startedAt: "2026-03-01T12:00:00.000Z",
        finishedAt: null,
        durationMs: null,
        exitCode: null,
        signal: null,
        status: "running",
        error: null,
        output: "",
        chunks: [],
        outputBytes: 0,
      });
      history.recordEnd(
        "r1",
        "jA",
        end(T0 + 1500, {
          exitCode: 3,
          status: "failed",
          chunks: [
            { stream: "stdout", text: "out\n" },
            { stream: "stderr", text: "err é\u0000\n" },
            { stream: "koi", text: "\n[koi: 9 bytes elided]\n" },
            { stream: "stdout", text: "tail" },
          ],
          outputBytes: 42,
        }),
      );
      assertEquals(history.get("r1"), {
        id: "r1",
        tag: "jA",
        name: "Backup",
        section: "Admin",
        trigger: "manual",
        args: { Delay: 5, Verbose: true, To: "x y" },
        scheduledFor: "2026-03-01T11:59:59.000Z",
        startedAt: "2026-03-01T12:00:00.000Z",
        finishedAt: "2026-03-01T12:00:01.500Z",
        durationMs: 1500,
        exitCode: 3,
        signal: null,
        status: "failed",
        error: null,
        output: "out\nerr é\u0000\n\n[koi: 9 bytes elided]\ntail",
        chunks: [
          { stream: "stdout", text: "out\n" },
          { stream: "stderr", text: "err é\u0000\n" },
          { stream: "koi", text: "\n[koi: 9 bytes elided]\n" },
          { stream: "stdout", text: "tail" },
        ],
        outputBytes: 42,
      });
      history.recordStarts([start("r2", "jA", T0 + 2000, { name: null })]);
      history.recordEnd(
        "r2",
        "jA",
        end(T0 + 2100, { exitCode: null, signal: "SIGTERM", status: "killed" }),
      );
      const killed = history.get("r2")!;
      assertEquals(
        [killed.status, killed.exitCode, killed.signal, killed.name, killed.durationMs],
        ["killed", null, "SIGTERM", null, 100],
      );
      assertEquals(history.get("nope"), null);
    } finally {
      history.close();
    }
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
  });
});

Deno.test("History.recordStarts() records several runs at once; a repeated id is ignored", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([]);
      history.recordStarts([start("a", "jA", T0), start("b", "jB", T0), start("c", "jA", T0)]);
      history.recordStarts([start("a", "jZ", T0 + 5)]);
      assertEquals(history.list().map((run) => [run.id, run.tag]).sort(), [
        ["a", "jA"],
        ["b", "jB"],
        ["c", "jA"],
      ]);
    } finally {
      history.close();
    }
  });
});

Deno.test("History.list() is newest first (ties by id), filters by tags, and limits", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([
        start("r3", "jA", T0 + 3000),
        start("r1", "jB", T0 + 1000),
        start("r5", "jA", T0 + 5000),
        start("r4b", "jB", T0 + 4000),
        start("r4a", "jC", T0 + 4000),
        start("r2", "jA", T0 + 2000),
      ]);
      history.recordEnd("r2", "jA", end(T0 + 9000));
      assertEquals(ids(history.list()), ["r5", "r4b", "r4a", "r3", "r2", "r1"]);
      assertEquals(ids(history.list({ tags: ["jA"] })), ["r5", "r3", "r2"]);
      assertEquals(ids(history.list({ tags: ["jB", "jC"] })), ["r4b", "r4a", "r1"]);
      assertEquals(ids(history.list({ tags: [] })), []);
      assertEquals(ids(history.list({ tags: ["nope"] })), []);
      assertEquals(ids(history.list({ limit: 2 })), ["r5", "r4b"]);
      assertEquals(ids(history.list({ tags: ["jA"], limit: 1 })), ["r5"]);
    } finally {
      history.close();
    }
  });
});

Deno.test("History retention keeps the newest N runs of each tag and never deletes a running run", async () => {
  await withDb((path) => {
    const history = new History(path, { retention: 3 });
    try {
      // An old run of jA that is still going, and another tag's runs.
      history.recordStarts([
        start("a0", "jA", T0),
        start("b1", "jB", T0 + 1),
        start("b2", "jB", T0 + 2),
      ]);
      history.recordEnd("b1", "jB", end(T0 + 10));
      history.recordEnd("b2", "jB", end(T0 + 10));
      for (let i = 1; i <= 6; i++) {
        const id = `a${i}`;
        history.recordStarts([start(id, "jA", T0 + i * 1000)]);
        history.recordEnd(id, "jA", end(T0 + i * 1000 + 500));
      }
      assertEquals(ids(history.list({ tags: ["jA"] })), ["a6", "a5", "a4", "a0"]);
      assertEquals(history.get("a0")!.status, "running");
      // Other tags are untouched by jA's trimming.
      assertEquals(ids(history.list({ tags: ["jB"] })), ["b2", "b1"]);
      // Once it ends, the old run is past the retention and goes at the next trim.
      history.recordEnd("a0", "jA", end(T0 + 99_000));
      assertEquals(ids(history.list({ tags: ["jA"] })), ["a6", "a5", "a4"]);
      // Failed, killed and not-started runs count like any other finished run.
      history.recordStarts([start("a7", "jA", T0 + 7000)]);
      history.recordEnd("a7", "jA", end(T0 + 7100, { status: "not-started", exitCode: null }));
      assertEquals(ids(history.list({ tags: ["jA"] })), ["a7", "a6", "a5"]);
    } finally {
      history.close();
    }
  });
});

Deno.test("History retention defaults to 100 runs per tag", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      assertEquals(DEFAULT_RETENTION, 100);
      const starts = Array.from({ length: 105 }, (_, i) => start(`r${1000 + i}`, "jA", T0 + i));
      history.recordStarts(starts);
      for (const run of starts) history.recordEnd(run.id, "jA", end(T0 + 500));
      const kept = ids(history.list({ tags: ["jA"] }));
      assertEquals(kept.length, 100);
      assertEquals(kept[0], "r1104");
      assertEquals(kept.at(-1), "r1005");
    } finally {
      history.close();
    }
  });
});

Deno.test("History.markInterrupted() marks only running runs, and returns their ids", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([
        start("done", "jA", T0),
        start("going1", "jA", T0 + 1),
        start("going2", "jB", T0 + 2),
        start("failed", "jB", T0 + 3),
      ]);
      history.recordEnd("done", "jA", end(T0 + 10, { chunks: [{ stream: "stdout", text: "ok" }] }));
      history.recordEnd("failed", "jB", end(T0 + 20, { status: "failed", exitCode: 1 }));
      const doneBefore = history.get("done");
      const failedBefore = history.get("failed");
      const when = Date.parse("2026-03-02T08:00:00.000Z");
      assertEquals(history.markInterrupted(when).toSorted(), ["going1", "going2"]);
      for (const id of ["going1", "going2"]) {
        const run = history.get(id)!;
        assertEquals(run.status, "interrupted");
        assertEquals(run.finishedAt, null);
        assertEquals(run.durationMs, null);
        assertEquals(run.exitCode, null);
        assertEquals(
          run.error,
          "koid stopped before the run ended (marked at 2026-03-02T08:00:00.000Z)",
        );
      }
      assertEquals(history.get("done"), doneBefore);
      assertEquals(history.get("failed"), failedBefore);
      assertEquals(history.markInterrupted(when + 1), []);
      assertEquals(history.get("going1")!.error?.includes("2026-03-02T08:00:00.000Z"), true);
    } finally {
      history.close();
    }
  });
});

Deno.test("History.markInterrupted() leaves koitab run's runs alone: their own process records their end", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([
        start("koid's", "jA", T0, { trigger: "manual" }),
        start("cli", "jA", T0 + 1, { trigger: "cli" }),
      ]);
      assertEquals(history.markInterrupted(T0 + 5), ["koid's"]);
      assertEquals(history.get("cli")!.status, "running");
      history.recordEnd("cli", "jA", end(T0 + 10));
      assertEquals(
        [history.get("cli")!.status, history.get("cli")!.trigger],
        ["succeeded", "cli"],
      );
    } finally {
      history.close();
    }
  });
});

Deno.test("History reopened on the same file keeps every run", async () => {
  await withDb((path) => {
    const first = new History(path);
    first.recordStarts([start("r1", "jA", T0)]);
    first.recordEnd("r1", "jA", end(T0 + 1));
    first.recordStarts([start("r2", "jA", T0 + 2)]);
    first.close();
    // A reader alone, after the writer has gone (its -wal and -shm files removed on close).
    const reader = new History(path, { readOnly: true });
    try {
      assertEquals(ids(reader.list()), ["r2", "r1"]);
    } finally {
      reader.close();
    }
    const second = new History(path);
    try {
      assertEquals(
        second.list().map((run) => [run.id, run.status]),
        [["r2", "running"], ["r1", "succeeded"]],
      );
    } finally {
      second.close();
    }
  });
});

Deno.test("A read-only History reads while the writer writes, and sees each commit", async () => {
  await withDb((path) => {
    const writer = new History(path, { retention: 1000 });
    const reader = new History(path, { readOnly: true });
    try {
      assertEquals(reader.list(), []);
      for (let i = 0; i < 200; i++) {
        const id = `r${String(i).padStart(4, "0")}`;
        writer.recordStarts([start(id, "jA", T0 + i)]);
        assertEquals(reader.get(id)?.status, "running", `start ${i}`);
        writer.recordEnd(id, "jA", end(T0 + i + 1, { chunks: [{ stream: "stdout", text: id }] }));
        const run = reader.get(id)!;
        assertEquals([run.status, run.output], ["succeeded", id], `end ${i}`);
        assertEquals(reader.list({ limit: 1 })[0]?.id, id);
      }
      assertEquals(reader.list().length, 200);
      // A reader cannot write.
      let threw = false;
      try {
        reader.recordStarts([start("x", "jA", T0)]);
      } catch {
        threw = true;
      }
      assert(threw, "a read-only History accepted a write");
      assertEquals(writer.get("x"), null);
    } finally {
      reader.close();
      writer.close();
    }
  });
});

Deno.test("A read-only History is not blocked by a write transaction held open by another connection", async () => {
  await withDb((path) => {
    const history = new History(path);
    history.recordStarts([start("r1", "jA", T0)]);
    // Another connection (koid in the middle of recording) holds a write transaction.
    const other = new DatabaseSync(path);
    other.exec("PRAGMA busy_timeout = 0");
    other.exec("BEGIN IMMEDIATE");
    other.exec(
      `INSERT INTO runs (id, tag, trigger, args, started_at, status)
       VALUES ('r2', 'jA', 'schedule', '{}', ${T0 + 1}, 'running')`,
    );
    const reader = new History(path, { readOnly: true });
    try {
      const began = performance.now();
      assertEquals(ids(reader.list()), ["r1"]);
      // WAL: the reader did not wait out the busy timeout.
      assert(performance.now() - began < 2000, "the reader waited for the writer");
      other.exec("COMMIT");
      assertEquals(ids(reader.list()), ["r2", "r1"]);
    } finally {
      reader.close();
      other.close();
      history.close();
    }
  });
});

Deno.test("encodeOutput() writes each chunk as stream, length and UTF-8 bytes; decodeOutput() reads it back", () => {
  const chunks = [
    { stream: "stdout", text: "a\0b" },
    { stream: "stderr", text: "é😃" },
    { stream: "koi", text: "" },
  ] as const;
  const bytes = encodeOutput(chunks);
  assertEquals(
    Array.from(bytes),
    [
      1,
      ...[0, 0, 0, 0, 3, 0x61, 0x00, 0x62],
      ...[1, 0, 0, 0, 6, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x83],
      ...[2, 0, 0, 0, 0],
    ],
  );
  assertEquals(decodeOutput(bytes), chunks.map((c) => ({ ...c })));
  assertEquals(Array.from(encodeOutput([])), [1]);
  assertEquals(decodeOutput(encodeOutput([])), []);
  // A lone surrogate is written as TextEncoder writes it: U+FFFD.
  assertEquals(decodeOutput(encodeOutput([{ stream: "stdout", text: "x\ud800" }])), [
    { stream: "stdout", text: "x\ufffd" },
  ]);
});

Deno.test("decodeOutput() refuses bytes it did not write, and says where", () => {
  assertThrows(() => decodeOutput(Uint8Array.of(2)), Error, "unknown format 2");
  assertThrows(() => decodeOutput(Uint8Array.of(1, 3, 0, 0, 0, 0)), Error, "damaged at byte 1");
  assertThrows(
    () => decodeOutput(Uint8Array.of(1, 0, 0, 0, 0, 9, 0x61)),
    Error,
    "damaged at byte 6",
  );
  assertThrows(() => decodeOutput(Uint8Array.of(1, 0, 0, 0)), Error, "damaged at byte 1");
});

Deno.test("History stores output as bytes: a MiB of NUL bytes takes a MiB, not six", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      const text = "\0".repeat(1024 * 1024);
      history.recordStarts([start("r1", "t", T0)]);
      history.recordEnd(
        "r1",
        "t",
        end(T0 + 1, {
          chunks: [{ stream: "stdout", text }, { stream: "stderr", text: "done\n" }],
          outputBytes: text.length + 5,
        }),
      );
      const run = history.get("r1")!;
      assertEquals(run.chunks, [{ stream: "stdout", text }, { stream: "stderr", text: "done\n" }]);
      assertEquals(run.output, `${text}done\n`);
      const row = history.database.prepare(
        "SELECT length(output) AS stored, chunks FROM runs WHERE id = 'r1'",
      ).get() as { stored: number; chunks: string };
      assertEquals({ ...row }, { stored: 1 + 5 + 1024 * 1024 + 5 + 5, chunks: "[]" });
    } finally {
      history.close();
    }
  });
});

Deno.test("A history written before output was stored as bytes keeps its runs' output, for readers and the writer", async () => {
  await withDb((path) => {
    // The table as Koi made it before: output as JSON in `chunks`, no `output` column.
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE runs (
      id TEXT PRIMARY KEY, tag TEXT NOT NULL, name TEXT, section TEXT, trigger TEXT NOT NULL,
      args TEXT NOT NULL, scheduled_for INTEGER, started_at INTEGER NOT NULL, finished_at INTEGER,
      exit_code INTEGER, signal TEXT, status TEXT NOT NULL, error TEXT,
      chunks TEXT NOT NULL DEFAULT '[]', output_bytes INTEGER NOT NULL DEFAULT 0)`);
    old.prepare(
      `INSERT INTO runs VALUES ('old', 't', NULL, NULL, 'schedule', '{}', NULL, ?, ?, 0, NULL,
       'succeeded', NULL, ?, 7)`,
    ).run(T0, T0 + 5, JSON.stringify([["stdout", "hello\n"], ["stderr", "!"]]));
    old.close();
    const oldChunks = [{ stream: "stdout", text: "hello\n" }, {
      stream: "stderr",
      text: "!",
    }] as const;

    // A reader (koitab history) opens the file as it is.
    const reader = new History(path, { readOnly: true });
    try {
      assertEquals(reader.get("old")!.chunks, [...oldChunks]);
    } finally {
      reader.close();
    }

    // koid adds the column; the old run keeps its output, a new one is stored as bytes.
    const history = new History(path);
    try {
      history.recordStarts([start("new", "t", T0 + 10)]);
      history.recordEnd(
        "new",
        "t",
        end(T0 + 11, {
          chunks: [{ stream: "stdout", text: "\0" }],
          outputBytes: 1,
        }),
      );
      assertEquals(history.get("old")!.chunks, [...oldChunks]);
      assertEquals(history.get("old")!.output, "hello\n!");
      assertEquals(history.get("new")!.chunks, [{ stream: "stdout", text: "\0" }]);
      assertEquals(ids(history.list()), ["new", "old"]);
    } finally {
      history.close();
    }
    // Opened again, nothing is added twice.
    new History(path).close();
  });
});

Deno.test("History.summaries() are the runs of list() without their output; runs() reads them one at a time", async () => {
  await withDb((path) => {
    const history = new History(path);
    try {
      history.recordStarts([start("r1", "jA", T0), start("r2", "jB", T0 + 1)]);
      history.recordEnd("r1", "jA", end(T0 + 5, { chunks: [{ stream: "stdout", text: "x" }] }));
      const all = history.list();
      assertEquals(
        history.summaries(),
        all.map(({ output: _output, chunks: _chunks, ...summary }) => summary),
      );
      assertEquals(ids(history.summaries({ tags: ["jA"], limit: 1 })), ["r1"]);
      assertEquals(history.summaries({ tags: [] }), []);
      const reading = history.runs();
      assertEquals(reading.next().value, all[0]);
      assertEquals([...reading], all.slice(1));
    } finally {
      history.close();
    }
  });
});
