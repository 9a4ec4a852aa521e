// @ts-check
/**
 * The dashboard page's entry: signing in (the keys derived here, from the
 * password typed here, with the same code `koitab` uses; kept for the tab, or on
 * the device when asked), signing out, and the views behind `#/…` addresses: the
 * jobs, a job's page, a run's page, the alerts.
 *
 * @module
 */

import { showAlerts } from "./alerts.js";
import { Api, ApiError } from "./api.js";
import { h } from "./dom.js";
import { viewerZone, zoneOffset } from "./format.js";
import { showJob } from "./job.js";
import { showJobs } from "./jobs.js";
import { JobsFeed } from "./jobs_feed.js";
import { MuteList } from "./mutes.js";
import { showRun } from "./run.js";
import { forgetKeys, keepForTab, keepOnDevice, REMEMBER_DAYS, watchForgotten } from "./session.js";
import { dashboardId, start, viewOf } from "./start.js";
import { deriveKeys, PBKDF2_ITERATIONS } from "../protocol/signing.js";

/** @typedef {import("./session.js").Session} Session */

/**
 * What a view gets: the API, the run key, a signal that aborts when the view is
 * left, and the page's shared parts.
 *
 * @typedef {object} ViewContext
 * @property {Api} api The dashboard's API, with the API key.
 * @property {JobsFeed} feed Every job and host, kept up to date; one for the sign-in.
 * @property {MuteList} mutes The muted machines and jobs; one for the sign-in.
 * @property {string | CryptoKey} runKey The run key, for signing manual runs.
 * @property {AbortSignal} signal Aborts when the view is left.
 * @property {HTMLElement} main Where the view draws.
 * @property {(title: string) => void} setTitle Sets the document's title.
 * @property {() => void} focusHeading Moves the focus to the view's heading, after navigation.
 * @property {(message: string | null) => void} problem Shows (or clears) a problem reaching
 *   the server.
 * @property {(error: unknown) => void} failed Reports a failed call: signs out on a 401, else
 *   shows the problem.
 */

/** @param {string} id @returns {HTMLElement} */
function byId(id) {
  const element = document.getElementById(id);
  if (element === null) throw new TypeError(`The page has no #${id}`);
  return element;
}

const main = byId("main");
const session = byId("session");
const notice = byId("notice");
const zoneNote = byId("zone-note");

/** @type {AbortController | null} */
let view = null;
/** @type {{ api: Api, feed: JobsFeed, mutes: MuteList, session: Session } | null} */
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
  signedIn = null;
  leaveView();
  problem(null);
  session.replaceChildren();
  zoneNote.hidden = true;
  showSignIn(message);
  // The form first: forgetting waits on IndexedDB.
  if (dashboardId !== null) forgetKeys(dashboardId).catch(() => {});
}

/** @param {unknown} error */
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut(
      "The dashboard no longer accepts this sign-in (was the password changed?): sign in again.",
    );
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
  const remember = h("input", {
    id: "remember",
    type: "checkbox",
    name: "remember",
    "aria-describedby": "remember-help",
  });
  const days = h(
    "select",
    { id: "remember-days", name: "days", "aria-label": "How long to stay signed in" },
    ...REMEMBER_DAYS.map((n) =>
      h("option", { value: n, selected: n === 30 }, n === 1 ? "1 day" : `${n} days`)
    ),
  );
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const progress = h(
    "div",
    { class: "progress", hidden: true },
    h("progress", { "aria-label": "Checking the password" }),
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
      "Your password stays in this browser: it is never sent to the server.",
    ),
    h(
      "div",
      { class: "remember" },
      remember,
      h("label", { for: "remember" }, "Stay signed in on this device for"),
      days,
    ),
    h(
      "p",
      { id: "remember-help", class: "help" },
      "Unticked, each tab asks for the password and forgets it when closed. Ticked, anyone who " +
        "can use this browser can see the jobs and start them until then, or until you sign " +
        "out: tick it only on a device that is yours alone.",
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
    status.textContent = "Checking the password (this takes a second)…";
    try {
      const keys = await deriveKeys(password.value, id);
      status.textContent = "Checking with the server…";
      const api = new Api(id, keys.apiKey, keys.dataKey);
      await api.info();
      password.value = "";
      const kept = remember.checked
        ? await keepOnDevice(id, keys, Number(days.value), Date.now())
        : keepForTab(id, keys);
      status.textContent = "";
      navigated = true; // The form is gone: the focus goes to the jobs' heading.
      enter(api, kept);
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
      form,
      adminDetails(id),
    ),
  );
  password.focus();
}

/**
 * The exact terms, for whoever runs the dashboard: folded away.
 *
 * @param {string} id The dashboard id.
 * @returns {HTMLElement}
 */
function adminDetails(id) {
  return h(
    "details",
    { class: "admin-details" },
    h("summary", {}, "Details for admins"),
    h("p", {}, "Dashboard ID: ", h("code", { class: "dashboard-id" }, id)),
    h(
      "p",
      {},
      `From the password, this page derives two keys with the same code koitab uses ` +
        `(PBKDF2-HMAC-SHA256, ${PBKDF2_ITERATIONS.toLocaleString("en-US")} iterations, salted ` +
        "with the dashboard ID, then HKDF): the API key, sent to the server with every call, " +
        "and the run key, which signs manual runs (HMAC-SHA256) and is never sent. The password " +
        "itself is never stored or sent.",
    ),
    h(
      "p",
      {},
      'By default the keys are kept in this tab\'s sessionStorage. "Stay signed in" keeps them ' +
        "in this browser's IndexedDB instead, until the chosen day: the run key as a " +
        "non-extractable Web Crypto key (scripts on this page can sign with it but cannot read " +
        "it out) and the API key as it is (it is sent in a header, so it has to be readable). " +
        "That protects neither from someone who can copy this browser profile's files or run " +
        "script on this page: with them, they can read the history and start @manual jobs, " +
        "nothing else, until the time is up or someone signs out here.",
    ),
  );
}

/**
 * Starts the signed-in page.
 *
 * @param {Api} api The API.
 * @param {Session} kept The keys, and until when they are kept.
 */
function enter(api, kept) {
  signedIn = { api, feed: new JobsFeed(api), mutes: new MuteList(api), session: kept };
  const signOutButton = h("button", { type: "button", class: "secondary small" }, "Sign out");
  signOutButton.addEventListener(
    "click",
    () => signOut("Signed out: this browser no longer holds anything that lets it in."),
  );
  session.replaceChildren(
    h(
      "nav",
      { "aria-label": "Main" },
      h("a", { href: "#/" }, "Jobs"),
      h("a", { href: "#/alerts" }, "Alerts"),
    ),
    signOutButton,
  );
  const zone = viewerZone();
  const offset = zoneOffset(zone, Date.now());
  zoneNote.textContent = `Times are in your time zone, ${zone}${
    offset === zone ? "" : ` (${offset})`
  }.`;
  zoneNote.hidden = false;
  route();
}

/** Signs out when a device sign-in runs out while the page is open. */
function checkExpiry() {
  const expiresAt = signedIn?.session.expiresAt ?? null;
  if (expiresAt !== null && Date.now() >= expiresAt) {
    signOut("Your sign-in on this device has run out: sign in again.");
  }
}

/** Shows the view the address names. */
function route() {
  if (signedIn === null) return;
  const shown = viewOf(location.hash);
  // Other fragments (the skip link's) are not views.
  if (shown === null) return;
  leaveView();
  problem(null);
  const controller = new AbortController();
  view = controller;
  /** @type {ViewContext} */
  const context = {
    api: signedIn.api,
    feed: signedIn.feed,
    mutes: signedIn.mutes,
    runKey: signedIn.session.keys.runKey,
    signal: controller.signal,
    main,
    setTitle,
    focusHeading() {
      if (navigated) main.querySelector("h1")?.focus();
    },
    problem,
    failed,
  };
  if (shown.name === "jobs") {
    showJobs(context);
  } else if (shown.name === "job") {
    showJob(context, shown.host, shown.tag);
  } else if (shown.name === "run") {
    showRun(context, shown.runId);
  } else if (shown.name === "alerts") {
    showAlerts(context);
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

if (start === null) {
  main.replaceChildren(
    h("h1", {}, "No dashboard here"),
    h("p", {}, "A dashboard's address looks like /d/ID: koitab -d prints it."),
  );
} else {
  const id = /** @type {string} */ (dashboardId);
  watchForgotten(id, () => {
    if (signedIn !== null && signedIn.session.expiresAt !== null) {
      signOut("Signed out in another tab.");
    }
  });
  setInterval(checkExpiry, 60_000);
  // The keys, found by start.js with the first call for the jobs already sent.
  const { found, firstJobs, firstScreen } = await start;
  if (found === null) showSignIn();
  else if (found === "expired") {
    showSignIn("Your sign-in on this device has run out: sign in again.");
  } else {
    enter(new Api(id, found.keys.apiKey, found.keys.dataKey, firstJobs, firstScreen), found);
  }
}
