/**
 * The `koitab` command as a user meets it: each case runs `koitab.ts` in a
 * subprocess with exactly the permissions of `deno task koitab`, against its own
 * temporary KOI_DIR, and checks the exact output, exit status and file bytes.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { type EntryResult, runEntry, runOnTerminal } from "./_entry.ts";
import { entryFlags } from "../tools/task_flags.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { History } from "../lib/runs/history.ts";
import { koiPaths } from "../lib/koidir.ts";

/** The table owner every test writes into `$KOI_DIR/user`. */
const OWNER = "koiuser";
/** The second stderr line of every usage error (exit 2). */
const SEE_HELP = 'koitab: see "koitab --help"\n';
/** The PATH cron gives a job when the koitab sets none. */
const CRON_PATH = "/usr/bin:/bin:/usr/sbin:/sbin";
/** The variables cron passes from its own environment to a job. */
const LOCALE_VARIABLES = [
  "LANG",
  "LANGUAGE",
  "LC_ALL",
  "LC_ADDRESS",
  "LC_COLLATE",
  "LC_CTYPE",
  "LC_IDENTIFICATION",
  "LC_MEASUREMENT",
  "LC_MESSAGES",
  "LC_MONETARY",
  "LC_NAME",
  "LC_NUMERIC",
  "LC_PAPER",
  "LC_TELEPHONE",
  "LC_TIME",
];

/** A valid table with a comment, a variable, sections, a CRLF line and no final newline. */
const TABLE_A = `# Koi's table, with a comment: é 😃
MAILTO=""
[Bots]
"Crawler" */5 * * * * /usr/local/bin/crawl\r
"Script" @hourly python script.py
[Admin]
"Say Hi" @manual ~/tweet.sh {{To Handle}} {{Delay, int, 0}} {{Emoji 😃, bool}}
@reboot echo up`;

/** Another valid table. */
const TABLE_B = "CRON_TZ=UTC\n30 3 * * * /usr/bin/backup\n";

/** A table with four bad lines (1, 4, 5, 6) among good ones. */
const BAD_TABLE = `0 25 * * * x
0 * * * * ok
"Dup" @daily a
"Dup" @daily b
@daily
0 0 32 * * y
`;

/** The errors of {@linkcode BAD_TABLE}, as koitab prints them. */
const BAD_TABLE_ERRORS = `koitab line 1: bad hour "25" (0-23)
koitab line 4: duplicate job name "Dup" before the first section (first on line 3)
koitab line 5: missing command after the schedule
koitab line 6: bad day-of-month "32" (1-31)
`;

/** One test's sandbox: a scratch directory holding KOI_DIR, and how to run koitab in it. */
interface Sandbox {
  /** The scratch directory: TMPDIR and cwd of koitab, home of the source files. */
  readonly tmp: string;
  /** `$KOI_DIR`, inside `tmp`, holding the `user` file. */
  readonly dir: string;
  /** `$KOI_DIR/koitab`. */
  readonly koitab: string;
  /** `$KOI_DIR/koitab.bak`. */
  readonly backup: string;
  /** Runs koitab with KOI_DIR and TMPDIR set, in `tmp`, with extra environment. */
  run(
    args: string[],
    options?: { stdin?: string; env?: Record<string, string> },
  ): Promise<EntryResult>;
  /** Writes a file in `tmp` and returns its path. */
  write(name: string, text: string, mode?: number): Promise<string>;
}

/**
 * Runs `fn` with a fresh sandbox, whose KOI_DIR names its owner {@linkcode OWNER},
 * and removes the sandbox afterwards.
 */
async function withSandbox(fn: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "koitab_cli_test." });
  try {
    const dir = `${tmp}/koi`;
    await Deno.mkdir(dir, { mode: 0o700 });
    await Deno.writeTextFile(`${dir}/user`, `${OWNER}\n`);
    await fn({
      tmp,
      dir,
      koitab: `${dir}/koitab`,
      backup: `${dir}/koitab.bak`,
      run: (args, options = {}) =>
        // `koitab run` mails as koid does; tests never reach the machine's own sendmail.
        runEntry(
          "koitab",
          args[0] === "run" ? ["run", "--mail-command", "off", ...args.slice(1)] : args,
          {
            env: { KOI_DIR: dir, TMPDIR: tmp, ...options.env },
            cwd: tmp,
            ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
          },
        ),
      write: async (name, text, mode = 0o644) => {
        const path = `${tmp}/${name}`;
        await Deno.writeTextFile(path, text, { mode });
        await Deno.chmod(path, mode);
        return path;
      },
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The sorted names in a directory. */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** The text of a file, or null when there is none. */
async function textOf(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The bytes of a file as an array of numbers, for exact comparison. */
async function bytesOf(path: string): Promise<number[]> {
  return [...await Deno.readFile(path)];
}

/** The permission bits of a file. */
async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** The account koitab runs as: name and home from the password file, as koitab finds them. */
async function currentAccount(): Promise<{ name: string; home: string }> {
  const uid = String(Deno.uid());
  for (const line of (await Deno.readTextFile("/etc/passwd")).split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 7 && fields[2] === uid) return { name: fields[0]!, home: fields[5]! };
  }
  throw new Error(`no account for uid ${uid} in /etc/passwd`);
}

/** The result of a usage mistake: exit 2, the message and the pointer to --help. */
function usage(message: string): EntryResult {
  return { code: 2, stdout: "", stderr: `koitab: ${message}\n${SEE_HELP}` };
}

/** The result of a failed operation: exit 1 and the one-line message. */
function failure(message: string, stdout = ""): EntryResult {
  return { code: 1, stdout, stderr: `koitab: ${message}\n` };
}

/** A silent success. */
const OK: EntryResult = { code: 0, stdout: "", stderr: "" };

// Installing

Deno.test("koitab FILE installs it byte for byte, mode 0600, and keeps the previous one as .bak", async () => {
  await withSandbox(async (koi) => {
    await koi.write("a.tab", TABLE_A);
    await koi.write("b.tab", TABLE_B, 0o664);

    assertEquals(await koi.run(["a.tab"]), OK);
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await modeOf(koi.koitab), 0o600);
    assertEquals(await entries(koi.dir), ["koitab", "user"], "no temporary files are left");

    assertEquals(await koi.run([`${koi.tmp}/b.tab`]), OK);
    assertEquals(await textOf(koi.koitab), TABLE_B);
    assertEquals(await textOf(koi.backup), TABLE_A);
    assertEquals(await modeOf(koi.koitab), 0o600);
    assertEquals(await modeOf(koi.backup), 0o600);
    assertEquals(await entries(koi.dir), ["koitab", "koitab.bak", "user"]);

    // A third install moves the backup on: it is always the table just replaced.
    assertEquals(await koi.run(["a.tab"]), OK);
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await textOf(koi.backup), TABLE_B);
  });
});

Deno.test("koitab - and koitab with no arguments and stdin not a terminal install from stdin", async () => {
  await withSandbox(async (koi) => {
    assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await modeOf(koi.koitab), 0o600);

    assertEquals(await koi.run([], { stdin: TABLE_B }), OK);
    assertEquals(await textOf(koi.koitab), TABLE_B);
    assertEquals(await textOf(koi.backup), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "koitab.bak", "user"]);

    // An empty stdin is an empty table, as crontab installs it.
    assertEquals(await koi.run(["-"], { stdin: "" }), OK);
    assertEquals(await textOf(koi.koitab), "");
    assertEquals(await textOf(koi.backup), TABLE_B);
  });
});

Deno.test("koitab FILE creates a missing KOI_DIR, mode 0700", async () => {
  await withSandbox(async (koi) => {
    await koi.write("a.tab", TABLE_A);
    const dir = `${koi.tmp}/new/koi`;
    assertEquals(await koi.run(["a.tab"], { env: { KOI_DIR: dir } }), OK);
    assertEquals(await textOf(`${dir}/koitab`), TABLE_A);
    assertEquals(await modeOf(dir), 0o700);
    assertEquals(await entries(dir), ["koitab"]);
  });
});

Deno.test("koitab FILE keeps bytes that are not UTF-8 exactly (a Latin-1 comment)", async () => {
  await withSandbox(async (koi) => {
    // "# café" in Latin-1, then a job: crontab(1) installs such a file byte for byte.
    const encode = (text: string) => [...new TextEncoder().encode(text)];
    const bytes = [...encode("# caf"), 0xe9, ...encode("\n0 5 * * * true\n")];
    await Deno.writeFile(`${koi.tmp}/latin1.tab`, new Uint8Array(bytes));
    assertEquals(await koi.run(["latin1.tab"]), OK);
    assertEquals(await bytesOf(koi.koitab), bytes);
  });
});

Deno.test("koitab FILE with bad lines reports every one, exits 1 and installs nothing", async () => {
  await withSandbox(async (koi) => {
    await koi.write("bad.tab", BAD_TABLE);
    await koi.write("one.tab", "# fine\n0 0 * * 8 x\n");

    // With no table yet, none is created.
    assertEquals(await koi.run(["bad.tab"]), {
      code: 1,
      stdout: "",
      stderr: `${BAD_TABLE_ERRORS}koitab: bad.tab has 4 errors; nothing was installed\n`,
    });
    assertEquals(await entries(koi.dir), ["user"]);

    // With a table, it stays byte for byte, and no backup appears.
    assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
    assertEquals(await koi.run(["-"], { stdin: BAD_TABLE }), {
      code: 1,
      stdout: "",
      stderr:
        `${BAD_TABLE_ERRORS}koitab: the koitab on stdin has 4 errors; nothing was installed\n`,
    });
    assertEquals(await koi.run(["one.tab"]), {
      code: 1,
      stdout: "",
      stderr: 'koitab line 2: bad day-of-week "8" (0-7 or sun-sat)\n' +
        "koitab: one.tab has 1 error; nothing was installed\n",
    });
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
  });
});

Deno.test("koitab FILE that cannot be read fails with one line and installs nothing", async () => {
  await withSandbox(async (koi) => {
    const result = await koi.run(["missing.tab"]);
    assertEquals(result.code, 1);
    assertEquals(result.stdout, "");
    assert(
      /^koitab: cannot read missing\.tab: [^\n]+\n$/.test(result.stderr),
      `stderr: ${JSON.stringify(result.stderr)}`,
    );
    assertEquals(await entries(koi.dir), ["user"]);
  });
});

// Listing

Deno.test("koitab -l prints the table byte for byte; with none it fails naming the owner", async () => {
  await withSandbox(async (koi) => {
    const account = await currentAccount();
    const [none, noUserFile] = await Promise.all([
      koi.run(["-l"]),
      koi.run(["-l"], { env: { KOI_DIR: `${koi.tmp}/elsewhere` } }),
    ]);
    assertEquals(none, failure(`no koitab for ${OWNER}`));
    assertEquals(noUserFile, failure(`no koitab for ${account.name}`), "owner without a user file");

    assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
    assertEquals(await koi.run(["-l"]), { code: 0, stdout: TABLE_A, stderr: "" });
  });
});

Deno.test("koitab -l prints a stored table that is not UTF-8 byte for byte", async () => {
  await withSandbox(async (koi) => {
    await Deno.writeFile(koi.koitab, new Uint8Array([0x23, 0x20, 0xe9, 0x0a]), { mode: 0o600 });
    // runEntry decodes the output as UTF-8, so this one run reads the raw bytes itself.
    const flags = entryFlags(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags.koitab, new URL("../koitab.ts", import.meta.url).pathname, "-l"],
      env: { KOI_DIR: koi.dir, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    assertEquals(output.code, 0);
    assertEquals([...output.stdout], [0x23, 0x20, 0xe9, 0x0a]);
  });
});

// Removing

Deno.test("koitab -r removes the table and keeps it as .bak; with none it fails", async () => {
  await withSandbox(async (koi) => {
    assertEquals(await koi.run(["-r"]), failure(`no koitab for ${OWNER}`));
    assertEquals(await entries(koi.dir), ["user"]);

    assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
    assertEquals(await koi.run(["-r"]), OK);
    assertEquals(await entries(koi.dir), ["koitab.bak", "user"]);
    assertEquals(await textOf(koi.backup), TABLE_A);
    assertEquals(await modeOf(koi.backup), 0o600);

    assertEquals(await koi.run(["-r"]), failure(`no koitab for ${OWNER}`));
    assertEquals(await textOf(koi.backup), TABLE_A, "the backup survives a failed -r");
  });
});

Deno.test("koitab -r -i asks on stdout and removes only on an answer starting with y", async () => {
  const prompt = `koitab: really delete ${OWNER}'s koitab? (y/n) `;
  const cases: { args: string[]; stdin: string; removed: boolean }[] = [
    { args: ["-r", "-i"], stdin: "n\n", removed: false },
    { args: ["-r", "-i"], stdin: "\n", removed: false },
    { args: ["-r", "-i"], stdin: "", removed: false },
    { args: ["-r", "-i"], stdin: "maybe\ny\n", removed: false },
    { args: ["-r", "-i"], stdin: "y\n", removed: true },
    { args: ["-r", "-i"], stdin: "Yes please\n", removed: true },
    { args: ["-ri"], stdin: "y\n", removed: true },
    { args: ["-ir"], stdin: "N\n", removed: false },
  ];
  await Promise.all(cases.map(({ args, stdin, removed }) =>
    withSandbox(async (koi) => {
      const what = `${args.join(" ")} with ${JSON.stringify(stdin)}`;
      assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
      assertEquals(await koi.run(args, { stdin }), { code: 0, stdout: prompt, stderr: "" }, what);
      assertEquals(await textOf(koi.koitab), removed ? null : TABLE_A, what);
      assertEquals(await textOf(koi.backup), removed ? TABLE_A : null, what);
    })
  ));
});

Deno.test("koitab -i -r works like -r -i, as crontab's getopt takes options in any order", async () => {
  await withSandbox(async (koi) => {
    assertEquals(await koi.run(["-"], { stdin: TABLE_A }), OK);
    assertEquals(await koi.run(["-i", "-r"], { stdin: "y\n" }), {
      code: 0,
      stdout: `koitab: really delete ${OWNER}'s koitab? (y/n) `,
      stderr: "",
    });
    assertEquals(await textOf(koi.koitab), null);
  });
});

Deno.test("koitab -r -i asks even when there is no table, then fails on yes", async () => {
  await withSandbox(async (koi) => {
    const prompt = `koitab: really delete ${OWNER}'s koitab? (y/n) `;
    const [yes, no] = await Promise.all([
      koi.run(["-r", "-i"], { stdin: "y\n" }),
      koi.run(["-r", "-i"], { stdin: "n\n" }),
    ]);
    assertEquals(yes, failure(`no koitab for ${OWNER}`, prompt));
    assertEquals(no, { code: 0, stdout: prompt, stderr: "" });
    assertEquals(await entries(koi.dir), ["user"]);
  });
});

// Checking

Deno.test("koitab --check / -T checks a table without installing it", async () => {
  await withSandbox(async (koi) => {
    await koi.write("a.tab", TABLE_A);
    await koi.write("one.tab", "@daily date\n");
    await koi.write("bad.tab", BAD_TABLE);
    const [file, alias, stdin, one, bad, badStdin] = await Promise.all([
      koi.run(["--check", "a.tab"]),
      koi.run(["-T", `${koi.tmp}/a.tab`]),
      koi.run(["--check", "-"], { stdin: TABLE_A }),
      koi.run(["-T", "one.tab"]),
      koi.run(["--check", "bad.tab"]),
      koi.run(["-T", "-"], { stdin: BAD_TABLE }),
    ]);
    assertEquals(file, { code: 0, stdout: "a.tab: 4 jobs, no errors\n", stderr: "" });
    assertEquals(alias, { code: 0, stdout: `${koi.tmp}/a.tab: 4 jobs, no errors\n`, stderr: "" });
    assertEquals(stdin, { code: 0, stdout: "stdin: 4 jobs, no errors\n", stderr: "" });
    assertEquals(one, { code: 0, stdout: "one.tab: 1 job, no errors\n", stderr: "" });
    // A check installs nothing anyway: it says only whether the table is valid.
    assertEquals(bad, {
      code: 1,
      stdout: "",
      stderr: `${BAD_TABLE_ERRORS}koitab: bad.tab has 4 errors\n`,
    });
    assertEquals(badStdin, {
      code: 1,
      stdout: "",
      stderr: `${BAD_TABLE_ERRORS}koitab: the koitab on stdin has 4 errors\n`,
    });
    assertEquals(await entries(koi.dir), ["user"], "nothing was installed");

    // An installed table is left alone by a check, good or bad.
    assertEquals(await koi.run(["-"], { stdin: TABLE_B }), OK);
    await Promise.all([koi.run(["--check", "a.tab"]), koi.run(["--check", "bad.tab"])]);
    assertEquals(await textOf(koi.koitab), TABLE_B);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
  });
});

// Upcoming runs

/** The instant a `YYYY-MM-DD HH:MM` wall time in UTC stands for. */
function utc(wall: string): number {
  return Date.parse(`${wall.replace(" ", "T")}:00Z`);
}

Deno.test("koitab --next N lists each job's next N runs in its zone, and explains @manual and @reboot", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], {
      stdin: `CRON_TZ=UTC
"Every 7" */7 * * * * x
"Manual" @manual y
"Boot" @reboot z
[Nightly]
0 0 * * * w
"Never" 0 0 30 2 * v
`,
    });
    const before = Date.now();
    const result = await koi.run(["--next", "2"]);
    const after = Date.now();
    assertEquals(result.code, 0);
    assertEquals(result.stderr, "");
    const time = "(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d) UTC\\n";
    const pattern = new RegExp(
      `^"Every 7" \\*/7 \\* \\* \\* \\* \\(UTC\\)\\n  ${time}  ${time}` +
        `"Manual" @manual: runs only from the dashboard or with "koitab run"\\n` +
        `"Boot" @reboot: runs at koid's first start in each boot\\n` +
        `\\[Nightly\\] line 6 \\(w\\) 0 0 \\* \\* \\* \\(UTC\\)\\n  ${time}  ${time}` +
        `\\[Nightly\\] "Never" 0 0 30 2 \\* \\(UTC\\)\\n  never: no date matches this schedule\\n$`,
    );
    const match = pattern.exec(result.stdout);
    assert(match, `stdout does not have the expected shape:\n${result.stdout}`);
    const [every1, every2, nightly1, nightly2] = match.slice(1).map(utc) as [
      number,
      number,
      number,
      number,
    ];
    const minute = 60_000;
    // Whole minutes in the future (koitab's "now" lies between before and after), increasing.
    const floor = Math.floor(before / minute) * minute;
    assert(every1 > floor && every1 <= after + 7 * minute, `first */7 run ${match[1]}`);
    assertEquals(new Date(every1).getUTCMinutes() % 7, 0);
    assertEquals(
      every2 - every1,
      new Date(every1).getUTCMinutes() === 56 ? 4 * minute : 7 * minute,
    );
    assert(nightly1 > floor && nightly1 <= after + 24 * 60 * minute, `first nightly ${match[3]}`);
    assertEquals(nightly1 % (24 * 60 * minute), 0, "midnight UTC");
    assertEquals(nightly2 - nightly1, 24 * 60 * minute);
  });
});

Deno.test("koitab --next shows 3 runs by default, in the local zone (TZ) when no CRON_TZ is set", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], { stdin: '"Half past" 30 * * * * x\n' });
    const result = await koi.run(["--next"], { env: { TZ: "Asia/Tokyo" } });
    assertEquals(result.code, 0);
    assertEquals(result.stderr, "");
    const run = "  \\d{4}-\\d\\d-\\d\\d \\d\\d:30 GMT\\+9\\n";
    assert(
      new RegExp(`^"Half past" 30 \\* \\* \\* \\* \\(Asia/Tokyo\\)\\n${run}${run}${run}$`).test(
        result.stdout,
      ),
      `stdout:\n${result.stdout}`,
    );
  });
});

Deno.test("koitab --next rejects a bad count with exit 2, and fails without a table", async () => {
  await withSandbox(async (koi) => {
    const results = await Promise.all([
      koi.run(["--next", "0"]),
      koi.run(["--next", "x"]),
      koi.run(["--next", "-1"]),
      koi.run(["--next", "1.5"]),
      koi.run(["--next", "1001"]),
      koi.run(["--next", "1", "2"]),
      koi.run(["--next"]),
    ]);
    const bad = (n: string) => usage(`--next takes a number of runs from 1 to 1000, got "${n}"`);
    assertEquals(results, [
      bad("0"),
      bad("x"),
      bad("-1"),
      bad("1.5"),
      bad("1001"),
      usage("--next takes at most one number, N"),
      failure(`no koitab for ${OWNER}`),
    ]);
  });
});

// Running a job

/** The seed's manual job; `%` is escaped, since a bare `%` would start the job's stdin. */
const SAY_HI =
  `"Say Hi" @manual printf '\\%s|\\%s|\\%s\\n' {{To Handle}} {{Delay, int, 0}} {{Emoji 😃, bool}}`;

Deno.test("koitab run passes hostile argument values byte for byte, and nothing in them runs", async () => {
  await withSandbox(async (koi) => {
    const home = `${koi.tmp}/home`;
    await Deno.mkdir(home);
    await Deno.writeTextFile(`${home}/canary`, "still here\n");
    // HOME points into the sandbox, so that even a broken quoting could only harm the sandbox.
    await koi.run(["-"], { stdin: `HOME=${home}\n[Admin]\n${SAY_HI}\n` });
    const hostile = [
      "'; rm -rf ~ #",
      "$(touch PWNED)",
      "`touch PWNED`; touch PWNED",
      '" && touch PWNED && "',
      "line one\nline two",
      "",
    ];
    const results = await Promise.all(hostile.map((value) =>
      koi.run([
        "run",
        "Say Hi",
        "--arg",
        `To Handle=${value}`,
        "--arg",
        "Delay=42",
        "--arg=Emoji 😃=true",
      ])
    ));
    results.forEach((result, i) => {
      assertEquals(
        result,
        { code: 0, stdout: `${hostile[i]}|42|true\n`, stderr: "" },
        JSON.stringify(hostile[i]),
      );
    });
    assertEquals(
      await koi.run(["run", "Admin/Say Hi", "--arg", "To Handle=@koi"]),
      { code: 0, stdout: "@koi|0|false\n", stderr: "" },
      "defaults fill the arguments not given",
    );
    assertEquals(await entries(home), ["canary"], "nothing ran in HOME");
    assertEquals(await textOf(`${home}/canary`), "still here\n");
    assertEquals(await entries(koi.tmp), ["home", "koi"], "nothing ran in the cwd");
  });
});

Deno.test("koitab run rejects wrong arguments with exit 2, naming the argument, and runs nothing", async () => {
  await withSandbox(async (koi) => {
    const home = `${koi.tmp}/home`;
    await Deno.mkdir(home);
    await koi.run(["-"], {
      stdin: `HOME=${home}\n[Admin]\n${SAY_HI.replace("printf", "touch RAN; printf")}\n`,
    });
    const job = '[Admin] "Say Hi"';
    const cases: [string[], EntryResult][] = [
      [
        ["--arg", "To Handle=x", "--arg", "Delay=soon"],
        usage(`${job}: argument "Delay" must be a whole number, got "soon"`),
      ],
      [
        ["--arg", "To Handle=x", "--arg", "Emoji 😃=maybe"],
        usage(`${job}: argument "Emoji 😃" must be true or false, got "maybe"`),
      ],
      [["--arg", "Delay=1"], usage(`${job}: argument "To Handle" is required: it has no default`)],
      [
        ["--arg", "To Handle=x", "--arg", "Nope=1"],
        usage(
          `${job}: unknown argument "Nope" (this job takes "To Handle", "Delay", "Emoji 😃")`,
        ),
      ],
      [["--arg", "To Handle"], usage(`--arg needs name=value, got "To Handle"`)],
      [["--arg", "=x"], usage(`--arg needs name=value, got "=x"`)],
      [["--arg"], usage(`--arg needs name=value, got ""`)],
      [["To Handle=x"], usage(`unexpected "To Handle=x": give arguments as --arg name=value`)],
    ];
    const results = await Promise.all(cases.map(([args]) => koi.run(["run", "Say Hi", ...args])));
    results.forEach((result, i) => assertEquals(result, cases[i]![1], cases[i]![0].join(" ")));
    assertEquals(await entries(home), [], "the job never started");
  });
});

Deno.test("koitab run: exit status, stdin from %, stderr, Section/Name, unknown and ambiguous names", async () => {
  await withSandbox(async (koi) => {
    const home = `${koi.tmp}/home`;
    await Deno.mkdir(home);
    await koi.run(["-"], {
      stdin: `HOME=${home}
"Seven" @manual echo before; exit 7
"Cat" @manual cat %line1%line2
"Percent" @manual printf '\\%s\\n' 100\\%; cat %50\\% off
"Err" @manual echo out; echo oops >&2
"Killed" @manual kill -TERM $$
"Where" @daily pwd
[A]
"Hi" @manual echo A
[B]
"Hi" @manual echo B
0 * * * * echo unnamed
`,
    });
    const runs = [
      ["Seven"],
      ["Cat"],
      ["Percent"],
      ["Err"],
      ["Killed"],
      ["Where"],
      ["A/Hi"],
      ["B/Hi"],
      ["Hi"],
      ["Nope"],
      ["C/Hi"],
    ];
    const results = await Promise.all(runs.map((args) => koi.run(["run", ...args])));
    assertEquals(results, [
      { code: 7, stdout: "before\n", stderr: "" },
      { code: 0, stdout: "line1\nline2\n", stderr: "" },
      { code: 0, stdout: "100%\n50% off\n", stderr: "" },
      { code: 0, stdout: "out\n", stderr: "oops\n" },
      { code: 143, stdout: "", stderr: "" },
      { code: 0, stdout: `${await Deno.realPath(home)}\n`, stderr: "" },
      { code: 0, stdout: "A\n", stderr: "" },
      { code: 0, stdout: "B\n", stderr: "" },
      failure(`"Hi" names 2 jobs: say "A/Hi" or "B/Hi"`),
      failure(
        `no job "Nope" in the koitab (named jobs: "Seven", "Cat", "Percent", "Err", "Killed", "Where", "A/Hi", "B/Hi"; an unnamed job goes by its line number, as in "koitab run 12", or its tag)`,
      ),
      failure(`no job "C/Hi" in the koitab: did you mean "A/Hi" or "B/Hi"?`),
    ]);
  });
});

Deno.test("koitab run suggests the close name for a typo, and runs an unnamed job by its line number", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], {
      stdin: `"Nightly" @manual echo nightly
"Say Hi" @manual echo hi
0 3 * * * echo unnamed on line 3
"7" @manual echo the job named 7
`,
    });
    const [lower, typo, far, line, named] = await Promise.all([
      koi.run(["run", "nightly"]),
      koi.run(["run", "Nigthly"]),
      koi.run(["run", "Backup"]),
      koi.run(["run", "3"]),
      koi.run(["run", "7"]),
    ]);
    assertEquals(lower, failure(`no job "nightly" in the koitab: did you mean "Nightly"?`));
    assertEquals(typo, failure(`no job "Nigthly" in the koitab: did you mean "Nightly"?`));
    assertEquals(
      far,
      failure(
        `no job "Backup" in the koitab (named jobs: "Nightly", "Say Hi", "7"; an unnamed job goes by its line number, as in "koitab run 3", or its tag)`,
      ),
    );
    assertEquals(line, { code: 0, stdout: "unnamed on line 3\n", stderr: "" });
    // A name wins over a line number.
    assertEquals(named, { code: 0, stdout: "the job named 7\n", stderr: "" });
    assertEquals(
      await koi.run(["run", "2"]),
      { code: 0, stdout: "hi\n", stderr: "" },
      "line 2 is the job Say Hi",
    );
  });
});

Deno.test("koitab run: no table, a table of unnamed jobs, and no NAME", async () => {
  await withSandbox(async (koi) => {
    assertEquals(await koi.run(["run", "X"]), failure(`no koitab for ${OWNER}`));
    await koi.run(["-"], { stdin: "0 * * * * true\n" });
    assertEquals(
      await koi.run(["run", "X"]),
      failure(
        `no job "X" in the koitab (the koitab names no jobs; an unnamed job goes by its line number, as in "koitab run 1", or its tag)`,
      ),
    );
    assertEquals(await koi.run(["run"]), usage("run needs the NAME of a job"));
    assertEquals(await koi.run(["run", "--arg", "a=b"]), usage("run needs the NAME of a job"));
  });
});

Deno.test("koitab run finds a job by its tag, and reports a job that cannot start", async () => {
  await withSandbox(async (koi) => {
    const table = `0 * * * * echo unnamed
"Account home" @manual pwd
HOME=${koi.tmp}
SHELL=/no/such/shell
"No shell" @manual echo hi
`;
    await koi.run(["-"], { stdin: table });
    const tag = parseKoitab(table).jobs[0]!.tag;
    const account = await currentAccount();
    const [byTag, accountHome, noShell] = await Promise.all([
      koi.run(["run", tag]),
      koi.run(["run", "Account home"], { env: { HOME: "/unused" } }),
      koi.run(["run", "No shell"]),
    ]);
    assertEquals(byTag, { code: 0, stdout: "unnamed\n", stderr: "" });
    // Without HOME in the koitab, the job runs in the account's home, whatever HOME koitab has.
    assertEquals(accountHome, {
      code: 0,
      stdout: `${await Deno.realPath(account.home)}\n`,
      stderr: "",
    });
    assertEquals(
      noShell,
      failure(
        `Cannot start the job: "/no/such/shell" or the home directory "${koi.tmp}" does not exist`,
      ),
    );
    await koi.run(["-"], { stdin: 'HOME=/no/such/home\n"J" @manual echo hi\n' });
    assertEquals(
      await koi.run(["run", "J"]),
      failure(
        `Cannot start the job: "/bin/sh" or the home directory "/no/such/home" does not exist`,
      ),
    );
  });
});

Deno.test("koitab run and --next refuse an installed table that has errors (edited by hand)", async () => {
  await withSandbox(async (koi) => {
    await Deno.writeTextFile(koi.koitab, '0 25 * * * x\n"J" @manual echo ran\n', { mode: 0o600 });
    const results = await Promise.all([koi.run(["run", "J"]), koi.run(["--next"])]);
    for (const result of results) {
      assertEquals(result.code, 1);
      assertEquals(result.stdout, "", "the job did not run");
      assert(
        result.stderr.startsWith(
          `koitab line 1: bad hour "25" (0-23)\nkoitab: ${koi.koitab} has 1 error`,
        ) && result.stderr.split("\n").length === 3,
        `stderr:\n${result.stderr}`,
      );
    }
  });
});

/** The variables of `env` output (values here hold no newlines). */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const equals = line.indexOf("=");
    env[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return env;
}

Deno.test("koitab run gives the job cron's environment, and nothing else of the caller's", async () => {
  await withSandbox(async (koi) => {
    const account = await currentAccount();
    await koi.run(["-"], {
      stdin: `KOI_VAR = from the koitab
USER=mallory
LOGNAME=mallory
"Env" @manual env
PATH=/opt/koi/bin:/usr/bin:/bin
"Env with PATH" @manual env
`,
    });
    const env = { KOI_TEST_LEAK: "1", LANG: "C.UTF-8", LC_TIME: "C", SHELL: "/bin/false" };
    const [plain, withPath] = await Promise.all([
      koi.run(["run", "Env"], { env }),
      koi.run(["run", "Env with PATH"], { env }),
    ]);
    assertEquals(plain.code, 0, plain.stderr);
    assertEquals(withPath.code, 0, withPath.stderr);
    // Locale variables come from koitab's own environment: the test's, with ours over it.
    const locale: Record<string, string> = {};
    for (const name of LOCALE_VARIABLES) {
      const value = Deno.env.get(name);
      if (value !== undefined) locale[name] = value;
    }
    Object.assign(locale, { LANG: "C.UTF-8", LC_TIME: "C" });
    const expected: Record<string, string> = {
      ...locale,
      KOI_VAR: "from the koitab",
      HOME: account.home,
      LOGNAME: account.name,
      USER: account.name,
      SHELL: "/bin/sh",
      PATH: CRON_PATH,
      PWD: await Deno.realPath(account.home),
    };
    const sorted = (record: Record<string, string>) =>
      Object.fromEntries(Object.entries(record).sort(([a], [b]) => a < b ? -1 : 1));
    assertEquals(sorted(parseEnv(plain.stdout)), sorted(expected));
    assertEquals(
      sorted(parseEnv(withPath.stdout)),
      sorted({ ...expected, PATH: "/opt/koi/bin:/usr/bin:/bin" }),
    );
  });
});

// Editing

/** Writes an executable editor script into the sandbox and returns its path. */
function editor(koi: Sandbox, name: string, body: string): Promise<string> {
  return koi.write(name, `#!/bin/sh\n${body}\n`, 0o755);
}

/** The names in the sandbox that koitab -e left behind (its `koitab.*` temporary directories). */
async function leftovers(koi: Sandbox): Promise<string[]> {
  return (await entries(koi.tmp)).filter((name) => name.startsWith("koitab."));
}

const APPENDED = "0 5 * * * echo appended\n";

Deno.test("koitab -e installs a valid edit, starting from the current table", async () => {
  await withSandbox(async (koi) => {
    const table = `${TABLE_A}\n`;
    await koi.run(["-"], { stdin: table });
    const append = await editor(
      koi,
      "append.sh",
      `cp "$1" "${koi.tmp}/seen.tab"\nstat -c %a "$1" > "${koi.tmp}/seen.mode"\nprintf '%s\\n' '${APPENDED.trim()}' >> "$1"`,
    );
    const result = await koi.run(["-e"], { env: { VISUAL: "", EDITOR: append } });
    assertEquals(result, { code: 0, stdout: "", stderr: "koitab: installing new koitab\n" });
    assertEquals(await textOf(`${koi.tmp}/seen.tab`), table, "the editor got the current table");
    assertEquals(await textOf(`${koi.tmp}/seen.mode`), "600\n", "in a private file");
    assertEquals(await textOf(koi.koitab), table + APPENDED);
    assertEquals(await textOf(koi.backup), table);
    assertEquals(await modeOf(koi.koitab), 0o600);
    assertEquals(await entries(koi.dir), ["koitab", "koitab.bak", "user"]);
    assertEquals(await leftovers(koi), [], "the temporary copy is removed");
  });
});

Deno.test("koitab -e with no table starts from an empty one", async () => {
  await withSandbox(async (koi) => {
    await koi.write("new.tab", TABLE_B);
    const replace = await editor(koi, "replace.sh", `cp "${koi.tmp}/new.tab" "$1"`);
    const result = await koi.run(["-e"], { env: { VISUAL: "", EDITOR: replace } });
    assertEquals(result, {
      code: 0,
      stdout: "",
      stderr: `no koitab for ${OWNER} - using an empty one\nkoitab: installing new koitab\n`,
    });
    assertEquals(await textOf(koi.koitab), TABLE_B);
    assertEquals(await modeOf(koi.koitab), 0o600);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
    assertEquals(await leftovers(koi), []);
  });
});

Deno.test("koitab -e: an editor that never writes changes nothing; saving unchanged installs", async () => {
  await withSandbox(async (koi) => {
    const look = await editor(koi, "look.sh", `cat "$1" > /dev/null`);
    const save = await editor(koi, "save.sh", `touch "$1"`);
    const env = (path: string) => ({ env: { VISUAL: "", EDITOR: path } });

    assertEquals(await koi.run(["-e"], env(look)), {
      code: 0,
      stdout: "",
      stderr: `no koitab for ${OWNER} - using an empty one\nkoitab: no changes made to koitab\n`,
    });
    assertEquals(await entries(koi.dir), ["user"], "no table appears");

    await koi.run(["-"], { stdin: TABLE_A });
    assertEquals(await koi.run(["-e"], env(look)), {
      code: 0,
      stdout: "",
      stderr: "koitab: no changes made to koitab\n",
    });
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "user"], "no backup either");

    // As with crontab, a save counts as a change even when the text is the same.
    assertEquals(await koi.run(["-e"], env(save)), {
      code: 0,
      stdout: "",
      stderr: "koitab: installing new koitab\n",
    });
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await textOf(koi.backup), TABLE_A);
    assertEquals(await leftovers(koi), []);
  });
});

Deno.test("koitab -e: an editor that fails leaves the table as it was", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], { stdin: TABLE_A });
    const fail = await editor(koi, "fail.sh", `echo '@daily changed' > "$1"\nexit 3`);
    const result = await koi.run(["-e"], { env: { VISUAL: "", EDITOR: fail } });
    assertEquals(result, failure(`"${fail}" exited with status 3; nothing was installed`));
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
    assertEquals(await leftovers(koi), []);
  });
});

Deno.test("koitab -e: an invalid edit with no terminal is refused, and the edits are kept", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], { stdin: TABLE_A });
    const edit = BAD_TABLE + TABLE_A;
    await koi.write("edit.tab", edit);
    const replace = await editor(koi, "replace.sh", `cp "${koi.tmp}/edit.tab" "$1"`);
    const result = await koi.run(["-e"], { env: { VISUAL: "", EDITOR: replace } });
    assertEquals(result.code, 1);
    assertEquals(result.stdout, "");
    const lines = result.stderr.split("\n");
    const kept = /^koitab: no terminal to ask about a retry; your edits are in (.+)$/.exec(
      lines[lines.length - 2]!,
    );
    assert(kept, `stderr:\n${result.stderr}`);
    const file = kept[1]!;
    assertEquals(
      result.stderr,
      `${BAD_TABLE_ERRORS}koitab: the edited koitab has 4 errors; nothing was installed\n${
        lines.at(-2)
      }\n`,
    );
    assert(file.startsWith(`${koi.tmp}/koitab.`), `the edits are kept in TMPDIR: ${file}`);
    assertEquals(await textOf(file), edit);
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
  });
});

Deno.test("koitab -e: VISUAL wins over EDITOR, and the editor string may hold arguments", async () => {
  await withSandbox(async (koi) => {
    const visual = await editor(koi, "visual.sh", `echo '@daily visual' >> "$1"`);
    const plain = await editor(koi, "editor.sh", `echo '@daily editor' >> "$1"`);
    const withFlag = await editor(
      koi,
      "flag.sh",
      `[ "$1" = --flag ] || exit 9\necho '@daily flag' >> "$2"`,
    );
    assertEquals(
      (await koi.run(["-e"], { env: { VISUAL: visual, EDITOR: plain } })).code,
      0,
    );
    assertEquals(await textOf(koi.koitab), "@daily visual\n");
    assertEquals((await koi.run(["-e"], { env: { VISUAL: "", EDITOR: plain } })).code, 0);
    assertEquals(await textOf(koi.koitab), "@daily visual\n@daily editor\n");
    assertEquals(
      await koi.run(["-e"], { env: { VISUAL: `${withFlag} --flag`, EDITOR: plain } }),
      { code: 0, stdout: "", stderr: "koitab: installing new koitab\n" },
    );
    assertEquals(await textOf(koi.koitab), "@daily visual\n@daily editor\n@daily flag\n");
  });
});

Deno.test("koitab -e: an editor that deletes the file fails with one line and cleans up", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], { stdin: TABLE_A });
    const remove = await editor(koi, "remove.sh", `rm "$1"`);
    const result = await koi.run(["-e"], { env: { VISUAL: "", EDITOR: remove } });
    assertEquals(result.code, 1);
    assertEquals(result.stdout, "");
    assert(
      /^koitab: [^\n]+\n$/.test(result.stderr),
      `one "koitab: " line expected on stderr, got:\n${result.stderr}`,
    );
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await leftovers(koi), [], "the temporary directory is removed");
  });
});

// Usage mistakes

Deno.test("koitab usage mistakes exit 2 and change nothing", async () => {
  await withSandbox(async (koi) => {
    await koi.run(["-"], { stdin: TABLE_A });
    const cases: [string[], string][] = [
      [["-x"], `unknown option "-x"`],
      [["--bogus"], `unknown option "--bogus"`],
      [["-l", "extra"], `nothing may follow -l, got "extra"`],
      [["-r", "extra"], `nothing may follow -r, got "extra"`],
      [["-r", "-i", "extra"], `nothing may follow -r, got "extra"`],
      [["-e", "extra"], `nothing may follow -e, got "extra"`],
      [["a.tab", "b.tab"], `nothing may follow a.tab, got "b.tab"`],
      [["-", "-l"], `nothing may follow -, got "-l"`],
      [["--check"], "--check takes one FILE, or - for stdin"],
      [["-T", "a", "b"], "-T takes one FILE, or - for stdin"],
      [["run"], "run needs the NAME of a job"],
    ];
    const results = await Promise.all(cases.map(([args]) => koi.run(args, { stdin: "" })));
    results.forEach((result, i) =>
      assertEquals(result, usage(cases[i]![1]), cases[i]![0].join(" "))
    );
    assertEquals(await textOf(koi.koitab), TABLE_A);
    assertEquals(await entries(koi.dir), ["koitab", "user"]);
  });
});

const RETRY = "Do you want to retry the same edit? (y/n) ";

/** Runs `koitab -e` on a terminal with `editorPath`, answering the retry prompts. */
function editOnTerminal(koi: Sandbox, editorPath: string, answers: string[]) {
  return runOnTerminal("koitab", ["-e"], {
    env: { KOI_DIR: koi.dir, TMPDIR: koi.tmp, EDITOR: editorPath, VISUAL: "" },
    cwd: koi.tmp,
  }, answers.map((answer) => [RETRY, answer]));
}

Deno.test("koitab -e on a terminal asks to retry an invalid edit, and installs the retry", async () => {
  await withSandbox(async (koi) => {
    // First edit invalid, second valid: the editor counts its runs.
    const twice = await editor(
      koi,
      "twice.sh",
      `n=$(cat "${koi.tmp}/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${koi.tmp}/count"
if [ $n = 1 ]; then echo "0 25 * * * bad" > "$1"; else echo "0 5 * * * good" > "$1"; fi`,
    );
    const result = await editOnTerminal(koi, twice, ["y\n"]);
    if (result === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    assertEquals(result.code, 0, result.output);
    assert(
      result.output.includes(
        'koitab line 1: bad hour "25" (0-23)\nkoitab: the edited koitab has 1 error; nothing was installed\nDo you want to retry the same edit? (y/n) ',
      ),
      result.output,
    );
    assert(result.output.includes("koitab: installing new koitab"), result.output);
    assertEquals(await textOf(koi.koitab), "0 5 * * * good\n");
    assertEquals(await textOf(`${koi.tmp}/count`), "2\n");
    assertEquals(await leftovers(koi), []);
  });
});

Deno.test("koitab -e on a terminal keeps the edits and installs nothing when told not to retry", async () => {
  await withSandbox(async (koi) => {
    const bad = await editor(koi, "bad.sh", `echo "0 25 * * * bad" > "$1"`);
    const result = await editOnTerminal(koi, bad, ["maybe\n", "n\n"]);
    if (result === null) {
      console.log("skipped: no /usr/bin/script to give koitab a terminal");
      return;
    }
    assertEquals(result.code, 1, result.output);
    assert(result.output.includes("Enter Y or N\n"), result.output);
    const kept = /koitab: edits left in (\S+)/.exec(result.output)?.[1];
    assert(kept, result.output);
    assertEquals(await textOf(kept), "0 25 * * * bad\n");
    assertEquals(await textOf(koi.koitab), null);
  });
});

// Names, templates and limits

Deno.test("koitab run takes every argument name the koitab accepts, typed with any spacing, and leaves templates alone", async () => {
  await withSandbox(async (koi) => {
    const table =
      `"Names" @manual printf '\\%s|' {{  spaced   name  }} {{Émilie_2-b}} {{😃 face}} ` +
      `'{{.State.Health.Status}}' {{a=b}}\n`;
    assertEquals(await koi.run(["-"], { stdin: table }), OK);
    assertEquals(
      await koi.run([
        "run",
        "Names",
        "--arg",
        "spaced name=a",
        "--arg",
        " Émilie_2-b =b",
        "--arg=😃   face=c=d",
      ]),
      { code: 0, stdout: "a|b|c=d|{{.State.Health.Status}}|{{a=b}}|", stderr: "" },
    );
  });
});

Deno.test("koitab FILE refuses a command too long to run, naming the line, and installs nothing", async () => {
  await withSandbox(async (koi) => {
    const file = await koi.write(
      "huge.tab",
      `@daily true\n* * * * * echo ${"x".repeat(131_067)}\n`,
    );
    assertEquals(
      await koi.run([file]),
      {
        code: 1,
        stdout: "",
        stderr:
          "koitab line 2: command too long: 131072 bytes, at most 131071 (the most Linux passes to sh -c as one argument)\n" +
          `koitab: ${file} has 1 error; nothing was installed\n`,
      },
    );
    assertEquals(await textOf(koi.koitab), null);
  });
});

/** A table from real crontabs: a line for /etc/crontab, and two % that cut a command short. */
const SURPRISING = `MAILTO=""
0 3 * * * root /usr/sbin/backup
5 0 * * * date +%Y-%m-%d > /tmp/today
0 1 * * * tar czf /tmp/b-$(date +%F).tgz /etc
0 9 * * 1 mail -s standup team%Time for standup.
`;

/** The warnings koitab prints for {@linkcode SURPRISING}: one line each, with the fix. */
const SURPRISING_WARNINGS =
  `koitab line 2: warning: "root" is a user, not a command: this line is written for /etc/crontab, with a user column; a koitab's jobs run as ${OWNER}, so remove "root"
koitab line 3: warning: cron ends the command at the first "%" of "date +%Y-%m-%d > /tmp/today" (a date format) and sends the rest as its input: write \\% for each literal %
koitab line 4: warning: cron ends the command at the first "%" of "tar czf /tmp/b-$(date +%F).tgz /etc" (inside $(…)) and sends the rest as its input: write \\% for each literal %
`;

Deno.test("koitab --check, install and -e warn of lines that are valid but surprising, and still succeed", async () => {
  await withSandbox(async (koi) => {
    const file = await koi.write("system.tab", SURPRISING);
    assertEquals(await koi.run(["--check", file]), {
      code: 0,
      stdout: `${file}: 4 jobs, no errors\n`,
      stderr: SURPRISING_WARNINGS,
    });
    assertEquals(await koi.run([file]), { code: 0, stdout: "", stderr: SURPRISING_WARNINGS });
    assertEquals(await textOf(koi.koitab), SURPRISING);
    const touch = await editor(koi, "touch.sh", `touch "$1"`);
    assertEquals(await koi.run(["-e"], { env: { VISUAL: touch } }), {
      code: 0,
      stdout: "",
      stderr: `${SURPRISING_WARNINGS}koitab: installing new koitab\n`,
    });
    // Fixed as the warnings say, the table is quiet.
    const fixed = SURPRISING.replace("root ", "").replaceAll("+%", "+\\%").replaceAll("-%", "-\\%");
    assertEquals(await koi.run(["--check", "-"], { stdin: fixed }), {
      code: 0,
      stdout: "stdin: 4 jobs, no errors\n",
      stderr: "",
    });
  });
});

// crontab's -n and -u

Deno.test("koitab -n FILE checks a table without installing it, as Debian's crontab -n", async () => {
  await withSandbox(async (koi) => {
    await koi.write("a.tab", TABLE_A);
    await koi.write("bad.tab", BAD_TABLE);
    assertEquals(await koi.run(["-n", "a.tab"]), {
      code: 0,
      stdout: "a.tab: 4 jobs, no errors\n",
      stderr: "",
    });
    assertEquals(await koi.run(["-n"], { stdin: TABLE_A }), {
      code: 0,
      stdout: "stdin: 4 jobs, no errors\n",
      stderr: "",
    });
    assertEquals(await koi.run(["-n", "bad.tab"]), {
      code: 1,
      stdout: "",
      stderr: `${BAD_TABLE_ERRORS}koitab: bad.tab has 4 errors\n`,
    });
    assertEquals(
      await koi.run(["-n", "a.tab", "b.tab"]),
      usage("-n takes at most one FILE, or - for stdin"),
    );
    assertEquals(await koi.run(["-n", "-e"]), usage("-n takes at most one FILE, or - for stdin"));
    assertEquals(await entries(koi.dir), ["user"], "nothing was installed");
  });
});

Deno.test("koitab -u USER names the table's owner, before or after the operation, as crontab's getopt takes it", async () => {
  await withSandbox(async (koi) => {
    assertEquals(await koi.run(["-u", OWNER, "-"], { stdin: TABLE_B }), OK);
    const listed = { code: 0, stdout: TABLE_B, stderr: "" };
    assertEquals(await koi.run(["-u", OWNER, "-l"]), listed);
    assertEquals(await koi.run(["-l", "-u", OWNER]), listed);
    assertEquals(await koi.run([`-u${OWNER}`, "-l"]), listed);
    assertEquals(
      await koi.run(["-u", "bob", "-l"]),
      failure(
        `-u bob: the koitab in ${koi.dir} is ${OWNER}'s; Koi keeps one table per KOI_DIR, so set KOI_DIR to bob's`,
      ),
    );
    assertEquals(await koi.run(["-u"]), usage("-u needs a USER"));
    assertEquals(await koi.run(["-r", "-u", OWNER]), OK);
    assertEquals(await textOf(koi.koitab), null);
  });
});

Deno.test({
  name:
    "koitab run by root writes the table as KOI_DIR's owner's, so that the owner's koid can read it",
  ignore: Deno.uid() !== 0,
  async fn() {
    await withSandbox(async (koi) => {
      const nobody = (await currentAccountOf("nobody"))!;
      await Deno.writeTextFile(`${koi.dir}/user`, "nobody\n");
      await Deno.chown(koi.dir, nobody.uid, nobody.gid);
      await koi.write("a.tab", TABLE_B);
      assertEquals(await koi.run(["-u", "nobody", "a.tab"]), OK);
      assertEquals(await koi.run(["-u", "nobody", "a.tab"]), OK);
      for (const path of [koi.koitab, koi.backup]) {
        const info = await Deno.stat(path);
        assertEquals([info.uid, info.gid, info.mode! & 0o777], [nobody.uid, nobody.gid, 0o600]);
      }
    });
  },
});

Deno.test({
  name: "koitab -u: only root may name another user than itself",
  ignore: Deno.uid() !== 0,
  async fn() {
    await withSandbox(async (koi) => {
      const nobody = (await currentAccountOf("nobody"))!;
      // A KOI_DIR and a Deno cache that nobody owns, in a sandbox it may enter.
      await Deno.chmod(koi.tmp, 0o755);
      await Deno.writeTextFile(`${koi.dir}/user`, "nobody\n");
      const cache = `${koi.tmp}/deno`;
      await Deno.mkdir(cache);
      for (const path of [koi.dir, `${koi.dir}/user`, cache]) {
        await Deno.chown(path, nobody.uid, nobody.gid);
      }
      const asNobody = async (args: string[]) => {
        const output = await new Deno.Command("setpriv", {
          args: [
            `--reuid=${nobody.uid}`,
            `--regid=${nobody.gid}`,
            "--clear-groups",
            Deno.execPath(),
            "run",
            ...entryFlags(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).koitab,
            new URL("../koitab.ts", import.meta.url).pathname,
            ...args,
          ],
          clearEnv: true,
          env: { KOI_DIR: koi.dir, DENO_DIR: cache, HOME: cache, NO_COLOR: "1" },
          stdin: "null",
        }).output();
        const text = new TextDecoder();
        return {
          code: output.code,
          stdout: text.decode(output.stdout),
          stderr: text.decode(output.stderr),
        };
      };
      assertEquals(
        await asNobody(["-u", "root", "-l"]),
        failure("must be privileged to use -u root (you are nobody)"),
      );
      assertEquals(await asNobody(["-u", "nobody", "-l"]), failure("no koitab for nobody"));
    });
  },
});

/** An account of the password file by name, or null. */
async function currentAccountOf(name: string): Promise<{ uid: number; gid: number } | null> {
  for (const line of (await Deno.readTextFile("/etc/passwd")).split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return null;
}

Deno.test("koitab history --json whose reader goes away stops as a command killed by SIGPIPE, without a word", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_pipe_" });
  try {
    // Far more than a pipe holds: koitab is still writing when the reader goes.
    const history = new History(koiPaths(dir).history);
    const text = "x".repeat(1024 * 1024);
    history.recordStarts([{
      id: "r1",
      tag: "j0000000000000001",
      name: "Big",
      section: null,
      trigger: "cli",
      args: {},
      scheduledFor: null,
      startedAt: 1_700_000_000_000,
    }]);
    history.recordEnd("r1", "j0000000000000001", {
      finishedAt: 1_700_000_001_000,
      exitCode: 0,
      signal: null,
      status: "succeeded",
      error: null,
      chunks: [{ stream: "stdout", text }],
      outputBytes: text.length,
    });
    history.close();
    const flags = entryFlags(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags.koitab,
        new URL("../koitab.ts", import.meta.url).pathname,
        "history",
        "--json",
      ],
      env: { KOI_DIR: dir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(new TextDecoder().decode(value).slice(0, 8), "[\n  {\n  ");
    await reader.cancel();
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    assertEquals([status.code, stderr], [141, ""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
