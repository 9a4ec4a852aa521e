/**
 * The dashboard's web page as HTTP responses: its two HTML documents, and the
 * files they load from `ui/` (scripts, stylesheet, icon) and `protocol/`. The
 * dashboard server serves them, and so does `koitab -d open` from the local
 * installation, so that a server never delivers the code that sees the
 * password. Everything is static: the page reads the dashboard id from its
 * address and all data through the API (same-origin `/api/`), and holds no
 * inline script or style, so the strict Content-Security-Policy of
 * {@linkcode htmlResponse} applies unweakened.
 *
 * The page's files are `lib/ui/` and the browser-side half of the contract in
 * `lib/protocol/` (key derivation, signing and the encryption envelope), read
 * with `Deno.readFile` from there, so a compiled executable needs them included
 * (`deno compile --include lib/ui --include lib/protocol`).
 *
 * @module
 */

import { VERSION } from "../version.ts";

/**
 * The Content-Security-Policy of every HTML page: nothing unless allowed; scripts,
 * styles and calls from this origin only, never inline; no framing, no plugins.
 */
export const CONTENT_SECURITY_POLICY: string = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/style.css">`;

const BRAND =
  `<a class="brand" href="#/"><img src="/ui/favicon.svg" alt="" width="28" height="28"><span>Koi</span></a>`;

/**
 * `ui/start.js` and the modules it imports: what the page needs first, to find
 * the kept keys and send the first call for the jobs.
 */
export const START_MODULES: readonly string[] = [
  "/ui/start.js",
  "/ui/request.js",
  "/ui/session.js",
  "/protocol/signing.js",
  "/protocol/envelope.js",
];

/**
 * Every module of the dashboard page: {@linkcode START_MODULES} first, then
 * `ui/app.js` and the rest of what it imports. The page names them all at once
 * (`<link rel="modulepreload">`), so that the browser fetches them side by side
 * instead of finding each import only once the module above it has come; the
 * app's at a low priority (`fetchpriority="low"`), so that the worker started by
 * `ui/early_worker.js`, `start.js` and the first call for the jobs go ahead of
 * them on the browser's few connections to the server.
 * `tests/dashboard_page_start_test.ts` checks the lists against the modules'
 * imports.
 */
export const PAGE_MODULES: readonly string[] = [
  ...START_MODULES,
  "/ui/app.js",
  "/ui/alerts.js",
  "/ui/api.js",
  "/ui/dom.js",
  "/ui/format.js",
  "/ui/job.js",
  "/ui/jobs.js",
  "/ui/jobs_feed.js",
  "/ui/mutes.js",
  "/ui/run.js",
  "/protocol/sealed.js",
  "/protocol/arg_types.js",
  "/protocol/job_kind.js",
  "/protocol/job_order.js",
  "/ui/poll.js",
  "/ui/window.js",
  "/ui/manual.js",
  "/ui/plot.js",
  "/ui/commands.js",
  "/ui/output.js",
  "/ui/ansi.js",
];

/**
 * The dashboard page, at `/d/{id}`: `ui/early_worker.js` starts the worker for
 * the first call, `ui/start.js` runs next (it finds the kept keys and asks for
 * the jobs while the rest loads), then the app in `ui/app.js` fills `<main>`.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>Koi dashboard</title>
<script async src="/ui/early_worker.js"></script>
${
  PAGE_MODULES.map((path) =>
    `<link rel="modulepreload" href="${path}"${
      START_MODULES.includes(path) ? "" : ' fetchpriority="low"'
    }>`
  ).join("\n")
}
<script type="module" async src="/ui/start.js"></script>
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<a class="skip-link" id="skip-link" href="#main">Skip to content</a>
<header class="topbar">
<div class="topbar-inner">
${BRAND}
<div class="session" id="session"></div>
</div>
</header>
<div class="notice-bar" id="notice" role="status"></div>
<p class="zone-note" id="zone-note" hidden></p>
<main id="main" tabindex="-1">
<p class="muted">Loading…</p>
<noscript><p>The dashboard page needs JavaScript: its keys are derived and its requests signed in the browser.</p></noscript>
</main>
<footer class="footer">Koi ${VERSION}</footer>
</body>
</html>
`;

/** The page at `/`: where the dashboards are. */
export const HOME_PAGE = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>Koi dashboard server</title>
</head>
<body>
<header class="topbar">
<div class="topbar-inner">
${BRAND.replace('href="#/"', 'href="/"')}
</div>
</header>
<main id="main">
<section class="card home">
<h1>Koi dashboard server</h1>
<p>Each dashboard has its own address, <code>/d/ID</code>. <code>koitab -d new</code> prints it when it creates a dashboard, and <code>koitab -d</code> shows it on every linked machine.</p>
</section>
</main>
<footer class="footer">Koi ${VERSION}</footer>
</body>
</html>
`;

/**
 * An HTML page, with the strict {@linkcode CONTENT_SECURITY_POLICY}.
 *
 * @param html The page.
 * @returns The response.
 */
export function htmlResponse(html: string): Response {
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}

/**
 * The dashboard page's response.
 *
 * @returns The page, with the security headers of every HTML response.
 */
export function dashboardPage(): Response {
  return htmlResponse(DASHBOARD_PAGE);
}

/**
 * The home page's response.
 *
 * @returns The page, with the security headers of every HTML response.
 */
export function homePage(): Response {
  return htmlResponse(HOME_PAGE);
}

/**
 * The files the server serves under `/ui/` (from `lib/ui/`), and their types.
 * Nothing else of `lib/ui/` is served.
 */
export const UI_FILES: Readonly<Record<string, string>> = {
  "alerts.js": "text/javascript; charset=utf-8",
  "ansi.js": "text/javascript; charset=utf-8",
  "api.js": "text/javascript; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "call_worker.js": "text/javascript; charset=utf-8",
  "early_worker.js": "text/javascript; charset=utf-8",
  "commands.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "format.js": "text/javascript; charset=utf-8",
  "job.js": "text/javascript; charset=utf-8",
  "jobs.js": "text/javascript; charset=utf-8",
  "jobs_feed.js": "text/javascript; charset=utf-8",
  "manual.js": "text/javascript; charset=utf-8",
  "mutes.js": "text/javascript; charset=utf-8",
  "output.js": "text/javascript; charset=utf-8",
  "plot.js": "text/javascript; charset=utf-8",
  "poll.js": "text/javascript; charset=utf-8",
  "request.js": "text/javascript; charset=utf-8",
  "run.js": "text/javascript; charset=utf-8",
  "session.js": "text/javascript; charset=utf-8",
  "start.js": "text/javascript; charset=utf-8",
  "window.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};

/**
 * The files the server serves under `/protocol/` (from `lib/protocol/`): the
 * modules the page shares with Koi's own commands. Nothing else of it is served.
 */
export const PROTOCOL_FILES: Readonly<Record<string, string>> = {
  "arg_types.js": "text/javascript; charset=utf-8",
  "envelope.js": "text/javascript; charset=utf-8",
  "job_kind.js": "text/javascript; charset=utf-8",
  "job_order.js": "text/javascript; charset=utf-8",
  "sealed.js": "text/javascript; charset=utf-8",
  "signing.js": "text/javascript; charset=utf-8",
};

/** The folders the page is served from, each with its files. */
const FOLDERS = { ui: UI_FILES, protocol: PROTOCOL_FILES } as const;

/** A folder the page's files are served from. */
export type PageFolder = keyof typeof FOLDERS;

/**
 * The page file a request path names, `/ui/NAME` or `/protocol/NAME`, or null
 * for any other path. The name may still be one not served
 * ({@linkcode pageFileResponse} answers 404 for it).
 *
 * @param pathname The request's path, as it came.
 * @returns The folder and the name, or null.
 *
 * @example
 * ```ts
 * import { pageFilePath } from "./page.ts";
 *
 * const file = pageFilePath("/protocol/signing.js");
 * if (file?.folder !== "protocol" || file.name !== "signing.js") throw new Error("file");
 * if (pageFilePath("/api/d/x") !== null || pageFilePath("/ui/a/b.js") !== null) {
 *   throw new Error("not a file");
 * }
 * ```
 */
export function pageFilePath(pathname: string): { folder: PageFolder; name: string } | null {
  const match = /^\/(ui|protocol)\/([^/]+)$/.exec(pathname);
  return match === null ? null : { folder: match[1] as PageFolder, name: match[2]! };
}

interface LoadedFile {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly etag: string;
}

const loaded = new Map<string, Promise<LoadedFile>>();

async function load(path: string): Promise<LoadedFile> {
  const bytes = await Deno.readFile(new URL(`../${path}`, import.meta.url));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const etag = `"${
    Array.from(hash.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("")
  }"`;
  return { bytes, etag };
}

/**
 * A file of the page, read once and kept: 404 for any name not in the folder's
 * list ({@linkcode UI_FILES}, {@linkcode PROTOCOL_FILES}), 304 when the
 * browser's copy is current.
 *
 * @param folder The folder, from the request path.
 * @param name The file's name, from the request path.
 * @param request The request, for `If-None-Match`.
 * @returns The response.
 */
export async function pageFileResponse(
  folder: PageFolder,
  name: string,
  request: Request,
): Promise<Response> {
  const files: Readonly<Record<string, string>> = FOLDERS[folder];
  const type = Object.hasOwn(files, name) ? files[name] : undefined;
  if (type === undefined) {
    return new Response(JSON.stringify({ error: "Not found" }), {
      status: 404,
      headers: {
        "content-type": "application/json; charset=utf-8",
        "x-content-type-options": "nosniff",
      },
    });
  }
  const path = `${folder}/${name}`;
  let file = loaded.get(path);
  if (file === undefined) {
    file = load(path);
    loaded.set(path, file);
    file.catch(() => loaded.delete(path));
  }
  const { bytes, etag } = await file;
  const headers = {
    "content-type": type,
    "cache-control": "no-cache",
    etag,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
  };
  if (request.headers.get("if-none-match") === etag) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(bytes, { headers });
}
