/**
 * A `KOI_DIR` that cannot serve: koid and koitab say exactly what is wrong with
 * it (a file, a file on its path, a directory they may not enter), not
 * `File exists` or an error about a file inside it.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { type Entry, entryFlags } from "../tools/task_flags.ts";

const root = new URL("../", import.meta.url);
const flags = entryFlags(await Deno.readTextFile(new URL("deno.json", root)));

/** koid and koitab -l with KOI_DIR set, as the current user. */
async function both(koiDir: string): Promise<[string, string]> {
  const [koid, koitab] = await Promise.all([
    runEntry("koid", [], { env: { KOI_DIR: koiDir } }),
    runEntry("koitab", ["-l"], { env: { KOI_DIR: koiDir } }),
  ]);
  assertEquals([koid.code, koid.stdout, koitab.code, koitab.stdout], [1, "", 1, ""]);
  return [koid.stderr, koitab.stderr];
}

/** Runs an entry as `nobody` through setpriv, or returns null when this is not root. */
async function asNobody(entry: Entry, args: string[], env: Record<string, string>) {
  if (Deno.uid() !== 0 || !await Deno.stat("/usr/bin/setpriv").then(() => true, () => false)) {
    return null;
  }
  const denoDir = await Deno.makeTempDir({ prefix: "koi_nobody_deno_" });
  await Deno.chmod(denoDir, 0o777);
  try {
    const output = await new Deno.Command("/usr/bin/setpriv", {
      args: [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        Deno.execPath(),
        "run",
        ...flags[entry],
        new URL(`${entry}.ts`, root).pathname,
        ...args,
      ],
      clearEnv: true,
      env: { HOME: "/tmp", DENO_DIR: denoDir, NO_COLOR: "1", ...env },
      cwd: "/tmp",
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

Deno.test("koid and koitab say KOI_DIR is a file, or has a file on its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_dir_" });
  try {
    const file = `${dir}/koi`;
    await Deno.writeTextFile(file, "not a directory\n");
    const isFile =
      `KOI_DIR ${file} is a file, not a directory: set KOI_DIR to a directory (the default is /var/lib/koi)\n`;
    assertEquals(await both(file), [`koid: ${isFile}`, `koitab: ${isFile}`]);
    const under =
      `KOI_DIR ${file}/state cannot exist: ${file} is a file, not a directory (set KOI_DIR to a directory)\n`;
    assertEquals(await both(`${file}/state`), [`koid: ${under}`, `koitab: ${under}`]);
    // koitab installs nothing there either.
    const install = await runEntry("koitab", ["-"], {
      env: { KOI_DIR: file },
      stdin: "@daily date\n",
    });
    assertEquals(install, { code: 1, stdout: "", stderr: `koitab: ${isFile}` });
    assertEquals(await Deno.readTextFile(file), "not a directory\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("koid and koitab say they may not enter a KOI_DIR, or reach one under it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_dir_" });
  try {
    // Root's, 0700, with a koitab and a user file nobody may not read.
    await Deno.chmod(dir, 0o700);
    await Deno.writeTextFile(`${dir}/koitab`, "@daily date\n", { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/user`, "nobody\n", { mode: 0o600 });
    await Deno.mkdir(`${dir}/inner`);
    const results = await Promise.all([
      asNobody("koid", [], { KOI_DIR: dir }),
      asNobody("koitab", ["-l"], { KOI_DIR: dir }),
      asNobody("koid", [], { KOI_DIR: `${dir}/inner` }),
      asNobody("koitab", ["-l"], { KOI_DIR: `${dir}/inner` }),
    ]);
    if (results[0] === null) {
      console.log("skipped: needs root and setpriv to run as nobody");
      return;
    }
    const nobody = Number(
      new TextDecoder().decode(
        (await new Deno.Command("id", { args: ["-u", "nobody"] }).output()).stdout,
      ),
    );
    const enter =
      `cannot enter KOI_DIR ${dir}: it belongs to uid 0 with mode 0700, and this runs as uid ${nobody} (run as its owner, or set KOI_DIR to a directory of yours)\n`;
    const reach =
      `cannot reach KOI_DIR ${dir}/inner: a directory above it may not be entered by uid ${nobody}\n`;
    assertEquals(results, [
      { code: 1, stdout: "", stderr: `koid: ${enter}` },
      { code: 1, stdout: "", stderr: `koitab: ${enter}` },
      { code: 1, stdout: "", stderr: `koid: ${reach}` },
      { code: 1, stdout: "", stderr: `koitab: ${reach}` },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
