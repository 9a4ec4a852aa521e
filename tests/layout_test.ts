/**
 * The layout of lib/ (README, "Layout"): each room imports only the rooms its
 * rule allows, checked on the real import graph by tools/layout.ts.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { type Edge, importGraph, judge, roomOf } from "../tools/layout.ts";

const root = new URL("../", import.meta.url);

Deno.test("lib/ keeps its layout: no import, of code or of types, breaks a room's rule", async () => {
  const edges = await importGraph(root);
  // The graph is the real one: the page's JSDoc type imports and koid's type-only ones are in it.
  const has = (from: string, to: string, typeOnly: boolean) =>
    edges.some((edge) => edge.from === from && edge.to === to && edge.typeOnly === typeOnly);
  assertEquals(has("lib/ui/api.js", "lib/protocol/wire.ts", true), true);
  assertEquals(has("lib/ui/manual.js", "lib/protocol/signing.js", false), true);
  assertEquals(has("lib/daemon/link.ts", "lib/link/config.ts", false), true);
  const broken = judge(edges).map(({ from, to, typeOnly, rule }) =>
    `${from} → ${to}${typeOnly ? " (types)" : ""}: ${rule}`
  );
  assertEquals(broken, []);
});

Deno.test("judge() names each import that breaks a rule, and lets the allowed ones be", () => {
  const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly });
  const allowed = [
    edge("lib/ui/api.js", "lib/protocol/wire.ts", true),
    edge("lib/ui/manual.js", "lib/protocol/arg_types.js"),
    edge("lib/koitab.ts", "lib/protocol/job_kind.js"),
    edge("lib/protocol/manual.ts", "lib/args.ts"),
    edge("lib/server/job_view.ts", "lib/schedules.ts"),
    edge("lib/daemon/link.ts", "lib/link/config.ts"),
    edge("lib/cli/run.ts", "lib/runs/history.ts"),
    edge("lib/runs/history.ts", "lib/protocol/wire.ts", true),
    edge("koid.ts", "lib/cli/errors.ts"),
    edge("lib/server/server.ts", "lib/page/page.ts"),
    edge("lib/cli/open.ts", "lib/page/page.ts"),
    edge("lib/page/page.ts", "lib/version.ts"),
  ];
  assertEquals(judge(allowed), []);
  const forbidden = [
    edge("lib/ui/api.js", "lib/server/store.ts", true),
    edge("lib/ui/format.js", "lib/protocol/wire.ts"),
    edge("lib/ui/manual.js", "lib/args.ts", true),
    edge("lib/server/server.ts", "lib/daemon/link.ts"),
    edge("lib/server/store.ts", "lib/runs/history.ts"),
    edge("lib/daemon/runner.ts", "lib/cli/run.ts"),
    edge("lib/cli/next.ts", "lib/daemon/scheduler.ts"),
    edge("lib/link/client.ts", "lib/daemon/spool.ts"),
    edge("lib/runs/history.ts", "lib/link/client.ts"),
    edge("lib/protocol/schema.ts", "lib/runs/output.ts"),
    edge("lib/protocol/keys.ts", "lib/files.ts"),
    edge("lib/protocol/signing.js", "lib/args.ts"),
    edge("lib/cron.ts", "lib/files.ts"),
    edge("lib/args.ts", "lib/protocol/wire.ts"),
    edge("lib/files.ts", "lib/protocol/wire.ts"),
    edge("lib/cron.ts", "tests/_assert.ts"),
    edge("lib/page/page.ts", "lib/server/http.ts"),
    edge("lib/daemon/link.ts", "lib/page/page.ts"),
  ];
  assertEquals(judge(forbidden).map((violation) => violation.rule), [
    "ui/ may import only ui/ and protocol/*.js (and protocol/ for types)",
    "ui/ may import only ui/ and protocol/*.js (and protocol/ for types)",
    "ui/ may import only ui/ and protocol/*.js (and protocol/ for types)",
    "server/ may import only server/, page/, protocol/, protocol/*.js, the pure core and the system helpers",
    "server/ may import only server/, page/, protocol/, protocol/*.js, the pure core and the system helpers",
    "daemon/ may import only daemon/, link/, runs/, protocol/, protocol/*.js, the pure core and the system helpers",
    "cli/ may import only cli/, link/, runs/, page/, protocol/, protocol/*.js, the pure core and the system helpers",
    "link/ may import only link/, protocol/, protocol/*.js, the pure core and the system helpers",
    "runs/ may import only runs/, protocol/, protocol/*.js, the pure core and the system helpers",
    "protocol/ may import only protocol/, protocol/*.js and the pure core",
    "protocol/ may import only protocol/, protocol/*.js and the pure core",
    "protocol/*.js may import only protocol/*.js",
    "the pure core may import only the pure core and protocol/*.js",
    "the pure core may import only the pure core and protocol/*.js",
    "the system helpers may import only the system helpers and the pure core",
    "lib/ may import nothing outside lib/",
    "page/ may import only page/, the pure core and the system helpers",
    "daemon/ may import only daemon/, link/, runs/, protocol/, protocol/*.js, the pure core and the system helpers",
  ]);
});

Deno.test("roomOf() puts every folder of lib/ in a room, and refuses a folder it does not know", () => {
  assertEquals(
    ["lib/limits.ts", "lib/users.ts", "lib/protocol/wire.ts", "lib/protocol/arg_types.js"].map(
      roomOf,
    ),
    ["core", "helpers", "protocol", "protocol-js"],
  );
  let refused = "";
  try {
    roomOf("lib/alerts/rules.ts");
  } catch (error) {
    refused = (error as Error).message;
  }
  assertEquals(
    refused,
    "lib/alerts/rules.ts is in no room: add lib/alerts/ to tools/layout.ts and the README",
  );
});
