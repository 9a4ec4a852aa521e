// @ts-check
/**
 * Starting an `@manual` job from the page, exactly as `koitab -d run` does: a
 * form built from the job's arguments on the chosen machine (and rebuilt when its
 * koitab changes them), the payload signed here with the run key (which never
 * leaves the browser), posted to the server, and followed: waiting for the
 * machine (saying so in words when it is not connected, with a Cancel), then
 * koid's refusal and its reason, or the run's live output and its result.
 *
 * @module
 */

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import {
  formatDuration,
  formatTime,
  readArgumentField,
  runDuration,
  runOutcome,
} from "./format.js";
import { argumentList } from "./jobs.js";
import { followRun, OutputView } from "./output.js";
import { sleep } from "./poll.js";
import { argTypeLabel } from "../protocol/arg_types.js";
import { signRun } from "../protocol/signing.js";
import { manualPayload } from "../protocol/sealed.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("../protocol/arg_types.js").ArgSpec} ArgSpec */
/** @typedef {import("../protocol/wire.ts").ManualRun} ManualRun */
/** @typedef {import("../protocol/wire.ts").Run} Run */

/** How often a queued run is asked about. */
const MANUAL_POLL_MS = 500;
/** How often, while a run waits, the page asks whether its machine is connected. */
const HOST_POLL_MS = 2000;
/** A connected koid takes a queued run within a second: after this, the wait is explained. */
const PATIENCE_MS = 3000;
/** koid refuses a request signed longer ago than this (its clock permitting). */
const FRESH_MS = 5 * 60_000;
/** How long past that a machine that took the run may take to say what became of it. */
const GIVE_UP_MS = 60_000;

let lastTimestamp = 0;

/** Now, in ms, but never the same twice on this page: each request's signature is unique. */
function uniqueTimestamp() {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/**
 * @typedef {object} ManualFormOptions
 * @property {Api} api The dashboard's API.
 * @property {string | CryptoKey} runKey The run key, to sign with.
 * @property {string} host The machine to choose first.
 * @property {string} label The job's name, for headings.
 * @property {AbortSignal} signal The view's signal: following stops when it aborts.
 * @property {() => void} [onChange] Told when a run is queued, starts, and ends.
 */

/**
 * @typedef {object} ArgumentField
 * @property {ArgSpec} spec The argument, as the field was built for it.
 * @property {HTMLElement} element The field, label and message.
 * @property {HTMLInputElement} input The input.
 * @property {() => boolean} touched Whether the user changed the value.
 * @property {() => { value?: string | number | boolean, error: string | null }} read
 *   Checks the field and marks it: the value to send (none: koid uses the default), or why not.
 */

/**
 * The form that runs a manual job, with the runs started from it. It follows the
 * job list: {@linkcode ManualRunForm.update} with each fresh list brings the
 * machines and the fields in line with what the koitabs now declare, keeping
 * what was typed into fields that stay.
 */
export class ManualRunForm {
  /** The section holding the form and the runs started from it. */
  element;
  #options;
  /** @type {readonly JobRow[]} */
  #jobs = [];
  /** @type {ArgumentField[]} */
  #fields = [];
  /** The host and arguments the fields were built for, as JSON. */
  #builtFor = "";
  #nextId = 0;
  #fieldset = h("fieldset", { class: "run-fieldset" });
  #fieldsBox = h("div", { class: "fields" });
  #hostSlot = h("div", { class: "host-choice" });
  /** @type {HTMLSelectElement | null} */
  #hostPicker = null;
  #note = h("p", { class: "form-note", role: "status" });
  #submit = h("button", { type: "submit", class: "primary" }, "Run");
  #results = h("div", { class: "run-cards" });

  /** @param {ManualFormOptions} options What to run, and how. */
  constructor(options) {
    this.#options = options;
    const form = h(
      "form",
      { class: "run-form", novalidate: true, "aria-labelledby": "run-heading" },
      this.#fieldset,
    );
    this.#fieldset.append(
      this.#fieldsBox,
      h("div", { class: "form-actions" }, this.#hostSlot, this.#submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#run();
    });
    this.element = h(
      "section",
      { class: "card manual", "aria-labelledby": "run-heading" },
      h("h2", { id: "run-heading" }, `Run ${options.label}`),
      h(
        "p",
        { class: "help" },
        "Fill in the values and press Run. The machine runs only what its own job list allows, " +
          "with values of the kinds shown here, and checks each request before it runs anything.",
      ),
      h(
        "details",
        { class: "admin-details" },
        h("summary", {}, "Details for admins"),
        h(
          "p",
          {},
          "The request (job tag, a unique timestamp, the values) is signed in this browser with " +
            "the dashboard's run key (HMAC-SHA256); the server only queues it. koid on the " +
            "machine runs it only if the signature holds, the timestamp is less than 5 minutes " +
            "old and unseen, the tag is an @manual job of its koitab, and each value fits its " +
            "declared type; values reach the command single-quoted.",
        ),
      ),
      this.#note,
      form,
      this.#results,
    );
  }

  /**
   * Brings the form in line with the latest job list.
   *
   * @param {readonly JobRow[]} jobs The job on each machine that has it as an
   *   `@manual` job (same tag and name); none when it can no longer be run.
   */
  update(jobs) {
    this.#jobs = jobs;
    const hosts = jobs.map((job) => job.host).sort();
    const chosen = this.#hostPicker?.value ?? this.#options.host;
    const host = hosts.includes(chosen)
      ? chosen
      : hosts.includes(this.#options.host)
      ? this.#options.host
      : hosts[0];
    this.#showHosts(hosts, host);
    const job = jobs.find((candidate) => candidate.host === host);
    this.#fieldset.disabled = job === undefined;
    if (job === undefined) {
      this.#say(
        "This job can no longer be started from here: no machine offers it as a manual job now.",
      );
      return;
    }
    const builtFor = JSON.stringify([job.host, job.args]);
    if (builtFor === this.#builtFor) return;
    const changed = this.#builtFor !== "" && JSON.parse(this.#builtFor)[0] === job.host;
    this.#builtFor = builtFor;
    this.#showFields(job.args);
    this.#say(changed ? `The job's values changed on ${job.host}: the form now matches them.` : "");
  }

  /** @param {string} text */
  #say(text) {
    if (this.#note.textContent !== text) this.#note.textContent = text;
  }

  /**
   * The machine: named when there is one, a picker when there are several.
   *
   * @param {string[]} hosts The machines, sorted.
   * @param {string | undefined} host The one chosen.
   */
  #showHosts(hosts, host) {
    if (hosts.length <= 1) {
      this.#hostPicker = null;
      const text = host === undefined ? "" : `Runs on ${host}`;
      if (this.#hostSlot.textContent !== text) {
        this.#hostSlot.replaceChildren(
          host === undefined ? "" : h("p", { class: "muted" }, "Runs on ", h("strong", {}, host)),
        );
      }
      return;
    }
    const current = this.#hostPicker;
    const present = current === null ? null : [...current.options].map((option) => option.value);
    if (current !== null && JSON.stringify(present) === JSON.stringify(hosts)) {
      if (host !== undefined) current.value = host;
      return;
    }
    const picker = h(
      "select",
      { id: "run-host", name: "host" },
      ...hosts.map((name) => h("option", { value: name, selected: name === host }, name)),
    );
    picker.addEventListener("change", () => this.update(this.#jobs));
    this.#hostPicker = picker;
    this.#hostSlot.replaceChildren(
      h("div", { class: "field" }, h("label", { for: "run-host" }, "Machine"), picker),
    );
  }

  /**
   * The fields for `args`: a field whose argument is unchanged stays as it is
   * (with its value and the focus); one whose default changed keeps what the
   * user typed; the others are made afresh.
   *
   * @param {readonly ArgSpec[]} args The arguments.
   */
  #showFields(args) {
    const fields = args.map((spec) => {
      const old = this.#fields.find((field) => field.spec.name === spec.name);
      if (old !== undefined && JSON.stringify(old.spec) === JSON.stringify(spec)) return old;
      const field = argumentField(spec, `arg-${this.#nextId++}`);
      if (old !== undefined && old.spec.type === spec.type && old.touched()) {
        if (spec.type === "bool") field.input.checked = old.input.checked;
        else field.input.value = old.input.value;
      }
      return field;
    });
    this.#fields = fields;
    const elements = fields.length === 0
      ? [h("p", { class: "muted" }, "This job takes no values.")]
      : fields.map((field) => field.element);
    for (const child of [...this.#fieldsBox.children]) {
      if (!elements.includes(/** @type {HTMLElement} */ (child))) child.remove();
    }
    elements.forEach((element, i) => {
      const at = this.#fieldsBox.children[i] ?? null;
      if (at !== element) this.#fieldsBox.insertBefore(element, at);
    });
  }

  async #run() {
    const args = /** @type {Record<string, string | number | boolean>} */ ({});
    /** @type {HTMLElement | null} */
    let firstBad = null;
    for (const field of this.#fields) {
      const result = field.read();
      if (result.error !== null) {
        firstBad ??= field.input;
        continue;
      }
      if (result.value !== undefined) args[field.spec.name] = result.value;
    }
    if (firstBad !== null) {
      firstBad.focus();
      return;
    }
    const host = this.#hostPicker?.value ?? this.#jobs[0]?.host;
    const job = this.#jobs.find((candidate) => candidate.host === host);
    if (job === undefined) return;
    this.#say("");
    this.#submit.disabled = true;
    try {
      await startRun(this.#options, job, args, this.#results);
    } finally {
      this.#submit.disabled = false;
    }
  }
}

/**
 * One argument's field: text for a string, a whole number for an int, a
 * checkbox for a bool; its default filled in.
 *
 * @param {ArgSpec} arg The argument.
 * @param {string} id The input's id.
 * @returns {ArgumentField}
 */
function argumentField(arg, id) {
  const messageId = `${id}-message`;
  const message = h("p", { class: "field-message", id: messageId });
  const hasDefault = arg.default !== undefined;
  let touched = false;
  if (arg.type === "bool") {
    const input = h("input", {
      id,
      type: "checkbox",
      name: arg.name,
      checked: arg.default === true,
    });
    input.addEventListener("change", () => touched = true);
    return {
      spec: arg,
      input,
      touched: () => touched,
      element: h(
        "div",
        { class: "field check" },
        input,
        h("label", { for: id }, arg.name),
        h("span", { class: "type" }, argTypeLabel(arg.type)),
      ),
      read: () => ({ value: input.checked, error: null }),
    };
  }
  const isInt = arg.type === "int";
  // Text, not type=number, for whole numbers too: the browser would judge "+5",
  // "1e3" or " 5" by its own rules, and round numbers past 2^53; the field takes
  // the text as typed and gives it the verdict koid and koitab give it.
  const input = h("input", {
    id,
    name: arg.name,
    type: "text",
    inputmode: isInt ? "numeric" : null,
    value: hasDefault ? String(arg.default) : null,
    required: !hasDefault,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": messageId,
  });
  const hint = argTypeLabel(arg.type);
  /** @param {string | null} error */
  const mark = (error) => {
    message.textContent = error ?? "";
    if (error === null) input.removeAttribute("aria-invalid");
    else input.setAttribute("aria-invalid", "true");
    return error;
  };
  input.addEventListener("input", () => {
    touched = true;
    if (input.getAttribute("aria-invalid") === "true") mark(null);
  });
  return {
    spec: arg,
    input,
    touched: () => touched,
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
      if (input.value === "") {
        if (!hasDefault) {
          return {
            error: mark(isInt ? "Required: type a whole number" : "Required: type a value"),
          };
        }
        // An emptied whole number takes its default; an emptied text is the empty text.
        if (isInt) return { error: mark(null) };
      }
      const read = readArgumentField(arg.type, input.value);
      if ("problem" in read) return { error: mark(read.problem) };
      mark(null);
      return { value: read.value, error: null };
    },
  };
}

/**
 * Signs, posts and follows one run, in a card of its own.
 *
 * @param {ManualFormOptions} options The form's options.
 * @param {JobRow} job The job, on the machine to run it on.
 * @param {Record<string, string | number | boolean>} args The typed values.
 * @param {HTMLElement} results Where the card goes (newest first).
 */
async function startRun(options, job, args, results) {
  const { api, signal } = options;
  const host = job.host;
  const status = h("p", { class: "run-status", role: "status" }, "Signing the request…");
  const output = new OutputView(`Output of ${options.label} on ${host}`);
  output.element.hidden = true;
  const when = h("span", { class: "when" });
  const cancel = h("button", { type: "button", class: "secondary small", hidden: true }, "Cancel");
  const result = h("p", { class: "run-result", hidden: true });
  const card = h(
    "article",
    { class: "run-card", "aria-label": `Run of ${options.label} on ${host}` },
    h(
      "p",
      { class: "run-card-head" },
      h("strong", {}, host),
      " · ",
      when,
      Object.keys(args).length ? argumentList(args) : null,
    ),
    h("div", { class: "run-card-status" }, status, cancel),
    output.legend,
    output.element,
    result,
  );
  results.prepend(card);
  /** @param {string} text @param {string} [state] */
  const say = (text, state = "") => {
    status.textContent = text;
    status.className = `run-status ${state}`.trim();
  };
  /** One time for the run: when it was asked for, until it starts. @param {string} word @param {number} at */
  const showTime = (word, at) =>
    when.replaceChildren(
      `${word} `,
      h(
        "time",
        { datetime: new Date(at).toISOString() },
        formatTime(at, Date.now(), { seconds: true }),
      ),
    );

  const ts = uniqueTimestamp();
  showTime("requested at", ts);
  let manualId;
  try {
    // Sealed before signing: the signature covers the envelopes; the server sees no value.
    const payload = await manualPayload(
      await api.key,
      { dashboard: api.id, host, tag: job.tag, ts },
      args,
    );
    const signature = await signRun(options.runKey, payload);
    say("Sending…");
    manualId = await api.postManual(payload, signature);
  } catch (error) {
    say(`Could not send the request: ${/** @type {Error} */ (error).message}`, "failed");
    return;
  }
  options.onChange?.();
  say(`Waiting for ${host}…`, "waiting");

  const waiting = new AbortController();
  const waitSignal = AbortSignal.any([signal, waiting.signal]);
  cancel.hidden = false;
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api.cancelManual(/** @type {string} */ (manualId));
      waiting.abort();
      cancel.hidden = true;
      say(`Cancelled: it will not run on ${host}.`, "cancelled");
      options.onChange?.();
    } catch (error) {
      cancel.hidden = true;
      if (!(error instanceof ApiError && error.status === 409)) {
        cancel.hidden = false;
        cancel.disabled = false;
      }
      say(
        error instanceof ApiError && error.status === 409
          ? `Too late to cancel: ${host} has taken the run.`
          : `Could not cancel: ${/** @type {Error} */ (error).message}`,
        "waiting",
      );
    }
  });

  /** @type {string | null} */
  let runId = null;
  try {
    runId = await awaitStart(api, manualId, host, ts, say, () => cancel.hidden = true, waitSignal);
  } catch (error) {
    cancel.hidden = true;
    if (waitSignal.aborted) return;
    say(/** @type {Error} */ (error).message, "failed");
    return;
  }
  cancel.hidden = true;
  options.onChange?.();
  if (runId === null) return;
  say(`Running on ${host}…`, "running");
  output.element.hidden = false;
  try {
    const run = await followRun(api, runId, output, {
      signal,
      onRun: (run) => showTime("started at", run.startedAt),
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
 * Waits for koid to take the run, saying how the wait goes: when the machine is
 * not connected, in those words, and until when the run can still start.
 *
 * @param {Api} api The API.
 * @param {string} manualId The queued run.
 * @param {string} host Its machine.
 * @param {number} signedAt The request's timestamp.
 * @param {(text: string, state?: string) => void} say Shows where it stands.
 * @param {() => void} taken Told when the machine has taken the run (no more cancelling).
 * @param {AbortSignal} signal Stops waiting.
 * @returns {Promise<string | null>} The run id; null if it was refused or
 *   cancelled (and said so).
 * @throws {Error} With a message for the user, when it cannot be followed.
 */
async function awaitStart(api, manualId, host, signedAt, say, taken, signal) {
  const started = Date.now();
  const deadline = signedAt + FRESH_MS;
  let claimed = false;
  /** @type {boolean | null} */
  let connected = null;
  let askedHostAt = 0;
  while (true) {
    try {
      const manual = await api.manual(manualId, signal);
      if (manual.state === "refused") {
        say(`${host} refused to run it: ${manual.reason ?? "no reason given"}`, "failed");
        return null;
      }
      if (manual.state === "cancelled") {
        say(`Cancelled: it will not run on ${host}.`, "cancelled");
        return null;
      }
      if (manual.state === "started" && manual.runId !== undefined) return manual.runId;
      if (manual.state === "claimed") {
        if (!claimed) taken();
        claimed = true;
      }
      const now = Date.now();
      if (!claimed && now - askedHostAt >= HOST_POLL_MS && now - started >= PATIENCE_MS) {
        askedHostAt = now;
        const info = await api.info(signal);
        connected = info.hosts.find((known) => known.host === host)?.connected ?? false;
      }
      if (claimed && now >= deadline + GIVE_UP_MS) {
        throw new Error(`${host} took the run but never said whether it started it`);
      } else if (claimed) {
        say(`${host} took the run; starting it…`, "waiting");
      } else if (now >= deadline) {
        try {
          await api.cancelManual(manualId);
          say(
            `${host} did not take the run within 5 minutes, so it was cancelled: nothing ran. ` +
              "Try again once it is connected.",
            "failed",
          );
          return null;
        } catch (error) {
          // Taken meanwhile: its answer is on its way.
          if (!(error instanceof ApiError && error.status === 409)) throw error;
        }
      } else if (connected === false) {
        say(
          `${host} is not connected right now; the run will start when it reconnects, if ` +
            `within 5 minutes (by ${formatTime(deadline, now)}).`,
          "waiting",
        );
      } else if (connected === true) {
        say(`Waiting for ${host} to take the run… (it is connected)`, "waiting");
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
}
