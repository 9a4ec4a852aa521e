import { formatKoitabError, type KoitabJob, parseKoitab } from "../lib/koitab.ts";
import { assertEquals } from "./_assert_koitab.ts";
import { assertThrows } from "./_assert.ts";

const FIVE_FIELDS = "(minute hour day-of-month month day-of-week)";

/** The one job of a table that must have no errors. */
function onlyJob(text: string): KoitabJob {
  const { jobs, errors } = parseKoitab(text);
  assertEquals(errors, [], "errors");
  assertEquals(jobs.length, 1, "number of jobs");
  return jobs[0]!;
}

/** The errors of a table. */
function errorsOf(text: string): { line: number; message: string }[] {
  return parseKoitab(text).errors;
}

/** The message of the only error of a one-line table. */
function errorOf(line: string): string {
  const errors = errorsOf(`${line}\n`);
  assertEquals(errors.length, 1, `errors of ${JSON.stringify(line)}: ${JSON.stringify(errors)}`);
  assertEquals(errors[0]!.line, 1);
  return errors[0]!.message;
}

/** Tags of the jobs by name (or command for unnamed jobs). */
function tagsOf(text: string): Record<string, string> {
  const { jobs, errors } = parseKoitab(text);
  assertEquals(errors, []);
  return Object.fromEntries(jobs.map((job) => [job.name ?? job.command, job.tag]));
}

// The seed's example

Deno.test("parseKoitab() reads the seed's example into exact jobs", () => {
  const text = `[Bots]
"Crawler" */5 * * * * /usr/local/bin/crawl
"Script" @hourly python script.py
[Admin]
"Say Hi" @manual ~/tweet.sh {{To Handle}} {{Delay, int, 0}} {{Emoji 😃, bool}}
`;
  assertEquals(parseKoitab(text), {
    env: {},
    errors: [],
    jobs: [
      {
        tag: "jb05e5967b06df798",
        name: "Crawler",
        section: "Bots",
        schedule: "*/5 * * * *",
        kind: "cron",
        command: "/usr/local/bin/crawl",
        stdin: null,
        args: [],
        line: 2,
        timezone: null,
        env: {},
      },
      {
        tag: "j20ac6ac7dd551a19",
        name: "Script",
        section: "Bots",
        schedule: "@hourly",
        kind: "cron",
        command: "python script.py",
        stdin: null,
        args: [],
        line: 3,
        timezone: null,
        env: {},
      },
      {
        tag: "j0cff5925e204bbd5",
        name: "Say Hi",
        section: "Admin",
        schedule: "@manual",
        kind: "manual",
        command: "~/tweet.sh {{To Handle}} {{Delay, int, 0}} {{Emoji 😃, bool}}",
        stdin: null,
        args: [
          { name: "To Handle", type: "string" },
          { name: "Delay", type: "int", default: 0 },
          { name: "Emoji 😃", type: "bool" },
        ],
        line: 5,
        timezone: null,
        env: {},
      },
    ],
  });
});

// Lines, comments, blanks

Deno.test("parseKoitab() skips blank lines and comments, with or without leading blanks", () => {
  const { jobs, errors } = parseKoitab(
    "\n   \n\t\n# a comment\n   # indented comment\n\t# tab comment\n  \t 5 * * * * date\n",
  );
  assertEquals(errors, []);
  assertEquals(jobs.map((job) => [job.line, job.schedule, job.command]), [
    [7, "5 * * * *", "date"],
  ]);
});

Deno.test("parseKoitab() treats # after the first non-blank character as part of the command", () => {
  assertEquals(onlyJob("5 * * * * cmd # note\n").command, "cmd # note");
});

Deno.test("parseKoitab() returns nothing for an empty text", () => {
  assertEquals(parseKoitab(""), { env: {}, jobs: [], errors: [] });
  assertEquals(parseKoitab("\n\n"), { env: {}, jobs: [], errors: [] });
});

Deno.test("parseKoitab() accepts CRLF line ends, unlike cron, which keeps the \\r", () => {
  const { jobs, errors, env } = parseKoitab("A=1\r\n\r\n# note\r\n5 * * * * date\r\n[S]\r\n");
  assertEquals(errors, []);
  assertEquals(env, { A: "1" });
  assertEquals(jobs.map((job) => [job.line, job.command]), [[4, "date"]]);
});

Deno.test("parseKoitab() strips only one \\r, so an earlier one stays in the command", () => {
  assertEquals(onlyJob("5 * * * * date\r\r\n").command, "date\r");
});

Deno.test("parseKoitab() reads a last line without a newline, unlike crontab(1)", () => {
  const { jobs, errors } = parseKoitab("5 * * * * date\n@daily backup");
  assertEquals(errors, []);
  assertEquals(jobs.map((job) => [job.line, job.command]), [[1, "date"], [2, "backup"]]);
  assertEquals(onlyJob("@daily backup\r").command, "backup");
});

// Job lines

Deno.test("parseKoitab() joins the five fields with single spaces and keeps the command's trailing blanks", () => {
  const job = onlyJob("  */5\t 1-3  *\t*   mon-fri  \t  cmd  --flag \t \n");
  assertEquals(job.schedule, "*/5 1-3 * * mon-fri");
  assertEquals(job.command, "cmd  --flag \t ");
  assertEquals(job.name, null);
  assertEquals(job.section, null);
});

Deno.test("parseKoitab() accepts every cron @ word, @reboot and @manual, case-sensitively", () => {
  for (
    const word of [
      "@yearly",
      "@annually",
      "@monthly",
      "@weekly",
      "@daily",
      "@midnight",
      "@hourly",
      "@reboot",
      "@manual",
    ]
  ) {
    const job = onlyJob(`${word}\tdo it\n`);
    assertEquals([job.schedule, job.command], [word, "do it"]);
  }
  assertEquals(
    errorOf("@Daily cmd"),
    'bad time specifier "@Daily" (use five fields, or @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)',
  );
  assertEquals(errorOf("@REBOOT cmd").startsWith('bad time specifier "@REBOOT"'), true);
  assertEquals(errorOf("@every cmd").startsWith('bad time specifier "@every"'), true);
});

Deno.test("parseKoitab() reports a bad time field with parseCron()'s message", () => {
  assertEquals(errorOf("0 25 * * * date"), 'bad hour "25" (0-23)');
  assertEquals(errorOf("5 * * * date"), 'bad day-of-week "date" (0-7 or sun-sat)');
  assertEquals(errorOf("5 * * *"), `missing day-of-week: cron needs five fields ${FIVE_FIELDS}`);
});

Deno.test("parseKoitab() reports a schedule with no command", () => {
  assertEquals(errorOf("5 * * * *"), "missing command after the schedule");
  assertEquals(errorOf("5 * * * *   \t"), "missing command after the schedule");
  assertEquals(errorOf("@daily"), "missing command after the schedule");
  assertEquals(errorOf("@reboot  "), "missing command after the schedule");
  assertEquals(errorOf('"Named" @manual'), "missing command after the schedule");
});

Deno.test("parseKoitab() rejects a sixth field starting with * (the seconds typo)", () => {
  const message =
    `too many fields: cron has five ${FIVE_FIELDS}, with no seconds or year, so "*" would start the command`;
  assertEquals(errorOf("30 11 * * * * cmd"), message);
  assertEquals(
    errorOf("*/10 * * * * */2 cmd"),
    `too many fields: cron has five ${FIVE_FIELDS}, with no seconds or year, so "*/2" would start the command`,
  );
  // Not a star: cron runs it as the command, and so does Koi.
  assertEquals(onlyJob("0 0 12 * * MON cmd").command, "MON cmd");
});

Deno.test("parseKoitab() reads cronie's -n (mail only on failure) and refuses other options", () => {
  const job = onlyJob("0 9 * * 1-5 -n /opt/report.sh --daily%to ops\n");
  assertEquals(
    [job.command, job.stdin, job.mailOnlyOnFailure],
    ["/opt/report.sh --daily", "to ops\n", true],
  );
  assertEquals(onlyJob("@weekly\t-n \t backup --all\n").command, "backup --all");
  assertEquals("mailOnlyOnFailure" in onlyJob("0 9 * * * /opt/report.sh\n"), false);
  const other = (option: string) =>
    `the command starts with "${option}": cron reads a "-" there as an option (cronie has only -n, to mail only when the job fails), and sh -c would too`;
  assertEquals(errorOf("*/10 * * * * -q sync"), other("-q"));
  // "-n" must be followed by a blank, as in cronie.
  assertEquals(errorOf("*/10 * * * * -nq sync"), other("-nq"));
  assertEquals(errorOf("0 9 * * * -n -x sync"), other("-x"));
  assertEquals(errorOf("0 9 * * * -n -n sync"), '"-n" given twice');
  assertEquals(errorOf("@reboot -n"), "missing command after -n");
  assertEquals(errorOf("@reboot -n \t"), "missing command after -n");
  // A "-" later in the command is the command's own.
  assertEquals(onlyJob("0 9 * * * rsync -n a b\n").command, "rsync -n a b");
});

Deno.test("parseKoitab() refuses root's no-log - before the schedule, saying why", () => {
  const noLog =
    `cronie's "-" before the schedule (no syslog line for the job, root only) is not supported: remove it`;
  assertEquals(errorOf("-15 3 * * * /usr/sbin/fstrim -a"), noLog);
  assertEquals(errorOf("-*/5 * * * * ping -c1 gw"), noLog);
  assertEquals(errorOf("-@hourly sync"), noLog);
  assertEquals(errorOf('"Trim" -15 3 * * * fstrim -a'), noLog);
});

// Environment lines (cron-semantics §4.1)

Deno.test("parseKoitab() reads env values as cron does: unquoted to the end, trailing blanks trimmed", () => {
  const { env, errors } = parseKoitab(
    [
      "A=x # y",
      'B=a"b',
      "C =  spaced value \t",
      "  D\t=\tindented",
      "PATH=$HOME/bin:$PATH",
      "0=1",
      "",
    ].join("\n"),
  );
  assertEquals(errors, []);
  assertEquals(env, {
    A: "x # y",
    B: 'a"b',
    C: "spaced value",
    D: "indented",
    PATH: "$HOME/bin:$PATH",
    "0": "1",
  });
});

Deno.test("parseKoitab() keeps quoted env values verbatim, with no escapes", () => {
  const { env, errors } = parseKoitab(
    [
      `Q1=" lead and trail "`,
      `Q2='# not a comment'`,
      `Q3="it's"  `,
      `Q4='back\\slash'`,
      `"G H"=1`,
      `'I J' = 2`,
      "",
    ].join("\n"),
  );
  assertEquals(errors, []);
  assertEquals(env, {
    Q1: " lead and trail ",
    Q2: "# not a comment",
    Q3: "it's",
    Q4: "back\\slash",
    "G H": "1",
    "I J": "2",
  });
});

Deno.test("parseKoitab() sets a variable to empty from F=, F = , F=\"\" and F=''", () => {
  for (const line of ["F=", "F = ", 'F=""', "F=''"]) {
    assertEquals(parseKoitab(`${line}\n`), { env: { F: "" }, jobs: [], errors: [] }, line);
  }
});

Deno.test("parseKoitab() rejects a quoted env value followed by more text (D='a'b)", () => {
  assertEquals(
    errorOf("D='a'b"),
    "bad value for D: only blanks may follow its closing ' (cron has no escapes in values)",
  );
  assertEquals(
    errorOf('BAD="x" y'),
    'bad value for BAD: only blanks may follow its closing " (cron has no escapes in values)',
  );
  assertEquals(errorOf('E="never closed'), 'bad value for E: its opening " is never closed');
  assertEquals(parseKoitab("D='a'b\n").env, {});
});

Deno.test("parseKoitab() rejects an assignment with an empty name", () => {
  assertEquals(errorOf("=x"), 'empty variable name before "="');
  assertEquals(errorOf('""=x'), 'empty variable name before "="');
});

Deno.test("parseKoitab() reads lines that are not assignments as jobs, as cron does", () => {
  // An unquoted name ends at a blank; an = inside a quoted name disqualifies it.
  assertEquals(errorOf("MY VAR=1"), 'bad minute "MY" (0-59)');
  const job = onlyJob('"A=B" @manual echo hi\n');
  assertEquals([job.name, job.command], ["A=B", "echo hi"]);
});

Deno.test("parseKoitab() gives each job the variables above it, not those below", () => {
  const { jobs, env } = parseKoitab(
    [
      "@daily first",
      "MAILTO=ops@example.com",
      "SHELL=/bin/bash",
      "@daily second",
      "MAILTO=",
      "HOME=/srv",
      "@daily third",
      "",
    ].join("\n"),
  );
  assertEquals(jobs.map((job) => job.env), [
    {},
    { MAILTO: "ops@example.com", SHELL: "/bin/bash" },
    { MAILTO: "", SHELL: "/bin/bash", HOME: "/srv" },
  ]);
  assertEquals(env, { MAILTO: "", SHELL: "/bin/bash", HOME: "/srv" });
});

Deno.test("parseKoitab() gives the jobs between two assignments one frozen environment, not a copy each", () => {
  const { jobs, env } = parseKoitab("A=1\n@daily one\n@daily two\nB=2\n@daily three\n");
  assertEquals(jobs[0]!.env === jobs[1]!.env, true);
  assertEquals(Object.isFrozen(jobs[0]!.env), true);
  assertThrows(() => {
    jobs[0]!.env.A = "changed";
  }, TypeError);
  assertEquals(jobs[1]!.env, { A: "1" });
  assertEquals(jobs[2]!.env, { A: "1", B: "2" });
  assertEquals(env, { A: "1", B: "2" });
  assertEquals(Object.isFrozen(env), false);
});

Deno.test("parseKoitab() keeps a variable named __proto__ as an ordinary variable", () => {
  const { env, jobs } = parseKoitab("__proto__=x\n@daily cmd\n");
  assertEquals(Object.keys(env), ["__proto__"]);
  assertEquals(env["__proto__"], "x");
  assertEquals(Object.hasOwn(jobs[0]!.env, "__proto__"), true);
});

// CRON_TZ

Deno.test("parseKoitab() sets each job's time zone from the CRON_TZ above it", () => {
  const { jobs, errors, env } = parseKoitab(
    [
      "@daily local",
      "CRON_TZ=Europe/London",
      "0 9 * * * london",
      "CRON_TZ = America/New_York",
      "0 9 * * * new-york",
      "CRON_TZ=",
      "0 9 * * * local-again",
      "",
    ].join("\n"),
  );
  assertEquals(errors, []);
  assertEquals(jobs.map((job) => [job.command, job.timezone]), [
    ["local", null],
    ["london", "Europe/London"],
    ["new-york", "America/New_York"],
    ["local-again", null],
  ]);
  assertEquals(jobs[1]!.env, { CRON_TZ: "Europe/London" });
  assertEquals(env, { CRON_TZ: "" });
});

Deno.test("parseKoitab() reports an unknown CRON_TZ on its line and keeps the zone before it", () => {
  const { jobs, errors, env } = parseKoitab(
    "CRON_TZ=UTC\nCRON_TZ=Mars/Olympus\n@daily cmd\n",
  );
  assertEquals(errors, [{
    line: 2,
    message:
      'unknown time zone "Mars/Olympus" in CRON_TZ (use an IANA name such as "UTC" or "Europe/London")',
  }]);
  assertEquals(jobs.map((job) => job.timezone), ["UTC"]);
  assertEquals(env, { CRON_TZ: "UTC" });
});

// The % rule (cron-semantics §5)

Deno.test("parseKoitab() applies cron's % rule to the examples of cron-semantics §5", () => {
  const cases: [string, string, string | null][] = [
    ["echo a%b%c", "echo a", "b\nc\n"],
    ["cat %line1%line2", "cat ", "line1\nline2\n"],
    ["cat %x%", "cat ", "x\n"],
    ["echo 100\\%", "echo 100%", null],
    [
      `mail -s "It's 10pm" joe%Joe,%%Where are your kids?%`,
      `mail -s "It's 10pm" joe`,
      "Joe,\n\nWhere are your kids?\n",
    ],
    ['echo "a%b"', 'echo "a', 'b"\n'],
    ["date +\\%Y", "date +%Y", null],
  ];
  for (const [field, command, stdin] of cases) {
    const job = onlyJob(`* * * * * ${field}\n`);
    assertEquals([job.command, job.stdin], [command, stdin], field);
  }
});

Deno.test("parseKoitab() pairs backslashes left to right: \\\\% is a backslash, then a real %", () => {
  const job = onlyJob("* * * * * a\\\\%b\\\\%c\n");
  assertEquals(job.command, "a\\\\");
  // In the input, \\% gives a backslash then a literal %.
  assertEquals(job.stdin, "b\\%c\n");
});

Deno.test("parseKoitab() keeps backslashes before anything but %", () => {
  const job = onlyJob("* * * * * printf 'a\\nb' \\$HOME %in\\put\\%\n");
  assertEquals(job.command, "printf 'a\\nb' \\$HOME ");
  assertEquals(job.stdin, "in\\put%\n");
});

Deno.test("parseKoitab() gives null stdin when there is no % or nothing after it", () => {
  assertEquals(onlyJob("@daily cat\n").stdin, null);
  assertEquals(onlyJob("@daily cat %\n").stdin, null);
  assertEquals(onlyJob("@daily cat %%\n").stdin, "\n");
});

// Names and sections

Deno.test('parseKoitab() reads a quoted job name with \\" and \\\\ inside, trimmed', () => {
  const job = onlyJob('"  Say \\"Hi\\" \\\\ C:\\dir " @manual echo hi\n');
  assertEquals(job.name, 'Say "Hi" \\ C:\\dir');
  assertEquals(job.schedule, "@manual");
  assertEquals(job.command, "echo hi");
});

Deno.test("parseKoitab() reports a broken job name", () => {
  assertEquals(errorOf('"" @daily cmd'), "empty job name: give one, or leave out the quotes");
  assertEquals(errorOf('"   " @daily cmd'), "empty job name: give one, or leave out the quotes");
  assertEquals(errorOf('"Crawler */5 * * * * crawl'), `the job name's opening " is never closed`);
  assertEquals(errorOf('"Crawler"  '), 'missing schedule after the job name "Crawler"');
});

Deno.test("parseKoitab() groups jobs under the [Section] above them, trimmed", () => {
  const { jobs, errors } = parseKoitab(
    "@daily none\n[  Bots  ]\n@daily bot\n\t[Admin]  \n@daily admin\n",
  );
  assertEquals(errors, []);
  assertEquals(jobs.map((job) => [job.command, job.section]), [
    ["none", null],
    ["bot", "Bots"],
    ["admin", "Admin"],
  ]);
});

Deno.test("parseKoitab() reports an empty or unclosed section header", () => {
  assertEquals(errorOf("[]"), 'empty section name in "[]"');
  assertEquals(errorOf("[  ]"), 'empty section name in "[  ]"');
  assertEquals(errorOf("[Bots"), 'section header "[Bots" is missing its closing "]"');
});

Deno.test("parseKoitab() reads a header with = as an assignment, since lines are tried as env first", () => {
  assertEquals(parseKoitab("[A=B]\n"), { env: { "[A": "B]" }, jobs: [], errors: [] });
});

// Arguments

Deno.test("parseKoitab() reads argument types and defaults", () => {
  const job = onlyJob(
    "@daily run {{ Target , string, a, b , c }} {{Count, int, -12}} {{Dry run, bool, true}} {{Off, bool, false}} {{Plain, string, }}\n",
  );
  assertEquals(job.args, [
    { name: "Target", type: "string", default: "a, b , c" },
    { name: "Count", type: "int", default: -12 },
    { name: "Dry run", type: "bool", default: true },
    { name: "Off", type: "bool", default: false },
    { name: "Plain", type: "string", default: "" },
  ]);
});

Deno.test("parseKoitab() counts a name used twice as one argument when each use declares the same", () => {
  const job = onlyJob(
    "@manual cp {{File}} {{File, string}}.bak {{ File }} {{N, int, 1}} {{N, int, 1}}\n",
  );
  assertEquals(job.args, [
    { name: "File", type: "string" },
    { name: "N", type: "int", default: 1 },
  ]);
  assertEquals(
    job.command,
    "cp {{File}} {{File, string}}.bak {{ File }} {{N, int, 1}} {{N, int, 1}}",
  );
});

Deno.test("parseKoitab() reports an argument declared twice with different specs", () => {
  assertEquals(
    errorOf("@manual x {{N, int, 1}} {{N, int, 2}}"),
    'argument "N" is declared twice, differently: {{N, int, 1}} and {{N, int, 2}}',
  );
  assertEquals(
    errorOf("@manual x {{N, int}} {{N, string}}"),
    'argument "N" is declared twice, differently: {{N, int}} and {{N, string}}',
  );
  // A bare use is a string without a default: it cannot borrow a spec written elsewhere.
  assertEquals(
    errorOf("@manual x {{a}} {{a, int}}"),
    'argument "a" is declared twice, differently: {{a}} and {{a, int}}',
  );
  assertEquals(
    errorOf("@daily x {{a, string, b}} {{a}}"),
    'argument "a" is declared twice, differently: {{a, string, b}} and {{a}}',
  );
});

Deno.test("parseKoitab() reports malformed placeholders", () => {
  assertEquals(
    errorOf("@manual x {{N, float}}"),
    'unknown argument type "float" in {{N, float}} (use string, int or bool)',
  );
  assertEquals(
    errorOf("@manual x {{N,}}"),
    'unknown argument type "" in {{N,}} (use string, int or bool)',
  );
  assertEquals(
    errorOf("@manual x {{N, int, abc}}"),
    'default of argument "N" must be a whole number, got "abc"',
  );
  assertEquals(
    errorOf("@manual x {{N, int, 1.5}}"),
    'default of argument "N" must be a whole number, got "1.5"',
  );
  assertEquals(
    errorOf("@manual x {{B, bool, yes}}"),
    'default of argument "B" must be true or false, got "yes"',
  );
});

Deno.test("parseKoitab() takes placeholders after the first % literally, as stdin", () => {
  const job = onlyJob("@daily cat %{{X}}%\n");
  assertEquals([job.command, job.stdin, job.args], ["cat ", "{{X}}\n", []]);
});

Deno.test("parseKoitab() leaves lone braces alone", () => {
  assertEquals(onlyJob("@daily echo {a,b} {{ x\n").args, []);
});

Deno.test("parseKoitab() requires defaults for string and int arguments of scheduled jobs", () => {
  assertEquals(
    errorOf("@daily greet {{Who}}"),
    'argument "Who" needs a default, since the job runs on its schedule (only @manual jobs may leave it out)',
  );
  assertEquals(
    errorOf("@reboot sleep {{Delay, int}}"),
    'argument "Delay" needs a default, since the job runs on its schedule (only @manual jobs may leave it out)',
  );
  assertEquals(onlyJob("@daily run {{Loud, bool}}\n").args, [{ name: "Loud", type: "bool" }]);
  assertEquals(onlyJob("@manual greet {{Who}}\n").args, [{ name: "Who", type: "string" }]);
});

Deno.test("parseKoitab() rejects a placeholder inside quotes, where the added quoting would break", () => {
  const hint = "write it bare, Koi quotes the value itself";
  assertEquals(errorOf('@manual echo "{{X}}"'), `{{X}} is inside quotes: ${hint}`);
  assertEquals(errorOf("@manual echo '{{X}}'"), `{{X}} is inside quotes: ${hint}`);
  assertEquals(
    errorOf('@manual echo "hello {{X, string, y}} there"'),
    `{{X, string, y}} is inside quotes: ${hint}`,
  );
  assertEquals(errorOf("@manual echo 'unclosed {{X}}"), `{{X}} is inside quotes: ${hint}`);
  // Quotes nested in $(…) inside double quotes are still quotes.
  assertEquals(errorOf('@manual echo "$(echo "{{X}}")"'), `{{X}} is inside quotes: ${hint}`);
  assertEquals(errorOf('@manual echo "${A:-"{{X}}"}"'), `{{X}} is inside quotes: ${hint}`);
});

Deno.test("parseKoitab() rejects a placeholder after a backslash or $, in backquotes, ${…}, $((…)) or a comment", () => {
  const hint = "write it bare, Koi quotes the value itself";
  assertEquals(errorOf("@manual echo \\{{X}}"), `{{X}} follows a backslash: ${hint}`);
  assertEquals(errorOf("@manual echo ${{X}}"), `{{X}} follows a "$": ${hint}`);
  assertEquals(
    errorOf("@manual echo `echo {{X}}`"),
    `{{X}} is inside backquotes: write it bare (in $(…) if need be), Koi quotes the value itself`,
  );
  assertEquals(errorOf("@manual echo ${A:-{{X}}}"), `{{X}} is inside \${…}: ${hint}`);
  assertEquals(errorOf("@manual echo $(( {{X}} + 1 ))"), `{{X}} is inside $((…)): ${hint}`);
  assertEquals(
    errorOf("@manual echo hi # {{X}}"),
    "{{X}} is inside a shell comment, which a newline in the value would end",
  );
  assertEquals(
    errorOf("@manual true;#{{X}}"),
    "{{X}} is inside a shell comment, which a newline in the value would end",
  );
});

Deno.test("parseKoitab() accepts placeholders where sh reads a bare word", () => {
  const commands = [
    "printf '\\%s' {{X}}",
    "echo \"quoted\" {{X}} 'single'",
    "cmd --name={{X}}",
    "echo a#{{X}}",
    'echo $(basename {{X}}) "$(echo ok)" {{X}}',
    "echo \\\\{{X}}",
    "x=$((1 + 2)) && echo {{X}}",
  ];
  for (const command of commands) {
    const job = onlyJob(`@manual ${command}\n`);
    assertEquals(job.args, [{ name: "X", type: "string" }], command);
  }
});

// Text that is not a placeholder

/** Lines from real crontabs whose `{{…}}` are Docker and Go templates, not Koi arguments. */
const TEMPLATE_LINES = [
  "*/5 * * * * docker inspect --format='{{.State.Health.Status}}' web | grep -v healthy",
  "0 * * * * docker ps --format '{{.Names}}' | xargs -n1 docker restart",
  "0 * * * * docker ps -a --format {{.Names}} > /tmp/names",
  '0 3 * * * docker inspect -f "{{json .Config.Labels}}" db > /var/backups/labels.json',
  "0 3 * * * docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}' db | xargs tar czf /b.tgz",
  "*/10 * * * * docker ps --format '{{if .Ports}}{{.Names}}{{else}}-{{end}}'",
  "0 4 * * * docker image ls --format '{{.Repository}}:{{.Tag}}' | sort",
  "0 4 * * * docker ps --filter 'label=a' --format '{{index .Labels \"com.docker.compose.service\"}}'",
  "0 * * * * consul-template -template 'in.tpl:out' -once -exec 'echo {{ .Env.HOME }}'",
  "0 * * * * kubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}'",
  "0 * * * * echo {{json .}} {{.}} {{}} {{ , int}} {{a=b}} {{-x}} {{#s}}{{/s}} {{!c}} {{^x}}",
];

Deno.test("parseKoitab() reads a {{…}} whose inside is not a placeholder's as text, as cron does", () => {
  for (const line of TEMPLATE_LINES) {
    const job = onlyJob(`${line}\n`);
    assertEquals(job.args, [], line);
    assertEquals(job.command, line.replace(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ /, ""), line);
  }
});

Deno.test("parseKoitab() closes a Go template's {{range}} or {{if}} with its {{end}}, which is text too", () => {
  // Inside a template block, {{end}} and {{else}} are the template's.
  assertEquals(onlyJob("@daily t '{{if .A}}{{else}}{{end}}'\n").args, []);
  // Outside one, a bare {{end}} is an argument named end, like any other name.
  assertEquals(onlyJob("@manual report {{start}} {{end}}\n").args, [
    { name: "start", type: "string" },
    { name: "end", type: "string" },
  ]);
  assertEquals(
    onlyJob("@manual t '{{range .}}{{if .A}}{{end}}{{end}}' {{end}}\n").args,
    [{ name: "end", type: "string" }],
  );
});

Deno.test("parseKoitab() takes placeholders beside template text, with the safety rules unchanged", () => {
  const job = onlyJob("@manual docker ps --format '{{.Names}}' --filter name={{Name}}\n");
  assertEquals(job.args, [{ name: "Name", type: "string" }]);
  // Template text is read as the shell reads it: its quote opens a quoted string.
  assertEquals(
    errorOf("@manual echo {{'x}} {{X}}"),
    "{{X}} is inside quotes: write it bare, Koi quotes the value itself",
  );
  // A placeholder inside the template's quotes is still inside quotes.
  assertEquals(
    errorOf("@manual docker ps --format '{{.Names}} {{X}}'"),
    "{{X}} is inside quotes: write it bare, Koi quotes the value itself",
  );
});

// Argument names

Deno.test("parseKoitab() reads names of letters, digits, emoji, spaces, _ and -; runs of spaces count as one", () => {
  assertEquals(
    onlyJob(
      "@manual x {{  spaced   name  }} {{Émilie_2-b}} {{7 days}} {{😃 face}} {{Emoji 👍🏽}} {{🇫🇷}} {{1️⃣}} {{日本}}\n",
    ).args.map((arg) => arg.name),
    ["spaced name", "Émilie_2-b", "7 days", "😃 face", "Emoji 👍🏽", "🇫🇷", "1️⃣", "日本"],
  );
  // The same name written with other spacing is the same argument.
  assertEquals(onlyJob("@manual x {{a  b}} {{ a b }}\n").args, [{ name: "a b", type: "string" }]);
});

Deno.test("parseKoitab() refuses argument names over 200 characters and more than 100 arguments", () => {
  assertEquals(onlyJob(`@manual x {{${"n".repeat(200)}}}\n`).args[0]!.name.length, 200);
  assertEquals(
    errorOf(`@manual x {{${"n".repeat(201)}}}`),
    `argument name "${"n".repeat(40)}…" is too long: 201 characters, at most 200`,
  );
  const names = (count: number) => Array.from({ length: count }, (_, i) => `{{a${i}}}`).join(" ");
  assertEquals(onlyJob(`@manual x ${names(100)}\n`).args.length, 100);
  assertEquals(
    errorOf(`@manual x ${names(101)}`),
    "too many arguments: a job may have at most 100",
  );
});

// Limits

Deno.test("parseKoitab() refuses a command over 131,071 bytes as sh -c gets it, before cron's %", () => {
  const head = "@daily echo ";
  const fits = `${head}${"x".repeat(131_071 - 5)}`;
  assertEquals(onlyJob(`${fits}\n`).command.length, 131_071);
  assertEquals(
    errorOf(`${fits}é`),
    "command too long: 131073 bytes, at most 131071 (the most Linux passes to sh -c as one argument)",
  );
  // The job's input, after the %, goes through a pipe: no limit. Each \% is one byte for sh.
  const withInput = onlyJob(`@daily cat %${"x".repeat(200_000)}\n`);
  assertEquals([withInput.command, withInput.stdin!.length], ["cat ", 200_001]);
  assertEquals(onlyJob(`@daily printf ${"\\%".repeat(131_064)}\n`).command.length, 131_071);
});
Deno.test("parseKoitab() refuses a variable over 131,071 bytes as NAME=value", () => {
  assertEquals(parseKoitab(`A=${"v".repeat(131_069)}\n`).errors, []);
  assertEquals(
    errorOf(`AB=${"v".repeat(131_069)}`),
    "variable too long: 131072 bytes, at most 131071 (the most Linux passes as one environment variable)",
  );
});

Deno.test("parseKoitab() refuses job and section names over 200 characters", () => {
  assertEquals(onlyJob(`"${"n".repeat(200)}" @daily x\n`).name!.length, 200);
  assertEquals(
    errorOf(`"${"n".repeat(201)}" @daily x`),
    "job name too long: 201 characters, at most 200",
  );
  assertEquals(
    errorOf(`[${"s".repeat(201)}]`),
    "section name too long: 201 characters, at most 200",
  );
});

Deno.test("parseKoitab() refuses the 10,001st job, as a crontab holds at most 10,000", () => {
  const { jobs, errors } = parseKoitab("* * * * * x\n".repeat(10_001));
  assertEquals(jobs.length, 10_000);
  assertEquals(errors, [
    { line: 10_001, message: "too many jobs: a koitab holds at most 10000, as a crontab does" },
  ]);
});

Deno.test("parseKoitab() refuses jobs past 8 MiB as JSON, the most the dashboard takes from one machine", () => {
  // Each job is {"name":"J0","section":null,"schedule":"@daily","command":"echo yyy…","args":[]}.
  const line = (i: number) => `"J${i}" @daily echo ${"y".repeat(120_000)}`;
  const jobJson = (i: number) => 75 + String(i).length + 120_000;
  const table = Array.from({ length: 70 }, (_, i) => line(i)).join("\n");
  let total = 0;
  for (let i = 0; i < 69; i++) total += jobJson(i);
  assertEquals(total <= 8 * 1024 * 1024, true);
  const { jobs, errors } = parseKoitab(table);
  assertEquals(jobs.length, 69);
  assertEquals(errors, [{
    line: 70,
    message: `the koitab is too large: its jobs up to this line take ${
      total + jobJson(69)
    } bytes as JSON, more than the 8388608 (8 MiB) the dashboard takes from one machine`,
  }]);
});

// Errors

Deno.test("parseKoitab() reports every bad line at once, with its line number, and keeps the good jobs", () => {
  const text = [
    "# header",
    "@daily good-one",
    "0 25 * * * date",
    "D='a'b",
    "30 11 * * * * cmd",
    "",
    "@hourly good-two",
    "[ ]",
    "5 * * * *",
    "@manual echo '{{X}}'",
    "CRON_TZ=Nowhere/Land",
    "@Daily x",
  ].join("\n");
  const { jobs, errors } = parseKoitab(text);
  assertEquals(jobs.map((job) => [job.line, job.command]), [[2, "good-one"], [7, "good-two"]]);
  assertEquals(errors, [
    { line: 3, message: 'bad hour "25" (0-23)' },
    {
      line: 4,
      message:
        "bad value for D: only blanks may follow its closing ' (cron has no escapes in values)",
    },
    {
      line: 5,
      message:
        `too many fields: cron has five ${FIVE_FIELDS}, with no seconds or year, so "*" would start the command`,
    },
    { line: 8, message: 'empty section name in "[ ]"' },
    { line: 9, message: "missing command after the schedule" },
    {
      line: 10,
      message: "{{X}} is inside quotes: write it bare, Koi quotes the value itself",
    },
    {
      line: 11,
      message:
        'unknown time zone "Nowhere/Land" in CRON_TZ (use an IANA name such as "UTC" or "Europe/London")',
    },
    {
      line: 12,
      message:
        'bad time specifier "@Daily" (use five fields, or @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)',
    },
  ]);
});

Deno.test("parseKoitab() never throws, whatever the text", () => {
  for (const text of ["\0", "\r", "\u2028 * * * * *", "{{", '"', "'", "=", "[", "@", "%", "\\"]) {
    const { errors } = parseKoitab(text);
    assertEquals(errors.length <= 1, true, JSON.stringify(text));
  }
});

Deno.test("formatKoitabError() puts the line number in front as the CLI prints it", () => {
  assertEquals(
    parseKoitab("\n0 25 * * * date\n").errors.map(formatKoitabError),
    ['koitab line 2: bad hour "25" (0-23)'],
  );
});

// Tags and duplicate names

Deno.test("parseKoitab() tags each job with j and 16 hex digits, unique in the table", () => {
  const { jobs } = parseKoitab(
    '@daily a\n@daily b\n@daily a\n"N" @daily a\n[S]\n"N" @daily a\n@daily a\n',
  );
  const tags = jobs.map((job) => job.tag);
  assertEquals(tags.every((tag) => /^j[0-9a-f]{16}$/.test(tag)), true);
  assertEquals(new Set(tags).size, tags.length);
});

Deno.test("parseKoitab() keeps tags when other lines are edited, inserted or removed", () => {
  const before = tagsOf(
    [
      "[Bots]",
      '"Crawler" */5 * * * * crawl',
      "@hourly python script.py",
      "[Admin]",
      '"Say Hi" @manual tweet {{To}}',
      "",
    ].join("\n"),
  );
  const after = tagsOf(
    [
      "# a new comment",
      "MAILTO=me",
      "@daily something new",
      "[Bots]",
      "@weekly inserted",
      '"Crawler" */5 * * * * crawl',
      "",
      "@hourly python script.py",
      '"Other" @daily other',
      "[Admin]",
      '"Say Hi" @manual tweet {{To}}',
      "",
    ].join("\n"),
  );
  for (const name of ["Crawler", "python script.py", "Say Hi"]) {
    assertEquals(after[name], before[name], name);
  }
});

Deno.test("parseKoitab() keeps a named job's tag when its schedule or command changes", () => {
  const original = tagsOf('[Bots]\n"Crawler" */5 * * * * crawl\n').Crawler;
  assertEquals(tagsOf('[Bots]\n"Crawler" 0 * * * * crawl --fast\n').Crawler, original);
  assertEquals(tagsOf('[Bots]\n"  Crawler " @manual other\n').Crawler, original);
  // Its identity is section + name: another section or name is another job.
  assertEquals(tagsOf('[Other]\n"Crawler" */5 * * * * crawl\n').Crawler === original, false);
  assertEquals(tagsOf('"Crawler" */5 * * * * crawl\n').Crawler === original, false);
});

Deno.test("parseKoitab() knows an unnamed job by its section, schedule and command", () => {
  const original = tagsOf("@hourly backup\n").backup!;
  assertEquals(tagsOf("@hourly   backup\n").backup, original);
  assertEquals(tagsOf("@daily backup\n").backup === original, false);
  assertEquals(tagsOf("@hourly backup \n")["backup "] === original, false);
  assertEquals(tagsOf("[S]\n@hourly backup\n").backup === original, false);
  assertEquals(tagsOf("0 * * * * backup\n").backup === tagsOf("0  *\t* * * backup\n").backup, true);
});

Deno.test("parseKoitab() tells identical unnamed lines apart by their order", () => {
  const { jobs } = parseKoitab("@hourly ping\n@daily other\n@hourly ping\n");
  const [first, , second] = jobs;
  assertEquals(first!.tag === second!.tag, false);
  const again = parseKoitab("@weekly new\n@hourly ping\n@hourly ping\n").jobs;
  assertEquals([again[1]!.tag, again[2]!.tag], [first!.tag, second!.tag]);
});

Deno.test("parseKoitab() reports a job name used twice in one section", () => {
  const { jobs, errors } = parseKoitab(
    [
      "[Bots]",
      '"Crawler" @daily crawl',
      '"Crawler" @hourly crawl again',
      "[Admin]",
      '"Crawler" @daily fine in another section',
      "[Bots]",
      '"Crawler" @weekly third',
      '"Loose" @daily x',
      "",
    ].join("\n"),
  );
  assertEquals(errors, [
    { line: 3, message: 'duplicate job name "Crawler" in section [Bots] (first on line 2)' },
    { line: 7, message: 'duplicate job name "Crawler" in section [Bots] (first on line 2)' },
  ]);
  assertEquals(jobs.map((job) => [job.line, job.section, job.name]), [
    [2, "Bots", "Crawler"],
    [5, "Admin", "Crawler"],
    [8, "Bots", "Loose"],
  ]);
  assertEquals(
    errorsOf('"X" @daily a\n"X" @daily b\n'),
    [{ line: 2, message: 'duplicate job name "X" before the first section (first on line 1)' }],
  );
});

Deno.test("parseKoitab() reports a duplicate name even when the first line has another error", () => {
  assertEquals(errorsOf('"X" 0 25 * * * a\n"X" @daily b\n'), [
    { line: 1, message: 'bad hour "25" (0-23)' },
    { line: 2, message: 'duplicate job name "X" before the first section (first on line 1)' },
  ]);
});
