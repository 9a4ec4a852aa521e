import { assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { compileCommands, INCLUDES, TARGETS } from "../tools/compile.ts";
import { ENTRIES, entryFlags, taskFlags } from "../tools/task_flags.ts";
import { VERSION } from "../mod.ts";

const denoJson = await Deno.readTextFile(new URL("../deno.json", import.meta.url));

Deno.test("VERSION matches the version in deno.json", () => {
  assertEquals(VERSION, JSON.parse(denoJson).version);
});

for (const entry of ENTRIES) {
  Deno.test(`${entry} --version prints its name and version and exits 0`, async () => {
    const result = await runEntry(entry, ["--version"]);
    assertEquals(result, { code: 0, stdout: `${entry} ${VERSION}\n`, stderr: "" });
  });

  Deno.test(`${entry} --help prints usage on stdout and exits 0`, async () => {
    const result = await runEntry(entry, ["--help"]);
    assertEquals(result.code, 0);
    assertEquals(result.stdout.startsWith(`${entry} ${VERSION}: `), true);
    assertEquals(result.stdout.includes("Usage:"), true);
  });
}

Deno.test("deno task compile bakes in exactly each entry's task flags, for four targets", () => {
  const flags = entryFlags(denoJson);
  const commands = compileCommands(denoJson, TARGETS);
  assertEquals(commands.length, TARGETS.length * ENTRIES.length);
  for (const target of TARGETS) {
    for (const entry of ENTRIES) {
      assertEquals(
        commands.some((c) =>
          JSON.stringify(c) === JSON.stringify([
            "compile",
            ...flags[entry],
            ...INCLUDES[entry].flatMap((path) => ["--include", path]),
            "--target",
            target,
            "--output",
            `dist/${entry}-${target}`,
            `${entry}.ts`,
          ])
        ),
        true,
      );
    }
  }
});

for (const entry of ["dashboard", "koitab"]) {
  Deno.test(`the ${entry} executable embeds the page's files, which it serves`, () => {
    const [command] = compileCommands(denoJson, ["x86_64-unknown-linux-gnu"]).filter((c) =>
      c.at(-1) === `${entry}.ts`
    );
    const at = command!.indexOf("--include");
    assertEquals(command!.slice(at, at + 4), [
      "--include",
      "lib/ui",
      "--include",
      "lib/protocol",
    ]);
  });
}

Deno.test("koid's executable embeds nothing: it serves no page", () => {
  const [command] = compileCommands(denoJson, ["x86_64-unknown-linux-gnu"]).filter((c) =>
    c.at(-1) === "koid.ts"
  );
  assertEquals(command!.includes("--include"), false);
});

Deno.test("no entry task grants every permission", () => {
  for (const flags of Object.values(entryFlags(denoJson))) {
    assertEquals(flags.length > 0, true);
    assertEquals(flags.some((flag) => flag === "-A" || flag === "--allow-all"), false);
  }
});

Deno.test("taskFlags() refuses -A and anything that is not a permission flag", () => {
  let message = "";
  try {
    taskFlags("deno run -A koid.ts", "koid");
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(message, 'Task "koid" grants every permission (-A): list the flags it needs');
  try {
    taskFlags("deno run --allow-read --check koid.ts", "koid");
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(
    message,
    'Task "koid" has "--check" where only permission, unstable and V8 flags may stand',
  );
  try {
    taskFlags("deno run --v8-flags=--expose-gc;rm --allow-read koid.ts", "koid");
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(
    message,
    'Task "koid" has "--v8-flags=--expose-gc;rm" where only permission, unstable and V8 flags may stand',
  );
});

Deno.test("koid's V8 flags are defined once, in its task, and its executable carries them", () => {
  const flags = entryFlags(denoJson).koid;
  const v8 = flags.filter((flag) => flag.startsWith("--v8-flags="));
  assertEquals(v8, ["--v8-flags=--max-semi-space-size=1,--no-opt,--no-maglev"]);
  assertEquals(
    taskFlags(
      "deno run --v8-flags=--max-semi-space-size=1,--optimize-for-size --allow-read koid.ts",
      "koid",
    ),
    ["--v8-flags=--max-semi-space-size=1,--optimize-for-size", "--allow-read"],
  );
  const [command] = compileCommands(denoJson, ["x86_64-unknown-linux-gnu"]).filter((c) =>
    c.at(-1) === "koid.ts"
  );
  assertEquals(command!.slice(0, 1 + flags.length), ["compile", ...flags]);
  assertEquals(command!.includes(v8[0]!), true);
});
