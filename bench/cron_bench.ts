/**
 * The cron evaluator's speed: chained `next()` calls, as a scheduler makes them,
 * and parse-then-next, as a koitab reload or `koitab --next` does. The target is
 * at least 1,000,000 `next()` calls per second in UTC and in America/New_York.
 *
 * Run: `deno task bench`. Compare with peers: `deno run -A --no-lock ../shared/bench/cron_peers.ts`.
 *
 * @module
 */

import { parseCron } from "../mod.ts";

const EXPRESSIONS = [
  "*/5 * * * *",
  "0 0 1 1 *",
  "15 3 * * 1-5",
  "0 0 29 2 *",
  "0 12 13 * 5",
  "*/7 2-5 1,15 * *",
  "59 23 31 12 *",
  "0 */2 * * 0",
  "30 2 * * *",
  "0 9-17 * * mon-fri",
];
const START = new Date("2026-01-01T00:00:00Z").getTime();
const END = Date.UTC(2100, 0);

for (const timezone of ["UTC", "America/New_York"]) {
  const schedules = EXPRESSIONS.map((expression) => parseCron(expression, { timezone }));
  const cursors = schedules.map(() => new Date(START));
  Deno.bench(`next() x10, chained, ${timezone}`, { group: "next", n: 20_000 }, () => {
    for (let i = 0; i < schedules.length; i++) {
      const next = schedules[i]!.next(cursors[i]!);
      cursors[i] = next !== null && next.getTime() < END ? next : new Date(START);
    }
  });
  Deno.bench(`parseCron() + next() x10, ${timezone}`, { group: "parse" }, () => {
    for (const expression of EXPRESSIONS) parseCron(expression, { timezone }).next(new Date(START));
  });
}
