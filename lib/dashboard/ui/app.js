// @ts-check
/**
 * The dashboard page's entry: signing in (the keys derived here, from the
 * password typed here, with the same code `koitab` uses), signing out, and the
 * views behind `#/…` addresses: the jobs, a job's page, a run's page.
 *
 * @module
 */

import { Api, ApiError, forgetKeys, loadKeys, saveKeys } from "./api.js";
import { h } from "./dom.js";
import { showJob } from "./job.js";
import { showJobs } from "./jobs.js";
import { showRun } from "./run.js";
import { deriveKeys } from "./signing.js";

/** @typedef {import("./api.js").Keys} Keys */

/**
 * What a view gets: the API, the run key, a signal that aborts when the view is
 * left, and the page's shared parts.
 *
 * @typedef {object} ViewContext
 * @property {Api} api The dashboard's API, with the API key.
 * @property {string} runKey The run key, for signing manual runs.
 * @property {AbortSignal} signal Aborts when the view is left.
 * @property {HTMLElement} main Where the view draws.
 * @property {(title: string) => void} setTitle Sets the document's title.
 * @property {() => void} focusHeading Moves the focus to the view's heading, after navigation.
 * @property {(message: string | null) => void} problem Shows (or clears) a problem reaching
 *   the server.
 * @property {(error: unknown) => void} failed Reports a failed call: signs out on a 401, else
 *   shows the problem.
 */

const DASHBOARD_PATH = /^\/d\/([A-Za-z0-9_-]{16,64})\/?$/;

/** @param {string} id @returns {HTMLElement} */
function byId(id) {
  const element = document.getElementById(id);
  if (element === null) throw new TypeError(`The page has no #${id}`);
  return element;
}

const main = byId("main");
const session = byId("session");
const notice = byId("notice");
const dashboardId = DASHBOARD_PATH.exec(location.pathname)?.[1] ?? null;

/** @type {AbortController | null} */
let view = null;
/** @type {{ api: Api, keys: Keys } | null} */
let signedIn = null;
/** Whether the user has moved from one view to another (then the focus follows). */
let navigated = false;

/** @param {string} title */
function setTitle(title) {
  document.title = `${title} · Koi dashboard`;
}

/** @param {string | null} message */
function problem(message) {
  notice.textContent = message ?? "";
}

/** Ends the current view: its timers and calls stop. */
function leaveView() {
  view?.abort();
  view = null;
}

/** @param {string} [message] Why, shown on the sign-in form. */
function signOut(message) {
  if (dashboardId !== null) forgetKeys(dashboardId);
  signedIn = null;
  leaveView();
  problem(null);
  session.replaceChildren();
  showSignIn(message);
}

/** @param {unknown} error */
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("The server no longer accepts this session's key: sign in again.");
    return;
  }
  if (error instanceof DOMException && error.name === "AbortError") return;
  problem(
    error instanceof ApiError && error.status === null
      ? "Cannot reach the dashboard server. Trying again…"
      : `Something went wrong: ${/** @type {Error} */ (error).message}`,
  );
}

/** Shows the sign-in form. @param {string} [message] A note above it. */
function showSignIn(message) {
  leaveView();
  setTitle("Sign in");
  const id = /** @type {string} */ (dashboardId);
  const password = h("input", {
    id: "password",
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "password-help",
  });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const progress = h(
    "div",
    { class: "progress", hidden: true },
    h("progress", {
      "aria-label": "Deriving keys",
    }),
  );
  const status = h("p", { class: "signin-status", role: "status" });
  const error = h("p", { class: "signin-error", role: "alert" });
  const form = h(
    "form",
    { class: "signin-form" },
    h("input", {
      type: "text",
      name: "username",
      autocomplete: "username",
      value: id,
      hidden: true,
      readonly: true,
    }),
    h("label", { for: "password" }, "Dashboard password"),
    password,
    h(
      "p",
      { id: "password-help", class: "help" },
      "The password stays in this browser: the page derives this dashboard's keys from it and sends the server only the API key. Closing the tab forgets them.",
    ),
    h("div", { class: "form-actions" }, button),
    progress,
    status,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    password.removeAttribute("aria-invalid");
    if (password.value === "") {
      error.textContent = "Type the dashboard password.";
      password.setAttribute("aria-invalid", "true");
      password.focus();
      return;
    }
    button.disabled = true;
    password.readOnly = true;
    progress.hidden = false;
    form.setAttribute("aria-busy", "true");
    status.textContent = "Deriving the keys from the password (about a second)…";
    try {
      const keys = await deriveKeys(password.value, id);
      status.textContent = "Checking with the server…";
      const api = new Api(id, keys.apiKey);
      await api.info();
      saveKeys(id, keys);
      password.value = "";
      status.textContent = "";
      navigated = true; // The form is gone: the focus goes to the jobs' heading.
      enter(api, keys);
    } catch (failure) {
      status.textContent = "";
      error.textContent = failure instanceof ApiError && failure.status === 401
        ? "Wrong password for this dashboard (or the dashboard no longer exists)."
        : failure instanceof ApiError
        ? `Cannot sign in: ${failure.message}.`
        : `Cannot sign in: ${/** @type {Error} */ (failure).message}`;
      password.setAttribute("aria-invalid", "true");
      password.readOnly = false;
      password.select();
      password.focus();
    } finally {
      button.disabled = false;
      password.readOnly = false;
      progress.hidden = true;
      form.removeAttribute("aria-busy");
    }
  });
  main.replaceChildren(
    h(
      "section",
      { class: "card signin", "aria-labelledby": "signin-heading" },
      h("h1", { id: "signin-heading", tabindex: -1 }, "Sign in"),
      message ? h("p", { class: "notice" }, message) : null,
      h(
        "p",
        { class: "muted" },
        "Dashboard ",
        h("code", { class: "dashboard-id" }, id),
      ),
      form,
    ),
  );
  password.focus();
}

/**
 * Starts the signed-in page.
 *
 * @param {Api} api The API.
 * @param {Keys} keys The keys.
 */
function enter(api, keys) {
  signedIn = { api, keys };
  const signOutButton = h("button", { type: "button", class: "secondary small" }, "Sign out");
  signOutButton.addEventListener("click", () => signOut("Signed out. The keys are forgotten."));
  session.replaceChildren(
    h("nav", { "aria-label": "Main" }, h("a", { href: "#/" }, "Jobs")),
    signOutButton,
  );
  route();
}

/** Shows the view the address names. */
function route() {
  if (signedIn === null) return;
  const hash = location.hash;
  // Other fragments (the skip link's) are not views.
  if (hash !== "" && hash !== "#" && !hash.startsWith("#/")) return;
  leaveView();
  problem(null);
  const controller = new AbortController();
  view = controller;
  /** @type {ViewContext} */
  const context = {
    api: signedIn.api,
    runKey: signedIn.keys.runKey,
    signal: controller.signal,
    main,
    setTitle,
    focusHeading() {
      if (navigated) main.querySelector("h1")?.focus();
    },
    problem,
    failed,
  };
  const parts = hash.slice(2).split("/").filter((part) => part !== "").map(decodeURIComponent);
  if (parts.length === 0) {
    showJobs(context);
  } else if (parts[0] === "job" && parts.length === 3) {
    showJob(context, /** @type {string} */ (parts[1]), /** @type {string} */ (parts[2]));
  } else if (parts[0] === "run" && parts.length === 2) {
    showRun(context, /** @type {string} */ (parts[1]));
  } else {
    setTitle("Not found");
    main.replaceChildren(
      h("h1", { tabindex: -1 }, "Nothing here"),
      h("p", {}, "This address names no view. ", h("a", { href: "#/" }, "See the jobs.")),
    );
    context.focusHeading();
  }
}

globalThis.addEventListener("hashchange", () => {
  navigated = true;
  route();
});

byId("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

if (dashboardId === null) {
  main.replaceChildren(
    h("h1", {}, "No dashboard here"),
    h("p", {}, "A dashboard's address looks like /d/ID: koitab -d prints it."),
  );
} else {
  const keys = loadKeys(dashboardId);
  if (keys === null) showSignIn();
  else enter(new Api(dashboardId, keys.apiKey), keys);
}
