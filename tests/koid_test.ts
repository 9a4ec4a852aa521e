import { assert, assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { history, historyJson, withKoid, withKoiDir } from "./_koid.ts";
import { parseKoitab } from "../lib/koitab.ts";
import { History, type RunRecord } from "../lib/runs/history.ts";
import { koiPaths } from "../lib/koidir.ts";
import { VERSION } from "../lib/version.ts";
import { readBootId } from "../lib/daemon/boot.ts";
import { jobEnvironment } from "../lib/runs/environment.ts";
import { isExecutable } from "../lib/runs/spawn.ts";
import { parsePasswd } from "../lib/users.ts";
import { expectedHeader, received, withFakeMailer } from "./_fake_mailer.ts";

const isRoot = Deno.uid() === 0;
const me = parsePasswd(await Deno.readTextFile("/etc/passwd")).find((a) => a.uid === Deno.uid())!;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function tagOf(koitab: string, name: string): string {
  return parseKoitab(koitab).jobs.find((job) => job.name === name)!.tag;
}

Deno.test("koid runs an @reboot job once at start, stops on SIGTERM with exit 0, and history --json shows the run", async () => {
  const koitab = `HOME=$DIR
[Boot]
"hello" @reboot printf 'hello\\n'
"later" 0 0 1 1 * echo never today
`;
  await withKoiDir(koitab, async (dir) => {
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(
        new RegExp(`^koid: koid ${VERSION} started \\(pid ${koid.child.pid}\\), jobs run as `),
      );
      const id =
        (await koid.waitFor(/^koid: \[Boot\] "hello" ended \(run (\S+)\): exit 0 after/))[1]!;
      assert(koid.lines.includes(`koid: loaded ${dir}/koitab: 2 job(s)`), koid.lines.join("\n"));
      if (isRoot) {
        assert(
          koid.lines.includes(
            "koid: warning: jobs run as root because $KOI_DIR/user names no user; write a user name there to run them as that user",
          ),
          koid.lines.join("\n"),
        );
      }
      // SIGHUP asks for a reload; it does not stop koid.
      koid.child.kill("SIGHUP");
      await koid.waitFor(/^koid: SIGHUP: the koitab will be read again at the next minute$/);
      const status = await koid.exit("SIGTERM");
      assertEquals([status.code, status.signal], [0, null]);
      assert(
        koid.lines.includes("koid: SIGTERM: stopping; no new runs will start"),
        koid.lines.join("\n"),
      );
      assertEquals(koid.lines.at(-1), "koid: stopped");
      assertEquals(koid.lines.filter((line) => line.includes(" started (run ")).length, 1);
      const runs = await historyJson(dir);
      assertEquals(runs.length, 1);
      const run = runs[0]!;
      assert(ISO.test(run.startedAt) && ISO.test(run.finishedAt ?? ""), JSON.stringify(run));
      assertEquals(run.durationMs, Date.parse(run.finishedAt!) - Date.parse(run.startedAt));
      assertEquals(run, {
        id,
        tag: tagOf(koitab, "hello"),
        name: "hello",
        section: "Boot",
        trigger: "reboot",
        args: {},
        scheduledFor: null,
        startedAt: run.startedAt,
        finishedAt: run.finishedAt,
        durationMs: run.durationMs,
        exitCode: 0,
        signal: null,
        status: "succeeded",
        error: null,
        output: "hello\n",
        chunks: [{ stream: "stdout", text: "hello\n" }],
        outputBytes: 6,
      });
    });
  });
});

Deno.test("a restarted koid does not run @reboot jobs again in the same boot of the machine", async () => {
  const koitab = `HOME=$DIR
"boot" @reboot echo up
`;
  await withKoiDir(koitab, async (dir) => {
    const bootId = await readBootId();
    if (bootId === null) {
      console.log(`skipped: no boot id on ${Deno.build.os}`);
      return;
    }
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: "boot" ended \(run /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
    });
    assertEquals(await Deno.readTextFile(`${dir}/last-boot`), `${bootId}\n`);
    // systemctl restart koid.
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: koid .* started \(pid/);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      assert(
        koid.lines.includes(
          `koid: @reboot jobs already ran in this boot (${bootId}): they run again after a restart`,
        ),
        koid.lines.join("\n"),
      );
      assert(!koid.lines.some((line) => line.includes(" started (run ")), koid.lines.join("\n"));
    });
    assertEquals((await historyJson(dir)).map((run) => [run.trigger, run.output]), [[
      "reboot",
      "up\n",
    ]]);
  });
});

Deno.test("a run left by a koid killed hard is marked interrupted by the next koid", async () => {
  const koitab = `HOME=$DIR
"sleeper" @reboot sleep 30
`;
  await withKoiDir(koitab, async (dir) => {
    let group = 0;
    try {
      let id = "";
      await withKoid(dir, [], async (koid) => {
        const match = await koid.waitFor(
          /^koid: "sleeper" started \(run (\S+), reboot, pid ([0-9]+)\)$/,
        );
        id = match[1]!;
        group = Number(match[2]);
        // The start is in the history while the job runs.
        const running = await historyJson(dir);
        assertEquals(running.map((run) => [run.id, run.status, run.finishedAt]), [[
          id,
          "running",
          null,
        ]]);
        const status = await koid.exit("SIGKILL");
        assertEquals(status.signal, "SIGKILL");
      });
      // The job lives on in its own process group; the next koid must not run it again.
      await Deno.writeTextFile(`${dir}/koitab`, `HOME=${dir}\n`);
      await withKoid(dir, [], async (koid) => {
        await koid.waitFor(
          /^koid: marked 1 run\(s\) left unfinished by a stopped koid as interrupted$/,
        );
        await koid.waitFor(/^koid: koid .* started \(pid/);
        assertEquals((await koid.exit("SIGTERM")).code, 0);
      });
      const [run, ...others] = await historyJson(dir);
      assertEquals(others, []);
      assertEquals([run!.id, run!.status, run!.finishedAt, run!.exitCode, run!.durationMs], [
        id,
        "interrupted",
        null,
        null,
        null,
      ]);
      assert(
        /^koid stopped before the run ended \(marked at \d{4}-\d\d-\d\dT[0-9:.]+Z\)$/.test(
          run!.error ?? "",
        ),
        run!.error ?? "no error",
      );
      // A third start finds nothing to mark.
      await withKoid(dir, [], async (koid) => {
        await koid.waitFor(/^koid: koid .* started \(pid/);
        assertEquals((await koid.exit("SIGTERM")).code, 0);
        assert(!koid.lines.some((line) => line.includes("marked")), koid.lines.join("\n"));
      });
    } finally {
      if (group > 0) {
        try {
          Deno.kill(-group, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  });
});

Deno.test("on SIGTERM koid waits for a running job within --grace, and records it", async () => {
  const koitab = `HOME=$DIR
"slow" @reboot sleep 1; echo done
`;
  await withKoiDir(koitab, async (dir) => {
    await withKoid(dir, ["--grace", "20"], async (koid) => {
      await koid.waitFor(/^koid: "slow" started \(run /);
      const began = performance.now();
      const status = await koid.exit("SIGTERM");
      assertEquals(status.code, 0);
      assert(performance.now() - began < 15_000);
      const lines = koid.lines;
      const waiting = lines.indexOf("koid: waiting up to 20s for 1 running job(s)");
      const ended = lines.findIndex((line) =>
        /^koid: "slow" ended \(run \S+\): exit 0 after/.test(line)
      );
      assert(waiting >= 0 && ended > waiting, lines.join("\n"));
      assertEquals(lines.at(-1), "koid: stopped");
      assert(!lines.some((line) => line.includes("sending SIG")), lines.join("\n"));
    });
    const [run] = await historyJson(dir);
    assertEquals([run!.status, run!.output, run!.exitCode], ["succeeded", "done\n", 0]);
    assert(run!.durationMs! >= 1000, String(run!.durationMs));
  });
});

Deno.test("on SIGINT koid stops a job still running after --grace, and records it killed", async () => {
  const koitab = `HOME=$DIR
"stuck" @reboot echo going; sleep 30
`;
  await withKoiDir(koitab, async (dir) => {
    await withKoid(dir, ["--grace", "1"], async (koid) => {
      const id =
        (await koid.waitFor(/^koid: "stuck" started \(run (\S+), reboot, pid [0-9]+\)$/))[1]!;
      const status = await koid.exit("SIGINT");
      assertEquals(status.code, 0);
      assert(
        koid.lines.includes("koid: SIGINT: stopping; no new runs will start"),
        koid.lines.join("\n"),
      );
      assert(
        koid.lines.includes("koid: waiting up to 1s for 1 running job(s)"),
        koid.lines.join("\n"),
      );
      assert(
        koid.lines.some((line) =>
          line.startsWith(`koid: sending SIGTERM to run ${id} (process group `)
        ),
        koid.lines.join("\n"),
      );
      const [run] = await historyJson(dir);
      assertEquals([run!.id, run!.status, run!.signal, run!.exitCode, run!.output], [
        id,
        "killed",
        "SIGTERM",
        null,
        "going\n",
      ]);
    });
  });
});

Deno.test("koid --output-limit caps each run's stored output", async () => {
  const koitab = `HOME=$DIR
"big" @reboot head -c 5000 /dev/zero | tr '\\0' x
`;
  await withKoiDir(koitab, async (dir) => {
    await withKoid(dir, ["--output-limit", "1024"], async (koid) => {
      await koid.waitFor(/^koid: "big" ended /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
    });
    const [run] = await historyJson(dir);
    assertEquals(run!.outputBytes, 5000);
    assertEquals(run!.chunks, [
      { stream: "stdout", text: "x".repeat(512) },
      { stream: "koi", text: "\n[koi: 3976 bytes elided]\n" },
      { stream: "stdout", text: "x".repeat(512) },
    ]);
  });
});

Deno.test("koid --mail-command CMD mails each run's output through CMD, as given", async () => {
  const koitab = `HOME=$DIR
"hello" @reboot echo hi
"quiet" @reboot true
`;
  await withKoiDir(koitab, async (dir) => {
    await withFakeMailer(async (mailer) => {
      await withKoid(dir, ["--mail-command", `${mailer.path}  -t`], async (koid) => {
        await koid.waitForCount(/ ended \(run /, 2);
        assertEquals((await koid.exit("SIGTERM")).code, 0);
        assertEquals(koid.lines.filter((line) => line.includes("mail")), []);
      });
      const [mail, ...more] = await received(mailer.dir);
      assertEquals(more, [], "no output, no mail");
      assertEquals(mail!.argv, [mailer.path, "-t"]);
      const job = parseKoitab(koitab.replaceAll("$DIR", dir)).jobs[0]!;
      const header = expectedHeader({
        from: me.name,
        to: me.name,
        user: me.name,
        host: Deno.hostname().split(".")[0]!,
        command: job.command,
        env: jobEnvironment(job.env, me, Deno.env.toObject()),
      });
      assertEquals(new TextDecoder().decode(mail!.stdin), header + "hi\n");
    });
  });
});

Deno.test("koid without --mail-command warns at start when there is no /usr/sbin/sendmail", async () => {
  await withKoiDir(`HOME=$DIR\n"quiet" @reboot true\n`, async (dir) => {
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: "quiet" ended /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const warning =
        "koid: warning: no /usr/sbin/sendmail: output of runs cannot be mailed (each such run is logged); name a mailer with --mail-command CMD, or say --mail-command off";
      assertEquals(
        koid.lines.includes(warning),
        !isExecutable("/usr/sbin/sendmail"),
        koid.lines.join("\n"),
      );
    }, "default");
  });
});

Deno.test("koid says nothing of a missing mailer when every job sets MAILTO empty", async () => {
  await withKoiDir(`HOME=$DIR\nMAILTO=""\n"quiet" @reboot echo hi\n`, async (dir) => {
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: "quiet" ended /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      assertEquals(koid.lines.filter((line) => line.includes("mail")), [], koid.lines.join("\n"));
    }, "default");
  });
});

Deno.test("koid logs the warnings of a table put in place without koitab", async () => {
  // A line for /etc/crontab, with its user column: "root" would run as a command.
  await withKoiDir(`HOME=$DIR\n@reboot true\n0 3 * * * root /usr/sbin/backup\n`, async (dir) => {
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/ ended \(run /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const loaded = koid.lines.findIndex((line) => line.startsWith("koid: loaded "));
      const owner = parsePasswd(await Deno.readTextFile("/etc/passwd"))
        .find((account) => account.uid === Deno.uid())!.name;
      assertEquals(
        koid.lines[loaded + 1],
        `koid: koitab line 3: warning: "root" is a user, not a command: this line is written for /etc/crontab, with a user column; a koitab's jobs run as ${owner}, so remove "root"`,
        koid.lines.join("\n"),
      );
    });
  });
});

Deno.test("koid refuses bad options", async () => {
  await withKoiDir(null, async (dir) => {
    const env = { KOI_DIR: dir };
    assertEquals(await runEntry("koid", ["--grace", "soon"], { env }), {
      code: 2,
      stdout: "",
      stderr: 'koid: --grace needs a whole number of seconds, got "soon"\n',
    });
    assertEquals((await runEntry("koid", ["--output-limit", "10"], { env })).code, 2);
    for (const args of [["--mail-command"], ["--mail-command", " "]]) {
      assertEquals(await runEntry("koid", args, { env }), {
        code: 2,
        stdout: "",
        stderr: `koid: --mail-command needs a command, or "off", got ${
          JSON.stringify(args[1] ?? "")
        }\n`,
      });
    }
    assertEquals(
      (await runEntry("koid", ["--bogus"], { env })).stderr,
      'koid: unknown option "--bogus"\n',
    );
  });
});

Deno.test("koid with an unknown user in $KOI_DIR/user runs nothing, records why, and takes the user once it exists", async () => {
  const koitab = `HOME=/
"boot" @reboot echo never
`;
  await withKoiDir(koitab, async (dir) => {
    await Deno.writeTextFile(`${dir}/user`, "no-such-user-koi\n");
    const why =
      `the user "no-such-user-koi" named in ${dir}/user does not exist: no job runs until it does (create the user, or name another there; koid checks each minute)`;
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(
        /^koid: koid .* started \(pid [0-9]+\), no job runs until the jobs' user exists$/,
      );
      const id = (await koid.waitFor(/^koid: "boot" did not start \(run (\S+)\): (.*)$/))[1]!;
      assertEquals(koid.lines.filter((line) => line === `koid: ${why}`).length, 1);
      assert(koid.lines.includes(`koid: "boot" did not start (run ${id}): ${why}`));
      // The user file names a user that exists now (koid's own): taken at once.
      await Deno.writeTextFile(`${dir}/user`, `${me.name}\n`);
      await koid.waitFor(new RegExp(`^koid: the jobs' user is ${me.name} now: jobs run as `));
      assertEquals((await koid.exit("SIGTERM")).code, 0);
      const [run] = await historyJson(dir);
      assertEquals([run!.id, run!.status, run!.error], [id, "not-started", why]);
    });
  });
});

Deno.test("koid as root refuses a $KOI_DIR/user that someone else could rewrite", async () => {
  if (!isRoot) {
    console.log("skipped: the ownership check applies to koid running as root");
    return;
  }
  await withKoiDir("@reboot echo never\n", async (dir) => {
    await Deno.writeTextFile(`${dir}/user`, "nobody\n");
    const nobody = Number(
      (await new Deno.Command("id", { args: ["-u", "nobody"] }).output())
        .stdout.reduce((text, byte) => text + String.fromCharCode(byte), "").trim(),
    );
    // KOI_DIR given to the jobs' user: they could write "root" into the user file.
    await Deno.chown(dir, nobody, null);
    const result = await runEntry("koid", [], { env: { KOI_DIR: dir } });
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr,
      `koid: as root, koid takes the jobs' user from ${dir}/user only if root owns it and ${dir} and no one else can write them, but ${dir} is owned by uid ${nobody}: run koid as the jobs' user instead (User= in its systemd unit), or give ${dir} to root\n`,
    );
    await Deno.chown(dir, 0, null);
    await Deno.chmod(`${dir}/user`, 0o666);
    const writable = await runEntry("koid", [], { env: { KOI_DIR: dir } });
    assertEquals(writable.code, 1);
    assertEquals(writable.stderr.includes(`but ${dir}/user is writable by others`), true);
  });
});

Deno.test("koid runs jobs as the user named in $KOI_DIR/user", async () => {
  if (!isRoot) {
    console.log("skipped: running jobs as another user needs root");
    return;
  }
  const koitab = `HOME=/
"who" @reboot id -un; id -u; pwd; echo $USER $LOGNAME
`;
  await withKoiDir(koitab, async (dir) => {
    await Deno.writeTextFile(`${dir}/user`, "nobody\n");
    await withKoid(dir, [], async (koid) => {
      await koid.waitFor(/^koid: koid .* started \(pid [0-9]+\), jobs run as nobody$/);
      await koid.waitFor(/^koid: "who" ended /);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
    });
    const nobody = (await Deno.readTextFile("/etc/passwd")).split("\n").find((l) =>
      l.startsWith("nobody:")
    )!.split(":")[2];
    const [run] = await historyJson(dir);
    assertEquals([run!.status, run!.output], [
      "succeeded",
      `nobody\n${nobody}\n/\nnobody nobody\n`,
    ]);
  });
});

Deno.test("koitab history NAME filters by name, Section/Name or tag, and prints a table for people", async () => {
  const koitab = `HOME=$DIR
[Web]
"alpha" @reboot echo a
"beta" @reboot exit 4
[Other]
"alpha" @reboot echo other
@reboot echo unnamed
`;
  await withKoiDir(koitab, async (dir) => {
    assertEquals(await history(dir), "no runs recorded\n");
    assertEquals(await historyJson(dir), []);
    await withKoid(dir, [], async (koid) => {
      await koid.waitForCount(/ ended \(run /, 4);
      assertEquals(koid.lines.filter((l) => l.includes(" ended (run ")).length, 4);
      assertEquals((await koid.exit("SIGTERM")).code, 0);
    });
    const all = await historyJson(dir);
    assertEquals(all.length, 4);
    // Written run by run, the JSON is byte for byte what JSON.stringify makes of them all.
    const reader = new History(koiPaths(dir).history, { readOnly: true });
    try {
      const runs = reader.list();
      assertEquals(await history(dir, "--json"), JSON.stringify(runs, null, 2) + "\n");
      assertEquals(
        await history(dir, "--json", "Web/alpha"),
        JSON.stringify(
          runs.filter((run) => run.section === "Web" && run.name === "alpha"),
          null,
          2,
        ) +
          "\n",
      );
    } finally {
      reader.close();
    }
    const byLabel = (run: RunRecord) => run.name === null ? run.tag : `${run.section}/${run.name}`;
    const alphas = await historyJson(dir, "alpha");
    assertEquals(alphas.map(byLabel).sort(), ["Other/alpha", "Web/alpha"]);
    assertEquals((await historyJson(dir, "Web/alpha")).map(byLabel), ["Web/alpha"]);
    const unnamed = all.find((run) => run.name === null)!;
    assertEquals((await historyJson(dir, unnamed.tag)).map((run) => run.id), [unnamed.id]);
    // A name that is no job's, in the koitab or its history, is a mistake: exit 1.
    for (const json of [[], ["--json"]]) {
      assertEquals(
        await runEntry("koitab", ["history", "nope", ...json], { env: { KOI_DIR: dir } }),
        {
          code: 1,
          stdout: "",
          stderr:
            'koitab: no job "nope" in the koitab or its history (named jobs: "Web/alpha", "beta", "Other/alpha")\n',
        },
      );
    }

    // The table: a header, one line per run newest first, columns padded to their widths.
    const table = await history(dir, "alpha");
    const lines = table.split("\n");
    assertEquals(lines.pop(), "");
    assertEquals(lines.length, 3);
    const cells = (run: RunRecord) => [
      run.startedAt.slice(0, 10) + " " + run.startedAt.slice(11, 16) + " UTC",
      `[${run.section}] "${run.name}"`,
      "reboot",
      "ok",
      `${(run.durationMs! / 1000).toFixed(1)}s`,
      run.id,
    ];
    const rows = [["STARTED", "JOB", "TRIGGER", "RESULT", "TIME", "RUN"], ...alphas.map(cells)];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    assertEquals(
      lines,
      rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()),
    );
    assert(lines[0]!.startsWith("STARTED"), lines[0]);
    assert(lines[1]!.includes('[Web] "alpha"') || lines[1]!.includes('[Other] "alpha"'), lines[1]);

    const beta = await history(dir, "beta");
    const betaLine = beta.split("\n")[1]!;
    assert(/ \[Web\] "beta" +reboot +exit 4 +[0-9]+\.[0-9]s +\S+$/.test(betaLine), betaLine);
    const unnamedLine = (await history(dir, unnamed.tag)).split("\n")[1]!;
    assert(unnamedLine.includes(` ${unnamed.tag} `), unnamedLine);

    const bad = await runEntry("koitab", ["history", "alpha", "beta"], { env: { KOI_DIR: dir } });
    assertEquals(bad.code, 2);
    assertEquals(bad.stdout, "");
  });
});
