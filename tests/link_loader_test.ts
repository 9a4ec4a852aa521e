/**
 * Tests for lib/daemon/link_loader.ts: koid loads its dashboard link only once
 * `dashboard.json` exists, tells a link loaded late about the table, and passes
 * everything on to it from then on.
 *
 * @module
 */

import { LinkLoader, type LoadedLink } from "../lib/daemon/link_loader.ts";
import type { RunEvent } from "../lib/daemon/runner.ts";
import { koiPaths } from "../lib/koidir.ts";
import { assertEquals } from "./_assert.ts";

/** A link that records what it is asked, in order. */
function recordingLink(calls: string[]): LoadedLink {
  return {
    start: (options) => (calls.push(`start ownTimer=${options.ownTimer}`), Promise.resolve()),
    minutely: () => void calls.push("minutely"),
    requestCheck: () => void calls.push("requestCheck"),
    tableChanged: () => void calls.push("tableChanged"),
    onEvent: (event) => void calls.push(`onEvent ${event.type}`),
    reportInterrupted: (ids, at) => void calls.push(`reportInterrupted ${ids.join()} ${at}`),
    stopManualRuns: () => void calls.push("stopManualRuns"),
    close: (flushMs) => (calls.push(`close ${flushMs}`), Promise.resolve()),
  };
}

async function withLoader(
  body: (loader: LinkLoader, calls: string[], dashboardFile: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "link_loader_test_" });
  const calls: string[] = [];
  const log: string[] = [];
  const paths = koiPaths(dir);
  const loader = new LinkLoader({
    paths,
    load: () => (calls.push("load"), Promise.resolve(recordingLink(calls))),
    log: (line) => log.push(line),
  });
  try {
    await body(loader, calls, paths.dashboard);
    assertEquals(log, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const end: RunEvent = {
  type: "end",
  id: "r1",
  end: {
    finishedAt: 0,
    exitCode: 0,
    signal: null,
    status: "succeeded",
    error: null,
    chunks: [],
    outputBytes: 0,
  },
} as unknown as RunEvent;

Deno.test("LinkLoader loads nothing while this machine is not linked, and passes nothing on", async () => {
  await withLoader(async (loader, calls) => {
    await loader.check();
    loader.minutely();
    loader.filesChanged();
    await loader.check();
    loader.tableChanged();
    loader.onEvent(end);
    loader.reportInterrupted(["r0"], 5);
    loader.stopManualRuns();
    await loader.close(3000);
    assertEquals(calls, []);
    assertEquals(loader.link, null);
  });
});

Deno.test("LinkLoader loads the link once dashboard.json appears, tells it the table is known, then passes everything on", async () => {
  await withLoader(async (loader, calls, dashboardFile) => {
    await loader.check();
    loader.tableChanged();
    assertEquals(calls, []);
    await Deno.writeTextFile(dashboardFile, "{}");
    // The watch of KOI_DIR saw the file: loaded, told the table, started.
    loader.filesChanged();
    await loader.check();
    // Its checks of each minute ride on the daemon's minute: no timer of its own.
    assertEquals(calls, ["load", "tableChanged", "start ownTimer=false"]);
    // From now on the link follows the files itself, told each minute.
    loader.filesChanged();
    loader.minutely();
    await loader.check();
    loader.tableChanged();
    loader.onEvent(end);
    loader.reportInterrupted(["r0", "r1"], 5);
    loader.stopManualRuns();
    await loader.close(3000);
    assertEquals(calls.slice(3), [
      "requestCheck",
      "minutely",
      "tableChanged",
      "onEvent end",
      "reportInterrupted r0,r1 5",
      "stopManualRuns",
      "close 3000",
    ]);
  });
});

Deno.test("LinkLoader finds a link made without a file event at the daemon's minute", async () => {
  await withLoader(async (loader, calls, dashboardFile) => {
    await Deno.writeTextFile(dashboardFile, "{}");
    loader.minutely();
    await loader.check();
    assertEquals(calls, ["load", "start ownTimer=false"]);
    await loader.close();
    assertEquals(calls, ["load", "start ownTimer=false", "close 0"]);
  });
});

Deno.test("LinkLoader loads no link once koid is stopping", async () => {
  await withLoader(async (loader, calls, dashboardFile) => {
    loader.stopManualRuns();
    await Deno.writeTextFile(dashboardFile, "{}");
    loader.filesChanged();
    await loader.check();
    await loader.close(3000);
    assertEquals(calls, []);
  });
});
