/**
 * Every file Koi creates with history or secrets is mode 0600, whatever the
 * umask: the run history and the dashboard's store, each with the `-wal` and
 * `-shm` files SQLite keeps beside it. And a dashboard that cannot start leaves
 * no store behind.
 *
 * @module
 */

import { createDashboard } from "./_new_dashboard.ts";
import { assert, assertEquals } from "./_assert.ts";
import { runEntry, spawnEntry } from "./_entry.ts";
import { History } from "../lib/runs/history.ts";
import { readLines } from "../tools/lines.ts";

/** Runs `fn` in a fresh directory under the umask most systems have, 022. */
async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koi_modes_" });
  const umask = Deno.umask(0o022);
  try {
    await fn(dir);
  } finally {
    Deno.umask(umask);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Each file in `dir` with its permission bits, in octal, sorted by name. */
async function modes(dir: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  for await (const entry of Deno.readDir(dir)) {
    const mode = (await Deno.stat(`${dir}/${entry.name}`)).mode! & 0o777;
    found.push([entry.name, mode.toString(8)]);
  }
  return found.sort(([a], [b]) => a.localeCompare(b));
}

Deno.test("History makes history.db and its -wal and -shm 0600 under umask 022", async () => {
  await withDir(async (dir) => {
    const history = new History(`${dir}/history.db`);
    try {
      history.recordStarts([{
        id: "r1",
        tag: "jA",
        name: null,
        section: null,
        trigger: "schedule",
        args: {},
        scheduledFor: null,
        startedAt: 0,
      }]);
      assertEquals(await modes(dir), [
        ["history.db", "600"],
        ["history.db-shm", "600"],
        ["history.db-wal", "600"],
      ]);
    } finally {
      history.close();
    }
  });
});

Deno.test("History tightens a history.db and -wal and -shm an older koid left 0644", async () => {
  await withDir(async (dir) => {
    const first = new History(`${dir}/history.db`);
    const path = `${dir}/history.db`;
    // An older koid's files, still open: 0644.
    for (const file of [path, `${path}-wal`, `${path}-shm`]) await Deno.chmod(file, 0o644);
    const second = new History(path);
    try {
      assertEquals(await modes(dir), [
        ["history.db", "600"],
        ["history.db-shm", "600"],
        ["history.db-wal", "600"],
      ]);
    } finally {
      second.close();
      first.close();
    }
  });
});

Deno.test("dashboard makes its --db store and the store's -wal and -shm 0600", async () => {
  await withDir(async (dir) => {
    const child = spawnEntry("dashboard", ["--port", "0", "--db", `${dir}/store.db`]);
    const lines = readLines(child.stderr);
    try {
      const first = await lines.next();
      const url = /^dashboard: listening on (\S+)$/.exec(first.value ?? "")?.[1];
      assert(url, `the dashboard said: ${first.value}`);
      // A write, so that the store's WAL is in use.
      await createDashboard(url, { id: "Zm9vYmFyYmF6cXV4MTIzNA", apiKey: "k".repeat(43) });
      assertEquals(await modes(dir), [
        ["store.db", "600"],
        ["store.db-shm", "600"],
        ["store.db-wal", "600"],
      ]);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      for await (const _ of lines);
    }
  });
});

Deno.test("a dashboard that cannot listen says the port is in use and leaves no store behind", async () => {
  await withDir(async (dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = taken.addr.port;
      const busy = await runEntry("dashboard", ["--port", String(port), "--db", `${dir}/new.db`]);
      assertEquals([busy.code, busy.stderr], [
        1,
        `dashboard: cannot listen on 127.0.0.1:${port}: the port is in use by another program (stop it, or choose another with --port)\n`,
      ]);
      assertEquals(await modes(dir), []);
      // A store that was there before stays, data and all.
      await Deno.writeFile(`${dir}/old.db`, new Uint8Array(), { mode: 0o600 });
      const again = await runEntry("dashboard", ["--port", String(port), "--db", `${dir}/old.db`]);
      assertEquals(again.code, 1);
      assertEquals((await modes(dir)).map(([name]) => name).includes("old.db"), true);
    } finally {
      taken.close();
    }
  });
});
