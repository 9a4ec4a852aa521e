import { assert, assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { deriveKeys } from "../lib/protocol/keys.ts";
import { readLines } from "../tools/lines.ts";
import { DEMO_KOITAB, LISTENING, watchLines } from "../tools/start.ts";

const root = new URL("../", import.meta.url);
const task = (JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
  tasks: Record<string, string>;
}).tasks.start!;
const flags = task.split(/\s+/).filter((word) => word.startsWith("--"));

/** Reads lines from a stream until `done` returns a value for one of them. */
async function readUntil<T>(
  lines: AsyncIterator<string>,
  done: (line: string) => T | undefined,
  what: string,
): Promise<T> {
  while (true) {
    const next = await lines.next();
    if (next.done) break;
    const value = done(next.value);
    if (value !== undefined) return value;
  }
  throw new Error(`deno task start never printed ${what}`);
}

/** Starts `tools/start.ts` with the start task's flags in `cwd`, its stderr collected. */
function startDemo(cwd: string, port: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL("tools/start.ts", root).pathname],
    cwd,
    env: { NO_COLOR: "1", KOI_DEMO_PORT: port },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const draining = (async () => {
    for await (const line of readLines(child.stderr)) stderr.push(line);
  })();
  return { child, stderr, draining };
}

/** A stream that gives each chunk after `delayMs`, as a slow child writes. */
function slowStream(chunks: string[], delayMs: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const chunk = chunks.shift();
      if (chunk === undefined) controller.close();
      else controller.enqueue(encoder.encode(chunk));
    },
  });
}

Deno.test("watchLines() echoes every line of a slow stream and finds the listening line", async () => {
  const echoed: string[] = [];
  const watch = watchLines(
    slowStream([
      "dashboard: opening the store\n",
      "dashboard: listen",
      "ing on http://127.0.0.1:8080\n",
      "later\n",
    ], 400),
    LISTENING,
    (line) => echoed.push(line),
  );
  assertEquals((await watch.match)?.[1], "http://127.0.0.1:8080");
  assertEquals(echoed, [
    "dashboard: opening the store",
    "dashboard: listening on http://127.0.0.1:8080",
  ]);
  // It goes on echoing after the match, to the stream's end.
  await new Promise((resolve) => setTimeout(resolve, 900));
  assertEquals(echoed.at(-1), "later");
  assertEquals(watch.lines.length, 3);
});

Deno.test("watchLines() gives null when the stream ends without the line", async () => {
  const watch = watchLines(slowStream(["dashboard: cannot listen\n"], 10), LISTENING, () => {});
  assertEquals(await watch.match, null);
  assertEquals(watch.lines, ["dashboard: cannot listen"]);
});

Deno.test("the demo's manual job succeeds with its bool unchecked, and shows the emoji with it checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_demo_job_" });
  try {
    await Deno.writeTextFile(`${dir}/koitab`, DEMO_KOITAB, { mode: 0o600 });
    const env = { KOI_DIR: dir };
    const plain = await runEntry("koitab", ["run", "Say Hi", "--arg", "To Handle=you"], { env });
    assertEquals(plain, { code: 0, stdout: "Hi you, waiting 0 seconds\n", stderr: "" });
    const emoji = await runEntry(
      "koitab",
      ["run", "Say Hi", "--arg", "To Handle=you", "--arg", "Emoji 😃=true"],
      { env },
    );
    assertEquals(emoji, { code: 0, stdout: "Hi you, waiting 0 seconds\n😃\n", stderr: "" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start runs a dashboard, a demo koitab and koid, prints the URL and password, and stops on Ctrl-C", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "koi_start_" });
  const { child, stderr, draining } = startDemo(cwd, "0");
  try {
    const stdout = readLines(child.stdout);
    const url = await readUntil(stdout, (l) => /Dashboard:\s+(\S+)/.exec(l)?.[1], "the URL");
    const password = await readUntil(stdout, (l) => /Password:\s+(\S+)/.exec(l)?.[1], "a password");
    const tries: string[] = [];
    let line = await readUntil(stdout, (l) => /^\s+Try:\s+(.*)$/.exec(l)?.[1], "a Try line");
    while (line !== "") {
      tries.push(line.trim());
      line = (await stdout.next()).value ?? "";
    }
    const match = /^(http:\/\/127\.0\.0\.1:[0-9]+)\/d\/([A-Za-z0-9_-]{22})$/.exec(url);
    assert(match, url);
    const [, server, id] = match;
    // The printed password opens the dashboard, and koid has reported the demo jobs to it.
    const { apiKey } = await deriveKeys(password, id!);
    const headers = { authorization: `Bearer ${apiKey}` };
    let names: string[] = [];
    for (let i = 0; i < 100 && names.length < 3; i++) {
      const response = await fetch(`${server}/api/d/${id}/jobs`, { headers });
      assertEquals(response.status, 200);
      names = ((await response.json()).jobs as { name: string; host: string }[])
        .map((job) => `${job.host}/${job.name}`);
      if (names.length < 3) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assertEquals(names.toSorted(), ["demo/Every minute", "demo/Fails", "demo/Say Hi"]);
    // Everything lives in .koi-demo under the current directory; what holds history or
    // secrets is 0600, SQLite's -wal and -shm files too.
    const entries = [];
    for await (const entry of Deno.readDir(cwd)) entries.push(entry.name);
    assertEquals(entries, [".koi-demo"]);
    const koitab = await Deno.readTextFile(`${cwd}/.koi-demo/koi/koitab`);
    assert(koitab.includes('"Say Hi" @manual'), koitab);
    for (
      const file of [
        "koi/koitab",
        "koi/runkey",
        "koi/datakey",
        "koi/apikey",
        "koi/dashboard.json",
        "koi/history.db",
        "koi/history.db-wal",
        "koi/history.db-shm",
        "dashboard.db",
        "dashboard.db-wal",
        "dashboard.db-shm",
      ]
    ) {
      assertEquals((await Deno.stat(`${cwd}/.koi-demo/${file}`)).mode! & 0o777, 0o600, file);
    }
    // Each command the demo suggests succeeds.
    assertEquals(tries.length, 2, tries.join("\n"));
    const path = `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH")}`;
    for (const command of tries) {
      const result = await new Deno.Command("/bin/sh", {
        args: ["-c", command],
        cwd: root.pathname,
        env: { PATH: path, NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const out = new TextDecoder().decode(result.stdout);
      assertEquals(result.code, 0, `${command}\n${out}${new TextDecoder().decode(result.stderr)}`);
      if (command.includes("-d run")) assertEquals(out, "Hi you, waiting 0 seconds\n😃\n");
      else assert(out.includes("Every minute"), out);
    }

    child.kill("SIGINT");
    const status = await child.status;
    await draining;
    assertEquals(status.code, 0, stderr.join("\n"));
    assert(stderr.some((line) => line === "koid: stopped"), stderr.join("\n"));
  } finally {
    try {
      // start stops koid and the dashboard, which hold its stderr open, before it ends.
      child.kill("SIGTERM");
    } catch {
      // Already stopped.
    }
    await child.status;
    await draining.catch(() => {});
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("deno task start on a port in use says so, how to choose another, and leaves nothing behind", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "koi_start_busy_" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  try {
    const { child, stderr, draining } = startDemo(cwd, String(port));
    const status = await child.status;
    await draining;
    await child.stdout.cancel();
    assertEquals(status.code, 1, stderr.join("\n"));
    assertEquals(
      stderr.at(-1),
      `start: port ${port} is taken by another program: stop it, or choose another port, e.g. KOI_DEMO_PORT=${
        port + 1
      } deno task start`,
    );
    assert(
      stderr.includes(
        `dashboard: cannot listen on 127.0.0.1:${port}: the port is in use by another program (stop it, or choose another with --port)`,
      ),
      stderr.join("\n"),
    );
    assertEquals(await Array.fromAsync(Deno.readDir(cwd)), []);
  } finally {
    taken.close();
    await Deno.remove(cwd, { recursive: true });
  }
});
