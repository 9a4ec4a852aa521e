/**
 * A small browser driver for Koi's end-to-end tests, with no dependencies: it starts
 * Chromium headless (Debian's `/usr/bin/chromium`, or `$CHROMIUM`) on a fresh profile
 * and drives it over the Chrome DevTools Protocol with Deno's own `WebSocket`.
 *
 * Every DevTools call has a timeout, and a browser or page that dies fails the call
 * at once with a {@link BrowserError} that says so, so a test fails rather than hangs.
 * Disposing the browser ends every process it started and removes its profile.
 *
 * @example A test of a page
 * ```ts ignore
 * await using browser = await Browser.launch({ timeoutMs: 10_000 });
 * const page = browser.page;
 * await page.goto(`${server.url}/`);
 * await page.waitFor("#jobs tr");
 * await page.type("#search", "backup");
 * await page.press("Enter");
 * assertEquals(await page.text("#count"), "1 job");
 * await page.screenshot("artifacts/jobs.png", { width: 1280, height: 800 });
 * assertEquals(page.errors(), []);
 * assertEquals(page.requests().filter((r) => !isLoopbackUrl(r.url)), []);
 * ```
 *
 * Made for Linux (Debian's Chromium). Where `ps` is installed, it also makes sure no process
 * of Chromium's outlives it (they end with it in any case).
 *
 * @module
 */

/** The default bound on start-up and on each DevTools call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** The default bound on {@link Page.waitFor} and on the waits actions make, in milliseconds. */
export const DEFAULT_WAIT_MS = 5_000;
/** How often waits poll the page, in milliseconds. */
const POLL_MS = 50;

/** The flags every browser starts with (besides its profile and window size). */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--disable-extensions",
  "--mute-audio",
  "--remote-debugging-port=0",
];

/** A failure of the browser, a page, or a DevTools call, with a message that says which. */
export class BrowserError extends Error {
  /** @param message What failed. */
  constructor(message: string) {
    super(message);
    this.name = "BrowserError";
  }
}

/** Where Chromium is expected: `$CHROMIUM` if set, else `/usr/bin/chromium`. */
export function chromiumPath(): string {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("CHROMIUM");
  } catch {
    // No --allow-env: the default it is.
  }
  return fromEnv || "/usr/bin/chromium";
}

/** Whether an executable file is at {@link chromiumPath} (tests skip themselves when not). */
export function chromiumInstalled(): boolean {
  try {
    const info = Deno.statSync(chromiumPath());
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Whether a request's URL stays on this machine: `data:`, `blob:` and `about:` URLs, and
 * any scheme's URL to `127.0.0.1`, `localhost` or `[::1]`.
 *
 * @param url The URL a page requested.
 */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (["data:", "blob:", "about:"].includes(parsed.protocol)) return true;
  return ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
}

/**
 * The ids of the live processes whose command line names `profileDir` (every process of a
 * browser has its profile on its command line), as `ps` lists them; `null` if `ps` can't be
 * run (not installed, or not allowed).
 *
 * @param profileDir A browser's {@link Browser.profileDir}.
 */
export async function processesUsing(profileDir: string): Promise<number[] | null> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("ps", {
      args: ["-ww", "-eo", "pid=,args="],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch {
    return null;
  }
  if (!output.success) return null;
  const pids: number[] = [];
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    // A zombie's command line is gone, so only live processes match.
    if (match?.[1] !== undefined && match[2]?.includes(profileDir)) pids.push(Number(match[1]));
  }
  return pids;
}

/** Options of {@link Browser.launch}. */
export interface LaunchOptions {
  /** Bound on start-up and on each DevTools call, in ms (default {@link DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Default bound on waits, in ms (default {@link DEFAULT_WAIT_MS}). */
  waitMs?: number;
  /** The Chromium to run (default {@link chromiumPath}). */
  executable?: string;
  /** The window's size, which is each page's viewport until changed (default 1280×800). */
  width?: number;
  /** See {@link LaunchOptions.width}. */
  height?: number;
  /** More Chromium flags. */
  args?: string[];
}

/** A message a page logged: a `console.*` call, or one of the browser's own log entries. */
export interface ConsoleMessage {
  /**
   * `"console"` for `console.*` calls; otherwise where the browser's entry came from, as
   * DevTools' `Log.entryAdded` says: `"security"` (CSP violations), `"network"`,
   * `"javascript"`, `"violation"`, `"intervention"`, …
   */
  source: string;
  /** `console.*`'s method (`log`, `error`, `warning`, …), or the entry's level. */
  level: string;
  /** The message, its arguments joined by spaces. */
  text: string;
  /** The script or resource it came from, when known. */
  url?: string;
}

/** An exception nothing in the page caught. */
export interface PageException {
  /** The exception as DevTools describes it (message and stack). */
  text: string;
  /** The script it was thrown in, when known. */
  url?: string;
}

/** A request a page made. */
export interface PageRequest {
  url: string;
  method: string;
  /** The resource type: `Document`, `Script`, `Stylesheet`, `Fetch`, … */
  type?: string;
}

/** A dialog (`alert`, `confirm`, `prompt`, `beforeunload`) the page opened; all are accepted. */
export interface PageDialog {
  type: string;
  message: string;
}

/** Options of the waits. */
export interface WaitOptions {
  /** How long to wait, in ms (default: the browser's `waitMs`). */
  timeoutMs?: number;
}

/** Options of {@link Page.type}. */
export interface TypeOptions extends WaitOptions {
  /** Replace the field's value rather than add to its end. */
  clear?: boolean;
}

/** Options of {@link Page.screenshot}. */
export interface ScreenshotOptions {
  /** Sets the viewport first (it stays so); both or neither. */
  width?: number;
  /** See {@link ScreenshotOptions.width}. */
  height?: number;
}

// deno-lint-ignore no-explicit-any
type Json = any;

type EventHandler = (method: string, params: Json) => void;

interface Pending {
  what: string;
  sessionId: string | undefined;
  resolve(result: Json): void;
  reject(error: Error): void;
  timer: Timer;
}

type Timer = ReturnType<typeof setTimeout>;

/** `promise`'s value, or `fallback` if it takes more than `ms`. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: Timer | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abbreviate(text: string, max = 200): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One WebSocket to the browser, carrying the browser's calls and its pages' (flat sessions). */
class Connection {
  readonly #ws: WebSocket;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #sessions = new Map<string, EventHandler>();
  #nextId = 1;
  #failure: BrowserError | undefined;
  readonly closed: Promise<void>;
  /** Gets the events of the browser's own session. */
  onEvent: EventHandler = () => {};
  /** Told once when the connection fails, with why. */
  onFailure: (error: BrowserError) => void = () => {};
  /** Says why the socket closed when nobody closed it. */
  describeClose: () => Promise<string> = () =>
    Promise.resolve("the DevTools connection closed unexpectedly");

  private constructor(ws: WebSocket, timeoutMs: number) {
    this.#ws = ws;
    this.#timeoutMs = timeoutMs;
    ws.onmessage = (event) => this.#receive(event.data);
    this.closed = new Promise((resolve) => {
      ws.onclose = async () => {
        if (this.#failure === undefined) this.fail(new BrowserError(await this.describeClose()));
        resolve();
      };
    });
  }

  /** Opens the connection to `url`, within `timeoutMs`. */
  static open(url: string, timeoutMs: number): Promise<Connection> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.onopen = ws.onerror = null;
        ws.onclose = () =>
          reject(new BrowserError(`no DevTools connection within ${timeoutMs} ms`));
        ws.close();
      }, timeoutMs);
      ws.onerror = () => {
        clearTimeout(timer);
        ws.onclose = () => reject(new BrowserError(`could not connect to DevTools at ${url}`));
      };
      ws.onopen = () => {
        clearTimeout(timer);
        ws.onerror = null;
        resolve(new Connection(ws, timeoutMs));
      };
    });
  }

  /** Calls `method`, of the browser or (with `sessionId`) of a page; rejects after `timeoutMs`. */
  send(
    method: string,
    params: Json = {},
    sessionId?: string,
    timeoutMs = this.#timeoutMs,
    what = method,
  ): Promise<Json> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new BrowserError(`${what}: no answer from Chromium within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { what, sessionId, resolve, reject, timer });
      const message: Json = { id, method, params };
      if (sessionId !== undefined) message.sessionId = sessionId;
      try {
        this.#ws.send(JSON.stringify(message));
      } catch (error) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new BrowserError(`${what}: could not send: ${errorMessage(error)}`));
      }
    });
  }

  /** Routes a page session's events to `handler`. */
  onSession(sessionId: string, handler: EventHandler): void {
    this.#sessions.set(sessionId, handler);
  }

  /** Rejects the session's pending calls with `error`, and routes its events nowhere. */
  failSession(sessionId: string, error: BrowserError): void {
    this.#sessions.delete(sessionId);
    for (const [id, pending] of this.#pending) {
      if (pending.sessionId !== sessionId) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  /** Rejects every pending and later call with `error`. */
  fail(error: BrowserError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.onFailure(error);
  }

  /** Closes the socket, waiting at most `timeoutMs` for it to close. */
  async close(timeoutMs = 1_000): Promise<void> {
    this.fail(new BrowserError("the browser was closed"));
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    if (this.#ws.readyState !== WebSocket.CLOSING) this.#ws.close();
    await within(this.closed, timeoutMs, undefined);
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") return;
    let message: Json;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof message.id === "number") {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error) {
        const { message: text, data: detail } = message.error;
        pending.reject(new BrowserError(`${pending.what}: ${text}${detail ? ` (${detail})` : ""}`));
      } else {
        pending.resolve(message.result ?? {});
      }
    } else if (typeof message.method === "string") {
      const params = message.params ?? {};
      if (typeof message.sessionId === "string") {
        this.#sessions.get(message.sessionId)?.(message.method, params);
      } else {
        this.onEvent(message.method, params);
      }
    }
  }
}

/** The Chromium process: its stderr (read to the end, the last lines kept), exit and ending. */
class ChromiumProcess {
  readonly #child: Deno.ChildProcess;
  readonly profileDir: string;
  readonly #tail: string[] = [];
  readonly #pump: Promise<void>;
  #reader: ReadableStreamDefaultReader<string> | undefined;
  #endpoint: ((url: string) => void) | undefined;
  #endpointUrl: string | undefined;
  #status: Deno.CommandStatus | undefined;
  readonly exited: Promise<Deno.CommandStatus>;
  #shutdown: Promise<void> | undefined;

  constructor(child: Deno.ChildProcess, profileDir: string) {
    this.#child = child;
    this.profileDir = profileDir;
    this.exited = child.status.then((status) => this.#status = status);
    this.#pump = this.#readStderr(child.stderr);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The browser's DevTools WebSocket URL, from its `DevTools listening on` line. */
  async endpoint(timeoutMs: number): Promise<string> {
    let timer: Timer | undefined;
    try {
      return await Promise.race([
        new Promise<string>((resolve) => {
          if (this.#endpointUrl !== undefined) resolve(this.#endpointUrl);
          this.#endpoint = resolve;
        }),
        this.exited.then((status) => {
          throw new BrowserError(
            `Chromium exited at start-up (${describeStatus(status)})${this.tail()}`,
          );
        }),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () =>
              reject(
                new BrowserError(`Chromium did not start within ${timeoutMs} ms${this.tail()}`),
              ),
            timeoutMs,
          )
        ),
      ]);
    } finally {
      clearTimeout(timer);
      this.#endpoint = undefined;
    }
  }

  /** Why the DevTools connection closed, for the calls it fails. */
  async describeDeath(): Promise<string> {
    const status = await within(this.exited, 1_000, undefined);
    if (status === undefined) {
      return "the DevTools connection closed unexpectedly (Chromium is still running)";
    }
    return this.describeExit(status);
  }

  /** Says that Chromium exited, how, and its last words. */
  describeExit(status: Deno.CommandStatus): string {
    return `Chromium exited unexpectedly (${describeStatus(status)})${this.tail()}`;
  }

  /** The last lines Chromium wrote to stderr (less D-Bus noise), for error messages. */
  tail(): string {
    const lines = this.#tail
      .filter((line) => line.trim() !== "" && !/dbus|unexpected operator/i.test(line))
      .slice(-12);
    return lines.length === 0 ? "" : `; its last stderr lines:\n  ${lines.join("\n  ")}`;
  }

  /**
   * Ends Chromium (SIGTERM, then SIGKILL after 3 s) and every process of it, closes its
   * stderr and removes its profile. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<void> {
    if (this.#status === undefined) {
      this.#signal("SIGTERM");
      if (!await this.#exitWithin(3_000)) {
        this.#signal("SIGKILL");
        await this.exited;
      }
    }
    // Its children end when it does; whichever has not after 1.5 s gets SIGKILL.
    for (let waited = 0;; waited += 100) {
      const left = await processesUsing(this.profileDir);
      if (left === null || left.length === 0) break;
      if (waited >= 1_500) {
        for (const pid of left) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
      }
      if (waited >= 3_000) break;
      await sleep(100);
    }
    // Its stderr ends when the last process holding it does; don't wait long for that.
    if (!await within(this.#pump.then(() => true), 500, false)) {
      await this.#reader?.cancel().catch(() => {});
      await this.#pump;
    }
    await removeTree(this.profileDir);
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // It has exited already.
    }
  }

  async #exitWithin(ms: number): Promise<boolean> {
    return await within(this.exited.then(() => true), ms, false);
  }

  async #readStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    this.#reader = reader;
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
          this.#line(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      }
    } catch {
      // Cancelled at shutdown.
    }
    if (buffer) this.#line(buffer);
  }

  #line(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > 100) this.#tail.shift();
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(line);
    if (match?.[1] !== undefined && this.#endpointUrl === undefined) {
      this.#endpointUrl = match[1];
      this.#endpoint?.(match[1]);
    }
  }
}

function describeStatus(status: Deno.CommandStatus): string {
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

/** Removes `path` and what is in it, retrying while a process that just ended lets go of it. */
async function removeTree(path: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await Deno.remove(path, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
}

/** A headless Chromium with a fresh profile, and its pages. Dispose of it to end it. */
export class Browser implements AsyncDisposable {
  readonly #process: ChromiumProcess;
  readonly #connection: Connection;
  readonly #timeoutMs: number;
  readonly #waitMs: number;
  readonly #pages = new Map<string, Page>();
  #page: Page | undefined;
  #closing = false;

  private constructor(
    process: ChromiumProcess,
    connection: Connection,
    timeoutMs: number,
    waitMs: number,
  ) {
    this.#process = process;
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    this.#waitMs = waitMs;
    connection.onEvent = (method, params) => this.#browserEvent(method, params);
    // Whatever ends the browser fails every page's pending and later calls, and says why.
    connection.onFailure = (error) => {
      for (const page of this.#pages.values()) page.fail(error);
    };
    connection.describeClose = () =>
      this.#closing ? Promise.resolve("the browser was closed") : process.describeDeath();
    process.exited.then((status) => {
      if (!this.#closing) connection.fail(new BrowserError(process.describeExit(status)));
    });
  }

  /**
   * Starts Chromium headless on a fresh profile in a temporary directory (also its `HOME`,
   * so it writes nothing elsewhere), connects to it and opens {@link Browser.page}.
   *
   * @param options Timeouts, executable, window size, more flags.
   */
  static async launch(options: LaunchOptions = {}): Promise<Browser> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const executable = options.executable ?? chromiumPath();
    const profileDir = await Deno.makeTempDir({ prefix: "koi-chromium-" });
    const args = [
      ...FLAGS,
      `--user-data-dir=${profileDir}`,
      `--window-size=${options.width ?? 1280},${options.height ?? 800}`,
      ...(options.args ?? []),
      "about:blank",
    ];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(executable, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: {
          HOME: profileDir,
          XDG_CONFIG_HOME: `${profileDir}/.config`,
          XDG_CACHE_HOME: `${profileDir}/.cache`,
        },
      }).spawn();
    } catch (error) {
      await removeTree(profileDir);
      throw new BrowserError(`could not start ${executable}: ${errorMessage(error)}`);
    }
    const process = new ChromiumProcess(child, profileDir);
    let connection: Connection | undefined;
    try {
      const endpoint = await process.endpoint(timeoutMs);
      connection = await Connection.open(endpoint, timeoutMs);
      const browser = new Browser(
        process,
        connection,
        timeoutMs,
        options.waitMs ?? DEFAULT_WAIT_MS,
      );
      browser.#page = await browser.newPage();
      return browser;
    } catch (error) {
      await connection?.close();
      await process.shutdown();
      throw error;
    }
  }

  /** The page opened at launch. */
  get page(): Page {
    if (this.#page === undefined) throw new BrowserError("the browser has no page yet");
    return this.#page;
  }

  /** Chromium's process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** The temporary profile directory, removed when the browser is disposed of. */
  get profileDir(): string {
    return this.#process.profileDir;
  }

  /** Opens another page (tab), on `about:blank`, sharing the profile with the others. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#connection.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#connection.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.#connection, sessionId, targetId, this.#timeoutMs, this.#waitMs);
    this.#pages.set(sessionId, page);
    await page.start();
    return page;
  }

  /** Ends Chromium and all its processes, and removes its profile. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#connection.close();
    await this.#process.shutdown();
  }

  /** Same as {@link Browser.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #browserEvent(method: string, params: Json): void {
    if (method === "Target.detachedFromTarget") {
      const page = this.#pages.get(params.sessionId);
      this.#pages.delete(params.sessionId);
      page?.fail(new BrowserError("the page was closed"));
    }
  }
}

/** Keys {@link Page.press} knows: DOM key name → [code, key code, text it types]. */
const KEYS: Record<string, [string, number, string]> = {
  Enter: ["Enter", 13, "\r"],
  Tab: ["Tab", 9, ""],
  Escape: ["Escape", 27, ""],
  Backspace: ["Backspace", 8, ""],
  Delete: ["Delete", 46, ""],
  " ": ["Space", 32, " "],
  ArrowUp: ["ArrowUp", 38, ""],
  ArrowDown: ["ArrowDown", 40, ""],
  ArrowLeft: ["ArrowLeft", 37, ""],
  ArrowRight: ["ArrowRight", 39, ""],
  Home: ["Home", 36, ""],
  End: ["End", 35, ""],
};

/** A page (tab) of a {@link Browser}, and what it has logged, thrown and requested. */
export class Page {
  readonly #connection: Connection;
  readonly #sessionId: string;
  readonly #timeoutMs: number;
  readonly #waitMs: number;
  readonly #listeners = new Set<EventHandler>();
  readonly #console: ConsoleMessage[] = [];
  readonly #exceptions: PageException[] = [];
  readonly #requests: PageRequest[] = [];
  readonly #dialogs: PageDialog[] = [];
  #failure: BrowserError | undefined;
  /** The DevTools target id of the page. */
  readonly targetId: string;

  /** @internal Made by {@link Browser.newPage}. */
  constructor(
    connection: Connection,
    sessionId: string,
    targetId: string,
    timeoutMs: number,
    waitMs: number,
  ) {
    this.#connection = connection;
    this.#sessionId = sessionId;
    this.targetId = targetId;
    this.#timeoutMs = timeoutMs;
    this.#waitMs = waitMs;
    connection.onSession(sessionId, (method, params) => this.#event(method, params));
  }

  /** @internal Turns on the events the page collects. */
  async start(): Promise<void> {
    await Promise.all([
      this.cdp("Page.enable"),
      this.cdp("Page.setLifecycleEventsEnabled", { enabled: true }),
      this.cdp("Runtime.enable"),
      this.cdp("Log.enable"),
      this.cdp("Network.enable"),
      this.cdp("Inspector.enable"),
    ]);
  }

  /** @internal Fails the page's pending and later calls with `error`. */
  fail(error: BrowserError): void {
    this.#failure ??= error;
    this.#connection.failSession(this.#sessionId, this.#failure);
    for (const listener of this.#listeners) listener("", {});
  }

  /**
   * Calls a DevTools method of the page: the way to anything the other methods don't do.
   *
   * @param method The domain and method, e.g. `"Emulation.setEmulatedMedia"`.
   * @param params Its parameters.
   * @param timeoutMs Its bound (default: the browser's `timeoutMs`).
   * @returns Its result.
   */
  cdp(method: string, params: Json = {}, timeoutMs = this.#timeoutMs): Promise<Json> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return this.#connection.send(method, params, this.#sessionId, timeoutMs);
  }

  /**
   * Goes to `url` and waits for its `load` event (not for what its scripts fetch later:
   * {@link Page.waitFor} that).
   *
   * @param url Where to go.
   * @param options How long to wait for the load, in ms (default: the browser's `timeoutMs`).
   * @returns The HTTP status of the document (an error status does not throw), or `null`
   *   when there was no HTTP response (`about:`, `data:`, a same-document navigation).
   * @throws {BrowserError} If the navigation fails (say, connection refused) or times out.
   */
  async goto(url: string, options: WaitOptions = {}): Promise<number | null> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const what = `goto(${JSON.stringify(url)})`;
    const loaded = new Set<string>();
    const statuses = new Map<string, number>();
    const stop = this.#listen((method, params) => {
      if (method === "Page.lifecycleEvent" && params.name === "load") loaded.add(params.loaderId);
      if (method === "Network.responseReceived" && params.type === "Document") {
        statuses.set(params.loaderId, params.response?.status);
      }
    });
    try {
      const started = Date.now();
      const result = await this.cdp("Page.navigate", { url }, timeoutMs);
      if (result.errorText) throw new BrowserError(`${what} failed: ${result.errorText}`);
      const loaderId = result.loaderId;
      if (loaderId === undefined) return null; // A same-document navigation: nothing loads.
      await this.#until(
        () => loaded.has(loaderId),
        Math.max(0, timeoutMs - (Date.now() - started)),
        `${what}: no load event within ${timeoutMs} ms`,
      );
      return statuses.get(loaderId) ?? null;
    } finally {
      stop();
    }
  }

  /**
   * Evaluates a JavaScript expression in the page, awaiting it if it is a promise.
   * Embed values with `JSON.stringify`; functions of the test can't be passed.
   *
   * @param expression The expression.
   * @param options Its bound, in ms (default: the browser's `timeoutMs`).
   * @returns Its value, as JSON carries it (DOM nodes come back as `{}`).
   * @throws {BrowserError} With the exception's text, if it throws or rejects.
   */
  async evaluate<T = unknown>(expression: string, options: WaitOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const what = `evaluate(${JSON.stringify(abbreviate(expression, 80))})`;
    if (this.#failure !== undefined) throw this.#failure;
    const result = await this.#connection.send(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true, userGesture: true },
      this.#sessionId,
      timeoutMs,
      what,
    );
    if (result.exceptionDetails) {
      throw new BrowserError(`${what} threw: ${exceptionText(result.exceptionDetails)}`);
    }
    return result.result?.value as T;
  }

  /**
   * Waits until an element matches `selector`, polling every 50 ms.
   *
   * @param selector A CSS selector.
   * @param options How long to wait, in ms (default: the browser's `waitMs`).
   * @throws {BrowserError} Naming the selector, if none matches in time.
   */
  async waitFor(selector: string, options: WaitOptions = {}): Promise<void> {
    await this.#poll(
      `document.querySelector(${JSON.stringify(selector)}) !== null`,
      `an element matching ${JSON.stringify(selector)}`,
      options.timeoutMs ?? this.#waitMs,
    );
  }

  /**
   * Waits until a JavaScript expression is truthy, polling every 50 ms; errors it throws
   * meanwhile (say, while the page reloads) count as not yet.
   *
   * @param expression The condition, e.g. `document.title === "Koi"`.
   * @param options How long to wait, in ms (default: the browser's `waitMs`).
   * @returns The expression's truthy value.
   * @throws {BrowserError} Naming the expression (and its last error), if not in time.
   */
  waitForFunction<T = unknown>(expression: string, options: WaitOptions = {}): Promise<T> {
    return this.#poll<T>(
      expression,
      JSON.stringify(abbreviate(expression, 120)),
      options.timeoutMs ?? this.#waitMs,
    );
  }

  /**
   * Clicks the middle of the element matching `selector` with the mouse, as a user does
   * (scrolled into view first), once it exists.
   *
   * @param selector A CSS selector.
   * @param options How long to wait for the element, in ms.
   * @throws {BrowserError} If there is no such element, or it is hidden, disabled or covered.
   */
  async click(selector: string, options: WaitOptions = {}): Promise<void> {
    const point = await this.#onElement<{ x: number; y: number }>(
      "click",
      selector,
      `
      el.scrollIntoView({ block: "center", inline: "center" });
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return { error: "it has no size (is it hidden?)" };
      if (el.matches(":disabled")) return { error: "it is disabled" };
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const hit = document.elementFromPoint(x, y);
      if (hit !== null && hit !== el && !el.contains(hit)) {
        return { error: "it is covered by " + hit.outerHTML.slice(0, 120) };
      }
      return { value: { x, y } };`,
      options,
    );
    const at = { x: point.x, y: point.y };
    await this.cdp("Input.dispatchMouseEvent", { type: "mouseMoved", ...at });
    const press = { ...at, button: "left", clickCount: 1 };
    await this.cdp("Input.dispatchMouseEvent", { type: "mousePressed", buttons: 1, ...press });
    await this.cdp("Input.dispatchMouseEvent", { type: "mouseReleased", buttons: 0, ...press });
  }

  /**
   * Types `text` into the field matching `selector`, once it exists: focuses it, inserts the
   * text as the keyboard would (which fires `input`), then fires `change`.
   *
   * @param selector A CSS selector of an input, a textarea or an editable element.
   * @param text What to type.
   * @param options `clear` to replace the value rather than add to it; how long to wait.
   */
  async type(selector: string, text: string, options: TypeOptions = {}): Promise<void> {
    await this.#onElement<true>(
      "type",
      selector,
      `
      el.focus();
      if (document.activeElement !== el) return { error: "it cannot take the focus" };
      if (${options.clear === true}) {
        if ("value" in el) el.value = ""; else el.textContent = "";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      }
      if ("value" in el) {
        try { el.setSelectionRange(el.value.length, el.value.length); } catch {}
      }
      return { value: true };`,
      options,
    );
    if (text !== "") await this.cdp("Input.insertText", { text });
    await this.evaluate(
      `document.querySelector(${
        JSON.stringify(selector)
      })?.dispatchEvent(new Event("change", { bubbles: true }))`,
    );
  }

  /**
   * Checks or unchecks the checkbox (or checks the radio button) matching `selector`, once it
   * exists, by clicking it if it isn't so already (which fires `click`, `input`, `change`).
   *
   * @param selector A CSS selector of a checkbox or radio button.
   * @param checked Whether it should be checked.
   * @param options How long to wait for the element, in ms.
   * @throws {BrowserError} If it doesn't end up so (a radio button can't be unchecked).
   */
  async setChecked(selector: string, checked: boolean, options: WaitOptions = {}): Promise<void> {
    await this.#onElement<true>(
      "setChecked",
      selector,
      `
      if (!("checked" in el)) return { error: "it is not a checkbox or radio button" };
      if (el.checked !== ${checked}) el.click();
      if (el.checked !== ${checked}) return { error: "it is still ${
        checked ? "unchecked" : "checked"
      } after a click" };
      return { value: true };`,
      options,
    );
  }

  /**
   * The `textContent` of the element matching `selector`, once it exists.
   *
   * @param selector A CSS selector.
   * @param options How long to wait for the element, in ms.
   */
  text(selector: string, options: WaitOptions = {}): Promise<string> {
    return this.#onElement("text", selector, `return { value: el.textContent ?? "" };`, options);
  }

  /**
   * The `value` of the form field matching `selector`, once it exists.
   *
   * @param selector A CSS selector.
   * @param options How long to wait for the element, in ms.
   */
  value(selector: string, options: WaitOptions = {}): Promise<string> {
    return this.#onElement(
      "value",
      selector,
      `return "value" in el ? { value: String(el.value) } : { error: "it has no value" };`,
      options,
    );
  }

  /**
   * Presses and releases a key in the focused element: `Enter`, `Tab`, `Escape`, `Backspace`,
   * `Delete`, `" "`, the arrows, `Home`, `End`.
   *
   * @param key The key's DOM name.
   */
  async press(key: string): Promise<void> {
    const known = KEYS[key];
    if (known === undefined) {
      throw new BrowserError(
        `press(${JSON.stringify(key)}): unknown key; known: ${Object.keys(KEYS).join(", ")}`,
      );
    }
    const [code, keyCode, text] = known;
    const common = { key, code, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode };
    await this.cdp("Input.dispatchKeyEvent", {
      type: text ? "keyDown" : "rawKeyDown",
      ...common,
      ...(text ? { text, unmodifiedText: text } : {}),
    });
    await this.cdp("Input.dispatchKeyEvent", { type: "keyUp", ...common });
  }

  /**
   * Sets the viewport (it stays so) and waits for the page to lay itself out again.
   *
   * @param width CSS pixels.
   * @param height CSS pixels.
   * @param mobile Emulate a phone: the meta viewport is honoured and touch is on.
   */
  async setViewport(width: number, height: number, mobile = false): Promise<void> {
    await this.cdp("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile,
    });
    await this.cdp("Emulation.setTouchEmulationEnabled", { enabled: mobile });
    await this.#nextFrames();
  }

  /**
   * Saves a PNG of the viewport to `path`, its directory made if need be.
   *
   * @param path Where to write it.
   * @param options The viewport to set first, in CSS pixels (one pixel each).
   * @returns The PNG's bytes.
   */
  async screenshot(path: string, options: ScreenshotOptions = {}): Promise<Uint8Array> {
    if (options.width !== undefined && options.height !== undefined) {
      await this.setViewport(options.width, options.height);
    } else if (options.width !== undefined || options.height !== undefined) {
      throw new BrowserError("screenshot: give both width and height, or neither");
    }
    await this.#nextFrames();
    const { data } = await this.cdp("Page.captureScreenshot", { format: "png" });
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
    await Deno.writeFile(path, bytes);
    return bytes;
  }

  /** Closes the page. */
  async close(): Promise<void> {
    await this.#connection.send("Target.closeTarget", { targetId: this.targetId });
    this.fail(new BrowserError("the page was closed"));
  }

  /**
   * What the page has logged so far: its `console.*` calls and the browser's own entries
   * about it (CSP violations, failed loads, interventions, …).
   */
  consoleMessages(): ConsoleMessage[] {
    return this.#console.map((message) => ({ ...message }));
  }

  /** The exceptions the page's scripts threw and nothing caught, so far. */
  exceptions(): PageException[] {
    return this.#exceptions.map((exception) => ({ ...exception }));
  }

  /** The requests the page has made so far (its own and its scripts'), in order. */
  requests(): PageRequest[] {
    return this.#requests.map((request) => ({ ...request }));
  }

  /** The dialogs the page has opened so far (each was accepted). */
  dialogs(): PageDialog[] {
    return this.#dialogs.map((dialog) => ({ ...dialog }));
  }

  /**
   * Everything that went wrong so far, one line each: uncaught exceptions, `console.error`
   * calls and the browser's error entries (CSP violations, failed loads). A page that works
   * has none: `assertEquals(page.errors(), [])`.
   */
  errors(): string[] {
    return [
      ...this.#exceptions.map((exception) => `exception: ${exception.text}`),
      ...this.#console
        .filter((message) => message.level === "error")
        .map((message) =>
          `${message.source} error: ${message.text}${message.url ? ` (${message.url})` : ""}`
        ),
    ];
  }

  #event(method: string, params: Json): void {
    switch (method) {
      case "Runtime.consoleAPICalled": {
        const frame = params.stackTrace?.callFrames?.[0];
        this.#console.push({
          source: "console",
          level: params.type,
          text: (params.args ?? []).map(remoteText).join(" "),
          ...(frame?.url ? { url: frame.url } : {}),
        });
        break;
      }
      case "Log.entryAdded": {
        const entry = params.entry ?? {};
        this.#console.push({
          source: entry.source ?? "other",
          level: entry.level ?? "info",
          text: entry.text ?? "",
          ...(entry.url ? { url: entry.url } : {}),
        });
        break;
      }
      case "Runtime.exceptionThrown": {
        const details = params.exceptionDetails ?? {};
        this.#exceptions.push({
          text: exceptionText(details),
          ...(details.url ? { url: details.url } : {}),
        });
        break;
      }
      case "Network.requestWillBeSent":
        this.#requests.push({
          url: params.request?.url ?? "",
          method: params.request?.method ?? "GET",
          ...(params.type ? { type: params.type } : {}),
        });
        break;
      case "Page.javascriptDialogOpening":
        this.#dialogs.push({ type: params.type, message: params.message });
        this.cdp("Page.handleJavaScriptDialog", { accept: true }).catch(() => {});
        break;
      case "Inspector.targetCrashed":
        this.fail(new BrowserError("the page crashed (its renderer process died)"));
        break;
      case "Inspector.detached":
        this.fail(
          new BrowserError(`the page was detached (${params.reason ?? "no reason given"})`),
        );
        break;
    }
    for (const listener of this.#listeners) listener(method, params);
  }

  #listen(listener: EventHandler): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when `check()` holds after some event, rejects with `message` after `timeoutMs`. */
  #until(check: () => boolean, timeoutMs: number, message: string): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let stop = () => {};
      const timer = setTimeout(() => {
        stop();
        reject(new BrowserError(message));
      }, timeoutMs);
      stop = this.#listen(() => {
        if (this.#failure !== undefined) {
          stop();
          clearTimeout(timer);
          reject(this.#failure);
        } else if (check()) {
          stop();
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** Evaluates `expression` every 50 ms until truthy; the page dying ends it at once. */
  async #poll<T>(expression: string, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "";
    for (;;) {
      const left = deadline - Date.now();
      try {
        const value = await this.evaluate<T>(expression, {
          timeoutMs: Math.max(1, Math.min(left, this.#timeoutMs)),
        });
        if (value) return value;
        lastError = "";
      } catch (error) {
        if (this.#failure !== undefined) throw error;
        lastError = errorMessage(error);
      }
      if (Date.now() + POLL_MS > deadline) {
        const after = lastError ? `; the last try failed: ${lastError}` : "";
        throw new BrowserError(`waited ${timeoutMs} ms for ${what} in vain${after}`);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Waits for an element matching `selector`, then runs `body` (which sees it as `el`, and
   * returns `{ value }` or `{ error }`) in the page.
   */
  async #onElement<T>(
    action: string,
    selector: string,
    body: string,
    options: WaitOptions,
  ): Promise<T> {
    const what = `${action}(${JSON.stringify(selector)})`;
    try {
      await this.waitFor(selector, options);
    } catch (error) {
      if (!(error instanceof BrowserError) || this.#failure !== undefined) throw error;
      throw new BrowserError(`${what}: ${error.message}`);
    }
    const outcome = await this.evaluate<{ value?: T; error?: string }>(
      `(() => {
        const el = document.querySelector(${JSON.stringify(selector)});
        if (el === null) return { error: "the element went away" };
        ${body}
      })()`,
    );
    if (outcome.error !== undefined) throw new BrowserError(`${what}: ${outcome.error}`);
    return outcome.value as T;
  }

  /** Waits for two animation frames, so layout and paint have caught up. */
  async #nextFrames(): Promise<void> {
    await this.evaluate(
      "new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))",
    );
  }
}

/** A console argument as text: strings as they are, the rest as DevTools describes them. */
function remoteText(arg: Json): string {
  if (arg.type === "string") return arg.value;
  if (arg.unserializableValue !== undefined) return arg.unserializableValue;
  if (arg.description !== undefined) return arg.description;
  if ("value" in arg) return JSON.stringify(arg.value);
  return arg.type;
}

/** An exception's message and stack, or DevTools' summary of it. */
function exceptionText(details: Json): string {
  return details.exception?.description ?? details.exception?.value ?? details.text ??
    "an exception";
}

/**
 * Waits until the first element matching `selector` has `text` in its text; else fails
 * saying what it had.
 *
 * @param page The page.
 * @param selector Which element.
 * @param text The text to wait for.
 * @param timeoutMs How long to wait.
 */
export async function waitForText(
  page: Page,
  selector: string,
  text: string,
  timeoutMs = 10_000,
): Promise<void> {
  const query = `document.querySelector(${JSON.stringify(selector)})?.textContent`;
  try {
    await page.waitForFunction(`${query}?.includes(${JSON.stringify(text)})`, { timeoutMs });
  } catch (error) {
    const found = await page.evaluate(query).catch(() => "(the page is gone)");
    throw new Error(`${selector} never said "${text}"; it says ${JSON.stringify(found)}`, {
      cause: error,
    });
  }
}

/**
 * The text of the first element matching `selector`, without screen-reader-only text.
 *
 * @param page The page.
 * @param selector A CSS selector.
 * @returns The text, or null when nothing matches.
 */
export function visibleText(page: Page, selector: string): Promise<string | null> {
  return page.evaluate(`(() => {
    const element = document.querySelector(${JSON.stringify(selector)});
    if (element === null) return null;
    const copy = element.cloneNode(true);
    copy.querySelectorAll(".sr-only").forEach((hidden) => hidden.remove());
    return copy.textContent;
  })()`);
}
