/**
 * Every argument type's behaviour, one table (tests/_arg_cases.ts) through every
 * path that reads a value: the table itself, `koitab run` and `koitab -d run` (in
 * process, the functions each calls, and each once as a real command), and
 * koid's check of a signed request. The page's form runs the same table in
 * Chromium (tests/dashboard_page_test.ts).
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { ARG_CASES } from "./_arg_cases.ts";
import { runEntry } from "./_entry.ts";
import { ArgumentError, fillArgs, readArgValues } from "../lib/args.ts";
import { CliError } from "../lib/cli/errors.ts";
import { typedArgs } from "../lib/cli/dashboard.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { argFromJson, argFromText } from "../lib/protocol/arg_types.js";
import { signRun } from "../lib/protocol/keys.ts";
import { checkManualRun } from "../lib/protocol/manual.ts";
import { sealedPayload } from "./_sealed.ts";

const KOITAB = `"Typed" @manual echo {{string, string, -}} {{int, int, 0}} {{bool, bool}}\n`;
const job = parseKoitab(KOITAB).jobs[0]!;
const label = (type: string, text: string) =>
  `${type} ${JSON.stringify(text.length > 30 ? `${text.slice(0, 30)}…` : text)}`;

Deno.test("argFromText() gives each typed text its one verdict", () => {
  for (const [type, text, verdict] of ARG_CASES) {
    const read = argFromText(type, text);
    assertEquals(read.ok ? read.value : null, verdict, label(type, text));
    // -0 reads as 0, with no sign left to reach a command or a payload.
    if (read.ok) assert(!Object.is(read.value, -0), label(type, text));
  }
});

Deno.test("koitab run: each value is read and filled in with the same verdict", () => {
  for (const [type, text, verdict] of ARG_CASES) {
    let command: string | null = null;
    try {
      command = fillArgs(job, readArgValues(job, { [type]: text }));
    } catch (error) {
      if (!(error instanceof ArgumentError)) throw error;
      assert(error.message.startsWith(`argument "${type}" `), error.message);
    }
    if (verdict === null) {
      assertEquals(command, null, label(type, text));
      continue;
    }
    const words = { string: "'-'", int: "'0'", bool: "'false'" };
    const quoted = `'${String(verdict).replaceAll("'", `'\\''`)}'`;
    assertEquals(
      command,
      `echo ${type === "string" ? quoted : words.string} ${type === "int" ? quoted : words.int} ${
        type === "bool" ? quoted : words.bool
      }`,
      label(type, text),
    );
  }
});

Deno.test("koitab -d run: each value is typed for the payload with the same verdict", () => {
  for (const [type, text, verdict] of ARG_CASES) {
    let values: Record<string, unknown> | null = null;
    try {
      values = typedArgs(job, { [type]: text });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      assertEquals(error.exitCode, 2);
      assert(error.message.startsWith(`argument "${type}" `), error.message);
    }
    assertEquals(values === null ? null : values[type], verdict, label(type, text));
  }
});

Deno.test("koid: a signed value of each case is checked with the same verdict", async () => {
  const runKey = "A".repeat(43);
  const dataKey = "B".repeat(43);
  const context = {
    runKey,
    dataKey,
    dashboardId: "Zm9vYmFyYmF6cXV4MTIzNA",
    host: "web1",
    jobs: [job],
    now: Date.now(),
    seen: () => false,
  };
  for (const [type, text, verdict] of ARG_CASES) {
    // What koitab -d run or the page sends: the typed value; a client that skipped
    // the check would send the text as it was typed.
    const sent = verdict ?? text;
    const payload = await sealedPayload(dataKey, {
      v: 2,
      dashboard: context.dashboardId,
      host: "web1",
      tag: job.tag,
      ts: context.now,
      args: { [type]: sent },
    });
    const checked = await checkManualRun({ payload, signature: await signRun(runKey, payload) }, {
      ...context,
    });
    assertEquals(checked.ok ? checked.values[type] : null, verdict, label(type, text));
    // And the JSON value alone, as koid reads it.
    const json = argFromJson(type, sent);
    assertEquals(json.ok ? json.value : null, verdict, label(type, text));
  }
});

Deno.test("koitab run as a command gives the table's verdict (koitab -d run: koitab_dashboard_test.ts)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_arg_types_" });
  try {
    const env = { KOI_DIR: dir, KOI_PASSWORD: "" };
    assertEquals((await runEntry("koitab", ["-"], { env, stdin: KOITAB })).code, 0);
    const run = (value: string) =>
      runEntry("koitab", ["run", "Typed", "--mail-command", "off", "--arg", `int=${value}`], {
        env,
      });
    assertEquals(await run("05"), { code: 0, stdout: "- 5 false\n", stderr: "" });
    assertEquals(await run("+5"), {
      code: 2,
      stdout: "",
      stderr:
        'koitab: "Typed": argument "int" must be a whole number, got "+5"\nkoitab: see "koitab --help"\n',
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
