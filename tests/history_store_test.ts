/**
 * Tests for lib/daemon/history_store.ts: koid's history keeper under faults of
 * its file. A corrupt or truncated file is moved aside whole and a fresh one
 * started; a full, read-only, deleted or vanished one means holding the records,
 * retrying and logging once per change of state, and nothing recorded before is
 * lost unless the fault itself destroyed it.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { HistoryStore, type HistoryStoreOptions } from "../lib/daemon/history_store.ts";
import { History, type RunEnd, type RunRecord, type RunStart } from "../lib/runs/history.ts";

const T0 = Date.parse("2025-06-01T10:00:00Z");

function start(id: string, startedAt = T0): RunStart {
  return {
    id,
    tag: "j1",
    name: "job",
    section: null,
    trigger: "schedule",
    args: {},
    scheduledFor: null,
    startedAt,
  };
}

function end(text = "", finishedAt = T0 + 1000): RunEnd {
  return {
    finishedAt,
    exitCode: 0,
    signal: null,
    status: "succeeded",
    error: null,
    chunks: text ? [{ stream: "stdout", text }] : [],
    outputBytes: text.length,
  };
}

/** The runs in a history file, read as `koitab history` reads them, oldest first. */
function runsIn(path: string): RunRecord[] {
  const history = new History(path, { readOnly: true });
  try {
    return history.list().reverse();
  } finally {
    history.close();
  }
}

/** Waits for `check` to hold, failing after 5 s (the store retries every few ms here). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A store over a temporary KOI_DIR, its log kept; closed and removed after `fn`. */
async function withStore(
  fn: (context: { dir: string; path: string; store: HistoryStore; log: string[] }) => unknown,
  options: Partial<HistoryStoreOptions> & { before?: (path: string) => void } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_store_" });
  const path = `${dir}/history.db`;
  const log: string[] = [];
  options.before?.(path);
  const store = new HistoryStore({
    path,
    log: (line) => log.push(line),
    now: () => T0,
    retryMinMs: 5,
    retryMaxMs: 20,
    ...options,
  });
  try {
    await fn({ dir, path, store, log });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A history with three finished runs, closed. */
function seed(path: string): void {
  const history = new History(path);
  for (const id of ["a", "b", "c"]) {
    history.recordStarts([start(id)]);
    history.recordEnd(id, "j1", end(`${id}\n`));
  }
  history.close();
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

Deno.test("HistoryStore moves a history.db whose first bytes were overwritten aside, with its -wal, and starts a fresh one", async () => {
  let original = new Uint8Array();
  await withStore(({ dir, path, store, log }) => {
    store.open();
    const aside = `${path}.corrupt-20250601T100000Z`;
    assertEquals(log, [
      `${path} IS CORRUPT (file is not a database): moved it aside to ${aside} (with its -wal, if any) and started a fresh one; nothing was deleted, and runs recorded before may be recovered from it with "sqlite3 ${aside} .recover"`,
    ]);
    // Moved, not changed: every byte of the damaged file and of its -wal is kept.
    assertEquals(Deno.readFileSync(aside), original);
    assertEquals(Deno.readTextFileSync(`${aside}-wal`), "frames not yet checkpointed");
    assert(names(dir).includes("history.db"), names(dir).join());
    assertEquals(store.state, { kind: "ok" });
    assertEquals(store.movedAside, [{ path: aside, at: T0 }]);
    assertEquals(store.replacedAt, T0);
    store.recordStarts([start("d")]);
    store.recordEnd("d", "j1", end("d\n"));
    assertEquals(runsIn(path).map((run) => [run.id, run.status]), [["d", "succeeded"]]);
  }, {
    before: (path) => {
      seed(path);
      const file = Deno.openSync(path, { write: true });
      file.writeSync(new TextEncoder().encode("this is not a SQLite file header"));
      file.close();
      Deno.writeTextFileSync(`${path}-wal`, "frames not yet checkpointed");
      original = Deno.readFileSync(path);
    },
  });
});

Deno.test("HistoryStore moves a truncated history.db aside: SQLite opens it, the quick check finds the damage", async () => {
  await withStore(({ path, store, log }) => {
    store.open();
    assertEquals(log.length, 1);
    assert(
      log[0]!.startsWith(`${path} IS CORRUPT (`) &&
        log[0]!.includes(`moved it aside to ${path}.corrupt-20250601T100000Z`),
      log[0]!,
    );
    assertEquals(store.state, { kind: "ok" });
    store.recordStarts([start("new")]);
    assertEquals(runsIn(path).map((run) => run.id), ["new"]);
  }, {
    before: (path) => {
      const history = new History(path);
      // Enough runs for several pages of table and index, so half the file loses some.
      for (let i = 0; i < 200; i++) {
        history.recordStarts([start(`r${i}`)]);
        history.recordEnd(`r${i}`, "j1", end("x".repeat(500)));
      }
      history.close();
      const size = Deno.statSync(path).size;
      const file = Deno.openSync(path, { write: true });
      file.truncateSync(Math.floor(size / 2));
      file.close();
    },
  });
});

Deno.test("HistoryStore opens a sound history.db as it is, and marks the runs a killed koid left running", async () => {
  const marked: [readonly string[], number][] = [];
  await withStore(({ path, store, log }) => {
    store.open();
    assertEquals(log, ["marked 1 run(s) left unfinished by a stopped koid as interrupted"]);
    assertEquals(marked, [[["left"], T0]]);
    assertEquals(runsIn(path).map((run) => [run.id, run.status]), [
      ["a", "succeeded"],
      ["b", "succeeded"],
      ["c", "succeeded"],
      ["left", "interrupted"],
    ]);
  }, {
    before: (path) => {
      seed(path);
      const history = new History(path);
      history.recordStarts([start("left", T0 + 1)]);
      history.close();
    },
    onInterrupted: (ids, at) => marked.push([ids, at]),
  });
});

Deno.test("HistoryStore: history.db deleted while open is started afresh; a run in flight is recorded whole in it", async () => {
  await withStore(({ dir, path, store, log }) => {
    store.open();
    store.recordStarts([start("before")]);
    store.recordEnd("before", "j1", end());
    store.recordStarts([start("flight")]);
    for (const name of names(dir)) Deno.removeSync(`${dir}/${name}`);
    store.recordEnd("flight", "j1", end("done\n"));
    assertEquals(log, [
      `${path} was deleted while koid ran: starting a fresh one (the runs it held went with it)`,
    ]);
    // "before" went with the deleted file; the run in flight lost nothing.
    assertEquals(runsIn(path).map((run) => [run.id, run.status, run.output]), [
      ["flight", "succeeded", "done\n"],
    ]);
    assertEquals(store.replacedAt, T0);
  });
});

Deno.test("HistoryStore: a vanished KOI_DIR means holding records, logged once; they are written when it is back", async () => {
  await withStore(async ({ dir, path, store, log }) => {
    store.open();
    store.recordStarts([start("a")]);
    Deno.removeSync(dir, { recursive: true });
    store.recordEnd("a", "j1", end("a\n"));
    store.recordStarts([start("b")]);
    store.recordEnd("b", "j1", end("b\n"));
    assertEquals(store.state.kind, "unwritable");
    assertEquals(store.held, 3);
    assertEquals(log.filter((line) => line.startsWith("cannot write")).length, 1);
    assert(
      log.at(-1)!.startsWith(`cannot write ${path} (`) &&
        log.at(-1)!.includes(`to fix: make sure ${dir} exists`),
      log.join("\n"),
    );
    Deno.mkdirSync(dir);
    await eventually(() => store.state.kind === "ok", "the store to write again");
    assertEquals(
      log.at(-1),
      `${path} can be written again: recording resumes, the records held meanwhile are written`,
    );
    // "a" started in the file that went with the directory: its end brings its start along.
    assertEquals(runsIn(path).map((run) => [run.id, run.output]), [["a", "a\n"], ["b", "b\n"]]);
  });
});

Deno.test("HistoryStore on a full database (max_page_count) holds runs in order, logs once each way, and loses nothing", async () => {
  let limit = 1_000_000;
  await withStore(async ({ path, store, log }) => {
    store.open();
    store.recordStarts([start("before")]);
    store.recordEnd("before", "j1", end("kept\n"));
    // No page more: the next output that needs one fails with SQLITE_FULL, as on a full disk.
    const pages = store.database().prepare("PRAGMA page_count").get() as { page_count: number };
    limit = pages.page_count;
    store.database().exec(`PRAGMA max_page_count = ${limit}`);
    for (const id of ["r1", "r2", "r3"]) {
      store.recordStarts([start(id)]);
      store.recordEnd(id, "j1", end("y".repeat(20_000)));
    }
    assertEquals(store.state.kind, "unwritable");
    assertEquals(log.filter((line) => line.includes("database or disk is full")).length, 1);
    assert(log.at(-1)!.includes("to fix: free space on the file system holding"), log.at(-1));
    limit = 1_000_000;
    store.database().exec(`PRAGMA max_page_count = ${limit}`);
    await eventually(() => store.state.kind === "ok", "the store to write again");
    assertEquals(log.filter((line) => line.includes("can be written again")).length, 1);
    assertEquals(
      runsIn(path).map((run) => [run.id, run.status, run.output.length]),
      [["before", "succeeded", 5], ["r1", "succeeded", 20_000], ["r2", "succeeded", 20_000], [
        "r3",
        "succeeded",
        20_000,
      ]],
    );
  }, {
    openHistory: (path) => {
      const history = new History(path, { check: true });
      history.database.exec(`PRAGMA max_page_count = ${limit}`);
      return history;
    },
  });
});

Deno.test("HistoryStore opened read-only marks interrupted runs and records once it can write, in order", async () => {
  let readOnly = true;
  const marked: string[] = [];
  await withStore(async ({ path, store, log }) => {
    store.open();
    store.recordStarts([start("new", T0 + 5)]);
    store.recordEnd("new", "j1", end());
    assertEquals(store.state.kind, "unwritable");
    assertEquals(log.length, 1);
    assert(log[0]!.includes("attempt to write a readonly database"), log[0]);
    assertEquals(marked, []);
    readOnly = false;
    await eventually(() => store.state.kind === "ok", "the store to write again");
    // The run left by the koid before was marked first; this koid's run is not.
    assertEquals(marked, ["left"]);
    assertEquals(runsIn(path).map((run) => [run.id, run.status]), [
      ["a", "succeeded"],
      ["b", "succeeded"],
      ["c", "succeeded"],
      ["left", "interrupted"],
      ["new", "succeeded"],
    ]);
  }, {
    before: (path) => {
      seed(path);
      const history = new History(path);
      history.recordStarts([start("left", T0 + 1)]);
      history.close();
    },
    onInterrupted: (ids) => marked.push(...ids),
    openHistory: (path) => new History(path, { check: true, readOnly }),
  });
});

Deno.test("HistoryStore holds at most its bounds in memory, and says what it could not keep", async () => {
  let fail = true;
  await withStore(async ({ path, store, log }) => {
    store.open();
    assertEquals(store.state.kind, "unwritable");
    for (let i = 0; i < 4; i++) {
      store.recordStarts([start(`r${i}`)]);
      store.recordEnd(`r${i}`, "j1", end("z".repeat(600)));
    }
    // 1 (the interrupted marking) + 5 writes held; the rest dropped; r1's output over the cap.
    assertEquals(store.held, 6);
    fail = false;
    await eventually(() => store.state.kind === "ok", "the store to write again");
    assertEquals(
      log.at(-1),
      `${path} can be written again: recording resumes, the records held meanwhile are written; 3 record(s) beyond what memory holds are lost, 1 run(s) are kept without their output`,
    );
    assertEquals(runsIn(path).map((run) => [run.id, run.status, run.output.length]), [
      ["r0", "succeeded", 600],
      ["r1", "succeeded", 68],
      ["r2", "running", 0],
    ]);
  }, {
    heldWrites: 6,
    heldOutputChars: 1000,
    openHistory: (path) => {
      if (fail) throw Object.assign(new Error("database or disk is full"), { errcode: 13 });
      return new History(path, { check: true });
    },
  });
});

Deno.test("HistoryStore: a corrupt file found by the spool is moved aside too, and the signatures' record counts as replaced", async () => {
  await withStore(({ path, store, log }) => {
    store.open();
    store.report(
      "spool",
      Object.assign(new Error("database disk image is malformed"), { errcode: 11 }),
    );
    assertEquals(log.length, 1);
    assert(log[0]!.startsWith(`${path} IS CORRUPT (database disk image is malformed)`), log[0]);
    assertEquals(store.replacedAt, T0);
    // A full disk for the spool is the spool's own state, kept for koid's state file.
    store.report("spool", Object.assign(new Error("database or disk is full"), { errcode: 13 }));
    assertEquals(store.areaFaults.get("spool")?.fault.kind, "full");
    store.report("spool", null);
    assertEquals(store.areaFaults.size, 0);
    assertEquals(log.length, 1);
  });
});
