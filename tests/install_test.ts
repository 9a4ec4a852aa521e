/**
 * `install.sh` as a user meets it: each case serves stand-in release files from a
 * local server, runs the script with `sh` into a temporary root, with stubs for
 * systemctl, launchctl and chown that log their arguments, and checks every file
 * it leaves and every command it runs.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";

const SCRIPT = new URL("../install.sh", import.meta.url).pathname;
const BINARIES = ["koitab", "koid", "dashboard"] as const;
const LINUX = "x86_64-unknown-linux-gnu";
const MAC = "aarch64-apple-darwin";

/** A stand-in for a release binary: a script that prints its name and version. */
function standIn(name: string, version: string): string {
  return `#!/bin/sh\necho "${name} ${version}"\n`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The files of a release for one target: each binary and SHA256SUMS. `corrupt`
 * names a binary served with other bytes than its sum says; `unlisted` one that
 * SHA256SUMS leaves out.
 */
async function release(
  target: string,
  version: string,
  options: { corrupt?: string; unlisted?: string } = {},
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const sums: string[] = [];
  for (const name of BINARIES) {
    const file = `${name}-${target}`;
    const text = standIn(name, version);
    if (name !== options.unlisted) sums.push(`${await sha256(text)}  ${file}\n`);
    files.set(file, name === options.corrupt ? text.replace(version, "evil") : text);
  }
  files.set("SHA256SUMS", sums.join(""));
  return files;
}

/** What one run of install.sh did. */
interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function command(args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command(args[0]!, { args: args.slice(1) }).output();
  return new TextDecoder().decode(stdout).trim();
}

/**
 * A temporary machine: a root for system paths, a home, stub commands that log
 * their arguments, and a local server for the release files (replaced with `serve`).
 */
class Machine implements AsyncDisposable {
  readonly root: string;
  readonly home: string;
  readonly tmp: string;
  files = new Map<string, string>();
  readonly #dir: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(dir: string) {
    this.#dir = dir;
    this.root = `${dir}/root`;
    this.home = `${dir}/home/tester`;
    this.tmp = `${dir}/tmp`;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const body = this.files.get(new URL(request.url).pathname.slice(1));
      return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
    });
  }

  static async create(): Promise<Machine> {
    const machine = new Machine(await Deno.makeTempDir({ prefix: "koi-install-test-" }));
    for (const dir of [machine.root, machine.home, machine.tmp, `${machine.#dir}/stubs`]) {
      await Deno.mkdir(dir, { recursive: true });
    }
    for (const stub of ["systemctl", "launchctl", "chown"]) {
      const path = `${machine.#dir}/stubs/${stub}`;
      await Deno.writeTextFile(path, `#!/bin/sh\necho "$*" >>'${machine.#dir}/${stub}.log'\n`);
      await Deno.chmod(path, 0o755);
    }
    return machine;
  }

  /** Serves a release for `target` from now on. */
  async serve(target: string, version: string, options = {}): Promise<void> {
    this.files = await release(target, version, options);
  }

  /** The lines a stub logged so far, one per call. */
  async log(stub: "systemctl" | "launchctl" | "chown"): Promise<string[]> {
    try {
      return (await Deno.readTextFile(`${this.#dir}/${stub}.log`)).split("\n").slice(0, -1);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  /**
   * Runs install.sh with only the given environment over the defaults: a root install
   * on x86_64 Linux into this machine. `viaStdin` pipes the script into `sh -s`, as
   * `curl … | sh` does.
   */
  async install(
    args: string[] = [],
    env: Record<string, string> = {},
    viaStdin = false,
  ): Promise<RunResult> {
    const child = new Deno.Command("/bin/sh", {
      args: viaStdin ? ["-s", "--", ...args] : [SCRIPT, ...args],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: this.home,
        TMPDIR: this.tmp,
        KOI_ROOT: this.root,
        KOI_OS: "Linux",
        KOI_ARCH: "x86_64",
        KOI_ASSUME_ROOT: "1",
        KOI_DOWNLOAD_URL: `http://127.0.0.1:${this.#server.addr.port}`,
        KOI_SYSTEMCTL: `${this.#dir}/stubs/systemctl`,
        KOI_LAUNCHCTL: `${this.#dir}/stubs/launchctl`,
        KOI_CHOWN: `${this.#dir}/stubs/chown`,
        ...env,
      },
      stdin: viaStdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (viaStdin) {
      const writer = child.stdin.getWriter();
      await writer.write(await Deno.readFile(SCRIPT));
      await writer.close();
    }
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** Every file and directory under `dir`: its mode, and a file's text. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const child = `${path}/${entry.name}`;
      const mode = ((await Deno.lstat(child)).mode! & 0o7777).toString(8);
      const name = child.slice(dir.length);
      if (entry.isDirectory) {
        entries[`${name}/`] = mode;
        await walk(child);
      } else {
        entries[name] = `${mode} ${await Deno.readTextFile(child)}`;
      }
    }
  };
  await walk(dir);
  return entries;
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o7777;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The last stderr line, which for a failure is the installer's one-line reason. */
function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

function assertSucceeded(result: RunResult): void {
  assertEquals(result.code, 0, `install.sh failed:\n${result.stdout}${result.stderr}`);
}

async function assertBinaries(dir: string, version: string): Promise<void> {
  for (const name of BINARIES) {
    assertEquals(await Deno.readTextFile(`${dir}/${name}`), standIn(name, version), name);
    assertEquals(await mode(`${dir}/${name}`), 0o755, `mode of ${name}`);
  }
}

Deno.test("install.sh piped to sh installs the binaries, KOI_DIR and a systemd unit as root", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0");
  // A KOI_DIR from the old instructions, which made everything world-writable.
  const koiDir = `${machine.root}/var/lib/koi`;
  await Deno.mkdir(koiDir, { recursive: true });
  await Deno.chmod(koiDir, 0o777);
  for (const file of ["apikey", "runkey", "datakey", "dashboard.json", "koitab"]) {
    await Deno.writeTextFile(`${koiDir}/${file}`, `${file}\n`);
    await Deno.chmod(`${koiDir}/${file}`, 0o666);
  }

  const result = await machine.install([], { KOI_USER: "nobody" }, true);

  assertSucceeded(result);
  await assertBinaries(`${machine.root}/usr/local/bin`, "1.0.0");
  assertEquals(await mode(koiDir), 0o700);
  for (const file of ["apikey", "runkey", "datakey", "dashboard.json", "koitab", "user"]) {
    assertEquals(await mode(`${koiDir}/${file}`), 0o600, `mode of ${file}`);
  }
  assertEquals(await Deno.readTextFile(`${koiDir}/user`), "nobody\n");
  assertEquals(await Deno.readTextFile(`${koiDir}/koitab`), "koitab\n");
  const unit = await Deno.readTextFile(`${machine.root}/etc/systemd/system/koid.service`);
  const settings = unit.split("\n").filter((line) => /^[A-Za-z]+=/.test(line));
  assertEquals(settings, [
    "Description=Koi job scheduler (koid)",
    "Documentation=https://github.com/koi-cron/koi",
    "After=network-online.target nss-user-lookup.target time-sync.target",
    "Wants=network-online.target",
    "Type=simple",
    "User=nobody",
    `Group=${(await command(["id", "-gn", "nobody"])).trim()}`,
    "Environment=KOI_DIR=/var/lib/koi",
    "ExecStart=/usr/local/bin/koid",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "Restart=on-failure",
    "RestartSec=5s",
    "TimeoutStopSec=45s",
    "KillMode=process",
    "WantedBy=multi-user.target",
  ]);
  assertEquals(await mode(`${machine.root}/etc/systemd/system/koid.service`), 0o644);
  assertEquals(await machine.log("systemctl"), ["daemon-reload", "enable --now koid"]);
  const group = await command(["id", "-gn", "nobody"]);
  const chowns = await machine.log("chown");
  assertEquals(chowns[0], `nobody:${group} ${koiDir}`);
  assert(chowns[1]?.startsWith(`-h nobody:${group} ${koiDir}/.user.`), chowns.join("\n"));
  assertEquals(chowns.length, 2);
  assert(result.stdout.includes("koi: koid reports: koid 1.0.0\n"), result.stdout);
  assertEquals(await snapshot(machine.tmp), {}, "the temporary download directory is removed");
});

Deno.test("install.sh run again upgrades the binaries, keeps the state and restarts koid", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0");
  assertSucceeded(await machine.install([], { KOI_USER: "nobody" }));
  const koiDir = `${machine.root}/var/lib/koi`;
  await Deno.writeTextFile(`${koiDir}/koitab`, "@daily echo hi\n", { mode: 0o600 });
  await Deno.writeTextFile(`${koiDir}/history.db`, "runs", { mode: 0o600 });
  await Deno.writeTextFile(`${koiDir}/runkey`, "secret\n", { mode: 0o600 });
  const unit = await Deno.readTextFile(`${machine.root}/etc/systemd/system/koid.service`);

  await machine.serve(LINUX, "2.0.0");
  const result = await machine.install();

  assertSucceeded(result);
  await assertBinaries(`${machine.root}/usr/local/bin`, "2.0.0");
  assertEquals(await Deno.readTextFile(`${koiDir}/koitab`), "@daily echo hi\n");
  assertEquals(await Deno.readTextFile(`${koiDir}/history.db`), "runs");
  assertEquals(await Deno.readTextFile(`${koiDir}/runkey`), "secret\n");
  assertEquals(await Deno.readTextFile(`${koiDir}/user`), "nobody\n", "the run user is kept");
  assertEquals(await Deno.readTextFile(`${machine.root}/etc/systemd/system/koid.service`), unit);
  assertEquals(await machine.log("systemctl"), [
    "daemon-reload",
    "enable --now koid",
    "daemon-reload",
    "enable koid",
    "restart koid",
  ]);
  assertEquals(
    Object.keys(await snapshot(`${machine.root}/usr/local/bin`)).sort(),
    ["/dashboard", "/koid", "/koitab"],
    "no staging files are left",
  );
});

Deno.test("install.sh aborts on a checksum mismatch and installs nothing", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0", { corrupt: "koid" });

  const fresh = await machine.install([], { KOI_USER: "nobody" });

  assertEquals(fresh.code, 1);
  assert(
    new RegExp(
      `^koi: error: checksum mismatch for koid-${LINUX} \\(expected [0-9a-f]{64}, got [0-9a-f]{64}\\): nothing was installed$`,
    ).test(lastLine(fresh.stderr)),
    fresh.stderr,
  );
  assertEquals(await snapshot(machine.root), {}, "no binary, no KOI_DIR, no unit");
  assertEquals(await machine.log("systemctl"), []);

  await machine.serve(LINUX, "1.0.0");
  assertSucceeded(await machine.install([], { KOI_USER: "nobody" }));
  const installed = await snapshot(machine.root);
  const calls = await machine.log("systemctl");
  await machine.serve(LINUX, "2.0.0", { corrupt: "dashboard" });

  const upgrade = await machine.install();

  assertEquals(upgrade.code, 1);
  assert(lastLine(upgrade.stderr).includes(`checksum mismatch for dashboard-${LINUX}`));
  assertEquals(await snapshot(machine.root), installed, "the old install is untouched");
  assertEquals(await machine.log("systemctl"), calls);
  assertEquals(await snapshot(machine.tmp), {});
});

Deno.test("install.sh aborts when SHA256SUMS has no entry for a binary", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0", { unlisted: "dashboard" });

  const result = await machine.install([], { KOI_USER: "nobody" });

  assertEquals(result.code, 1);
  assertEquals(
    lastLine(result.stderr),
    `koi: error: SHA256SUMS has no entry for dashboard-${LINUX}: nothing was installed`,
  );
  assertEquals(await snapshot(machine.root), {});
  assertEquals(await machine.log("systemctl"), []);
});

Deno.test("install.sh fails with one line when a download fails or the platform is unknown", async () => {
  await using machine = await Machine.create();
  machine.files = new Map();

  const missing = await machine.install([], { KOI_USER: "nobody" });
  assertEquals(missing.code, 1);
  assert(
    /^koi: error: cannot download http:\/\/127\.0\.0\.1:\d+\/SHA256SUMS \((curl|wget) exit code \d+\)$/
      .test(lastLine(missing.stderr)),
    missing.stderr,
  );

  const bsd = await machine.install([], { KOI_OS: "FreeBSD" });
  assertEquals([bsd.code, bsd.stderr], [
    1,
    'koi: error: unsupported system "FreeBSD": Koi ships Linux and macOS builds\n',
  ]);
  const riscv = await machine.install([], { KOI_ARCH: "riscv64" });
  assertEquals([riscv.code, riscv.stderr], [
    1,
    'koi: error: unsupported architecture "riscv64": Koi ships x86_64 and aarch64 builds\n',
  ]);
  const stranger = await machine.install([], { KOI_USER: "no-such-user-koi" });
  assertEquals([stranger.code, stranger.stderr], [
    1,
    'koi: error: no user "no-such-user-koi" on this machine (set KOI_USER)\n',
  ]);
  const flag = await machine.install(["--frob"]);
  assertEquals([flag.code, flag.stderr], [2, 'koi: error: unknown option "--frob" (see --help)\n']);
  const help = await machine.install(["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("Usage:") && help.stdout.includes("KOI_DOWNLOAD_URL"));
  assertEquals(await snapshot(machine.root), {});
});

Deno.test("install.sh --uninstall stops koid, removes binaries and unit, keeps KOI_DIR", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0");
  assertSucceeded(await machine.install([], { KOI_USER: "nobody" }));
  const koiDir = `${machine.root}/var/lib/koi`;
  await Deno.writeTextFile(`${koiDir}/koitab`, "@daily echo hi\n", { mode: 0o600 });
  const kept = await snapshot(koiDir);

  const result = await machine.install(["--uninstall"], {}, true);

  assertSucceeded(result);
  assertEquals(await snapshot(`${machine.root}/usr/local/bin`), {});
  assertEquals(await exists(`${machine.root}/etc/systemd/system/koid.service`), false);
  assertEquals(await snapshot(koiDir), kept);
  assert(result.stdout.includes(`koi: kept ${koiDir} (your koitab, run history and keys)`));
  assertEquals((await machine.log("systemctl")).slice(2), ["disable --now koid", "daemon-reload"]);
});

Deno.test("install.sh without root installs into HOME with a systemd user unit", async () => {
  await using machine = await Machine.create();
  await machine.serve(LINUX, "1.0.0");
  const home = machine.home;

  const result = await machine.install([], { KOI_ASSUME_ROOT: "0" });

  assertSucceeded(result);
  assertEquals(await snapshot(machine.root), {}, "no system path is touched");
  await assertBinaries(`${home}/.local/bin`, "1.0.0");
  assertEquals(await mode(`${home}/.local/share/koi`), 0o700);
  assertEquals(
    await Deno.readTextFile(`${home}/.local/share/koi/user`),
    `${await command(["id", "-un"])}\n`,
  );
  const unit = await Deno.readTextFile(`${home}/.config/systemd/user/koid.service`);
  for (
    const line of [
      `Environment=KOI_DIR=${home}/.local/share/koi`,
      `ExecStart=${home}/.local/bin/koid`,
      "Restart=on-failure",
      "WantedBy=default.target",
    ]
  ) {
    assert(unit.includes(`\n${line}\n`), `${line} in\n${unit}`);
  }
  assert(!unit.includes("network-online"), "a user manager has no network-online.target");
  assertEquals(await machine.log("systemctl"), [
    "--user daemon-reload",
    "--user enable --now koid",
  ]);
  assertEquals(await machine.log("chown"), []);
  assert(result.stdout.includes(`export KOI_DIR=${home}/.local/share/koi`), result.stdout);

  assertSucceeded(await machine.install(["--uninstall"], { KOI_ASSUME_ROOT: "0" }));
  assertEquals(await snapshot(`${home}/.local/bin`), {});
  assertEquals(await exists(`${home}/.config/systemd/user/koid.service`), false);
  assertEquals(await exists(`${home}/.local/share/koi/user`), true);
  assertEquals((await machine.log("systemctl")).slice(2), [
    "--user disable --now koid",
    "--user daemon-reload",
  ]);
});

Deno.test("install.sh on macOS installs a launchd daemon as root and an agent without root", async () => {
  await using machine = await Machine.create();
  await machine.serve(MAC, "1.0.0");
  const mac = { KOI_OS: "Darwin", KOI_ARCH: "arm64" };
  const daemon = `${machine.root}/Library/LaunchDaemons/org.koi.koid.plist`;

  assertSucceeded(await machine.install([], { ...mac, KOI_USER: "nobody" }));

  await assertBinaries(`${machine.root}/usr/local/bin`, "1.0.0");
  const plist = await Deno.readTextFile(daemon);
  for (
    const fragment of [
      "<key>Label</key>\n  <string>org.koi.koid</string>\n  <key>UserName</key>\n  <string>nobody</string>",
      "<key>ProgramArguments</key>\n  <array>\n    <string>/usr/local/bin/koid</string>\n  </array>",
      "<key>KOI_DIR</key>\n    <string>/var/lib/koi</string>",
      "<key>RunAtLoad</key>\n  <true/>",
      "<key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>",
      "<key>ExitTimeOut</key>\n  <integer>45</integer>",
      "<key>StandardErrorPath</key>\n  <string>/var/log/koid.log</string>",
    ]
  ) {
    assert(plist.includes(fragment), `${fragment} in\n${plist}`);
  }
  assertEquals(await machine.log("systemctl"), []);
  assertEquals(await machine.log("launchctl"), [
    "enable system/org.koi.koid",
    `bootstrap system ${daemon}`,
  ]);

  assertSucceeded(await machine.install([], mac));
  assertSucceeded(await machine.install(["--uninstall"], mac));
  assertEquals((await machine.log("launchctl")).slice(2), [
    "enable system/org.koi.koid",
    "bootout system/org.koi.koid",
    `bootstrap system ${daemon}`,
    "bootout system/org.koi.koid",
  ]);
  assertEquals(await exists(daemon), false);
  assertEquals(await snapshot(`${machine.root}/usr/local/bin`), {});

  const uid = await command(["id", "-u"]);
  const agent = `${machine.home}/Library/LaunchAgents/org.koi.koid.plist`;
  assertSucceeded(await machine.install([], { ...mac, KOI_ASSUME_ROOT: "0" }));
  await assertBinaries(`${machine.home}/.local/bin`, "1.0.0");
  assert(
    (await Deno.readTextFile(agent)).includes(
      `<string>${machine.home}/Library/Logs/koid.log</string>`,
    ),
  );
  assertEquals((await machine.log("launchctl")).slice(6), [
    `enable gui/${uid}/org.koi.koid`,
    `bootstrap gui/${uid} ${agent}`,
  ]);
});
