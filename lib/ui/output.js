// @ts-check
/**
 * A run's output on the page: stdout as it is, stderr on a tinted background
 * and announced as such to screen readers (with a key that explains the mark,
 * shown only when there is stderr), Koi's own notes set apart, terminal
 * colours as CSS classes; and following a running job's output live, as
 * `koitab -d run` does (chunks after the last one seen, every second; the whole
 * final output once the run has ended, since it replaces what was streamed).
 *
 * @module
 */

import { AnsiReader } from "./ansi.js";
import { ApiError } from "./api.js";
import { h, srOnly } from "./dom.js";
import { sleep } from "./poll.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("../protocol/wire.ts").Run} Run */
/** @typedef {import("../protocol/wire.ts").OutputRecord} OutputRecord */

/** How often a running job's output is asked for. */
export const FOLLOW_MS = 1000;

/** The output of one run, as a `<pre>` that grows. */
export class OutputView {
  /** @type {HTMLPreElement} */
  element;
  /** What the stderr mark means: for the caller to place, hidden until there is stderr. */
  legend = h(
    "p",
    { class: "stream-key", hidden: true },
    h("span", { class: "stderr-sample", "aria-hidden": "true" }, "stderr"),
    " Tinted lines were written to the error stream (stderr). Programs write errors there, " +
      "and often warnings or progress too: the result above says whether the run failed.",
  );
  #reader = new AnsiReader();
  /** @type {HTMLElement | null} The stderr block text goes on in, if the last chunk was stderr. */
  #stderrBlock = null;
  #empty = true;

  /** @param {string} label What the output is, for screen readers ("Output of Greet"). */
  constructor(label) {
    this.element = h("pre", {
      class: "output empty",
      tabindex: 0,
      "aria-label": label,
    }, "No output yet.");
  }

  /** Forgets what is shown (before showing the final output afresh). */
  reset() {
    this.#reader = new AnsiReader();
    this.#stderrBlock = null;
    this.#empty = true;
    this.legend.hidden = true;
    this.element.className = "output empty";
    this.element.replaceChildren("No output yet.");
  }

  /**
   * Adds chunks at the end, keeping the view scrolled to the bottom if it was.
   *
   * @param {readonly Pick<OutputRecord, "stream" | "text">[]} chunks The chunks, in order.
   */
  append(chunks) {
    const pre = this.element;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    for (const chunk of chunks) this.#add(chunk);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  /**
   * Shows the whole output afresh (a run's final output replaces what was
   * streamed), keeping the reader's place: at the end if they were there, else
   * where they were.
   *
   * @param {readonly Pick<OutputRecord, "stream" | "text">[]} chunks The chunks, in order.
   */
  replaceAll(chunks) {
    const pre = this.element;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const top = pre.scrollTop;
    this.reset();
    for (const chunk of chunks) this.#add(chunk);
    pre.scrollTop = atBottom ? pre.scrollHeight : top;
  }

  /** Marks a finished run that wrote nothing. */
  finishEmpty() {
    if (this.#empty) this.element.replaceChildren("The run wrote no output.");
  }

  /** @param {Pick<OutputRecord, "stream" | "text">} chunk */
  #add(chunk) {
    const pieces = this.#reader.read(chunk.text, chunk.stream);
    if (pieces.length === 0) return;
    if (this.#empty) {
      this.#empty = false;
      this.element.className = "output";
      this.element.replaceChildren();
    }
    /** @type {HTMLElement} */
    let target = this.element;
    if (chunk.stream === "stderr") {
      this.legend.hidden = false;
      if (this.#stderrBlock === null) {
        this.#stderrBlock = h("span", { class: "stderr" }, srOnly("[stderr] "));
        this.element.append(this.#stderrBlock);
      }
      target = this.#stderrBlock;
    } else {
      this.#stderrBlock = null;
      if (chunk.stream === "koi") {
        target = h("span", { class: "note" });
        this.element.append(target);
      }
    }
    for (const piece of pieces) {
      if (piece.color === null && !piece.bold) {
        target.append(piece.text);
      } else {
        const classes = [];
        if (piece.color !== null) classes.push(`ansi-${piece.color}`);
        if (piece.bold) classes.push("ansi-bold");
        target.append(h("span", { class: classes.join(" ") }, piece.text));
      }
    }
  }
}

/**
 * Shows a run's output, following it while it runs.
 *
 * @param {Api} api The dashboard's API.
 * @param {string} runId The run.
 * @param {OutputView} view Where the output goes.
 * @param {{ signal: AbortSignal, onRun?: (run: Run) => void,
 *   onProblem?: (message: string | null) => void }} options The view's signal; told of the
 *   run after each answer, and of trouble reaching the server (null once it passes).
 * @returns {Promise<Run>} The run, once it has ended.
 * @throws {ApiError} If the run does not exist; the signal's reason if aborted.
 */
export async function followRun(api, runId, view, options) {
  const { signal } = options;
  /** @type {number | null} */
  let after = null;
  while (true) {
    /** @type {{ run: Run, output: OutputRecord[] }} */
    let answer;
    try {
      answer = await api.run(runId, after, signal);
      if (answer.run.finishedAt !== null && after !== null) {
        answer = await api.run(runId, null, signal);
        after = null;
      }
      options.onProblem?.(null);
    } catch (error) {
      if (signal.aborted || !(error instanceof ApiError) || error.status === 404) throw error;
      options.onProblem?.(`${error.message}; trying again…`);
      await sleep(FOLLOW_MS * 2, signal);
      continue;
    }
    const chunks = [...answer.output].sort((a, b) => a.seq - b.seq);
    if (after === null) {
      view.replaceAll(chunks);
    } else {
      const last = after;
      view.append(chunks.filter((chunk) => chunk.seq > last));
    }
    const lastChunk = chunks[chunks.length - 1];
    if (lastChunk !== undefined) after = Math.max(after ?? -1, lastChunk.seq);
    options.onRun?.(answer.run);
    if (answer.run.finishedAt !== null) {
      view.finishEmpty();
      return answer.run;
    }
    await sleep(FOLLOW_MS, signal);
  }
}
