import { assert, assertEquals } from "./_assert.ts";
import { deriveKeys } from "../lib/keys.ts";

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
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const next = await lines.next();
    if (next.done) break;
    const value = done(next.value);
    if (value !== undefined) return value;
  }
  throw new Error(`deno task start never printed ${what}`);
}

async function* splitLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}

Deno.test("deno task start runs a dashboard, a demo koitab and koid, prints the URL and password, and stops on Ctrl-C", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "koi_start_" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL("tools/start.ts", root).pathname],
    cwd,
    env: { NO_COLOR: "1", KOI_DEMO_PORT: "0" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const draining = (async () => {
    for await (const line of splitLines(child.stderr)) stderr.push(line);
  })();
  try {
    const stdout = splitLines(child.stdout);
    const url = await readUntil(stdout, (l) => /Dashboard:\s+(\S+)/.exec(l)?.[1], "the URL");
    const password = await readUntil(stdout, (l) => /Password:\s+(\S+)/.exec(l)?.[1], "a password");
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
    // Everything lives in .koi-demo under the current directory.
    const entries = [];
    for await (const entry of Deno.readDir(cwd)) entries.push(entry.name);
    assertEquals(entries, [".koi-demo"]);
    const koitab = await Deno.readTextFile(`${cwd}/.koi-demo/koi/koitab`);
    assert(koitab.includes('"Say Hi" @manual'), koitab);
    assertEquals((await Deno.stat(`${cwd}/.koi-demo/koi/runkey`)).mode! & 0o777, 0o600);

    child.kill("SIGINT");
    const status = await child.status;
    await draining;
    assertEquals(status.code, 0, stderr.join("\n"));
    assert(stderr.some((line) => line === "koid: stopped"), stderr.join("\n"));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already stopped.
    }
    await child.status;
    await draining.catch(() => {});
    await Deno.remove(cwd, { recursive: true });
  }
});
