// @ts-check
/**
 * Starting an `@manual` job from the page, exactly as `koitab -d run` does: a
 * form built from the job's arguments, the payload signed here with the run key
 * (which never leaves the browser), posted to the server, and followed: waiting
 * for the host, then koid's refusal and its reason, or the run's live output and
 * its result.
 *
 * @module
 */

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import {
  argumentWords,
  formatDuration,
  formatTime,
  parseWholeNumber,
  runDuration,
  runOutcome,
} from "./format.js";
import { followRun, OutputView } from "./output.js";
import { sleep } from "./poll.js";
import { payloadText, signRun } from "./signing.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("../schema.ts").ManualRun} ManualRun */
/** @typedef {import("../schema.ts").Run} Run */

/** How often a queued run is asked about. */
const MANUAL_POLL_MS = 500;
/** After this long unclaimed, the page says the host may be down. */
const PATIENCE_MS = 30_000;
/** After this long, koid would refuse the request as stale: stop waiting. */
const GIVE_UP_MS = 5 * 60_000;

let lastTimestamp = 0;

/** Now, in ms, but never the same twice on this page: each request's signature is unique. */
function uniqueTimestamp() {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/**
 * @typedef {object} ManualFormOptions
 * @property {Api} api The dashboard's API.
 * @property {string} runKey The run key, to sign with.
 * @property {readonly JobRow[]} jobs The job on each host that has it (same tag and name).
 * @property {string} host The host to choose first.
 * @property {string} label The job's name, for headings.
 * @property {AbortSignal} signal The view's signal: following stops when it aborts.
 * @property {() => void} [onChange] Told when a run starts and when it ends.
 */

/**
 * The form that runs a manual job, with the list of runs started from it.
 *
 * @param {ManualFormOptions} options What to run, and how.
 * @returns {HTMLElement} The section holding both.
 */
export function manualRunSection(options) {
  const { jobs, label } = options;
  const job = jobs.find((candidate) => candidate.host === options.host) ?? jobs[0];
  if (job === undefined) throw new TypeError("Cannot build a form for no job");
  const results = h("div", { class: "run-cards" });
  const fields = job.args.map((arg, i) => argumentField(arg, `arg-${i}`));
  const hosts = jobs.map((candidate) => candidate.host).sort();
  const hostPicker = hosts.length > 1
    ? h(
      "select",
      { id: "run-host", name: "host" },
      ...hosts.map((host) => h("option", { value: host, selected: host === job.host }, host)),
    )
    : null;
  const submit = h("button", { type: "submit", class: "primary" }, "Run");
  const form = h(
    "form",
    { class: "run-form", novalidate: true, "aria-labelledby": "run-heading" },
    fields.length === 0
      ? h("p", { class: "muted" }, "This job takes no arguments.")
      : h("div", { class: "fields" }, ...fields.map((field) => field.element)),
    h(
      "div",
      { class: "form-actions" },
      hostPicker === null
        ? h("p", { class: "muted" }, "Runs on ", h("strong", {}, job.host))
        : h("div", { class: "field" }, h("label", { for: "run-host" }, "Host"), hostPicker),
      submit,
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const args = /** @type {Record<string, string | number | boolean>} */ ({});
    /** @type {HTMLElement | null} */
    let firstBad = null;
    for (const field of fields) {
      const result = field.read();
      if (result.error !== null) {
        firstBad ??= field.input;
        continue;
      }
      if (result.value !== undefined) args[field.name] = result.value;
    }
    if (firstBad !== null) {
      firstBad.focus();
      return;
    }
    const host = hostPicker?.value ?? job.host;
    submit.disabled = true;
    try {
      await startRun(options, host, args, results);
    } finally {
      submit.disabled = false;
    }
  });
  return h(
    "section",
    { class: "card manual", "aria-labelledby": "run-heading" },
    h("h2", { id: "run-heading" }, `Run ${label}`),
    h(
      "p",
      { class: "help" },
      "The request is signed in this browser with the dashboard's run key; koid checks it against its own koitab before it runs anything.",
    ),
    form,
    results,
  );
}

/**
 * @typedef {object} ArgumentField
 * @property {string} name The argument's name.
 * @property {HTMLElement} element The field, label and message.
 * @property {HTMLInputElement} input The input.
 * @property {() => { value?: string | number | boolean, error: string | null }} read
 *   Checks the field and marks it: the value to send (none: koid uses the default), or why not.
 */

/**
 * One argument's field: text for a string, a whole number for an int, a
 * checkbox for a bool; its default filled in.
 *
 * @param {import("../../args.ts").ArgSpec} arg The argument.
 * @param {string} id The input's id.
 * @returns {ArgumentField}
 */
function argumentField(arg, id) {
  const messageId = `${id}-message`;
  const message = h("p", { class: "field-message", id: messageId });
  const hasDefault = arg.default !== undefined;
  if (arg.type === "bool") {
    const input = h("input", {
      id,
      type: "checkbox",
      name: arg.name,
      checked: arg.default === true,
    });
    return {
      name: arg.name,
      input,
      element: h(
        "div",
        { class: "field check" },
        input,
        h("label", { for: id }, arg.name),
        h("span", { class: "type" }, "yes or no"),
      ),
      read: () => ({ value: input.checked, error: null }),
    };
  }
  const isInt = arg.type === "int";
  const input = h("input", {
    id,
    name: arg.name,
    type: isInt ? "number" : "text",
    step: isInt ? 1 : null,
    inputmode: isInt ? "numeric" : null,
    value: hasDefault ? String(arg.default) : null,
    required: !hasDefault,
    autocomplete: "off",
    spellcheck: isInt ? null : "false",
    "aria-describedby": messageId,
  });
  const hint = isInt ? "whole number" : "text";
  /** @param {string | null} error */
  const mark = (error) => {
    message.textContent = error ?? "";
    if (error === null) input.removeAttribute("aria-invalid");
    else input.setAttribute("aria-invalid", "true");
    return error;
  };
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid") === "true") mark(null);
  });
  return {
    name: arg.name,
    input,
    element: h(
      "div",
      { class: "field" },
      h(
        "label",
        { for: id },
        arg.name,
        h(
          "span",
          { class: "type" },
          hasDefault ? `${hint}, default ${JSON.stringify(arg.default)}` : `${hint}, required`,
        ),
      ),
      input,
      message,
    ),
    read() {
      if (!isInt) {
        if (!hasDefault && input.value === "") return { error: mark("Required: type a value") };
        mark(null);
        return { value: input.value, error: null };
      }
      if (input.validity.badInput) return { error: mark("Type a whole number, such as 42") };
      if (input.value.trim() === "") {
        if (hasDefault) return { error: mark(null) };
        return { error: mark("Required: type a whole number") };
      }
      const value = parseWholeNumber(input.value);
      if (value === null) return { error: mark("Type a whole number, such as 42") };
      mark(null);
      return { value, error: null };
    },
  };
}

/**
 * Signs, posts and follows one run, in a card of its own.
 *
 * @param {ManualFormOptions} options The form's options.
 * @param {string} host The host to run on.
 * @param {Record<string, string | number | boolean>} args The typed values.
 * @param {HTMLElement} results Where the card goes (newest first).
 */
async function startRun(options, host, args, results) {
  const { api, signal } = options;
  const job = options.jobs.find((candidate) => candidate.host === host);
  if (job === undefined) return;
  const status = h("p", { class: "run-status", role: "status" }, "Signing the request…");
  const words = argumentWords(args);
  const output = new OutputView(`Output of ${options.label} on ${host}`);
  output.element.hidden = true;
  const result = h("p", { class: "run-result", hidden: true });
  const queuedAt = Date.now();
  const card = h(
    "article",
    { class: "run-card", "aria-label": `Run of ${options.label} on ${host}` },
    h(
      "p",
      { class: "run-card-head" },
      h("strong", {}, host),
      ` · ${formatTime(queuedAt, queuedAt, { seconds: true })}`,
      words.length ? h("code", { class: "args" }, words.join(" ")) : null,
    ),
    status,
    output.element,
    result,
  );
  results.prepend(card);
  /** @param {string} text @param {string} [state] */
  const say = (text, state = "") => {
    status.textContent = text;
    status.className = `run-status ${state}`.trim();
  };

  let manualId;
  try {
    const payload = payloadText({
      v: 1,
      dashboard: api.id,
      host,
      tag: job.tag,
      ts: uniqueTimestamp(),
      args,
    });
    const signature = await signRun(options.runKey, payload);
    say("Sending…");
    manualId = await api.postManual(payload, signature);
  } catch (error) {
    say(`Could not queue the run: ${/** @type {Error} */ (error).message}`, "failed");
    return;
  }
  say(`Waiting for ${host}…`, "waiting");

  /** @type {string | null} */
  let runId = null;
  try {
    runId = await awaitStart(api, manualId, host, say, signal);
  } catch (error) {
    if (signal.aborted) return;
    say(/** @type {Error} */ (error).message, "failed");
    return;
  }
  if (runId === null) return;
  options.onChange?.();
  say(`Running on ${host}…`, "running");
  output.element.hidden = false;
  try {
    const run = await followRun(api, runId, output, {
      signal,
      onProblem: (problem) => problem && say(`Running on ${host}: ${problem}`, "running"),
    });
    const outcome = runOutcome(run);
    const took = formatDuration(runDuration(run, Date.now()));
    say(
      outcome.state === "ok"
        ? `Finished on ${host}: ok, exit code ${run.exitCode ?? 0}, in ${took}`
        : `Finished on ${host}: ${outcome.text}, after ${took}`,
      outcome.state,
    );
    options.onChange?.();
    result.hidden = false;
    result.replaceChildren(
      h("a", { href: `#/run/${encodeURIComponent(run.id)}` }, "Open this run"),
    );
  } catch (error) {
    if (signal.aborted) return;
    say(`Lost the run: ${/** @type {Error} */ (error).message}`, "failed");
  }
}

/**
 * Waits for koid to take the run.
 *
 * @param {Api} api The API.
 * @param {string} manualId The queued run.
 * @param {string} host Its host.
 * @param {(text: string, state?: string) => void} say Shows where it stands.
 * @param {AbortSignal} signal Stops waiting.
 * @returns {Promise<string | null>} The run id; null if it was refused (and said so).
 * @throws {Error} With a message for the user, when it cannot be followed.
 */
async function awaitStart(api, manualId, host, say, signal) {
  const started = Date.now();
  let claimed = false;
  while (Date.now() - started < GIVE_UP_MS) {
    try {
      const manual = await api.manual(manualId, signal);
      if (manual.state === "refused") {
        say(`${host} refused to run it: ${manual.reason ?? "no reason given"}`, "failed");
        return null;
      }
      if (manual.state === "started" && manual.runId !== undefined) return manual.runId;
      if (manual.state === "claimed" && !claimed) {
        claimed = true;
        say(`${host} took the run; starting it…`, "waiting");
      } else if (!claimed && Date.now() - started > PATIENCE_MS) {
        say(
          `Waiting for ${host}… (nothing yet: is koid running there and linked to this dashboard?)`,
          "waiting",
        );
      }
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof ApiError && error.status === 404) {
        throw new Error("The server lost the queued run");
      }
      say(
        `Waiting for ${host}… (${/** @type {Error} */ (error).message}; trying again)`,
        "waiting",
      );
    }
    await sleep(MANUAL_POLL_MS, signal);
  }
  throw new Error(
    `${host} did not take the run within 5 minutes; it would refuse it now as too old`,
  );
}
