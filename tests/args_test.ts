import {
  argName,
  type ArgSpec,
  ArgumentError,
  fillArgs,
  parseArgSpecs,
  shellQuote,
} from "../lib/args.ts";
import { type KoitabJob, parseKoitab } from "../lib/koitab.ts";
import { assertEquals, assertThrows } from "./_assert_koitab.ts";

/** The one job of a table that must have no errors. */
function job(line: string): KoitabJob {
  const { jobs, errors } = parseKoitab(`${line}\n`);
  assertEquals(errors, []);
  return jobs[0]!;
}

/**
 * Runs `command` with `/bin/sh -c` in a fresh temporary directory that is also
 * its HOME (so even a `rm -rf ~` that got through could only empty that
 * directory), and returns its stdout and whether anything it was not told to
 * do happened: a PWNED marker appeared, or the sentinel file vanished.
 */
async function runInSh(command: string): Promise<{ stdout: Uint8Array; pwned: boolean }> {
  const dir = await Deno.makeTempDir({ prefix: "koi_args_test_" });
  try {
    await Deno.writeTextFile(`${dir}/sentinel`, "still here");
    const output = await new Deno.Command("/bin/sh", {
      args: ["-c", command],
      cwd: dir,
      clearEnv: true,
      env: { HOME: dir, PATH: "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    if (!output.success) throw new Error(`sh failed (${output.code}): ${stderr}`);
    const exists = async (name: string) => {
      try {
        await Deno.lstat(`${dir}/${name}`);
        return true;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return false;
        throw error;
      }
    };
    return {
      stdout: output.stdout,
      pwned: (await exists("PWNED")) || !(await exists("sentinel")),
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);

// shellQuote

Deno.test("shellQuote() wraps a value in single quotes and escapes single quotes as '\\''", () => {
  assertEquals(shellQuote("plain"), "'plain'");
  assertEquals(shellQuote("o'brien"), "'o'\\''brien'");
  assertEquals(shellQuote("''"), "''\\'''\\'''");
  assertEquals(shellQuote(""), "''");
  assertEquals(shellQuote('$(x) `y` "z" \\ \n'), "'$(x) `y` \"z\" \\ \n'");
});

Deno.test("shellQuote() output reads back byte for byte through sh", async () => {
  const value = 'o\'brien "q" $HOME `id` \\n\n*';
  const { stdout, pwned } = await runInSh(`printf '%s' ${shellQuote(value)}`);
  assertEquals(stdout, bytes(value));
  assertEquals(pwned, false);
});

// fillArgs through a real shell, with hostile values

Deno.test("runInSh() notices a break-out, so the tests below can trust it", async () => {
  assertEquals((await runInSh("printf '%s' $(touch PWNED)")).pwned, true);
  assertEquals((await runInSh("rm -rf ~/sentinel")).pwned, true);
  // Why placeholders in double quotes are refused: the added single quotes are literal there.
  const quoted = `echo "${shellQuote("$(touch PWNED)")}"`;
  assertEquals((await runInSh(quoted)).pwned, true);
});

const printJob = job("@manual printf '\\%s' {{V}}");

const HOSTILE: [string, string][] = [
  ["a command substitution", "$(touch PWNED)"],
  ["backquotes", "`touch PWNED`"],
  ["a single quote breaking out", "'; touch PWNED #"],
  ["the rm -rf ~ break-out", "'; rm -rf ~ #"],
  ["double quotes", '"; touch PWNED; echo "'],
  ["newlines", "line one\ntouch PWNED\n"],
  ["a semicolon", "x; touch PWNED"],
  ["a glob", "*"],
  ["a leading dash", "-n"],
  ["variables", "$HOME ${PATH} $0 $1"],
  ["backslashes", "\\' \\\\ \\n \\"],
  ["redirections and pipes", "> PWNED | touch PWNED & touch PWNED"],
  ["emoji", "Koi 🐟 says 😃"],
  ["the empty string", ""],
  ["% signs", "100% %d %s"],
  ["something like a placeholder", "{{V}} {{Other}}"],
  ["spaces and tabs", "  a \t b  "],
];

for (const [label, value] of HOSTILE) {
  Deno.test(`fillArgs() passes ${label} to sh unchanged and runs nothing`, async () => {
    const command = fillArgs(printJob, { V: value });
    const { stdout, pwned } = await runInSh(command);
    assertEquals(stdout, bytes(value), command);
    assertEquals(pwned, false, command);
  });
}

Deno.test("fillArgs() passes every argument of a command as one word each", async () => {
  const multi = job(
    "@manual printf '[\\%s]' {{A}} {{B, int, 7}} {{C, bool}} {{D, string, x, y}} {{A}}",
  );
  const command = fillArgs(multi, { A: "a b' c" });
  assertEquals(command, "printf '[%s]' 'a b'\\'' c' '7' 'false' 'x, y' 'a b'\\'' c'");
  const { stdout } = await runInSh(command);
  assertEquals(new TextDecoder().decode(stdout), "[a b' c][7][false][x, y][a b' c]");
});

// fillArgs values and defaults

Deno.test("fillArgs() fills typed values and their string forms alike", () => {
  const typed = job("@manual run {{N, int}} {{B, bool}} {{S}}");
  assertEquals(fillArgs(typed, { N: 42, B: true, S: "x" }), "run '42' 'true' 'x'");
  assertEquals(fillArgs(typed, { N: "-42", B: "false", S: "x" }), "run '-42' 'false' 'x'");
  assertEquals(fillArgs(typed, { N: "007", B: false, S: "" }), "run '7' 'false' ''");
  assertEquals(fillArgs(typed, { N: -0, S: "x" }), "run '0' 'false' 'x'");
  assertEquals(
    fillArgs(typed, { N: Number.MAX_SAFE_INTEGER, S: "x" }),
    "run '9007199254740991' 'false' 'x'",
  );
  assertEquals(
    fillArgs(typed, { N: "-9007199254740991", S: "x" }),
    "run '-9007199254740991' 'false' 'x'",
  );
});

Deno.test("fillArgs() takes defaults for missing values, false for a bool without one", () => {
  const withDefaults = job(
    "@daily run {{N, int, 3}} {{B, bool, true}} {{S, string, a b}} {{F, bool}}",
  );
  assertEquals(fillArgs(withDefaults, {}), "run '3' 'true' 'a b' 'false'");
  assertEquals(fillArgs(withDefaults, { N: undefined, S: "c" }), "run '3' 'true' 'c' 'false'");
});

Deno.test("fillArgs() fills in one pass: a value that looks like a placeholder stays as it is", () => {
  const two = job("@manual echo {{A}} {{B}}");
  assertEquals(fillArgs(two, { A: "{{B}}", B: "%x%" }), "echo '{{B}}' '%x%'");
});

Deno.test("fillArgs() leaves the stdin alone and returns the command only", () => {
  const withInput = job("@manual cat {{F}} %{{F}}");
  assertEquals(fillArgs(withInput, { F: "f" }), "cat 'f' ");
  assertEquals(withInput.stdin, "{{F}}\n");
});

Deno.test("fillArgs() returns a command with no arguments as it is", () => {
  assertEquals(fillArgs(job("@daily date +\\%s"), {}), "date +%s");
});

// fillArgs errors

Deno.test("fillArgs() rejects unknown argument names", () => {
  const error = assertThrows(
    () => fillArgs(job("@manual x {{A}} {{B, int}}"), { A: "a", B: 1, C: "c" }),
    ArgumentError,
    'unknown argument "C" (this job takes "A", "B")',
  );
  assertEquals(error.argument, "C");
  assertEquals(error instanceof TypeError, true);
  assertThrows(
    () => fillArgs(job("@daily date"), { A: "a" }),
    ArgumentError,
    'unknown argument "A" (this job takes no arguments)',
  );
});

Deno.test("fillArgs() requires string and int arguments that have no default", () => {
  const manual = job("@manual tweet {{To Handle}} {{Delay, int}}");
  const error = assertThrows(
    () => fillArgs(manual, { Delay: 1 }),
    ArgumentError,
    'argument "To Handle" is required: it has no default',
  );
  assertEquals(error.argument, "To Handle");
  assertThrows(
    () => fillArgs(manual, { "To Handle": "@koi" }),
    ArgumentError,
    'argument "Delay" is required: it has no default',
  );
});

Deno.test("fillArgs() rejects int values that are not whole numbers", () => {
  const delay = job("@manual sleep {{Delay, int, 0}}");
  const cases: [unknown, string][] = [
    [1.5, "1.5"],
    ["1.5", '"1.5"'],
    ["1e3", '"1e3"'],
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    ["abc", '"abc"'],
    ["", '""'],
    [" 5", '" 5"'],
    ["+5", '"+5"'],
    ["0x10", '"0x10"'],
    ["9007199254740992", '"9007199254740992"'],
    [2 ** 53, "9007199254740992"],
    [true, "true"],
    [null, "null"],
    [[1], "an array"],
    [5n, "5n"],
  ];
  for (const [value, shown] of cases) {
    const error = assertThrows(
      () => fillArgs(delay, { Delay: value }),
      ArgumentError,
      `argument "Delay" must be a whole number, got ${shown}`,
    );
    assertEquals(error.argument, "Delay");
  }
});

Deno.test("fillArgs() rejects bool values other than true and false", () => {
  const loud = job("@manual say {{Loud, bool}}");
  for (
    const [value, shown] of [["yes", '"yes"'], ["TRUE", '"TRUE"'], [1, "1"], [{}, "an object"]]
  ) {
    assertThrows(
      () => fillArgs(loud, { Loud: value }),
      ArgumentError,
      `argument "Loud" must be true or false, got ${shown}`,
    );
  }
});

Deno.test("fillArgs() rejects non-string values for string arguments", () => {
  const say = job("@manual say {{Text}}");
  for (const [value, shown] of [[5, "5"], [true, "true"], [null, "null"], [["a"], "an array"]]) {
    assertThrows(
      () => fillArgs(say, { Text: value }),
      ArgumentError,
      `argument "Text" must be a string, got ${shown}`,
    );
  }
});

Deno.test("fillArgs() rejects a value with a NUL byte", () => {
  assertThrows(
    () => fillArgs(job("@manual say {{Text}}"), { Text: "a\0b" }),
    ArgumentError,
    'argument "Text" contains a NUL byte, which no command line can carry',
  );
});

Deno.test("fillArgs() rejects values over 64 KiB of UTF-8", () => {
  const say = job("@manual say {{Text}}");
  assertEquals(fillArgs(say, { Text: "x".repeat(65536) }).length, 65536 + 6);
  assertThrows(
    () => fillArgs(say, { Text: "x".repeat(65537) }),
    ArgumentError,
    'argument "Text" is too long: 65537 bytes, the limit is 65536 (64 KiB)',
  );
  // 16385 fish are 32770 UTF-16 units but 65540 bytes.
  assertThrows(
    () => fillArgs(say, { Text: "🐟".repeat(16385) }),
    ArgumentError,
    'argument "Text" is too long: 65540 bytes, the limit is 65536 (64 KiB)',
  );
});

Deno.test("fillArgs() rejects a placeholder the job does not declare", () => {
  const handMade: Pick<KoitabJob, "command" | "args"> = {
    command: "echo {{A}} {{B}}",
    args: [{ name: "A", type: "string" }],
  };
  assertThrows(
    () => fillArgs(handMade, { A: "a" }),
    ArgumentError,
    'the command has {{B}}, but the job declares no argument "B"',
  );
});

Deno.test("fillArgs() leaves template text as it is and fills only the placeholders", async () => {
  const docker = job(
    "@manual printf '\\%s|' '{{.State.Health.Status}}' {{json .}} '{{range .}}{{end}}' {{Name}}",
  );
  const command = fillArgs(docker, { Name: "{{.X}} o'k" });
  assertEquals(
    command,
    "printf '%s|' '{{.State.Health.Status}}' {{json .}} '{{range .}}{{end}}' '{{.X}} o'\\''k'",
  );
  const { stdout } = await runInSh(command);
  assertEquals(
    new TextDecoder().decode(stdout),
    "{{.State.Health.Status}}|{{json|.}}|{{range .}}{{end}}|{{.X}} o'k|",
  );
});

Deno.test("fillArgs() refuses values that make the command longer than 131,071 bytes", () => {
  const two = job("@manual say {{A}} {{B}}");
  // "say " + 2 quotes + " " + 2 quotes = 9 bytes around the values.
  assertEquals(fillArgs(two, { A: "a".repeat(65_536), B: "b".repeat(65_526) }).length, 131_071);
  assertThrows(
    () => fillArgs(two, { A: "a".repeat(65_536), B: "b".repeat(65_527) }),
    ArgumentError,
    "the command with these values is 131072 bytes, more than the 131071 a command may have",
  );
});

Deno.test("argName() trims a name and makes each run of spaces one, as placeholders are read", () => {
  assertEquals(argName("  To   Handle "), "To Handle");
  assertEquals(argName("Emoji 😃"), "Emoji 😃");
  assertEquals(argName(""), "");
});

// parseArgSpecs on its own

Deno.test("parseArgSpecs() lists arguments in order of first appearance", () => {
  const expected: ArgSpec[] = [
    { name: "B", type: "int", default: 2 },
    { name: "A", type: "string" },
  ];
  assertEquals(parseArgSpecs("x {{B, int, 2}} {{A}} {{B, int, 2}}"), expected);
  assertEquals(parseArgSpecs("no placeholders {here}"), []);
});

Deno.test("parseArgSpecs() throws SyntaxError for an unsafely placed placeholder", () => {
  assertThrows(
    () => parseArgSpecs('echo "{{X}}"'),
    SyntaxError,
    "{{X}} is inside quotes: write it bare, Koi quotes the value itself",
  );
});
